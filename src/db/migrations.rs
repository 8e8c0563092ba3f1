//! The migrations, embedded in the binary: one folder per backend, the same
//! versions in each.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Serialises migrations between instances starting together on one PostgreSQL.
const MIGRATION_LOCK: i64 = 0x5349_474e_5550_4f54; // "SIGNUPOT"

/// Applies every pending migration; returns the versions applied. On PostgreSQL
/// an advisory lock makes instances that start at once take turns, so the second
/// finds the first's work done instead of failing on it.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let versions = |applied: Vec<diesel::migration::MigrationVersion<'_>>| {
        applied
            .into_iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
    };
    match conn {
        DbConnection::Pg(c) => {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(c)?;
            let applied = c.run_pending_migrations(POSTGRES).map(versions);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(c)?;
            applied
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
    }
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
