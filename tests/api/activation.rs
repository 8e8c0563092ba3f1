//! The activation journey for existing, inactive accounts: a right code proves
//! the address, and the password is the one chosen by whoever proved it, never
//! the one the account held before.

use futures_util::future::join_all;
use serde_json::json;
use signup_otp::db::models::{Account, Otp};
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::{TestApp, without_ids, wrong_code};
use crate::on_both_backends;
use crate::register::{PASSWORD, password_of, verifies};
use crate::send_otp::{create_account, create_account_with_password};

fn account(app: &TestApp, email: &str, user_type: UserType) -> Account {
    let email = EmailAddress::parse(email).unwrap();
    app.with_conn(|conn| Account::find(conn, user_type, &email).unwrap().unwrap())
}

/// An argon2id hash of `password`, as an account from before holds it.
pub fn legacy_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

on_both_backends! {
    async fn an_inactive_account_is_activated_with_the_password_chosen_after_its_code(backend) {
        let app = TestApp::spawn(backend).await;
        let old = legacy_hash("old-password-from-before");
        let created = create_account_with_password(
            &app, "dormant@example.com", UserType::Live, false, Some(&old),
        );

        let code = app.send_and_read_code("dormant@example.com", "live").await;
        let message = &app.smtp.messages_to("dormant@example.com")[0];
        assert_eq!(message.subject(), Some("Your account activation code"));
        let verified = app.verify_otp("dormant@example.com", "live", &code).await;

        assert_eq!(verified.status, 200, "{}", verified.body);
        assert_eq!(verified.body["flow"], "activation");
        let token = verified.body["signup_token"].as_str().unwrap().to_owned();
        assert!(verified.body.get("account").is_none());
        assert!(
            !account(&app, "dormant@example.com", UserType::Live).is_active,
            "a code alone activates nothing: the account waits for a password"
        );
        assert!(app.with_conn(|conn| Otp::find_for(conn, created.id).unwrap()).is_none(), "the code is used up");

        let registered = app
            .register(json!({
                "email": "dormant@example.com", "user_type": "live", "password": PASSWORD,
                "full_name": "Dora Mant", "signup_token": token
            }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        assert_eq!(registered.body["id"], created.numeric_id());
        assert_eq!(registered.body["is_active"], true);
        assert_eq!(registered.body["full_name"], "Dora Mant");
        assert!(account(&app, "dormant@example.com", UserType::Live).is_active);
        let stored = password_of(&app, "dormant@example.com", UserType::Live);
        assert!(verifies(&stored, PASSWORD));
        assert!(!verifies(&stored, "old-password-from-before"), "the unproven password is gone");
    }

    async fn an_inactive_demo_account_is_activated_and_the_live_one_is_not(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "twin@example.com", UserType::Demo, false);
        create_account(&app, "twin@example.com", UserType::Live, false);

        let code = app.send_and_read_code("twin@example.com", "demo").await;
        let verified = app.verify_otp("twin@example.com", "demo", &code).await;
        let token = verified.body["signup_token"].as_str().unwrap();
        let registered = app
            .register(json!({ "email": "twin@example.com", "user_type": "demo", "password": PASSWORD, "signup_token": token }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);

        assert!(account(&app, "twin@example.com", UserType::Demo).is_active);
        assert!(!account(&app, "twin@example.com", UserType::Live).is_active);
    }

    async fn the_first_send_for_an_inactive_account_answers_like_a_new_address(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "quiet@example.com", UserType::Live, false);

        let for_account = app.send_otp("quiet@example.com", "live").await;
        let for_stranger = app.send_otp("stranger@example.com", "live").await;

        assert_eq!(for_account.status, 200);
        assert_eq!(without_ids(&for_account.body), without_ids(&for_stranger.body));
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

        let successes: Vec<_> = responses.iter().filter(|r| r.status == 200).collect();
        assert_eq!(successes.len(), 1);
        assert!(successes[0].body["signup_token"].is_string());
        assert!(responses.iter().all(|r| r.status == 200 || r.status == 400));
    }
}

/// A register with a token and a verify that finishes a registration for the
/// same inactive account take the identity's code row before the account, in
/// that order both, so they take turns instead of deadlocking (PostgreSQL). A
/// test transaction holds the account's code row as such a verify would: the
/// register waits on it before it touches the account.
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_register_takes_the_code_row_before_the_account() {
    use diesel::prelude::*;
    use signup_otp::db::models::AccountId;

    let app = TestApp::spawn(crate::helpers::Backend::Postgres).await;
    let created = create_account(&app, "turns@example.com", UserType::Live, false);
    let AccountId::Live(id) = created.id else {
        unreachable!("a live account")
    };
    let code = app.send_and_read_code("turns@example.com", "live").await;
    let verified = app.verify_otp("turns@example.com", "live", &code).await;
    let token = verified.body["signup_token"].as_str().unwrap().to_owned();
    // A new code for the account, as a register without a token would make.
    app.advance(std::time::Duration::from_secs(61));
    assert_eq!(app.send_otp("turns@example.com", "live").await.status, 200);

    let mut held = app.conn();
    diesel::sql_query("BEGIN").execute(&mut **held).unwrap();
    diesel::sql_query("SELECT id FROM otps WHERE user_id = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Integer, _>(id)
        .execute(&mut **held)
        .unwrap();

    let register = app.register(json!({
        "email": "turns@example.com", "user_type": "live", "password": PASSWORD,
        "signup_token": token
    }));
    let meanwhile = async {
        crate::helpers::until_a_request_waits_on_a_lock(&app, "the register").await;
        let account_free = app.with_conn(|conn| {
            diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE NOWAIT")
                .bind::<diesel::sql_types::Integer, _>(id)
                .execute(conn)
                .is_ok()
        });
        diesel::sql_query("COMMIT").execute(&mut **held).unwrap();
        account_free
    };
    let (registered, account_free) = futures_util::join!(register, meanwhile);

    assert!(
        account_free,
        "the waiting register holds no lock on the account"
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert!(account(&app, "turns@example.com", UserType::Live).is_active);
}
