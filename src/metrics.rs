//! Prometheus metrics. Each running service owns its registry (no global
//! recorder), so several services in one process — the tests — count apart.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `signup_otp_events_total` | counter | `event`, `user_type`, and the event's own (`reason`, `flow`, `kind`) |
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `db_pool_connections`, `db_pool_idle_connections`, `db_pool_in_use_connections`, `db_pool_max_connections` | gauge | |
//! | `db_pool_checkout_wait_seconds` | histogram | |
//! | `db_pool_checkout_timeouts_total` | counter | |
//! | `signup_otp_cleaned_up_total` | counter | `table` |
//! | `email_outbox_backlog`, `email_outbox_oldest_age_seconds` | gauge | (read at each scrape) |
//! | `signup_otp_database_up` | gauge | 1 when the scrape's readiness check reached the database, else 0 |

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Seconds: fast enough to see sub-millisecond requests, wide enough for timeouts.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// A registry and the ways the service records into it. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        Self {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    pub fn increment(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: u64) {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
            .increment(by);
    }

    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: Duration) {
        self.recorder
            .register_histogram(&key(name, labels), &METADATA)
            .record(value.as_secs_f64());
    }

    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder
            .register_gauge(&key(name, labels), &METADATA)
            .set(value);
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds the histogram samples recorded since the last call into their
    /// buckets. Without it (or a scrape) the samples pile up in memory.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Runs [`Metrics::run_upkeep`] every `every`, for as long as the service runs.
    pub async fn keep_up(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            self.run_upkeep();
        }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect::<Vec<_>>(),
    )
}

/// Counts pool checkouts: how long each waited, and those that timed out.
#[derive(Clone)]
pub struct PoolEvents(pub Metrics);

impl std::fmt::Debug for PoolEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolEvents")
    }
}

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.0
            .observe("db_pool_checkout_wait_seconds", &[], event.duration());
    }

    fn handle_timeout(&self, _event: r2d2::event::TimeoutEvent) {
        self.0.increment("db_pool_checkout_timeouts_total", &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text() {
        let metrics = Metrics::new();
        metrics.increment(
            "signup_otp_events_total",
            &[("event", "SIGNUP_OTP_CREATED")],
        );
        metrics.increment(
            "signup_otp_events_total",
            &[("event", "SIGNUP_OTP_CREATED")],
        );
        metrics.observe(
            "http_request_duration_seconds",
            &[("route", "/health")],
            Duration::from_millis(3),
        );
        let text = metrics.render();
        assert!(
            text.contains("signup_otp_events_total{event=\"SIGNUP_OTP_CREATED\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn upkeep_keeps_what_was_recorded() {
        let metrics = Metrics::new();
        for _ in 0..1000 {
            metrics.observe("x_seconds", &[], Duration::from_millis(1));
        }
        metrics.run_upkeep();
        assert!(metrics.render().contains("x_seconds_count 1000"));
    }

    #[test]
    fn two_registries_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.increment("x_total", &[]);
        assert!(a.render().contains("x_total 1"));
        assert!(!b.render().contains("x_total"));
    }
}
