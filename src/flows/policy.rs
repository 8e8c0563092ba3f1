//! The rules every code lives by, as configured.

use std::time::Duration;

/// The rules every code lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    pub length: usize,
    pub ttl: Duration,
    pub max_attempts: u32,
    /// Between two sends to one mailbox, whoever asks.
    pub resend_cooldown: Duration,
    /// Sends one requester may ask for one mailbox per hour, and per day.
    pub max_sends_per_hour: u32,
    pub max_sends_per_day: u32,
    /// Sends to one mailbox per day across every requester.
    pub mailbox_sends_per_day: u32,
    /// Consecutive wrong codes (across re-sent codes) that lock an identity's
    /// verification, and for how long.
    pub lockout_threshold: u32,
    pub lockout: Duration,
    /// How long a signup token from verify-otp stays good for register.
    pub signup_token_ttl: Duration,
    /// Refuse a verify that carries neither the send's `verification_id` nor a
    /// `registration_id`: then only the client that asked for a code can guess
    /// at it.
    pub require_verification_id: bool,
    /// How long the record of an email (its outcome, never its code) is kept
    /// after its last attempt.
    pub delivery_record_retention: Duration,
}
