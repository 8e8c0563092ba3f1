//! How request bodies are read: JSON only, at most [`MAX_BODY_BYTES`], and every
//! way a body can be wrong mapped to a JSON error with its own status.

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use super::{ApiError, MAX_BODY_BYTES};

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(json_error)
}

fn json_error(error: JsonPayloadError, _request: &HttpRequest) -> actix_web::Error {
    api_error(&error).into()
}

fn api_error(error: &JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            too_large()
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => too_large(),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json",
        ),
        // Well-formed JSON of the wrong shape: a missing or unknown field, a wrong type.
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("Invalid request body: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "The request body could not be read",
        ),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The body must be at most {MAX_BODY_BYTES} bytes"),
    )
}
