//! send-otp: throttle, store the hashed code where the identity's case says, then
//! email it once the transaction has committed. The send limits and the delivery
//! are shared with register, which sends activation codes too.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::throttle::{self, Decision, SendWindow, ThrottleReason};
use super::{FlowError, Inner};
use crate::events;
use crate::config::OtpPolicy;
use crate::db::models::{Account, NewOtp, NewSignupOtp, SendLimit, SignupOtp};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{EmailAddress, OtpCode, UserType};
use crate::mail::{Email, EmailKind, MailError};

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

/// One send taken from an identity's limits: the record before and after, so
/// the send can be given back if its email cannot go out.
pub(super) struct SendSlot {
    previous: Option<SendLimit>,
    taken: SendLimit,
}

pub(super) async fn send(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    code: OtpCode,
) -> Result<SendReceipt, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let hash = inner.hasher.hash(user_type, &email, &code);
    let issued = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                issue(conn, now, &policy, &email, user_type, &hash)
            })
        })
        .await
    };
    let (case, slot) = issued.inspect_err(|error| log_throttled(error, user_type, &email))?;

    let kind = match case {
        Case::Signup => EmailKind::SignupCode {
            code,
            valid_for: policy.ttl,
        },
        Case::Activation => EmailKind::ActivationCode {
            code,
            valid_for: policy.ttl,
        },
        Case::AccountExists => EmailKind::AccountExists,
    };
    deliver(inner, &email, user_type, kind, slot)
        .await
        .map_err(FlowError::EmailUnavailable)?;

    let (event, details) = match case {
        Case::Signup => ("SIGNUP_OTP_CREATED", "flow=signup"),
        Case::Activation => ("ACTIVATION_OTP_CREATED", "flow=activation"),
        Case::AccountExists => ("SIGNUP_ACCOUNT_EXISTS_NOTIFIED", "flow=account_exists"),
    };
    events::record(event, user_type, &email, details);
    Ok(SendReceipt {
        expires_in: policy.ttl,
        resend_after: policy.resend_cooldown,
    })
}

/// The transactional part of a send.
fn issue(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    policy: &OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    hash: &[u8],
) -> Result<(Case, SendSlot), FlowError> {
    let slot = take_send_slot(conn, now, policy, email, user_type)?;
    let expires_at = now + policy.ttl;
    let case = match Account::find(conn, user_type, email)? {
        None => {
            NewSignupOtp::new(email, user_type, hash, now, expires_at).upsert(conn)?;
            Case::Signup
        }
        Some(account) => {
            // A signup code left from before the account existed can no longer be used.
            SignupOtp::delete_unlinked_for(conn, email, user_type)?;
            if account.is_active {
                Case::AccountExists
            } else {
                NewOtp::new(account.id, hash, now, expires_at).upsert(conn)?;
                Case::Activation
            }
        }
    };
    Ok((case, slot))
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
) -> Result<SendSlot, FlowError> {
    const TRIES: usize = 3;
    for _ in 0..TRIES {
        let current = SendLimit::find(conn, email, user_type)?;
        let window = current.as_ref().map(|row| SendWindow {
            last_sent_at: row.last_sent_at,
            window_started_at: row.window_started_at,
            sends_in_window: u32::try_from(row.sends_in_window).unwrap_or(0),
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
        };
        let stored = match &current {
            None => taken.insert_new(conn)?,
            Some(current) => taken.replace(conn, current)?,
        };
        if stored {
            return Ok(SendSlot {
                previous: current,
                taken,
            });
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
pub(super) fn log_throttled(error: &FlowError, user_type: UserType, email: &EmailAddress) {
    if let FlowError::Throttled {
        reason,
        retry_after,
    } = error
    {
        events::record(
            "SIGNUP_OTP_THROTTLED",
            user_type,
            email,
            &format!(
                "reason={} retry_after={}",
                reason.as_str(),
                retry_after.as_secs()
            ),
        );
    }
}

/// Emails `kind` to `to`. If the transport fails, the send is given back to the
/// identity's limits, so the client may try again at once.
pub(super) async fn deliver(
    inner: &Inner,
    to: &EmailAddress,
    user_type: UserType,
    kind: EmailKind,
    slot: SendSlot,
) -> Result<(), MailError> {
    let email = Email {
        to: to.clone(),
        kind,
    };
    let Err(mail_error) = inner.mailer.send(email).await else {
        return Ok(());
    };
    events::warn(
        "SIGNUP_OTP_EMAIL_FAILED",
        user_type,
        to,
        &format!("error=\"{}\"", error_chain(&mail_error)),
    );
    give_back(inner, slot).await;
    Err(mail_error)
}

/// Undoes a send's effect on the limits, only if nothing has changed the record since.
async fn give_back(inner: &Inner, slot: SendSlot) {
    let result = db::run(&inner.pool, move |conn| {
        let SendSlot { previous, taken } = slot;
        match previous {
            Some(previous) => previous.replace(conn, &taken),
            None => taken.delete_if_unchanged(conn),
        }
        .map_err(DbError::from)
    })
    .await;
    if let Err(error) = result {
        log::warn!(
            "could not give back a send slot after a mail failure: {}",
            error_chain(&error)
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
