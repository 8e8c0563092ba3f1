//! Test harness: a real server on a random port, a fresh database, a real SMTP
//! listener, and a clock the test can move forward.

pub mod browser;
mod database;
mod proxy;
mod smtp;

use std::sync::Arc;
use std::time::Duration;

use awc::http::header::HeaderMap;
pub use database::{Backend, TestDb, postgres_url};
pub use proxy::TcpProxy;
use serde_json::{Value, json};
use signup_otp::clock::ShiftedClock;
use signup_otp::config::Config;
use signup_otp::db::{self, DbConnection, DbPool};
use signup_otp::domain::Locale;
use signup_otp::keys::OtpSecret;
use signup_otp::mail::{MailConfig, MailTransport};
use signup_otp::startup::Application;
pub use smtp::{Mode, Received, SmtpListener};

/// Declares each test once per backend: `name::sqlite` always runs;
/// `name::postgres` runs when `TEST_DATABASE_URL` was set for the build, and
/// shows as ignored otherwise (see build.rs). Set but unreachable, it fails.
#[macro_export]
macro_rules! on_both_backends {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($backend:ident) $body:block
    )+) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::helpers::Backend) $body

            #[actix_web::test]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }

            #[actix_web::test]
            #[cfg_attr(not(postgres_tests), ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)")]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

pub const SECRET: &str = "IkBNDmm+UmrLpeEJHc283VK0vNPoYiyZzty4tZ8nnB8=";

/// A configuration for tests: the declared defaults, with the given database,
/// port 0, mail to `smtp`, and limits that the tests' bursts from one address
/// do not trip (the quotas have their own tests).
pub fn test_config(db: &TestDb, smtp: &SmtpListener) -> Config {
    let mut config = Config::from_lookup(|_| None).expect("the defaults are valid");
    config.database = db.url.clone();
    config.bind_addr = "127.0.0.1:0".parse().unwrap();
    config.metrics_addr = "127.0.0.1:0".parse().unwrap();
    config.db_pool_size = 8;
    config.mail = MailConfig {
        transport: MailTransport::Smtp {
            url: smtp.url(),
            timeout: Duration::from_secs(5),
        },
        from: "signup-otp <no-reply@example.com>".parse().unwrap(),
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        max_in_flight: 16,
    };
    config.mail_transport_chosen = true;
    config.otp_secret = OtpSecret::new(SECRET.as_bytes().to_vec());
    config.otp_secret_previous = None;
    config.otp_secret_generated = false;
    config.cleanup_interval = Duration::from_secs(3600);
    config.shutdown_grace = Duration::from_secs(10);
    config.rate_limits.enabled = false;
    config.default_locale = Locale::En;
    config.try_page = false;
    config.resources.connections_per_client = 1000;
    config
}

pub struct TestApp {
    pub address: String,
    /// The operations listener: `/metrics`.
    pub metrics_address: String,
    pub client: awc::Client,
    pub smtp: SmtpListener,
    pub clock: ShiftedClock,
    pub pool: DbPool,
    pub config: Config,
    /// Shared by the apps that run on it; deleted when the last one is dropped.
    pub db: Arc<TestDb>,
    server: actix_web::dev::ServerHandle,
    running: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    /// The request's method and path, for checking the answer against the API document.
    pub method: String,
    pub path: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error response: its status and its stable `code`, with a
    /// detail; and, for an endpoint in the API document, that the document
    /// lists this code under this status.
    pub fn assert_error(&self, status: u16, code: &str) {
        self.assert_documented(status, code);
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "an error carries a detail: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "errors are JSON"
        );
    }
}

/// The codes the API document lists for `method path` under `status`; `None`
/// when the document has no such operation.
pub fn documented_codes(method: &str, path: &str, status: u16) -> Option<Vec<String>> {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        serde_json::to_value(signup_otp::http::openapi::document()).expect("the document is JSON")
    });
    let path = path.split('?').next().unwrap_or(path);
    let operation = document["paths"]
        .get(path)?
        .get(method.to_ascii_lowercase())?;
    let description = operation["responses"][status.to_string()]["description"]
        .as_str()
        .unwrap_or("");
    Some(
        description
            .lines()
            .filter_map(|line| line.strip_prefix("- `")?.split('`').next())
            .map(str::to_owned)
            .collect(),
    )
}

impl TestResponse {
    fn assert_documented(&self, status: u16, code: &str) {
        if let Some(codes) = documented_codes(&self.method, &self.path, status) {
            assert!(
                codes.iter().any(|listed| listed == code),
                "{} {} answered {status} `{code}`, which the API document does not list \
                 there (it lists {codes:?})",
                self.method,
                self.path
            );
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with the test configuration changed by `tweak`.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = Arc::new(TestDb::create(backend));
        let smtp = SmtpListener::start().await;
        Self::spawn_on(db, smtp, ShiftedClock::new(), tweak).await
    }

    /// Spawns an app on an existing database, SMTP listener and clock: a second
    /// instance beside another, or a restart.
    pub async fn spawn_on(
        db: Arc<TestDb>,
        smtp: SmtpListener,
        clock: ShiftedClock,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut config = test_config(&db, &smtp);
        tweak(&mut config);
        let app = Application::build_with_clock(config.clone(), Arc::new(clock.clone()))
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
        let server = app.server_handle();
        let running = actix_web::rt::spawn(app.run_until_stopped());
        let pool = db::build_pool(&db.url, 4, Duration::from_secs(5));
        TestApp {
            address,
            metrics_address,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
            smtp,
            clock,
            pool,
            config,
            db,
            server,
            running,
        }
    }

    /// Stops the app as SIGTERM would, and waits until it has.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.running
            .await
            .expect("the app task ends")
            .expect("the server stops cleanly");
    }

    /// Messages still to deliver (queued or retrying; not the records of
    /// finished ones).
    pub fn outbox_len(&self) -> i64 {
        use diesel::prelude::*;
        use signup_otp::db::schema::email_outbox;
        self.with_conn(|conn| {
            email_outbox::table
                .filter(email_outbox::status.eq_any(["queued", "retrying"]))
                .count()
                .get_result(conn)
                .unwrap()
        })
    }

    /// Waits until the outbox is empty.
    pub async fn wait_for_empty_outbox(&self) {
        eventually("the outbox empties", || holds(self.outbox_len() == 0)).await;
    }

    /// A service on this app's database, for calling the flows directly.
    pub fn service(&self) -> signup_otp::flows::SignupService {
        let keyring = self.config.keyring();
        signup_otp::flows::SignupService::new(
            self.pool.clone(),
            signup_otp::courier::Outbox::new(&keyring),
            Arc::new(self.clock.clone()),
            self.config.otp,
            &keyring,
            signup_otp::events::Events::new(signup_otp::metrics::Metrics::new()),
            signup_otp::flows::PasswordHashers::start(1, 4),
        )
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let headers: Vec<(&str, &str)> = content_type
            .map(|content_type| ("content-type", content_type))
            .into_iter()
            .collect();
        self.request_with(method, path, &headers, body).await
    }

    /// A request with the given headers (and no others but awc's own).
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> TestResponse {
        let asked = method.to_owned();
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let base = if path.starts_with("/admin/") {
            &self.metrics_address
        } else {
            &self.address
        };
        let mut request = self.client.request(method, format!("{base}{path}"));
        for &(name, value) in headers {
            request = request.append_header((name, value));
        }
        let mut response = request
            .send_body(body)
            .await
            .expect("the request is answered");
        let bytes = response.body().limit(1 << 20).await.expect("a body");
        TestResponse {
            method: asked,
            path: path.to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    panic!("a JSON body, got {:?}", String::from_utf8_lossy(&bytes))
                })
            },
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.request(
            "POST",
            path,
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// A JSON POST with extra headers (`Idempotency-Key`, `Accept-Language`, `Origin`).
    pub async fn post_json_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request_with("POST", path, &all, serde_json::to_vec(body).unwrap())
            .await
    }

    /// A call to the admin API (on the operations listener), with `token` as
    /// its bearer token if given.
    pub async fn admin(&self, method: &str, path: &str, token: Option<&str>) -> TestResponse {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|bearer| ("authorization", bearer))
            .into_iter()
            .collect();
        self.request_with(method, path, &headers, Vec::new()).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path, None, Vec::new()).await
    }

    pub async fn send_otp(&self, email: &str, user_type: &str) -> TestResponse {
        self.post_json(
            "/api/v1/users/signup/send-otp",
            &json!({ "email": email, "user_type": user_type }),
        )
        .await
    }

    pub async fn verify_otp(&self, email: &str, user_type: &str, code: &str) -> TestResponse {
        self.post_json(
            "/api/v1/users/signup/verify-otp",
            &json!({ "email": email, "user_type": user_type, "otp_code": code }),
        )
        .await
    }

    /// The code in the `nth` (1-based) message sent to `address`, waiting for it.
    pub async fn code_in_message(&self, address: &str, nth: usize) -> String {
        let messages = self.smtp.wait_for_messages_to(address, nth).await;
        code_in(&messages[nth - 1], self.config.otp.length).unwrap_or_else(|| {
            panic!(
                "no code in message {nth} to {address}: {}",
                messages[nth - 1].data
            )
        })
    }

    /// Sends a code to `address` and returns it, read from the email.
    pub async fn send_and_read_code(&self, address: &str, user_type: &str) -> String {
        let mailbox = address.trim().to_ascii_lowercase();
        let before = self.smtp.messages_to(&mailbox).len();
        let response = self.send_otp(address, user_type).await;
        assert_eq!(response.status, 200, "send-otp: {}", response.body);
        self.code_in_message(&mailbox, before + 1).await
    }

    /// Sends `code` (instead of a random one) to `address` through the flows,
    /// as the original service's `force_otp_code` did: for tests that need two
    /// codes known to differ.
    pub async fn send_code(
        &self,
        address: &str,
        user_type: signup_otp::domain::UserType,
        code: &str,
    ) {
        self.service()
            .send_code(
                signup_otp::domain::EmailAddress::parse(address).unwrap(),
                user_type,
                signup_otp::domain::OtpCode::parse(code, code.len()).unwrap(),
            )
            .await
            .expect("the code is sent");
    }

    /// Moves the service's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(chrono::Duration::from_std(by).unwrap());
    }

    /// A connection for arranging and inspecting rows directly.
    pub fn conn(&self) -> r2d2::PooledConnection<db::ConnectionManager> {
        self.pool.get().expect("a test connection")
    }

    pub fn with_conn<T>(&self, f: impl FnOnce(&mut DbConnection) -> T) -> T {
        f(&mut self.conn())
    }
}

/// How long a test waits for something another task or process does, which
/// nothing announces (a delivery, a cleanup, a lock being taken).
const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// Waits until `probe` gives a value, looking every 10 ms, and returns it; fails
/// after 20 s saying what never happened.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        actix_web::rt::time::sleep(POLL).await;
    }
}

/// [`eventually`] for code that runs outside the async runtime (a child
/// process's output, read on a plain thread).
pub fn eventually_blocking<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// A condition as a probe for [`eventually`].
pub fn holds(condition: bool) -> std::future::Ready<Option<()>> {
    std::future::ready(condition.then_some(()))
}

/// The code in a message: the line that is nothing but `length` digits.
pub fn code_in(message: &Received, length: usize) -> Option<String> {
    message
        .text()
        .lines()
        .map(str::trim)
        .find(|line| line.len() == length && line.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// An answer's body with the one value that differs on every answer (the
/// `verification_id` or `registration_id` made for that request) left out.
pub fn without_ids(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        for id in ["verification_id", "registration_id"] {
            if let Some(value) = object.get_mut(id) {
                assert_eq!(value.as_str().map(str::len), Some(43), "{id}: {value}");
                *value = Value::String(format!("<{id}>"));
            }
        }
    }
    body
}

/// A code of the right shape that is not `code`.
pub fn wrong_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(if b == b'9' { b'0' } else { b + 1 }))
        .collect()
}

/// Returns once a request of the service waits on a row lock that a test
/// transaction holds (PostgreSQL).
pub async fn until_a_request_waits_on_a_lock(app: &TestApp, who: &str) {
    use diesel::prelude::*;
    eventually(&format!("{who} waits on a row lock"), || {
        holds(app.with_conn(|conn| {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock')",
            ))
            .get_result::<i64>(conn)
            .unwrap()
                > 0
        }))
    })
    .await;
}
