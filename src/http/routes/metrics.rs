//! `GET /metrics`: Prometheus text format, on the operations listener only
//! (`METRICS_ADDR`): the counters move per request and would tell an outsider
//! which addresses have accounts.

use actix_web::{HttpResponse, web};

use crate::flows::SignupService;
use crate::metrics::Metrics;

/// Prometheus metrics.
pub async fn metrics(
    service: web::Data<SignupService>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    let state = service.pool().state();
    let max = service.pool().max_size();
    metrics.set("db_pool_connections", &[], f64::from(state.connections));
    metrics.set(
        "db_pool_idle_connections",
        &[],
        f64::from(state.idle_connections),
    );
    metrics.set(
        "db_pool_in_use_connections",
        &[],
        f64::from(state.connections - state.idle_connections),
    );
    metrics.set("db_pool_max_connections", &[], f64::from(max));
    // The backlog needs the database; without it the other metrics still answer,
    // and `signup_otp_database_up` says so.
    let readiness = service.readiness().await;
    metrics.set(
        "signup_otp_database_up",
        &[],
        if readiness.is_ok() { 1.0 } else { 0.0 },
    );
    // Without the database the backlog is unknown, not what it last was.
    let (backlog, oldest) = match readiness {
        Ok(readiness) => (
            readiness.outbox_messages as f64,
            readiness
                .oldest_message_age
                .map_or(0.0, |age| age.as_secs_f64()),
        ),
        Err(_) => (f64::NAN, f64::NAN),
    };
    metrics.set("email_outbox_backlog", &[], backlog);
    metrics.set("email_outbox_oldest_age_seconds", &[], oldest);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
