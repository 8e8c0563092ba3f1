//! The audit events the flows and the courier record: one log line each (the
//! event name first, then `key=value` pairs; the address masked; never a code or
//! a secret) and one count in `signup_otp_events_total`.
//!
//! `labels` are low-cardinality (a reason, a flow, a kind) and go to both the
//! log and the metric; `details` (counts, delays, errors) go to the log only.

use crate::domain::{EmailAddress, UserType};
use crate::metrics::Metrics;

/// Where events are logged, so operators can route or filter them.
pub const TARGET: &str = "signup_otp::events";

#[derive(Clone)]
pub struct Events {
    metrics: Metrics,
}

impl Events {
    pub fn new(metrics: Metrics) -> Self {
        // Counters the alert rules take the increase of exist from the start at
        // zero: a counter born at 1 has no increase, and its first event would
        // go unseen.
        for event in [
            "SIGNUP_OTP_IDENTITY_LOCKED",
            "SIGNUP_OTP_LOCKOUTS_RECURRING",
        ] {
            for user_type in [UserType::Live, UserType::Demo] {
                metrics.add(
                    "signup_otp_events_total",
                    &[("event", event), ("user_type", user_type.as_str())],
                    0,
                );
            }
        }
        Self { metrics }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// An event about one identity, at info level.
    pub fn record(
        &self,
        event: &'static str,
        user_type: UserType,
        email: &EmailAddress,
        labels: &[(&'static str, &str)],
        details: &str,
    ) {
        self.emit(
            log::Level::Info,
            event,
            Some((user_type, email)),
            labels,
            details,
        );
    }

    /// An event about one identity that an operator should notice.
    pub fn warn(
        &self,
        event: &'static str,
        user_type: UserType,
        email: &EmailAddress,
        labels: &[(&'static str, &str)],
        details: &str,
    ) {
        self.emit(
            log::Level::Warn,
            event,
            Some((user_type, email)),
            labels,
            details,
        );
    }

    /// An event about no identity in particular (a cleanup, an unreadable message).
    pub fn record_general(
        &self,
        level: log::Level,
        event: &'static str,
        labels: &[(&'static str, &str)],
        details: &str,
    ) {
        self.emit(level, event, None, labels, details);
    }

    fn emit(
        &self,
        level: log::Level,
        event: &'static str,
        identity: Option<(UserType, &EmailAddress)>,
        labels: &[(&'static str, &str)],
        details: &str,
    ) {
        let mut line = String::from(event);
        let mut metric_labels: Vec<(&'static str, &str)> = vec![("event", event)];
        let masked = identity.map(|(_, email)| email.masked());
        if let (Some((user_type, _)), Some(masked)) = (identity, &masked) {
            line.push_str(&format!(" user_type={user_type} email={masked}"));
            metric_labels.push(("user_type", user_type.as_str()));
        }
        for (key, value) in labels {
            line.push_str(&format!(" {key}={value}"));
            metric_labels.push((key, value));
        }
        if !details.is_empty() {
            line.push(' ');
            line.push_str(details);
        }
        let user_type = identity.map_or("", |(user_type, _)| user_type.as_str());
        let email = masked.as_deref().unwrap_or("");
        log::log!(target: TARGET, level, event = event, user_type = user_type, email = email; "{line}");
        self.metrics
            .increment("signup_otp_events_total", &metric_labels);
    }
}
