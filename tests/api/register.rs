//! register: the end of the signup journey, with and without a signup token.

use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};
use signup_otp::db::models::{SignupOtp, User};
use signup_otp::db::schema;
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, TestResponse};
use crate::on_both_backends;

const REGISTER: &str = "/api/v1/users/register";
const PASSWORD: &str = "Tr0ub4dor&3-horse-staple";

impl TestApp {
    pub async fn register(&self, body: Value) -> TestResponse {
        self.post_json(REGISTER, &body).await
    }

    /// send → code from the email → verify; returns the signup token.
    pub async fn signup_token(&self, email: &str, user_type: &str) -> String {
        let code = self.send_and_read_code(email, user_type).await;
        let verified = self.verify_otp(email, user_type, &code).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        verified.body["signup_token"].as_str().unwrap().to_owned()
    }
}

fn users(app: &TestApp) -> Vec<User> {
    app.with_conn(|conn| {
        schema::users::table
            .select(User::as_select())
            .load(conn)
            .unwrap()
    })
}

fn demo_user_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| schema::demo_users::table.count().get_result(conn).unwrap())
}

on_both_backends! {
    async fn a_verified_address_registers_an_active_account(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("Zoe@Example.com", "live").await;

        let registered = app
            .register(json!({
                "email": "zoe@example.com", "user_type": "live", "password": PASSWORD,
                "full_name": "  Zoë Ng ", "signup_token": token
            }))
            .await;

        assert_eq!(registered.status, 201, "{}", registered.body);
        let body = &registered.body;
        assert_eq!(body["status"], "active");
        assert_eq!(body["email"], "zoe@example.com");
        assert_eq!(body["user_type"], "live");
        assert_eq!(body["full_name"], "Zoë Ng");
        assert_eq!(body["is_active"], true);
        assert!(body["id"].is_i64());
        assert!(body["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(!body.to_string().contains("argon2"), "no hash in the answer: {body}");

        let stored = users(&app);
        assert_eq!(stored.len(), 1);
        assert!(stored[0].is_active);
        assert_eq!(stored[0].full_name.as_deref(), Some("Zoë Ng"));
        let link = app.with_conn(|conn| {
            SignupOtp::find(conn, &EmailAddress::parse("zoe@example.com").unwrap(), UserType::Live)
                .unwrap()
                .unwrap()
        });
        assert_eq!(link.user_id, Some(stored[0].id), "the verification is linked to the account");

        app.advance(Duration::from_secs(61));
        app.send_otp("zoe@example.com", "live").await;
        let messages = app.smtp.wait_for_messages_to("zoe@example.com", 2).await;
        assert_eq!(messages.last().unwrap().subject(), Some("You already have an account"));
    }

    async fn a_demo_account_registers_with_a_demo_token(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("trial@example.com", "demo").await;

        let registered = app
            .register(json!({ "email": "trial@example.com", "user_type": "demo", "password": PASSWORD, "signup_token": token }))
            .await;

        assert_eq!(registered.status, 201, "{}", registered.body);
        assert_eq!(registered.body["user_type"], "demo");
        assert_eq!(registered.body["full_name"], Value::Null);
        assert_eq!(demo_user_count(&app), 1);
        assert!(users(&app).is_empty());
    }

    async fn without_a_token_the_account_waits_for_its_activation_code(backend) {
        let app = TestApp::spawn(backend).await;

        let registered = app
            .register(json!({ "email": "later@example.com", "user_type": "live", "password": PASSWORD }))
            .await;

        assert_eq!(registered.status, 201, "{}", registered.body);
        assert_eq!(registered.body["status"], "pending_activation");
        assert_eq!(registered.body["is_active"], false);
        assert_eq!(registered.body["expires_in"], 600);
        let message = &app.smtp.wait_for_messages_to("later@example.com", 1).await[0];
        assert_eq!(message.subject(), Some("Your account activation code"));
        let code = app.code_in_message("later@example.com", 1).await;

        let verified = app.verify_otp("later@example.com", "live", &code).await;
        assert_eq!(verified.body, json!({ "verified": true, "flow": "activation" }));
        assert!(users(&app)[0].is_active);
    }

    async fn a_token_for_another_address_or_type_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("owner@example.com", "live").await;

        for (email, user_type) in [("thief@example.com", "live"), ("owner@example.com", "demo")] {
            app.register(json!({ "email": email, "user_type": user_type, "password": PASSWORD, "signup_token": token }))
                .await
                .assert_error(400, "invalid_signup_token");
        }
        assert!(users(&app).is_empty());
        assert_eq!(demo_user_count(&app), 0);
    }

    async fn an_expired_or_tampered_token_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("owner@example.com", "live").await;
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();

        for bad in [tampered.as_str(), "", "not-a-token", "a.b"] {
            app.register(json!({ "email": "owner@example.com", "user_type": "live", "password": PASSWORD, "signup_token": bad }))
                .await
                .assert_error(400, "invalid_signup_token");
        }
        app.advance(Duration::from_secs(900));
        app.register(json!({ "email": "owner@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await
            .assert_error(400, "invalid_signup_token");
        assert!(users(&app).is_empty());
    }

    async fn a_token_is_void_once_a_new_code_is_sent(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("fickle@example.com", "live").await;
        app.advance(Duration::from_secs(61));
        app.send_otp("fickle@example.com", "live").await;

        app.register(json!({ "email": "fickle@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await
            .assert_error(400, "invalid_signup_token");
        assert!(users(&app).is_empty());
    }

    async fn registering_twice_is_a_409(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("twice@example.com", "live").await;
        let body = json!({ "email": "twice@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token });
        assert_eq!(app.register(body.clone()).await.status, 201);

        app.register(body).await.assert_error(409, "already_registered");
        app.advance(Duration::from_secs(61));
        app.register(json!({ "email": "twice@example.com", "user_type": "live", "password": PASSWORD }))
            .await
            .assert_error(409, "already_registered");
        assert_eq!(users(&app).len(), 1);
    }

    async fn concurrent_registers_with_one_token_make_one_account(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("rush@example.com", "demo").await;
        let body = json!({ "email": "rush@example.com", "user_type": "demo", "password": PASSWORD, "signup_token": token });

        let responses = join_all((0..6).map(|_| app.register(body.clone()))).await;

        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 5, "{statuses:?}");
        assert_eq!(demo_user_count(&app), 1);
    }

    async fn probing_for_accounts_without_a_token_is_throttled_like_send_otp(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("taken@example.com", "live").await;
        app.register(json!({ "email": "taken@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await;
        app.advance(Duration::from_secs(61));
        let probe = json!({ "email": "taken@example.com", "user_type": "live", "password": PASSWORD });

        app.register(probe.clone()).await.assert_error(409, "already_registered");
        let again = app.register(probe).await;

        again.assert_error(429, "resend_cooldown");
        assert_eq!(again.header("retry-after"), Some("60"));
    }

    async fn password_length_is_bounded(backend) {
        let app = TestApp::spawn(backend).await;
        for password in ["short", &"x".repeat(129), &"é".repeat(1000)] {
            app.register(json!({ "email": "pw@example.com", "user_type": "live", "password": password }))
                .await
                .assert_error(422, "invalid_password");
        }
        app.register(json!({ "email": "pw@example.com", "user_type": "live", "password": "x".repeat(1 << 20) }))
            .await
            .assert_error(413, "payload_too_large");
        assert!(users(&app).is_empty());
    }

    async fn other_bad_fields_are_422s(backend) {
        let app = TestApp::spawn(backend).await;
        let base = json!({ "email": "f@example.com", "user_type": "live", "password": PASSWORD });
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        app.register(with("full_name", json!("a".repeat(256)))).await.assert_error(422, "invalid_full_name");
        app.register(with("full_name", json!("line\nbreak"))).await.assert_error(422, "invalid_full_name");
        app.register(with("email", json!("nope"))).await.assert_error(422, "invalid_email");
        app.register(with("user_type", json!("paper"))).await.assert_error(422, "invalid_user_type");
        app.register(with("password", json!(12345678))).await.assert_error(422, "invalid_request");
        app.register(with("is_admin", json!(true))).await.assert_error(422, "invalid_request");
        assert!(users(&app).is_empty());
    }

    async fn the_password_is_stored_only_as_an_argon2id_hash(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("hash@example.com", "live").await;
        app.register(json!({ "email": "hash@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await;
        app.register(json!({ "email": "hash2@example.com", "user_type": "live", "password": PASSWORD }))
            .await;

        let stored = users(&app);
        assert_eq!(stored.len(), 2);
        for user in &stored {
            let hash = user.hashed_password.as_deref().unwrap();
            assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
            assert!(!hash.contains(PASSWORD));
        }
        assert_ne!(stored[0].hashed_password, stored[1].hashed_password, "salted");
    }
}
