//! The send limits per (email, user_type): a cooldown between two sends, a cap
//! per hourly window and a cap per daily window. A pure decision over the stored
//! state, so the rules are tested without a database.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::config::OtpPolicy;

/// The length of the window `OTP_MAX_SENDS_PER_HOUR` counts in.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// The length of the window `OTP_MAX_SENDS_PER_DAY` counts in.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// The throttling state of one identity.
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
    /// Too soon after the previous send.
    Cooldown,
    /// The hourly cap is reached.
    HourlyCap,
    /// The daily cap is reached.
    DailyCap,
}

impl ThrottleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::Cooldown => "cooldown",
            ThrottleReason::HourlyCap => "hourly_cap",
            ThrottleReason::DailyCap => "daily_cap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send, and store this state.
    Allow(SendWindow),
    /// Do not send; the caller may try again after `retry_after`.
    Deny {
        reason: ThrottleReason,
        retry_after: Duration,
    },
}

/// Decides whether an identity whose state is `current` may be sent a code `now`.
/// When several limits refuse, the answer is the one that lasts longest.
pub fn decide(current: Option<&SendWindow>, now: NaiveDateTime, policy: &OtpPolicy) -> Decision {
    let Some(current) = current else {
        return Decision::Allow(SendWindow {
            last_sent_at: now,
            window_started_at: now,
            sends_in_window: 1,
            day_started_at: Some(now),
            sends_in_day: 1,
        });
    };
    let window_ends = current.window_started_at + WINDOW;
    let hour_open = now < window_ends;
    let day_ends = current.day_started_at.map(|start| start + DAY);
    let day_open = day_ends.is_some_and(|end| now < end);

    let mut refusals = Vec::new();
    let cooldown_ends = current.last_sent_at + policy.resend_cooldown;
    if now < cooldown_ends {
        refusals.push((ThrottleReason::Cooldown, cooldown_ends));
    }
    if hour_open && current.sends_in_window >= policy.max_sends_per_hour {
        refusals.push((ThrottleReason::HourlyCap, window_ends));
    }
    if let Some(day_ends) = day_ends
        && day_open
        && current.sends_in_day >= policy.max_sends_per_day
    {
        refusals.push((ThrottleReason::DailyCap, day_ends));
    }
    if let Some((reason, until)) = refusals.into_iter().max_by_key(|(_, until)| *until) {
        return deny(reason, until - now);
    }
    Decision::Allow(SendWindow {
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
        day_started_at: Some(if day_open {
            current.day_started_at.unwrap_or(now)
        } else {
            now
        }),
        sends_in_day: if day_open {
            current.sends_in_day + 1
        } else {
            1
        },
    })
}

/// Retry-After is whole seconds; round up so a client that waits exactly that
/// long is not refused again.
fn deny(reason: ThrottleReason, remaining: chrono::TimeDelta) -> Decision {
    let micros = u64::try_from(remaining.num_microseconds().unwrap_or(i64::MAX)).unwrap_or(1);
    let seconds = micros.div_ceil(1_000_000).max(1);
    Decision::Deny {
        reason,
        retry_after: Duration::from_secs(seconds),
    }
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
            ..OtpPolicy::default()
        }
    }

    fn allowed(decision: Decision) -> SendWindow {
        match decision {
            Decision::Allow(window) => window,
            denied => panic!("expected a send to be allowed, got {denied:?}"),
        }
    }

    #[test]
    fn a_first_send_opens_a_window() {
        let window = allowed(decide(None, t0(), &policy()));
        assert_eq!(window.sends_in_window, 1);
        assert_eq!(window.window_started_at, t0());
    }

    #[test]
    fn a_send_within_the_cooldown_is_refused_until_it_ends() {
        let first = allowed(decide(None, t0(), &policy()));
        let decision = decide(
            Some(&first),
            t0() + TimeDelta::milliseconds(20_500),
            &policy(),
        );
        assert_eq!(
            decision,
            Decision::Deny {
                reason: ThrottleReason::Cooldown,
                retry_after: Duration::from_secs(40)
            }
        );
        let second = allowed(decide(
            Some(&first),
            t0() + TimeDelta::seconds(60),
            &policy(),
        ));
        assert_eq!(second.sends_in_window, 2);
        assert_eq!(second.window_started_at, t0());
    }

    #[test]
    fn the_hourly_cap_holds_until_the_window_ends() {
        let mut window = allowed(decide(None, t0(), &policy()));
        for minute in [2, 4] {
            window = allowed(decide(
                Some(&window),
                t0() + TimeDelta::minutes(minute),
                &policy(),
            ));
        }
        assert_eq!(window.sends_in_window, 3);
        let decision = decide(Some(&window), t0() + TimeDelta::minutes(10), &policy());
        assert_eq!(
            decision,
            Decision::Deny {
                reason: ThrottleReason::HourlyCap,
                retry_after: Duration::from_secs(50 * 60)
            }
        );
        let next = allowed(decide(
            Some(&window),
            t0() + TimeDelta::minutes(60),
            &policy(),
        ));
        assert_eq!(next.sends_in_window, 1);
        assert_eq!(next.window_started_at, t0() + TimeDelta::minutes(60));
    }

    #[test]
    fn the_daily_cap_holds_across_hourly_windows_until_the_day_is_over() {
        let policy = policy();
        let mut window = allowed(decide(None, t0(), &policy));
        let mut at = t0();
        for _ in 0..4 {
            at += TimeDelta::minutes(61);
            window = allowed(decide(Some(&window), at, &policy));
        }
        assert_eq!(window.sends_in_day, 5);
        let later = at + TimeDelta::minutes(61);
        let decision = decide(Some(&window), later, &policy);
        assert_eq!(
            decision,
            Decision::Deny {
                reason: ThrottleReason::DailyCap,
                retry_after: (t0() + TimeDelta::hours(24) - later).to_std().unwrap()
            }
        );
        let next_day = allowed(decide(Some(&window), t0() + TimeDelta::hours(24), &policy));
        assert_eq!(next_day.sends_in_day, 1);
    }

    #[test]
    fn when_two_limits_refuse_the_longer_wait_is_given() {
        let policy = policy();
        let mut window = allowed(decide(None, t0(), &policy));
        for minute in [2, 4] {
            window = allowed(decide(
                Some(&window),
                t0() + TimeDelta::minutes(minute),
                &policy,
            ));
        }
        // 10 s after the third send: both the cooldown and the hourly cap refuse.
        let at = t0() + TimeDelta::minutes(4) + TimeDelta::seconds(10);
        let Decision::Deny { reason, .. } = decide(Some(&window), at, &policy) else {
            panic!("refused");
        };
        assert_eq!(reason, ThrottleReason::HourlyCap);
    }

    #[test]
    fn rows_from_before_the_daily_cap_start_a_day_window() {
        let old = SendWindow {
            last_sent_at: t0(),
            window_started_at: t0(),
            sends_in_window: 1,
            day_started_at: None,
            sends_in_day: 0,
        };
        let next = allowed(decide(Some(&old), t0() + TimeDelta::minutes(2), &policy()));
        assert_eq!(next.day_started_at, Some(t0() + TimeDelta::minutes(2)));
        assert_eq!(next.sends_in_day, 1);
    }

    #[test]
    fn a_zero_cooldown_allows_back_to_back_sends_up_to_the_cap() {
        let policy = OtpPolicy {
            resend_cooldown: Duration::ZERO,
            ..policy()
        };
        let mut window = allowed(decide(None, t0(), &policy));
        window = allowed(decide(Some(&window), t0(), &policy));
        window = allowed(decide(Some(&window), t0(), &policy));
        assert!(matches!(
            decide(Some(&window), t0(), &policy),
            Decision::Deny {
                reason: ThrottleReason::HourlyCap,
                ..
            }
        ));
    }
}
