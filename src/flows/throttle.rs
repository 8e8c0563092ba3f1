//! The send limits. Two records count each send:
//!
//! - the **mailbox**'s (canonical address and user_type, whoever asks): the cooldown
//!   between two sends and a daily ceiling, so that one inbox cannot be flooded
//!   from many networks and the number of codes (so of guesses) a day is bounded;
//! - the **requester**'s (that mailbox, asked from one client network): an hourly
//!   and a daily cap, so that a stranger who uses up their own caps leaves the
//!   owner, asking from another network, able to get a code.
//!
//! A pure decision over the stored state, so the rules are tested without a database.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::OtpPolicy;

/// The length of the window `OTP_MAX_SENDS_PER_HOUR` counts in.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// The length of the window the daily caps count in.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` for the mailbox-wide limits is rounded up to these steps: the
/// exact wait would tell a prober when someone last asked for a code.
const COOLDOWN_STEP: Duration = Duration::from_secs(30);
const CEILING_STEP: Duration = Duration::from_secs(15 * 60);

/// The counting state of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub last_sent_at: NaiveDateTime,
    pub window_started_at: NaiveDateTime,
    pub sends_in_window: u32,
    pub day_started_at: Option<NaiveDateTime>,
    pub sends_in_day: u32,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// Too soon after the mailbox's previous send.
    Cooldown,
    /// The requester's hourly cap for this mailbox is reached.
    HourlyCap,
    /// The requester's daily cap for this mailbox is reached.
    DailyCap,
    /// The mailbox's daily ceiling, across every requester, is reached.
    MailboxCeiling,
}

impl ThrottleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::Cooldown => "cooldown",
            ThrottleReason::HourlyCap => "hourly_cap",
            ThrottleReason::DailyCap => "daily_cap",
            ThrottleReason::MailboxCeiling => "mailbox_ceiling",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            ThrottleReason::Cooldown,
            ThrottleReason::HourlyCap,
            ThrottleReason::DailyCap,
            ThrottleReason::MailboxCeiling,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send, and store these states.
    Allow {
        mailbox: SendWindow,
        requester: SendWindow,
    },
    /// Do not send; the caller may try again after `retry_after`.
    Deny {
        reason: ThrottleReason,
        retry_after: Duration,
    },
}

/// Decides whether a send may go out `now`, given the mailbox's record and the
/// requester's. When several limits refuse, the answer is the one that lasts longest.
pub fn decide(
    mailbox: Option<&SendWindow>,
    requester: Option<&SendWindow>,
    now: NaiveDateTime,
    policy: &OtpPolicy,
) -> Decision {
    let mut refusals: Vec<(ThrottleReason, NaiveDateTime, Duration)> = Vec::new();
    if let Some(mailbox) = mailbox {
        let cooldown_ends = mailbox.last_sent_at + policy.resend_cooldown;
        if now < cooldown_ends {
            refusals.push((ThrottleReason::Cooldown, cooldown_ends, COOLDOWN_STEP));
        }
        if let Some(day_ends) = open_day(mailbox, now)
            && mailbox.sends_in_day >= policy.mailbox_sends_per_day
        {
            refusals.push((ThrottleReason::MailboxCeiling, day_ends, CEILING_STEP));
        }
    }
    if let Some(requester) = requester {
        let window_ends = requester.window_started_at + WINDOW;
        if now < window_ends && requester.sends_in_window >= policy.max_sends_per_hour {
            refusals.push((ThrottleReason::HourlyCap, window_ends, Duration::ZERO));
        }
        if let Some(day_ends) = open_day(requester, now)
            && requester.sends_in_day >= policy.max_sends_per_day
        {
            refusals.push((ThrottleReason::DailyCap, day_ends, Duration::ZERO));
        }
    }
    if let Some((reason, until, step)) = refusals.into_iter().max_by_key(|(_, until, _)| *until) {
        return Decision::Deny {
            reason,
            retry_after: round_up(super::whole_seconds_until(now, until), step),
        };
    }
    Decision::Allow {
        mailbox: counted(mailbox, now),
        requester: counted(requester, now),
    }
}

/// When the record's daily window ends, if it is still open at `now`.
fn open_day(window: &SendWindow, now: NaiveDateTime) -> Option<NaiveDateTime> {
    window
        .day_started_at
        .map(|start| start + DAY)
        .filter(|end| now < *end)
}

/// The record after one more send at `now`.
fn counted(current: Option<&SendWindow>, now: NaiveDateTime) -> SendWindow {
    let Some(current) = current else {
        return SendWindow {
            last_sent_at: now,
            window_started_at: now,
            sends_in_window: 1,
            day_started_at: Some(now),
            sends_in_day: 1,
        };
    };
    let hour_open = now < current.window_started_at + WINDOW;
    let day_start = match current.day_started_at {
        Some(start) if open_day(current, now).is_some() => Some(start),
        _ => None,
    };
    SendWindow {
        last_sent_at: now,
        window_started_at: if hour_open {
            current.window_started_at
        } else {
            now
        },
        sends_in_window: if hour_open {
            current.sends_in_window + 1
        } else {
            1
        },
        day_started_at: Some(day_start.unwrap_or(now)),
        sends_in_day: if day_start.is_some() {
            current.sends_in_day + 1
        } else {
            1
        },
    }
}

/// `wait` rounded up to a whole number of `step`s (unchanged for a zero step).
fn round_up(wait: Duration, step: Duration) -> Duration {
    if step.is_zero() {
        return wait;
    }
    let steps = wait.as_secs().div_ceil(step.as_secs()).max(1);
    Duration::from_secs(steps * step.as_secs())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeDelta};

    use super::*;

    fn t0() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn policy() -> OtpPolicy {
        OtpPolicy {
            resend_cooldown: Duration::from_secs(60),
            max_sends_per_hour: 3,
            max_sends_per_day: 5,
            mailbox_sends_per_day: 8,
            // The rest as configured by default.
            ..crate::config::Config::from_lookup(|_| None).unwrap().otp
        }
    }

    /// The mailbox's and one requester's records as sends go out.
    #[derive(Default)]
    struct Records {
        mailbox: Option<SendWindow>,
        requester: Option<SendWindow>,
    }

    impl Records {
        fn send(&mut self, at: NaiveDateTime, policy: &OtpPolicy) -> Decision {
            let decision = decide(self.mailbox.as_ref(), self.requester.as_ref(), at, policy);
            if let Decision::Allow { mailbox, requester } = decision {
                self.mailbox = Some(mailbox);
                self.requester = Some(requester);
            }
            decision
        }

        fn allowed(&mut self, at: NaiveDateTime, policy: &OtpPolicy) {
            let decision = self.send(at, policy);
            assert!(
                matches!(decision, Decision::Allow { .. }),
                "expected a send at {at} to be allowed, got {decision:?}"
            );
        }

        /// Another requester asking about the same mailbox.
        fn stranger(&self) -> Records {
            Records {
                mailbox: self.mailbox,
                requester: None,
            }
        }
    }

    fn denied(reason: ThrottleReason, secs: u64) -> Decision {
        Decision::Deny {
            reason,
            retry_after: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_first_send_opens_both_records() {
        let mut records = Records::default();
        records.allowed(t0(), &policy());
        let requester = records.requester.unwrap();
        assert_eq!(requester.sends_in_window, 1);
        assert_eq!(requester.window_started_at, t0());
        assert_eq!(records.mailbox.unwrap().sends_in_day, 1);
    }

    #[test]
    fn the_cooldown_holds_for_every_requester_and_its_wait_is_rounded_up() {
        let mut records = Records::default();
        records.allowed(t0(), &policy());
        let soon = t0() + TimeDelta::milliseconds(20_500);
        // 39.5 s are left: whole seconds say 40, the 30-second steps say 60.
        assert_eq!(
            records.send(soon, &policy()),
            denied(ThrottleReason::Cooldown, 60)
        );
        assert_eq!(
            records.stranger().send(soon, &policy()),
            denied(ThrottleReason::Cooldown, 60)
        );
        let later = t0() + TimeDelta::seconds(45);
        assert_eq!(
            records.send(later, &policy()),
            denied(ThrottleReason::Cooldown, 30)
        );
        records.allowed(t0() + TimeDelta::seconds(60), &policy());
        assert_eq!(records.requester.unwrap().sends_in_window, 2);
    }

    #[test]
    fn the_hourly_cap_holds_for_its_requester_only() {
        let mut records = Records::default();
        for minute in [0, 2, 4] {
            records.allowed(t0() + TimeDelta::minutes(minute), &policy());
        }
        let at = t0() + TimeDelta::minutes(10);
        assert_eq!(
            records.send(at, &policy()),
            denied(ThrottleReason::HourlyCap, 50 * 60)
        );
        records.stranger().allowed(at, &policy());

        records.allowed(t0() + TimeDelta::minutes(60), &policy());
        let requester = records.requester.unwrap();
        assert_eq!(requester.sends_in_window, 1);
        assert_eq!(requester.window_started_at, t0() + TimeDelta::minutes(60));
    }

    #[test]
    fn the_daily_cap_holds_for_its_requester_across_hours() {
        let policy = policy();
        let mut records = Records::default();
        let mut at = t0();
        records.allowed(at, &policy);
        for _ in 0..4 {
            at += TimeDelta::minutes(61);
            records.allowed(at, &policy);
        }
        assert_eq!(records.requester.unwrap().sends_in_day, 5);
        let later = at + TimeDelta::minutes(61);
        let exact = (t0() + TimeDelta::hours(24) - later).num_seconds();
        assert_eq!(
            records.send(later, &policy),
            denied(ThrottleReason::DailyCap, u64::try_from(exact).unwrap())
        );
        records.stranger().allowed(later, &policy);
        records.allowed(t0() + TimeDelta::hours(24), &policy);
        assert_eq!(records.requester.unwrap().sends_in_day, 1);
    }

    #[test]
    fn the_mailbox_ceiling_holds_across_requesters() {
        let policy = policy();
        let mut mailbox = None;
        let mut at = t0();
        for _ in 0..8 {
            let mut records = Records {
                mailbox,
                requester: None,
            };
            records.allowed(at, &policy);
            mailbox = records.mailbox;
            at += TimeDelta::minutes(2);
        }
        let fresh = Records {
            mailbox,
            requester: None,
        };
        let Decision::Deny {
            reason,
            retry_after,
        } = decide(fresh.mailbox.as_ref(), None, at, &policy)
        else {
            panic!("the ninth send of the day is refused");
        };
        assert_eq!(reason, ThrottleReason::MailboxCeiling);
        // 24 h after the first send, minus 16 minutes, rounded up to 15-minute steps.
        assert_eq!(retry_after, Duration::from_secs((24 * 60 - 15) * 60));
    }

    #[test]
    fn when_two_limits_refuse_the_longer_wait_is_given() {
        let policy = policy();
        let mut records = Records::default();
        for minute in [0, 2, 4] {
            records.allowed(t0() + TimeDelta::minutes(minute), &policy);
        }
        // 10 s after the third send: both the cooldown and the hourly cap refuse.
        let at = t0() + TimeDelta::minutes(4) + TimeDelta::seconds(10);
        let Decision::Deny { reason, .. } = records.send(at, &policy) else {
            panic!("refused");
        };
        assert_eq!(reason, ThrottleReason::HourlyCap);
    }

    #[test]
    fn records_from_before_the_daily_cap_start_a_day_window() {
        let old = SendWindow {
            last_sent_at: t0(),
            window_started_at: t0(),
            sends_in_window: 1,
            day_started_at: None,
            sends_in_day: 0,
        };
        let at = t0() + TimeDelta::minutes(2);
        let Decision::Allow { mailbox, .. } = decide(Some(&old), None, at, &policy()) else {
            panic!("allowed");
        };
        assert_eq!(mailbox.day_started_at, Some(at));
        assert_eq!(mailbox.sends_in_day, 1);
    }

    #[test]
    fn a_zero_cooldown_allows_back_to_back_sends_up_to_the_cap() {
        let policy = OtpPolicy {
            resend_cooldown: Duration::ZERO,
            ..policy()
        };
        let mut records = Records::default();
        for _ in 0..3 {
            records.allowed(t0(), &policy);
        }
        assert!(matches!(
            records.send(t0(), &policy),
            Decision::Deny {
                reason: ThrottleReason::HourlyCap,
                ..
            }
        ));
    }
}
