//! Support's view of one identity: `signup-otp inspect` and the admin API tell
//! what became of its codes and emails, with a diagnosis, and never show a
//! code, a hash, a token or a password; `unlock` and `expire` act on it.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use signup_otp::http::AdminToken;

use crate::helpers::{Backend, Mode, SECRET, TestApp, eventually, wrong_code};
use crate::on_both_backends;

const ADMIN: &str = "3q2+7wAAAAC6Kq0pV9Qz1mX4bN8cR5tY0uI2oP7aS6dF=";
const PASSWORD: &str = "Tr0ub4dor&3-horse-staple";

async fn app_with_admin(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.admin_token = Some(AdminToken::new(ADMIN));
        config.otp.resend_cooldown = Duration::ZERO;
        config.otp.lockout_threshold = 3;
    })
    .await
}

/// The binary, run as an operator would on a host with the database's URL.
fn cli(app: &TestApp, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url_string)
        .env("OTP_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: exit {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn inspect_json(app: &TestApp, email: &str) -> Value {
    let out = cli(app, &["inspect", email, "--user-type", "live", "--json"]);
    serde_json::from_str(out.trim()).expect("one JSON object")
}

async fn inspect_admin(app: &TestApp, email: &str) -> Value {
    let response = app
        .admin(
            "GET",
            &format!("/admin/v1/identities/live/{email}"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    response.body
}

/// Waits until every email to the identity is finished (delivered or not).
async fn wait_for_finished_emails(app: &TestApp, email: &str, count: usize) -> Value {
    eventually("the emails are finished", || {
        let report = inspect_json(app, email);
        let deliveries = report["deliveries"].as_array().unwrap();
        let done =
            deliveries.len() == count && deliveries.iter().all(|d| !d["finished_at"].is_null());
        std::future::ready(done.then_some(report))
    })
    .await
}

/// Nothing secret in `output`: none of `secrets`, and no run of hex or base64
/// long enough to be a hash or a token.
fn assert_holds_no_secret(output: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!output.contains(secret), "{secret:?} in:\n{output}");
    }
    let longest_blob = output
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '_'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_blob < 32, "a hash-like run in:\n{output}");
    for key in ["hash", "token", "password", "otp_code", "payload"] {
        assert!(!output.contains(key), "{key:?} in:\n{output}");
    }
}

on_both_backends! {
    async fn a_code_replaced_by_a_resend_is_the_diagnosis_after_a_verify_with_the_first(backend) {
        let app = app_with_admin(backend).await;
        let first = app.send_and_read_code("resent@example.com", "live").await;
        let second = app.send_and_read_code("resent@example.com", "live").await;
        assert_ne!(first, second);
        let answer = app.verify_otp("resent@example.com", "live", &first).await;
        assert_eq!(answer.status, 400, "the first code no longer works");

        let report = wait_for_finished_emails(&app, "resent@example.com", 2).await;
        let diagnosis = report["diagnosis"].as_str().unwrap();
        assert!(diagnosis.contains("replaced by a re-send"), "{diagnosis}");
        assert!(diagnosis.contains("entering the older one"), "{diagnosis}");
        assert_eq!(report["account"]["state"], "none");
        let code = &report["codes"][0];
        assert_eq!(code["flow"], "signup");
        assert_eq!(code["attempts_used"], 1);
        assert_eq!(code["expired"], false);
        assert!(code["replaced_earlier_code_at"].is_string(), "{report}");
        let statuses: Vec<&str> = report["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["delivered", "delivered"]);
        let reply = report["deliveries"][0]["relay_reply"].as_str().unwrap();
        assert!(reply.starts_with("250 2.0.0 Ok: queued as Q"), "{reply}");
        assert_eq!(report["send_limits"]["sends_today"], 2);

        let text = cli(&app, &["inspect", "resent@example.com"]);
        assert!(text.contains("diagnosis: the last code was replaced by a re-send"), "{text}");
        assert!(text.contains("resent@example.com (demo)"), "both user types by default:\n{text}");
        assert!(text.contains("relay: 250 2.0.0 Ok: queued as Q"), "{text}");
        let admin = inspect_admin(&app, "resent@example.com").await;
        assert_eq!(admin["diagnosis"], report["diagnosis"], "the admin API answers the same");
        for output in [text, report.to_string(), admin.to_string()] {
            assert_holds_no_secret(&output, &[&first, &second]);
        }
    }

    async fn a_relay_that_rejects_the_address_is_the_diagnosis(backend) {
        let app = app_with_admin(backend).await;
        app.smtp.reject_address("gone@example.com");
        assert_eq!(app.send_otp("gone@example.com", "live").await.status, 200);

        let report = wait_for_finished_emails(&app, "gone@example.com", 1).await;
        assert_eq!(report["deliveries"][0]["status"], "rejected");
        assert_eq!(
            report["diagnosis"],
            "the relay rejected the address: 550 5.1.1 Recipient address rejected: user unknown"
        );
    }

    async fn a_lockout_shows_and_unlock_clears_it(backend) {
        let app = app_with_admin(backend).await;
        let code = app.send_and_read_code("locked@example.com", "live").await;
        for _ in 0..3 {
            app.verify_otp("locked@example.com", "live", &wrong_code(&code)).await;
        }
        let refused = app.verify_otp("locked@example.com", "live", &code).await;
        refused.assert_error(429, "verification_locked");

        let report = inspect_admin(&app, "locked@example.com").await;
        let lock = &report["lockouts"][0];
        assert_eq!(lock["consecutive_failures"], 0, "the count starts again at the lock");
        assert!(lock["locked_until"].is_string(), "{report}");
        let diagnosis = report["diagnosis"].as_str().unwrap();
        assert!(diagnosis.starts_with("verification is locked"), "{diagnosis}");

        let unlocked = app
            .admin("POST", "/admin/v1/identities/live/locked@example.com/unlock", Some(ADMIN))
            .await;
        assert_eq!(unlocked.status, 200, "{}", unlocked.body);
        assert_eq!(unlocked.body, json!({"changed": 1, "emails_abandoned": 0}));
        assert_eq!(inspect_admin(&app, "locked@example.com").await["lockouts"], json!([]));
        let metrics = app.metrics().await;
        assert!(metrics.contains("event=\"OTP_LOCKOUT_CLEARED\""), "{metrics}");

        // The code was never consumed: with the lock gone it verifies.
        let answer = app.verify_otp("locked@example.com", "live", &code).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    async fn expire_kills_the_live_code_from_the_cli_and_the_admin_api(backend) {
        let app = app_with_admin(backend).await;
        let by_cli = app.send_and_read_code("cli@example.com", "live").await;
        let by_api = app.send_and_read_code("api@example.com", "live").await;
        // Both emails are recorded as delivered: none is left to abandon.
        wait_for_finished_emails(&app, "cli@example.com", 1).await;
        wait_for_finished_emails(&app, "api@example.com", 1).await;

        let out = cli(&app, &["expire", "cli@example.com", "--user-type", "live"]);
        assert_eq!(out.trim(), "live: expired 1 code(s), abandoned 0 unsent email(s)");
        let expired = app
            .admin("POST", "/admin/v1/identities/live/api@example.com/expire", Some(ADMIN))
            .await;
        assert_eq!(expired.body, json!({"changed": 1, "emails_abandoned": 0}));

        for (email, code) in [("cli@example.com", &by_cli), ("api@example.com", &by_api)] {
            let answer = app.verify_otp(email, "live", code).await;
            answer.assert_error(400, "invalid_otp");
            let diagnosis = inspect_json(&app, email)["diagnosis"].as_str().unwrap().to_owned();
            assert!(diagnosis.starts_with("the code expired at"), "{diagnosis}");
        }
        let out = cli(&app, &["unlock", "cli@example.com", "--user-type", "live"]);
        assert_eq!(out.trim(), "live: cleared 0 lockout record(s)");
    }

    async fn expire_abandons_the_email_still_waiting_for_the_relay(backend) {
        let app = app_with_admin(backend).await;
        app.smtp.set_mode(Mode::Refuse);
        assert_eq!(app.send_otp("waiting@example.com", "live").await.status, 200);
        let retrying = eventually("the relay refuses once", || {
            let report = inspect_json(&app, "waiting@example.com");
            std::future::ready((report["deliveries"][0]["status"] == "retrying").then_some(report))
        })
        .await;
        let diagnosis = retrying["diagnosis"].as_str().unwrap();
        assert!(diagnosis.starts_with("the email has not gone out: 1 attempts failed"), "{diagnosis}");
        assert!(diagnosis.contains("451"), "the relay's error: {diagnosis}");

        let out = cli(&app, &["expire", "waiting@example.com", "--user-type", "live"]);
        assert_eq!(out.trim(), "live: expired 1 code(s), abandoned 1 unsent email(s)");
        let record = &inspect_json(&app, "waiting@example.com")["deliveries"][0];
        assert_eq!(record["status"], "abandoned");
        assert_eq!(record["last_error"], "its code was expired by an operator");
        app.smtp.set_mode(Mode::Accept);
        app.send_and_read_code("waiting@example.com", "live").await;
        assert_eq!(app.smtp.messages_to("waiting@example.com").len(), 1, "the expired code never went out");
    }

    async fn a_finished_signup_shows_no_code_token_or_password(backend) {
        let app = app_with_admin(backend).await;
        let code = app.send_and_read_code("done@example.com", "live").await;
        let verified = app.verify_otp("done@example.com", "live", &code).await;
        let token = verified.body["signup_token"].as_str().unwrap().to_owned();
        let registered = app
            .post_json(
                "/api/v1/users/register",
                &json!({"email": "done@example.com", "user_type": "live",
                        "password": PASSWORD, "signup_token": token}),
            )
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);

        let report = wait_for_finished_emails(&app, "done@example.com", 1).await;
        assert_eq!(report["account"]["state"], "active");
        assert!(report["account"]["since"].is_string());
        let flows: Vec<&Value> = report["codes"].as_array().unwrap().iter().map(|c| &c["flow"]).collect();
        assert_eq!(flows, [&json!("signup")], "the verified signup code; the stand-in is no code");
        let diagnosis = report["diagnosis"].as_str().unwrap();
        assert!(diagnosis.starts_with("the account is active since"), "{diagnosis}");
        let text = cli(&app, &["inspect", "done@example.com", "--user-type", "live"]);
        let admin = inspect_admin(&app, "done@example.com").await;
        for output in [text, report.to_string(), admin.to_string()] {
            assert_holds_no_secret(&output, &[&code, &token, PASSWORD]);
        }
    }

    async fn the_admin_api_needs_its_token_and_is_absent_on_the_public_port(backend) {
        let app = app_with_admin(backend).await;
        let path = "/admin/v1/identities/live/who@example.com";
        for token in [None, Some("not-the-token"), Some(&ADMIN[1..])] {
            let refused = app.admin("GET", path, token).await;
            refused.assert_error(401, "unauthorized");
            assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
            let refused = app.admin("POST", &format!("{path}/unlock"), token).await;
            refused.assert_error(401, "unauthorized");
        }
        let bad = app.admin("GET", "/admin/v1/identities/gold/who@example.com", Some(ADMIN)).await;
        bad.assert_error(422, "invalid_user_type");

        let mut on_public_port = app
            .client
            .get(format!("{}{path}", app.address))
            .insert_header(("authorization", format!("Bearer {ADMIN}")))
            .send()
            .await
            .unwrap();
        assert_eq!(on_public_port.status().as_u16(), 404);
        let body = on_public_port.body().await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("not_found"));

        let without_token = TestApp::spawn(backend).await;
        let off = without_token.admin("GET", path, Some(ADMIN)).await;
        off.assert_error(404, "not_found");
    }
}
