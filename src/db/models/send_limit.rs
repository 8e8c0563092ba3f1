//! `otp_send_limits`: when each (email, user_type) was last sent a message and how
//! many it has had in the current hourly window. Kept apart from the codes so that
//! addresses with and without accounts are throttled alike.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::DbConnection;
use crate::db::schema::otp_send_limits;
use crate::domain::UserType;

/// The `requester` of the mailbox-wide record.
pub const MAILBOX_WIDE: &str = "";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = otp_send_limits, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SendLimit {
    pub email: String,
    pub user_type: String,
    pub last_sent_at: NaiveDateTime,
    pub window_started_at: NaiveDateTime,
    pub sends_in_window: i32,
    pub day_started_at: Option<NaiveDateTime>,
    pub sends_in_day: i32,
    pub requester: String,
}

impl SendLimit {
    /// Every record of one mailbox: its own ([`MAILBOX_WIDE`]) and each requester's.
    pub fn for_identity(
        conn: &mut DbConnection,
        mailbox: &str,
        user_type: UserType,
    ) -> QueryResult<Vec<SendLimit>> {
        otp_send_limits::table
            .filter(otp_send_limits::email.eq(mailbox))
            .filter(otp_send_limits::user_type.eq(user_type.as_str()))
            .order(otp_send_limits::last_sent_at.desc())
            .select(SendLimit::as_select())
            .load(conn)
    }

    /// The record of `mailbox` for `requester` ([`MAILBOX_WIDE`] for the mailbox's own).
    pub fn find(
        conn: &mut DbConnection,
        mailbox: &str,
        user_type: UserType,
        requester: &str,
    ) -> QueryResult<Option<SendLimit>> {
        otp_send_limits::table
            .find((mailbox, user_type.as_str(), requester))
            .select(SendLimit::as_select())
            .first(conn)
            .optional()
    }

    /// The mailbox-wide record and `requester`'s, in one query (either may be
    /// missing).
    pub fn find_both(
        conn: &mut DbConnection,
        mailbox: &str,
        user_type: UserType,
        requester: &str,
    ) -> QueryResult<Vec<SendLimit>> {
        otp_send_limits::table
            .filter(otp_send_limits::email.eq(mailbox))
            .filter(otp_send_limits::user_type.eq(user_type.as_str()))
            .filter(otp_send_limits::requester.eq_any([MAILBOX_WIDE, requester]))
            .select(SendLimit::as_select())
            .load(conn)
    }

    /// Inserts the first record for an identity; returns `false` if a concurrent
    /// send inserted one first (`ON CONFLICT DO NOTHING`, so the transaction
    /// stays usable and the caller can re-read the winner's record).
    pub fn insert_new(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        let inserted = Statement::new(
            "INSERT INTO otp_send_limits (email, user_type, requester, last_sent_at, \
             window_started_at, sends_in_window, day_started_at, sends_in_day) VALUES (?, \
             ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            vec![
                Bind::Text(&self.email),
                Bind::Text(&self.user_type),
                Bind::Text(&self.requester),
                Bind::Time(self.last_sent_at),
                Bind::Time(self.window_started_at),
                Bind::Int(self.sends_in_window),
                Bind::MaybeTime(self.day_started_at),
                Bind::Int(self.sends_in_day),
            ],
        )
        .execute(conn)?;
        Ok(inserted == 1)
    }

    /// Writes the record whatever it held: for a record only ever written by a
    /// transaction that already holds its mailbox-wide record (so nobody else
    /// writes it meanwhile).
    pub fn upsert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        Statement::new(
            "INSERT INTO otp_send_limits (email, user_type, requester, last_sent_at, \
             window_started_at, sends_in_window, day_started_at, sends_in_day) VALUES (?, \
             ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email, user_type, requester) DO UPDATE SET \
             last_sent_at = excluded.last_sent_at, window_started_at = \
             excluded.window_started_at, sends_in_window = excluded.sends_in_window, \
             day_started_at = excluded.day_started_at, sends_in_day = excluded.sends_in_day",
            vec![
                Bind::Text(&self.email),
                Bind::Text(&self.user_type),
                Bind::Text(&self.requester),
                Bind::Time(self.last_sent_at),
                Bind::Time(self.window_started_at),
                Bind::Int(self.sends_in_window),
                Bind::MaybeTime(self.day_started_at),
                Bind::Int(self.sends_in_day),
            ],
        )
        .execute(conn)?;
        Ok(())
    }

    /// Replaces `expected` with `self` if the row still holds `expected` (every
    /// send moves `last_sent_at` and the window count, so those identify it);
    /// returns whether it did. A concurrent send that got there first makes this
    /// return `false` (on PostgreSQL the second writer waits for the first's row
    /// lock, then re-reads the row and no longer matches).
    pub fn replace(&self, conn: &mut DbConnection, expected: &SendLimit) -> QueryResult<bool> {
        let changed = Statement::new(
            "UPDATE otp_send_limits SET last_sent_at = ?, window_started_at = ?, \
             sends_in_window = ?, day_started_at = ?, sends_in_day = ? WHERE email = ? AND \
             user_type = ? AND requester = ? AND last_sent_at = ? AND window_started_at = ? \
             AND sends_in_window = ?",
            vec![
                Bind::Time(self.last_sent_at),
                Bind::Time(self.window_started_at),
                Bind::Int(self.sends_in_window),
                Bind::MaybeTime(self.day_started_at),
                Bind::Int(self.sends_in_day),
                Bind::Text(&expected.email),
                Bind::Text(&expected.user_type),
                Bind::Text(&expected.requester),
                Bind::Time(expected.last_sent_at),
                Bind::Time(expected.window_started_at),
                Bind::Int(expected.sends_in_window),
            ],
        )
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// Deletes records that can no longer hold anything back: their hourly window
    /// started before `window_before`, their daily one before `day_before`, and
    /// their last send was before `cooldown_before`.
    pub fn delete_stale(
        conn: &mut DbConnection,
        window_before: NaiveDateTime,
        day_before: NaiveDateTime,
        cooldown_before: NaiveDateTime,
    ) -> QueryResult<usize> {
        use crate::db::schema::otp_send_limits::dsl::*;
        diesel::delete(
            otp_send_limits
                .filter(window_started_at.le(window_before))
                .filter(day_started_at.is_null().or(day_started_at.le(day_before)))
                .filter(last_sent_at.le(cooldown_before)),
        )
        .execute(conn)
    }
}
