//! `signup-otp import-redis` against the real Redis on 127.0.0.1:6379: codes in
//! users' inboxes keep working across the cut-over. Each test uses its own key
//! prefix and removes its keys.

use std::process::Command;

use rand::RngExt;
use signup_otp::domain::UserType;

use crate::helpers::{SECRET, TestApp};
use crate::on_both_backends;
use crate::send_otp::create_account;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A key prefix of this test's own, and its keys gone when dropped.
struct Keys {
    prefix: String,
    redis: redis::Connection,
}

impl Keys {
    fn new() -> Self {
        let redis = redis::Client::open(REDIS_URL)
            .unwrap()
            .get_connection()
            .expect("Redis runs on 127.0.0.1:6379");
        Self {
            prefix: format!("test-{:x}:signup_otp:", rand::rng().random::<u64>()),
            redis,
        }
    }

    fn set(&mut self, key: &str, value: &str, ttl_ms: Option<u64>) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{key}", self.prefix)).arg(value);
        if let Some(ms) = ttl_ms {
            cmd.arg("PX").arg(ms);
        }
        let _: () = cmd.query(&mut self.redis).unwrap();
    }

    fn exists(&mut self, key: &str) -> bool {
        redis::cmd("EXISTS")
            .arg(format!("{}{key}", self.prefix))
            .query::<i64>(&mut self.redis)
            .unwrap()
            == 1
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut self.redis)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut self.redis);
        }
    }
}

/// Runs the import; returns the count printed for each outcome.
fn import(app: &TestApp, keys: &Keys, delete: bool) -> std::collections::HashMap<String, usize> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signup-otp"));
    command
        .args([
            "import-redis",
            "--redis-url",
            REDIS_URL,
            "--prefix",
            &keys.prefix,
        ])
        .env_clear()
        .env("DATABASE_URL", &app.db.url_string)
        .env("OTP_SECRET", SECRET)
        .env("TZ", "America/Anchorage");
    if delete {
        command.arg("--delete");
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| {
            let (count, what) = line.trim().split_once("  ")?;
            Some((what.trim().to_owned(), count.parse().ok()?))
        })
        .collect()
}

fn attempts_of(app: &TestApp, email: &str) -> i32 {
    use diesel::prelude::*;
    use signup_otp::db::schema::signup_otps;
    app.with_conn(|conn| {
        signup_otps::table
            .filter(signup_otps::email.eq(email))
            .select(signup_otps::attempts)
            .first(conn)
            .unwrap()
    })
}

/// Deletes every row the service holds for `email` but the import's memory, as
/// if the cleanup had long since removed them.
fn forget_all_but_the_import(app: &TestApp, email: &str) {
    use diesel::prelude::*;
    use signup_otp::db::schema::{
        email_outbox, otp_send_limits, signup_otps, signup_tokens, verify_lockouts,
    };
    app.with_conn(|conn| {
        diesel::delete(signup_otps::table.filter(signup_otps::email.eq(email)))
            .execute(conn)
            .unwrap();
        diesel::delete(signup_tokens::table.filter(signup_tokens::email.eq(email)))
            .execute(conn)
            .unwrap();
        diesel::delete(otp_send_limits::table.filter(otp_send_limits::email.eq(email)))
            .execute(conn)
            .unwrap();
        diesel::delete(verify_lockouts::table.filter(verify_lockouts::email.eq(email)))
            .execute(conn)
            .unwrap();
        diesel::delete(email_outbox::table.filter(email_outbox::recipient.eq(email)))
            .execute(conn)
            .unwrap();
    });
}

on_both_backends! {
    async fn codes_in_redis_keep_working_after_the_import(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        let erins_new_code = app.send_and_read_code("erin@example.com", "live").await;
        create_account(&app, "frank@example.com", UserType::Live, true);
        keys.set("Alice@Example.com:live", "111111", Some(300_000));
        keys.set("bob@example.com:demo", "222222", None);
        keys.set("broken-key", "333333", Some(300_000));
        keys.set("carol@example.com:paper", "333333", Some(300_000));
        keys.set("dave@example.com:live", "not-a-code", Some(300_000));
        keys.set("erin@example.com:live", "444444", Some(300_000));
        keys.set("frank@example.com:live", "555555", Some(300_000));

        let report = import(&app, &keys, false);

        assert_eq!(report["imported"], 1, "{report:?}");
        assert_eq!(report["skipped: no expiry"], 1, "{report:?}");
        assert_eq!(report["skipped: malformed key"], 1);
        assert_eq!(report["skipped: bad user_type"], 1);
        assert_eq!(report["skipped: malformed code"], 1);
        assert_eq!(report["skipped: the service already holds state for the address"], 1);
        assert_eq!(report["skipped: account exists"], 1);
        assert_eq!(report["failed"], 0);
        let alice = app.verify_otp("alice@example.com", "live", "111111").await;
        assert_eq!(alice.status, 200, "{}", alice.body);
        assert_eq!(alice.body["flow"], "signup");
        app.verify_otp("bob@example.com", "demo", "222222")
            .await
            .assert_error(400, "invalid_otp");
        app.verify_otp("erin@example.com", "live", "444444")
            .await
            .assert_error(400, "invalid_otp");
        assert_eq!(app.verify_otp("erin@example.com", "live", &erins_new_code).await.status, 200, "the newer code stays");
        assert!(keys.exists("Alice@Example.com:live"), "without --delete the keys stay");
    }

    async fn a_second_run_imports_nothing_again_and_resets_no_attempts(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        keys.set("twice@example.com:live", "123456", Some(300_000));
        assert_eq!(import(&app, &keys, false)["imported"], 1);
        for _ in 0..2 {
            app.verify_otp("twice@example.com", "live", "000000").await.assert_error(400, "invalid_otp");
        }

        let again = import(&app, &keys, false);

        assert_eq!(again["imported"], 0);
        assert_eq!(again["skipped: the service already holds state for the address"], 1);
        assert_eq!(attempts_of(&app, "twice@example.com"), 2, "the attempts spent stay spent");
        assert_eq!(app.verify_otp("twice@example.com", "live", "123456").await.status, 200);
    }

    async fn a_used_code_is_never_brought_back(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        keys.set("used@example.com:demo", "246810", Some(300_000));
        assert_eq!(import(&app, &keys, false)["imported"], 1);
        assert_eq!(app.verify_otp("used@example.com", "demo", "246810").await.status, 200);
        forget_all_but_the_import(&app, "used@example.com");

        let again = import(&app, &keys, false);

        assert_eq!(again["imported"], 0, "{again:?}");
        assert_eq!(again["skipped: imported before"], 1, "{again:?}");
        app.verify_otp("used@example.com", "demo", "246810")
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn an_address_with_only_send_limits_keeps_what_the_service_decided(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        app.send_and_read_code("gina@example.com", "live").await;
        app.with_conn(|conn| {
            use diesel::prelude::*;
            use signup_otp::db::schema::signup_otps;
            diesel::delete(signup_otps::table).execute(conn).unwrap();
        });
        keys.set("gina@example.com:live", "135791", Some(300_000));

        let report = import(&app, &keys, false);

        assert_eq!(report["skipped: the service already holds state for the address"], 1, "{report:?}");
        app.verify_otp("gina@example.com", "live", "135791")
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn with_delete_the_imported_keys_leave_redis(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        keys.set("gone@example.com:demo", "654321", Some(300_000));
        keys.set("bad@example.com:paper", "654321", Some(300_000));

        let report = import(&app, &keys, true);

        assert_eq!(report["imported"], 1);
        assert_eq!(report["deleted from Redis"], 1);
        assert!(!keys.exists("gone@example.com:demo"));
        assert!(keys.exists("bad@example.com:paper"), "only imported keys are deleted");
        assert_eq!(app.verify_otp("gone@example.com", "demo", "654321").await.status, 200);
    }

    async fn an_imported_code_keeps_its_remaining_lifetime(backend) {
        let app = TestApp::spawn(backend).await;
        let mut keys = Keys::new();
        keys.set("early@example.com:live", "777777", Some(120_000));
        keys.set("late@example.com:live", "888888", Some(120_000));
        import(&app, &keys, false);

        app.advance(std::time::Duration::from_secs(110));
        assert_eq!(app.verify_otp("early@example.com", "live", "777777").await.status, 200);
        app.advance(std::time::Duration::from_secs(15));
        app.verify_otp("late@example.com", "live", "888888")
            .await
            .assert_error(400, "invalid_otp");
    }
}
