//! `GET /try`: the signup page, served from the binary, and the whole journey in
//! headless Chromium: email → code from the SMTP listener → password → account.

use std::path::PathBuf;

use diesel::prelude::*;
use signup_otp::db::schema;

use crate::helpers::{Backend, TestApp, browser::Browser, wrong_code};

/// The page, on a service that takes a verify only with the id of its send: the
/// page carries it.
async fn app_with_page() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |config| {
        config.try_page = true;
        config.otp.require_verification_id = true;
    })
    .await
}

/// Where the screenshots go: `TRY_SCREENSHOTS` (the README's images are made with
/// `TRY_SCREENSHOTS=docs/screenshots`), else a folder under `target/`.
fn screenshot(name: &str) -> PathBuf {
    let dir = std::env::var_os("TRY_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("try-page"));
    dir.join(format!("try-{name}.png"))
}

#[actix_web::test]
async fn the_page_and_its_assets_come_from_the_binary_with_a_strict_policy() {
    let app = app_with_page().await;
    for (path, content_type) in [
        ("/try", "text/html; charset=utf-8"),
        ("/try/try.js", "text/javascript; charset=utf-8"),
        ("/try/try.css", "text/css; charset=utf-8"),
    ] {
        let mut response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-type").as_deref(), Some(content_type));
        let policy = header("content-security-policy").unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
        let body = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} fetches nothing remote"
        );
    }
}

#[actix_web::test]
async fn the_page_is_off_unless_enabled() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.get("/try").await.assert_error(404, "not_found");
}

#[actix_web::test]
#[cfg_attr(not(browser_tests), ignore = "needs Debian's chromium")]
async fn a_visitor_signs_up_in_a_real_browser() {
    let browser = Browser::launch();
    let app = app_with_page().await;
    let mut page = browser.open(&format!("{}/try", app.address)).await;
    let email = "browser@example.com";

    page.wait_for("document.readyState === 'complete' && document.getElementById('email')")
        .await;
    page.screenshot(&screenshot("1-email")).await;
    page.type_into("#email", email).await;
    page.click("input[value=demo]").await;
    page.click("#send").await;

    // The code step: focus on the code field, the resend button counting down.
    page.wait_for("!document.getElementById('code-form').hidden")
        .await;
    page.wait_for("document.activeElement.id === 'code'").await;
    let resend = page
        .eval("[document.getElementById('resend').disabled, document.getElementById('resend').textContent]")
        .await;
    assert_eq!(resend[0], true, "resend waits: {resend}");
    assert!(
        resend[1].as_str().unwrap().starts_with("Resend code in "),
        "a countdown is shown: {resend}"
    );
    let code_field = page
        .eval("[document.getElementById('code').inputMode, document.getElementById('code').autocomplete]")
        .await;
    assert_eq!(code_field, serde_json::json!(["numeric", "one-time-code"]));
    let code = app.code_in_message(email, 1).await;

    // A wrong code: the service's detail, announced, and focus back on the field.
    page.type_into("#code", &wrong_code(&code)).await;
    page.click("#verify").await;
    page.wait_for("!document.getElementById('error').hidden")
        .await;
    let error = page
        .eval("[document.getElementById('error').textContent, document.getElementById('error').getAttribute('role'), document.getElementById('code').getAttribute('aria-invalid'), document.activeElement.id]")
        .await;
    assert_eq!(
        error,
        serde_json::json!(["Invalid OTP", "alert", "true", "code"])
    );
    page.screenshot(&screenshot("2-wrong-code")).await;

    // The right code, then a password.
    page.type_into("#code", &code).await;
    page.click("#verify").await;
    page.wait_for("!document.getElementById('register-form').hidden && document.activeElement.id === 'password'").await;
    page.type_into("#password", "correct horse battery staple")
        .await;
    page.type_into("#full-name", "Brow Ser").await;
    page.click("#register").await;

    page.wait_for("!document.getElementById('done').hidden")
        .await;
    let done = page
        .eval("[document.getElementById('done-title').textContent, document.activeElement.id]")
        .await;
    assert_eq!(
        done,
        serde_json::json!(["Your account is ready", "done-title"])
    );
    page.screenshot(&screenshot("3-done")).await;

    // What the browser did is what the service recorded: an active demo account,
    // and every call carried an Idempotency-Key.
    let accounts: i64 =
        app.with_conn(|conn| schema::users::table.count().get_result(conn).unwrap());
    assert_eq!(accounts, 0, "a demo account, not a live one");
    let demo: Vec<(String, bool, Option<String>)> = app.with_conn(|conn| {
        schema::demo_users::table
            .select((
                schema::demo_users::email,
                schema::demo_users::is_active,
                schema::demo_users::full_name,
            ))
            .load(conn)
            .unwrap()
    });
    assert_eq!(
        demo,
        [(email.to_owned(), true, Some("Brow Ser".to_owned()))]
    );
    let routes: Vec<String> = app.with_conn(|conn| {
        schema::idempotency_keys::table
            .select(schema::idempotency_keys::route)
            .order(schema::idempotency_keys::created_at)
            .load(conn)
            .unwrap()
    });
    assert_eq!(routes, ["send-otp", "verify-otp", "verify-otp", "register"]);
}

/// An account that existed before, inactive, with a password nobody proved: the
/// page asks for a password after the code, and that one is the account's now.
#[actix_web::test]
#[cfg_attr(not(browser_tests), ignore = "needs Debian's chromium")]
async fn an_inactive_account_gets_the_password_typed_after_its_code() {
    let browser = Browser::launch();
    let app = app_with_page().await;
    let old = crate::activation::legacy_hash("set-by-somebody-else");
    crate::send_otp::create_account_with_password(
        &app,
        "dormant@example.com",
        signup_otp::domain::UserType::Live,
        false,
        Some(&old),
    );
    let mut page = browser.open(&format!("{}/try", app.address)).await;
    page.wait_for("document.readyState === 'complete' && document.getElementById('email')")
        .await;
    page.type_into("#email", "dormant@example.com").await;
    page.click("#send").await;
    page.wait_for("document.activeElement.id === 'code'").await;
    let code = app.code_in_message("dormant@example.com", 1).await;

    page.type_into("#code", &code).await;
    page.click("#verify").await;
    page.wait_for("!document.getElementById('register-form').hidden && document.activeElement.id === 'password'").await;
    page.type_into("#password", "chosen by the owner").await;
    page.click("#register").await;
    page.wait_for("!document.getElementById('done').hidden")
        .await;

    let stored = crate::register::password_of(
        &app,
        "dormant@example.com",
        signup_otp::domain::UserType::Live,
    );
    assert!(crate::register::verifies(&stored, "chosen by the owner"));
    assert!(!crate::register::verifies(&stored, "set-by-somebody-else"));
}
