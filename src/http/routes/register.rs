//! `POST /api/v1/users/register`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::{email_locale, identity, invalid};
use crate::domain::{FullName, Password, Requester};
use crate::flows::AccountRecord;
use crate::flows::{Registered, Registration, SignupService};
use crate::http::ApiError;
use crate::http::DefaultLocale;
use crate::http::ErrorCode;
use crate::http::error_code::EndpointErrors;
use crate::http::extract::JsonObject;
use crate::http::openapi::{AcceptLanguageHeader, IdempotencyHeader, LocaleTag, UserTypeName};
use crate::idempotency::{self, IdempotencyKey, IdempotencyStore, identity_scope};

/// No `Debug`: it holds the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com",
    "user_type": "live",
    "password": "correct horse battery staple",
    "full_name": "Ada Lovelace",
    "signup_token": "Jm3q9Vx0a8ZrT2kPbN5sW7cY1uE4iH6oL9dF3gK0jQw"
}))]
pub struct RegisterRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(value_type = UserTypeName)]
    pub user_type: String,
    /// 8 to 128 characters.
    #[schema(format = "password", min_length = 8, max_length = 128)]
    pub password: String,
    /// At most 255 characters, no control characters (a line break, a tab).
    #[serde(default)]
    #[schema(max_length = 255, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub full_name: Option<String>,
    /// From verify-otp: proof that the caller read a code sent to the address.
    /// Without it nothing is created yet: a code is sent, and verify-otp with it
    /// and the `registration_id` of the answer finishes the registration.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub signup_token: Option<String>,
    /// The email's language (see send-otp).
    #[serde(default)]
    #[schema(value_type = Option<LocaleTag>)]
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
    /// `active`.
    #[schema(value_type = String, pattern = "^active$")]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub message: &'static str,
}

/// The answer to register without a signup token: the same for every address.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "pending_verification",
    "message": "If the address can receive mail, a verification code is on its way: verify it with this registration_id",
    "registration_id": "q7Lm2Xc9Vb4Nz8Kd1Rf6Tg3Hj0Ys5Wp2Ue7Io4Aa9Sd",
    "expires_in": 600,
    "resend_after": 60
}))]
pub struct RegistrationPending {
    /// `pending_verification`.
    #[schema(value_type = String, pattern = "^pending_verification$")]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub message: &'static str,
    /// Pass it to verify-otp with the code: only that request can finish this
    /// registration. Keep it like a password until then.
    pub registration_id: String,
    /// Seconds the code (and this registration) stay valid.
    pub expires_in: u64,
    /// Seconds until another code may be requested.
    pub resend_after: u64,
}

const PENDING: &str = "If the address can receive mail, a verification code is on its way: \
                       verify it with this registration_id";

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
/// What register answers besides every JSON endpoint's errors. With a signup
/// token: `invalid_signup_token`, `already_registered`; without one, the send
/// limits (`resend_cooldown`, `send_limit_reached`).
pub const REGISTER_ERRORS: EndpointErrors = EndpointErrors::json_post(&[
    ErrorCode::InvalidSignupToken,
    ErrorCode::AlreadyRegistered,
    ErrorCode::InvalidEmail,
    ErrorCode::InvalidUserType,
    ErrorCode::InvalidPassword,
    ErrorCode::InvalidFullName,
    ErrorCode::InvalidLocale,
    ErrorCode::ResendCooldown,
    ErrorCode::SendLimitReached,
    ErrorCode::ServiceBusy,
]);

/// Register an account.
///
/// With the `signup_token` from verify-otp the account is created active (an
/// existing inactive account is activated, and its password replaced). Without
/// one, nothing is created yet: a code is emailed, exactly as send-otp does,
/// and verify-otp with that code and the `registration_id` of this answer
/// creates the account with this password. The answer is the same whether or not
/// the address has an account; that path counts against the send limits.
#[utoipa::path(
    post,
    path = "/api/v1/users/register",
    tag = "accounts",
    request_body = RegisterRequest,
    params(IdempotencyHeader, AcceptLanguageHeader),
    responses(
        (status = 201, description = "With a signup token: the account is active.", body = RegisterResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 202, description = "Without a signup token: a code is on its way (the same answer for every address).", body = RegistrationPending,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        // Errors: REGISTER_ERRORS.
    )
)]
#[allow(clippy::too_many_arguments)]
pub async fn register(
    service: web::Data<SignupService>,
    store: web::Data<IdempotencyStore>,
    default_locale: web::Data<DefaultLocale>,
    request: HttpRequest,
    requester: Requester,
    key: IdempotencyKey,
    JsonObject(body, canonical): JsonObject<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let locale = email_locale(body.locale.as_deref(), &request, default_locale.0);
    let scope = identity_scope(&body.email, &body.user_type);
    idempotency::once(
        store,
        "register",
        &scope,
        key,
        canonical.as_bytes(),
        move || async move {
            let (email, user_type) = identity(&body.email, &body.user_type)?;
            let password = Password::parse(body.password)
                .map_err(|e| invalid(ErrorCode::InvalidPassword, &e))?;
            let full_name = match body.full_name.as_deref() {
                Some(raw) => {
                    FullName::parse(raw).map_err(|e| invalid(ErrorCode::InvalidFullName, &e))?
                }
                None => None,
            };
            let registration = Registration {
                email,
                user_type,
                password,
                full_name,
                signup_token: body.signup_token,
                locale: locale?,
                requester,
            };
            Ok(match service.register(registration).await? {
                Registered::Active(account) => {
                    HttpResponse::build(StatusCode::CREATED).json(RegisterResponse {
                        account: AccountResponse::from(&account),
                        status: "active",
                        message: "The account is ready",
                    })
                }
                Registered::Pending {
                    registration_id,
                    expires_in,
                    resend_after,
                } => HttpResponse::build(StatusCode::ACCEPTED).json(RegistrationPending {
                    status: "pending_verification",
                    message: PENDING,
                    registration_id,
                    expires_in: expires_in.as_secs(),
                    resend_after: resend_after.as_secs(),
                }),
            })
        },
    )
    .await
}
