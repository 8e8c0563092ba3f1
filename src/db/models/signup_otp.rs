//! `signup_otps`: codes for addresses that have no account yet, one per
//! (email, user_type). The methods carry the names of the functions the
//! original service had (`create_signup_otp`, `verify_signup_otp`, ...).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use super::AccountId;
use crate::db::DbConnection;
use crate::db::schema::signup_otps;
use crate::domain::{EmailAddress, UserType};

#[derive(Queryable, Selectable, Identifiable)]
#[diesel(table_name = signup_otps, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SignupOtp {
    pub id: i32,
    pub email: String,
    pub user_type: String,
    pub otp_hash: Vec<u8>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub is_verified: bool,
    pub verified_at: Option<NaiveDateTime>,
    pub user_id: Option<i32>,
    pub demo_user_id: Option<i32>,
    /// SHA-256 of the id handed to the client that asked for the code.
    pub verification_hash: Option<Vec<u8>>,
    /// Attempts spent by requests carrying that id.
    pub holder_attempts: i32,
}

/// The two tables that hold codes and count attempts alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeTable {
    SignupOtps,
    Otps,
}

/// Whose attempts a guess spends: those of the client that asked for the code
/// (it carries the code's verification id), or everyone else's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    Anyone,
    Holder,
}

impl Attempts {
    /// Spends one of these attempts on row `id` of `table`, unless
    /// `max_attempts` are spent or the row's hash is no longer `compared`;
    /// returns whether it did.
    pub(super) fn spend_one(
        self,
        table: CodeTable,
        conn: &mut DbConnection,
        id: i32,
        compared: &[u8],
        max_attempts: i32,
    ) -> QueryResult<bool> {
        macro_rules! spend {
            ($table:literal, $column:literal) => {
                concat!(
                    "UPDATE ",
                    $table,
                    " SET ",
                    $column,
                    " = ",
                    $column,
                    " + 1 WHERE id = ? AND otp_hash = ? AND ",
                    $column,
                    " < ?"
                )
            };
        }
        let sql = match (table, self) {
            (CodeTable::SignupOtps, Attempts::Anyone) => spend!("signup_otps", "attempts"),
            (CodeTable::SignupOtps, Attempts::Holder) => spend!("signup_otps", "holder_attempts"),
            (CodeTable::Otps, Attempts::Anyone) => spend!("otps", "attempts"),
            (CodeTable::Otps, Attempts::Holder) => spend!("otps", "holder_attempts"),
        };
        let changed = Statement::new(
            sql,
            vec![
                Bind::Int(id),
                Bind::Bytes(compared),
                Bind::Int(max_attempts),
            ],
        )
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// How many of these attempts a row has spent.
    pub fn spent(self, attempts: i32, holder_attempts: i32) -> i32 {
        match self {
            Attempts::Anyone => attempts,
            Attempts::Holder => holder_attempts,
        }
    }
}

/// A code to store for an address; see [`NewSignupOtp::upsert`].
#[derive(Insertable)]
#[diesel(table_name = signup_otps)]
pub struct NewSignupOtp<'a> {
    pub email: &'a str,
    pub user_type: &'a str,
    pub otp_hash: &'a [u8],
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub is_verified: bool,
    pub verified_at: Option<NaiveDateTime>,
    pub verification_hash: Option<&'a [u8]>,
}

impl<'a> NewSignupOtp<'a> {
    pub fn new(
        email: &'a EmailAddress,
        user_type: UserType,
        otp_hash: &'a [u8],
        verification_hash: Option<&'a [u8]>,
        created_at: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        Self {
            email: email.as_str(),
            user_type: user_type.as_str(),
            otp_hash,
            attempts: 0,
            created_at,
            expires_at,
            is_verified: false,
            verified_at: None,
            verification_hash,
        }
    }

    /// `create_signup_otp`: stores the code, or replaces the address's previous
    /// one, resetting its attempts and verification.
    pub fn upsert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        Statement::new(
            "INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, \
             expires_at, is_verified, verified_at, verification_hash, holder_attempts) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (email, user_type) DO UPDATE SET \
             otp_hash = excluded.otp_hash, attempts = excluded.attempts, created_at = \
             excluded.created_at, expires_at = excluded.expires_at, is_verified = \
             excluded.is_verified, verified_at = excluded.verified_at, verification_hash = \
             excluded.verification_hash, holder_attempts = 0",
            vec![
                Bind::Text(self.email),
                Bind::Text(self.user_type),
                Bind::Bytes(self.otp_hash),
                Bind::Int(self.attempts),
                Bind::Time(self.created_at),
                Bind::Time(self.expires_at),
                Bind::Bool(self.is_verified),
                Bind::MaybeTime(self.verified_at),
                Bind::MaybeBytes(self.verification_hash),
            ],
        )
        .execute(conn)?;
        Ok(())
    }
}

impl NewSignupOtp<'_> {
    /// Stores the code only if the address has no row at all; returns whether it
    /// did. For the Redis import, which must never replace what the service made.
    pub fn insert_if_absent(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        let inserted = Statement::new(
            "INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, \
             expires_at, is_verified, verified_at, verification_hash, holder_attempts) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (email, user_type) DO NOTHING",
            vec![
                Bind::Text(self.email),
                Bind::Text(self.user_type),
                Bind::Bytes(self.otp_hash),
                Bind::Int(self.attempts),
                Bind::Time(self.created_at),
                Bind::Time(self.expires_at),
                Bind::Bool(self.is_verified),
                Bind::MaybeTime(self.verified_at),
                Bind::MaybeBytes(self.verification_hash),
            ],
        )
        .execute(conn)?;
        Ok(inserted == 1)
    }
}

impl SignupOtp {
    /// An operator's expire: the address's code, if still live, expires now.
    pub fn expire(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            signup_otps::table
                .filter(signup_otps::email.eq(email.as_str()))
                .filter(signup_otps::user_type.eq(user_type.as_str()))
                .filter(signup_otps::is_verified.eq(false))
                .filter(signup_otps::expires_at.gt(now)),
        )
        .set(signup_otps::expires_at.eq(now))
        .execute(conn)
    }

    /// The address's code, whatever its state.
    pub fn find(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<Option<SignupOtp>> {
        signup_otps::table
            .filter(signup_otps::email.eq(email.as_str()))
            .filter(signup_otps::user_type.eq(user_type.as_str()))
            .select(SignupOtp::as_select())
            .first(conn)
            .optional()
    }

    /// Whether the code can still be tried: not expired, not already verified.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        !self.is_verified && self.expires_at > now
    }

    /// Spends one attempt of the code whose hash is `compared`, unless
    /// `max_attempts` are already spent or a re-send replaced it meanwhile;
    /// returns whether an attempt was recorded. One statement, so concurrent wrong
    /// guesses can never spend more than the limit.
    pub fn record_failed_attempt(
        conn: &mut DbConnection,
        id: i32,
        compared: &[u8],
        whose: Attempts,
        max_attempts: i32,
    ) -> QueryResult<bool> {
        whose.spend_one(CodeTable::SignupOtps, conn, id, compared, max_attempts)
    }

    /// `verify_signup_otp`: marks the code whose hash is `compared` verified if it
    /// still can be (the same code, unverified, unexpired, attempts left) and keeps
    /// the row until `keep_until`, for register to link to the account; returns
    /// whether this call did it. Of any number of concurrent calls, exactly one
    /// sees `true`, and a re-send that replaced the code meanwhile makes it `false`.
    pub fn mark_verified(
        conn: &mut DbConnection,
        id: i32,
        compared: &[u8],
        whose: Attempts,
        max_attempts: i32,
        now: NaiveDateTime,
        keep_until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let sql = match whose {
            Attempts::Anyone => {
                "UPDATE signup_otps SET is_verified = ?, verified_at = ?, expires_at = ? WHERE \
                 id = ? AND otp_hash = ? AND is_verified = ? AND attempts < ? AND expires_at > ?"
            }
            Attempts::Holder => {
                "UPDATE signup_otps SET is_verified = ?, verified_at = ?, expires_at = ? WHERE \
                 id = ? AND otp_hash = ? AND is_verified = ? AND holder_attempts < ? AND \
                 expires_at > ?"
            }
        };
        let changed = Statement::new(
            sql,
            vec![
                Bind::Bool(true),
                Bind::Time(now),
                Bind::Time(keep_until),
                Bind::Int(id),
                Bind::Bytes(compared),
                Bind::Bool(false),
                Bind::Int(max_attempts),
                Bind::Time(now),
            ],
        )
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// Records on the address's row that it was verified at `verified_at` and
    /// became `account`; returns whether there was a row to record it on. The row
    /// then stays as the record of how the account's address was verified, and a
    /// code still pending on it (sent after the verification) is dead.
    pub fn link_account(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        verified_at: NaiveDateTime,
        account: AccountId,
    ) -> QueryResult<bool> {
        let row = signup_otps::table
            .filter(signup_otps::email.eq(email.as_str()))
            .filter(signup_otps::user_type.eq(user_type.as_str()))
            .filter(signup_otps::user_id.is_null())
            .filter(signup_otps::demo_user_id.is_null());
        let verified = (
            signup_otps::is_verified.eq(true),
            signup_otps::verified_at.eq(verified_at),
        );
        let changed = match account {
            AccountId::Live(id) => diesel::update(row)
                .set((verified, signup_otps::user_id.eq(id)))
                .execute(conn)?,
            AccountId::Demo(id) => diesel::update(row)
                .set((verified, signup_otps::demo_user_id.eq(id)))
                .execute(conn)?,
        };
        Ok(changed == 1)
    }

    /// Deletes the address's pending code, if any (it has an account now). A row
    /// linked to an account is its verification record and stays.
    pub fn delete_unlinked_for(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<usize> {
        diesel::delete(
            signup_otps::table
                .filter(signup_otps::email.eq(email.as_str()))
                .filter(signup_otps::user_type.eq(user_type.as_str()))
                .filter(signup_otps::user_id.is_null())
                .filter(signup_otps::demo_user_id.is_null()),
        )
        .execute(conn)
    }

    /// `cleanup_expired_signup_otps`: deletes every code expired at `now`, and every
    /// verification that was never used to register; keeps those linked to accounts.
    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(
            signup_otps::table
                .filter(signup_otps::expires_at.le(now))
                .filter(signup_otps::user_id.is_null())
                .filter(signup_otps::demo_user_id.is_null()),
        )
        .execute(conn)
    }
}
