//! Logging: a human format (the default) or one JSON object per line
//! (`LOG_FORMAT=json`), and the request id that ties a request's lines together.

use std::io::Write;
use std::str::FromStr;

use chrono::{SecondsFormat, Utc};
use log::kv::{Key, Value, VisitSource};

tokio::task_local! {
    /// The id of the request being handled, for the log lines written on its behalf.
    pub static REQUEST_ID: String;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not one of text, json")),
        }
    }
}

/// Installs the process's logger; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let line = json_line(record);
            writeln!(buf, "{line}")
        });
    }
    // A second call (tests) keeps the first logger.
    let _ = builder.try_init();
}

/// `{"timestamp", "level", "target", "message", "request_id"?, ...key-values}`:
/// events add `event`, `user_type` and the masked `email`.
pub fn json_line(record: &log::Record<'_>) -> String {
    let mut object = serde_json::Map::new();
    object.insert(
        "timestamp".into(),
        Utc::now()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
            .into(),
    );
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert("message".into(), record.args().to_string().into());
    if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
        object.insert("request_id".into(), id.into());
    }
    struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);
    impl<'kvs> VisitSource<'kvs> for Fields<'_> {
        fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
            let text = value.to_string();
            if !text.is_empty() {
                self.0.insert(key.as_str().to_owned(), text.into());
            }
            Ok(())
        }
    }
    let _ = record.key_values().visit(&mut Fields(&mut object));
    serde_json::Value::Object(object).to_string()
}

/// `error: cause: cause`, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_carries_the_event_fields_and_the_request_id() {
        let line = REQUEST_ID.sync_scope("req-42".to_owned(), || {
            json_line(
                &log::Record::builder()
                    .level(log::Level::Info)
                    .target("signup_otp::events")
                    .args(format_args!(
                        "SIGNUP_OTP_CREATED user_type=live email=a***@example.com"
                    ))
                    .key_values(&[
                        ("event", "SIGNUP_OTP_CREATED"),
                        ("email", "a***@example.com"),
                    ])
                    .build(),
            )
        });
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "INFO");
        assert_eq!(parsed["event"], "SIGNUP_OTP_CREATED");
        assert_eq!(parsed["email"], "a***@example.com");
        assert_eq!(parsed["request_id"], "req-42");
        assert!(parsed["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn an_error_chain_names_every_cause_in_order() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
    }
}
