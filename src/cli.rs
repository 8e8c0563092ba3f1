//! The one-shot commands: `migrate [--revert]`, `cleanup`, `openapi`,
//! `healthcheck`, `import-redis`, and support's `inspect`, `unlock` and
//! `expire`. (`serve` is [`crate::startup`].)

use std::error::Error;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::courier::Outbox;
use crate::db;
use crate::domain::{EmailAddress, UserType};
use crate::events::Events;
use crate::flows::{Operator, PasswordHashers, SignupService};
use crate::metrics::Metrics;

type CliResult = Result<(), Box<dyn Error + Send + Sync>>;

/// Applies pending migrations, or reverts the most recent one, printing each version.
pub fn migrate(config: &Config, revert: bool) -> CliResult {
    let pool = db::build_pool(&config.database, 1, config.db_pool_timeout);
    let mut conn = pool.get()?;
    if revert {
        let version = db::revert_last_migration(&mut conn)?;
        println!("reverted migration {version}");
    } else {
        let applied = db::run_migrations(&mut conn)?;
        if applied.is_empty() {
            println!("no pending migrations");
        }
        for version in applied {
            println!("applied migration {version}");
        }
    }
    Ok(())
}

/// Asks the local service for `/health/ready`: success only on a 200 within 3 s,
/// so a container whose database is gone reports unhealthy.
pub fn healthcheck(config: &Config) -> CliResult {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

    let mut addr = config.bind_addr;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("/health/ready answered {status:?}").into())
    }
}

/// Imports the old service's Redis signup codes and prints what became of them.
pub fn import_redis(config: &Config, redis_url: &str, prefix: &str, delete: bool) -> CliResult {
    use crate::clock::Clock;
    use crate::flows::OtpHasher;
    use crate::flows::import::{self, ImportOptions, Outcome};

    if config.otp_secret_generated {
        return Err(
            "set OTP_SECRET to the service's key: codes hashed under a throwaway key \
                    would never verify"
                .into(),
        );
    }
    let pool = db::build_pool(&config.database, 1, config.db_pool_timeout);
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    let mut redis = redis::Client::open(redis_url)?
        .get_connection_with_timeout(std::time::Duration::from_secs(10))?;
    let options = ImportOptions {
        prefix: prefix.to_owned(),
        delete,
        now: SystemClock.now(),
    };
    let report = import::import(
        &mut conn,
        &mut redis,
        &OtpHasher::new(&config.keyring()),
        &options,
    )?;
    for outcome in [
        Outcome::Imported,
        Outcome::SkippedExpired,
        Outcome::SkippedNoExpiry,
        Outcome::SkippedMalformedKey,
        Outcome::SkippedBadUserType,
        Outcome::SkippedMalformedCode,
        Outcome::SkippedHasState,
        Outcome::SkippedAlreadyImported,
        Outcome::SkippedAccountExists,
        Outcome::Failed,
    ] {
        println!("{:>6}  {}", report.count(outcome), outcome.as_str());
    }
    if delete {
        println!("{:>6}  deleted from Redis", report.deleted);
    }
    if report.count(Outcome::Failed) > 0 {
        return Err(format!("{} keys failed to import", report.count(Outcome::Failed)).into());
    }
    Ok(())
}

/// Prints the OpenAPI document.
pub fn openapi() -> CliResult {
    println!(
        "{}",
        serde_json::to_string_pretty(crate::http::openapi::document())?
    );
    Ok(())
}

/// The flows on one connection, for a command that runs once.
fn one_shot_service(config: &Config) -> SignupService {
    let pool = db::build_pool(&config.database, 1, config.db_pool_timeout);
    let keyring = config.keyring();
    SignupService::new(
        pool,
        Outbox::new(&keyring),
        Arc::new(SystemClock),
        config.otp,
        &keyring,
        Events::new(Metrics::new()),
        PasswordHashers::start(1, 1),
    )
}

/// What support asks of one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportAction {
    /// Print everything on record, with a diagnosis.
    Inspect { json: bool },
    /// Clear the lockouts.
    Unlock,
    /// Expire the live code and abandon its unsent email.
    Expire,
}

/// Runs a support action on `email` for each of `user_types`, reading the
/// database directly, and prints the outcome.
pub fn support(
    config: Config,
    action: SupportAction,
    email: &str,
    user_types: &[UserType],
) -> CliResult {
    let email = EmailAddress::parse(email).map_err(|error| format!("{email:?}: {error}"))?;
    let user_types = user_types.to_vec();
    actix_web::rt::System::new().block_on(async move {
        let service = one_shot_service(&config);
        for (i, user_type) in user_types.into_iter().enumerate() {
            let operator = Operator::Cli;
            match action {
                SupportAction::Inspect { json: true } => {
                    let report = service.inspect(email.clone(), user_type, operator).await?;
                    println!("{}", serde_json::to_string(&report)?);
                }
                SupportAction::Inspect { json: false } => {
                    let report = service.inspect(email.clone(), user_type, operator).await?;
                    if i > 0 {
                        println!();
                    }
                    print!("{report}");
                }
                SupportAction::Unlock => {
                    let done = service.unlock(email.clone(), user_type, operator).await?;
                    println!("{user_type}: cleared {} lockout record(s)", done.changed);
                }
                SupportAction::Expire => {
                    let done = service.expire(email.clone(), user_type, operator).await?;
                    println!(
                        "{user_type}: expired {} code(s), abandoned {} unsent email(s)",
                        done.changed, done.emails_abandoned
                    );
                }
            }
        }
        Ok(())
    })
}

/// Deletes expired codes once and prints how many.
pub fn cleanup(config: Config) -> CliResult {
    actix_web::rt::System::new().block_on(async move {
        let service = one_shot_service(&config);
        let report = service.cleanup().await?;
        println!(
            "deleted {} expired codes ({} signup, {} activation) and {} stale send limits",
            report.codes(),
            report.signup_otps,
            report.otps,
            report.send_limits
        );
        let proofs = report.signup_tokens + report.pending_registrations;
        if proofs > 0 {
            println!("and {proofs} expired signup tokens and pending registrations");
        }
        if report.lockouts > 0 {
            println!("and {} expired verification lockouts", report.lockouts);
        }
        if report.delivery_records > 0 {
            println!(
                "and {} delivery records past their retention",
                report.delivery_records
            );
        }
        Ok(())
    })
}
