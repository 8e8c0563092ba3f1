//! `POST /api/v1/users/signup/send-otp` and `POST /api/v1/users/signup/verify-otp`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::{email_locale, identity};
use crate::flows::{IdempotencyStore, SignupService};
use crate::http::ApiError;
use crate::http::DefaultLocale;
use crate::http::errors::ErrorBody;
use crate::http::extract::JsonObject;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::openapi::{AcceptLanguageHeader, IdempotencyHeader, UserTypeName};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "user_type": "live", "locale": "es"}))]
pub struct SendOtpRequest {
    /// Trimmed and lower-cased before use; at most 254 ASCII characters.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(value_type = UserTypeName)]
    pub user_type: String,
    /// The email's language, a BCP 47 tag (`es`, `pt-BR`). Without it,
    /// `Accept-Language` decides; a language the service does not ship falls
    /// back along its tag (`de-CH` → `de`), then to the default.
    #[serde(default)]
    #[schema(max_length = 35, pattern = "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")]
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "message": "If the address can receive mail, a verification code is on its way",
    "expires_in": 600,
    "resend_after": 60
}))]
pub struct SendOtpResponse {
    #[schema(value_type = String)]
    pub message: &'static str,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds until another code may be requested.
    pub resend_after: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "user_type": "live", "otp_code": "042137"}))]
pub struct VerifyOtpRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(value_type = UserTypeName)]
    pub user_type: String,
    /// The digits from the email; surrounding spaces are ignored. Anything else
    /// than `OTP_LENGTH` digits is a wrong code.
    pub otp_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "verified": true,
    "flow": "signup",
    "signup_token": "c3QxfGxpdmV8MTc2NDUwMDAwMDAwMDAwMHwxNzY0NTAwOTAwfGFkYUBleGFtcGxlLmNvbQ.3q2-7w",
    "signup_token_expires_in": 900
}))]
pub struct VerifyOtpResponse {
    pub verified: bool,
    /// `signup` (a new address) or `activation` (an existing account).
    #[schema(value_type = String, pattern = "^(signup|activation)$")]
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

/// Send a code to an address.
///
/// A new address gets a signup code; an existing inactive account an activation
/// code; an active account an email saying it exists. The answer is the same in
/// all three cases.
#[utoipa::path(
    post,
    path = "/api/v1/users/signup/send-otp",
    tag = "signup",
    request_body = SendOtpRequest,
    params(IdempotencyHeader, AcceptLanguageHeader),
    responses(
        (status = 200, description = "The email is queued.", body = SendOtpResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 400, description = "`invalid_json` or `invalid_idempotency_key`", body = ErrorBody),
        (status = 409, description = "`idempotency_key_in_use`: the first request with this key is still running", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`, `invalid_email`, `invalid_user_type`, `invalid_locale` or `idempotency_key_reused`", body = ErrorBody,
            example = json!({"detail": "Email is not a valid address", "code": "invalid_email"})),
        (status = 429, description = "`resend_cooldown` or `send_limit_reached`; the code already sent stays valid", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")),
            example = json!({"detail": "A code was sent moments ago; wait before asking for another", "code": "resend_cooldown"})),
        (status = 503, description = "`database_unavailable`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn send_otp(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    default_locale: web::Data<DefaultLocale>,
    request: HttpRequest,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<SendOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let locale = email_locale(body.locale.as_deref(), &request, default_locale.0);
    idempotency::once(store, "send-otp", key, &canonical, move || async move {
        let (email, user_type) = identity(&body.email, &body.user_type)?;
        let receipt = service.send(email, user_type, locale?).await?;
        Ok(HttpResponse::Ok().json(SendOtpResponse {
            message: SENT,
            expires_in: receipt.expires_in.as_secs(),
            resend_after: receipt.resend_after.as_secs(),
        }))
    })
    .await
}

/// Verify a code.
///
/// A signup code confirms a new address and returns a `signup_token` for
/// register; an activation code activates its account. A code works once.
#[utoipa::path(
    post,
    path = "/api/v1/users/signup/verify-otp",
    tag = "signup",
    request_body = VerifyOtpRequest,
    params(IdempotencyHeader),
    responses(
        (status = 200, description = "The code was right and is now used up. A replay (same `Idempotency-Key`, same body) returns the same answer, signup token included.", body = VerifyOtpResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 400, description = "`invalid_otp` (unknown, expired, used or wrong code), `invalid_json` or `invalid_idempotency_key`", body = ErrorBody,
            example = json!({"detail": "Invalid OTP", "code": "invalid_otp"})),
        (status = 409, description = "`idempotency_key_in_use`: the first request with this key is still running", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`, `invalid_email`, `invalid_user_type` or `idempotency_key_reused`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: send a new code", body = ErrorBody,
            example = json!({"detail": "Too many wrong codes: request a new one", "code": "too_many_attempts"})),
        (status = 503, description = "`database_unavailable`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn verify_otp(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<VerifyOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    idempotency::once(store, "verify-otp", key, &canonical, move || async move {
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
    })
    .await
}
