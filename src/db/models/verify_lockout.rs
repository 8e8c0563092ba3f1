//! `verify_lockouts`: consecutive wrong codes per (email, user_type), across any
//! number of re-sent codes, and the lock they lead to.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::DbConnection;
use crate::db::schema::verify_lockouts;
use crate::domain::{EmailAddress, UserType};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = verify_lockouts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VerifyLockout {
    pub email: String,
    pub user_type: String,
    pub consecutive_failures: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_failure_at: NaiveDateTime,
}

impl VerifyLockout {
    pub fn find(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<Option<VerifyLockout>> {
        verify_lockouts::table
            .find((email.as_str(), user_type.as_str()))
            .select(VerifyLockout::as_select())
            .first(conn)
            .optional()
    }

    /// Until when the identity is locked, if it is at `now`.
    pub fn locked_at(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Counts one more wrong code; at `threshold` the identity is locked until
    /// `lock_until` and the count starts again. Returns the lock if this failure
    /// started one. One upsert then one conditional update, both on the row's
    /// lock, so concurrent failures all count.
    pub fn record_failure(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
        threshold: i32,
        lock_until: NaiveDateTime,
    ) -> QueryResult<Option<NaiveDateTime>> {
        Statement::new(
            "INSERT INTO verify_lockouts (email, user_type, consecutive_failures, \
             last_failure_at) VALUES (?, ?, 1, ?) ON CONFLICT (email, user_type) DO UPDATE \
             SET consecutive_failures = verify_lockouts.consecutive_failures + 1, \
             last_failure_at = excluded.last_failure_at",
            vec![
                Bind::Text(email.as_str()),
                Bind::Text(user_type.as_str()),
                Bind::Time(now),
            ],
        )
        .execute(conn)?;
        let locked = Statement::new(
            "UPDATE verify_lockouts SET consecutive_failures = 0, locked_until = ? WHERE \
             email = ? AND user_type = ? AND consecutive_failures >= ?",
            vec![
                Bind::Time(lock_until),
                Bind::Text(email.as_str()),
                Bind::Text(user_type.as_str()),
                Bind::Int(threshold),
            ],
        )
        .execute(conn)?;
        Ok((locked == 1).then_some(lock_until))
    }

    /// A right code: the count starts again.
    pub fn clear(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<usize> {
        diesel::delete(verify_lockouts::table.find((email.as_str(), user_type.as_str())))
            .execute(conn)
    }

    /// Forgets counts whose last failure was before `before`, unless a lock still runs.
    pub fn delete_stale(
        conn: &mut DbConnection,
        before: NaiveDateTime,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        use crate::db::schema::verify_lockouts::dsl as v;
        diesel::delete(
            v::verify_lockouts
                .filter(v::last_failure_at.le(before))
                .filter(v::locked_until.is_null().or(v::locked_until.le(now))),
        )
        .execute(conn)
    }
}
