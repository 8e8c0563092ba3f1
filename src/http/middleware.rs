//! Middleware: the request id every response carries, the HTTP metrics, the
//! security headers, and the per-client connection limit.

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

/// Swagger UI at `/docs/`: its own scripts and styles (it sets inline styles),
/// calls to this service only, never framed.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                           form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Everything else is data, never a document to render or frame.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every answer carries: no MIME sniffing, no referrer, a content
/// security policy (the page's own where it sets one), and for the API no
/// caching anywhere on the way (answers carry signup tokens and registration ids).
/// HSTS belongs to the proxy that terminates TLS.
pub async fn security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path().to_owned();
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    let set = |headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value| {
        if !headers.contains_key(name) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
    };
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    let policy = if path == "/docs" || path.starts_with("/docs/") {
        DOCS_POLICY
    } else {
        API_POLICY
    };
    set(headers, "content-security-policy", policy);
    if path.starts_with("/api/") {
        set(headers, "cache-control", "no-store");
    }
    Ok(response)
}

/// A connection its client opened beyond `MAX_CONNECTIONS_PER_CLIENT` is
/// answered 429 `too_many_connections` and closed. Every other request marks its
/// connection busy while it runs, for the watchdog of idle connections.
pub async fn connection_guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let over = request
        .conn_data::<super::client::ConnectionSlot>()
        .is_some_and(|slot| slot.over_limit);
    if over {
        let response =
            actix_web::ResponseError::error_response(&super::ApiError::too_many_connections());
        return Ok(request.into_response(response).map_into_right_body());
    }
    let running = request
        .conn_data::<super::client::ConnectionSlot>()
        .map(super::client::ConnectionSlot::request_started);
    let response = next.call(request).await;
    drop(running);
    Ok(response?.map_into_left_body())
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
