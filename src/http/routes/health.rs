//! `GET /health` (the process is up) and `GET /health/ready` (the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::method_not_allowed;
use crate::flows::SignupService;
use crate::http::ApiError;

pub fn scope() -> actix_web::Scope {
    web::scope("/health")
        .service(
            web::resource("")
                .route(web::get().to(live))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/ready")
                .route(web::get().to(ready))
                .default_service(web::to(method_not_allowed)),
        )
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(service: web::Data<SignupService>) -> Result<HttpResponse, ApiError> {
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
