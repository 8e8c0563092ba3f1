//! send-otp: throttle, store the hashed code where the identity's case says, and
//! queue its email, in one transaction. The send limits are shared with register,
//! which sends activation codes too.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::throttle::{self, Decision, SendWindow, ThrottleReason};
use super::{FlowError, Inner};
use crate::config::OtpPolicy;
use crate::courier::Outbox;
use crate::db::models::{Account, NewOtp, NewSignupOtp, SendLimit, SignupOtp};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, Locale, OtpCode, UserType};
use crate::mail::{Email, EmailKind};

/// What the client is told after a send; the same for every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReceipt {
    pub expires_in: Duration,
    pub resend_after: Duration,
}

/// Which of the three cases the address was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// No account: a signup code in `signup_otps`.
    Signup,
    /// An inactive account: an activation code in `otps`.
    Activation,
    /// An active account: no code, an "account exists" email.
    AccountExists,
}

pub(super) async fn send(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    code: OtpCode,
    locale: Locale,
) -> Result<SendReceipt, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let hash = inner.hasher.hash(user_type, &email, &code);
    let outbox = inner.outbox.clone();
    let issued = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                issue(
                    conn, &outbox, now, &policy, &email, user_type, &hash, code, locale,
                )
            })
        })
        .await
    };
    let case = issued.inspect_err(|error| log_throttled(inner, error, user_type, &email))?;
    inner.outbox.wake();

    let (event, flow) = match case {
        Case::Signup => ("SIGNUP_OTP_CREATED", "signup"),
        Case::Activation => ("ACTIVATION_OTP_CREATED", "activation"),
        Case::AccountExists => ("SIGNUP_ACCOUNT_EXISTS_NOTIFIED", "account_exists"),
    };
    inner
        .events
        .record(event, user_type, &email, &[("flow", flow)], "");
    Ok(SendReceipt {
        expires_in: policy.ttl,
        resend_after: policy.resend_cooldown,
    })
}

/// The transactional part of a send: limits, the code, and its queued email.
#[allow(clippy::too_many_arguments)]
fn issue(
    conn: &mut DbConnection,
    outbox: &Outbox,
    now: NaiveDateTime,
    policy: &OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    hash: &[u8],
    code: OtpCode,
    locale: Locale,
) -> Result<Case, FlowError> {
    take_send_slot(conn, now, policy, email, user_type)?;
    let expires_at = now + policy.ttl;
    let (case, kind) = match Account::find(conn, user_type, email)? {
        None => {
            NewSignupOtp::new(email, user_type, hash, now, expires_at).upsert(conn)?;
            let kind = EmailKind::SignupCode {
                code,
                valid_for: policy.ttl,
            };
            (Case::Signup, kind)
        }
        Some(account) => {
            // A signup code left from before the account existed can no longer be used.
            SignupOtp::delete_unlinked_for(conn, email, user_type)?;
            if account.is_active {
                (Case::AccountExists, EmailKind::AccountExists)
            } else {
                NewOtp::new(account.id, hash, now, expires_at).upsert(conn)?;
                let kind = EmailKind::ActivationCode {
                    code,
                    valid_for: policy.ttl,
                };
                (Case::Activation, kind)
            }
        }
    };
    let message = Email {
        to: email.clone(),
        kind,
        locale,
    };
    outbox.queue(conn, &message, user_type, now, expires_at)?;
    Ok(case)
}

/// Applies the send limits and records this send. Concurrent sends for one
/// identity race on a compare-and-set; a loser re-reads the winner's state and
/// decides again, so it is refused exactly as a later request would be.
pub(super) fn take_send_slot(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    policy: &OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
) -> Result<(), FlowError> {
    const TRIES: usize = 3;
    for _ in 0..TRIES {
        let current = SendLimit::find(conn, email, user_type)?;
        let window = current.as_ref().map(|row| SendWindow {
            last_sent_at: row.last_sent_at,
            window_started_at: row.window_started_at,
            sends_in_window: u32::try_from(row.sends_in_window).unwrap_or(0),
            day_started_at: row.day_started_at,
            sends_in_day: u32::try_from(row.sends_in_day).unwrap_or(0),
        });
        let next = match throttle::decide(window.as_ref(), now, policy) {
            Decision::Allow(next) => next,
            Decision::Deny {
                reason,
                retry_after,
            } => {
                return Err(FlowError::Throttled {
                    reason,
                    retry_after,
                });
            }
        };
        let taken = SendLimit {
            email: email.as_str().to_owned(),
            user_type: user_type.as_str().to_owned(),
            last_sent_at: next.last_sent_at,
            window_started_at: next.window_started_at,
            sends_in_window: i32::try_from(next.sends_in_window).unwrap_or(i32::MAX),
            day_started_at: next.day_started_at,
            sends_in_day: i32::try_from(next.sends_in_day).unwrap_or(i32::MAX),
        };
        let stored = match &current {
            None => taken.insert_new(conn)?,
            Some(current) => taken.replace(conn, current)?,
        };
        if stored {
            return Ok(());
        }
    }
    // Still contended after several rounds: someone is sending to this identity
    // right now, which is what the cooldown is for.
    Err(FlowError::Throttled {
        reason: ThrottleReason::Cooldown,
        retry_after: policy.resend_cooldown.max(Duration::from_secs(1)),
    })
}

/// Logs a refused send.
pub(super) fn log_throttled(
    inner: &Inner,
    error: &FlowError,
    user_type: UserType,
    email: &EmailAddress,
) {
    if let FlowError::Throttled {
        reason,
        retry_after,
    } = error
    {
        inner.events.record(
            "SIGNUP_OTP_THROTTLED",
            user_type,
            email,
            &[("reason", reason.as_str())],
            &format!("retry_after={}", retry_after.as_secs()),
        );
    }
}

/// `error: cause: cause`, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
