//! Rotating `OTP_SECRET`: with the old key in `OTP_SECRET_PREVIOUS`, everything
//! made under it keeps working (codes, queued emails, stored answers); without
//! it, what nobody can read any more is treated as expired, never as a wrong
//! guess that moves the user toward a lockout.

use serde_json::json;
use signup_otp::keys::OtpSecret;

use crate::helpers::{Mode, SECRET, TestApp};
use crate::idempotency::replayed;
use crate::on_both_backends;
use crate::outbox::wait_for_failed_attempts;

const NEW_SECRET: &str = "8q2Yc1Lr0mVw7KtPz3Xa9NbHd4Gf6Js5Ue2Ri1Oo7Wk=";
const VERIFY: &str = "/api/v1/users/signup/verify-otp";

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

on_both_backends! {
    async fn what_the_old_key_made_keeps_working_after_a_rotation(backend) {
        let app = TestApp::spawn(backend).await;
        let alices = app.send_and_read_code("alice@example.com", "live").await;
        let bobs = app.send_and_read_code("bob@example.com", "live").await;
        let bob = json!({"email": "bob@example.com", "user_type": "live", "otp_code": bobs});
        let answered = app.post_with_key(VERIFY, &bob, "bobs-key").await;
        assert_eq!(answered.status, 200, "{}", answered.body);
        app.wait_for_empty_outbox().await;
        app.smtp.set_mode(Mode::Refuse);
        app.send_otp("carol@example.com", "live").await;
        wait_for_failed_attempts(&app).await;
        let (db, smtp, clock) = (app.db.clone(), app.smtp.clone(), app.clock.clone());
        app.stop().await;

        smtp.set_mode(Mode::Accept);
        let rotated = TestApp::spawn_on(db, smtp, clock, |config| {
            config.otp_secret = OtpSecret::new(NEW_SECRET.as_bytes().to_vec());
            config.otp_secret_previous = Some(OtpSecret::new(SECRET.as_bytes().to_vec()));
        })
        .await;

        let alice = rotated.verify_otp("alice@example.com", "live", &alices).await;
        assert_eq!(alice.status, 200, "a code made under the old key: {}", alice.body);
        let again = rotated.post_with_key(VERIFY, &bob, "bobs-key").await;
        assert!(replayed(&again), "a stored answer sealed under the old key");
        assert_eq!(again.body, answered.body);
        let carols = rotated.code_in_message("carol@example.com", 1).await;
        assert_eq!(
            rotated.verify_otp("carol@example.com", "live", &carols).await.status,
            200,
            "an email sealed under the old key was delivered"
        );
        let registered = rotated
            .register(json!({
                "email": "bob@example.com", "user_type": "live",
                "password": crate::register::PASSWORD, "signup_token": answered.body["signup_token"]
            }))
            .await;
        assert_eq!(registered.status, 201, "a token from before the rotation: {}", registered.body);
    }

    async fn a_code_under_a_key_no_longer_held_is_expired_not_wrong(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("dora@example.com", "live").await;
        let (db, smtp, clock) = (app.db.clone(), app.smtp.clone(), app.clock.clone());
        app.stop().await;

        let forgotten = TestApp::spawn_on(db, smtp, clock, |config| {
            config.otp_secret = OtpSecret::new(NEW_SECRET.as_bytes().to_vec());
        })
        .await;

        for _ in 0..8 {
            forgotten
                .verify_otp("dora@example.com", "live", &code)
                .await
                .assert_error(400, "invalid_otp");
        }
        assert_eq!(attempts_of(&forgotten, "dora@example.com"), 0, "no attempt was spent");
        // A new code, made under the new key, works as ever.
        forgotten.advance(std::time::Duration::from_secs(61));
        let fresh = forgotten.send_and_read_code("dora@example.com", "live").await;
        assert_eq!(forgotten.verify_otp("dora@example.com", "live", &fresh).await.status, 200);
    }
}
