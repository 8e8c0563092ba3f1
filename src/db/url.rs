//! Which database: the URL's scheme picks the backend.

use std::fmt;
use std::path::PathBuf;

/// Where the data lives; the URL's scheme picks the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://` and `postgresql://` select PostgreSQL; `sqlite://PATH` or a bare
    /// path selects SQLite; any other scheme is refused rather than taken for a file name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            return sqlite_path(path);
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!(
                "unsupported scheme {scheme:?}: use postgres://, postgresql://, sqlite:// or a file path"
            ));
        }
        sqlite_path(raw)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

/// Each pooled connection to `:memory:` would be a separate, empty database.
fn sqlite_path(path: &str) -> Result<DatabaseUrl, String> {
    match path {
        "" => Err("sqlite:// needs a file path, e.g. sqlite://signup-otp.db".into()),
        ":memory:" => {
            Err("an in-memory SQLite database cannot be shared by the pool; use a file path".into())
        }
        path => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
    }
}

/// The URL may hold a password: show the backend and host shape only.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(_) => f.write_str("Postgres(<url>)"),
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}
