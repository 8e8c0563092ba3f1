//! `POST /api/v1/users/register`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use super::{identity, invalid, method_not_allowed};
use crate::db::models::AccountRecord;
use crate::domain::{FullName, Password};
use crate::flows::{Registered, Registration, SignupService};
use crate::http::ApiError;
use crate::http::extract::JsonObject;

pub fn resource() -> actix_web::Resource {
    web::resource("/api/v1/users/register")
        .route(web::post().to(register))
        .default_service(web::to(method_not_allowed))
}

/// No `Debug`: it holds the password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub user_type: String,
    pub password: String,
    #[serde(default)]
    pub full_name: Option<String>,
    /// From verify-otp; without it the account starts inactive.
    #[serde(default)]
    pub signup_token: Option<String>,
}

/// An account's public fields.
#[derive(Debug, Serialize)]
pub struct AccountResponse {
    pub id: i32,
    pub email: String,
    pub user_type: &'static str,
    pub full_name: Option<String>,
    pub is_active: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct RegisterResponse {
    #[serde(flatten)]
    pub account: AccountResponse,
    /// `active`, or `pending_activation` until the emailed code is verified.
    pub status: &'static str,
    pub message: &'static str,
    /// For `pending_activation`: seconds the activation code stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// For `pending_activation`: seconds until send-otp may send another code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend_after: Option<u64>,
}

impl From<&AccountRecord> for AccountResponse {
    fn from(account: &AccountRecord) -> Self {
        Self {
            id: account.numeric_id(),
            email: account.email.clone(),
            user_type: account.user_type().as_str(),
            full_name: account.full_name.clone(),
            is_active: account.is_active,
            created_at: account
                .created_at
                .and_utc()
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

async fn register(
    service: web::Data<SignupService>,
    JsonObject(body): JsonObject<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let (email, user_type) = identity(&body.email, &body.user_type)?;
    let password = Password::parse(body.password).map_err(|e| invalid("invalid_password", &e))?;
    let full_name = match body.full_name.as_deref() {
        Some(raw) => FullName::parse(raw).map_err(|e| invalid("invalid_full_name", &e))?,
        None => None,
    };
    let registration = Registration {
        email,
        user_type,
        password,
        full_name,
        signup_token: body.signup_token,
    };
    let response = match service.register(registration).await? {
        Registered::Active(account) => RegisterResponse {
            account: AccountResponse::from(&account),
            status: "active",
            message: "The account is ready",
            expires_in: None,
            resend_after: None,
        },
        Registered::PendingActivation {
            account,
            expires_in,
            resend_after,
        } => RegisterResponse {
            account: AccountResponse::from(&account),
            status: "pending_activation",
            message: "Check your email for an activation code, then verify it",
            expires_in: Some(expires_in.as_secs()),
            resend_after: Some(resend_after.as_secs()),
        },
    };
    Ok(HttpResponse::build(StatusCode::CREATED).json(response))
}
