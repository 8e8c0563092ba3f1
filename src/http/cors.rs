//! CORS for browser apps on other origins (`CORS_ALLOWED_ORIGINS`), with
//! actix-cors. Only listed origins get CORS headers; any other origin gets none
//! and the browser keeps the response from its script. An empty list turns CORS
//! off altogether.

use actix_cors::{Cors, CorsError};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, CONTENT_TYPE, RETRY_AFTER,
};
use actix_web::middleware::{Condition, Next};
use actix_web::{Error, ResponseError};

use super::ApiError;
use super::middleware::REQUEST_ID_HEADER;
use crate::http::ErrorCode;
use crate::idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 3600;

/// The CORS middleware for `origins` (exact `scheme://host[:port]` strings).
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([CONTENT_TYPE, IDEMPOTENCY_KEY, REQUEST_ID_HEADER])
        .expose_headers([RETRY_AFTER, REQUEST_ID_HEADER, IDEMPOTENT_REPLAYED])
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Turns actix-cors' plain-text refusals (a preflight from an origin not on the
/// list, or asking for a method or header the API does not take) into the API's
/// JSON errors, and leaves no CORS header on an answer to an origin that is not
/// allowed. Wrap it outside [`cors`].
pub async fn refusals(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let response = next.call(request).await?.map_into_boxed_body();
    let refusal = response
        .response()
        .error()
        .and_then(|error| error.as_error::<CorsError>())
        .map(|error| match error {
            CorsError::OriginNotAllowed => ApiError::new(
                ErrorCode::CorsOriginNotAllowed,
                "This origin is not allowed to call the API from a browser",
            ),
            other => ApiError::new(
                ErrorCode::CorsRequestNotAllowed,
                format!("CORS preflight refused: {other}"),
            ),
        });
    Ok(match refusal {
        Some(error) => {
            let (request, _) = response.into_parts();
            ServiceResponse::new(request, error.error_response())
        }
        None => {
            let mut response = response;
            let headers = response.headers_mut();
            if !headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
                headers.remove(ACCESS_CONTROL_EXPOSE_HEADERS);
            }
            response
        }
    })
}
