//! `idempotency_keys`: the response each `Idempotency-Key` got, per route and
//! per identity the request was about (`scope`), so that a retry is answered from
//! here instead of running again. A row without a status is a request still
//! running; its lock lapses at `locked_until` so that a request whose instance
//! died does not hold its key until the row expires.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::db::{DbConnection, write_transaction};
use crate::per_backend;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct IdempotencyRecord {
    pub route: String,
    pub scope: Vec<u8>,
    pub idempotency_key: String,
    pub fingerprint: Vec<u8>,
    pub status_code: Option<i32>,
    pub response: Option<Vec<u8>>,
    pub locked_until: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// What a request holding a key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: run, then [`IdempotencyRecord::complete`] or
    /// [`IdempotencyRecord::release`].
    Run,
    /// A request with the same key and body is running.
    InFlight,
    /// The key was used with another body: the stored answer is void now, and
    /// this request runs as if it had no key.
    Mismatch,
    /// The request ran before: answer with its response (body as stored).
    Replay { status: i32, response: Vec<u8> },
}

impl IdempotencyRecord {
    /// A new, running record.
    pub fn running(
        route: &str,
        scope: &[u8],
        key: &str,
        fingerprint: &[u8],
        now: NaiveDateTime,
        locked_until: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        Self {
            route: route.to_owned(),
            scope: scope.to_vec(),
            idempotency_key: key.to_owned(),
            fingerprint: fingerprint.to_vec(),
            status_code: None,
            response: None,
            locked_until,
            created_at: now,
            expires_at,
        }
    }

    /// Takes the key for `self` (a [`running`](Self::running) record), or says why
    /// not, in one write transaction. An expired record, or a running one whose
    /// lock has lapsed, is taken over. `same_body` are the fingerprints that count
    /// as this request's body (one per key in use, so a rotation changes nothing).
    pub fn claim(&self, conn: &mut DbConnection, same_body: &[Vec<u8>]) -> QueryResult<Claim> {
        write_transaction(conn, |conn| {
            // A record deleted (released, cleaned up) between the insert and the
            // read makes the insert worth another try.
            loop {
                let inserted =
                    per_backend!(conn, |c| diesel::insert_into(idempotency_keys::table)
                        .values(self)
                        .on_conflict_do_nothing()
                        .execute(c))?;
                if inserted == 1 {
                    return Ok(Claim::Run);
                }
                let current = idempotency_keys::table
                    .find((&self.route, &self.scope, &self.idempotency_key))
                    .select(IdempotencyRecord::as_select())
                    .first(conn)
                    .optional()?;
                if let Some(current) = current {
                    return self.decide(conn, current, same_body);
                }
            }
        })
    }

    fn decide(
        &self,
        conn: &mut DbConnection,
        current: IdempotencyRecord,
        same_body: &[Vec<u8>],
    ) -> QueryResult<Claim> {
        let now = self.created_at;
        let expired = current.expires_at <= now;
        if !expired && !same_body.contains(&current.fingerprint) {
            // Another body under this key: a client reusing keys, or someone who
            // learnt the key trying other codes against its stored answer. Either
            // way the answer is void, so that no guess can ever be served it.
            diesel::delete(idempotency_keys::table.find((
                &current.route,
                &current.scope,
                &current.idempotency_key,
            )))
            .execute(conn)?;
            return Ok(Claim::Mismatch);
        }
        let lock_lapsed = current.status_code.is_none() && current.locked_until <= now;
        if expired || lock_lapsed {
            return Ok(if self.replace(conn, &current)? {
                Claim::Run
            } else {
                Claim::InFlight
            });
        }
        Ok(match (current.status_code, current.response) {
            (Some(status), Some(response)) => Claim::Replay { status, response },
            _ => Claim::InFlight,
        })
    }

    /// Overwrites `expected` with `self` if it is still what was read.
    fn replace(&self, conn: &mut DbConnection, expected: &IdempotencyRecord) -> QueryResult<bool> {
        use crate::db::schema::idempotency_keys as keys;
        let changed = diesel::update(keys::table.find((
            &expected.route,
            &expected.scope,
            &expected.idempotency_key,
        )))
        .filter(keys::created_at.eq(expected.created_at))
        .filter(keys::locked_until.eq(expected.locked_until))
        .set((
            keys::fingerprint.eq(&self.fingerprint),
            keys::status_code.eq(None::<i32>),
            keys::response.eq(None::<Vec<u8>>),
            keys::locked_until.eq(self.locked_until),
            keys::created_at.eq(self.created_at),
            keys::expires_at.eq(self.expires_at),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// Stores the response of the request that claimed the key at `claimed_at`.
    pub fn complete(
        conn: &mut DbConnection,
        route: &str,
        scope: &[u8],
        key: &str,
        claimed_at: NaiveDateTime,
        status: i32,
        sealed_response: &[u8],
    ) -> QueryResult<usize> {
        use crate::db::schema::idempotency_keys as keys;
        diesel::update(keys::table.find((route, scope, key)))
            .filter(keys::created_at.eq(claimed_at))
            .set((
                keys::status_code.eq(status),
                keys::response.eq(sealed_response),
            ))
            .execute(conn)
    }

    /// Gives the key back unanswered (the request failed in a way worth retrying).
    pub fn release(
        conn: &mut DbConnection,
        route: &str,
        scope: &[u8],
        key: &str,
        claimed_at: NaiveDateTime,
    ) -> QueryResult<usize> {
        use crate::db::schema::idempotency_keys as keys;
        diesel::delete(
            keys::table
                .find((route, scope, key))
                .filter(keys::created_at.eq(claimed_at))
                .filter(keys::status_code.is_null()),
        )
        .execute(conn)
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now)))
            .execute(conn)
    }
}
