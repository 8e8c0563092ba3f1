//! The r2d2 pool and its connection manager.
//!
//! Diesel's derived `establish` tries each backend in turn, hides the real error,
//! and lets SQLite take any string for a file name; this manager picks the backend
//! from the already-parsed [`DatabaseUrl`] and sets each connection up.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::DbConnection;
use crate::config::DatabaseUrl;
use crate::metrics::{Metrics, PoolEvents};

pub type DbPool = r2d2::Pool<ConnectionManager>;

/// How long a SQLite writer waits for another to finish before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(Debug, Clone)]
pub struct ConnectionManager {
    database: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(database: DatabaseUrl) -> Self {
        Self { database }
    }
}

/// Why a new connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error("could not set the connection up")]
    Setup(#[from] diesel::result::Error),
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        match &self.database {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url)?;
                // Stored timestamps are UTC; the session zone must agree, whatever the
                // server's or the database's default is.
                conn.batch_execute("SET TIME ZONE 'UTC'")?;
                Ok(DbConnection::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        Ok(conn.ping()?)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// A pool of `size` connections; a checkout waits at most `timeout`, so a database
/// that is down turns into a prompt error instead of a hung request.
///
/// No connection is opened here: the first checkout opens one, so a service that
/// starts while its database is down comes up and recovers once the database does.
pub fn build_pool(database: &DatabaseUrl, size: u32, timeout: Duration) -> DbPool {
    builder(size, timeout).build_unchecked(ConnectionManager::new(database.clone()))
}

/// [`build_pool`], counting checkout waits and timeouts into `metrics`.
pub fn build_observed_pool(
    database: &DatabaseUrl,
    size: u32,
    timeout: Duration,
    metrics: &Metrics,
) -> DbPool {
    builder(size, timeout)
        .event_handler(Box::new(PoolEvents(metrics.clone())))
        .build_unchecked(ConnectionManager::new(database.clone()))
}

fn builder(size: u32, timeout: Duration) -> r2d2::Builder<ConnectionManager> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(timeout)
}
