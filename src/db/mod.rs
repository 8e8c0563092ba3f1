//! Storage: one connection type over PostgreSQL and SQLite, its pool, the embedded
//! migrations, and the models whose methods hold every query the service runs.
//!
//! Query functions take `&mut DbConnection` and return `QueryResult`; [`run`] is
//! the one way async code reaches them, on the blocking thread pool.

pub mod functions;
mod migrations;
pub mod models;
mod pool;
pub mod sql;
mod url;

pub use crate::schema;
pub use migrations::{MigrationError, applied_migrations, revert_last_migration, run_migrations};
pub use pool::{
    ConnectionManager, DbPool, PooledDb, build_observed_pool, build_pool,
    postgres_url_with_timeouts,
};
pub use url::DatabaseUrl;

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::result::Error as DieselError;

/// A connection to either backend. Queries written against it run on both;
/// where a backend needs its own statement, [`per_backend!`](crate::per_backend) matches on it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `$body` with `$conn` bound to the inner connection of whichever backend
/// `$db` is, for the statements the multi-backend type cannot express
/// (`ON CONFLICT`, for one). The body is compiled once per backend.
#[macro_export]
macro_rules! per_backend {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::db::DbConnection::Pg($conn) => $body,
            $crate::db::DbConnection::Sqlite($conn) => $body,
        }
    };
}

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (the pool timed out, the server is down) or the
    /// connection broke mid-statement: worth retrying later.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A statement failed for another reason: a bug or a schema mismatch.
    #[error("database query failed")]
    Query(#[source] DieselError),
    /// The blocking task was cancelled or panicked.
    #[error("a database task did not complete")]
    Task,
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        use diesel::result::DatabaseErrorKind as Kind;
        match error {
            DieselError::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _)
            | DieselError::BrokenTransactionManager => DbError::Unavailable(Box::new(error)),
            DieselError::DatabaseError(_, ref info) if is_connection_loss(info.message()) => {
                DbError::Unavailable(Box::new(error))
            }
            other => DbError::Query(other),
        }
    }
}

/// libpq reports a server that went away mid-query as an unknown database error;
/// SQLite reports a lock it waited too long for as "database is locked".
fn is_connection_loss(message: &str) -> bool {
    const SIGNS: [&str; 6] = [
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "could not receive data from server",
        "connection to server",
        "database is locked",
    ];
    SIGNS.iter().any(|sign| message.contains(sign))
}

/// An error that may say the database connection was lost: the pool then drops
/// that connection instead of handing it out again.
pub trait MayLoseConnection {
    fn lost_connection(&self) -> bool;
}

impl MayLoseConnection for DbError {
    fn lost_connection(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// Runs blocking Diesel work on actix's blocking thread pool with a pooled
/// connection, so async workers never wait on the database.
///
/// The caller waits at most the pool's timeout (`DB_POOL_TIMEOUT_SECS`) for a
/// connection and the work together: a database that stops answering
/// without closing its connections (a network that drops packets, a stalled
/// proxy) turns into `Unavailable` (a 503) instead of a hung request. The
/// work itself cannot be interrupted: its thread goes on until the connection
/// fails or answers, and the connection is dropped if it failed.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + MayLoseConnection + Send + 'static,
{
    let deadline = pool.connection_timeout();
    let pool = pool.clone();
    let blocked = actix_web::web::block(move || {
        WRITER_WAIT.with(|wait| wait.set(deadline));
        let mut conn = pool
            .get()
            .map_err(|e| E::from(DbError::Unavailable(Box::new(e))))?;
        let result = work(&mut conn);
        if let Err(error) = &result
            && error.lost_connection()
        {
            conn.discard();
        }
        result
    });
    match actix_web::rt::time::timeout(deadline, blocked).await {
        Ok(finished) => finished.map_err(|_| E::from(DbError::Task))?,
        Err(_) => Err(E::from(DbError::Unavailable(Box::new(TimedOut(deadline))))),
    }
}

/// The database did not answer within the deadline.
#[derive(Debug, thiserror::Error)]
#[error("no answer from the database within {0:?}")]
struct TimedOut(std::time::Duration);

/// SQLite has one writer at a time. Writers of this process queue here, woken as
/// soon as the previous one commits, instead of polling SQLite's busy handler
/// (which sleeps up to 100 ms between tries and so lets unlucky writers starve).
/// SQLite serves a single instance, so an in-process lock is the whole story.
/// A writer waits at most [`writer_wait`] (`DB_POOL_TIMEOUT_SECS`), then fails
/// as an unavailable database would.
static SQLITE_WRITER: parking_lot::Mutex<()> = parking_lot::const_mutex(());

thread_local! {
    /// How long a SQLite writer on this thread waits for the writer lock: the
    /// pool's timeout of the [`run`] in progress (5 s outside one: the CLI).
    static WRITER_WAIT: std::cell::Cell<std::time::Duration> =
        const { std::cell::Cell::new(std::time::Duration::from_secs(5)) };
}

fn writer_wait() -> std::time::Duration {
    WRITER_WAIT.with(std::cell::Cell::get)
}

/// What a writer that waited too long for the writer lock fails with: libsqlite's
/// own words for it, so that it is read as an unavailable database.
fn writer_lock_timeout() -> DieselError {
    DieselError::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new(String::from(
            "database is locked: waited too long for the other writers",
        )),
    )
}

/// Runs `work` in a transaction that takes the write lock up front.
///
/// On PostgreSQL this is an ordinary transaction: the flows make their writes
/// conditional and check the affected row count. On SQLite it is `BEGIN IMMEDIATE`
/// taken in turn with this process's other writers, so no writer fails with
/// "database is locked" upgrading a read lock, and none waits on a sleeping poll.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DieselError>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    let _writer = match conn {
        DbConnection::Sqlite(_) => Some(
            SQLITE_WRITER
                .try_lock_for(writer_wait())
                .ok_or_else(writer_lock_timeout)?,
        ),
        DbConnection::Pg(_) => None,
    };
    match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(inner) => AnsiTransactionManager::begin_transaction(inner)?,
    }
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

/// Whether `error` is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
