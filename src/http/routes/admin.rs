//! The admin API, for support: on the operations listener only (beside
//! `/metrics`, never on the API's port), and only when `ADMIN_TOKEN` is set.
//!
//! - `GET /admin/v1/identities/{user_type}/{email}`: what `signup-otp inspect`
//!   prints, as JSON;
//! - `POST /admin/v1/identities/{user_type}/{email}/unlock`: clear the lockouts;
//! - `POST /admin/v1/identities/{user_type}/{email}/expire`: expire the live code.
//!
//! Every call needs `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
//! time; anything else is a 401. Every call is logged with the caller's address.

use std::fmt;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{identity, method_not_allowed};
use crate::flows::{Operator, SignupService};
use crate::http::{ApiError, ErrorCode};

/// `ADMIN_TOKEN`: the bearer token of the admin API. Not `Debug`-printable.
#[derive(Clone)]
pub struct AdminToken(SecretString);

impl AdminToken {
    pub fn new(token: &str) -> Self {
        Self(SecretString::from(token.to_owned()))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Checks bearer tokens against `ADMIN_TOKEN` in constant time: both are MACed
/// under a key of this process's own and the MACs compared by `verify_slice`,
/// so neither the token's length nor its first wrong byte shows in the timing.
pub struct AdminAuth {
    key: [u8; 32],
    expected: Vec<u8>,
}

impl AdminAuth {
    pub fn new(token: &AdminToken) -> Self {
        let mut key = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut key)
            .expect("the operating system's random number generator failed");
        let expected = mac(&key, token.0.expose_secret())
            .finalize()
            .into_bytes()
            .to_vec();
        Self { key, expected }
    }

    fn admits(&self, presented: &str) -> bool {
        mac(&self.key, presented)
            .verify_slice(&self.expected)
            .is_ok()
    }

    /// The caller's address, if the request carries the token; `None` otherwise
    /// (logged, without the path: it holds an address).
    fn check(&self, request: &HttpRequest) -> Option<String> {
        let caller = request
            .peer_addr()
            .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let reason = match presented {
            Some(token) if self.admits(token.trim()) => return Some(caller),
            Some(_) => "a wrong token",
            None => "no bearer token",
        };
        log::warn!(
            target: crate::events::TARGET,
            "ADMIN_CALL_REFUSED caller={caller} method={} reason=\"{reason}\"",
            request.method()
        );
        None
    }
}

fn mac(key: &[u8; 32], token: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(token.as_bytes());
    mac
}

#[derive(Clone, Copy)]
enum Action {
    Inspect,
    Unlock,
    Expire,
}

async fn act(
    request: HttpRequest,
    auth: web::Data<AdminAuth>,
    service: web::Data<SignupService>,
    path: web::Path<(String, String)>,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let Some(caller) = auth.check(&request) else {
        let mut response = ApiError::new(
            ErrorCode::Unauthorized,
            "this needs Authorization: Bearer with the ADMIN_TOKEN",
        )
        .error_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(response);
    };
    let (user_type, email) = path.into_inner();
    let (email, user_type) = identity(&email, &user_type)?;
    let operator = Operator::Admin(caller);
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(match action {
        Action::Inspect => response.json(service.inspect(email, user_type, operator).await?),
        Action::Unlock => response.json(service.unlock(email, user_type, operator).await?),
        Action::Expire => response.json(service.expire(email, user_type, operator).await?),
    })
}

/// Mounts the admin API (call only when `ADMIN_TOKEN` is set).
pub fn configure(cfg: &mut web::ServiceConfig) {
    const IDENTITY: &str = "/admin/v1/identities/{user_type}/{email}";
    cfg.service(
        web::resource(IDENTITY)
            .route(web::get().to(|request, auth, service, path| {
                act(request, auth, service, path, Action::Inspect)
            }))
            .default_service(web::to(|| method_not_allowed(Method::GET))),
    )
    .service(
        web::resource(format!("{IDENTITY}/unlock"))
            .route(web::post().to(|request, auth, service, path| {
                act(request, auth, service, path, Action::Unlock)
            }))
            .default_service(web::to(|| method_not_allowed(Method::POST))),
    )
    .service(
        web::resource(format!("{IDENTITY}/expire"))
            .route(web::post().to(|request, auth, service, path| {
                act(request, auth, service, path, Action::Expire)
            }))
            .default_service(web::to(|| method_not_allowed(Method::POST))),
    );
}
