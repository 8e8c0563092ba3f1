//! Configuration, read once at start-up from environment variables (and a `.env`
//! file when present). Every variable is documented, with its default, in
//! `.env.sample`. A bad value stops start-up with an error naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::domain::Locale;
use crate::keys::{Keyring, MIN_SECRET_BYTES, OtpSecret};
use crate::telemetry::LogFormat;

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub bind_addr: SocketAddr,
    /// Where `/metrics` is served: a listener apart from the API's, on loopback
    /// unless said otherwise (`METRICS_ADDR`).
    pub metrics_addr: SocketAddr,
    pub db_pool_size: u32,
    pub db_pool_timeout: Duration,
    pub mail: MailConfig,
    /// Whether `MAIL_TRANSPORT` was set, rather than left to its default.
    pub mail_transport_chosen: bool,
    pub otp_secret: OtpSecret,
    /// The key before the last rotation (`OTP_SECRET_PREVIOUS`): codes, sealed
    /// emails and stored answers made under it are still read.
    pub otp_secret_previous: Option<OtpSecret>,
    /// True when no `OTP_SECRET` was set and a random one was made for this process.
    pub otp_secret_generated: bool,
    pub otp: OtpPolicy,
    pub cleanup_interval: Duration,
    /// How long a stopping service waits for requests and deliveries in flight.
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub rate_limits: RateLimits,
    /// Browser origins allowed to call the API (CORS); empty sends no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// How long a stored response answers repeats of its `Idempotency-Key`.
    pub idempotency_ttl: Duration,
    /// The email language when the request names none the service ships.
    pub default_locale: Locale,
    /// Whether `GET /try` serves the signup page.
    pub try_page: bool,
    /// Limits on what one client can hold of the service's resources.
    pub resources: ResourceLimits,
}

/// What one client, or all of them, may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// How long a request's body may take to arrive once its headers have.
    pub body_timeout: Duration,
    /// Open connections per client address (not applied to trusted proxies).
    pub connections_per_client: u32,
    /// Passwords hashed at once (each takes about 19 MiB and one core).
    pub hashing_threads: usize,
    /// Passwords waiting to be hashed before register answers 503.
    pub hashing_queue: usize,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(10),
            connections_per_client: 32,
            hashing_threads: std::thread::available_parallelism().map_or(2, usize::from),
            hashing_queue: 64,
        }
    }
}

/// Per-client-IP quotas. A count of 0 turns that one quota off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `IP_RATE_LIMITS=off` turns every quota off (load tests from one address).
    pub enabled: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Leading bits of an IPv6 address that name one client.
    pub ipv6_prefix: u8,
    pub send_per_minute: u32,
    pub send_per_hour: u32,
    pub verify_per_5_minutes: u32,
    pub register_per_minute: u32,
    pub register_per_hour: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_proxies: Vec::new(),
            ipv6_prefix: crate::domain::DEFAULT_IPV6_PREFIX,
            send_per_minute: 3,
            send_per_hour: 20,
            verify_per_5_minutes: 30,
            register_per_minute: 3,
            register_per_hour: 20,
        }
    }
}

/// Where the data lives; the URL's scheme picks the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

/// How emails leave the service.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub from: Mailbox,
    /// The courier's first retry waits about this long, each next one twice as long.
    pub retry_initial: Duration,
    /// The longest wait between two retries.
    pub retry_max: Duration,
}

impl MailConfig {
    /// How long one delivery may take before it counts as failed.
    pub fn transport_timeout(&self) -> Duration {
        match &self.transport {
            MailTransport::Smtp { timeout, .. } => *timeout,
            MailTransport::Stdout | MailTransport::File(_) => Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub enum MailTransport {
    /// Print each whole email to standard output (development).
    Stdout,
    /// Write each email as an `.eml` file into a folder (development, tests).
    File(PathBuf),
    /// Deliver through an SMTP relay.
    Smtp { url: String, timeout: Duration },
}

/// The rules every code lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    pub length: usize,
    pub ttl: Duration,
    pub max_attempts: u32,
    /// Between two sends to one mailbox, whoever asks.
    pub resend_cooldown: Duration,
    /// Sends one requester may ask for one mailbox per hour, and per day.
    pub max_sends_per_hour: u32,
    pub max_sends_per_day: u32,
    /// Sends to one mailbox per day across every requester.
    pub mailbox_sends_per_day: u32,
    /// Consecutive wrong codes (across re-sent codes) that lock an identity's
    /// verification, and for how long.
    pub lockout_threshold: u32,
    pub lockout: Duration,
    /// How long a signup token from verify-otp stays good for register.
    pub signup_token_ttl: Duration,
    /// Refuse a verify that carries neither the send's `verification_id` nor a
    /// `registration_id`: then only the client that asked for a code can guess
    /// at it.
    pub require_verification_id: bool,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            length: 6,
            ttl: Duration::from_secs(600),
            max_attempts: 5,
            resend_cooldown: Duration::from_secs(60),
            max_sends_per_hour: 5,
            max_sends_per_day: 10,
            mailbox_sends_per_day: 30,
            lockout_threshold: 10,
            lockout: Duration::from_secs(3600),
            signup_token_ttl: Duration::from_secs(900),
            require_verification_id: false,
        }
    }
}

/// Whether `raw` looks like a generated key: base64 (standard or URL-safe, padded
/// or not) or hex that decodes to at least 32 bytes, and neither low in variety
/// (`AAAA…`) nor a repeated pattern. A sentence or a short word is refused; a
/// made-up string that happens to be in base64's alphabet cannot be told from a
/// random one, which is why the documentation says to generate the key. The key
/// is used as written (the text's bytes), so a key that worked before keeps its
/// meaning.
pub fn check_secret(raw: &str) -> Result<(), String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let advice = "use at least 32 random bytes as base64 or hex, e.g. `openssl rand -base64 32`";
    let hex =
        (raw.len().is_multiple_of(2) && raw.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            raw.as_bytes()
                .chunks(2)
                .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
                .collect::<Vec<u8>>()
        });
    let decoded = hex.or_else(|| {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(raw).ok())
    });
    let Some(bytes) = decoded else {
        return Err(format!("must be base64 or hex: {advice}"));
    };
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "decodes to {} bytes, fewer than {MIN_SECRET_BYTES}: {advice}",
            bytes.len()
        ));
    }
    let distinct = bytes.iter().collect::<std::collections::HashSet<_>>().len();
    let trigrams: Vec<&[u8]> = raw.as_bytes().windows(3).collect();
    let distinct_trigrams = trigrams
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < MIN_SECRET_BYTES / 2 || (distinct_trigrams as f64) < 0.75 * trigrams.len() as f64
    {
        return Err(format!(
            "is not random enough (too few different bytes, or a repeated pattern): {advice}"
        ));
    }
    Ok(())
}

impl Config {
    /// The rules that apply only to serving: with PostgreSQL (a deployment, not
    /// a trial run) the mail transport must be chosen, since the development
    /// default prints every code to standard output, that is into the logs.
    pub fn check_for_serving(&self) -> Result<(), ConfigError> {
        if self.database.is_postgres() && !self.mail_transport_chosen {
            return Err(ConfigError::new(
                "MAIL_TRANSPORT",
                "must be set with PostgreSQL: the development default (stdout) would print \
                 every code into the logs; use smtp (or file, or stdout on purpose)",
            ));
        }
        Ok(())
    }

    /// The keys codes, tokens and sealed data are made and read with.
    pub fn keyring(&self) -> Keyring {
        Keyring {
            current: self.otp_secret.clone(),
            previous: self.otp_secret_previous.clone(),
        }
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

impl fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailTransport::Stdout => f.write_str("Stdout"),
            MailTransport::File(dir) => write!(f, "File({})", dir.display()),
            MailTransport::Smtp { timeout, .. } => write!(f, "Smtp(<url>, timeout {timeout:?})"),
        }
    }
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

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, which maps a variable name to its
    /// value; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let database = env
            .get("DATABASE_URL")
            .map_or(
                Ok(DatabaseUrl::Sqlite(PathBuf::from("signup-otp.db"))),
                |raw| DatabaseUrl::parse(&raw),
            )
            .map_err(|message| ConfigError::new("DATABASE_URL", message))?;

        let (otp_secret, otp_secret_generated) = match env.get("OTP_SECRET") {
            Some(secret) => {
                check_secret(&secret).map_err(|message| ConfigError::new("OTP_SECRET", message))?;
                (OtpSecret::new(secret.into_bytes()), false)
            }
            None if database.is_postgres() => {
                return Err(ConfigError::new(
                    "OTP_SECRET",
                    "is required with PostgreSQL (at least 32 random bytes as base64 or hex, \
                     the same on every instance, e.g. `openssl rand -base64 32`)",
                ));
            }
            None => (OtpSecret::random(), true),
        };
        // The old key is read, never used to make anything: it is accepted as it is,
        // so that a weak key can be rotated out.
        let otp_secret_previous = env
            .get("OTP_SECRET_PREVIOUS")
            .map(|previous| OtpSecret::new(previous.into_bytes()))
            .filter(|previous| *previous != otp_secret);
        if otp_secret_previous.is_some() && otp_secret_generated {
            return Err(ConfigError::new(
                "OTP_SECRET_PREVIOUS",
                "is set, but OTP_SECRET is not: set the new key in OTP_SECRET",
            ));
        }

        let otp = OtpPolicy {
            length: env.parse_in("OTP_LENGTH", 6, 4..=10)?,
            ttl: env.seconds("OTP_TTL_SECS", 600)?,
            max_attempts: env.parse_in("OTP_MAX_ATTEMPTS", 5, 1..=1000)?,
            resend_cooldown: env.seconds_or_zero("OTP_RESEND_COOLDOWN_SECS", 60)?,
            max_sends_per_hour: env.parse_in("OTP_MAX_SENDS_PER_HOUR", 5, 1..=10_000)?,
            max_sends_per_day: env.parse_in("OTP_MAX_SENDS_PER_DAY", 10, 1..=100_000)?,
            mailbox_sends_per_day: env.parse_in(
                "OTP_MAX_SENDS_PER_MAILBOX_PER_DAY",
                30,
                1..=1_000_000,
            )?,
            lockout_threshold: env.parse_in("OTP_LOCKOUT_THRESHOLD", 10, 1..=10_000)?,
            lockout: env.seconds("OTP_LOCKOUT_SECS", 3600)?,
            signup_token_ttl: env.seconds("SIGNUP_TOKEN_TTL_SECS", 900)?,
            require_verification_id: env.flag("VERIFY_REQUIRES_VERIFICATION_ID", false)?,
        };

        let try_page = match env.get("TRY_PAGE").as_deref() {
            None => !database.is_postgres(),
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "TRY_PAGE",
                    format!("{other:?} is not one of true, false"),
                ));
            }
        };

        if otp.mailbox_sends_per_day < otp.max_sends_per_day {
            return Err(ConfigError::new(
                "OTP_MAX_SENDS_PER_MAILBOX_PER_DAY",
                format!(
                    "{} is below OTP_MAX_SENDS_PER_DAY ({}): one requester could never reach its own cap",
                    otp.mailbox_sends_per_day, otp.max_sends_per_day
                ),
            ));
        }
        let mail = mail_config(&env)?;
        let mail_transport_chosen = env.get("MAIL_TRANSPORT").is_some();
        let resources = {
            let defaults = ResourceLimits::default();
            ResourceLimits {
                body_timeout: env.seconds("REQUEST_BODY_TIMEOUT_SECS", 10)?,
                connections_per_client: env.parse_in(
                    "MAX_CONNECTIONS_PER_CLIENT",
                    defaults.connections_per_client,
                    1..=100_000,
                )?,
                hashing_threads: env.parse_in(
                    "PASSWORD_HASHING_THREADS",
                    defaults.hashing_threads,
                    1..=256,
                )?,
                hashing_queue: env.parse_in(
                    "PASSWORD_HASHING_QUEUE",
                    defaults.hashing_queue,
                    1..=100_000,
                )?,
            }
        };

        Ok(Config {
            database,
            bind_addr: env.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            metrics_addr: env.parse("METRICS_ADDR", SocketAddr::from(([127, 0, 0, 1], 9464)))?,
            db_pool_size: env.parse_in("DB_POOL_SIZE", 10, 1..=1000)?,
            db_pool_timeout: env.seconds("DB_POOL_TIMEOUT_SECS", 5)?,
            mail,
            mail_transport_chosen,
            otp_secret,
            otp_secret_previous,
            otp_secret_generated,
            otp,
            cleanup_interval: env.seconds("CLEANUP_INTERVAL_SECS", 300)?,
            shutdown_grace: env.seconds("SHUTDOWN_GRACE_SECS", 30)?,
            log_format: env.parse("LOG_FORMAT", LogFormat::Text)?,
            rate_limits: rate_limits(&env)?,
            cors_allowed_origins: cors_origins(&env)?,
            idempotency_ttl: env.seconds("IDEMPOTENCY_TTL_SECS", 600)?,
            default_locale: env
                .parse("DEFAULT_LOCALE", Locale::default())
                .map_err(|_| {
                    ConfigError::new(
                        "DEFAULT_LOCALE",
                        format!(
                            "must be one of the shipped locales: {}",
                            crate::domain::locale::SHIPPED
                                .map(Locale::as_str)
                                .join(", ")
                        ),
                    )
                })?,
            try_page,
            resources,
        })
    }
}

/// Exact origins, `scheme://host[:port]`, comma-separated. A wildcard would let
/// any site drive the API from its visitors' browsers, so it is refused.
fn cors_origins(env: &Env<'_>) -> Result<Vec<String>, ConfigError> {
    const VARIABLE: &str = "CORS_ALLOWED_ORIGINS";
    let raw = env.get(VARIABLE).unwrap_or_default();
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry.contains('*') {
            return Err(ConfigError::new(
                VARIABLE,
                format!("{entry:?}: wildcards are not allowed; list each origin exactly"),
            ));
        }
        let url = url::Url::parse(entry)
            .map_err(|e| ConfigError::new(VARIABLE, format!("{entry:?} is not an origin: {e}")))?;
        let origin = url.origin();
        if !matches!(url.scheme(), "http" | "https")
            || !origin.is_tuple()
            || origin.ascii_serialization() != entry.trim_end_matches('/')
        {
            return Err(ConfigError::new(
                VARIABLE,
                format!("{entry:?} is not an origin: write scheme://host[:port], no path"),
            ));
        }
        origins.push(origin.ascii_serialization());
    }
    Ok(origins)
}

fn rate_limits(env: &Env<'_>) -> Result<RateLimits, ConfigError> {
    let enabled = match env.get("IP_RATE_LIMITS").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            return Err(ConfigError::new(
                "IP_RATE_LIMITS",
                format!("{other:?} is not one of on, off"),
            ));
        }
    };
    let trusted_proxies = env
        .get("TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{entry:?} is not an IP address or CIDR range"),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let defaults = RateLimits::default();
    Ok(RateLimits {
        enabled,
        trusted_proxies,
        ipv6_prefix: env.parse_in("IPV6_CLIENT_PREFIX", defaults.ipv6_prefix, 32..=128)?,
        send_per_minute: env.parse("SEND_OTP_PER_IP_PER_MINUTE", defaults.send_per_minute)?,
        send_per_hour: env.parse("SEND_OTP_PER_IP_PER_HOUR", defaults.send_per_hour)?,
        verify_per_5_minutes: env.parse(
            "VERIFY_OTP_PER_IP_PER_5_MINUTES",
            defaults.verify_per_5_minutes,
        )?,
        register_per_minute: env
            .parse("REGISTER_PER_IP_PER_MINUTE", defaults.register_per_minute)?,
        register_per_hour: env.parse("REGISTER_PER_IP_PER_HOUR", defaults.register_per_hour)?,
    })
}

fn mail_config(env: &Env<'_>) -> Result<MailConfig, ConfigError> {
    let transport = match env.get("MAIL_TRANSPORT").as_deref() {
        None | Some("stdout") => MailTransport::Stdout,
        Some("file") => MailTransport::File(PathBuf::from(
            env.get("MAIL_DIR").unwrap_or_else(|| "mail".into()),
        )),
        Some("smtp") => {
            let url = env.get("SMTP_URL").ok_or_else(|| {
                ConfigError::new(
                    "SMTP_URL",
                    "is required with MAIL_TRANSPORT=smtp (e.g. smtp://127.0.0.1:2525)",
                )
            })?;
            let parsed = url::Url::parse(&url)
                .map_err(|e| ConfigError::new("SMTP_URL", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                return Err(ConfigError::new(
                    "SMTP_URL",
                    "must look like smtp://host:port or smtps://user:pass@host",
                ));
            }
            MailTransport::Smtp {
                url,
                timeout: env.seconds("SMTP_TIMEOUT_SECS", 10)?,
            }
        }
        Some(other) => {
            return Err(ConfigError::new(
                "MAIL_TRANSPORT",
                format!("{other:?} is not one of stdout, file, smtp"),
            ));
        }
    };
    let from = env
        .get("MAIL_FROM")
        .unwrap_or_else(|| "signup-otp <no-reply@localhost>".into());
    let from = from
        .parse::<Mailbox>()
        .map_err(|e| ConfigError::new("MAIL_FROM", format!("{from:?} is not a mailbox: {e}")))?;
    Ok(MailConfig {
        transport,
        from,
        retry_initial: Duration::from_millis(env.parse_in(
            "MAIL_RETRY_INITIAL_MS",
            1000,
            1..=3_600_000,
        )?),
        retry_max: env.seconds("MAIL_RETRY_MAX_SECS", 300)?,
    })
}

/// Typed access to the variables, each error naming its variable.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError::new(name, format!("{raw:?}: {e}"))),
        }
    }

    fn parse_in<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
        T::Err: fmt::Display,
    {
        let value = self.parse(name, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                name,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ))
        }
    }

    /// `true` or `false`.
    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("{other:?} is not one of true, false"),
            )),
        }
    }

    /// A whole number of seconds, at least one.
    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_in(name, default, 1..=u64::from(u32::MAX))
            .map(Duration::from_secs)
    }

    /// A whole number of seconds; zero turns the feature off.
    fn seconds_or_zero(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_in(name, default, 0..=u64::from(u32::MAX))
            .map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost_with_a_generated_secret() {
        let config = config(&[]).unwrap();
        assert_eq!(
            config.database,
            DatabaseUrl::Sqlite(PathBuf::from("signup-otp.db"))
        );
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8080");
        assert!(config.otp_secret_generated);
        assert_eq!(config.otp, OtpPolicy::default());
        assert_eq!(config.cleanup_interval, Duration::from_secs(300));
        assert!(matches!(config.mail.transport, MailTransport::Stdout));
    }

    #[test]
    fn the_url_scheme_picks_the_backend() {
        for (raw, postgres) in [
            ("postgres://u@h/db", true),
            ("postgresql://u@h/db", true),
            ("sqlite://data/otp.db", false),
            ("/var/lib/otp.db", false),
            ("otp.db", false),
        ] {
            assert_eq!(
                DatabaseUrl::parse(raw).unwrap().is_postgres(),
                postgres,
                "{raw}"
            );
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/otp.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/otp.db"))
        );
    }

    #[test]
    fn in_memory_sqlite_and_empty_paths_are_refused() {
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse(":memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn unknown_database_schemes_are_refused() {
        let err = config(&[("DATABASE_URL", "mysql://root@localhost/otp")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(err.message.contains("mysql"), "{err}");
    }

    /// 32 random bytes as base64 (`openssl rand -base64 32`).
    const GOOD_SECRET: &str = "q3Xv9mB2LwZ7pK4tR8yN1cF6hJ0sD5gA2eU7iO3wQ9M=";

    #[test]
    fn postgres_requires_a_random_secret_and_an_explicit_mail_transport() {
        let postgres = ("DATABASE_URL", "postgres://localhost/otp");
        let file_mail = ("MAIL_TRANSPORT", "file");
        assert_eq!(config_err(&[postgres, file_mail]).variable, "OTP_SECRET");
        for weak in [
            "short",
            &"k".repeat(32),
            &"a".repeat(64),
            &"A".repeat(44),
            "test-secret-test-secret-test-secret",
            "abcdefghijklmnopabcdefghijklmnopabcdefghijklmnopabcdefghijklmnop",
            "correct horse battery staple!!",
            "qwertyuiopasdfghjklzxcvbnm1234567890!@#$",
            "The quick brown fox jumps over the lazy dog!",
            "c2hvcnQ=",
        ] {
            let err = config_err(&[postgres, file_mail, ("OTP_SECRET", weak)]);
            assert_eq!(err.variable, "OTP_SECRET", "{weak}");
            assert!(err.message.contains("openssl rand"), "{err}");
        }
        for strong in [
            GOOD_SECRET,
            "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f0a1c3e5b7d9f2a4c6e8b0d1f3a",
        ] {
            let ok = config_of(&[postgres, file_mail, ("OTP_SECRET", strong)]);
            assert!(!ok.otp_secret_generated);
            assert_eq!(ok.otp_secret, OtpSecret::new(strong.as_bytes()));
        }
        let unchosen = config_of(&[postgres, ("OTP_SECRET", GOOD_SECRET)]);
        assert_eq!(
            unchosen.check_for_serving().unwrap_err().variable,
            "MAIL_TRANSPORT",
            "serving needs a chosen transport; migrate and cleanup do not"
        );
        let stdout = config_of(&[
            postgres,
            ("OTP_SECRET", GOOD_SECRET),
            ("MAIL_TRANSPORT", "stdout"),
        ]);
        assert!(matches!(stdout.mail.transport, MailTransport::Stdout));
        assert!(stdout.check_for_serving().is_ok());
        assert!(
            config_of(&[]).check_for_serving().is_ok(),
            "SQLite keeps the default"
        );
    }

    #[test]
    fn the_previous_secret_is_read_as_it_is_and_needs_a_current_one() {
        let rotated = config_of(&[
            ("OTP_SECRET", GOOD_SECRET),
            ("OTP_SECRET_PREVIOUS", "an-old-weak-key"),
        ]);
        let keyring = rotated.keyring();
        assert_eq!(keyring.current, OtpSecret::new(GOOD_SECRET.as_bytes()));
        assert_eq!(
            keyring.previous,
            Some(OtpSecret::new(b"an-old-weak-key".as_slice()))
        );
        assert_eq!(
            config_err(&[("OTP_SECRET_PREVIOUS", GOOD_SECRET)]).variable,
            "OTP_SECRET_PREVIOUS"
        );
    }

    #[test]
    fn bad_numbers_name_their_variable() {
        for (name, value) in [
            ("OTP_LENGTH", "six"),
            ("OTP_LENGTH", "3"),
            ("OTP_LENGTH", "11"),
            ("OTP_TTL_SECS", "0"),
            ("OTP_TTL_SECS", "-5"),
            ("OTP_MAX_ATTEMPTS", "0"),
            ("OTP_MAX_SENDS_PER_HOUR", "0"),
            ("DB_POOL_SIZE", "0"),
            ("CLEANUP_INTERVAL_SECS", "soon"),
            ("BIND_ADDR", "localhost"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}: {err}");
            assert!(err.to_string().starts_with(&format!("invalid {name}:")));
        }
    }

    #[test]
    fn rate_limits_default_on_and_take_proxies_as_addresses_or_ranges() {
        let config = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1")]).unwrap();
        assert!(config.rate_limits.enabled);
        assert_eq!(config.rate_limits.trusted_proxies.len(), 3);
        assert_eq!(config.rate_limits.send_per_minute, 3);
        let off = config_of(&[
            ("IP_RATE_LIMITS", "off"),
            ("VERIFY_OTP_PER_IP_PER_5_MINUTES", "0"),
        ]);
        assert!(!off.rate_limits.enabled);
        assert_eq!(off.rate_limits.verify_per_5_minutes, 0);
        for (name, value) in [
            ("TRUSTED_PROXIES", "proxy.local"),
            ("IP_RATE_LIMITS", "maybe"),
        ] {
            assert_eq!(config_err(&[(name, value)]).variable, name);
        }
    }

    fn config_of(vars: &[(&str, &str)]) -> Config {
        config(vars).unwrap()
    }

    fn config_err(vars: &[(&str, &str)]) -> ConfigError {
        config(vars).unwrap_err()
    }

    #[test]
    fn the_new_limits_have_defaults_ranges_and_a_rule_between_them() {
        let defaults = config_of(&[]);
        assert_eq!(defaults.otp.mailbox_sends_per_day, 30);
        assert_eq!(defaults.rate_limits.ipv6_prefix, 64);
        assert_eq!(defaults.metrics_addr.to_string(), "127.0.0.1:9464");
        assert_eq!(defaults.resources.body_timeout, Duration::from_secs(10));
        assert_eq!(defaults.resources.connections_per_client, 32);
        assert!(defaults.resources.hashing_threads >= 1);
        let tuned = config_of(&[
            ("IPV6_CLIENT_PREFIX", "56"),
            ("PASSWORD_HASHING_THREADS", "1"),
            ("METRICS_ADDR", "0.0.0.0:9100"),
        ]);
        assert_eq!(tuned.rate_limits.ipv6_prefix, 56);
        assert_eq!(tuned.resources.hashing_threads, 1);
        assert_eq!(tuned.metrics_addr.port(), 9100);
        for (name, value) in [
            ("IPV6_CLIENT_PREFIX", "16"),
            ("IPV6_CLIENT_PREFIX", "129"),
            ("MAX_CONNECTIONS_PER_CLIENT", "0"),
            ("PASSWORD_HASHING_QUEUE", "0"),
            ("REQUEST_BODY_TIMEOUT_SECS", "0"),
            ("METRICS_ADDR", "nowhere"),
        ] {
            assert_eq!(
                config_err(&[(name, value)]).variable,
                name,
                "{name}={value}"
            );
        }
        let below = config_err(&[
            ("OTP_MAX_SENDS_PER_DAY", "10"),
            ("OTP_MAX_SENDS_PER_MAILBOX_PER_DAY", "5"),
        ]);
        assert_eq!(below.variable, "OTP_MAX_SENDS_PER_MAILBOX_PER_DAY");
    }

    #[test]
    fn a_zero_cooldown_turns_the_cooldown_off() {
        let config = config(&[("OTP_RESEND_COOLDOWN_SECS", "0")]).unwrap();
        assert_eq!(config.otp.resend_cooldown, Duration::ZERO);
    }

    #[test]
    fn smtp_needs_a_valid_smtp_url() {
        let err = config(&[("MAIL_TRANSPORT", "smtp")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_URL");
        let err = config(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "http://x")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_URL");
        let ok = config(&[
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", "smtps://user:pass@mail.example.com"),
        ])
        .unwrap();
        assert!(matches!(ok.mail.transport, MailTransport::Smtp { .. }));
    }

    #[test]
    fn unknown_mail_transports_and_bad_senders_are_refused() {
        let err = config(&[("MAIL_TRANSPORT", "carrier-pigeon")]).unwrap_err();
        assert_eq!(err.variable, "MAIL_TRANSPORT");
        let err = config(&[("MAIL_FROM", "not an address")]).unwrap_err();
        assert_eq!(err.variable, "MAIL_FROM");
    }

    #[test]
    fn debug_output_hides_the_secret_and_the_database_url() {
        let config = config(&[
            ("DATABASE_URL", "postgres://user:hunter2@db/otp"),
            ("OTP_SECRET", GOOD_SECRET),
            ("OTP_SECRET_PREVIOUS", "the-old-key"),
            ("MAIL_TRANSPORT", "file"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains(GOOD_SECRET), "{debug}");
        assert!(!debug.contains("the-old-key"), "{debug}");
    }

    #[test]
    fn cors_takes_exact_origins_and_refuses_wildcards_and_paths() {
        assert!(config(&[]).unwrap().cors_allowed_origins.is_empty());
        let origins = config(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:3000/",
        )])
        .unwrap()
        .cors_allowed_origins;
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "https://a.example.com/path",
            "app.example.com",
            "ftp://x.example.com",
        ] {
            let error = config(&[("CORS_ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(error.variable, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn the_try_page_defaults_on_for_sqlite_only_and_locales_must_be_shipped() {
        assert!(config(&[]).unwrap().try_page);
        let postgres = [
            ("DATABASE_URL", "postgres://u@h/db"),
            ("OTP_SECRET", GOOD_SECRET),
            ("MAIL_TRANSPORT", "file"),
        ];
        assert!(!config(&postgres).unwrap().try_page);
        assert!(
            config(&[postgres[0], postgres[1], postgres[2], ("TRY_PAGE", "true")])
                .unwrap()
                .try_page
        );
        assert_eq!(
            config(&[("TRY_PAGE", "yes")]).unwrap_err().variable,
            "TRY_PAGE"
        );
        assert_eq!(config(&[]).unwrap().default_locale, Locale::En);
        assert_eq!(
            config(&[("DEFAULT_LOCALE", "de")]).unwrap().default_locale,
            Locale::De
        );
        assert_eq!(
            config(&[("DEFAULT_LOCALE", "fr")]).unwrap_err().variable,
            "DEFAULT_LOCALE"
        );
        assert_eq!(
            config(&[]).unwrap().idempotency_ttl,
            Duration::from_secs(600)
        );
    }
}
