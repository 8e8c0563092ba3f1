//! Every `code` an error body can carry, declared once: its text, its status and
//! what it means. Handlers answer with these; the OpenAPI document lists them
//! per endpoint and status from the same table.

use actix_web::http::StatusCode;

macro_rules! error_codes {
    ($($variant:ident = ($code:literal, $status:ident, $meaning:literal),)+) => {
        /// A stable, snake_case error code, for programs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order declared.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// What the code means, for the API document.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = ("invalid_json", BAD_REQUEST, "The body is not valid JSON."),
    InvalidBody = ("invalid_body", BAD_REQUEST, "The body could not be read."),
    InvalidOtp = ("invalid_otp", BAD_REQUEST, "The code is unknown, expired, already used or wrong."),
    InvalidSignupToken = ("invalid_signup_token", BAD_REQUEST, "The signup token is unknown, expired or used: verify the email again."),
    InvalidIdempotencyKey = ("invalid_idempotency_key", BAD_REQUEST, "The `Idempotency-Key` header is not 1 to 255 printable ASCII characters, or came more than once."),
    CorsRequestNotAllowed = ("cors_request_not_allowed", BAD_REQUEST, "A CORS preflight asked for a method or header the API does not take."),
    Unauthorized = ("unauthorized", UNAUTHORIZED, "The admin API needs `Authorization: Bearer` with the `ADMIN_TOKEN`."),
    CorsOriginNotAllowed = ("cors_origin_not_allowed", FORBIDDEN, "This browser origin may not call the API (`CORS_ALLOWED_ORIGINS`)."),
    NotFound = ("not_found", NOT_FOUND, "No such endpoint."),
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED, "The endpoint takes another method (see `Allow`)."),
    RequestTimeout = ("request_timeout", REQUEST_TIMEOUT, "The body did not arrive in time."),
    AlreadyRegistered = ("already_registered", CONFLICT, "An account with this email already exists."),
    IdempotencyKeyInUse = ("idempotency_key_in_use", CONFLICT, "The first request with this `Idempotency-Key` is still running."),
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE, "The body is larger than the API takes."),
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body is not sent as `application/json`."),
    UnsupportedContentEncoding = ("unsupported_content_encoding", UNSUPPORTED_MEDIA_TYPE, "The body is compressed (`Content-Encoding`): send it as it is."),
    InvalidRequest = ("invalid_request", UNPROCESSABLE_ENTITY, "JSON of the wrong shape: not an object, a field missing or unknown, a wrong type."),
    InvalidEmail = ("invalid_email", UNPROCESSABLE_ENTITY, "`email` is not a valid address."),
    InvalidUserType = ("invalid_user_type", UNPROCESSABLE_ENTITY, "`user_type` is neither `live` nor `demo`."),
    InvalidLocale = ("invalid_locale", UNPROCESSABLE_ENTITY, "`locale` is not a well-formed language tag."),
    InvalidPassword = ("invalid_password", UNPROCESSABLE_ENTITY, "`password` is too short or too long."),
    InvalidFullName = ("invalid_full_name", UNPROCESSABLE_ENTITY, "`full_name` is too long or holds control characters."),
    VerificationIdRequired = ("verification_id_required", UNPROCESSABLE_ENTITY, "The service requires the `verification_id` that send-otp answered (or register's `registration_id`) with the code."),
    TooManyAttempts = ("too_many_attempts", TOO_MANY_REQUESTS, "Too many wrong guesses of this code: request a new one."),
    VerificationLocked = ("verification_locked", TOO_MANY_REQUESTS, "Too many wrong codes for this address from this network: wait for `Retry-After`."),
    ResendCooldown = ("resend_cooldown", TOO_MANY_REQUESTS, "A code was sent moments ago: wait for `Retry-After`; the code already sent stays valid."),
    SendLimitReached = ("send_limit_reached", TOO_MANY_REQUESTS, "Too many codes were sent to this address: wait for `Retry-After`; the code already sent stays valid."),
    RateLimited = ("rate_limited", TOO_MANY_REQUESTS, "Too many requests from this address: wait for `Retry-After`."),
    TooManyConnections = ("too_many_connections", TOO_MANY_REQUESTS, "Too many open connections from this address."),
    InternalError = ("internal_error", INTERNAL_SERVER_ERROR, "Something failed inside the service; it is logged."),
    DatabaseUnavailable = ("database_unavailable", SERVICE_UNAVAILABLE, "The database cannot be reached: retry after `Retry-After`."),
    ServiceBusy = ("service_busy", SERVICE_UNAVAILABLE, "Too many passwords wait to be hashed: retry after `Retry-After`."),
}

impl ErrorCode {
    /// Whether answers with this code carry `Retry-After`.
    pub fn sets_retry_after(self) -> bool {
        matches!(
            self,
            ErrorCode::VerificationLocked
                | ErrorCode::ResendCooldown
                | ErrorCode::SendLimitReached
                | ErrorCode::RateLimited
                | ErrorCode::TooManyConnections
                | ErrorCode::DatabaseUnavailable
                | ErrorCode::ServiceBusy
        )
    }
}

/// The codes one endpoint answers with: its own, declared beside its handler,
/// and those of the layers every endpoint of its kind goes through. The API
/// document lists them per status from here.
#[derive(Debug, Clone, Copy)]
pub struct EndpointErrors {
    pub own: &'static [ErrorCode],
    pub common: &'static [ErrorCode],
}

impl EndpointErrors {
    /// A JSON `POST` endpoint: its own codes and [`JSON_POST`].
    pub const fn json_post(own: &'static [ErrorCode]) -> Self {
        Self {
            own,
            common: JSON_POST,
        }
    }

    /// An endpoint without a body.
    pub const fn only(own: &'static [ErrorCode]) -> Self {
        Self { own, common: &[] }
    }

    /// Every code, its own first.
    pub fn all(&self) -> impl Iterator<Item = ErrorCode> + '_ {
        self.own.iter().chain(self.common).copied()
    }
}

/// What every JSON `POST` endpoint can answer, whatever it does.
pub const JSON_POST: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::InvalidBody,
    ErrorCode::InvalidIdempotencyKey,
    ErrorCode::RequestTimeout,
    ErrorCode::IdempotencyKeyInUse,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::UnsupportedContentEncoding,
    ErrorCode::InvalidRequest,
    ErrorCode::RateLimited,
    ErrorCode::TooManyConnections,
    ErrorCode::DatabaseUnavailable,
];

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// In the API document: a string, one of the codes.
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A stable, snake_case error code, for programs."))
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_every_status_is_a_client_or_server_error() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
            assert!(code.meaning().ends_with('.'), "{text}");
        }
    }

    #[test]
    fn the_readme_lists_every_code_with_its_status() {
        let readme = include_str!("../../README.md");
        let rows: Vec<&str> = readme
            .lines()
            .filter(|line| line.starts_with("| ") && line.contains("| `"))
            .collect();
        for code in ErrorCode::ALL {
            let status = code.status().as_u16().to_string();
            assert!(
                rows.iter().any(|row| {
                    row.starts_with(&format!("| {status} |"))
                        && row
                            .split('|')
                            .nth(2)
                            .is_some_and(|codes| codes.contains(&format!("`{code}`")))
                }),
                "README's error table lacks {status} `{code}`"
            );
        }
    }
}
