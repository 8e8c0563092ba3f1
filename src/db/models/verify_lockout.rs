//! `verify_lockouts`: consecutive wrong codes per (email, user_type) and
//! requester, across any number of re-sent codes, and the lock they lead to. A
//! stranger's wrong guesses lock the stranger's network out of verifying that
//! address, not its owner.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::DbConnection;
use crate::db::schema::verify_lockouts;
use crate::domain::{EmailAddress, Requester, UserType};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = verify_lockouts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VerifyLockout {
    pub email: String,
    pub user_type: String,
    pub consecutive_failures: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_failure_at: NaiveDateTime,
    pub requester: String,
    /// How many locks this record has started.
    pub lockouts: i32,
}

/// A lock that a wrong code has just started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLock {
    pub until: NaiveDateTime,
    /// Locks started on this identity, by any requester, whose records are still
    /// kept (failures within the last day): more than one is an attack going on.
    pub recent_locks: i64,
}

impl VerifyLockout {
    /// Every requester's record for one identity (support's view).
    pub fn for_identity(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<Vec<VerifyLockout>> {
        verify_lockouts::table
            .filter(verify_lockouts::email.eq(email.as_str()))
            .filter(verify_lockouts::user_type.eq(user_type.as_str()))
            .order(verify_lockouts::last_failure_at.desc())
            .select(VerifyLockout::as_select())
            .load(conn)
    }

    /// An operator's unlock: every requester's count and lock on the identity go.
    pub fn clear_identity(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<usize> {
        diesel::delete(
            verify_lockouts::table
                .filter(verify_lockouts::email.eq(email.as_str()))
                .filter(verify_lockouts::user_type.eq(user_type.as_str())),
        )
        .execute(conn)
    }

    pub fn find(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        requester: &Requester,
    ) -> QueryResult<Option<VerifyLockout>> {
        verify_lockouts::table
            .find((email.as_str(), user_type.as_str(), requester.as_str()))
            .select(VerifyLockout::as_select())
            .first(conn)
            .optional()
    }

    /// Until when the record is locked, if it is at `now`.
    pub fn locked_at(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Counts one more wrong code; at `threshold` the requester is locked out of
    /// the identity until `lock_until` and the count starts again. Returns the
    /// lock if this failure started one. One upsert then one conditional update,
    /// both on the row's lock, so concurrent failures all count.
    pub fn record_failure(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        requester: &Requester,
        now: NaiveDateTime,
        threshold: i32,
        lock_until: NaiveDateTime,
    ) -> QueryResult<Option<NewLock>> {
        Statement::new(
            "INSERT INTO verify_lockouts (email, user_type, requester, consecutive_failures, \
             last_failure_at) VALUES (?, ?, ?, 1, ?) ON CONFLICT (email, user_type, requester) \
             DO UPDATE SET consecutive_failures = verify_lockouts.consecutive_failures + 1, \
             last_failure_at = excluded.last_failure_at",
            vec![
                Bind::Text(email.as_str()),
                Bind::Text(user_type.as_str()),
                Bind::Text(requester.as_str()),
                Bind::Time(now),
            ],
        )
        .execute(conn)?;
        let locked = Statement::new(
            "UPDATE verify_lockouts SET consecutive_failures = 0, locked_until = ?, \
             lockouts = lockouts + 1 WHERE email = ? AND user_type = ? AND requester = ? AND \
             consecutive_failures >= ?",
            vec![
                Bind::Time(lock_until),
                Bind::Text(email.as_str()),
                Bind::Text(user_type.as_str()),
                Bind::Text(requester.as_str()),
                Bind::Int(threshold),
            ],
        )
        .execute(conn)?;
        if locked != 1 {
            return Ok(None);
        }
        let recent_locks = verify_lockouts::table
            .filter(verify_lockouts::email.eq(email.as_str()))
            .filter(verify_lockouts::user_type.eq(user_type.as_str()))
            .select(diesel::dsl::sum(verify_lockouts::lockouts))
            .first::<Option<i64>>(conn)?
            .unwrap_or(0);
        Ok(Some(NewLock {
            until: lock_until,
            recent_locks,
        }))
    }

    /// A right code from this requester: its count starts again.
    pub fn clear(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
        requester: &Requester,
    ) -> QueryResult<usize> {
        diesel::delete(verify_lockouts::table.find((
            email.as_str(),
            user_type.as_str(),
            requester.as_str(),
        )))
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
