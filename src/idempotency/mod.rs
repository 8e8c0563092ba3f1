//! Idempotent retries (the IETF `Idempotency-Key` draft, as Stripe behaves): a
//! response cache for HTTP, with its storage beside it. The first request with a
//! key runs and its response is kept; a repeat with the same key and body gets
//! that response again without running; the same key while the first still
//! runs is refused.
//!
//! - [`edge`]: the `Idempotency-Key` header and [`once`], which wraps a
//!   handler's work;
//! - [`store`]: claims, replays and records answers, sealing them and
//!   fingerprinting bodies under keys derived from `OTP_SECRET`;
//! - [`persistence`]: the `idempotency_keys` table.
//!
//! What is kept: every answer but a 5xx or a 429 (those ask the client to retry,
//! and the retry should run). So a replayed verify returns the same signup token,
//! a replayed wrong code spends no second attempt, and a replayed send sends no
//! second email. State lives in the database, so every instance on one
//! PostgreSQL sees the same keys.
//!
//! A key answers only requests about the same identity (email and user_type),
//! and only a request identical to the first is replayed. Another body under the
//! same key voids the stored answer and runs as a request without a key:
//! someone who learnt a client's key can neither test codes against its stored
//! answer for free nor ever be served it, since any guess but the one right code
//! voids it, and a request that runs spends its attempt like any other.
//!
//! Nothing here knows the service's error bodies: failures are an
//! [`IdempotencyError`], which the HTTP layer turns into its answer.

pub mod edge;
pub mod persistence;
pub mod store;

pub use edge::{
    IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, IdempotencyError, IdempotencyKey, identity_scope, once,
};
pub use store::{IdempotencyStore, LOCK};
