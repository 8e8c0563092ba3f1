//! The headers every answer carries: a content security policy that forbids
//! framing, no MIME sniffing, no referrer; and no caching of API answers, which
//! carry signup tokens and registration ids. HSTS belongs to the TLS proxy.
//! (`openapi::the_docs_page_renders_in_a_browser` shows Swagger UI works under
//! its policy.)

use serde_json::json;

use crate::helpers::{TestApp, TestResponse};
use crate::on_both_backends;

fn assert_hardened(response: &TestResponse, what: &str) {
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        response.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    let policy = response
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
    assert!(policy.contains("default-src 'none'"), "{what}: {policy}");
}

async fn raw_get(app: &TestApp, path: &str) -> TestResponse {
    let mut response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let _ = response.body().limit(10 << 20).await.unwrap();
    TestResponse {
        method: "GET".to_owned(),
        path: path.to_owned(),
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::Value::Null,
    }
}

on_both_backends! {
    async fn the_docs_the_api_and_the_page_send_security_headers(backend) {
        let app = TestApp::spawn_with(backend, |config| config.try_page = true).await;

        for path in ["/docs/", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
            let response = raw_get(&app, path).await;
            assert_hardened(&response, path);
            let policy = response.header("content-security-policy").unwrap();
            assert!(policy.contains("script-src 'self'"), "{policy}");
            assert!(!policy.contains("unsafe-eval"), "{policy}");
        }
        let page = raw_get(&app, "/try").await;
        assert_hardened(&page, "/try");

        let sent = app
            .post_json("/api/v1/users/signup/send-otp", &json!({"email": "h@example.com", "user_type": "live"}))
            .await;
        assert_hardened(&sent, "send-otp");
        assert_eq!(sent.header("cache-control"), Some("no-store"));
        let refused = app.verify_otp("h@example.com", "live", "000000").await;
        assert_hardened(&refused, "an error");
        assert_eq!(refused.header("cache-control"), Some("no-store"));
        assert_hardened(&app.get("/openapi.json").await, "/openapi.json");
        assert!(app.get("/health").await.header("strict-transport-security").is_none(), "HSTS is the TLS proxy's");
    }
}
