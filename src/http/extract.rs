//! How request bodies are read: JSON only, uncompressed, at most
//! [`MAX_BODY_BYTES`], within a deadline once the headers are in, and every way a
//! body can be wrong mapped to a JSON error with its own status.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::header::CONTENT_ENCODING;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY_BYTES};
use crate::http::ErrorCode;

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
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON with Content-Type: application/json",
        ),
        // Well-formed JSON of the wrong shape: a missing or unknown field, a wrong type.
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Invalid request body: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ErrorCode::InvalidJson,
            format!("The body is not valid JSON: {e}"),
        ),
        _ => ApiError::body_unreadable(),
    }
}

/// How long a body may take to arrive once its headers have
/// (`REQUEST_BODY_TIMEOUT_SECS`): a client that sends headers and then nothing
/// holds a connection only this long.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The body must be at most {MAX_BODY_BYTES} bytes"),
    )
}

/// A JSON object body deserialized into `T`, with its canonical form.
///
/// `web::Json<T>` lets serde read a struct from a JSON array too (fields by
/// position); the API's bodies are objects, so this reads an object first and
/// refuses anything else with the same 422 as any other body of the wrong shape.
pub struct JsonObject<T>(pub T, pub CanonicalJson);

/// A body re-serialised with sorted keys and no white space, so that two bodies
/// that mean the same compare equal (what an idempotent retry is matched on).
pub struct CanonicalJson(Vec<u8>);

impl CanonicalJson {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // A compressed body would be inflated before the size limit could see it.
        let encoded = request
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
        let deadline = request
            .app_data::<BodyTimeout>()
            .map_or(Duration::from_secs(10), |timeout| timeout.0);
        let object =
            web::Json::<serde_json::Map<String, serde_json::Value>>::from_request(request, payload);
        Box::pin(async move {
            if encoded {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedContentEncoding,
                    "Send the body uncompressed: Content-Encoding is not accepted",
                )
                .closing()
                .into());
            }
            let object = actix_web::rt::time::timeout(deadline, object)
                .await
                .map_err(|_| ApiError::request_timeout())??;
            let object = serde_json::Value::Object(object.into_inner());
            // serde_json's map is ordered by key (no `preserve_order`).
            let canonical =
                CanonicalJson(serde_json::to_vec(&object).map_err(|e| {
                    actix_web::Error::from(api_error(&JsonPayloadError::Serialize(e)))
                })?);
            serde_json::from_value(object)
                .map(|value| JsonObject(value, canonical))
                .map_err(|e| api_error(&JsonPayloadError::Deserialize(e)).into())
        })
    }
}
