//! `POST /api/v1/users/signup/send-otp` and `POST /api/v1/users/signup/verify-otp`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{identity, method_not_allowed};
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
    /// `signup` (a new address) or `activation` (an existing account).
    pub flow: &'static str,
    /// For `signup`: the proof to pass to register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_token: Option<String>,
    /// Seconds the signup token stays good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_token_expires_in: Option<u64>,
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
    let verified = service.verify(email, user_type, &body.otp_code).await?;
    let (signup_token, signup_token_expires_in) = match verified.signup_token {
        Some((token, ttl)) => (Some(token), Some(ttl.as_secs())),
        None => (None, None),
    };
    Ok(HttpResponse::Ok().json(VerifyOtpResponse {
        verified: true,
        flow: verified.flow.as_str(),
        signup_token,
        signup_token_expires_in,
    }))
}
