//! Deleting what has expired: codes past their expiry (`cleanup_expired_signup_otps`
//! and its `otps` twin), send limits that no longer hold anything back, expired
//! signup tokens, pending registrations, idempotency keys, import records, and
//! delivery records older than `DELIVERY_RECORD_RETENTION_SECS`. Run by
//! `signup-otp cleanup` and every `CLEANUP_INTERVAL_SECS` inside `serve`.

use std::time::Duration;

use super::throttle::{DAY, WINDOW};
use super::{FlowError, Inner, SignupService};
use crate::db::models::{
    Otp, OutboxMessage, PendingRegistration, RedisImport, SendLimit, SignupOtp, SignupToken,
    VerifyLockout,
};
use crate::db::{self, DbError};
use crate::idempotency::persistence::IdempotencyRecord;

/// How many rows one cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub signup_otps: usize,
    pub otps: usize,
    pub send_limits: usize,
    pub lockouts: usize,
    pub idempotency_keys: usize,
    /// Signup tokens, pending registrations and import records past their expiry.
    pub signup_tokens: usize,
    pub pending_registrations: usize,
    pub redis_imports: usize,
    /// Records of emails finished longer ago than the retention.
    pub delivery_records: usize,
}

impl CleanupReport {
    pub fn codes(&self) -> usize {
        self.signup_otps + self.otps
    }
}

pub(super) async fn cleanup(inner: &Inner) -> Result<CleanupReport, FlowError> {
    let now = inner.clock.now();
    let window_before = now - WINDOW;
    let day_before = now - DAY;
    // Wrong codes are forgotten a day after the last one, unless a lock still runs.
    let forget_before = now - DAY;
    let cooldown_before = now - inner.policy.resend_cooldown;
    let records_before = now - inner.policy.delivery_record_retention;
    let report = db::run(&inner.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            Ok::<_, DbError>(CleanupReport {
                signup_otps: SignupOtp::delete_expired(conn, now)?,
                otps: Otp::delete_expired(conn, now)?,
                send_limits: SendLimit::delete_stale(
                    conn,
                    window_before,
                    day_before,
                    cooldown_before,
                )?,
                lockouts: VerifyLockout::delete_stale(conn, forget_before, now)?,
                idempotency_keys: IdempotencyRecord::delete_expired(conn, now)?,
                signup_tokens: SignupToken::delete_expired(conn, now)?,
                pending_registrations: PendingRegistration::delete_expired(conn, now)?,
                redis_imports: RedisImport::delete_expired(conn, now)?,
                delivery_records: OutboxMessage::delete_finished_before(conn, records_before)?,
            })
        })
    })
    .await?;
    if report != CleanupReport::default() {
        let details = format!(
            "signup_otps={} otps={} send_limits={} lockouts={} idempotency_keys={} \
             signup_tokens={} pending_registrations={} redis_imports={} delivery_records={}",
            report.signup_otps,
            report.otps,
            report.send_limits,
            report.lockouts,
            report.idempotency_keys,
            report.signup_tokens,
            report.pending_registrations,
            report.redis_imports,
            report.delivery_records,
        );
        inner
            .events
            .record_general(log::Level::Info, "SIGNUP_OTPS_CLEANED_UP", &[], &details);
        let metrics = inner.events.metrics();
        for (table, deleted) in [
            ("signup_otps", report.signup_otps),
            ("otps", report.otps),
            ("otp_send_limits", report.send_limits),
            ("verify_lockouts", report.lockouts),
            ("idempotency_keys", report.idempotency_keys),
            ("signup_tokens", report.signup_tokens),
            ("pending_registrations", report.pending_registrations),
            ("redis_imports", report.redis_imports),
            ("email_outbox", report.delivery_records),
        ] {
            metrics.add(
                "signup_otp_cleaned_up_total",
                &[("table", table)],
                deleted as u64,
            );
        }
    }
    Ok(report)
}

/// Runs a cleanup every `interval` for as long as the service runs. A failed run
/// (say, the database is down) is logged and the next one tries again.
pub async fn run_periodically(service: SignupService, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = service.cleanup().await {
            log::warn!(
                "expired-code cleanup failed, retrying in {}s: {}",
                interval.as_secs(),
                crate::telemetry::error_chain(&error)
            );
        }
    }
}
