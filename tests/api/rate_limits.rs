//! Per-client-IP quotas.

use serde_json::json;
use signup_otp::config::Config;
use signup_otp::http::rate_limit::RateLimits;

use crate::helpers::{Backend, TestApp, TestResponse};

/// The quotas as configured by default (on), then `tweak`ed.
fn limits(config: &mut Config, tweak: impl FnOnce(&mut RateLimits)) {
    config.rate_limits = Config::from_lookup(|_| None).unwrap().rate_limits;
    tweak(&mut config.rate_limits);
}

impl TestApp {
    async fn send_otp_from(&self, email: &str, forwarded_for: Option<&str>) -> TestResponse {
        let mut request = self
            .client
            .post(format!("{}/api/v1/users/signup/send-otp", self.address));
        if let Some(hop) = forwarded_for {
            request = request.insert_header(("x-forwarded-for", hop));
        }
        let mut response = request
            .send_json(&json!({ "email": email, "user_type": "live" }))
            .await
            .unwrap();
        TestResponse {
            method: "POST".to_owned(),
            path: "/api/v1/users/signup/send-otp".to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.json().await.unwrap(),
        }
    }
}

#[actix_web::test]
async fn send_otp_allows_three_a_minute_per_address_then_429() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| limits(c, |_| {})).await;
    for i in 0..3 {
        assert_eq!(
            app.send_otp(&format!("ip{i}@example.com"), "live")
                .await
                .status,
            200
        );
    }

    let refused = app.send_otp("ip3@example.com", "live").await;

    refused.assert_error(429, "rate_limited");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.get("/health").await.status,
        200,
        "other routes are not limited"
    );
    app.verify_otp("ip0@example.com", "live", "000000")
        .await
        .assert_error(400, "invalid_otp");
}

#[actix_web::test]
async fn verify_otp_has_its_own_quota() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        limits(c, |l| l.verify_per_5_minutes = 4)
    })
    .await;
    for _ in 0..4 {
        app.verify_otp("v@example.com", "live", "000000")
            .await
            .assert_error(400, "invalid_otp");
    }
    app.verify_otp("v@example.com", "live", "000000")
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(app.send_otp("v@example.com", "live").await.status, 200);
}

#[actix_web::test]
async fn register_has_its_own_quota() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        limits(c, |l| l.register_per_minute = 1)
    })
    .await;
    let body = |email: &str| json!({ "email": email, "user_type": "live", "password": "long enough password" });
    assert_eq!(
        app.post_json("/api/v1/users/register", &body("r1@example.com"))
            .await
            .status,
        202
    );
    app.post_json("/api/v1/users/register", &body("r2@example.com"))
        .await
        .assert_error(429, "rate_limited");
}

#[actix_web::test]
async fn a_zero_quota_turns_that_quota_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| limits(c, |l| l.send_per_minute = 0)).await;
    for i in 0..6 {
        assert_eq!(
            app.send_otp(&format!("free{i}@example.com"), "live")
                .await
                .status,
            200
        );
    }
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        limits(c, |l| {
            l.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
        })
    })
    .await;
    for i in 0..3 {
        let response = app
            .send_otp_from(&format!("a{i}@example.com"), Some("203.0.113.1"))
            .await;
        assert_eq!(response.status, 200);
    }
    let refused = app
        .send_otp_from("a3@example.com", Some("203.0.113.1"))
        .await;
    assert_eq!(refused.status, 429);

    let other_client = app
        .send_otp_from("b0@example.com", Some("198.51.100.1, 203.0.113.2"))
        .await;
    assert_eq!(
        other_client.status, 200,
        "the rightmost untrusted hop is the client"
    );
}

#[actix_web::test]
async fn an_untrusted_peer_cannot_dodge_its_quota_with_x_forwarded_for() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| limits(c, |_| {})).await;
    for i in 0..3 {
        let response = app
            .send_otp_from(
                &format!("c{i}@example.com"),
                Some(&format!("203.0.113.{i}")),
            )
            .await;
        assert_eq!(response.status, 200);
    }
    let refused = app
        .send_otp_from("c9@example.com", Some("203.0.113.99"))
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["code"], "rate_limited");
}
