//! The activation journey for existing, inactive accounts.

use futures_util::future::join_all;
use serde_json::json;
use signup_otp::db::models::{Account, Otp};
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, wrong_code};
use crate::on_both_backends;
use crate::send_otp::create_account;

fn account(app: &TestApp, email: &str, user_type: UserType) -> Account {
    let email = EmailAddress::parse(email).unwrap();
    app.with_conn(|conn| Account::find(conn, user_type, &email).unwrap().unwrap())
}

on_both_backends! {
    async fn an_inactive_live_account_is_activated_by_its_code(backend) {
        let app = TestApp::spawn(backend).await;
        let created = create_account(&app, "dormant@example.com", UserType::Live, false);

        let code = app.send_and_read_code("dormant@example.com", "live").await;
        let message = &app.smtp.messages_to("dormant@example.com")[0];
        assert_eq!(message.subject(), Some("Your account activation code"));
        let verified = app.verify_otp("dormant@example.com", "live", &code).await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body, json!({ "verified": true, "flow": "activation" }));
        assert!(account(&app, "dormant@example.com", UserType::Live).is_active);
        assert!(app.with_conn(|conn| Otp::find_for(conn, created.id).unwrap()).is_none());
    }

    async fn an_inactive_demo_account_is_activated_and_the_live_one_is_not(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "twin@example.com", UserType::Demo, false);
        create_account(&app, "twin@example.com", UserType::Live, false);

        let code = app.send_and_read_code("twin@example.com", "demo").await;
        assert_eq!(app.verify_otp("twin@example.com", "demo", &code).await.status, 200);

        assert!(account(&app, "twin@example.com", UserType::Demo).is_active);
        assert!(!account(&app, "twin@example.com", UserType::Live).is_active);
    }

    async fn the_first_send_for_an_inactive_account_answers_like_a_new_address(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "quiet@example.com", UserType::Live, false);

        let for_account = app.send_otp("quiet@example.com", "live").await;
        let for_stranger = app.send_otp("stranger@example.com", "live").await;

        assert_eq!(for_account.status, 200);
        assert_eq!(for_account.body, for_stranger.body);
    }

    async fn activation_codes_have_the_same_attempt_limit(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "locked@example.com", UserType::Live, false);
        let code = app.send_and_read_code("locked@example.com", "live").await;

        for _ in 0..5 {
            app.verify_otp("locked@example.com", "live", &wrong_code(&code))
                .await
                .assert_error(400, "invalid_otp");
        }
        app.verify_otp("locked@example.com", "live", &code)
            .await
            .assert_error(429, "too_many_attempts");
        assert!(!account(&app, "locked@example.com", UserType::Live).is_active);
    }

    async fn an_activation_code_succeeds_once_under_concurrent_verifies(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "rush@example.com", UserType::Demo, false);
        let code = app.send_and_read_code("rush@example.com", "demo").await;

        let responses = join_all((0..20).map(|_| app.verify_otp("rush@example.com", "demo", &code))).await;

        let successes = responses.iter().filter(|r| r.status == 200).count();
        assert_eq!(successes, 1);
        assert!(responses.iter().all(|r| r.status == 200 || r.status == 400));
        assert!(account(&app, "rush@example.com", UserType::Demo).is_active);
    }
}
