//! `POST /api/v1/users/register`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::{email_locale, identity, invalid};
use crate::db::models::AccountRecord;
use crate::domain::{FullName, Password};
use crate::flows::{IdempotencyStore, Registered, Registration, SignupService};
use crate::http::ApiError;
use crate::http::DefaultLocale;
use crate::http::errors::ErrorBody;
use crate::http::extract::JsonObject;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::openapi::{AcceptLanguageHeader, IdempotencyHeader, UserTypeName};

/// No `Debug`: it holds the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com",
    "user_type": "live",
    "password": "correct horse battery staple",
    "full_name": "Ada Lovelace",
    "signup_token": "c3QxfGxpdmV8MTc2NDUwMDAwMDAwMDAwMHwxNzY0NTAwOTAwfGFkYUBleGFtcGxlLmNvbQ.3q2-7w"
}))]
pub struct RegisterRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(value_type = UserTypeName)]
    pub user_type: String,
    /// 8 to 128 characters.
    #[schema(format = "password", min_length = 8, max_length = 128)]
    pub password: String,
    #[serde(default)]
    #[schema(max_length = 255)]
    pub full_name: Option<String>,
    /// From verify-otp; without it the account starts inactive.
    #[serde(default)]
    pub signup_token: Option<String>,
    /// The activation email's language (see send-otp).
    #[serde(default)]
    #[schema(max_length = 35, pattern = "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")]
    pub locale: Option<String>,
}

/// An account's public fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    pub id: i32,
    pub email: String,
    #[schema(value_type = UserTypeName)]
    pub user_type: &'static str,
    pub full_name: Option<String>,
    pub is_active: bool,
    /// RFC 3339, UTC.
    #[schema(format = "date-time")]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 1, "email": "ada@example.com", "user_type": "live", "full_name": "Ada Lovelace",
    "is_active": true, "created_at": "2026-11-30T12:00:00Z",
    "status": "active", "message": "The account is ready"
}))]
pub struct RegisterResponse {
    #[serde(flatten)]
    pub account: AccountResponse,
    /// `active`, or `pending_activation` until the emailed code is verified.
    #[schema(value_type = String, pattern = "^(active|pending_activation)$")]
    pub status: &'static str,
    #[schema(value_type = String)]
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

/// Register an account.
///
/// With the `signup_token` from verify-otp the account is created active.
/// Without one it is created inactive and an activation code is emailed; that
/// path counts against the address's send limits.
#[utoipa::path(
    post,
    path = "/api/v1/users/register",
    tag = "accounts",
    request_body = RegisterRequest,
    params(IdempotencyHeader, AcceptLanguageHeader),
    responses(
        (status = 201, description = "The account was created.", body = RegisterResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 400, description = "`invalid_signup_token`, `invalid_json` or `invalid_idempotency_key`", body = ErrorBody,
            example = json!({"detail": "The signup token is invalid or expired: verify the email again", "code": "invalid_signup_token"})),
        (status = 409, description = "`already_registered`, or `idempotency_key_in_use` while the first request with this key runs", body = ErrorBody,
            example = json!({"detail": "An account with this email already exists", "code": "already_registered"})),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`, `invalid_email`, `invalid_user_type`, `invalid_password`, `invalid_full_name`, `invalid_locale` or `idempotency_key_reused`", body = ErrorBody,
            example = json!({"detail": "Password must be at least 8 characters", "code": "invalid_password"})),
        (status = 429, description = "Without a token: `resend_cooldown` or `send_limit_reached`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`database_unavailable`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn register(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    default_locale: web::Data<DefaultLocale>,
    request: HttpRequest,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let locale = email_locale(body.locale.as_deref(), &request, default_locale.0);
    idempotency::once(store, "register", key, &canonical, move || async move {
        let (email, user_type) = identity(&body.email, &body.user_type)?;
        let password =
            Password::parse(body.password).map_err(|e| invalid("invalid_password", &e))?;
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
            locale: locale?,
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
    })
    .await
}
