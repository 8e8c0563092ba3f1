//! The r2d2 pool and its connection manager.
//!
//! Diesel's derived `establish` tries each backend in turn, hides the real error,
//! and lets SQLite take any string for a file name; this manager picks the backend
//! from the already-parsed [`DatabaseUrl`] and sets each connection up.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::DatabaseUrl;
use super::DbConnection;
use crate::metrics::{Metrics, PoolEvents};

pub type DbPool = r2d2::Pool<ConnectionManager>;

/// A connection given back in working order this recently is handed out again
/// without a check (`SELECT 1`): under load that check was one database round
/// trip in ten. One idle for longer is checked first, so a database that restarted
/// meanwhile costs no request; one that died within this window fails one request
/// (a 503) and is then replaced.
const TRUSTED_AFTER_USE: Duration = Duration::from_secs(1);

/// A pooled connection, and when it was last known to work.
pub struct PooledDb {
    conn: DbConnection,
    known_good_at: Instant,
    lost: bool,
}

impl PooledDb {
    /// Drops the connection when it goes back to the pool: a statement on it
    /// failed the way a lost connection fails.
    pub fn discard(&mut self) {
        self.lost = true;
    }
}

impl Deref for PooledDb {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for PooledDb {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

#[derive(Debug, Clone)]
pub struct ConnectionManager {
    database: DatabaseUrl,
    /// The longest any one database call may take (`DB_POOL_TIMEOUT_SECS`).
    timeout: Duration,
}

impl ConnectionManager {
    pub fn new(database: DatabaseUrl, timeout: Duration) -> Self {
        Self { database, timeout }
    }
}

/// libpq settings for a connection that fails instead of hanging: a connect
/// timeout, TCP keepalives, and a bound on unacknowledged data, so that a server
/// or a network that silently drops packets turns into an error within seconds.
/// Settings the URL already has win.
pub fn postgres_url_with_timeouts(url: &str, timeout: Duration) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let secs = timeout.as_secs().max(2);
    let defaults = [
        ("connect_timeout", secs.to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "30".to_owned()),
        ("keepalives_interval", "5".to_owned()),
        ("keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", (secs * 1000).to_string()),
    ];
    let present: Vec<String> = parsed
        .query_pairs()
        .map(|(key, _)| key.into_owned())
        .collect();
    {
        let mut query = parsed.query_pairs_mut();
        for (key, value) in defaults {
            if !present.iter().any(|p| p == key) {
                query.append_pair(key, &value);
            }
        }
    }
    parsed.to_string()
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
    type Connection = PooledDb;
    type Error = ConnectError;

    fn connect(&self) -> Result<PooledDb, ConnectError> {
        Ok(PooledDb {
            conn: self.open()?,
            known_good_at: Instant::now(),
            lost: false,
        })
    }

    /// On checkout: trusts a connection that worked moments ago, checks any other.
    fn is_valid(&self, pooled: &mut PooledDb) -> Result<(), ConnectError> {
        if pooled.known_good_at.elapsed() >= TRUSTED_AFTER_USE {
            pooled.conn.ping()?;
            pooled.known_good_at = Instant::now();
        }
        Ok(())
    }

    /// On check-in: a connection that broke (or lost its server, see
    /// [`PooledDb::discard`]) is dropped; any other is known good as of now.
    fn has_broken(&self, pooled: &mut PooledDb) -> bool {
        let broken = pooled.lost || std::thread::panicking() || pooled.conn.is_broken();
        if !broken {
            pooled.known_good_at = Instant::now();
        }
        broken
    }
}

impl ConnectionManager {
    fn open(&self) -> Result<DbConnection, ConnectError> {
        match &self.database {
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(&postgres_url_with_timeouts(url, self.timeout))?;
                // Stored timestamps are UTC; the session zone must agree, whatever the
                // server's or the database's default is. No statement may outlast
                // the time a request waits for the database.
                conn.batch_execute(&format!(
                    "SET TIME ZONE 'UTC'; SET statement_timeout = {}",
                    self.timeout.as_millis()
                ))?;
                Ok(DbConnection::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // A writer waits for another process that holds the file (a
                // backup, a migration tool) no longer than a request waits.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;",
                    self.timeout.as_millis()
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A pool of `size` connections; a checkout waits at most `timeout`, so a database
/// that is down turns into a prompt error instead of a hung request.
///
/// No connection is opened here: the first checkout opens one, so a service that
/// starts while its database is down comes up and recovers once the database does.
pub fn build_pool(database: &DatabaseUrl, size: u32, timeout: Duration) -> DbPool {
    builder(size, timeout).build_unchecked(ConnectionManager::new(database.clone(), timeout))
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
        .build_unchecked(ConnectionManager::new(database.clone(), timeout))
}

fn builder(size: u32, timeout: Duration) -> r2d2::Builder<ConnectionManager> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_timeouts_unless_they_set_their_own() {
        let url = postgres_url_with_timeouts(
            "postgres://u@db:5432/otp?sslmode=require&connect_timeout=9",
            Duration::from_secs(5),
        );
        assert!(url.starts_with("postgres://u@db:5432/otp?sslmode=require&connect_timeout=9&"));
        assert!(!url.contains("connect_timeout=5"), "{url}");
        for part in [
            "keepalives=1",
            "keepalives_idle=30",
            "tcp_user_timeout=5000",
        ] {
            assert!(url.contains(part), "{url}");
        }
    }
}
