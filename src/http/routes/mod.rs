pub mod health;
pub mod signup;

use actix_web::HttpResponse;

use super::ApiError;

/// Any path the service does not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// A served path with a method it does not take.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed())
}
