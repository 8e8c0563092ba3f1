//! The REST edge: routes, request and response types, and the error mapping.
//! Handlers are thin: they turn a request into domain values, call one flow and
//! turn its result into a response.

pub mod errors;
mod extract;
pub mod middleware;
mod routes;

use actix_web::web;

pub use errors::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Registers every route and the edge's error handling on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(extract::json_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(routes::health::scope())
        .service(routes::signup::scope())
        .service(routes::register::resource())
        .service(routes::metrics::resource())
        .default_service(web::to(routes::not_found));
}
