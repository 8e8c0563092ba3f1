//! The REST edge: routes, request and response types, the error mapping and the
//! OpenAPI contract. Handlers are thin: they turn a request into domain values,
//! call one flow and turn its result into a response.

pub mod client;
pub mod cors;
pub mod error_code;
pub mod errors;
mod extract;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
mod routes;
pub use routes::admin::{AdminAuth, AdminToken};

use actix_web::http::Method;
use actix_web::web;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use error_code::ErrorCode;
pub use errors::ApiError;
pub use extract::BodyTimeout;
use rate_limit::IpLimits;

use crate::domain::Locale;

/// The email language when a request names none the service ships (`DEFAULT_LOCALE`).
#[derive(Debug, Clone, Copy)]
pub struct DefaultLocale(pub Locale);

/// What an `App` needs to know to serve the edge.
#[derive(Clone)]
pub struct EdgeConfig {
    pub limits: IpLimits,
    pub client_ip: client::ClientIp,
    pub body_timeout: BodyTimeout,
    /// Serve the signup page at `/try`.
    pub try_page: bool,
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One route of the API. [`configure`] serves exactly these, and a test holds
/// them equal to the OpenAPI document's operations.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    register: fn(&mut web::ServiceConfig, &IpLimits),
}

/// An endpoint whose other methods answer a JSON 405, behind its IP quotas.
macro_rules! endpoint {
    ($method:ident $path:literal => $handler:path $(, limited by $($limit:ident),+)?) => {
        Endpoint {
            method: Method::$method,
            path: $path,
            register: |cfg, _limits| {
                cfg.service(
                    web::resource($path)
                        $($(.wrap(_limits.$limit.middleware()))+)?
                        .route(web::route().method(Method::$method).to($handler))
                        .default_service(web::to(|| {
                            routes::method_not_allowed(Method::$method)
                        })),
                );
            },
        }
    };
}

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(POST "/api/v1/users/signup/send-otp" => routes::signup::send_otp,
            limited by send_per_minute, send_per_hour),
        endpoint!(POST "/api/v1/users/signup/verify-otp" => routes::signup::verify_otp,
            limited by verify_per_5_minutes),
        endpoint!(POST "/api/v1/users/register" => routes::register::register,
            limited by register_per_minute, register_per_hour),
        endpoint!(GET "/health" => routes::health::live),
        endpoint!(GET "/health/ready" => routes::health::ready),
        endpoint!(GET "/openapi.json" => routes::docs::openapi_json),
    ]
}

/// Where the interactive API docs are served (Swagger UI, from the binary).
pub const DOCS_PATH: &str = "/docs/";

/// Registers every route and the edge's error handling on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig, edge: &EdgeConfig) {
    cfg.app_data(extract::json_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(edge.body_timeout)
        .app_data(web::Data::new(edge.client_ip.clone()));
    for endpoint in endpoints() {
        (endpoint.register)(cfg, &edge.limits);
    }
    if edge.try_page {
        routes::try_page::configure(cfg);
    }
    cfg.service(web::resource("/docs").route(web::get().to(|| async {
        actix_web::HttpResponse::PermanentRedirect()
            .insert_header(("location", DOCS_PATH))
            .finish()
    })))
    .service(
        SwaggerUi::new("/docs/{_:.*}").config(
            Config::new(["/openapi.json"])
                .try_it_out_enabled(true)
                .display_request_duration(true),
        ),
    )
    .default_service(web::to(routes::not_found));
}

/// The operations listener (`METRICS_ADDR`): `/metrics`, and with an
/// `ADMIN_TOKEN` the admin API; nothing of either on the public port.
pub fn configure_operations(cfg: &mut web::ServiceConfig, admin: bool) {
    if admin {
        routes::admin::configure(cfg);
    }
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(routes::metrics::metrics))
            .default_service(web::to(|| routes::method_not_allowed(Method::GET))),
    )
    .default_service(web::to(routes::not_found));
}
