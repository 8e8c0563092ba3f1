//! The PostgreSQL functions that run send-otp and verify-otp as one statement
//! each (migration `one_statement_flows`): one round trip per request. SQLite
//! runs the same decisions as Rust over the models (`flows::issue`,
//! `flows::verify`); the tests drive both backends through the same cases.

use chrono::NaiveDateTime;
use diesel::PgConnection;
use diesel::QueryResult;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::sql::{Bind, Statement};

/// Everything one send writes, decided by the database.
pub struct SendCall<'a> {
    pub email: &'a str,
    /// The canonical mailbox the send limits count.
    pub mailbox: &'a str,
    pub user_type: &'a str,
    pub requester: &'a str,
    pub now: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub cooldown_micros: i64,
    pub max_sends_per_hour: i32,
    pub max_sends_per_day: i32,
    pub mailbox_sends_per_day: i32,
    /// The code's hash, and the stand-in for an active account.
    pub hash: &'a [u8],
    pub decoy: &'a [u8],
    pub verification_hash: &'a [u8],
    /// The sealed email for each case: a new address, an inactive account, an
    /// active one.
    pub signup_email: &'a [u8],
    pub activation_email: &'a [u8],
    pub exists_email: &'a [u8],
    /// Register without a token: the registration that waits for this code.
    pub pending: Option<PendingCall<'a>>,
}

pub struct PendingCall<'a> {
    pub registration_hash: &'a [u8],
    pub hashed_password: &'a str,
    pub full_name: Option<&'a str>,
    pub expires_at: NaiveDateTime,
}

/// `signup`, `activation` or `account_exists`; or the send limit that refused,
/// with the wait in seconds.
#[derive(Debug, diesel::QueryableByName)]
pub struct SendRow {
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub retry_after_secs: Option<i64>,
}

pub fn send(conn: &mut PgConnection, call: &SendCall<'_>) -> QueryResult<SendRow> {
    let pending = call.pending.as_ref();
    Statement::new(
        "SELECT outcome, retry_after_secs FROM signup_otp_send(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
         ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            Bind::Text(call.email),
            Bind::Text(call.mailbox),
            Bind::Text(call.user_type),
            Bind::Text(call.requester),
            Bind::Time(call.now),
            Bind::Time(call.expires_at),
            Bind::Long(call.cooldown_micros),
            Bind::Int(call.max_sends_per_hour),
            Bind::Int(call.max_sends_per_day),
            Bind::Int(call.mailbox_sends_per_day),
            Bind::Bytes(call.hash),
            Bind::Bytes(call.decoy),
            Bind::Bytes(call.verification_hash),
            Bind::Bytes(call.signup_email),
            Bind::Bytes(call.activation_email),
            Bind::Bytes(call.exists_email),
            Bind::MaybeBytes(pending.map(|p| p.registration_hash)),
            Bind::MaybeText(pending.map(|p| p.hashed_password)),
            Bind::MaybeText(pending.and_then(|p| p.full_name)),
            Bind::MaybeTime(pending.map(|p| p.expires_at)),
        ],
    )
    .get_row(conn)
}

/// Everything one verify needs, for the database to decide and write.
pub struct VerifyCall<'a> {
    pub email: &'a str,
    pub user_type: &'a str,
    pub requester: &'a str,
    pub now: NaiveDateTime,
    /// The service's key ids, 4 bytes each, in order.
    pub key_ids: &'a [u8],
    /// The code's MAC under each key, blinded, 32 bytes each; `None` without a code.
    pub blinded: Option<&'a [u8]>,
    /// This request's random blinding prefix.
    pub blind: &'a [u8],
    /// The carried verification id's hash, blinded.
    pub holder_blinded: Option<&'a [u8]>,
    pub require_verification_id: bool,
    pub max_attempts: i32,
    pub lockout_threshold: i32,
    pub lock_until: NaiveDateTime,
    pub registration_hash: Option<&'a [u8]>,
    /// Stored if the code is right and no registration is finished.
    pub token_hash: &'a [u8],
    pub token_expires_at: NaiveDateTime,
    /// How long a verified signup code stays to be linked to its account.
    pub keep_until: NaiveDateTime,
}

#[derive(Debug, diesel::QueryableByName)]
pub struct VerifyRow {
    #[diesel(sql_type = Text)]
    pub verdict: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub locked_until: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub new_lock_until: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub recent_locks: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub account_id: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub account_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub account_full_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub account_created_at: Option<NaiveDateTime>,
}

pub fn verify(conn: &mut PgConnection, call: &VerifyCall<'_>) -> QueryResult<VerifyRow> {
    Statement::new(
        "SELECT verdict, locked_until, new_lock_until, recent_locks, account_id, \
         account_email, account_full_name, account_created_at FROM signup_otp_verify(?, ?, \
         ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            Bind::Text(call.email),
            Bind::Text(call.user_type),
            Bind::Text(call.requester),
            Bind::Time(call.now),
            Bind::Bytes(call.key_ids),
            Bind::MaybeBytes(call.blinded),
            Bind::Bytes(call.blind),
            Bind::MaybeBytes(call.holder_blinded),
            Bind::Bool(call.require_verification_id),
            Bind::Int(call.max_attempts),
            Bind::Int(call.lockout_threshold),
            Bind::Time(call.lock_until),
            Bind::MaybeBytes(call.registration_hash),
            Bind::Bytes(call.token_hash),
            Bind::Time(call.token_expires_at),
            Bind::Time(call.keep_until),
        ],
    )
    .get_row(conn)
}

/// The send limits' decision as PostgreSQL makes it, for the test that holds it
/// to `throttle::decide` (the `test-support` feature, which only the tests turn
/// on). Records are (last_sent_at, window_started_at, sends_in_window,
/// day_started_at, sends_in_day).
#[cfg(feature = "test-support")]
pub type WindowArgs = (
    NaiveDateTime,
    NaiveDateTime,
    i32,
    Option<NaiveDateTime>,
    i32,
);

#[cfg(feature = "test-support")]
#[derive(Debug, diesel::QueryableByName)]
pub struct ThrottleRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub retry_after_secs: Option<i64>,
}

#[cfg(feature = "test-support")]
#[derive(Debug, diesel::QueryableByName)]
pub struct CountedRow {
    #[diesel(sql_type = Timestamp)]
    pub n_last_sent_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub n_window_started_at: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    pub n_sends_in_window: i32,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub n_day_started_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Integer)]
    pub n_sends_in_day: i32,
}

/// `signup_otp_throttle` for the records given (the policy as in [`SendCall`]).
#[cfg(feature = "test-support")]
#[allow(clippy::too_many_arguments)]
pub fn throttle(
    conn: &mut PgConnection,
    mailbox: Option<WindowArgs>,
    requester: Option<WindowArgs>,
    now: NaiveDateTime,
    cooldown_micros: i64,
    max_sends_per_hour: i32,
    max_sends_per_day: i32,
    mailbox_sends_per_day: i32,
) -> QueryResult<ThrottleRow> {
    Statement::new(
        "SELECT reason, retry_after_secs FROM signup_otp_throttle(?, ?, ?, ?, ?, ?, ?, ?, ?, \
         ?, ?, ?, ?)",
        vec![
            Bind::MaybeTime(mailbox.map(|m| m.0)),
            Bind::MaybeTime(mailbox.and_then(|m| m.3)),
            Bind::Int(mailbox.map_or(0, |m| m.4)),
            Bind::MaybeTime(requester.map(|r| r.0)),
            Bind::MaybeTime(requester.map(|r| r.1)),
            Bind::Int(requester.map_or(0, |r| r.2)),
            Bind::MaybeTime(requester.and_then(|r| r.3)),
            Bind::Int(requester.map_or(0, |r| r.4)),
            Bind::Time(now),
            Bind::Long(cooldown_micros),
            Bind::Int(max_sends_per_hour),
            Bind::Int(max_sends_per_day),
            Bind::Int(mailbox_sends_per_day),
        ],
    )
    .get_row(conn)
}

/// `signup_otp_counted`: the record after one more send at `now`.
#[cfg(feature = "test-support")]
pub fn counted(
    conn: &mut PgConnection,
    current: Option<WindowArgs>,
    now: NaiveDateTime,
) -> QueryResult<CountedRow> {
    Statement::new(
        "SELECT n_last_sent_at, n_window_started_at, n_sends_in_window, n_day_started_at, \
         n_sends_in_day FROM signup_otp_counted(?, ?, ?, ?, ?, ?)",
        vec![
            Bind::MaybeTime(current.map(|c| c.0)),
            Bind::MaybeTime(current.map(|c| c.1)),
            Bind::Int(current.map_or(0, |c| c.2)),
            Bind::MaybeTime(current.and_then(|c| c.3)),
            Bind::Int(current.map_or(0, |c| c.4)),
            Bind::Time(now),
        ],
    )
    .get_row(conn)
}

/// `signup_otp_register`: `registered` with the account, or `invalid_token`.
#[derive(Debug, diesel::QueryableByName)]
pub struct RegisterRow {
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub account_id: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub account_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub account_full_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub account_created_at: Option<NaiveDateTime>,
}

/// Register with a signup token, as one statement. An address registered
/// meanwhile fails with a unique violation and changes nothing.
pub fn register(
    conn: &mut PgConnection,
    token_hash: &[u8],
    email: &str,
    user_type: &str,
    now: NaiveDateTime,
    hashed_password: &str,
    full_name: Option<&str>,
) -> QueryResult<RegisterRow> {
    Statement::new(
        "SELECT outcome, account_id, account_email, account_full_name, account_created_at \
         FROM signup_otp_register(?, ?, ?, ?, ?, ?)",
        vec![
            Bind::Bytes(token_hash),
            Bind::Text(email),
            Bind::Text(user_type),
            Bind::Time(now),
            Bind::Text(hashed_password),
            Bind::MaybeText(full_name),
        ],
    )
    .get_row(conn)
}

/// Whether a signup token is good now, and whether the address's account (if
/// any) is active: what register checks before it spends a password hash.
#[derive(Debug, diesel::QueryableByName)]
pub struct TokenCheckRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub good: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub active: bool,
}

pub fn check_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
    email: &str,
    user_type: &str,
    now: NaiveDateTime,
) -> QueryResult<TokenCheckRow> {
    let binds = vec![
        Bind::Bytes(token_hash),
        Bind::Text(email),
        Bind::Text(user_type),
        Bind::Time(now),
        Bind::Text(email),
    ];
    let sql = if user_type == "live" {
        "SELECT EXISTS (SELECT 1 FROM signup_tokens WHERE token_hash = ? AND email = ? AND \
         user_type = ? AND expires_at > ?) AS good, coalesce((SELECT is_active FROM users \
         WHERE email = ?), false) AS active"
    } else {
        "SELECT EXISTS (SELECT 1 FROM signup_tokens WHERE token_hash = ? AND email = ? AND \
         user_type = ? AND expires_at > ?) AS good, coalesce((SELECT is_active FROM \
         demo_users WHERE email = ?), false) AS active"
    };
    Statement::new(sql, binds).get_row(conn)
}
