//! The `signup-otp` command: parses the CLI and dispatches.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use signup_otp::cli::SupportAction;
use signup_otp::config::{self, Config, ConfigError, Settings};
use signup_otp::domain::UserType;
use signup_otp::startup::Application;
use signup_otp::telemetry::error_chain;
use signup_otp::{cli, telemetry};

#[derive(Parser)]
#[command(version, about = "Email one-time passwords for account signup")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Applies pending migrations first.
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply the embedded migrations, or roll the last one back.
    Migrate {
        /// Roll back the most recently applied migration.
        #[arg(long)]
        revert: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Delete expired codes once and print how many.
    Cleanup {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Print the OpenAPI document (JSON), e.g. to generate a client.
    Openapi,
    /// Copy the old Redis service's signup codes into the database, hashed, with
    /// their remaining lifetime. Safe to run more than once.
    ImportRedis {
        /// e.g. redis://127.0.0.1:6379/0
        #[arg(long)]
        redis_url: String,
        /// Delete each imported key from Redis.
        #[arg(long)]
        delete: bool,
        /// The old service's key prefix.
        #[arg(long, default_value = "signup_otp:")]
        prefix: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Everything on record about one address: account, live code, lockouts,
    /// send limits, emails and their delivery, and a one-line diagnosis. Never a
    /// code, a hash, a token or a password.
    Inspect {
        email: String,
        /// live or demo (default: both).
        #[arg(long, value_enum)]
        user_type: Option<UserTypeArg>,
        /// One JSON object per identity, as the admin API answers.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Clear the wrong-code lockouts of an address (every client network's).
    Unlock(Identity),
    /// Expire an address's live code and abandon its unsent email.
    Expire(Identity),
    /// Exit 0 if the service on BIND_ADDR answers /health/ready (it runs and
    /// reaches its database), 1 otherwise: the container health check, where no
    /// curl is at hand.
    Healthcheck {
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// The address an operator action is for.
#[derive(clap::Args)]
struct Identity {
    email: String,
    #[arg(long, value_enum)]
    user_type: UserTypeArg,
    #[command(flatten)]
    settings: Box<Settings>,
}

impl Identity {
    fn act(self, action: SupportAction) -> (Box<Settings>, Box<dyn FnOnce(Config) -> Outcome>) {
        let Identity {
            email,
            user_type,
            settings,
        } = self;
        let user_types = [user_type.into()];
        (
            settings,
            Box::new(move |config| cli::support(config, action, &email, &user_types)),
        )
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum UserTypeArg {
    Live,
    Demo,
}

impl From<UserTypeArg> for UserType {
    fn from(arg: UserTypeArg) -> Self {
        match arg {
            UserTypeArg::Live => UserType::Live,
            UserTypeArg::Demo => UserType::Demo,
        }
    }
}

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
    let _ = dotenvy::dotenv();
    tidy_settings();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(Refused::Clap(error)) => match ConfigError::from_clap(&error) {
            Some(invalid) => return usage_error(&invalid),
            None => error.exit(),
        },
        Err(Refused::Setting(invalid)) => return usage_error(&invalid),
    };
    let command = match cli.command {
        Some(command) => command,
        None => match Settings::from_env() {
            Ok(settings) => Command::Serve {
                settings: Box::new(settings),
            },
            Err(invalid) => return usage_error(&invalid),
        },
    };
    let (settings, run): (Box<Settings>, Box<dyn FnOnce(Config) -> Outcome>) = match command {
        Command::Openapi => return finish(cli::openapi()),
        Command::Serve { settings } => (settings, Box::new(serve)),
        Command::Migrate { revert, settings } => (
            settings,
            Box::new(move |config| cli::migrate(&config, revert)),
        ),
        Command::Cleanup { settings } => (settings, Box::new(cli::cleanup)),
        Command::Inspect {
            email,
            user_type,
            json,
            settings,
        } => {
            let user_types = match user_type {
                Some(one) => vec![one.into()],
                None => vec![UserType::Live, UserType::Demo],
            };
            let action = SupportAction::Inspect { json };
            (
                settings,
                Box::new(move |config| cli::support(config, action, &email, &user_types)),
            )
        }
        Command::Unlock(identity) => identity.act(SupportAction::Unlock),
        Command::Expire(identity) => identity.act(SupportAction::Expire),
        Command::Healthcheck { settings } => {
            (settings, Box::new(|config| cli::healthcheck(&config)))
        }
        Command::ImportRedis {
            redis_url,
            delete,
            prefix,
            settings,
        } => (
            settings,
            Box::new(move |config| cli::import_redis(&config, &redis_url, &prefix, delete)),
        ),
    };
    let config = match settings.validate() {
        Ok(config) => config,
        Err(invalid) => return usage_error(&invalid),
    };
    telemetry::init_logging(config.log_format);
    finish(run(config))
}

type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A setting that cannot be used: exit 2, naming its variable.
fn usage_error(invalid: &ConfigError) -> ExitCode {
    eprintln!("error: {invalid}");
    ExitCode::from(2)
}

fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

enum Refused {
    Clap(clap::Error),
    Setting(ConfigError),
}

/// The command line, refusing a secret given as a flag.
fn parse() -> Result<Cli, Refused> {
    let matches = Cli::command().try_get_matches().map_err(Refused::Clap)?;
    if let Some((_, command)) = matches.subcommand() {
        config::refuse_secret_flags(command).map_err(Refused::Setting)?;
    }
    Cli::from_arg_matches(&matches).map_err(Refused::Clap)
}

/// Settings' variables read as the configuration reads them: trimmed, an empty
/// one unset (a `.env` copied from `.env.sample` has several), a list without
/// empty entries.
fn tidy_settings() {
    let lookup = |name: &str| std::env::var(name).ok();
    for (variable, value) in config::untidy_variables(lookup) {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe {
            match value {
                Some(value) => std::env::set_var(&variable, value),
                None => std::env::remove_var(&variable),
            }
        }
    }
}

fn serve(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    config.check_for_serving()?;
    if config.otp_secret_generated {
        log::warn!(
            "OTP_SECRET is not set: using a random key for this process only. Codes issued \
             now stop working when the process restarts. Set OTP_SECRET (32+ random bytes as \
             base64 or hex: `openssl rand -base64 32`) for anything but a trial run."
        );
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// glibc raises its mmap threshold each time a large block is freed, after which
/// blocks that size come from the heap of whichever arena the thread holds and
/// stay there: each argon2 hash (19 MiB) then left its memory behind, up to
/// 380 MiB after 100 concurrent registers. A fixed threshold keeps every block
/// of 1 MiB or more mapped on its own and returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_allocations_to_the_system() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_allocations_to_the_system() {}
