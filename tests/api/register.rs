//! register: with a signup token (the address is proven), or without one (a
//! code is sent, and verify-otp with the registration_id finishes it). No
//! password reaches an account unless whoever chose it proved the address.

use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};
use signup_otp::db::models::{Account, DemoUser, SignupOtp, User};
use signup_otp::db::schema;
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, TestResponse, wrong_code};
use crate::on_both_backends;

const REGISTER: &str = "/api/v1/users/register";
pub const PASSWORD: &str = "Tr0ub4dor&3-horse-staple";
const ATTACKER_PASSWORD: &str = "attacker-knows-this-one";

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

    /// verify-otp carrying a registration_id.
    pub async fn verify_registration(
        &self,
        email: &str,
        user_type: &str,
        code: &str,
        registration_id: &str,
    ) -> TestResponse {
        self.post_json(
            "/api/v1/users/signup/verify-otp",
            &json!({ "email": email, "user_type": user_type, "otp_code": code, "registration_id": registration_id }),
        )
        .await
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

fn demo_users(app: &TestApp) -> Vec<DemoUser> {
    app.with_conn(|conn| {
        schema::demo_users::table
            .select(DemoUser::as_select())
            .load(conn)
            .unwrap()
    })
}

/// The stored password hash of an account.
pub fn password_of(app: &TestApp, email: &str, user_type: UserType) -> String {
    let hashes: Vec<Option<String>> = match user_type {
        UserType::Live => users(app)
            .into_iter()
            .filter(|u| u.email == email)
            .map(|u| u.hashed_password)
            .collect(),
        UserType::Demo => demo_users(app)
            .into_iter()
            .filter(|u| u.email == email)
            .map(|u| u.hashed_password)
            .collect(),
    };
    hashes
        .into_iter()
        .next()
        .flatten()
        .expect("the account has a password")
}

/// Whether `hash` is argon2id of `password`.
pub fn verifies(hash: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    let parsed = PasswordHash::new(hash).expect("a PHC string");
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn is_active(app: &TestApp, email: &str, user_type: UserType) -> Option<bool> {
    let email = EmailAddress::parse(email).unwrap();
    app.with_conn(|conn| Account::find(conn, user_type, &email).unwrap())
        .map(|account| account.is_active)
}

on_both_backends! {
    async fn a_verified_address_registers_an_active_account(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("Zoe@Example.com", "live").await;
        assert_eq!(token.len(), 43, "an opaque token: {token}");

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
        assert_eq!(demo_users(&app).len(), 1);
        assert!(users(&app).is_empty());
    }

    async fn without_a_token_nothing_exists_until_the_code_comes_back_with_the_registration_id(backend) {
        let app = TestApp::spawn(backend).await;

        let pending = app
            .register(json!({ "email": "later@example.com", "user_type": "live", "password": PASSWORD, "full_name": "Lat Er" }))
            .await;

        assert_eq!(pending.status, 202, "{}", pending.body);
        assert_eq!(pending.body["status"], "pending_verification");
        assert_eq!(pending.body["expires_in"], 600);
        assert_eq!(pending.body["resend_after"], 60);
        let registration_id = pending.body["registration_id"].as_str().unwrap().to_owned();
        assert_eq!(registration_id.len(), 43);
        assert!(users(&app).is_empty(), "no account before the address is proven");
        let message = &app.smtp.wait_for_messages_to("later@example.com", 1).await[0];
        assert_eq!(message.subject(), Some("Your verification code"));
        let code = app.code_in_message("later@example.com", 1).await;

        let verified = app.verify_registration("later@example.com", "live", &code, &registration_id).await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body["flow"], "signup");
        assert!(verified.body.get("signup_token").is_none(), "{}", verified.body);
        let account = &verified.body["account"];
        assert_eq!(account["email"], "later@example.com");
        assert_eq!(account["is_active"], true);
        assert_eq!(account["full_name"], "Lat Er");
        assert!(verifies(&password_of(&app, "later@example.com", UserType::Live), PASSWORD));
    }

    async fn a_stale_or_foreign_registration_id_gets_a_signup_token_instead(backend) {
        let app = TestApp::spawn(backend).await;
        let elsewhere = app
            .register(json!({ "email": "other@example.com", "user_type": "live", "password": ATTACKER_PASSWORD }))
            .await;
        let foreign_id = elsewhere.body["registration_id"].as_str().unwrap().to_owned();
        let code = app.send_and_read_code("owner@example.com", "live").await;

        let verified = app.verify_registration("owner@example.com", "live", &code, &foreign_id).await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert!(verified.body.get("account").is_none());
        assert!(verified.body["signup_token"].is_string());
        assert!(users(&app).is_empty(), "another address's registration is not this one's");
    }

    async fn an_attackers_password_never_becomes_the_victims(backend) {
        let app = TestApp::spawn(backend).await;
        // The attacker registers the victim's address first.
        let attack = app
            .register(json!({ "email": "victim@example.com", "user_type": "live", "password": ATTACKER_PASSWORD }))
            .await;
        assert_eq!(attack.status, 202, "{}", attack.body);
        let attackers_id = attack.body["registration_id"].as_str().unwrap().to_owned();
        assert_eq!(is_active(&app, "victim@example.com", UserType::Live), None, "nothing was created");

        // Guessing with the registration_id spends attempts like any guess.
        let victims_code = app.code_in_message("victim@example.com", 1).await;
        app.verify_registration("victim@example.com", "live", &wrong_code(&victims_code), &attackers_id)
            .await
            .assert_error(400, "invalid_otp");

        // Later the victim signs up the ordinary way.
        app.advance(Duration::from_secs(61));
        let token = app.signup_token("victim@example.com", "live").await;
        let registered = app
            .register(json!({ "email": "victim@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);

        let stored = password_of(&app, "victim@example.com", UserType::Live);
        assert!(verifies(&stored, PASSWORD));
        assert!(!verifies(&stored, ATTACKER_PASSWORD));
        // The attacker's registration died with the account.
        let late = app.verify_registration("victim@example.com", "live", &victims_code, &attackers_id).await;
        assert_ne!(late.status, 200, "{}", late.body);
    }

    async fn two_registrations_for_one_address_each_finish_only_with_their_own_id(backend) {
        let app = TestApp::spawn(backend).await;
        let attack = app
            .register(json!({ "email": "victim@example.com", "user_type": "demo", "password": ATTACKER_PASSWORD }))
            .await;
        assert_eq!(attack.status, 202);
        app.advance(Duration::from_secs(61));
        let own = app
            .register(json!({ "email": "victim@example.com", "user_type": "demo", "password": PASSWORD }))
            .await;
        assert_eq!(own.status, 202, "{}", own.body);
        assert_eq!(attack.body.as_object().unwrap().keys().collect::<Vec<_>>(), own.body.as_object().unwrap().keys().collect::<Vec<_>>());
        let code = app.code_in_message("victim@example.com", 2).await;

        let verified = app
            .verify_registration("victim@example.com", "demo", &code, own.body["registration_id"].as_str().unwrap())
            .await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body["account"]["is_active"], true);
        let stored = password_of(&app, "victim@example.com", UserType::Demo);
        assert!(verifies(&stored, PASSWORD));
        assert!(!verifies(&stored, ATTACKER_PASSWORD));
    }

    async fn a_legacy_inactive_account_takes_the_password_of_whoever_proves_the_code(backend) {
        let app = TestApp::spawn(backend).await;
        let old = crate::activation::legacy_hash("old-password-from-before");
        crate::send_otp::create_account_with_password(&app, "legacy@example.com", UserType::Live, false, Some(&old));

        let pending = app
            .register(json!({ "email": "legacy@example.com", "user_type": "live", "password": PASSWORD }))
            .await;
        assert_eq!(pending.status, 202, "the same answer as for a new address: {}", pending.body);
        let message = &app.smtp.wait_for_messages_to("legacy@example.com", 1).await[0];
        assert_eq!(message.subject(), Some("Your account activation code"));
        let code = app.code_in_message("legacy@example.com", 1).await;

        let verified = app
            .verify_registration("legacy@example.com", "live", &code, pending.body["registration_id"].as_str().unwrap())
            .await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body["flow"], "activation");
        assert_eq!(verified.body["account"]["is_active"], true);
        let stored = password_of(&app, "legacy@example.com", UserType::Live);
        assert!(verifies(&stored, PASSWORD));
        assert!(!verifies(&stored, "old-password-from-before"));
    }

    async fn a_signup_token_outlives_a_strangers_register_and_resend(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("holder@example.com", "live").await;

        app.advance(Duration::from_secs(61));
        let stranger = app
            .register(json!({ "email": "holder@example.com", "user_type": "live", "password": ATTACKER_PASSWORD }))
            .await;
        assert_eq!(stranger.status, 202);
        app.advance(Duration::from_secs(61));
        assert_eq!(app.send_otp("holder@example.com", "live").await.status, 200);

        let registered = app
            .register(json!({ "email": "holder@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        assert!(verifies(&password_of(&app, "holder@example.com", UserType::Live), PASSWORD));
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
        assert!(demo_users(&app).is_empty());
    }

    async fn an_expired_or_tampered_token_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("owner@example.com", "live").await;
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();

        for bad in [tampered.as_str(), "", "not-a-token", "a.b", &"A".repeat(43)] {
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

    async fn a_token_registers_once(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("twice@example.com", "live").await;
        let body = json!({ "email": "twice@example.com", "user_type": "live", "password": PASSWORD, "signup_token": token });
        assert_eq!(app.register(body.clone()).await.status, 201);

        app.register(body).await.assert_error(400, "invalid_signup_token");
        assert_eq!(users(&app).len(), 1);
    }

    async fn concurrent_registers_with_one_token_make_one_account(backend) {
        let app = TestApp::spawn(backend).await;
        let token = app.signup_token("rush@example.com", "demo").await;
        let body = json!({ "email": "rush@example.com", "user_type": "demo", "password": PASSWORD, "signup_token": token });

        let responses = join_all((0..6).map(|_| app.register(body.clone()))).await;

        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|&s| [201, 400, 409].contains(&s)),
            "the others find the token used, or the account there: {statuses:?}"
        );
        assert_eq!(demo_users(&app).len(), 1);
    }

    async fn register_without_a_token_is_throttled_like_send_otp(backend) {
        let app = TestApp::spawn(backend).await;
        let probe = json!({ "email": "probe@example.com", "user_type": "live", "password": PASSWORD });

        assert_eq!(app.register(probe.clone()).await.status, 202);
        let again = app.register(probe).await;

        again.assert_error(429, "resend_cooldown");
        assert_eq!(again.header("retry-after"), Some("60"));
        app.send_otp("probe@example.com", "live")
            .await
            .assert_error(429, "resend_cooldown");
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
        assert!(app.smtp.messages_to("pw@example.com").is_empty());
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
        let pending = app
            .register(json!({ "email": "hash2@example.com", "user_type": "live", "password": PASSWORD }))
            .await;
        let code = app.code_in_message("hash2@example.com", 1).await;
        let finished = app
            .verify_registration("hash2@example.com", "live", &code, pending.body["registration_id"].as_str().unwrap())
            .await;
        assert_eq!(finished.status, 200, "{}", finished.body);

        let stored = users(&app);
        assert_eq!(stored.len(), 2);
        for user in &stored {
            let hash = user.hashed_password.as_deref().unwrap();
            assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
            assert!(!hash.contains(PASSWORD));
        }
        assert_ne!(stored[0].hashed_password, stored[1].hashed_password, "salted");
        let dump = app.with_conn(|conn| {
            schema::pending_registrations::table.count().get_result::<i64>(conn).unwrap()
        });
        assert_eq!(dump, 0, "a finished registration leaves nothing pending");
    }
}
