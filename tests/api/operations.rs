//! What operators see: metrics that move with traffic, on a listener of their
//! own; request ids.

use crate::helpers::TestApp;
use crate::on_both_backends;

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

impl TestApp {
    pub async fn metrics(&self) -> String {
        let mut response = self
            .client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
    }
}

on_both_backends! {
    async fn metrics_count_otp_events_and_requests(backend) {
        let app = TestApp::spawn(backend).await;
        let before = app.metrics().await;
        assert_eq!(sample(&before, "signup_otp_events_total{event=\"SIGNUP_OTP_CREATED\""), 0.0);
        // The counters the lockout alert takes the increase of start at zero, so
        // that their first event is an increase.
        let recurring = "signup_otp_events_total{event=\"SIGNUP_OTP_LOCKOUTS_RECURRING\",user_type=\"demo\"} 0";
        assert!(before.contains(recurring), "{before}");
        assert!(before.contains("signup_otp_database_up 1"), "{before}");

        let code = app.send_and_read_code("counted@example.com", "live").await;
        app.verify_otp("counted@example.com", "live", "000000").await;
        app.verify_otp("counted@example.com", "live", &code).await;
        app.send_otp("counted@example.com", "live").await;
        app.wait_for_empty_outbox().await;

        let after = app.metrics().await;
        let created = "signup_otp_events_total{event=\"SIGNUP_OTP_CREATED\",user_type=\"live\",flow=\"signup\",via=\"send_otp\"}";
        assert_eq!(sample(&after, created), 1.0, "{after}");
        let verified = "signup_otp_events_total{event=\"SIGNUP_OTP_VERIFIED\",user_type=\"live\",flow=\"signup\",registered=\"false\"}";
        assert_eq!(sample(&after, verified), 1.0, "{after}");
        let failed = "signup_otp_events_total{event=\"SIGNUP_OTP_VERIFICATION_FAILED\",user_type=\"live\",reason=";
        assert!(sample(&after, &format!("{failed}\"wrong_code\"}}")) + sample(&after, &format!("{failed}\"not_found\"}}")) >= 1.0, "{after}");
        let throttled = "signup_otp_events_total{event=\"SIGNUP_OTP_THROTTLED\",user_type=\"live\",reason=\"cooldown\"}";
        assert_eq!(sample(&after, throttled), 1.0, "{after}");
        let sent = "signup_otp_events_total{event=\"OTP_EMAIL_SENT\",user_type=\"live\",kind=\"signup_code\"}";
        assert_eq!(sample(&after, sent), 1.0, "{after}");

        let requests = "http_requests_total{method=\"POST\",route=\"/api/v1/users/signup/send-otp\",status=\"200\"}";
        assert_eq!(sample(&after, requests), 1.0, "{after}");
        let throttled_requests = "http_requests_total{method=\"POST\",route=\"/api/v1/users/signup/send-otp\",status=\"429\"}";
        assert_eq!(sample(&after, throttled_requests), 1.0, "{after}");
        assert!(after.contains("http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/users/signup/verify-otp\",status=\"400\",le="), "{after}");
        assert!(sample(&after, "db_pool_max_connections") >= 1.0, "{after}");
        assert!(after.contains("db_pool_in_use_connections"), "{after}");
        assert!(after.contains("db_pool_checkout_wait_seconds_bucket"), "{after}");
        assert_eq!(sample(&after, "email_outbox_backlog"), 0.0);
    }

    async fn metrics_are_served_on_the_operations_listener_only(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_and_read_code("counted@example.com", "live").await;

        app.get("/metrics").await.assert_error(404, "not_found");
        let metrics = app.metrics().await;
        assert!(metrics.contains("SIGNUP_OTP_CREATED"), "{metrics}");
        let document = app.get("/openapi.json").await;
        assert_eq!(document.status, 200, "the contract stays public");
        assert!(document.body["paths"].get("/metrics").is_none(), "{}", document.body["paths"]);
        let mut docs = app.client.get(format!("{}/docs/", app.address)).send().await.unwrap();
        assert_eq!(docs.status(), 200, "the docs stay public");
        assert!(!docs.body().await.unwrap().is_empty());
        let mut other = app.client.get(format!("{}/health", app.metrics_address)).send().await.unwrap();
        assert_eq!(other.status(), 404, "the operations listener serves metrics only");
        assert!(!other.body().await.unwrap().is_empty());
    }

    async fn unknown_paths_are_counted_under_one_route_label(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/a", "/b/c", "/.env"] {
            app.get(path).await;
        }
        let metrics = app.metrics().await;
        assert_eq!(sample(&metrics, "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"), 3.0, "{metrics}");
        assert!(!metrics.contains(".env"));
    }

    async fn every_response_carries_a_request_id(backend) {
        let app = TestApp::spawn(backend).await;

        let made = app.get("/health").await;
        let id = made.header("x-request-id").unwrap().to_owned();
        assert_eq!(id.len(), 32);
        assert_ne!(app.get("/health").await.header("x-request-id"), Some(id.as_str()));

        let response = app
            .client
            .get(format!("{}/nothing", app.address))
            .insert_header(("x-request-id", "client-chosen-42"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers().get("x-request-id").unwrap(), "client-chosen-42");

        let response = app
            .client
            .get(format!("{}/health", app.address))
            .insert_header(("x-request-id", "no spaces please"))
            .send()
            .await
            .unwrap();
        assert_ne!(response.headers().get("x-request-id").unwrap(), "no spaces please");
    }
}

/// The quoted values of `label` in `text` (`event="X"` and `event=~"X|Y"`).
fn label_values(text: &str, label: &str) -> Vec<String> {
    let mut values = Vec::new();
    for marker in [
        format!("{label}=\\\""),
        format!("{label}=~\\\""),
        format!("{label}=\""),
        format!("{label}=~\""),
    ] {
        for piece in text.split(marker.as_str()).skip(1) {
            let quoted = piece.split(['"', '\\']).next().unwrap_or_default();
            values.extend(quoted.split('|').map(str::to_owned));
        }
    }
    values
}

#[test]
fn the_alerts_and_the_dashboard_use_only_documented_metrics_and_events() {
    let readme = include_str!("../../README.md");
    let documented_row = |name: &str| {
        readme.lines().any(|line| {
            line.starts_with("| ")
                && line
                    .split('|')
                    .nth(1)
                    .is_some_and(|cell| cell.contains(&format!("`{name}`")))
        })
    };
    for (file, text) in [
        (
            "alerts.yml",
            include_str!("../../deploy/prometheus/alerts.yml"),
        ),
        (
            "signup-otp.json",
            include_str!("../../deploy/grafana/signup-otp.json"),
        ),
    ] {
        let metrics: std::collections::BTreeSet<&str> = text
            .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .filter(|word| {
                ["signup_otp_", "http_", "db_pool_", "email_outbox_"]
                    .iter()
                    .any(|prefix| word.starts_with(prefix))
            })
            .map(|word| word.trim_end_matches("_bucket"))
            .collect();
        assert!(metrics.len() >= 4, "{file}: {metrics:?}");
        for metric in metrics {
            assert!(
                documented_row(metric),
                "{file} uses {metric}, which the README does not list"
            );
        }
        let events = label_values(text, "event");
        assert!(!events.is_empty(), "{file}");
        for event in events {
            assert!(
                documented_row(&event),
                "{file} uses the event {event}, which the README does not list"
            );
        }
    }
}
