//! `pending_registrations`: a register call without a signup token, waiting for
//! the code. Keyed by the SHA-256 of the registration_id its caller got, so that
//! only that caller can turn it into an account (by verifying the code with it),
//! and another register for the same address never replaces it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::pending_registrations;
use crate::domain::{EmailAddress, UserType};

#[derive(Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pending_registrations, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PendingRegistration {
    pub registration_hash: Vec<u8>,
    pub email: String,
    pub user_type: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// No `Debug` of the password hash.
impl std::fmt::Debug for PendingRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRegistration")
            .field("user_type", &self.user_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingRegistration {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(pending_registrations::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Removes and returns the registration with `registration_hash`, if it is for
    /// this identity and still good at `now`.
    pub fn take(
        conn: &mut DbConnection,
        registration_hash: &[u8],
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
    ) -> QueryResult<Option<PendingRegistration>> {
        let found = pending_registrations::table
            .find(registration_hash)
            .filter(pending_registrations::email.eq(email.as_str()))
            .filter(pending_registrations::user_type.eq(user_type.as_str()))
            .filter(pending_registrations::expires_at.gt(now))
            .select(PendingRegistration::as_select())
            .first(conn)
            .optional()?;
        let Some(found) = found else {
            return Ok(None);
        };
        let deleted =
            diesel::delete(pending_registrations::table.find(registration_hash)).execute(conn)?;
        Ok((deleted == 1).then_some(found))
    }

    /// An identity has an account now: whatever waited for it is void.
    pub fn delete_for(
        conn: &mut DbConnection,
        email: &EmailAddress,
        user_type: UserType,
    ) -> QueryResult<usize> {
        diesel::delete(
            pending_registrations::table
                .filter(pending_registrations::email.eq(email.as_str()))
                .filter(pending_registrations::user_type.eq(user_type.as_str())),
        )
        .execute(conn)
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(
            pending_registrations::table.filter(pending_registrations::expires_at.le(now)),
        )
        .execute(conn)
    }
}
