//! `redis_imports`: the codes import-redis has brought over, as a keyed hash of
//! identity and code, kept until the Redis key would have expired, so that a
//! second run never brings a code back that was used or replaced since.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::redis_imports;

pub struct RedisImport;

impl RedisImport {
    /// Whether any of `fingerprints` (the same code under each key in use) was imported.
    pub fn seen(conn: &mut DbConnection, fingerprints: &[Vec<u8>]) -> QueryResult<bool> {
        let count: i64 = redis_imports::table
            .filter(redis_imports::fingerprint.eq_any(fingerprints))
            .count()
            .get_result(conn)?;
        Ok(count > 0)
    }

    pub fn remember(
        conn: &mut DbConnection,
        fingerprint: &[u8],
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::insert_into(redis_imports::table)
            .values((
                redis_imports::fingerprint.eq(fingerprint),
                redis_imports::imported_at.eq(now),
                redis_imports::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .map(drop)
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(redis_imports::table.filter(redis_imports::expires_at.le(now))).execute(conn)
    }
}
