//! The `signup-otp` binary's one-shot commands, run as a user would, in a time
//! zone far from UTC.

use std::process::{Command, Output};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use signup_otp::db::models::NewSignupOtp;
use signup_otp::db::{self, schema};
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{SECRET, TestDb};
use crate::on_both_backends;

fn signup_otp(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TZ", "Asia/Kathmandu")
        .env("DATABASE_URL", &db.url_string)
        .env("OTP_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

on_both_backends! {
    async fn migrate_applies_and_reverts_migrations(backend) {
        let test_db = TestDb::create(backend);

        let versions = crate::migrations::migration_versions();
        let last = versions.last().unwrap();

        let first = stdout(&signup_otp(&test_db, &["migrate"]));
        let applied: Vec<&str> = first.lines().filter_map(|l| l.strip_prefix("applied migration ")).collect();
        assert_eq!(applied, versions, "{first}");
        assert_eq!(stdout(&signup_otp(&test_db, &["migrate"])).trim(), "no pending migrations");

        let reverted = stdout(&signup_otp(&test_db, &["migrate", "--revert"]));
        assert_eq!(reverted.trim(), format!("reverted migration {last}"));
        let again = stdout(&signup_otp(&test_db, &["migrate"]));
        assert_eq!(again.trim(), format!("applied migration {last}"));
    }

    async fn cleanup_deletes_expired_codes_and_says_how_many(backend) {
        let test_db = TestDb::create(backend);
        stdout(&signup_otp(&test_db, &["migrate"]));
        let pool = db::build_pool(&test_db.url, 1, std::time::Duration::from_secs(5));
        let mut conn = pool.get().unwrap();
        let now = Utc::now().naive_utc();
        let hash = [7u8; 32];
        for (email, expires_at) in [
            ("gone1@example.com", now - Duration::minutes(1)),
            ("gone2@example.com", now - Duration::hours(20)),
            ("kept@example.com", now + Duration::minutes(10)),
        ] {
            let email = EmailAddress::parse(email).unwrap();
            NewSignupOtp::new(&email, UserType::Live, &hash, None, now - Duration::hours(21), expires_at)
                .upsert(&mut conn)
                .unwrap();
        }

        // Two delivery records: one finished eight days ago, one an hour ago.
        for (recipient, finished) in [("old@example.com", Duration::days(8)), ("new@example.com", Duration::hours(1))] {
            let at = now - finished;
            diesel::insert_into(schema::email_outbox::table)
                .values((
                    schema::email_outbox::kind.eq("signup_code"),
                    schema::email_outbox::recipient.eq(recipient),
                    schema::email_outbox::user_type.eq("live"),
                    schema::email_outbox::created_at.eq(at),
                    schema::email_outbox::expires_at.eq(at + Duration::minutes(10)),
                    schema::email_outbox::next_attempt_at.eq(at),
                    schema::email_outbox::status.eq("delivered"),
                    schema::email_outbox::finished_at.eq(Some(at)),
                ))
                .execute(&mut **conn)
                .unwrap();
        }

        let output = stdout(&signup_otp(&test_db, &["cleanup"]));

        assert!(output.starts_with("deleted 2 expired codes (2 signup, 0 activation)"), "{output}");
        assert!(output.contains("and 1 delivery records past their retention"), "{output}");
        let left: Vec<String> = schema::signup_otps::table
            .select(schema::signup_otps::email)
            .load(&mut **conn)
            .unwrap();
        assert_eq!(left, ["kept@example.com"]);
        let records: Vec<String> = schema::email_outbox::table
            .select(schema::email_outbox::recipient)
            .load(&mut **conn)
            .unwrap();
        assert_eq!(records, ["new@example.com"]);
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let test_db = TestDb::create(crate::helpers::Backend::Sqlite);
    let output = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(["migrate"])
        .env("DATABASE_URL", &test_db.url_string)
        .env("OTP_TTL_SECS", "ten minutes")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid OTP_TTL_SECS"), "{stderr}");
}

#[test]
fn an_unknown_database_scheme_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://root@localhost/otp")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid DATABASE_URL"));
}

/// The binary with exactly `env` (and PATH); its exit status and standard error.
fn run_with(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_weak_secret_stops_every_command_naming_the_variable() {
    for weak in [
        "a".repeat(40),
        "test-secret-test-secret-test-secret".to_owned(),
    ] {
        let (code, stderr) = run_with(
            &["migrate"],
            &[
                ("DATABASE_URL", "sqlite://unused.db"),
                ("OTP_SECRET", &weak),
            ],
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("invalid OTP_SECRET"), "{stderr}");
        assert!(stderr.contains("openssl rand -base64 32"), "{stderr}");
        assert!(
            !stderr.contains(&weak),
            "the secret is not echoed: {stderr}"
        );
    }
}

#[test]
fn serving_postgres_without_a_chosen_mail_transport_is_refused() {
    // Refused before anything is reached: no database is needed for this.
    let (code, stderr) = run_with(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("OTP_SECRET", SECRET),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("invalid MAIL_TRANSPORT"), "{stderr}");
    assert!(stderr.contains("would print every code"), "{stderr}");
}

#[test]
fn serve_help_lists_every_setting_with_its_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(["serve", "--help"])
        .env_clear()
        .env("OTP_SECRET", SECRET)
        .env("SMTP_URL", "smtp://user:hunter2@relay.example")
        .output()
        .expect("the binary runs");
    let help = stdout(&output);
    let variables = signup_otp::config::variables();
    assert!(variables.len() >= 40, "{variables:?}");
    for variable in variables {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} in:\n{help}"
        );
    }
    assert!(help.contains("[default: 600]"), "{help}");
    assert!(
        !help.contains(SECRET) && !help.contains("hunter2"),
        "help shows no secret's value:\n{help}"
    );
}

#[test]
fn an_empty_variable_counts_as_unset_and_a_flag_works_like_its_variable() {
    let test_db = TestDb::create(crate::helpers::Backend::Sqlite);
    let (code, stderr) = run_with(
        &["migrate"],
        &[
            ("DATABASE_URL", &test_db.url_string),
            ("OTP_LENGTH", ""),
            ("SMTP_URL", ""),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = run_with(
        &["migrate", "--otp-length", "3"],
        &[("DATABASE_URL", &test_db.url_string)],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid OTP_LENGTH"), "{stderr}");
}

#[test]
fn values_are_trimmed_and_lists_drop_empty_entries_as_they_come_from_the_environment() {
    let test_db = TestDb::create(crate::helpers::Backend::Sqlite);
    // A secret mounted from a file ends in a newline; a list may end in a comma.
    let secret = format!("{SECRET}\n");
    let (code, stderr) = run_with(
        &["migrate"],
        &[
            ("DATABASE_URL", &test_db.url_string),
            ("OTP_SECRET", &secret),
            ("OTP_LENGTH", " 6 "),
            ("MAIL_TRANSPORT", "file "),
            ("TRUSTED_PROXIES", "10.0.0.1, ,"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example, "),
            ("SMTP_URL", "  "),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_secret_given_as_a_flag_is_refused_without_being_repeated() {
    let test_db = TestDb::create(crate::helpers::Backend::Sqlite);
    let database = ("DATABASE_URL", test_db.url_string.as_str());
    for args in [
        vec!["migrate", "--otp-secret", SECRET],
        vec!["serve", "--otp-secret-previous", SECRET],
        vec!["migrate", "--smtp-url", "smtp://user:hunter2@relay.example"],
    ] {
        let (code, stderr) = run_with(&args, &[database]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("not as a flag"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("hunter2"),
            "{args:?}: {stderr}"
        );
    }
    // A URL without a password is no secret: the flag works.
    let (code, stderr) = run_with(
        &[
            "migrate",
            "--smtp-url",
            "smtp://relay.example",
            "--database-url",
            &test_db.url_string,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_setting_flag_without_a_command_gets_clap_s_own_message() {
    let (code, stderr) = run_with(&["--bind-addr", "0.0.0.0:1"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unexpected argument"), "{stderr}");
}
