//! The delivery task: claims due messages, sends them, records each outcome
//! (delivered with the relay's reply, rejected for good, abandoned once its
//! code has expired), and retries other failures with backoff.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use rand::RngExt;

use super::Outbox;
use crate::clock::Clock;
use crate::db::models::{DeliveryStatus, OutboxMessage};
use crate::db::{self, DbConnection, DbError, DbPool};
use crate::events::Events;
use crate::mail::MailConfig;
use crate::mail::Mailer;

/// How often a courier looks for due messages when nothing wakes it: the delay
/// after which another instance picks up messages queued by one that stopped.
const POLL: Duration = Duration::from_secs(1);

/// How the courier retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits about this long; each further one twice as long.
    pub initial: Duration,
    /// No wait is longer than this.
    pub max: Duration,
    /// How long a claimed message is reserved for the sender that claimed it.
    pub lease: Duration,
}

impl RetryPolicy {
    pub fn from_config(mail: &MailConfig) -> Self {
        Self {
            initial: mail.retry_initial,
            max: mail.retry_max,
            lease: (mail.transport_timeout() * 2 + Duration::from_secs(10))
                .max(Duration::from_secs(30)),
        }
    }

    /// The wait before attempt `attempts + 1`: exponential, capped, with "equal
    /// jitter" (half fixed, half random) so that retries after an outage spread out.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
            .min(self.max);
        exponential.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// The delivery task.
pub struct Courier {
    pool: DbPool,
    mailer: Mailer,
    clock: Arc<dyn Clock>,
    outbox: Outbox,
    retry: RetryPolicy,
    events: Events,
    /// Messages the transport accepted whose delivery could not be recorded yet
    /// (the database was away), with when and the relay's reply: never sent again
    /// by this instance.
    accepted_not_recorded: Mutex<HashMap<i64, (NaiveDateTime, String)>>,
    /// Messages claimed and delivered at once (`MAIL_MAX_IN_FLIGHT`).
    in_flight: i64,
}

impl Courier {
    pub fn new(
        pool: DbPool,
        mailer: Mailer,
        clock: Arc<dyn Clock>,
        outbox: Outbox,
        retry: RetryPolicy,
        events: Events,
        in_flight: u32,
    ) -> Self {
        Self {
            pool,
            mailer,
            clock,
            outbox,
            retry,
            events,
            accepted_not_recorded: Mutex::new(HashMap::new()),
            in_flight: i64::from(in_flight.max(1)),
        }
    }

    /// Delivers until `stop` turns true: at once when woken, otherwise when the
    /// next message falls due, and at least every second. A round in progress is
    /// finished before stopping, so no claimed message is left half-sent.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            let wake = self.outbox.wake.clone();
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match self.deliver_due().await {
                Ok(pause) => pause,
                Err(error) => {
                    log::warn!(
                        "the courier cannot reach the database, retrying: {}",
                        crate::telemetry::error_chain(&error)
                    );
                    POLL
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round: claim what is due, deliver it; return how long to rest.
    async fn deliver_due(&self) -> Result<Duration, DbError> {
        self.record_late().await?;
        let now = self.clock.now();
        let lease_until = now + self.retry.lease;
        let batch = self.in_flight;
        let claimed = db::run(&self.pool, move |conn| {
            OutboxMessage::claim_due(conn, now, lease_until, batch).map_err(DbError::from)
        })
        .await?;
        let full = claimed.len() as i64 == batch;
        let delivered: Vec<(i64, String)> =
            join_all(claimed.into_iter().map(|message| self.deliver(message)))
                .await
                .into_iter()
                .flatten()
                .collect();
        self.record_delivered(delivered).await;
        if full {
            return Ok(Duration::ZERO);
        }
        let next_due = db::run(&self.pool, |conn| {
            OutboxMessage::next_due(conn).map_err(DbError::from)
        })
        .await?;
        Ok(match next_due {
            Some(at) => (at - self.clock.now())
                .to_std()
                .unwrap_or_default()
                .min(POLL),
            None => POLL,
        })
    }

    async fn deliver(&self, message: OutboxMessage) -> Option<(i64, String)> {
        let id = message.id;
        if self
            .accepted_not_recorded
            .lock()
            .expect("not poisoned")
            .contains_key(&id)
        {
            return None;
        }
        let now = self.clock.now();
        let opened = self.outbox.open(&message);
        let (email, user_type) = match opened {
            Ok(opened) if message.expires_at > now => opened,
            Ok((email, user_type)) => {
                self.events.warn(
                    "OTP_EMAIL_ABANDONED",
                    user_type,
                    &email.to,
                    &[("reason", "expired"), ("kind", &message.kind)],
                    &format!("attempts={}", message.attempts),
                );
                let reason = "the code expired before the email could be delivered";
                self.finish(id, DeliveryStatus::Abandoned, message.attempts, reason)
                    .await;
                return None;
            }
            Err(_) => {
                self.events.record_general(
                    log::Level::Warn,
                    "OTP_EMAIL_ABANDONED",
                    &[("reason", "unreadable"), ("kind", &message.kind)],
                    &format!("id={id} (was OTP_SECRET changed without OTP_SECRET_PREVIOUS?)"),
                );
                let reason = "sealed under a key this service does not hold";
                self.finish(id, DeliveryStatus::Abandoned, message.attempts, reason)
                    .await;
                return None;
            }
        };
        let to = email.to.clone();
        let attempts = message.attempts.saturating_add(1);
        match self.mailer.send(email).await {
            Ok(accepted) => {
                self.events.record(
                    "OTP_EMAIL_SENT",
                    user_type,
                    &to,
                    &[("kind", &message.kind)],
                    &format!("attempts={attempts}"),
                );
                Some((id, accepted.reply))
            }
            Err(error) => {
                if let Some(reply) = error.rejection() {
                    // The reply may name the address: the log gets its code only.
                    let code: String = reply.chars().take_while(char::is_ascii_digit).collect();
                    self.events.warn(
                        "OTP_EMAIL_REJECTED",
                        user_type,
                        &to,
                        &[("kind", &message.kind)],
                        &format!("attempts={attempts} reply_code={code}"),
                    );
                    self.finish(id, DeliveryStatus::Rejected, attempts, &reply)
                        .await;
                    return None;
                }
                let wait = self
                    .retry
                    .backoff(u32::try_from(attempts).unwrap_or(u32::MAX));
                let next = now + wait;
                let reason = crate::telemetry::error_chain(&error);
                // A relay's refusal often names the address: the log masks it.
                let logged = mask_address(&reason, to.as_str(), &to.masked());
                self.events.warn(
                    "OTP_EMAIL_RETRY",
                    user_type,
                    &to,
                    &[("kind", &message.kind)],
                    &format!(
                        "attempts={attempts} retry_in_ms={} error=\"{logged}\"",
                        wait.as_millis()
                    ),
                );
                // If this fails, the lease runs out and the message is retried then.
                self.write("could not reschedule an email", move |conn| {
                    OutboxMessage::reschedule(conn, id, attempts, next, &reason)
                })
                .await;
                None
            }
        }
    }

    /// Records a delivery; returns whether it did.
    /// Records a batch's accepted messages in one statement; those that cannot be
    /// recorded now are kept, not sent again, and recorded on the next round.
    async fn record_delivered(&self, delivered: Vec<(i64, String)>) {
        if delivered.is_empty() {
            return;
        }
        let at = self.clock.now();
        let batch = delivered.clone();
        let recorded = db::run(&self.pool, move |conn| {
            OutboxMessage::mark_delivered_all(conn, &batch, at).map_err(DbError::from)
        })
        .await;
        if let Err(error) = recorded {
            log::warn!(
                "emails were delivered but could not be recorded yet, retrying: {}",
                crate::telemetry::error_chain(&error)
            );
            let mut waiting = self.accepted_not_recorded.lock().expect("not poisoned");
            for (id, reply) in delivered {
                waiting.insert(id, (at, reply));
            }
        }
    }

    async fn finish(&self, id: i64, status: DeliveryStatus, attempts: i32, reason: &str) {
        let at = self.clock.now();
        let reason = reason.to_owned();
        self.write("could not record an undelivered email", move |conn| {
            OutboxMessage::finish_undelivered(conn, id, status, at, attempts, &reason)
        })
        .await;
    }

    /// One write to a message's row, in its own transaction; logs `failed` with
    /// the cause if it could not be made. Returns whether it was.
    async fn write<F>(&self, failed: &'static str, work: F) -> bool
    where
        F: FnOnce(&mut DbConnection) -> diesel::QueryResult<usize> + Send + 'static,
    {
        let result = db::run(&self.pool, move |conn| {
            db::write_transaction(conn, work).map_err(DbError::from)
        })
        .await;
        if let Err(error) = &result {
            log::warn!("{failed}: {}", crate::telemetry::error_chain(error));
        }
        result.is_ok()
    }

    /// Records the deliveries that could not be recorded when they happened.
    async fn record_late(&self) -> Result<(), DbError> {
        let pending: Vec<(i64, (NaiveDateTime, String))> = self
            .accepted_not_recorded
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(id, accepted)| (*id, accepted.clone()))
            .collect();
        for (id, (at, reply)) in pending {
            db::run(&self.pool, move |conn| {
                OutboxMessage::mark_delivered(conn, id, at, &reply).map_err(DbError::from)
            })
            .await?;
            self.accepted_not_recorded
                .lock()
                .expect("not poisoned")
                .remove(&id);
        }
        Ok(())
    }
}

/// `text` with every occurrence of `address` (in any letter case) replaced by
/// `masked`.
fn mask_address(text: &str, address: &str, masked: &str) -> String {
    let lowered = text.to_ascii_lowercase();
    let needle = address.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (start, _) in lowered.match_indices(&needle) {
        if start < rest {
            continue;
        }
        out.push_str(&text[rest..start]);
        out.push_str(masked);
        rest = start + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_text_has_the_address_masked_in_any_case() {
        let text = "450 4.2.0 <Alice@Example.com>: greylisted; alice@example.com retry";
        assert_eq!(
            mask_address(text, "alice@example.com", "a***@example.com"),
            "450 4.2.0 <a***@example.com>: greylisted; a***@example.com retry"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let retry = RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            lease: Duration::from_secs(30),
        };
        for (attempts, full) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)] {
            let wait = retry.backoff(attempts);
            let full = Duration::from_secs(full);
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempts}: {wait:?}"
            );
        }
    }
}
