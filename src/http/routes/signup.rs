//! `POST /api/v1/users/signup/send-otp` and `POST /api/v1/users/signup/verify-otp`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::method_not_allowed;
use crate::domain::{EmailAddress, UserType};
use crate::flows::SignupService;
use crate::http::ApiError;
use crate::http::extract::JsonObject;

pub fn scope() -> actix_web::Scope {
    web::scope("/api/v1/users/signup")
        .service(
            web::resource("/send-otp")
                .route(web::post().to(send_otp))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/verify-otp")
                .route(web::post().to(verify_otp))
                .default_service(web::to(method_not_allowed)),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendOtpRequest {
    pub email: String,
    pub user_type: String,
}

#[derive(Debug, Serialize)]
pub struct SendOtpResponse {
    pub message: &'static str,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds until another code may be requested.
    pub resend_after: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyOtpRequest {
    pub email: String,
    pub user_type: String,
    pub otp_code: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyOtpResponse {
    pub verified: bool,
    pub flow: &'static str,
}

/// The same words for every case, so the answer does not tell whether the address
/// has an account.
const SENT: &str = "If the address can receive mail, a verification code is on its way";

async fn send_otp(
    service: web::Data<SignupService>,
    JsonObject(body): JsonObject<SendOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let (email, user_type) = identity(&body.email, &body.user_type)?;
    let receipt = service.send(email, user_type).await?;
    Ok(HttpResponse::Ok().json(SendOtpResponse {
        message: SENT,
        expires_in: receipt.expires_in.as_secs(),
        resend_after: receipt.resend_after.as_secs(),
    }))
}

async fn verify_otp(
    service: web::Data<SignupService>,
    JsonObject(body): JsonObject<VerifyOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let (email, user_type) = identity(&body.email, &body.user_type)?;
    let flow = service.verify(email, user_type, &body.otp_code).await?;
    Ok(HttpResponse::Ok().json(VerifyOtpResponse {
        verified: true,
        flow: flow.as_str(),
    }))
}

fn identity(email: &str, user_type: &str) -> Result<(EmailAddress, UserType), ApiError> {
    let email = EmailAddress::parse(email).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            capitalise(&e.to_string()),
        )
    })?;
    let user_type = user_type.parse::<UserType>().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user_type",
            capitalise(&e.to_string()),
        )
    })?;
    Ok((email, user_type))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
