//! `Idempotency-Key`: a retry gets the first answer again and changes nothing.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::{Value, json};
use signup_otp::db::schema;
use signup_otp::idempotency::persistence::IdempotencyRecord;

use crate::helpers::{Backend, TestApp, TestResponse, wrong_code};
use crate::on_both_backends;

const SEND: &str = "/api/v1/users/signup/send-otp";
const VERIFY: &str = "/api/v1/users/signup/verify-otp";
const REGISTER: &str = "/api/v1/users/register";
const PASSWORD: &str = "Tr0ub4dor&3-horse-staple";

impl TestApp {
    pub async fn post_with_key(&self, path: &str, body: &Value, key: &str) -> TestResponse {
        self.post_json_with(path, body, &[("idempotency-key", key)])
            .await
    }
}

pub fn replayed(response: &TestResponse) -> bool {
    response.header("idempotent-replayed") == Some("true")
}

fn stored_keys(app: &TestApp) -> Vec<IdempotencyRecord> {
    app.with_conn(|conn| {
        schema::idempotency_keys::table
            .select(IdempotencyRecord::as_select())
            .load(conn)
            .unwrap()
    })
}

on_both_backends! {
    async fn a_repeated_send_is_answered_again_without_a_second_email(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "ada@example.com", "user_type": "live"});

        let first = app.post_with_key(SEND, &body, "send-1").await;
        // Same meaning, other key order and spacing: still the same request.
        let same = json!({"user_type": "live", "email": "ada@example.com"});
        let again = app.post_with_key(SEND, &same, "send-1").await;

        assert_eq!(first.status, 200, "{}", first.body);
        assert!(!replayed(&first));
        assert_eq!(again.status, 200, "a real second send would meet the cooldown: {}", again.body);
        assert!(replayed(&again));
        assert_eq!(again.body, first.body);
        app.wait_for_empty_outbox().await;
        assert_eq!(app.smtp.messages_to("ada@example.com").len(), 1, "one email");

        // Without the key, the same body is a new request: the cooldown applies.
        app.send_otp("ada@example.com", "live")
            .await
            .assert_error(429, "resend_cooldown");
    }

    async fn a_key_answers_only_requests_about_its_own_address(backend) {
        let app = TestApp::spawn(backend).await;
        let first = app
            .post_with_key(SEND, &json!({"email": "ada@example.com", "user_type": "live"}), "k")
            .await;
        assert_eq!(first.status, 200);

        // The same key for another address is another request altogether.
        let other = app
            .post_with_key(SEND, &json!({"email": "bob@example.com", "user_type": "live"}), "k")
            .await;

        assert_eq!(other.status, 200, "{}", other.body);
        assert!(!replayed(&other));
        app.smtp.wait_for_messages_to("bob@example.com", 1).await;
        assert_eq!(stored_keys(&app).len(), 2);
    }

    async fn another_body_under_a_key_runs_for_real_and_voids_the_kept_answer(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "ada@example.com", "user_type": "live"});
        assert_eq!(app.post_with_key(SEND, &body, "k").await.status, 200);

        let other = app
            .post_with_key(SEND, &json!({"email": "ada@example.com", "user_type": "live", "locale": "es"}), "k")
            .await;

        other.assert_error(429, "resend_cooldown");
        assert!(!replayed(&other));
        assert!(stored_keys(&app).is_empty(), "the kept answer is void");
        let again = app.post_with_key(SEND, &body, "k").await;
        again.assert_error(429, "resend_cooldown");
        assert!(!replayed(&again), "nothing is replayed any more");
    }

    async fn someone_with_a_victims_key_cannot_test_codes_against_its_answer(backend) {
        let app = TestApp::spawn_with(backend, |config| config.otp.max_attempts = 3).await;
        let code = app.send_and_read_code("victim@example.com", "live").await;
        let wrong = wrong_code(&code);
        let with = |otp: &str| json!({"email": "victim@example.com", "user_type": "live", "otp_code": otp});
        let attempts = |app: &TestApp| {
            app.with_conn(|conn| {
                schema::signup_otps::table
                    .select(schema::signup_otps::attempts)
                    .first::<i32>(conn)
                    .unwrap()
            })
        };

        // The victim's client mistypes once, under its key.
        app.post_with_key(VERIFY, &with(&wrong), "victims-key").await.assert_error(400, "invalid_otp");
        assert_eq!(attempts(&app), 1);
        // Someone who learnt the key tries other codes under it: each runs for
        // real and spends an attempt, exactly as without the key.
        let other_guess = wrong_code(&wrong);
        let guess = app.post_with_key(VERIFY, &with(&other_guess), "victims-key").await;
        guess.assert_error(400, "invalid_otp");
        assert!(!replayed(&guess));
        assert_eq!(attempts(&app), 2, "the guess spent an attempt");
        // The victim then gets it right under the same key, and retries.
        let right = app.post_with_key(VERIFY, &with(&code), "victims-key").await;
        assert_eq!(right.status, 200, "{}", right.body);
        let token = right.body["signup_token"].as_str().unwrap().to_owned();
        // Every guess but the right code voids the kept answer; and the right
        // code, which only the mailbox holds, was already used.
        let after = app.post_with_key(VERIFY, &with(&wrong), "victims-key").await;
        after.assert_error(400, "invalid_otp");
        let replay = app.post_with_key(VERIFY, &with(&code), "victims-key").await;
        replay.assert_error(400, "invalid_otp");
        assert!(!replay.body.to_string().contains(&token));
    }

    async fn keys_are_scoped_per_route(backend) {
        let app = TestApp::spawn(backend).await;
        let sent = app
            .post_with_key(SEND, &json!({"email": "ada@example.com", "user_type": "live"}), "shared")
            .await;
        assert_eq!(sent.status, 200);
        let code = app.code_in_message("ada@example.com", 1).await;

        let verified = app
            .post_with_key(
                VERIFY,
                &json!({"email": "ada@example.com", "user_type": "live", "otp_code": code}),
                "shared",
            )
            .await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert!(!replayed(&verified));
    }

    async fn a_replayed_verify_returns_the_same_signup_token(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("ada@example.com", "live").await;
        let body = json!({"email": "ada@example.com", "user_type": "live", "otp_code": code});

        let first = app.post_with_key(VERIFY, &body, "verify-1").await;
        // The client timed out and retries: the code is used up, the answer is kept.
        let retry = app.post_with_key(VERIFY, &body, "verify-1").await;

        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(retry.status, 200, "{}", retry.body);
        assert!(replayed(&retry));
        assert_eq!(retry.body["signup_token"], first.body["signup_token"]);
        assert_eq!(retry.body, first.body);
        // Without the key the code is spent, as before.
        app.verify_otp("ada@example.com", "live", &code)
            .await
            .assert_error(400, "invalid_otp");
        // The replayed token registers the account.
        let registered = app
            .post_json(REGISTER, &json!({
                "email": "ada@example.com", "user_type": "live", "password": PASSWORD,
                "signup_token": retry.body["signup_token"]
            }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
    }

    async fn a_replayed_wrong_code_spends_no_second_attempt(backend) {
        let app = TestApp::spawn_with(backend, |config| config.otp.max_attempts = 2).await;
        let code = app.send_and_read_code("ada@example.com", "live").await;
        let wrong = json!({"email": "ada@example.com", "user_type": "live", "otp_code": wrong_code(&code)});

        let first = app.post_with_key(VERIFY, &wrong, "guess").await;
        let second = app.post_with_key(VERIFY, &wrong, "guess").await;
        let third = app.post_with_key(VERIFY, &wrong, "guess").await;

        first.assert_error(400, "invalid_otp");
        second.assert_error(400, "invalid_otp");
        assert!(replayed(&second) && replayed(&third));
        assert_eq!(third.body, first.body);
        // One attempt of two is spent: the right code still works.
        let verified = app.verify_otp("ada@example.com", "live", &code).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
    }

    async fn a_replayed_register_makes_no_second_account(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("ada@example.com", "live").await;
        let body = json!({
            "email": "ada@example.com", "user_type": "live", "password": PASSWORD,
            "full_name": "Ada", "signup_token": token
        });

        let first = app.post_with_key(REGISTER, &body, "register-1").await;
        let retry = app.post_with_key(REGISTER, &body, "register-1").await;

        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!(retry.status, 201, "not 409 already_registered: {}", retry.body);
        assert!(replayed(&retry));
        assert_eq!(retry.body, first.body);
        let accounts: i64 =
            app.with_conn(|conn| schema::users::table.count().get_result(conn).unwrap());
        assert_eq!(accounts, 1);
        // A new key is a new request: the token is used up.
        app.post_with_key(REGISTER, &body, "register-2")
            .await
            .assert_error(400, "invalid_signup_token");
    }

    async fn a_replayed_register_without_token_sends_one_email(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "ada@example.com", "user_type": "demo", "password": PASSWORD});

        let first = app.post_with_key(REGISTER, &body, "pending").await;
        let retry = app.post_with_key(REGISTER, &body, "pending").await;

        assert_eq!(first.status, 202, "{}", first.body);
        assert_eq!(first.body["status"], "pending_verification");
        assert!(replayed(&retry));
        assert_eq!(retry.body, first.body);
        app.wait_for_empty_outbox().await;
        assert_eq!(app.smtp.messages_to("ada@example.com").len(), 1);
    }

    async fn a_key_still_running_is_in_use_until_its_lock_lapses(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "ada@example.com", "user_type": "live"});
        let first = app.post_with_key(SEND, &body, "running").await;
        assert_eq!(first.status, 200);
        app.with_conn(|conn| {
            diesel::update(schema::idempotency_keys::table)
                .set((
                    schema::idempotency_keys::status_code.eq(None::<i32>),
                    schema::idempotency_keys::response.eq(None::<Vec<u8>>),
                ))
                .execute(conn)
                .unwrap()
        });
        // Now the key looks like a request that claimed it and has not answered
        // yet (or whose instance died before it could).

        app.post_with_key(SEND, &body, "running")
            .await
            .assert_error(409, "idempotency_key_in_use");

        // The lock lapses after a minute: the retry runs anew (a fresh send, past
        // the resend cooldown too).
        app.advance(Duration::from_secs(61));
        let rerun = app.post_with_key(SEND, &body, "running").await;
        assert_eq!(rerun.status, 200, "{}", rerun.body);
        assert!(!replayed(&rerun));
        app.smtp.wait_for_messages_to("ada@example.com", 2).await;
    }

    async fn throttled_answers_are_not_kept_and_expired_keys_are_cleaned_up(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_otp("ada@example.com", "live").await;
        let body = json!({"email": "ada@example.com", "user_type": "live"});

        let throttled = app.post_with_key(SEND, &body, "later").await;
        throttled.assert_error(429, "resend_cooldown");
        assert!(stored_keys(&app).is_empty(), "a 429 asks for a retry, so nothing is kept");

        app.advance(Duration::from_secs(61));
        let retried = app.post_with_key(SEND, &body, "later").await;
        assert_eq!(retried.status, 200, "the same key now runs: {}", retried.body);
        assert_eq!(stored_keys(&app).len(), 1);

        app.advance(Duration::from_secs(601));
        let report = app.service().cleanup().await.unwrap();
        assert_eq!(report.idempotency_keys, 1);
        assert!(stored_keys(&app).is_empty());
    }

    async fn stored_answers_are_sealed(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("ada@example.com", "live").await;
        let verified = app
            .post_with_key(
                VERIFY,
                &json!({"email": "ada@example.com", "user_type": "live", "otp_code": code}),
                "sealed",
            )
            .await;
        let token = verified.body["signup_token"].as_str().unwrap().to_owned();

        let stored = stored_keys(&app);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].status_code, Some(200));
        let response = stored[0].response.as_ref().unwrap();
        let token_bytes = token.as_bytes();
        assert!(!response.windows(token_bytes.len()).any(|w| w == token_bytes));
        assert!(!response.windows(code.len()).any(|w| w == code.as_bytes()));
        assert!(!stored[0].fingerprint.windows(code.len()).any(|w| w == code.as_bytes()));
    }

    async fn malformed_keys_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "ada@example.com", "user_type": "live"});
        let long = "k".repeat(256);
        for key in ["", long.as_str(), "caf\u{e9}"] {
            let response = app
                .request_with(
                    "POST",
                    SEND,
                    &[("content-type", "application/json"), ("idempotency-key", key)],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await;
            response.assert_error(400, "invalid_idempotency_key");
        }
        let max = "k".repeat(255);
        assert_eq!(app.post_with_key(SEND, &body, &max).await.status, 200);
    }
}

/// Two requests with one key at the same time: the second arrives while the first
/// runs and gets a 409. The first is held inside its flow by a table lock that a
/// test transaction takes (PostgreSQL; SQLite serialises writers in-process, so
/// there the window between claiming a key and running is not reachable).
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_concurrent_repeat_gets_409_while_the_first_runs() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let body = json!({"email": "ada@example.com", "user_type": "live"});
    let mut holder = app.conn();
    diesel::sql_query("BEGIN").execute(&mut **holder).unwrap();
    diesel::sql_query("LOCK TABLE otp_send_limits IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut **holder)
        .unwrap();

    let first = app.post_with_key(SEND, &body, "together");
    let second = async {
        // Once the first holds the key (its row is there, unanswered), repeat.
        crate::helpers::eventually("the first claims its key", || {
            crate::helpers::holds(!stored_keys(&app).is_empty())
        })
        .await;
        let second = app.post_with_key(SEND, &body, "together").await;
        diesel::sql_query("COMMIT").execute(&mut **holder).unwrap();
        second
    };
    let (first, second) = futures_util::join!(first, second);

    second.assert_error(409, "idempotency_key_in_use");
    assert_eq!(first.status, 200, "{}", first.body);
    let third = app.post_with_key(SEND, &body, "together").await;
    assert!(replayed(&third));
    assert_eq!(third.body, first.body);
}
