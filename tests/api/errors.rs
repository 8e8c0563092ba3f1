//! Bad input gets a JSON error with the right status and a stable code, and the
//! service answers the next request as usual.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, TcpProxy, TestApp, eventually, postgres_url};
use crate::on_both_backends;

const SEND: &str = "/api/v1/users/signup/send-otp";
const VERIFY: &str = "/api/v1/users/signup/verify-otp";

on_both_backends! {
    async fn a_field_that_is_wrong_is_named_as_the_client_sends_it(backend) {
        let app = TestApp::spawn(backend).await;
        let wrong = app.send_otp("ada@example.com", "paper").await;
        wrong.assert_error(422, "invalid_user_type");
        assert_eq!(wrong.body["detail"], "user_type must be \"live\" or \"demo\"");
        let wrong = app.send_otp("not-an-address", "live").await;
        assert_eq!(wrong.body["detail"], "email is not a valid address");
    }

    async fn malformed_json_is_a_400(backend) {
        let app = TestApp::spawn(backend).await;
        for body in [&b"{\"email\": "[..], b"not json", b"{\"email\": \"a@example.com\",}", b"\xff\xfe{}"] {
            app.request("POST", SEND, Some("application/json"), body.to_vec())
                .await
                .assert_error(400, "invalid_json");
        }
        assert_eq!(app.send_otp("after@example.com", "live").await.status, 200);
    }

    async fn a_body_that_is_not_json_is_a_415(backend) {
        let app = TestApp::spawn(backend).await;
        let body = br#"{"email": "a@example.com", "user_type": "live"}"#.to_vec();
        app.request("POST", SEND, Some("text/plain"), body.clone())
            .await
            .assert_error(415, "unsupported_media_type");
        app.request("POST", VERIFY, None, body)
            .await
            .assert_error(415, "unsupported_media_type");
    }

    async fn a_body_over_16_kib_is_a_413(backend) {
        let app = TestApp::spawn(backend).await;
        let padding = "x".repeat(17 * 1024);
        let body = json!({ "email": "a@example.com", "user_type": "live", "padding": padding });
        app.post_json(SEND, &body).await.assert_error(413, "payload_too_large");
        assert_eq!(app.send_otp("after@example.com", "live").await.status, 200);
    }

    async fn a_body_of_the_wrong_shape_is_a_422(backend) {
        let app = TestApp::spawn(backend).await;
        for body in [
            json!({ "email": "a@example.com" }),
            json!({ "user_type": "live" }),
            json!({ "email": 42, "user_type": "live" }),
            json!({ "email": "a@example.com", "user_type": "live", "admin": true }),
            json!(["a@example.com", "live"]),
            json!(null),
        ] {
            app.post_json(SEND, &body).await.assert_error(422, "invalid_request");
        }
        app.post_json(VERIFY, &json!({ "email": "a@example.com", "user_type": "live", "otp_code": 123456 }))
            .await
            .assert_error(422, "invalid_request");
    }

    async fn a_malformed_email_is_a_422(backend) {
        let app = TestApp::spawn(backend).await;
        let long = format!("{}@example.com", "a".repeat(300));
        for email in ["", "plainaddress", "a@b", "two@@example.com", long.as_str(), "jörg@example.com", "nul\u{0}@example.com"] {
            app.send_otp(email, "live").await.assert_error(422, "invalid_email");
            app.verify_otp(email, "live", "123456").await.assert_error(422, "invalid_email");
        }
    }

    async fn an_unknown_user_type_is_a_422(backend) {
        let app = TestApp::spawn(backend).await;
        for user_type in ["", "LIVE", "admin", "paper"] {
            app.send_otp("a@example.com", user_type)
                .await
                .assert_error(422, "invalid_user_type");
        }
    }

    async fn unknown_paths_and_methods_get_json_errors(backend) {
        let app = TestApp::spawn(backend).await;
        app.get("/api/v1/users/signup/nothing-here").await.assert_error(404, "not_found");
        let wrong_method = app.get(SEND).await;
        wrong_method.assert_error(405, "method_not_allowed");
        assert_eq!(wrong_method.header("allow"), Some("POST"));
        app.request("DELETE", VERIFY, None, Vec::new())
            .await
            .assert_error(405, "method_not_allowed");
    }
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_database_outage_is_a_503_and_the_service_recovers_by_itself() {
    let (app, proxy) = app_behind_a_proxy(Duration::from_secs(1)).await;
    let acknowledged = app.send_and_read_code("before@example.com", "live").await;

    proxy.cut();
    app.send_otp("during@example.com", "live")
        .await
        .assert_error(503, "database_unavailable");
    app.verify_otp("before@example.com", "live", "123456")
        .await
        .assert_error(503, "database_unavailable");
    app.get("/health/ready")
        .await
        .assert_error(503, "database_unavailable");
    assert_eq!(app.get("/health").await.status, 200);

    proxy.restore();
    // The pool reconnects on its own (after its back-off, which a loaded
    // machine stretches): no restart, no operator.
    eventually("the service is ready again", || async {
        (app.get("/health/ready").await.status == 200).then_some(())
    })
    .await;
    assert_eq!(
        app.verify_otp("before@example.com", "live", &acknowledged)
            .await
            .status,
        200,
        "a code acknowledged before the outage still works"
    );
    let code = app.send_and_read_code("during@example.com", "live").await;
    assert_eq!(
        app.verify_otp("during@example.com", "live", &code)
            .await
            .status,
        200
    );
}

/// The test database, reached through a proxy the test controls.
async fn app_behind_a_proxy(pool_timeout: Duration) -> (TestApp, TcpProxy) {
    let admin_url = postgres_url().expect("TEST_DATABASE_URL");
    let target = url::Url::parse(&admin_url).unwrap();
    let proxy = TcpProxy::start(format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port().unwrap_or(5432)
    ))
    .await;
    let proxied = proxy.port;
    let app = TestApp::spawn_with(Backend::Postgres, |config| {
        let signup_otp::db::DatabaseUrl::Postgres(raw) = &config.database else {
            unreachable!("a PostgreSQL test database")
        };
        let mut url = url::Url::parse(raw).unwrap();
        url.set_port(Some(proxied)).unwrap();
        config.database = signup_otp::db::DatabaseUrl::parse(url.as_str()).unwrap();
        config.db_pool_timeout = pool_timeout;
    })
    .await;
    (app, proxy)
}

/// A network that silently drops packets: connections stay open and nothing
/// comes back. Every request is answered (the client would fail after 30 s),
/// and answered 503, not left hanging; the service then recovers by itself.
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_database_that_stops_answering_without_closing_is_a_503() {
    let (app, proxy) = app_behind_a_proxy(Duration::from_secs(1)).await;
    let acknowledged = app.send_and_read_code("before@example.com", "live").await;

    proxy.stall();
    for _ in 0..3 {
        app.send_otp("during@example.com", "live")
            .await
            .assert_error(503, "database_unavailable");
        app.verify_otp("before@example.com", "live", "123456")
            .await
            .assert_error(503, "database_unavailable");
    }
    app.get("/health/ready")
        .await
        .assert_error(503, "database_unavailable");
    assert_eq!(app.get("/health").await.status, 200);

    proxy.resume();
    // Requests that were stuck on the stalled connections finish now; the pool
    // hands out working connections again.
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(
        app.verify_otp("before@example.com", "live", &acknowledged)
            .await
            .status,
        200,
        "a code acknowledged before the stall still works"
    );
    let code = app.send_and_read_code("after@example.com", "live").await;
    assert_eq!(
        app.verify_otp("after@example.com", "live", &code)
            .await
            .status,
        200
    );
}

/// Another process holds SQLite's write lock (a backup, a migration tool). Six
/// writers arrive: each gives up at the pool timeout with a 503 instead of
/// queueing behind the others' waits, and the service writes again once the
/// lock is released.
#[actix_web::test]
async fn sqlite_writers_behind_a_held_lock_give_up_with_a_503() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.db_pool_timeout = Duration::from_secs(1);
    })
    .await;
    let signup_otp::db::DatabaseUrl::Sqlite(path) = &app.db.url else {
        unreachable!("a SQLite test database")
    };
    let mut other = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();

    let writers: Vec<String> = (0..6).map(|i| format!("writer{i}@example.com")).collect();
    let answers =
        futures_util::future::join_all(writers.iter().map(|email| app.send_otp(email, "live")))
            .await;

    for answer in &answers {
        answer.assert_error(503, "database_unavailable");
    }
    other.batch_execute("ROLLBACK").unwrap();
    let code = app.send_and_read_code("after@example.com", "live").await;
    assert_eq!(
        app.verify_otp("after@example.com", "live", &code)
            .await
            .status,
        200
    );
}
