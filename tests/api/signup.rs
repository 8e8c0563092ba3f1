//! The signup journey for new addresses: send, read the code from the email,
//! verify, and every way a code stops working.

use std::time::Duration;

use futures_util::future::join_all;
use signup_otp::db::models::SignupOtp;
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, wrong_code};
use crate::on_both_backends;

fn signup_row(app: &TestApp, email: &str, user_type: UserType) -> Option<SignupOtp> {
    app.with_conn(|conn| {
        SignupOtp::find(conn, &EmailAddress::parse(email).unwrap(), user_type).unwrap()
    })
}

on_both_backends! {
    async fn a_new_address_signs_up_with_the_code_from_its_email(backend) {
        let app = TestApp::spawn(backend).await;

        let sent = app.send_otp("test@example.com", "live").await;
        assert_eq!(sent.status, 200);
        assert_eq!(sent.body["expires_in"], 600);
        assert_eq!(sent.body["resend_after"], 60);
        assert!(sent.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        let message = &app.smtp.wait_for_messages_to("test@example.com", 1).await[0];
        assert_eq!(message.subject(), Some("Your verification code"));
        let code = app.code_in_message("test@example.com", 1).await;

        let verified = app.verify_otp("test@example.com", "live", &code).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body["verified"], true);
        assert_eq!(verified.body["flow"], "signup");
        assert!(verified.body["signup_token"].as_str().is_some_and(|t| t.len() > 40));
        assert_eq!(verified.body["signup_token_expires_in"], 900);
        let row = signup_row(&app, "test@example.com", UserType::Live).unwrap();
        assert!(row.is_verified && row.verified_at.is_some(), "the code is used up");
    }

    async fn a_code_works_only_once(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("once@example.com", "demo").await;

        assert_eq!(app.verify_otp("once@example.com", "demo", &code).await.status, 200);
        app.verify_otp("once@example.com", "demo", &code)
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn a_resend_replaces_the_code(backend) {
        let app = TestApp::spawn(backend).await;
        // Two codes known to differ (the original service's force_otp_code).
        app.send_code("again@example.com", UserType::Live, "111111").await;
        app.advance(Duration::from_secs(61));
        app.send_code("again@example.com", UserType::Live, "222222").await;

        app.verify_otp("again@example.com", "live", "111111")
            .await
            .assert_error(400, "invalid_otp");
        assert_eq!(app.verify_otp("again@example.com", "live", "222222").await.status, 200);
    }

    async fn a_resend_gives_back_the_spent_attempts(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("retry@example.com", "live").await;
        for _ in 0..3 {
            app.verify_otp("retry@example.com", "live", &wrong_code(&code)).await;
        }
        assert_eq!(signup_row(&app, "retry@example.com", UserType::Live).unwrap().attempts, 3);

        app.advance(Duration::from_secs(61));
        app.send_and_read_code("retry@example.com", "live").await;
        assert_eq!(signup_row(&app, "retry@example.com", UserType::Live).unwrap().attempts, 0);
    }

    async fn live_and_demo_codes_are_separate(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_code("both@example.com", UserType::Live, "111111").await;
        app.send_code("both@example.com", UserType::Demo, "222222").await;

        app.verify_otp("both@example.com", "demo", "111111")
            .await
            .assert_error(400, "invalid_otp");
        assert_eq!(app.verify_otp("both@example.com", "demo", "222222").await.status, 200);
        assert_eq!(app.verify_otp("both@example.com", "live", "111111").await.status, 200);
    }

    async fn case_and_surrounding_spaces_do_not_matter(backend) {
        let app = TestApp::spawn(backend).await;
        let sent = app.send_otp("  Mixed.Case@Example.COM ", "live").await;
        assert_eq!(sent.status, 200);
        let code = app.code_in_message("mixed.case@example.com", 1).await;

        let verified = app
            .verify_otp("mixed.case@EXAMPLE.com", "live", &format!("  {code} "))
            .await;
        assert_eq!(verified.status, 200, "{}", verified.body);
    }

    async fn an_expired_code_is_invalid(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("late@example.com", "live").await;

        app.advance(Duration::from_secs(601));
        app.verify_otp("late@example.com", "live", &code)
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn a_code_is_still_good_just_before_it_expires(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("ontime@example.com", "live").await;

        app.advance(Duration::from_secs(590));
        assert_eq!(app.verify_otp("ontime@example.com", "live", &code).await.status, 200);
    }

    async fn wrong_codes_spend_attempts_until_the_code_is_dead(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("guess@example.com", "live").await;

        for attempt in 1..=5 {
            let response = app.verify_otp("guess@example.com", "live", &wrong_code(&code)).await;
            response.assert_error(400, "invalid_otp");
            assert_eq!(
                signup_row(&app, "guess@example.com", UserType::Live).unwrap().attempts,
                attempt
            );
        }
        app.verify_otp("guess@example.com", "live", &code)
            .await
            .assert_error(429, "too_many_attempts");

        app.advance(Duration::from_secs(61));
        let fresh = app.send_and_read_code("guess@example.com", "live").await;
        assert_eq!(app.verify_otp("guess@example.com", "live", &fresh).await.status, 200);
    }

    async fn malformed_codes_are_wrong_codes(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("shape@example.com", "live").await;

        for submitted in ["", "12345", "1234567", "12a456", &"9".repeat(10_000)] {
            app.verify_otp("shape@example.com", "live", submitted)
                .await
                .assert_error(400, "invalid_otp");
        }
        assert_eq!(signup_row(&app, "shape@example.com", UserType::Live).unwrap().attempts, 5);
        app.verify_otp("shape@example.com", "live", &code)
            .await
            .assert_error(429, "too_many_attempts");
    }

    async fn a_code_never_sent_is_invalid(backend) {
        let app = TestApp::spawn(backend).await;
        app.verify_otp("nobody@example.com", "live", "123456")
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn a_code_succeeds_once_under_twenty_concurrent_verifies(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("race@example.com", "live").await;

        let responses = join_all((0..20).map(|_| app.verify_otp("race@example.com", "live", &code))).await;

        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 400).count(), 19, "{statuses:?}");
    }

    async fn concurrent_wrong_guesses_never_spend_more_than_the_limit(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("swarm@example.com", "live").await;
        let wrong = wrong_code(&code);

        let responses = join_all((0..20).map(|_| app.verify_otp("swarm@example.com", "live", &wrong))).await;

        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 400).count(), 5, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 15, "{statuses:?}");
        assert_eq!(signup_row(&app, "swarm@example.com", UserType::Live).unwrap().attempts, 5);
        app.verify_otp("swarm@example.com", "live", &code)
            .await
            .assert_error(429, "too_many_attempts");
    }
}

on_both_backends! {
    async fn a_code_forced_by_a_test_verifies_like_a_generated_one(backend) {
        let app = TestApp::spawn(backend).await;
        let service = app.service();
        let code = signup_otp::domain::OtpCode::parse("042424", 6).unwrap();
        let email = EmailAddress::parse("forced@example.com").unwrap();

        service.send_code(email, UserType::Live, code).await.unwrap();

        assert_eq!(app.code_in_message("forced@example.com", 1).await, "042424");
        assert_eq!(app.verify_otp("forced@example.com", "live", "042424").await.status, 200);
    }
}

/// A verify that compared the old code while a re-send replaced it: its write
/// finds another hash and marks nothing, so the new code is never verified by
/// the old one. PostgreSQL: the re-send's write is held open by a test
/// transaction until the verify waits on its row lock. (SQLite runs each write
/// transaction whole under `BEGIN IMMEDIATE`; there the race cannot happen.)
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_verify_racing_a_resend_never_marks_the_new_code_verified() {
    use diesel::prelude::*;
    use signup_otp::domain::OtpCode;
    use signup_otp::flows::OtpHasher;

    let app = TestApp::spawn(crate::helpers::Backend::Postgres).await;
    let old = app.send_and_read_code("race@example.com", "live").await;
    let new = wrong_code(&old);
    let email = EmailAddress::parse("race@example.com").unwrap();
    let new_hash = OtpHasher::new(&app.config.keyring()).hash(
        UserType::Live,
        &email,
        &OtpCode::parse(&new, 6).unwrap(),
    );
    let mut resend = app.conn();
    diesel::sql_query("BEGIN").execute(&mut **resend).unwrap();
    diesel::sql_query("UPDATE signup_otps SET otp_hash = $1, attempts = 0 WHERE email = $2")
        .bind::<diesel::sql_types::Binary, _>(&new_hash)
        .bind::<diesel::sql_types::Text, _>("race@example.com")
        .execute(&mut **resend)
        .unwrap();

    let verify = app.verify_otp("race@example.com", "live", &old);
    let commit = async {
        crate::helpers::until_a_request_waits_on_a_lock(&app, "the verify, on the re-send's row")
            .await;
        diesel::sql_query("COMMIT").execute(&mut **resend).unwrap();
    };
    let (verified, ()) = futures_util::join!(verify, commit);

    verified.assert_error(400, "invalid_otp");
    let row = signup_row(&app, "race@example.com", UserType::Live).unwrap();
    assert!(
        !row.is_verified,
        "the new code was not marked by the old one"
    );
    assert_eq!(
        app.verify_otp("race@example.com", "live", &new)
            .await
            .status,
        200,
        "the new code works"
    );
}

/// Concurrent guesses at a code's last attempt: a verify waits for the guess
/// before it and sees the attempt it spent, so a right code that comes too late
/// is refused exactly as a wrong one is (429 too_many_attempts), never told
/// apart as "invalid" — which would let a swarm of parallel guesses find the
/// code without spending attempts. PostgreSQL: the earlier guess is a test
/// transaction that spends the last attempt and stays open until the verify
/// waits on its row lock. (SQLite runs each verify whole under `BEGIN
/// IMMEDIATE`, one at a time.)
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_right_code_racing_the_last_wrong_guess_is_refused_like_a_wrong_one() {
    use diesel::prelude::*;

    let app = TestApp::spawn(crate::helpers::Backend::Postgres).await;
    let code = app.send_and_read_code("last@example.com", "live").await;
    let wrong = wrong_code(&code);
    for _ in 0..4 {
        app.verify_otp("last@example.com", "live", &wrong)
            .await
            .assert_error(400, "invalid_otp");
    }
    let mut guess = app.conn();
    diesel::sql_query("BEGIN").execute(&mut **guess).unwrap();
    diesel::sql_query("UPDATE signup_otps SET attempts = attempts + 1 WHERE email = $1")
        .bind::<diesel::sql_types::Text, _>("last@example.com")
        .execute(&mut **guess)
        .unwrap();

    let verify = app.verify_otp("last@example.com", "live", &code);
    let commit = async {
        crate::helpers::until_a_request_waits_on_a_lock(
            &app,
            "the verify, on the earlier guess's row",
        )
        .await;
        diesel::sql_query("COMMIT").execute(&mut **guess).unwrap();
    };
    let (verified, ()) = futures_util::join!(verify, commit);

    verified.assert_error(429, "too_many_attempts");
    let row = signup_row(&app, "last@example.com", UserType::Live).unwrap();
    assert!(!row.is_verified);
    assert_eq!(row.attempts, 5);
}
