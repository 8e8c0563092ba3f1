//! CORS: browser apps on the listed origins may call the API; others get no
//! CORS headers, so the browser keeps the answer from their scripts.

use serde_json::json;

use crate::helpers::{Backend, TestApp};

const SEND: &str = "/api/v1/users/signup/send-otp";
const ALLOWED: &str = "https://app.example.com";
const REFUSED: &str = "https://evil.example.net";

async fn app_for(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    TestApp::spawn_with(Backend::Sqlite, move |config| {
        config.cors_allowed_origins = origins;
    })
    .await
}

fn lower_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

async fn preflight(app: &TestApp, origin: &str) -> crate::helpers::TestResponse {
    app.request_with(
        "OPTIONS",
        SEND,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type, idempotency-key, x-request-id",
            ),
        ],
        Vec::new(),
    )
    .await
}

#[actix_web::test]
async fn an_allowed_origin_passes_preflight_for_the_headers_clients_send() {
    let app = app_for(&[ALLOWED]).await;

    let response = preflight(&app, ALLOWED).await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    let methods = lower_list(response.header("access-control-allow-methods"));
    assert!(methods.contains(&"post".to_owned()), "{methods:?}");
    let headers = lower_list(response.header("access-control-allow-headers"));
    for header in ["content-type", "idempotency-key", "x-request-id"] {
        assert!(
            headers.contains(&header.to_owned()),
            "{header} in {headers:?}"
        );
    }
    assert!(response.header("access-control-max-age").is_some());
}

#[actix_web::test]
async fn an_allowed_origin_reads_the_answer_and_its_exposed_headers() {
    let app = app_for(&[ALLOWED]).await;

    let response = app
        .post_json_with(
            SEND,
            &json!({"email": "ada@example.com", "user_type": "live"}),
            &[("origin", ALLOWED)],
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    let exposed = lower_list(response.header("access-control-expose-headers"));
    for header in ["retry-after", "x-request-id", "idempotent-replayed"] {
        assert!(
            exposed.contains(&header.to_owned()),
            "{header} in {exposed:?}"
        );
    }
    assert!(lower_list(response.header("vary")).contains(&"origin".to_owned()));
}

#[actix_web::test]
async fn another_origin_gets_no_cors_headers() {
    let app = app_for(&[ALLOWED]).await;

    let refused = preflight(&app, REFUSED).await;
    refused.assert_error(403, "cors_origin_not_allowed");
    assert_eq!(refused.header("access-control-allow-origin"), None);

    // Without a preflight (a "simple" request), the request is served as for any
    // non-browser client, but the browser hides the answer from the script.
    let response = app
        .post_json_with(
            SEND,
            &json!({"email": "ada@example.com", "user_type": "live"}),
            &[("origin", REFUSED)],
        )
        .await;
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.header("access-control-expose-headers"), None);
}

#[actix_web::test]
async fn without_a_list_no_origin_gets_cors_headers() {
    let app = app_for(&[]).await;

    let response = preflight(&app, ALLOWED).await;

    assert_eq!(response.header("access-control-allow-origin"), None);
    response.assert_error(405, "method_not_allowed");
}
