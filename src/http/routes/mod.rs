pub mod admin;
pub mod docs;
pub mod health;
pub mod metrics;
pub mod register;
pub mod signup;
pub mod try_page;

use actix_web::http::Method;
use actix_web::http::header::ACCEPT_LANGUAGE;
use actix_web::{HttpRequest, HttpResponse};

use super::ApiError;
use crate::domain::locale::is_well_formed;
use crate::domain::{EmailAddress, Locale, LocaleTagError, UserType};
use crate::http::ErrorCode;

/// Any path the service does not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// A served path with a method it does not take: 405 with `Allow`.
pub async fn method_not_allowed(allowed: Method) -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed(allowed))
}

/// The (email, user_type) every endpoint takes, validated; 422 otherwise.
fn identity(email: &str, user_type: &str) -> Result<(EmailAddress, UserType), ApiError> {
    let email = EmailAddress::parse(email).map_err(|e| invalid(ErrorCode::InvalidEmail, &e))?;
    let user_type = user_type
        .parse::<UserType>()
        .map_err(|e| invalid(ErrorCode::InvalidUserType, &e))?;
    Ok((email, user_type))
}

/// The language of the email a request sends: the body's `locale` if given (a
/// malformed tag is a 422, an unknown one falls back), else `Accept-Language`,
/// else the default.
fn email_locale(
    requested: Option<&str>,
    request: &HttpRequest,
    default: Locale,
) -> Result<Locale, ApiError> {
    if let Some(tag) = requested {
        if !is_well_formed(tag) {
            return Err(invalid(ErrorCode::InvalidLocale, &LocaleTagError));
        }
        return Ok(Locale::resolve(tag).unwrap_or(default));
    }
    Ok(request
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .and_then(Locale::negotiate)
        .unwrap_or(default))
}

/// A 422 whose detail is `error`'s message, which starts with the field's name
/// as the client sends it (`user_type must be "live" or "demo"`).
fn invalid(code: ErrorCode, error: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(code, error.to_string())
}
