//! `GET /health` (the process is up) and `GET /health/ready` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::flows::SignupService;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::http::error_code::EndpointErrors;

/// The process is up.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "Always, while the process runs.",
        body = Object, example = json!({"status": "ok"})))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// What readiness answers when not ready.
pub const READY_ERRORS: EndpointErrors = EndpointErrors::only(&[ErrorCode::DatabaseUnavailable]);

/// The database answers; the outbox's backlog.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve.", body = Object,
            example = json!({"status": "ready", "database": "ok", "outbox": {"backlog": 0, "oldest_age_secs": null}})),
        // Errors: READY_ERRORS.
    )
)]
pub async fn ready(service: web::Data<SignupService>) -> Result<HttpResponse, ApiError> {
    let readiness = service.readiness().await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": "ok",
        "outbox": {
            "backlog": readiness.outbox_messages,
            "oldest_age_secs": readiness.oldest_message_age.map(|age| age.as_secs()),
        },
    })))
}
