//! Middleware: the request id every response carries, and the HTTP metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use rand::RngExt;

use crate::metrics::Metrics;
use crate::telemetry::REQUEST_ID;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Takes the client's `x-request-id` when it is a sane token (1–128 characters
/// of `A-Za-z0-9-_.`), otherwise makes one; scopes it over the request for the
/// log, and returns it on the response.
pub async fn request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_token(value))
        .map(str::to_owned)
        .unwrap_or_else(new_id);
    let header = HeaderValue::from_str(&id).expect("ids are header-safe");
    let mut response = REQUEST_ID.scope(id, next.call(request)).await?;
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    Ok(response)
}

fn is_token(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn new_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts requests and their duration by route pattern (never the raw path, so
/// a scanner cannot blow up the label set), method and status.
pub async fn http_metrics(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let method = request.method().to_string();
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        let labels = [
            ("method", method.as_str()),
            ("route", route.as_str()),
            ("status", status.as_str()),
        ];
        metrics.increment("http_requests_total", &labels);
        metrics.observe("http_request_duration_seconds", &labels, started.elapsed());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_they_are_plain_tokens() {
        assert!(is_token("abc-123_x.y"));
        assert!(!is_token(""));
        assert!(!is_token(&"a".repeat(129)));
        assert!(!is_token("has space"));
        assert!(!is_token("new\nline"));
    }

    #[test]
    fn made_ids_are_32_hex_digits() {
        let id = new_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
