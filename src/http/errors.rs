//! The error policy at the HTTP edge.
//!
//! Every error a client can see is an [`ApiError`]: a status chosen on purpose, a
//! stable snake_case `code` for programs, and a `detail` for people (the field
//! name the original FastAPI service used, so existing clients keep working).
//! Internal causes are logged with their chain and never sent: the client gets an
//! opaque `internal_error`.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::flows::DbError;
use crate::flows::{FlowError, HashError, ThrottleReason};
use crate::idempotency::IdempotencyError;
use crate::idempotency::edge::InvalidKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retry_after: Option<Duration>,
    /// For a 405: the method the resource takes (RFC 9110 requires `Allow`).
    pub allow: Option<Method>,
    /// Close the connection after this answer (the client misbehaved on it).
    pub close: bool,
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// For people; may change.
    #[schema(value_type = String, example = "Invalid OTP")]
    pub detail: &'a str,
    /// For programs; stable, snake_case.
    #[schema(value_type = String, example = "invalid_otp")]
    pub code: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            allow: None,
            close: false,
        }
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The connection is closed after this answer.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
    }

    pub fn method_not_allowed(allowed: Method) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("Method not allowed: use {allowed}"),
        );
        error.allow = Some(allowed);
        error
    }

    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The service is temporarily unavailable; try again shortly",
        )
        .retry_after(Duration::from_secs(5))
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(after) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(after.as_secs())));
        }
        if let Some(allowed) = &self.allow {
            response.insert_header((header::ALLOW, allowed.as_str()));
        }
        if self.close {
            response.force_close();
        }
        response.json(ErrorBody {
            detail: &self.detail,
            code: self.code,
        })
    }
}

impl From<FlowError> for ApiError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::InvalidOtp(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_otp", "Invalid OTP")
            }
            FlowError::TooManyAttempts => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many wrong codes: request a new one",
            ),
            FlowError::VerificationLocked { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "verification_locked",
                "Too many wrong codes for this address: verification is locked for a while",
            )
            .retry_after(retry_after),
            FlowError::Throttled {
                reason,
                retry_after,
            } => {
                let (code, detail) = match reason {
                    ThrottleReason::Cooldown => (
                        "resend_cooldown",
                        "A code was sent moments ago; wait before asking for another",
                    ),
                    ThrottleReason::HourlyCap
                    | ThrottleReason::DailyCap
                    | ThrottleReason::MailboxCeiling => (
                        "send_limit_reached",
                        "Too many codes were sent to this address; try again later",
                    ),
                };
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail).retry_after(retry_after)
            }
            FlowError::InvalidSignupToken(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_signup_token",
                "The signup token is invalid or expired: verify the email again",
            ),
            FlowError::AlreadyRegistered => ApiError::new(
                StatusCode::CONFLICT,
                "already_registered",
                "An account with this email already exists",
            ),
            FlowError::VerificationIdRequired => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_id_required",
                "Send the verification_id that send-otp answered (or the registration_id of \
                 register) with the code",
            ),
            FlowError::PasswordHash(HashError::Busy) => {
                log::warn!("password hashing is at capacity: a register was turned away");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_busy",
                    "The service is busy; try again shortly",
                )
                .retry_after(Duration::from_secs(2))
            }
            FlowError::PasswordHash(error) => {
                log::error!("request failed: {}", crate::telemetry::error_chain(&error));
                ApiError::internal()
            }
            FlowError::Database(error) => error.into(),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::InUse => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                error.to_string(),
            ),
            IdempotencyError::Database(error) => error.into(),
            IdempotencyError::Lost => ApiError::internal(),
        }
    }
}

impl ResponseError for InvalidKey {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        ApiError::new(
            self.status_code(),
            "invalid_idempotency_key",
            self.to_string(),
        )
        .error_response()
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) => {
                log::warn!(
                    "database unavailable: {}",
                    crate::telemetry::error_chain(&error)
                );
                ApiError::database_unavailable()
            }
            DbError::Query(_) | DbError::Task => {
                log::error!("request failed: {}", crate::telemetry::error_chain(&error));
                ApiError::internal()
            }
        }
    }
}
