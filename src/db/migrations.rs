//! The migrations, embedded in the binary: one folder per backend, the same
//! versions in each.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration; returns the versions applied.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES)?,
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE)?,
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Rolls back the most recently applied migration; returns its version.
pub fn revert_last_migration(conn: &mut DbConnection) -> Result<String, MigrationError> {
    let version = match conn {
        DbConnection::Pg(c) => c.revert_last_migration(POSTGRES)?,
        DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE)?,
    };
    Ok(version.to_string())
}

/// The versions applied so far, newest first.
pub fn applied_migrations(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let applied = match conn {
        DbConnection::Pg(c) => c.applied_migrations()?,
        DbConnection::Sqlite(c) => c.applied_migrations()?,
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}
