//! `signup_tokens`: proof that someone read a code sent to an address, waiting to
//! be used by register. Only the SHA-256 of each token is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::signup_tokens;
use crate::domain::{EmailAddress, UserType};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signup_tokens, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SignupToken {
    pub token_hash: Vec<u8>,
    pub email: String,
    pub user_type: String,
    pub verified_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

impl SignupToken {
    pub fn new(
        token_hash: &[u8],
        email: &EmailAddress,
        user_type: UserType,
        verified_at: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        Self {
            token_hash: token_hash.to_vec(),
            email: email.as_str().to_owned(),
            user_type: user_type.as_str().to_owned(),
            verified_at,
            expires_at,
        }
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(signup_tokens::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Whether the token with `token_hash` is for this identity and good at `now`.
    pub fn is_good(
        conn: &mut DbConnection,
        token_hash: &[u8],
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let count: i64 = signup_tokens::table
            .find(token_hash)
            .filter(signup_tokens::email.eq(email.as_str()))
            .filter(signup_tokens::user_type.eq(user_type.as_str()))
            .filter(signup_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)?;
        Ok(count == 1)
    }

    /// Uses up the token with `token_hash` if it is for this identity and still
    /// good at `now`, and says when its address was verified. Of concurrent calls,
    /// exactly one gets it (the delete's row count decides).
    pub fn take(
        conn: &mut DbConnection,
        token_hash: &[u8],
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
    ) -> QueryResult<Option<NaiveDateTime>> {
        let found = signup_tokens::table
            .find(token_hash)
            .filter(signup_tokens::email.eq(email.as_str()))
            .filter(signup_tokens::user_type.eq(user_type.as_str()))
            .filter(signup_tokens::expires_at.gt(now))
            .select(signup_tokens::verified_at)
            .first::<NaiveDateTime>(conn)
            .optional()?;
        let Some(verified_at) = found else {
            return Ok(None);
        };
        let deleted = diesel::delete(signup_tokens::table.find(token_hash)).execute(conn)?;
        Ok((deleted == 1).then_some(verified_at))
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(signup_tokens::table.filter(signup_tokens::expires_at.le(now))).execute(conn)
    }
}
