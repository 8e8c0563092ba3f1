//! `GET /try`: a signup page shipped inside the binary (HTML, CSS and a little
//! JavaScript; nothing fetched from elsewhere) that runs the whole journey against
//! this service. `TRY_PAGE` turns it on or off.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("../../../static/try/index.html");
const SCRIPT: &str = include_str!("../../../static/try/try.js");
const STYLE: &str = include_str!("../../../static/try/try.css");

/// Only this service's own files, and calls to this service.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; form-action 'none'; \
                      frame-ancestors 'none'; base-uri 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/try",
        web::get().to(|| serve(INDEX, "text/html; charset=utf-8")),
    )
    .route(
        "/try/try.js",
        web::get().to(|| serve(SCRIPT, "text/javascript; charset=utf-8")),
    )
    .route(
        "/try/try.css",
        web::get().to(|| serve(STYLE, "text/css; charset=utf-8")),
    );
}

async fn serve(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((HeaderName::from_static("content-security-policy"), POLICY))
        .insert_header((HeaderName::from_static("x-content-type-options"), "nosniff"))
        .body(body)
}
