//! Configuration. Every setting is declared once, in [`Settings`]: its
//! environment variable, default, range and meaning. It is read from the
//! environment (and a `.env` file), or given as a flag (`--otp-ttl-secs 300`);
//! `signup-otp serve --help` lists them all. [`Settings::validate`] checks the
//! rules between settings and builds the [`Config`] the service runs with. A bad
//! value stops start-up with an error naming its variable. `.env.sample`
//! documents the same list, and a unit test holds the two together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{BoolValueParser, RangedU64ValueParser};
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::db::DatabaseUrl;
use crate::domain::{DEFAULT_IPV6_PREFIX, Locale};
use crate::flows::OtpPolicy;
use crate::http::AdminToken;
use crate::http::rate_limit::RateLimits;
use crate::keys::{Keyring, MIN_SECRET_BYTES, OtpSecret};
use crate::mail::{MailConfig, MailTransport, Sender};
use crate::telemetry::LogFormat;

/// Every setting, as the environment (or the command line) gives it.
/// Not `Debug`: `SMTP_URL` may carry a password.
#[derive(Clone, Args)]
#[command(next_help_heading = "Settings (each also read from its environment variable)")]
pub struct Settings {
    /// Where the data lives: postgres:// or postgresql:// (PostgreSQL); sqlite://PATH or a file
    /// path (the embedded SQLite, created if missing).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://signup-otp.db",
          value_parser = DatabaseUrl::parse, hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Address and port the API listens on (in a container: 0.0.0.0:8080).
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Where /metrics is served: a listener of its own, never the API's port.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,

    /// Database connections in the pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 10, value_parser = in_range::<u32>(1, 1000))]
    pub db_pool_size: u32,

    /// Seconds a request waits on the database (connection and statements) before a 503.
    #[arg(long, env = "DB_POOL_TIMEOUT_SECS", default_value = "5", value_parser = seconds)]
    pub db_pool_timeout_secs: Duration,

    /// How email leaves the service: stdout (the default, for development), file or smtp.
    /// Must be set with PostgreSQL.
    #[arg(long, env = "MAIL_TRANSPORT", value_enum)]
    pub mail_transport: Option<TransportKind>,

    /// With MAIL_TRANSPORT=file: the folder the .eml files go to.
    #[arg(long, env = "MAIL_DIR", default_value = "mail")]
    pub mail_dir: PathBuf,

    /// With MAIL_TRANSPORT=smtp: smtp://host:port, smtp://host:587?tls=required or
    /// smtps://user:pass@host.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Seconds to wait on the relay before a send counts as failed.
    #[arg(long, env = "SMTP_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub smtp_timeout_secs: Duration,

    /// Milliseconds before the first retry of a failed delivery (each next one waits twice as
    /// long).
    #[arg(long, env = "MAIL_RETRY_INITIAL_MS", default_value_t = 1000,
          value_parser = in_range::<u64>(1, 3_600_000))]
    pub mail_retry_initial_ms: u64,

    /// Emails the courier delivers at once (also the SMTP connections it keeps open): the
    /// delivery rate is about this many divided by the relay's time per message.
    #[arg(long, env = "MAIL_MAX_IN_FLIGHT", default_value_t = 32,
          value_parser = in_range::<u32>(1, 256))]
    pub mail_max_in_flight: u32,

    /// The longest wait between two delivery retries, in seconds.
    #[arg(long, env = "MAIL_RETRY_MAX_SECS", default_value = "300", value_parser = seconds)]
    pub mail_retry_max_secs: Duration,

    /// The From: header of every email, with a display name.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "signup-otp <no-reply@localhost>"
    )]
    pub mail_from: Sender,

    /// The key codes are hashed and stored data sealed under: 32+ random bytes as base64 or
    /// hex (`openssl rand -base64 32`), the same on every instance. Required with PostgreSQL.
    /// Only as the variable: a flag's value is visible to every user of the host.
    #[arg(long, env = "OTP_SECRET", value_parser = strong_secret, hide_env_values = true)]
    pub otp_secret: Option<OtpSecret>,

    /// After a rotation, the old key: what was made under it is still read. Only as the
    /// variable.
    #[arg(long, env = "OTP_SECRET_PREVIOUS", value_parser = any_secret, hide_env_values = true)]
    pub otp_secret_previous: Option<OtpSecret>,

    /// Digits per code.
    #[arg(long, env = "OTP_LENGTH", default_value_t = 6, value_parser = in_range::<usize>(4, 10))]
    pub otp_length: usize,

    /// Seconds a code stays valid.
    #[arg(long, env = "OTP_TTL_SECS", default_value = "600", value_parser = seconds)]
    pub otp_ttl_secs: Duration,

    /// Wrong tries before a code is dead: this many for the client that asked for it, and as
    /// many for everyone else together.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value_t = 5, value_parser = in_range::<u32>(1, 1000))]
    pub otp_max_attempts: u32,

    /// Whether verify-otp needs the send's verification_id (or register's registration_id).
    #[arg(long, env = "VERIFY_REQUIRES_VERIFICATION_ID", default_value_t = false,
          action = ArgAction::Set, value_parser = BoolValueParser::new())]
    pub verify_requires_verification_id: bool,

    /// Seconds between two sends to one mailbox, whoever asks; 0 turns it off.
    #[arg(long, env = "OTP_RESEND_COOLDOWN_SECS", default_value = "60", value_parser = seconds_or_zero)]
    pub otp_resend_cooldown_secs: Duration,

    /// Sends to one mailbox asked from one client network per hour.
    #[arg(long, env = "OTP_MAX_SENDS_PER_HOUR", default_value_t = 5,
          value_parser = in_range::<u32>(1, 10_000))]
    pub otp_max_sends_per_hour: u32,

    /// Sends to one mailbox asked from one client network per day.
    #[arg(long, env = "OTP_MAX_SENDS_PER_DAY", default_value_t = 10,
          value_parser = in_range::<u32>(1, 100_000))]
    pub otp_max_sends_per_day: u32,

    /// Sends to one mailbox per day from every network together (at least
    /// OTP_MAX_SENDS_PER_DAY).
    #[arg(long, env = "OTP_MAX_SENDS_PER_MAILBOX_PER_DAY", default_value_t = 30,
          value_parser = in_range::<u32>(1, 1_000_000))]
    pub otp_max_sends_per_mailbox_per_day: u32,

    /// Consecutive wrong codes from one client network that lock it out of an address.
    #[arg(long, env = "OTP_LOCKOUT_THRESHOLD", default_value_t = 10,
          value_parser = in_range::<u32>(1, 10_000))]
    pub otp_lockout_threshold: u32,

    /// Seconds such a lockout lasts.
    #[arg(long, env = "OTP_LOCKOUT_SECS", default_value = "3600", value_parser = seconds)]
    pub otp_lockout_secs: Duration,

    /// Seconds the signup token from verify-otp stays good for register.
    #[arg(long, env = "SIGNUP_TOKEN_TTL_SECS", default_value = "900", value_parser = seconds)]
    pub signup_token_ttl_secs: Duration,

    /// The per-client-IP quotas (in memory, per instance); off for load tests from one address.
    #[arg(long, env = "IP_RATE_LIMITS", value_enum, default_value_t = OnOff::On)]
    pub ip_rate_limits: OnOff,

    /// send-otp requests per client IP per minute (0: no such quota).
    #[arg(long, env = "SEND_OTP_PER_IP_PER_MINUTE", default_value_t = 3)]
    pub send_otp_per_ip_per_minute: u32,

    /// send-otp requests per client IP per hour (0: no such quota).
    #[arg(long, env = "SEND_OTP_PER_IP_PER_HOUR", default_value_t = 20)]
    pub send_otp_per_ip_per_hour: u32,

    /// verify-otp requests per client IP per 5 minutes (0: no such quota).
    #[arg(long, env = "VERIFY_OTP_PER_IP_PER_5_MINUTES", default_value_t = 30)]
    pub verify_otp_per_ip_per_5_minutes: u32,

    /// register requests per client IP per minute (0: no such quota).
    #[arg(long, env = "REGISTER_PER_IP_PER_MINUTE", default_value_t = 3)]
    pub register_per_ip_per_minute: u32,

    /// register requests per client IP per hour (0: no such quota).
    #[arg(long, env = "REGISTER_PER_IP_PER_HOUR", default_value_t = 20)]
    pub register_per_ip_per_hour: u32,

    /// Proxies whose X-Forwarded-For is believed: addresses or CIDR ranges, comma-separated.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Leading bits of an IPv6 address that name one client.
    #[arg(long, env = "IPV6_CLIENT_PREFIX", default_value_t = DEFAULT_IPV6_PREFIX,
          value_parser = in_range::<u8>(32, 128))]
    pub ipv6_client_prefix: u8,

    /// Seconds a request's body may take once its headers have arrived (then 408).
    #[arg(long, env = "REQUEST_BODY_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub request_body_timeout_secs: Duration,

    /// Open connections per client network; beyond, 429 and the connection is closed.
    #[arg(long, env = "MAX_CONNECTIONS_PER_CLIENT", default_value_t = 32,
          value_parser = in_range::<u32>(1, 100_000))]
    pub max_connections_per_client: u32,

    /// Passwords hashed at once (about 19 MiB and a core each). Default: the number of cores.
    #[arg(long, env = "PASSWORD_HASHING_THREADS", value_parser = in_range::<usize>(1, 256))]
    pub password_hashing_threads: Option<usize>,

    /// Passwords that may wait to be hashed before register answers 503.
    #[arg(long, env = "PASSWORD_HASHING_QUEUE", default_value_t = 64,
          value_parser = in_range::<usize>(1, 100_000))]
    pub password_hashing_queue: usize,

    /// Browser origins allowed to call the API (CORS): exact origins (scheme://host or
    /// scheme://host:port), comma-separated; a wildcard is refused.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Seconds the answer to an Idempotency-Key is kept, for retries.
    #[arg(long, env = "IDEMPOTENCY_TTL_SECS", default_value = "600", value_parser = seconds)]
    pub idempotency_ttl_secs: Duration,

    /// The email language when a request names none the service ships.
    #[arg(long, env = "DEFAULT_LOCALE", default_value = "en", value_parser = shipped_locale)]
    pub default_locale: Locale,

    /// Serve the signup page at /try. Default: true with SQLite, false with PostgreSQL.
    #[arg(long, env = "TRY_PAGE", action = ArgAction::Set, value_parser = BoolValueParser::new())]
    pub try_page: Option<bool>,

    /// Seconds between two runs of the expired-code cleanup inside `serve`.
    #[arg(long, env = "CLEANUP_INTERVAL_SECS", default_value = "300", value_parser = seconds)]
    pub cleanup_interval_secs: Duration,

    /// Seconds a delivery record (what became of an email, without its code) is kept after
    /// its last attempt, for `signup-otp inspect`.
    #[arg(long, env = "DELIVERY_RECORD_RETENTION_SECS", default_value = "604800",
          value_parser = seconds)]
    pub delivery_record_retention_secs: Duration,

    /// The bearer token of the admin API (on METRICS_ADDR): 32+ random bytes as base64 or
    /// hex. Unset, the admin API is off. Only as the variable.
    #[arg(long, env = "ADMIN_TOKEN", value_parser = admin_token, hide_env_values = true)]
    pub admin_token: Option<AdminToken>,

    /// Seconds a stopping service waits for requests and deliveries in flight.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value = "30", value_parser = seconds)]
    pub shutdown_grace_secs: Duration,

    /// text (human) or json (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// `MAIL_TRANSPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// Print each whole email to standard output (development).
    Stdout,
    /// Write each email as an .eml file into MAIL_DIR.
    File,
    /// Deliver through the relay in SMTP_URL.
    Smtp,
}

/// `IP_RATE_LIMITS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

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
    /// The admin API's bearer token; without one the admin API is off.
    pub admin_token: Option<AdminToken>,
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

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.into(),
        }
    }

    /// A value clap could not take, named by its variable. The value itself is
    /// not repeated: it may be a secret.
    pub fn from_clap(error: &clap::Error) -> Option<Self> {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        if !matches!(
            error.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            // An unknown flag, a missing subcommand and the like: clap's own
            // message says it better.
            return None;
        }
        let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
        let variable = Standalone::command()
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long))
            .and_then(|arg| arg.get_env())
            .map(|name| name.to_string_lossy().into_owned())?;
        let reason = match (
            std::error::Error::source(error),
            error.get(ContextKind::ValidValue),
        ) {
            (Some(source), _) => source.to_string(),
            (None, Some(ContextValue::Strings(valid))) => {
                format!("is not one of {}", valid.join(", "))
            }
            (None, _) => "is not a valid value".to_owned(),
        };
        Some(Self::new(&variable, reason))
    }
}

/// `Settings` on their own, for reading them apart from a subcommand.
#[derive(Parser)]
#[command(name = "signup-otp")]
struct Standalone {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// Settings from the process environment alone (the binary's default command).
    pub fn from_env() -> Result<Self, ConfigError> {
        Standalone::try_parse_from(["signup-otp"])
            .map(|standalone| standalone.settings)
            .map_err(|error| settings_error(&error))
    }

    /// Settings from `lookup` alone (a variable name to its value; an empty value
    /// counts as unset), never from the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let declared = Standalone::command();
        let mut argv = vec!["signup-otp".to_owned()];
        for arg in declared.get_arguments() {
            let (Some(long), Some(variable)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            if let Some(value) = lookup(&variable.to_string_lossy()).and_then(|raw| tidy(arg, &raw))
            {
                argv.push(format!("--{long}={value}"));
            }
        }
        let command = declared.clone().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|error| settings_error(&error))?;
        Standalone::from_arg_matches(&matches)
            .map(|standalone| standalone.settings)
            .map_err(|error| settings_error(&error))
    }

    /// The rules between settings, and the configuration they make.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let database = self.database_url;
        let (otp_secret, otp_secret_generated) = match self.otp_secret {
            Some(secret) => (secret, false),
            None if database.is_postgres() => {
                return Err(ConfigError::new(
                    "OTP_SECRET",
                    "is required with PostgreSQL (at least 32 random bytes as base64 or hex, \
                     the same on every instance, e.g. `openssl rand -base64 32`)",
                ));
            }
            None => (OtpSecret::random(), true),
        };
        // The old key is read, never used to make anything: it is accepted as it
        // is, so that a weak key can be rotated out.
        let otp_secret_previous = self
            .otp_secret_previous
            .filter(|previous| *previous != otp_secret);
        if otp_secret_previous.is_some() && otp_secret_generated {
            return Err(ConfigError::new(
                "OTP_SECRET_PREVIOUS",
                "is set, but OTP_SECRET is not: set the new key in OTP_SECRET",
            ));
        }
        if self.otp_max_sends_per_mailbox_per_day < self.otp_max_sends_per_day {
            return Err(ConfigError::new(
                "OTP_MAX_SENDS_PER_MAILBOX_PER_DAY",
                format!(
                    "{} is below OTP_MAX_SENDS_PER_DAY ({}): one requester could never reach \
                     its own cap",
                    self.otp_max_sends_per_mailbox_per_day, self.otp_max_sends_per_day
                ),
            ));
        }
        let mail_transport_chosen = self.mail_transport.is_some();
        let transport = match self.mail_transport.unwrap_or(TransportKind::Stdout) {
            TransportKind::Stdout => MailTransport::Stdout,
            TransportKind::File => MailTransport::File(self.mail_dir),
            TransportKind::Smtp => MailTransport::Smtp {
                url: self.smtp_url.ok_or_else(|| {
                    ConfigError::new(
                        "SMTP_URL",
                        "is required with MAIL_TRANSPORT=smtp (e.g. smtp://127.0.0.1:2525)",
                    )
                })?,
                timeout: self.smtp_timeout_secs,
            },
        };
        if let MailTransport::Smtp { url, .. } = &transport {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError::new("SMTP_URL", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                return Err(ConfigError::new(
                    "SMTP_URL",
                    "must look like smtp://host:port or smtps://user:pass@host",
                ));
            }
        }
        let try_page = self.try_page.unwrap_or(!database.is_postgres());
        Ok(Config {
            bind_addr: self.bind_addr,
            metrics_addr: self.metrics_addr,
            db_pool_size: self.db_pool_size,
            db_pool_timeout: self.db_pool_timeout_secs,
            mail: MailConfig {
                transport,
                from: self.mail_from,
                retry_initial: Duration::from_millis(self.mail_retry_initial_ms),
                retry_max: self.mail_retry_max_secs,
                max_in_flight: self.mail_max_in_flight,
            },
            mail_transport_chosen,
            otp_secret,
            otp_secret_previous,
            otp_secret_generated,
            otp: OtpPolicy {
                length: self.otp_length,
                ttl: self.otp_ttl_secs,
                max_attempts: self.otp_max_attempts,
                resend_cooldown: self.otp_resend_cooldown_secs,
                max_sends_per_hour: self.otp_max_sends_per_hour,
                max_sends_per_day: self.otp_max_sends_per_day,
                mailbox_sends_per_day: self.otp_max_sends_per_mailbox_per_day,
                lockout_threshold: self.otp_lockout_threshold,
                lockout: self.otp_lockout_secs,
                signup_token_ttl: self.signup_token_ttl_secs,
                delivery_record_retention: self.delivery_record_retention_secs,
                require_verification_id: self.verify_requires_verification_id,
            },
            cleanup_interval: self.cleanup_interval_secs,
            shutdown_grace: self.shutdown_grace_secs,
            log_format: self.log_format,
            rate_limits: RateLimits {
                enabled: self.ip_rate_limits == OnOff::On,
                trusted_proxies: self.trusted_proxies,
                ipv6_prefix: self.ipv6_client_prefix,
                send_per_minute: self.send_otp_per_ip_per_minute,
                send_per_hour: self.send_otp_per_ip_per_hour,
                verify_per_5_minutes: self.verify_otp_per_ip_per_5_minutes,
                register_per_minute: self.register_per_ip_per_minute,
                register_per_hour: self.register_per_ip_per_hour,
            },
            cors_allowed_origins: self.cors_allowed_origins,
            admin_token: self.admin_token,
            idempotency_ttl: self.idempotency_ttl_secs,
            default_locale: self.default_locale,
            try_page,
            resources: ResourceLimits {
                body_timeout: self.request_body_timeout_secs,
                connections_per_client: self.max_connections_per_client,
                hashing_threads: self
                    .password_hashing_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
                hashing_queue: self.password_hashing_queue,
            },
            database,
        })
    }
}

/// A value as a setting reads it, from the environment or a lookup alike:
/// surrounding whitespace dropped (a secret mounted from a file ends in a
/// newline), the empty entries of a comma-separated list dropped, and nothing
/// left counts as unset.
fn tidy(arg: &clap::Arg, raw: &str) -> Option<String> {
    let value = match arg.get_value_delimiter() {
        Some(delimiter) => raw
            .split(delimiter)
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect::<Vec<_>>()
            .join(&delimiter.to_string()),
        None => raw.trim().to_owned(),
    };
    (!value.is_empty()).then_some(value)
}

/// The settings' variables whose value reads differently once tidied (see
/// [`Settings::from_lookup`]): each with what it should hold, `None` for unset.
/// `main` applies them to the process environment before clap reads it.
pub fn untidy_variables(lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, Option<String>)> {
    Standalone::command()
        .get_arguments()
        .filter_map(|arg| {
            let variable = arg.get_env()?.to_string_lossy().into_owned();
            let raw = lookup(&variable)?;
            let tidied = tidy(arg, &raw);
            (tidied.as_deref() != Some(raw.as_str())).then_some((variable, tidied))
        })
        .collect()
}

/// Settings whose value is a secret may come only from their variable: a flag
/// shows in the process list to every user of the host. `OTP_SECRET` and
/// `OTP_SECRET_PREVIOUS` always; the URLs when they carry a password.
pub fn refuse_secret_flags(matches: &clap::ArgMatches) -> Result<(), ConfigError> {
    use clap::parser::ValueSource;
    for arg in Standalone::command().get_arguments() {
        let id = arg.get_id().as_str();
        if matches.try_contains_id(id).ok() != Some(true)
            || matches.value_source(id) != Some(ValueSource::CommandLine)
        {
            continue;
        }
        let secret = match id {
            "otp_secret" | "otp_secret_previous" | "admin_token" => true,
            "database_url" | "smtp_url" => matches
                .get_raw(id)
                .into_iter()
                .flatten()
                .any(|raw| url_has_password(&raw.to_string_lossy())),
            _ => false,
        };
        if secret {
            let variable = arg
                .get_env()
                .map_or_else(|| id.to_owned(), |name| name.to_string_lossy().into_owned());
            return Err(ConfigError::new(
                &variable,
                format!(
                    "give it as the environment variable {variable}, not as a flag: a flag's \
                     value is visible to every user of the host"
                ),
            ));
        }
    }
    Ok(())
}

fn url_has_password(raw: &str) -> bool {
    url::Url::parse(raw.trim()).is_ok_and(|url| url.password().is_some())
}

/// Every variable a setting is read from, in declaration order.
pub fn variables() -> Vec<String> {
    Standalone::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

fn settings_error(error: &clap::Error) -> ConfigError {
    ConfigError::from_clap(error).unwrap_or_else(|| ConfigError::new("settings", error.to_string()))
}

/// A whole number in `low..=high`.
fn in_range<T>(low: u64, high: u64) -> RangedU64ValueParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
    <T as TryFrom<u64>>::Error: std::error::Error + Send + Sync + 'static,
{
    RangedU64ValueParser::<T>::new().range(low..=high)
}

/// A whole number of seconds, at least one.
fn seconds(raw: &str) -> Result<Duration, String> {
    whole_seconds(raw, 1)
}

/// A whole number of seconds; zero turns the feature off.
fn seconds_or_zero(raw: &str) -> Result<Duration, String> {
    whole_seconds(raw, 0)
}

fn whole_seconds(raw: &str, low: u64) -> Result<Duration, String> {
    let high = u64::from(u32::MAX);
    let value: u64 = raw
        .parse()
        .map_err(|error| format!("{raw:?} is not a whole number of seconds: {error}"))?;
    if (low..=high).contains(&value) {
        Ok(Duration::from_secs(value))
    } else {
        Err(format!("{value} is outside {low}..={high}"))
    }
}

/// `OTP_SECRET`: refused unless it looks generated ([`check_secret`]). The
/// message never repeats the value.
fn strong_secret(raw: &str) -> Result<OtpSecret, String> {
    check_secret(raw)?;
    Ok(OtpSecret::new(raw.as_bytes()))
}

/// `ADMIN_TOKEN`: as hard to guess as a generated key ([`check_secret`]).
fn admin_token(raw: &str) -> Result<AdminToken, String> {
    check_secret(raw)?;
    Ok(AdminToken::new(raw))
}

/// `OTP_SECRET_PREVIOUS`: taken as it is, so that a weak key can be rotated out.
fn any_secret(raw: &str) -> Result<OtpSecret, String> {
    Ok(OtpSecret::new(raw.as_bytes()))
}

/// A trusted proxy: an address or a CIDR range.
fn proxy(raw: &str) -> Result<ipnet::IpNet, String> {
    let entry = raw.trim();
    entry
        .parse::<ipnet::IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{entry:?} is not an IP address or CIDR range"))
}

/// An exact origin, `scheme://host[:port]`. A wildcard would let any site drive
/// the API from its visitors' browsers, so it is refused.
fn origin(raw: &str) -> Result<String, String> {
    let entry = raw.trim();
    if entry.contains('*') {
        return Err(format!(
            "{entry:?}: wildcards are not allowed; list each origin exactly"
        ));
    }
    let url = url::Url::parse(entry).map_err(|e| format!("{entry:?} is not an origin: {e}"))?;
    let origin = url.origin();
    if !matches!(url.scheme(), "http" | "https")
        || !origin.is_tuple()
        || origin.ascii_serialization() != entry.trim_end_matches('/')
    {
        return Err(format!(
            "{entry:?} is not an origin: write scheme://host[:port], no path"
        ));
    }
    Ok(origin.ascii_serialization())
}

fn shipped_locale(raw: &str) -> Result<Locale, String> {
    raw.parse().map_err(|_| {
        format!(
            "must be one of the shipped locales: {}",
            crate::domain::locale::SHIPPED
                .map(Locale::as_str)
                .join(", ")
        )
    })
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
    /// The configuration `lookup` describes (a variable name to its value; an
    /// empty value counts as unset); nothing is read from the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Settings::from_lookup(lookup)?.validate()
    }

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
        assert_eq!(config.otp.length, 6);
        assert_eq!(config.otp.ttl, Duration::from_secs(600));
        assert_eq!(config.otp.max_attempts, 5);
        assert!(!config.mail_transport_chosen);
        assert!(config.try_page);
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

    #[test]
    fn env_sample_documents_every_setting_with_its_default_and_nothing_else() {
        let sample = include_str!("../.env.sample");
        let documented: HashMap<&str, (bool, &str)> = sample
            .lines()
            .filter_map(|line| {
                let (commented, line) = match line.strip_prefix("# ") {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let (name, value) = line.split_once('=')?;
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                    .then_some((name, (commented, value)))
            })
            .collect();
        let command = Standalone::command();
        for arg in command.get_arguments() {
            let Some(variable) = arg.get_env().map(|name| name.to_string_lossy()) else {
                continue;
            };
            let Some(&(commented, value)) = documented.get(variable.as_ref()) else {
                panic!(".env.sample does not document {variable}");
            };
            match arg.get_default_values() {
                [default] => {
                    assert!(!commented, "{variable} is set in .env.sample");
                    assert_eq!(value, default.to_string_lossy(), "{variable}'s default");
                }
                _ => assert!(
                    commented || value.is_empty(),
                    "{variable} has no default: .env.sample leaves it empty or commented"
                ),
            }
        }
        let declared = variables();
        for name in documented.keys() {
            assert!(
                declared.iter().any(|variable| variable == name) || *name == "RUST_LOG",
                ".env.sample documents {name}, which is no setting"
            );
        }
    }

    #[test]
    fn a_bad_value_is_named_by_its_variable_and_never_repeated() {
        let error = config_err(&[("OTP_SECRET", "hunter2-hunter2")]);
        assert_eq!(error.variable, "OTP_SECRET");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = config_err(&[("MAIL_TRANSPORT", "pigeon")]);
        assert_eq!(error.message, "is not one of stdout, file, smtp");
        let error = config_err(&[("OTP_LENGTH", "3")]);
        assert!(error.message.contains("4..=10"), "{error}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = config_of(&[("OTP_LENGTH", ""), ("MAIL_TRANSPORT", " ")]);
        assert_eq!(config.otp.length, 6);
        assert!(!config.mail_transport_chosen);
    }

    #[test]
    fn values_are_trimmed_and_lists_lose_their_empty_entries() {
        let config = config_of(&[
            ("OTP_LENGTH", " 8\n"),
            ("TRUSTED_PROXIES", "10.0.0.1, ,10.0.0.0/8,"),
            ("CORS_ALLOWED_ORIGINS", " , "),
        ]);
        assert_eq!(config.otp.length, 8);
        assert_eq!(config.rate_limits.trusted_proxies.len(), 2);
        assert!(config.cors_allowed_origins.is_empty());

        let environment: HashMap<&str, &str> = [
            ("OTP_SECRET", "c2VjcmV0\n"),
            ("OTP_LENGTH", "6"),
            ("SMTP_URL", "  "),
            ("TRUSTED_PROXIES", "10.0.0.1,"),
            ("NOT_A_SETTING", " x "),
        ]
        .into();
        let mut changes = untidy_variables(|name| environment.get(name).map(|v| v.to_string()));
        changes.sort();
        assert_eq!(
            changes,
            [
                ("OTP_SECRET".to_owned(), Some("c2VjcmV0".to_owned())),
                ("SMTP_URL".to_owned(), None),
                ("TRUSTED_PROXIES".to_owned(), Some("10.0.0.1".to_owned())),
            ]
        );
    }
}
