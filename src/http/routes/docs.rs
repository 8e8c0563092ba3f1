//! `GET /openapi.json`, the contract; the interactive docs at `/docs/` are
//! Swagger UI, compiled into the binary.

use actix_web::HttpResponse;

use crate::http::openapi;

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document.", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}
