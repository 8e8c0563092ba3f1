//! Wiring: from a [`Config`] to a running server. The binary and the tests build
//! the same [`Application`].

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::Logger;
use actix_web::{App, HttpServer, web};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::courier::{Courier, Outbox, RetryPolicy};
use crate::db::{self, DbError, DbPool, MigrationError};
use crate::flows::{self, SignupService};
use crate::mail::{MailError, Mailer};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not reach the database")]
    Database(#[from] DbError),
    #[error("could not apply the database migrations")]
    Migrations(#[source] MigrationError),
    #[error("could not set up the mail transport")]
    Mail(#[from] MailError),
    #[error("could not listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, migrated, ready-to-run service.
pub struct Application {
    port: u16,
    server: Server,
    service: SignupService,
    courier: Courier,
    cleanup_interval: std::time::Duration,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds with a given clock (tests move time forward instead of waiting).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let pool = db::build_pool(
            &config.database,
            config.db_pool_size,
            config.db_pool_timeout,
        );
        migrate(&pool).await?;
        let mailer = Mailer::new(&config.mail)?;
        let outbox = Outbox::new(&config.otp_secret);
        let service = SignupService::new(
            pool.clone(),
            outbox.clone(),
            clock.clone(),
            config.otp,
            &config.otp_secret,
        );
        let courier = Courier::new(
            pool,
            mailer,
            clock,
            outbox,
            RetryPolicy::from_config(&config.mail),
        );

        let listener =
            TcpListener::bind(config.bind_addr).map_err(|source| StartupError::Bind {
                addr: config.bind_addr,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: config.bind_addr,
                source,
            })?
            .port();
        let data = web::Data::new(service.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Logger::new("%a \"%r\" %s %b %Dms"))
                .app_data(data.clone())
                .configure(crate::http::configure)
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: config.bind_addr,
            source,
        })?
        .run();

        Ok(Self {
            port,
            server,
            service,
            courier,
            cleanup_interval: config.cleanup_interval,
        })
    }

    /// The port the server listens on (useful when `BIND_ADDR` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server (gracefully, finishing requests in flight).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT or SIGTERM), running the email
    /// courier and the periodic cleanup alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let cleanup = tokio::spawn(flows::run_periodically(self.service, self.cleanup_interval));
        let courier = tokio::spawn(self.courier.run());
        let result = self.server.await;
        cleanup.abort();
        courier.abort();
        result
    }
}

/// Applies the embedded migrations for the configured backend.
pub async fn migrate(pool: &DbPool) -> Result<Vec<String>, StartupError> {
    db::run(pool, |conn| {
        db::run_migrations(conn).map_err(StartupError::Migrations)
    })
    .await
}
