//! `otps`: codes for existing accounts, one per account: an inactive account's
//! activation code, or an active account's stand-in (a hash no code has, so that
//! wrong guesses count there exactly as they do for an address without one).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::signup_otp::CodeTable;
use super::{Account, AccountId, Attempts};
use crate::db::DbConnection;
use crate::db::schema::otps;
use crate::db::sql::{Bind, Statement};
use crate::domain::{EmailAddress, UserType};

/// The account's code, replaced whole when there is one (by live or demo account).
const UPSERT_LIVE: &str = "\
    INSERT INTO otps (user_id, otp_hash, attempts, created_at, expires_at, \
    verification_hash, holder_attempts) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (user_id) \
    DO UPDATE SET otp_hash = excluded.otp_hash, attempts = excluded.attempts, \
    created_at = excluded.created_at, expires_at = excluded.expires_at, \
    verification_hash = excluded.verification_hash, holder_attempts = 0";
const UPSERT_DEMO: &str = "\
    INSERT INTO otps (demo_user_id, otp_hash, attempts, created_at, expires_at, \
    verification_hash, holder_attempts) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT \
    (demo_user_id) DO UPDATE SET otp_hash = excluded.otp_hash, attempts = \
    excluded.attempts, created_at = excluded.created_at, expires_at = excluded.expires_at, \
    verification_hash = excluded.verification_hash, holder_attempts = 0";

#[derive(Queryable, Selectable, Identifiable)]
#[diesel(table_name = otps, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Otp {
    pub id: i32,
    pub user_id: Option<i32>,
    pub demo_user_id: Option<i32>,
    pub otp_hash: Vec<u8>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// SHA-256 of the id handed to the client that asked for the code.
    pub verification_hash: Option<Vec<u8>>,
    /// Attempts spent by requests carrying that id.
    pub holder_attempts: i32,
}

/// A code to store for an account; see [`NewOtp::upsert`].
#[derive(Insertable)]
#[diesel(table_name = otps)]
pub struct NewOtp<'a> {
    pub user_id: Option<i32>,
    pub demo_user_id: Option<i32>,
    pub otp_hash: &'a [u8],
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub verification_hash: &'a [u8],
}

impl<'a> NewOtp<'a> {
    pub fn new(
        account: AccountId,
        otp_hash: &'a [u8],
        verification_hash: &'a [u8],
        created_at: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        let (user_id, demo_user_id) = match account {
            AccountId::Live(id) => (Some(id), None),
            AccountId::Demo(id) => (None, Some(id)),
        };
        Self {
            user_id,
            demo_user_id,
            otp_hash,
            attempts: 0,
            created_at,
            expires_at,
            verification_hash,
        }
    }

    /// Stores the account's code, or replaces its previous one and resets its attempts.
    pub fn upsert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let (conflict, account) = match (self.user_id, self.demo_user_id) {
            (Some(id), _) => (UPSERT_LIVE, id),
            (None, Some(id)) => (UPSERT_DEMO, id),
            (None, None) => unreachable!("an activation code belongs to an account"),
        };
        Statement::new(
            conflict,
            vec![
                Bind::Int(account),
                Bind::Bytes(self.otp_hash),
                Bind::Int(self.attempts),
                Bind::Time(self.created_at),
                Bind::Time(self.expires_at),
                Bind::Bytes(self.verification_hash),
            ],
        )
        .execute(conn)?;
        Ok(())
    }
}

impl Otp {
    /// An operator's expire: an inactive account's code, if still live,
    /// expires now. An active account's stand-in is left alone, also when the
    /// account is activated while this runs (the condition is in the statement).
    pub fn expire_for(
        conn: &mut DbConnection,
        account: AccountId,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        use crate::db::schema::{demo_users, users};
        let live = otps::expires_at.gt(now);
        match account {
            AccountId::Live(id) => {
                let inactive = users::table
                    .filter(users::id.eq(id))
                    .filter(users::is_active.eq(false));
                diesel::update(
                    otps::table
                        .filter(otps::user_id.eq(id))
                        .filter(live)
                        .filter(diesel::dsl::exists(inactive)),
                )
                .set(otps::expires_at.eq(now))
                .execute(conn)
            }
            AccountId::Demo(id) => {
                let inactive = demo_users::table
                    .filter(demo_users::id.eq(id))
                    .filter(demo_users::is_active.eq(false));
                diesel::update(
                    otps::table
                        .filter(otps::demo_user_id.eq(id))
                        .filter(live)
                        .filter(diesel::dsl::exists(inactive)),
                )
                .set(otps::expires_at.eq(now))
                .execute(conn)
            }
        }
    }

    /// The account of `user_type` registered under `email`, with its code if it
    /// has one: one query, whatever the case, so that verifying against an
    /// address with or without an account costs the same.
    pub fn find_with_account(
        conn: &mut DbConnection,
        user_type: UserType,
        email: &EmailAddress,
    ) -> QueryResult<Option<(Account, Option<Otp>)>> {
        use crate::db::schema::{demo_users, users};
        type Row = (i32, bool, Option<Otp>);
        let row: Option<Row> = match user_type {
            UserType::Live => users::table
                .left_join(otps::table.on(otps::user_id.eq(users::id.nullable())))
                .filter(users::email.eq(email.as_str()))
                .select((users::id, users::is_active, otps::all_columns.nullable()))
                .first(conn)
                .optional()?,
            UserType::Demo => demo_users::table
                .left_join(otps::table.on(otps::demo_user_id.eq(demo_users::id.nullable())))
                .filter(demo_users::email.eq(email.as_str()))
                .select((
                    demo_users::id,
                    demo_users::is_active,
                    otps::all_columns.nullable(),
                ))
                .first(conn)
                .optional()?,
        };
        Ok(row.map(|(id, is_active, otp)| {
            let id = match user_type {
                UserType::Live => AccountId::Live(id),
                UserType::Demo => AccountId::Demo(id),
            };
            (Account { id, is_active }, otp)
        }))
    }

    /// The account's code, whatever its state.
    pub fn find_for(conn: &mut DbConnection, account: AccountId) -> QueryResult<Option<Otp>> {
        let query = otps::table.select(Otp::as_select()).into_boxed();
        let query = match account {
            AccountId::Live(id) => query.filter(otps::user_id.eq(id)),
            AccountId::Demo(id) => query.filter(otps::demo_user_id.eq(id)),
        };
        query.first(conn).optional()
    }

    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.expires_at > now
    }

    /// Spends one attempt unless `max_attempts` are already spent; see
    /// [`SignupOtp::record_failed_attempt`](super::SignupOtp::record_failed_attempt).
    pub fn record_failed_attempt(
        conn: &mut DbConnection,
        id: i32,
        compared: &[u8],
        whose: Attempts,
        max_attempts: i32,
    ) -> QueryResult<bool> {
        whose.spend_one(CodeTable::Otps, conn, id, compared, max_attempts)
    }

    /// Deletes the code whose hash is `compared` if it can still be used; returns
    /// whether this call did. Of any number of concurrent calls, exactly one sees
    /// `true`, and a re-send that replaced the code meanwhile makes it `false`.
    pub fn consume(
        conn: &mut DbConnection,
        id: i32,
        compared: &[u8],
        whose: Attempts,
        max_attempts: i32,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let code = otps::table
            .filter(otps::id.eq(id))
            .filter(otps::otp_hash.eq(compared))
            .filter(otps::expires_at.gt(now));
        let deleted = match whose {
            Attempts::Anyone => {
                diesel::delete(code.filter(otps::attempts.lt(max_attempts))).execute(conn)?
            }
            Attempts::Holder => {
                diesel::delete(code.filter(otps::holder_attempts.lt(max_attempts))).execute(conn)?
            }
        };
        Ok(deleted == 1)
    }

    /// Deletes the account's code, if any (the account was just activated).
    pub fn delete_for(conn: &mut DbConnection, account: AccountId) -> QueryResult<usize> {
        match account {
            AccountId::Live(id) => {
                diesel::delete(otps::table.filter(otps::user_id.eq(id))).execute(conn)
            }
            AccountId::Demo(id) => {
                diesel::delete(otps::table.filter(otps::demo_user_id.eq(id))).execute(conn)
            }
        }
    }

    /// Deletes every code expired at `now`.
    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(otps::table.filter(otps::expires_at.le(now))).execute(conn)
    }
}
