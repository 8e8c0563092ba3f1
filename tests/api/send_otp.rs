//! send-otp: the three cases answer alike, and the per-address limits.

use std::time::Duration;

use chrono::Utc;
use signup_otp::db::models::{AccountRecord, NewAccount, Otp, SignupOtp};
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, code_in, without_ids};
use crate::on_both_backends;

pub fn create_account(
    app: &TestApp,
    email: &str,
    user_type: UserType,
    active: bool,
) -> AccountRecord {
    create_account_with_password(app, email, user_type, active, None)
}

/// An account as an earlier system (or an import) left it, with its password hash.
pub fn create_account_with_password(
    app: &TestApp,
    email: &str,
    user_type: UserType,
    active: bool,
    hashed_password: Option<&str>,
) -> AccountRecord {
    let email = EmailAddress::parse(email).unwrap();
    app.with_conn(|conn| {
        NewAccount {
            user_type,
            email: &email,
            hashed_password,
            full_name: None,
            is_active: active,
            created_at: Utc::now().naive_utc(),
        }
        .insert(conn)
        .unwrap()
    })
}

on_both_backends! {
    async fn an_active_account_gets_the_same_answer_as_a_new_address(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "member@example.com", UserType::Live, true);

        let for_member = app.send_otp("member@example.com", "live").await;
        let for_stranger = app.send_otp("stranger@example.com", "live").await;

        assert_eq!(for_member.status, 200);
        assert_eq!(for_member.status, for_stranger.status);
        assert_eq!(without_ids(&for_member.body), without_ids(&for_stranger.body));
        let message = &app.smtp.wait_for_messages_to("member@example.com", 1).await[0];
        assert_eq!(message.subject(), Some("You already have an account"));
        app.smtp.wait_for_messages_to("stranger@example.com", 1).await;
        assert_eq!(code_in(message, 6), None, "no code for an active account");
        app.verify_otp("member@example.com", "live", "123456")
            .await
            .assert_error(400, "invalid_otp");
    }

    async fn an_active_account_is_throttled_like_any_address(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "member@example.com", UserType::Demo, true);
        app.send_otp("member@example.com", "demo").await;
        app.send_otp("stranger@example.com", "demo").await;

        let for_member = app.send_otp("member@example.com", "demo").await;
        let for_stranger = app.send_otp("stranger@example.com", "demo").await;

        for_member.assert_error(429, "resend_cooldown");
        assert_eq!(for_member.body, for_stranger.body);
        assert_eq!(for_member.header("retry-after"), for_stranger.header("retry-after"));
    }

    async fn a_second_send_within_the_cooldown_is_refused_and_the_code_stays_valid(backend) {
        let app = TestApp::spawn(backend).await;
        let code = app.send_and_read_code("eager@example.com", "live").await;

        app.advance(Duration::from_secs(20));
        let again = app.send_otp("eager@example.com", "live").await;

        again.assert_error(429, "resend_cooldown");
        // 40 s are left; the answer says 60, in 30-second steps, so that it does
        // not tell a prober when the last send was.
        assert_eq!(again.header("retry-after"), Some("60"));
        // The first email's row may still be on its way out: once the outbox is
        // empty, exactly one email went out.
        app.wait_for_empty_outbox().await;
        assert_eq!(app.smtp.messages_to("eager@example.com").len(), 1, "no second email");
        assert_eq!(app.verify_otp("eager@example.com", "live", &code).await.status, 200);
    }

    async fn the_hourly_cap_refuses_further_sends_until_the_hour_is_over(backend) {
        let app = TestApp::spawn(backend).await;
        // Frozen: the wait compared below is exact however slow the machine is.
        app.clock.freeze();
        for _ in 0..5 {
            app.send_and_read_code("busy@example.com", "live").await;
            app.advance(Duration::from_secs(61));
        }

        let capped = app.send_otp("busy@example.com", "live").await;
        capped.assert_error(429, "send_limit_reached");
        assert_eq!(capped.header("retry-after"), Some(&*(3600 - 5 * 61).to_string()));
        let last = app.code_in_message("busy@example.com", 5).await;
        assert_eq!(app.verify_otp("busy@example.com", "live", &last).await.status, 200, "the last code stays valid");

        app.advance(Duration::from_secs(3600 - 5 * 61));
        assert_eq!(app.send_otp("busy@example.com", "live").await.status, 200);
    }

    async fn limits_are_per_address_and_user_type(backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.send_otp("one@example.com", "live").await.status, 200);

        assert_eq!(app.send_otp("one@example.com", "demo").await.status, 200);
        assert_eq!(app.send_otp("two@example.com", "live").await.status, 200);
    }

    async fn send_otp_answers_at_once_even_when_smtp_is_down(backend) {
        let closed_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let app = TestApp::spawn_with(backend, |config| {
            config.mail.transport = signup_otp::mail::MailTransport::Smtp {
                url: format!("smtp://127.0.0.1:{closed_port}"),
                timeout: Duration::from_secs(5),
            };
        })
        .await;

        let sent = app.send_otp("nowhere@example.com", "live").await;

        assert_eq!(sent.status, 200, "{}", sent.body);
        assert_eq!(app.outbox_len(), 1, "the email waits in the outbox");
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.body["outbox"]["backlog"], 1);
    }

    async fn an_address_that_registered_since_its_signup_code_gets_an_activation_code(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_and_read_code("switch@example.com", "live").await;
        let account = create_account(&app, "switch@example.com", UserType::Live, false);

        app.advance(Duration::from_secs(61));
        app.send_and_read_code("switch@example.com", "live").await;

        let email = EmailAddress::parse("switch@example.com").unwrap();
        app.with_conn(|conn| {
            assert!(SignupOtp::find(conn, &email, UserType::Live).unwrap().is_none());
            assert!(Otp::find_for(conn, account.id).unwrap().is_some());
        });
    }
}
