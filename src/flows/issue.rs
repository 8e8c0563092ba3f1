//! send-otp: throttle, store the hashed code where the address's case says, and
//! queue its email, in one transaction. Register without a signup token does the
//! same, and keeps its pending registration in the same transaction.
//!
//! The three cases look the same from outside: a new address gets a signup code,
//! an inactive account an activation code, an active account an email saying it
//! exists and a stored hash that no code has, so that wrong guesses, attempts and
//! lockouts go exactly as they do for the other two.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::OtpPolicy;
use super::throttle::{self, Decision, SendWindow, ThrottleReason};
use super::token::Opaque;
use super::{FlowError, Inner};
use crate::courier::Outbox;
use crate::db::models::{
    Account, MAILBOX_WIDE, NewOtp, NewSignupOtp, PendingRegistration, SendLimit, SignupOtp,
};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, Locale, OtpCode, Requester, UserType};
use crate::mail::{Email, EmailKind};

/// What the client is told after a send; the same for every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub expires_in: Duration,
    pub resend_after: Duration,
    /// Handed to this client only: a verify that carries it spends attempts of
    /// its own, which nobody without it can use up.
    pub verification_id: String,
}

/// Which of the three cases the address was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    /// No account: a signup code in `signup_otps`.
    Signup,
    /// An inactive account: an activation code in `otps`.
    Activation,
    /// An active account: an "account exists" email, and a stand-in hash in `otps`.
    AccountExists,
}

/// One send: the code, where it goes, who asked, and what else to keep with it.
pub(super) struct Issue<'a> {
    pub email: &'a EmailAddress,
    pub user_type: UserType,
    pub requester: &'a Requester,
    pub code: OtpCode,
    pub locale: Locale,
    /// For register without a token: the registration that waits for this code.
    pub pending: Option<PendingRegistration>,
    /// SHA-256 of the id the client gets for this code.
    pub verification_hash: &'a [u8],
    /// Which endpoint asked, for the event.
    pub via: &'static str,
}

pub(super) async fn send(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    requester: &Requester,
    code: OtpCode,
    locale: Locale,
) -> Result<SendReceipt, FlowError> {
    let verification_id = Opaque::generate();
    issue(
        inner,
        Issue {
            email: &email,
            user_type,
            requester,
            code,
            locale,
            pending: None,
            verification_hash: verification_id.hash(),
            via: "send_otp",
        },
    )
    .await?;
    Ok(SendReceipt {
        expires_in: inner.policy.ttl,
        resend_after: inner.policy.resend_cooldown,
        verification_id: verification_id.expose().to_owned(),
    })
}

/// Runs one send's transaction and records what happened.
pub(super) async fn issue(inner: &Inner, issue: Issue<'_>) -> Result<(), FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let (email, user_type, via) = (issue.email.clone(), issue.user_type, issue.via);
    let hash = inner.hasher.hash(user_type, &email, &issue.code);
    let decoy = inner.hasher.decoy();
    let outbox = inner.outbox.clone();
    let requester = issue.requester.clone();
    let verification_hash = issue.verification_hash.to_vec();
    let Issue {
        code,
        locale,
        pending,
        ..
    } = issue;
    let issued = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            let stored = Stored {
                now,
                policy: &policy,
                email: &email,
                user_type,
                hash: &hash,
                decoy: &decoy,
                verification_hash: &verification_hash,
            };
            match conn {
                DbConnection::Pg(conn) => {
                    stored.in_one_statement(conn, &requester, &outbox, code, locale, &pending)
                }
                conn => db::write_transaction(conn, |conn| {
                    take_send_slot(conn, now, &policy, &email, user_type, &requester)?;
                    if let Some(pending) = &pending {
                        pending.insert(conn)?;
                    }
                    stored.write(conn, &outbox, code, locale)
                }),
            }
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
    inner.events.record(
        event,
        user_type,
        &email,
        &[("flow", flow), ("via", via)],
        "",
    );
    Ok(())
}

/// The code and its email, as the address's case says.
struct Stored<'a> {
    now: NaiveDateTime,
    policy: &'a OtpPolicy,
    email: &'a EmailAddress,
    user_type: UserType,
    hash: &'a [u8],
    decoy: &'a [u8],
    verification_hash: &'a [u8],
}

impl Stored<'_> {
    fn write(
        &self,
        conn: &mut DbConnection,
        outbox: &Outbox,
        code: OtpCode,
        locale: Locale,
    ) -> Result<Case, FlowError> {
        let (now, email, user_type) = (self.now, self.email, self.user_type);
        let expires_at = now + self.policy.ttl;
        let valid_for = self.policy.ttl;
        // Every case runs the same statements: a lookup, a delete and an upsert,
        // so that the time a send takes does not tell the cases apart.
        let account = Account::find(conn, user_type, email)?;
        // The address's pending signup code, if any: replaced below for a new
        // address; of no use any more to one that has an account.
        SignupOtp::delete_unlinked_for(conn, email, user_type)?;
        let (case, kind) = match account {
            None => {
                NewSignupOtp::new(
                    email,
                    user_type,
                    self.hash,
                    Some(self.verification_hash),
                    now,
                    expires_at,
                )
                .upsert(conn)?;
                (Case::Signup, EmailKind::SignupCode { code, valid_for })
            }
            Some(account) => {
                if account.is_active {
                    NewOtp::new(
                        account.id,
                        self.decoy,
                        self.verification_hash,
                        now,
                        expires_at,
                    )
                    .upsert(conn)?;
                    (Case::AccountExists, EmailKind::AccountExists)
                } else {
                    NewOtp::new(
                        account.id,
                        self.hash,
                        self.verification_hash,
                        now,
                        expires_at,
                    )
                    .upsert(conn)?;
                    (
                        Case::Activation,
                        EmailKind::ActivationCode { code, valid_for },
                    )
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
}

impl Stored<'_> {
    /// The whole send as one statement on PostgreSQL (`signup_otp_send`, the same
    /// steps as [`take_send_slot`] and [`Stored::write`]): the three emails the
    /// address's case could need are sealed here, and the database keeps the one
    /// its case picks.
    fn in_one_statement(
        &self,
        conn: &mut diesel::PgConnection,
        requester: &Requester,
        outbox: &Outbox,
        code: OtpCode,
        locale: Locale,
        pending: &Option<PendingRegistration>,
    ) -> Result<Case, FlowError> {
        let valid_for = self.policy.ttl;
        let email = |kind| Email {
            to: self.email.clone(),
            kind,
            locale,
        };
        let sealed = |kind| outbox.seal(&email(kind), self.user_type).1;
        let signup_email = sealed(EmailKind::SignupCode {
            code: code.clone(),
            valid_for,
        });
        let activation_email = sealed(EmailKind::ActivationCode { code, valid_for });
        let exists_email = sealed(EmailKind::AccountExists);
        let limit = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
        let row = db::functions::send(
            conn,
            &db::functions::SendCall {
                email: self.email.as_str(),
                mailbox: &self.email.mailbox(),
                user_type: self.user_type.as_str(),
                requester: requester.as_str(),
                now: self.now,
                expires_at: self.now + self.policy.ttl,
                cooldown_micros: i64::try_from(self.policy.resend_cooldown.as_micros())
                    .unwrap_or(i64::MAX),
                max_sends_per_hour: limit(self.policy.max_sends_per_hour),
                max_sends_per_day: limit(self.policy.max_sends_per_day),
                mailbox_sends_per_day: limit(self.policy.mailbox_sends_per_day),
                hash: self.hash,
                decoy: self.decoy,
                verification_hash: self.verification_hash,
                signup_email: &signup_email,
                activation_email: &activation_email,
                exists_email: &exists_email,
                pending: pending.as_ref().map(|p| db::functions::PendingCall {
                    registration_hash: &p.registration_hash,
                    hashed_password: &p.hashed_password,
                    full_name: p.full_name.as_deref(),
                    expires_at: p.expires_at,
                }),
            },
        )?;
        match row.outcome.as_str() {
            "signup" => Ok(Case::Signup),
            "activation" => Ok(Case::Activation),
            "account_exists" => Ok(Case::AccountExists),
            refusal => match ThrottleReason::parse(refusal) {
                Some(reason) => Err(FlowError::Throttled {
                    reason,
                    retry_after: Duration::from_secs(
                        row.retry_after_secs.unwrap_or(1).max(1).unsigned_abs(),
                    ),
                }),
                None => Err(FlowError::Database(db::DbError::Query(
                    diesel::result::Error::DeserializationError(
                        format!("signup_otp_send answered {refusal:?}").into(),
                    ),
                ))),
            },
        }
    }
}

/// The two send-limit records of one send: the mailbox's and the requester's.
fn windows(
    conn: &mut DbConnection,
    mailbox: &str,
    user_type: UserType,
    requester: &Requester,
) -> diesel::QueryResult<(Option<SendLimit>, Option<SendLimit>)> {
    let mut wide = None;
    let mut own = None;
    for row in SendLimit::find_both(conn, mailbox, user_type, requester.as_str())? {
        if row.requester == MAILBOX_WIDE {
            wide = Some(row);
        } else {
            own = Some(row);
        }
    }
    Ok((wide, own))
}

/// A stored record as the throttle counts it.
pub(super) fn window(row: &SendLimit) -> SendWindow {
    SendWindow {
        last_sent_at: row.last_sent_at,
        window_started_at: row.window_started_at,
        sends_in_window: u32::try_from(row.sends_in_window).unwrap_or(0),
        day_started_at: row.day_started_at,
        sends_in_day: u32::try_from(row.sends_in_day).unwrap_or(0),
    }
}

/// Whether a send would be allowed now, without taking it: register checks this
/// before it spends a password hash on a request that would be refused anyway.
pub(super) fn check_send_slot(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    policy: &OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    requester: &Requester,
) -> Result<(), FlowError> {
    let (wide, own) = windows(conn, &email.mailbox(), user_type, requester)?;
    match throttle::decide(
        wide.as_ref().map(window).as_ref(),
        own.as_ref().map(window).as_ref(),
        now,
        policy,
    ) {
        Decision::Allow { .. } => Ok(()),
        Decision::Deny {
            reason,
            retry_after,
        } => Err(FlowError::Throttled {
            reason,
            retry_after,
        }),
    }
}

/// Applies the send limits and records this send. Every send writes the
/// mailbox-wide record first, with a compare-and-set: concurrent sends to one
/// mailbox queue on it, and a loser re-reads the winner's state and decides
/// again, so it is refused exactly as a later request would be. The requester's
/// record is written behind it, where nobody else can be writing.
pub(super) fn take_send_slot(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    policy: &OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    requester: &Requester,
) -> Result<(), FlowError> {
    const TRIES: usize = 3;
    let mailbox = email.mailbox();
    for _ in 0..TRIES {
        let (wide, own) = windows(conn, &mailbox, user_type, requester)?;
        let (next_wide, next_own) = match throttle::decide(
            wide.as_ref().map(window).as_ref(),
            own.as_ref().map(window).as_ref(),
            now,
            policy,
        ) {
            Decision::Allow { mailbox, requester } => (mailbox, requester),
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
        let record = |requester: &str, next: SendWindow| SendLimit {
            email: mailbox.clone(),
            user_type: user_type.as_str().to_owned(),
            last_sent_at: next.last_sent_at,
            window_started_at: next.window_started_at,
            sends_in_window: i32::try_from(next.sends_in_window).unwrap_or(i32::MAX),
            day_started_at: next.day_started_at,
            sends_in_day: i32::try_from(next.sends_in_day).unwrap_or(i32::MAX),
            requester: requester.to_owned(),
        };
        let taken = record(MAILBOX_WIDE, next_wide);
        let stored = match &wide {
            None => taken.insert_new(conn)?,
            Some(current) => taken.replace(conn, current)?,
        };
        if stored {
            record(requester.as_str(), next_own).upsert(conn)?;
            return Ok(());
        }
    }
    // Still contended after several rounds: someone is sending to this mailbox
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
