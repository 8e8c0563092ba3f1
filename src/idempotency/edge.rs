//! `Idempotency-Key` at the edge: the header, and [`once`], which runs a
//! handler's work at most once per key and answers repeats from the store.

use std::future::Future;

use actix_web::body::{self, BoxBody};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::{Ready, ready};

use super::store::{Begun, IdempotencyStore, ReplayError};
use crate::db::DbError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
pub const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 printable ASCII
/// characters; anything else is an [`InvalidKey`].
pub struct IdempotencyKey(Option<String>);

/// An `Idempotency-Key` header that is no key (the HTTP layer answers it with a
/// 400 `invalid_idempotency_key`).
#[derive(Debug, thiserror::Error)]
#[error("Invalid Idempotency-Key: {0}")]
pub struct InvalidKey(pub &'static str);

/// What keeps a request with a key from running or being answered.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The first request with this key is still running.
    #[error("A request with this Idempotency-Key is still being processed; retry shortly")]
    InUse,
    #[error(transparent)]
    Database(#[from] DbError),
    /// The response could not be kept: its body could not be read, or its task died.
    #[error("the response to a request with an Idempotency-Key was lost")]
    Lost,
}

impl FromRequest for IdempotencyKey {
    type Error = InvalidKey;
    type Future = Ready<Result<Self, InvalidKey>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut values = request.headers().get_all(IDEMPOTENCY_KEY);
        let key = match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => parse(value).map(Some),
            (Some(_), Some(_)) => Err(InvalidKey("send one Idempotency-Key header, not several")),
        };
        ready(key.map(IdempotencyKey))
    }
}

fn parse(value: &HeaderValue) -> Result<String, InvalidKey> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN {
        return Err(InvalidKey("it must be 1 to 255 characters long"));
    }
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(InvalidKey("it must be printable ASCII"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The identity a request is about, as its key's scope: the email as the flows
/// will see it (trimmed, lower-cased) and the user_type.
pub fn identity_scope(email: &str, user_type: &str) -> String {
    format!(
        "{}\0{}",
        user_type.trim(),
        email.trim().to_ascii_lowercase()
    )
}

/// Runs `work` for a request on `route` about `identity` whose canonical body is
/// `body`, once per idempotency key.
///
/// Without a key, `work` simply runs. With one, the first request runs `work` to
/// its end even if the client goes away meanwhile (its retry must find the
/// answer), and the answer is stored; a repeat with the same body gets it back
/// with `Idempotent-Replayed: true`.
pub async fn once<F, Fut, E>(
    store: web::Data<IdempotencyStore>,
    route: &'static str,
    identity: &str,
    key: IdempotencyKey,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, E>
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<HttpResponse, E>> + 'static,
    E: ResponseError + From<IdempotencyError> + 'static,
{
    let Some(key) = key.0 else {
        return work().await;
    };
    let ticket = match store.begin(route, identity, &key, body).await {
        Ok(Begun::Run(ticket)) => ticket,
        Ok(Begun::Replay { status, body }) => return Ok(replay(status, body)),
        Ok(Begun::InFlight) => return Err(IdempotencyError::InUse.into()),
        // Another body under this key: the stored answer is void, and this
        // request is answered as if it had come without a key.
        Ok(Begun::Mismatch) => return work().await,
        Err(ReplayError::Database(error)) => return Err(IdempotencyError::Database(error).into()),
        // Stored under a key the service no longer holds: as good as expired.
        Err(error @ ReplayError::Unreadable) => {
            log::warn!("{error}: the request runs as if it had no Idempotency-Key");
            return work().await;
        }
    };
    let task = actix_web::rt::spawn(async move {
        let response = work().await.unwrap_or_else(|error| error.error_response());
        let status = response.status();
        let (response, body) = response.into_parts();
        let bytes = match body::to_bytes(body).await {
            Ok(bytes) => bytes,
            Err(error) => {
                log::error!("could not read a response body to store it: {error}");
                let _ = store.finish(ticket, None).await;
                return E::from(IdempotencyError::Lost).error_response();
            }
        };
        let keep = !status.is_server_error() && status != StatusCode::TOO_MANY_REQUESTS;
        let stored = keep.then_some((status.as_u16(), &bytes[..]));
        if let Err(error) = store.finish(ticket, stored).await {
            log::warn!(
                "could not record the response for an Idempotency-Key (it stays in use until \
                 its lock lapses): {}",
                crate::telemetry::error_chain(&error)
            );
        }
        response.set_body(BoxBody::new(bytes))
    });
    task.await.map_err(|_| IdempotencyError::Lost.into())
}

fn replay(status: u16, body: Vec<u8>) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((IDEMPOTENT_REPLAYED, "true"))
        .body(body)
}
