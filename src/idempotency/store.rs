//! The store: a route name, the identity the request is about, the client's
//! key, a fingerprint of the body and an opaque response (status and bytes).
//! Bodies are fingerprinted with a keyed HMAC, since they hold passwords and
//! codes; stored responses are sealed, since a verify response holds a signup
//! token. A key's scope is a hash of the route and the identity.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::db::{self, DbError, DbPool};
use crate::keys::{Keyring, Purpose, Sealer};

use super::persistence::{Claim, IdempotencyRecord};

/// How long a running request holds its key. Past it, the request counts as lost
/// (its instance died) and a retry runs anew.
pub const LOCK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Database(#[from] DbError),
    /// A stored response that does not open: `OTP_SECRET` changed, or the row was altered.
    #[error("a stored idempotent response cannot be opened")]
    Unreadable,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begun {
    /// Run it, then call [`IdempotencyStore::finish`] with its response.
    Run(Ticket),
    /// Answer with what the first request got.
    Replay { status: u16, body: Vec<u8> },
    /// The same key is running.
    InFlight,
    /// The key was used with another body: run without a key (nothing is stored).
    Mismatch,
}

/// A claimed key, to be answered or given back.
#[derive(Debug)]
pub struct Ticket {
    route: &'static str,
    scope: [u8; 32],
    key: String,
    claimed_at: NaiveDateTime,
}

#[derive(Clone)]
pub struct IdempotencyStore {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    sealer: Sealer,
    /// One per key in use, the current one first.
    fingerprint_keys: Vec<Hmac<Sha256>>,
}

impl IdempotencyStore {
    pub fn new(pool: DbPool, clock: Arc<dyn Clock>, keyring: &Keyring, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(StoreInner {
                pool,
                clock,
                ttl,
                sealer: Sealer::new(keyring, Purpose::IdempotencyResponse),
                fingerprint_keys: keyring
                    .readers()
                    .map(|source| source.key(Purpose::IdempotencyFingerprint).hmac())
                    .collect(),
            }),
        }
    }

    /// How long responses are kept.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Claims `key` on `route` for a request about `identity` whose canonical
    /// body is `body`.
    pub async fn begin(
        &self,
        route: &'static str,
        identity: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Begun, ReplayError> {
        let now = self.inner.clock.now();
        let scope: [u8; 32] = Sha256::new()
            .chain_update(route.as_bytes())
            .chain_update([0])
            .chain_update(identity.as_bytes())
            .finalize()
            .into();
        let same_body = self.fingerprints(route, body);
        let record = IdempotencyRecord::running(
            route,
            &scope,
            key,
            &same_body[0],
            now,
            now + LOCK,
            now + self.inner.ttl,
        );
        let claim = db::run(&self.inner.pool, move |conn| {
            record.claim(conn, &same_body).map_err(DbError::from)
        })
        .await?;
        Ok(match claim {
            Claim::Run => Begun::Run(Ticket {
                route,
                scope,
                key: key.to_owned(),
                claimed_at: now,
            }),
            Claim::InFlight => Begun::InFlight,
            Claim::Mismatch => Begun::Mismatch,
            Claim::Replay { status, response } => {
                let body = self
                    .inner
                    .sealer
                    .open(&associated(route, &scope, key), &response)
                    .map_err(|_| ReplayError::Unreadable)?;
                let status = u16::try_from(status).map_err(|_| ReplayError::Unreadable)?;
                Begun::Replay { status, body }
            }
        })
    }

    /// Records the response a claimed request got, for its repeats; or, when
    /// `response` is `None` (a failure worth retrying), gives the key back.
    pub async fn finish(
        &self,
        ticket: Ticket,
        response: Option<(u16, &[u8])>,
    ) -> Result<(), DbError> {
        let sealed = response.map(|(status, body)| {
            (
                i32::from(status),
                self.inner
                    .sealer
                    .seal(&associated(ticket.route, &ticket.scope, &ticket.key), body),
            )
        });
        db::run(&self.inner.pool, move |conn| {
            match sealed {
                Some((status, sealed)) => IdempotencyRecord::complete(
                    conn,
                    ticket.route,
                    &ticket.scope,
                    &ticket.key,
                    ticket.claimed_at,
                    status,
                    &sealed,
                ),
                None => IdempotencyRecord::release(
                    conn,
                    ticket.route,
                    &ticket.scope,
                    &ticket.key,
                    ticket.claimed_at,
                ),
            }
            .map(drop)
            .map_err(DbError::from)
        })
        .await
    }

    /// The body's fingerprint under each key in use, the current one first.
    fn fingerprints(&self, route: &str, body: &[u8]) -> Vec<Vec<u8>> {
        self.inner
            .fingerprint_keys
            .iter()
            .map(|key| {
                let mut mac = key.clone();
                mac.update(route.as_bytes());
                mac.update(&[0]);
                mac.update(body);
                mac.finalize().into_bytes().to_vec()
            })
            .collect()
    }
}

fn associated(route: &str, scope: &[u8], key: &str) -> Vec<u8> {
    let mut associated = format!("idempotency\0{route}\0").into_bytes();
    associated.extend_from_slice(scope);
    associated.push(0);
    associated.extend_from_slice(key.as_bytes());
    associated
}
