//! What support needs to answer "why does my code say invalid?": one identity's
//! account, codes, lockouts, send limits and emails, read in one transaction,
//! with a one-line diagnosis; and the two operator actions, `unlock` and
//! `expire`. A report never holds a code, a hash, a token or a password: none is
//! selected.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::issue::window;
use super::throttle::{self, Decision, SendWindow};
use super::{FlowError, Inner};
use crate::db::models::{
    Account, DeliveryRecord, DeliveryStatus, MAILBOX_WIDE, Otp, OutboxMessage, SendLimit,
    SignupOtp, VerifyLockout,
};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{EmailAddress, UserType};

/// Everything on record about one identity, at `checked_at`.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityReport {
    pub email: String,
    pub user_type: &'static str,
    pub checked_at: DateTime<Utc>,
    pub account: AccountState,
    /// The codes on record: a signup code (no account yet), an activation code
    /// (an inactive account), or both while one is being turned into the other.
    pub codes: Vec<CodeState>,
    /// Wrong-code counts and locks, one per client network that tried.
    pub lockouts: Vec<LockoutState>,
    pub send_limits: SendLimits,
    /// Every email still on record, newest first.
    pub deliveries: Vec<Delivery>,
    pub diagnosis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountState {
    /// `none`, `inactive` or `active`.
    pub state: &'static str,
    /// When the account was created.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeState {
    /// `signup` (no account yet) or `activation` (an inactive account).
    pub flow: &'static str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
    /// Wrong codes tried by anyone, and by the client that asked for it (with
    /// its verification id); each counts up to `attempt_limit`.
    pub attempts_used: i32,
    pub holder_attempts_used: i32,
    pub attempt_limit: u32,
    pub verified_at: Option<DateTime<Utc>>,
    /// When a re-send replaced a code whose email had already gone out and
    /// that was still valid: that email's code no longer works.
    pub replaced_earlier_code_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockoutState {
    /// The client network the wrong codes came from.
    pub requester: String,
    pub consecutive_failures: i32,
    pub last_failure_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendLimits {
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Sends to the mailbox in its current day, across every network.
    pub sends_today: u32,
    /// When a client network that has not asked before may next send (`None`:
    /// now).
    pub next_send_allowed_at: Option<DateTime<Utc>>,
    /// Each network that asked: its counts and when it may next send.
    pub requesters: Vec<RequesterSends>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequesterSends {
    pub requester: String,
    pub sends_this_hour: u32,
    pub sends_today: u32,
    pub next_send_allowed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub kind: String,
    /// queued, retrying, delivered, abandoned, rejected or replaced.
    pub status: String,
    pub queued_at: DateTime<Utc>,
    pub attempts: i32,
    /// While queued or retrying: when it is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered, given up, rejected or replaced.
    pub finished_at: Option<DateTime<Utc>>,
    /// The relay's answer: its queue id once delivered, its refusal if rejected.
    pub relay_reply: Option<String>,
    pub last_error: Option<String>,
}

/// What an operator action changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    /// Lockout records cleared, or codes expired.
    pub changed: usize,
    /// Emails still to send that were abandoned with their code.
    pub emails_abandoned: usize,
}

/// Who asked for an operator action, for the audit event.
#[derive(Debug, Clone)]
pub enum Operator {
    /// The command line on a host with the database's credentials.
    Cli,
    /// The admin API, from this address.
    Admin(String),
}

impl Operator {
    fn label(&self) -> &'static str {
        match self {
            Operator::Cli => "cli",
            Operator::Admin(_) => "admin_api",
        }
    }

    fn details(&self) -> String {
        match self {
            Operator::Cli => String::new(),
            Operator::Admin(address) => format!("caller={address}"),
        }
    }
}

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

pub(super) async fn inspect(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    operator: Operator,
) -> Result<IdentityReport, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let read_email = email.clone();
    let (account, signup, activation, lockouts, limits, deliveries) =
        db::run(&inner.pool, move |conn| {
            read_identity(conn, &read_email, user_type).map_err(DbError::from)
        })
        .await?;
    let mut codes = Vec::new();
    if let Some(code) = signup {
        codes.push(CodeState {
            flow: "signup",
            issued_at: utc(code.created_at),
            expires_at: utc(code.expires_at),
            expired: code.expires_at <= now,
            attempts_used: code.attempts,
            holder_attempts_used: code.holder_attempts,
            attempt_limit: policy.max_attempts,
            verified_at: code.verified_at.map(utc),
            replaced_earlier_code_at: replaced_at(code.created_at, &deliveries),
        });
    }
    // An active account's row in `otps` is a stand-in no code matches: not a code.
    if let (Some(code), Some((account, _))) = (activation, &account)
        && !account.is_active
    {
        codes.push(CodeState {
            flow: "activation",
            issued_at: utc(code.created_at),
            expires_at: utc(code.expires_at),
            expired: code.expires_at <= now,
            attempts_used: code.attempts,
            holder_attempts_used: code.holder_attempts,
            attempt_limit: policy.max_attempts,
            verified_at: None,
            replaced_earlier_code_at: replaced_at(code.created_at, &deliveries),
        });
    }
    let account = AccountState {
        state: match &account {
            None => "none",
            Some((account, _)) if account.is_active => "active",
            Some(_) => "inactive",
        },
        since: account.map(|(_, created_at)| utc(created_at)),
    };
    let lockouts = lockouts
        .into_iter()
        .map(|record| LockoutState {
            requester: record.requester.clone(),
            consecutive_failures: record.consecutive_failures,
            last_failure_at: utc(record.last_failure_at),
            locked_until: record.locked_at(now).map(utc),
        })
        .collect();
    let send_limits = send_limits(&limits, now, &policy);
    let deliveries: Vec<Delivery> = deliveries.into_iter().map(delivery).collect();
    let mut report = IdentityReport {
        email: email.as_str().to_owned(),
        user_type: user_type.as_str(),
        checked_at: utc(now),
        account,
        codes,
        lockouts,
        send_limits,
        deliveries,
        diagnosis: String::new(),
    };
    report.diagnosis = diagnose(&report);
    inner.events.record(
        "IDENTITY_INSPECTED",
        user_type,
        &email,
        &[("by", operator.label())],
        &operator.details(),
    );
    Ok(report)
}

type Read = (
    Option<(Account, NaiveDateTime)>,
    Option<SignupOtp>,
    Option<Otp>,
    Vec<VerifyLockout>,
    Vec<SendLimit>,
    Vec<DeliveryRecord>,
);

/// One consistent read of everything about the identity.
fn read_identity(
    conn: &mut DbConnection,
    email: &EmailAddress,
    user_type: UserType,
) -> diesel::QueryResult<Read> {
    use diesel::Connection;
    conn.transaction(|conn| {
        let account = Account::find_with_created_at(conn, user_type, email)?;
        let activation = match &account {
            Some((account, _)) => Otp::find_for(conn, account.id)?,
            None => None,
        };
        Ok((
            account,
            SignupOtp::find(conn, email, user_type)?,
            activation,
            VerifyLockout::for_identity(conn, email, user_type)?,
            SendLimit::for_identity(conn, &email.mailbox(), user_type)?,
            OutboxMessage::for_identity(conn, email.as_str(), user_type.as_str())?,
        ))
    })
}

/// When a code issued at `issued_at` replaced an earlier one whose email had
/// gone out and that still worked: `issued_at`, or `None`.
fn replaced_at(issued_at: NaiveDateTime, deliveries: &[DeliveryRecord]) -> Option<DateTime<Utc>> {
    deliveries
        .iter()
        .any(|earlier| {
            earlier.kind != "account_exists"
                && earlier.created_at < issued_at
                && earlier.expires_at > issued_at
                && earlier.status == DeliveryStatus::Delivered.as_str()
        })
        .then(|| utc(issued_at))
}

/// When a send is next allowed (`None`: now), by the rules the send itself applies.
fn next_send(
    mailbox: Option<&SendWindow>,
    requester: Option<&SendWindow>,
    now: NaiveDateTime,
    policy: &super::OtpPolicy,
) -> Option<DateTime<Utc>> {
    match throttle::decide(mailbox, requester, now, policy) {
        Decision::Allow { .. } => None,
        Decision::Deny { retry_after, .. } => Some(utc(now + retry_after)),
    }
}

fn send_limits(records: &[SendLimit], now: NaiveDateTime, policy: &super::OtpPolicy) -> SendLimits {
    let mailbox = records
        .iter()
        .find(|record| record.requester == MAILBOX_WIDE)
        .map(window);
    let open = |started: Option<NaiveDateTime>, length: std::time::Duration| {
        started.is_some_and(|start| now < start + length)
    };
    let requesters = records
        .iter()
        .filter(|record| record.requester != MAILBOX_WIDE)
        .map(|record| {
            let counted = window(record);
            RequesterSends {
                requester: record.requester.clone(),
                sends_this_hour: if open(Some(counted.window_started_at), throttle::WINDOW) {
                    counted.sends_in_window
                } else {
                    0
                },
                sends_today: if open(counted.day_started_at, throttle::DAY) {
                    counted.sends_in_day
                } else {
                    0
                },
                next_send_allowed_at: next_send(mailbox.as_ref(), Some(&counted), now, policy),
            }
        })
        .collect();
    SendLimits {
        last_sent_at: mailbox.map(|m| utc(m.last_sent_at)),
        sends_today: mailbox
            .filter(|m| open(m.day_started_at, throttle::DAY))
            .map_or(0, |m| m.sends_in_day),
        next_send_allowed_at: next_send(mailbox.as_ref(), None, now, policy),
        requesters,
    }
}

fn delivery(record: DeliveryRecord) -> Delivery {
    let pending = DeliveryStatus::parse(&record.status).is_some_and(DeliveryStatus::is_pending);
    Delivery {
        id: record.id,
        kind: record.kind,
        status: record.status,
        queued_at: utc(record.created_at),
        attempts: record.attempts,
        next_attempt_at: pending.then(|| utc(record.next_attempt_at)),
        finished_at: record.finished_at.map(utc),
        relay_reply: record.relay_reply,
        last_error: record.last_error,
    }
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The most likely reason a user's code does not work, in one line.
pub fn diagnose(report: &IdentityReport) -> String {
    let now = report.checked_at;
    if let Some(lock) = report
        .lockouts
        .iter()
        .filter_map(|lock| lock.locked_until.map(|until| (lock, until)))
        .max_by_key(|(_, until)| *until)
    {
        return format!(
            "verification is locked for requests from {} until {} after {} wrong codes in a \
             row; `signup-otp unlock` clears it",
            lock.0.requester,
            clock(lock.1),
            lock.0.consecutive_failures.max(1)
        );
    }
    let latest_code_email = report
        .deliveries
        .iter()
        .find(|delivery| delivery.kind != "account_exists" && delivery.status != "replaced");
    if let Some(delivery) = latest_code_email {
        match delivery.status.as_str() {
            "rejected" => {
                return format!(
                    "the relay rejected the address: {}",
                    delivery
                        .relay_reply
                        .as_deref()
                        .unwrap_or("no reply on record")
                );
            }
            "retrying" => {
                return format!(
                    "the email has not gone out: {} attempts failed, the next at {} ({})",
                    delivery.attempts,
                    delivery.next_attempt_at.map_or_else(String::new, clock),
                    delivery
                        .last_error
                        .as_deref()
                        .unwrap_or("no error on record")
                );
            }
            "queued" => {
                return format!(
                    "the email is queued since {} and has not been tried yet",
                    clock(delivery.queued_at)
                );
            }
            "abandoned" => {
                return format!(
                    "the email was never delivered: {}",
                    delivery.last_error.as_deref().unwrap_or("given up")
                );
            }
            _ => {}
        }
    }
    if report.account.state == "active" {
        return format!(
            "the account is active{}: a send answers with an \"account exists\" email, not a code",
            report
                .account
                .since
                .map_or_else(String::new, |since| format!(" since {}", clock(since)))
        );
    }
    let code = report.codes.iter().max_by_key(|code| code.issued_at);
    if let Some(code) = code {
        let wrong = code.attempts_used + code.holder_attempts_used;
        if let Some(verified_at) = code.verified_at {
            return format!(
                "the code was verified at {}; the client should now finish with register",
                clock(verified_at)
            );
        }
        if code.expired {
            return format!(
                "the code expired at {}; the user needs a new one",
                clock(code.expires_at)
            );
        }
        if code.attempts_used >= code.attempt_limit as i32
            && code.holder_attempts_used >= code.attempt_limit as i32
        {
            return "every attempt of the code is used up; the user needs a new one".to_owned();
        }
        if let (Some(replaced), true) = (code.replaced_earlier_code_at, wrong > 0) {
            return format!(
                "the last code was replaced by a re-send at {}; {wrong} wrong code(s) since: \
                 the user is most likely entering the older one (only the newest email's code \
                 works)",
                clock(replaced)
            );
        }
        if wrong > 0 {
            return format!(
                "{wrong} wrong code(s) tried on the live code (expires {}); the email was \
                 delivered{}",
                clock(code.expires_at),
                latest_code_email
                    .and_then(|d| d.relay_reply.as_deref())
                    .map_or_else(String::new, |reply| format!(" ({reply})"))
            );
        }
        if let Some(replaced) = code.replaced_earlier_code_at {
            return format!(
                "a live code was re-sent at {}, replacing an earlier one: only the newest \
                 email's code works",
                clock(replaced)
            );
        }
        return format!(
            "a live code was delivered{} and nothing has gone wrong with it; it expires at {}",
            latest_code_email
                .and_then(|d| d.finished_at)
                .map_or_else(String::new, |at| format!(" at {}", clock(at))),
            clock(code.expires_at)
        );
    }
    if let Some(until) = report.send_limits.next_send_allowed_at
        && until > now
    {
        return format!("sends to this address are held back until {}", clock(until));
    }
    if report.deliveries.is_empty() {
        "no code or email on record for this identity".to_owned()
    } else {
        "no live code: the last one was used or cleaned up; the user needs a new one".to_owned()
    }
}

impl fmt::Display for IdentityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = |at: Option<DateTime<Utc>>| at.map_or_else(|| "-".to_owned(), clock);
        let next = |at: Option<DateTime<Utc>>| {
            at.map_or_else(|| "now".to_owned(), |at| format!("at {}", clock(at)))
        };
        writeln!(
            f,
            "{} ({}), checked at {}",
            self.email,
            self.user_type,
            clock(self.checked_at)
        )?;
        writeln!(f, "diagnosis: {}", self.diagnosis)?;
        writeln!(f)?;
        match self.account.since {
            Some(since) => writeln!(
                f,
                "account:   {} since {}",
                self.account.state,
                clock(since)
            )?,
            None => writeln!(f, "account:   none")?,
        }
        if self.codes.is_empty() {
            writeln!(f, "code:      none")?;
        }
        for code in &self.codes {
            writeln!(
                f,
                "code:      {} code issued {}, expires {}{}; wrong attempts {} of {} (by its \
                 requester: {} of {}); {}{}",
                code.flow,
                clock(code.issued_at),
                clock(code.expires_at),
                if code.expired { " (expired)" } else { "" },
                code.attempts_used,
                code.attempt_limit,
                code.holder_attempts_used,
                code.attempt_limit,
                code.verified_at.map_or_else(
                    || "not verified".to_owned(),
                    |at| format!("verified {}", clock(at))
                ),
                code.replaced_earlier_code_at
                    .map_or_else(String::new, |at| format!(
                        "; replaced an earlier code at {}",
                        clock(at)
                    )),
            )?;
        }
        if self.lockouts.is_empty() {
            writeln!(f, "lockout:   none")?;
        }
        for lock in &self.lockouts {
            writeln!(
                f,
                "lockout:   from {}: {} wrong in a row (last {}), {}",
                lock.requester,
                lock.consecutive_failures,
                clock(lock.last_failure_at),
                lock.locked_until.map_or_else(
                    || "not locked".to_owned(),
                    |until| format!("locked until {}", clock(until))
                )
            )?;
        }
        let limits = &self.send_limits;
        writeln!(
            f,
            "sends:     last {}, {} today; next send from a new network {}",
            when(limits.last_sent_at),
            limits.sends_today,
            next(limits.next_send_allowed_at)
        )?;
        for requester in &limits.requesters {
            writeln!(
                f,
                "           from {}: {} this hour, {} today; next {}",
                requester.requester,
                requester.sends_this_hour,
                requester.sends_today,
                next(requester.next_send_allowed_at)
            )?;
        }
        if self.deliveries.is_empty() {
            writeln!(f, "emails:    none on record")?;
        }
        for delivery in &self.deliveries {
            write!(
                f,
                "email:     #{} {} queued {}: {} after {} attempt(s)",
                delivery.id,
                delivery.kind,
                clock(delivery.queued_at),
                delivery.status,
                delivery.attempts
            )?;
            if let Some(at) = delivery.finished_at {
                write!(f, " at {}", clock(at))?;
            }
            if let Some(at) = delivery.next_attempt_at {
                write!(f, ", next try {}", clock(at))?;
            }
            if let Some(reply) = &delivery.relay_reply {
                write!(f, "; relay: {reply}")?;
            }
            if let Some(error) = &delivery.last_error {
                write!(f, "; last error: {error}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

pub(super) async fn unlock(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    operator: Operator,
) -> Result<ActionReport, FlowError> {
    let read_email = email.clone();
    let cleared = db::run(&inner.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            VerifyLockout::clear_identity(conn, &read_email, user_type)
        })
        .map_err(DbError::from)
    })
    .await?;
    inner.events.record(
        "OTP_LOCKOUT_CLEARED",
        user_type,
        &email,
        &[("by", operator.label())],
        format!("records={cleared} {}", operator.details()).trim_end(),
    );
    Ok(ActionReport {
        changed: cleared,
        emails_abandoned: 0,
    })
}

pub(super) async fn expire(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    operator: Operator,
) -> Result<ActionReport, FlowError> {
    let now = inner.clock.now();
    let read_email = email.clone();
    let report = db::run(&inner.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let mut changed = SignupOtp::expire(conn, &read_email, user_type, now)?;
            if let Some(account) = Account::find(conn, user_type, &read_email)?
                && !account.is_active
            {
                changed += Otp::expire_for(conn, account.id, now)?;
            }
            let emails_abandoned = OutboxMessage::abandon_pending_for(
                conn,
                read_email.as_str(),
                user_type.as_str(),
                now,
                "its code was expired by an operator",
            )?;
            Ok::<_, diesel::result::Error>(ActionReport {
                changed,
                emails_abandoned,
            })
        })
        .map_err(DbError::from)
    })
    .await?;
    inner.events.record(
        "OTP_EXPIRED_BY_OPERATOR",
        user_type,
        &email,
        &[("by", operator.label())],
        format!(
            "codes={} emails_abandoned={} {}",
            report.changed,
            report.emails_abandoned,
            operator.details()
        )
        .trim_end(),
    );
    Ok(report)
}
