//! `POST /api/v1/users/signup/send-otp` and `POST /api/v1/users/signup/verify-otp`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::register::AccountResponse;
use super::{email_locale, identity};
use crate::domain::Requester;
use crate::flows::{Carried, SignupService, VerifiedOutcome};
use crate::http::ApiError;
use crate::http::DefaultLocale;
use crate::http::ErrorCode;
use crate::http::error_code::EndpointErrors;
use crate::http::extract::JsonObject;
use crate::http::openapi::{AcceptLanguageHeader, IdempotencyHeader, LocaleTag, UserTypeName};
use crate::idempotency::{self, IdempotencyKey, IdempotencyStore, identity_scope};

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
    #[schema(value_type = Option<LocaleTag>)]
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "message": "If the address can receive mail, a verification code is on its way",
    "expires_in": 600,
    "resend_after": 60,
    "verification_id": "H3q9Tz0LmVb2Kx8Rc1Nw7Yd4Jf6Gs5Ua2Ep9Io3Wk7"
}))]
pub struct SendOtpResponse {
    #[schema(value_type = String)]
    pub message: &'static str,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds until another code may be requested.
    pub resend_after: u64,
    /// Pass it to verify-otp with the code: the attempts of a verify that carries
    /// it are this client's own, which a stranger guessing at the address cannot
    /// use up.
    pub verification_id: String,
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
    /// From send-otp: the attempts of this verify are the asking client's own.
    /// Required when the service runs with `VERIFY_REQUIRES_VERIFICATION_ID`.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub verification_id: Option<String>,
    /// From register without a signup token (it is also the code's
    /// verification id): with the right code, that registration is finished here
    /// (its password becomes the account's). One that is unknown, expired or for
    /// another address is ignored, and the answer carries a signup token instead.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub registration_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "verified": true,
    "flow": "signup",
    "signup_token": "Jm3q9Vx0a8ZrT2kPbN5sW7cY1uE4iH6oL9dF3gK0jQw",
    "signup_token_expires_in": 900
}))]
pub struct VerifyOtpResponse {
    pub verified: bool,
    /// `signup` (a new address) or `activation` (an existing, inactive account).
    #[schema(value_type = String, pattern = "^(signup|activation)$")]
    pub flow: &'static str,
    /// When no registration was finished: the proof to pass to register, with the
    /// password for the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_token: Option<String>,
    /// Seconds the signup token stays good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_token_expires_in: Option<u64>,
    /// When the request's `registration_id` was finished: the account, active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountResponse>,
}

/// The same words for every case, so the answer does not tell whether the address
/// has an account.
const SENT: &str = "If the address can receive mail, a verification code is on its way";

/// What send-otp answers besides every JSON endpoint's errors.
pub const SEND_OTP_ERRORS: EndpointErrors = EndpointErrors::json_post(&[
    ErrorCode::InvalidEmail,
    ErrorCode::InvalidUserType,
    ErrorCode::InvalidLocale,
    ErrorCode::ResendCooldown,
    ErrorCode::SendLimitReached,
]);

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
        // Errors: SEND_OTP_ERRORS.
    )
)]
#[allow(clippy::too_many_arguments)]
pub async fn send_otp(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    default_locale: web::Data<DefaultLocale>,
    request: HttpRequest,
    requester: Requester,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<SendOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let locale = email_locale(body.locale.as_deref(), &request, default_locale.0);
    let scope = identity_scope(&body.email, &body.user_type);
    idempotency::once(
        store,
        "send-otp",
        &scope,
        key,
        canonical.as_bytes(),
        move || async move {
            let (email, user_type) = identity(&body.email, &body.user_type)?;
            let receipt = service.send(email, user_type, requester, locale?).await?;
            Ok(HttpResponse::Ok().json(SendOtpResponse {
                message: SENT,
                expires_in: receipt.expires_in.as_secs(),
                resend_after: receipt.resend_after.as_secs(),
                verification_id: receipt.verification_id,
            }))
        },
    )
    .await
}

/// What verify-otp answers besides every JSON endpoint's errors.
/// `already_registered`: the address got an account while its registration waited.
pub const VERIFY_OTP_ERRORS: EndpointErrors = EndpointErrors::json_post(&[
    ErrorCode::InvalidOtp,
    ErrorCode::AlreadyRegistered,
    ErrorCode::InvalidEmail,
    ErrorCode::InvalidUserType,
    ErrorCode::VerificationIdRequired,
    ErrorCode::TooManyAttempts,
    ErrorCode::VerificationLocked,
]);

/// Verify a code.
///
/// A right code proves the address. With the `registration_id` from register,
/// it finishes that registration: the account is created (or, for an existing
/// inactive account, activated) with the password given to register, and the
/// answer carries it. Otherwise the answer carries a `signup_token` for
/// register. A code works once.
#[utoipa::path(
    post,
    path = "/api/v1/users/signup/verify-otp",
    tag = "signup",
    request_body = VerifyOtpRequest,
    params(IdempotencyHeader),
    responses(
        (status = 200, description = "The code was right and is now used up. A replay (same `Idempotency-Key`, same identity, same body) returns the same answer, signup token included.", body = VerifyOtpResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        // Errors: VERIFY_OTP_ERRORS.
    )
)]
pub async fn verify_otp(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    requester: Requester,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<VerifyOtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = identity_scope(&body.email, &body.user_type);
    idempotency::once(
        store,
        "verify-otp",
        &scope,
        key,
        canonical.as_bytes(),
        move || async move {
            let (email, user_type) = identity(&body.email, &body.user_type)?;
            let verified = service
                .verify(
                    email,
                    user_type,
                    &body.otp_code,
                    requester,
                    Carried {
                        verification_id: body.verification_id.as_deref(),
                        registration_id: body.registration_id.as_deref(),
                    },
                )
                .await?;
            let mut response = VerifyOtpResponse {
                verified: true,
                flow: verified.flow.as_str(),
                signup_token: None,
                signup_token_expires_in: None,
                account: None,
            };
            match verified.outcome {
                VerifiedOutcome::Token { token, expires_in } => {
                    response.signup_token = Some(token);
                    response.signup_token_expires_in = Some(expires_in.as_secs());
                }
                VerifiedOutcome::Registered(account) => {
                    response.account = Some(AccountResponse::from(&account));
                }
            }
            Ok(HttpResponse::Ok().json(response))
        },
    )
    .await
}
