//! Wiring: from a [`Config`] to a running server. The binary and the tests build
//! the same [`Application`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Logger, from_fn};
use actix_web::{App, HttpServer, web};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::courier::{Courier, Outbox, RetryPolicy};
use crate::db::{self, DbError, DbPool, MigrationError};
use crate::events::Events;
use crate::flows::{self, PasswordHashers, SignupService};
use crate::http::AdminAuth;
use crate::http::client::{ClientIp, Connections};
use crate::http::rate_limit::IpLimits;
use crate::http::{BodyTimeout, DefaultLocale, EdgeConfig, cors, middleware};
use crate::idempotency::IdempotencyStore;
use crate::mail::{MailError, Mailer};
use crate::metrics::Metrics;

/// How long a new connection has for its first request's head.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a kept-alive connection may wait for its next request.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not reach the database")]
    Database(#[from] DbError),
    #[error("could not apply the database migrations")]
    Migrations(#[source] MigrationError),
    #[error("could not set up the mail transport")]
    Mail(#[from] MailError),
    #[error(
        "could not listen on {addr} (is another process using it? set BIND_ADDR or METRICS_ADDR)"
    )]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl db::MayLoseConnection for StartupError {
    fn lost_connection(&self) -> bool {
        matches!(self, StartupError::Database(error) if error.lost_connection())
    }
}

/// A bound, migrated, ready-to-run service.
pub struct Application {
    port: u16,
    metrics_port: u16,
    bind_addr: std::net::SocketAddr,
    try_page: bool,
    server: Server,
    operations: Server,
    limits: IpLimits,
    service: SignupService,
    courier: Courier,
    metrics: Metrics,
    cleanup_interval: Duration,
    shutdown_grace: Duration,
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
        #[cfg(feature = "deterministic-codes")]
        log::error!(
            "BENCHMARK BUILD: every code is the first {} digits of 1234567890; never serve users with it",
            config.otp.length
        );
        let metrics = Metrics::new();
        let events = Events::new(metrics.clone());
        let pool = db::build_observed_pool(
            &config.database,
            config.db_pool_size,
            config.db_pool_timeout,
            &metrics,
        );
        migrate(&pool).await?;
        let mailer = Mailer::new(&config.mail)?;
        let keyring = config.keyring();
        let outbox = Outbox::new(&keyring);
        let service = SignupService::new(
            pool.clone(),
            outbox.clone(),
            clock.clone(),
            config.otp,
            &keyring,
            events.clone(),
            PasswordHashers::start(
                config.resources.hashing_threads,
                config.resources.hashing_queue,
            ),
        );
        let clock_for_edge = clock.clone();
        let courier = Courier::new(
            pool,
            mailer,
            clock,
            outbox,
            RetryPolicy::from_config(&config.mail),
            events,
            config.mail.max_in_flight,
        );

        let (listener, port) = bind(config.bind_addr)?;
        let (operations_listener, metrics_port) = bind(config.metrics_addr)?;
        let data = web::Data::new(service.clone());
        let upkeep = metrics.clone();
        let metrics = web::Data::new(metrics);
        let client_ip = ClientIp::new(
            config.rate_limits.trusted_proxies.clone(),
            config.rate_limits.ipv6_prefix,
        );
        let limits = IpLimits::new(&config.rate_limits, &client_ip);
        let edge = EdgeConfig {
            limits: limits.clone(),
            client_ip: client_ip.clone(),
            body_timeout: BodyTimeout(config.resources.body_timeout),
            try_page: config.try_page,
        };
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let per_worker = connections_per_worker(workers);
        let connections = Connections::new(
            config.resources.connections_per_client,
            client_ip,
            REQUEST_HEAD_TIMEOUT + KEEP_ALIVE,
        );
        let idempotency = web::Data::new(IdempotencyStore::new(
            service.pool().clone(),
            clock_for_edge,
            &keyring,
            config.idempotency_ttl,
        ));
        let default_locale = web::Data::new(DefaultLocale(config.default_locale));
        let cors_origins = config.cors_allowed_origins.clone();
        let operations_data = (data.clone(), metrics.clone());
        let admin = config
            .admin_token
            .as_ref()
            .map(|token| web::Data::new(AdminAuth::new(token)));
        let server = HttpServer::new(move || {
            let edge = edge.clone();
            App::new()
                // The last wrapped is the outermost: the access log sees the
                // response's request id, and the id is in scope for the handler.
                // CORS answers preflights before any route (or IP quota) sees them.
                .wrap(cors::cors(&cors_origins))
                .wrap(from_fn(cors::refusals))
                .wrap(from_fn(middleware::connection_guard))
                .wrap(from_fn(middleware::security_headers))
                .wrap(from_fn(middleware::request_id))
                .wrap(from_fn(middleware::http_metrics))
                .wrap(Logger::new(
                    "%a \"%r\" %s %b %Dms request_id=%{x-request-id}o",
                ))
                .app_data(data.clone())
                .app_data(metrics.clone())
                .app_data(idempotency.clone())
                .app_data(default_locale.clone())
                .configure(|cfg| crate::http::configure(cfg, &edge))
        })
        .on_connect(move |io, data| {
            if let Some(tcp) = io.downcast_ref::<actix_web::rt::net::TcpStream>()
                && let Ok(peer) = tcp.peer_addr()
            {
                use std::os::fd::AsFd;
                let socket = tcp
                    .as_fd()
                    .try_clone_to_owned()
                    .ok()
                    .map(std::net::TcpStream::from);
                connections.on_connect(peer, socket, data);
            }
        })
        // A client gets this long for its first request's headers, and a
        // kept-alive connection this long to start the next one; its body then
        // has REQUEST_BODY_TIMEOUT_SECS (see `http::extract`), and a connection
        // idle between requests beyond both is shut down (see `http::client`).
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .workers(workers)
        .max_connections(per_worker)
        .shutdown_timeout(config.shutdown_grace.as_secs())
        // Signals are handled in `run_until_stopped`, installed before the
        // service says it is listening.
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: config.bind_addr,
            source,
        })?
        .run();

        let operations = HttpServer::new(move || {
            let app = App::new()
                .app_data(operations_data.0.clone())
                .app_data(operations_data.1.clone());
            let app = match &admin {
                Some(admin) => app.app_data(admin.clone()),
                None => app,
            };
            app.configure(|cfg| crate::http::configure_operations(cfg, admin.is_some()))
        })
        .workers(1)
        .shutdown_timeout(config.shutdown_grace.as_secs())
        .disable_signals()
        .listen(operations_listener)
        .map_err(|source| StartupError::Bind {
            addr: config.metrics_addr,
            source,
        })?
        .run();

        Ok(Self {
            port,
            metrics_port,
            bind_addr: config.bind_addr,
            try_page: config.try_page,
            server,
            operations,
            limits,
            service,
            courier,
            metrics: upkeep,
            cleanup_interval: config.cleanup_interval,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// The port the server listens on (useful when `BIND_ADDR` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on (`METRICS_ADDR`).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// A handle that stops the server (gracefully, finishing requests in flight).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT or SIGTERM), running the email
    /// courier and the periodic cleanup alongside. On stop, requests in flight
    /// finish (up to `SHUTDOWN_GRACE_SECS`), then the courier finishes the
    /// deliveries it has started (within the same grace) and takes no more.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop_on_signal = stop_on_signal(self.server.handle())?;
        let mut url = self.bind_addr;
        url.set_port(self.port);
        let mut metrics_url = url;
        metrics_url.set_port(self.metrics_port);
        log::info!(
            "listening on http://{url} (API docs: http://{url}/docs/{})",
            if self.try_page {
                format!(", signup page: http://{url}/try")
            } else {
                String::new()
            }
        );
        log::info!("metrics on http://{metrics_url}/metrics (operations listener, METRICS_ADDR)");
        let cleanup = tokio::spawn(flows::run_periodically(self.service, self.cleanup_interval));
        let upkeep = tokio::spawn(self.metrics.keep_up(Duration::from_secs(5)));
        let pruning = tokio::spawn(self.limits.keep_pruned(Duration::from_secs(60)));
        let operations = self.operations.handle();
        let operations_task = tokio::spawn(self.operations);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let courier = tokio::spawn(self.courier.run(stopped));
        let result = self.server.await;
        operations.stop(true).await;
        let _ = operations_task.await;
        cleanup.abort();
        upkeep.abort();
        pruning.abort();
        let _ = stop.send(true);
        if tokio::time::timeout(self.shutdown_grace, courier)
            .await
            .is_err()
        {
            log::warn!("the courier did not finish within the shutdown grace period");
        }
        stop_on_signal.abort();
        log::info!("stopped");
        result
    }
}

/// How many connections each worker may hold so that the process never runs out
/// of file descriptors (past the limit it stops accepting for a moment instead
/// of failing): the soft limit on open files is raised to the hard one first,
/// and each client connection holds two descriptors (its socket, and the handle
/// its idle watchdog shuts it with).
fn connections_per_worker(workers: usize) -> usize {
    /// Kept for the database pool, the operations listener, files and logs.
    const RESERVED: u64 = 256;
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let per_worker = limit.saturating_sub(RESERVED) / 2 / workers.max(1) as u64;
    usize::try_from(per_worker)
        .unwrap_or(25_000)
        .clamp(16, 25_000)
}

/// Binds `addr`; the port it got (for port 0).
fn bind(addr: std::net::SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let failed = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok((listener, port))
}

/// Stops the server gracefully on SIGTERM or SIGINT. The handlers are installed
/// before this returns, so a signal that arrives once the service has said it is
/// listening is never the default (immediate) termination.
fn stop_on_signal(
    server: actix_web::dev::ServerHandle,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => log::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => log::info!("SIGINT: stopping"),
        }
        server.stop(true).await;
    }))
}

/// Applies the embedded migrations for the configured backend.
pub async fn migrate(pool: &DbPool) -> Result<Vec<String>, StartupError> {
    db::run(pool, |conn| {
        db::run_migrations(conn).map_err(StartupError::Migrations)
    })
    .await
}
