//! The OpenAPI contract: complete, valid, served, and its docs page renders.

use std::collections::BTreeSet;

use serde_json::Value;
use signup_otp::http::{DOCS_PATH, endpoints};

use crate::helpers::{Backend, TestApp};

/// (METHOD, path) of every operation in the document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    found.push(inner.as_str().unwrap().to_owned());
                } else {
                    references(inner, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_describes_exactly_the_routes_the_app_serves() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = app.get("/openapi.json").await.body;

    let served: BTreeSet<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .collect();
    assert_eq!(documented(&document), served);

    for (method, path) in &served {
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .insert_header(("content-type", "application/json"))
            .send_body("{}")
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} is documented but answered {status}"
        );
    }
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_with_every_reference_resolved() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = app.get("/openapi.json").await.body;

    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "signup-otp");
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{reference}"
        );
    }
    for (_, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty());
            if method == "post" {
                for status in ["200", "201", "400", "413", "415", "422", "429", "503"] {
                    if status == "200" || status == "201" {
                        continue;
                    }
                    let error = &responses[status];
                    assert_eq!(
                        error["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {status}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn the_served_document_is_the_one_the_cli_prints() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served = app.get("/openapi.json").await.body;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(served, printed);
}

#[actix_web::test]
async fn the_docs_page_and_its_assets_come_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let no_redirects = awc::Client::builder().disable_redirects().finish();
    let redirect = no_redirects
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status().as_u16(), 308);
    assert_eq!(redirect.headers().get("location").unwrap(), DOCS_PATH);

    for asset in [
        "",
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let mut response = app
            .client
            .get(format!("{}{DOCS_PATH}{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let body = response.body().limit(10 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        if asset.is_empty() || asset == "swagger-initializer.js" {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{asset} loads nothing remote"
            );
        }
    }
}

/// The docs page, rendered by headless Chromium under its content security
/// policy, shows the endpoints. Needs Debian's `chromium` (CI installs it).
#[actix_web::test]
#[cfg_attr(not(browser_tests), ignore = "needs Debian's chromium")]
async fn the_docs_page_renders_in_a_browser() {
    let chromium = crate::helpers::browser::chromium();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let profile = tempfile::tempdir().unwrap();
    let url = format!("{}{DOCS_PATH}", app.address);
    let dom = actix_web::web::block(move || {
        std::process::Command::new(chromium)
            .args(crate::helpers::browser::HEADLESS_FLAGS)
            .args(["--virtual-time-budget=10000", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for path in [
        "/api/v1/users/signup/send-otp",
        "/api/v1/users/signup/verify-otp",
    ] {
        assert!(
            dom.contains(path),
            "the rendered page shows {path}:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
}
