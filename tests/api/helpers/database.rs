//! A fresh database per test: a SQLite file in a temporary folder, or a new
//! PostgreSQL database on the server `TEST_DATABASE_URL` points at, dropped when
//! the test ends. PostgreSQL test databases run in a far-from-UTC time zone, so a
//! timestamp that is not UTC shows.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use rand::RngExt;
use signup_otp::db::DatabaseUrl;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server for tests, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The zone PostgreSQL test databases default to: UTC+14, so an expiry computed
/// in local time would be off by fourteen hours.
pub const DATABASE_TIME_ZONE: &str = "Pacific/Kiritimati";

pub struct TestDb {
    pub url: DatabaseUrl,
    /// The URL as a string, for child processes.
    pub url_string: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let path = dir.path().join("signup-otp.db");
                let url_string = format!("sqlite://{}", path.display());
                Self {
                    url: DatabaseUrl::parse(&url_string).unwrap(),
                    url_string,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("TEST_DATABASE_URL");
                let name = format!("signup_otp_test_{:016x}", rand::rng().random::<u64>());
                let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL is not reachable: {e}")
                });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                admin
                    .batch_execute(&format!(
                        "ALTER DATABASE {name} SET timezone TO '{DATABASE_TIME_ZONE}'"
                    ))
                    .expect("set the test database's time zone");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                let url_string = url.to_string();
                Self {
                    url: DatabaseUrl::parse(&url_string).unwrap(),
                    url_string,
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
