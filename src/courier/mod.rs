//! Email delivery out of the request path.
//!
//! The flows [`Outbox::queue`] each email in the same transaction as its code,
//! sealed, and wake the [`Courier`] once that transaction commits. The courier,
//! a task inside `serve`, claims due messages, sends them through the
//! [`Mailer`](crate::mail::Mailer) and records what became of each: delivered
//! (with the relay's reply), rejected (a permanent refusal, not retried),
//! retrying (exponential backoff with jitter) or abandoned (its code expired
//! first). The rows stay as delivery records, without their sealed payload,
//! until `DELIVERY_RECORD_RETENTION_SECS` has passed. Several instances on one PostgreSQL share the work: each message is
//! claimed by one of them (`FOR UPDATE SKIP LOCKED`) for a lease.
//!
//! Delivery is at least once: an instance that dies between the relay's "250"
//! and the record leaves a message that another sends again after the lease.

mod delivery;
mod outbox;

pub use delivery::{Courier, RetryPolicy};
pub use outbox::{Outbox, backlog};
