//! send-otp: throttle, store the hashed code where the identity's case says, then
//! email it once the transaction has committed.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::throttle::{self, Decision, SendWindow};
use super::{Inner, OtpError, events};
use crate::db::models::{Account, NewOtp, NewSignupOtp, SendLimit, SignupOtp};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, OtpCode, UserType};
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

struct Issued {
    case: Case,
    /// The send-limit state before and after this send, to give the send back if
    /// the email cannot go out.
    previous_limit: Option<SendLimit>,
    new_limit: SendLimit,
}

pub(super) async fn send(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    code: OtpCode,
) -> Result<SendReceipt, OtpError> {
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
    let issued = match issued {
        Ok(issued) => issued,
        Err(OtpError::Throttled {
            reason,
            retry_after,
        }) => {
            events::record(
                "SIGNUP_OTP_THROTTLED",
                user_type,
                &email,
                &format!(
                    "reason={} retry_after={}",
                    reason.as_str(),
                    retry_after.as_secs()
                ),
            );
            return Err(OtpError::Throttled {
                reason,
                retry_after,
            });
        }
        Err(other) => return Err(other),
    };

    let kind = match issued.case {
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
    let to = email.clone();
    if let Err(mail_error) = inner.mailer.send(Email { to, kind }).await {
        events::warn(
            "SIGNUP_OTP_EMAIL_FAILED",
            user_type,
            &email,
            &format!("error=\"{}\"", error_chain(&mail_error)),
        );
        give_back(inner, issued).await;
        return Err(OtpError::EmailUnavailable(mail_error));
    }

    let (event, details) = match issued.case {
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
    policy: &crate::config::OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    hash: &[u8],
) -> Result<Issued, OtpError> {
    let (previous_limit, new_limit) = take_send_slot(conn, now, policy, email, user_type)?;
    let expires_at = now + policy.ttl;
    let case = match Account::find(conn, user_type, email)? {
        None => {
            NewSignupOtp::new(email, user_type, hash, now, expires_at).upsert(conn)?;
            Case::Signup
        }
        Some(account) => {
            // A signup code left from before the account existed can no longer be used.
            SignupOtp::delete_for(conn, email, user_type)?;
            if account.is_active {
                Case::AccountExists
            } else {
                NewOtp::new(account.id, hash, now, expires_at).upsert(conn)?;
                Case::Activation
            }
        }
    };
    Ok(Issued {
        case,
        previous_limit,
        new_limit,
    })
}

/// Applies the send limits and records this send. Concurrent sends for one
/// identity race on a compare-and-set; a loser re-reads the winner's state and
/// decides again, so it is refused exactly as a later request would be.
fn take_send_slot(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    policy: &crate::config::OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
) -> Result<(Option<SendLimit>, SendLimit), OtpError> {
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
                return Err(OtpError::Throttled {
                    reason,
                    retry_after,
                });
            }
        };
        let row = SendLimit {
            email: email.as_str().to_owned(),
            user_type: user_type.as_str().to_owned(),
            last_sent_at: next.last_sent_at,
            window_started_at: next.window_started_at,
            sends_in_window: i32::try_from(next.sends_in_window).unwrap_or(i32::MAX),
        };
        let stored = match &current {
            None => row.insert_new(conn)?,
            Some(current) => row.replace(conn, current)?,
        };
        if stored {
            return Ok((current, row));
        }
    }
    // Still contended after several rounds: someone is sending to this identity
    // right now, which is what the cooldown is for.
    Err(OtpError::Throttled {
        reason: throttle::ThrottleReason::Cooldown,
        retry_after: policy.resend_cooldown.max(Duration::from_secs(1)),
    })
}

/// The email could not go out: undo this send's effect on the limits, so the
/// client may try again at once. Only if nothing has changed the record since.
async fn give_back(inner: &Inner, issued: Issued) {
    let result = db::run(&inner.pool, move |conn| {
        let Issued {
            previous_limit,
            new_limit,
            ..
        } = issued;
        match previous_limit {
            Some(previous) => previous.replace(conn, &new_limit),
            None => new_limit.delete_if_unchanged(conn),
        }
        .map_err(crate::db::DbError::from)
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
