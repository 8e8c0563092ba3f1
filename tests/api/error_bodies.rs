//! Every error body a client can be sent, as a snapshot: a change to what users
//! read shows up in review as a diff of `tests/api/snapshots/`. The few answers
//! that need an outage, a full queue or a race to stage are snapshotted where
//! they are made (`src/http/snapshots/`); between the two, every code is.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use signup_otp::http::ErrorCode;

use crate::helpers::{Backend, TestApp, TestResponse, wrong_code};

const SEND: &str = "/api/v1/users/signup/send-otp";
const VERIFY: &str = "/api/v1/users/signup/verify-otp";
const REGISTER: &str = "/api/v1/users/register";
const PASSWORD: &str = "Tr0ub4dor&3-horse-staple";

/// The answers, in order, each under what was asked.
#[derive(Default)]
struct Seen(Vec<(String, TestResponse)>);

impl Seen {
    fn add(&mut self, what: &str, response: TestResponse) {
        assert!(
            response.status >= 400,
            "{what}: expected an error, got {} {}",
            response.status,
            response.body
        );
        self.0.push((what.to_owned(), response));
    }

    /// Status, whether `Retry-After` came (its value depends on the wall clock
    /// for some answers, so it is asserted elsewhere), and the body.
    fn render(&self) -> String {
        self.0
            .iter()
            .map(|(what, response)| {
                format!(
                    "### {what}\n{}{}\n{}",
                    response.status,
                    if response.header("retry-after").is_some() {
                        " Retry-After"
                    } else {
                        ""
                    },
                    serde_json::to_string(&response.body).unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn codes(&self) -> BTreeSet<String> {
        self.0
            .iter()
            .map(|(_, response)| response.body["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn json_body(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[actix_web::test]
async fn every_error_body_reads_as_reviewed() {
    let mut seen = Seen::default();
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.otp.max_attempts = 2;
        config.cors_allowed_origins = vec!["https://app.example.com".to_owned()];
        config.admin_token = Some(signup_otp::http::AdminToken::new(
            "3q2+7wAAAAC6Kq0pV9Qz1mX4bN8cR5tY0uI2oP7aS6dF=",
        ));
    })
    .await;
    let ada = json!({"email": "ada@example.com", "user_type": "live"});
    let json = &[("content-type", "application/json")][..];

    seen.add(
        "a body that is not JSON",
        app.request(
            "POST",
            SEND,
            Some("application/json"),
            b"{\"email\": ".to_vec(),
        )
        .await,
    );
    seen.add(
        "JSON of the wrong shape",
        app.post_json(SEND, &json!({"email": "ada@example.com"}))
            .await,
    );
    seen.add(
        "a text/plain body",
        app.request("POST", SEND, Some("text/plain"), json_body(ada.clone()))
            .await,
    );
    seen.add(
        "a gzip body",
        app.request_with(
            "POST",
            SEND,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            json_body(ada.clone()),
        )
        .await,
    );
    seen.add(
        "a body over 16 KiB",
        app.post_json(
            SEND,
            &json!({"email": "ada@example.com", "user_type": "live", "pad": "x".repeat(17 * 1024)}),
        )
        .await,
    );
    seen.add(
        "an email that is no address",
        app.send_otp("not-an-address", "live").await,
    );
    seen.add(
        "an unknown user_type",
        app.send_otp("ada@example.com", "paper").await,
    );
    seen.add(
        "a locale that is no language tag",
        app.post_json(
            SEND,
            &json!({"email": "ada@example.com", "user_type": "live", "locale": "not a tag!"}),
        )
        .await,
    );
    let long_key = "k".repeat(256);
    seen.add(
        "an Idempotency-Key of 256 characters",
        app.request_with(
            "POST",
            SEND,
            &[json[0], ("idempotency-key", &long_key)],
            json_body(ada.clone()),
        )
        .await,
    );
    seen.add("no such endpoint", app.get("/api/v1/nothing").await);
    seen.add("GET on send-otp", app.get(SEND).await);
    seen.add(
        "a CORS preflight from another origin",
        app.request_with(
            "OPTIONS",
            SEND,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            Vec::new(),
        )
        .await,
    );
    seen.add(
        "a CORS preflight asking for a header the API does not take",
        app.request_with(
            "OPTIONS",
            SEND,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-not-taken"),
            ],
            Vec::new(),
        )
        .await,
    );

    assert_eq!(app.send_otp("ada@example.com", "live").await.status, 200);
    seen.add(
        "a second send within the cooldown",
        app.send_otp("ada@example.com", "live").await,
    );
    seen.add(
        "a wrong code",
        app.verify_otp("nobody@example.com", "live", "123456").await,
    );
    let code = app.code_in_message("ada@example.com", 1).await;
    for _ in 0..2 {
        app.verify_otp("ada@example.com", "live", &wrong_code(&code))
            .await;
    }
    seen.add(
        "a code whose attempts are spent",
        app.verify_otp("ada@example.com", "live", &code).await,
    );

    seen.add(
        "register with an unknown signup token",
        app.post_json(
            REGISTER,
            &json!({"email": "ada@example.com", "user_type": "live", "password": PASSWORD,
                    "signup_token": "Jm3q9Vx0a8ZrT2kPbN5sW7cY1uE4iH6oL9dF3gK0jQw"}),
        )
        .await,
    );
    seen.add(
        "register with a short password",
        app.post_json(
            REGISTER,
            &json!({"email": "ada@example.com", "user_type": "live", "password": "short"}),
        )
        .await,
    );
    seen.add(
        "register with a control character in full_name",
        app.post_json(
            REGISTER,
            &json!({"email": "ada@example.com", "user_type": "live", "password": PASSWORD,
                    "full_name": "Ada\u{7}"}),
        )
        .await,
    );
    let first = app.signup_token("grace@example.com", "live").await;
    app.advance(Duration::from_secs(61));
    let second = app.signup_token("grace@example.com", "live").await;
    let register = |token: String| {
        json!({"email": "grace@example.com", "user_type": "live", "password": PASSWORD,
               "signup_token": token})
    };
    assert_eq!(app.post_json(REGISTER, &register(first)).await.status, 201);
    seen.add(
        "register an address that has an account",
        app.post_json(REGISTER, &register(second)).await,
    );

    let capped = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.otp.resend_cooldown = Duration::ZERO;
        config.otp.max_sends_per_hour = 1;
    })
    .await;
    assert_eq!(capped.send_otp("ada@example.com", "live").await.status, 200);
    seen.add(
        "a send over the hourly cap",
        capped.send_otp("ada@example.com", "live").await,
    );

    let guarded = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.otp.require_verification_id = true;
        config.otp.lockout_threshold = 2;
        config.otp.max_attempts = 10;
    })
    .await;
    seen.add(
        "a verify without the verification_id the service requires",
        guarded
            .verify_otp("ada@example.com", "live", "123456")
            .await,
    );
    let sent = guarded.send_otp("ada@example.com", "live").await;
    let verification_id = sent.body["verification_id"].clone();
    let guess = json!({"email": "ada@example.com", "user_type": "live", "otp_code": "000000",
                       "verification_id": verification_id});
    let mut locked = None;
    for _ in 0..3 {
        let answer = guarded.post_json(VERIFY, &guess).await;
        if answer.body["code"] == "verification_locked" {
            locked = Some(answer);
            break;
        }
    }
    seen.add(
        "wrong codes past the lockout threshold",
        locked.expect("two wrong codes lock the address for this network"),
    );

    let limited = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.rate_limits.enabled = true;
        config.rate_limits.send_per_minute = 1;
    })
    .await;
    assert_eq!(limited.send_otp("a@example.com", "live").await.status, 200);
    seen.add(
        "a second send from one address within the minute",
        limited.send_otp("b@example.com", "live").await,
    );

    seen.add(
        "an admin call without the admin token (operations listener)",
        app.admin("GET", "/admin/v1/identities/live/ada@example.com", None)
            .await,
    );

    insta::assert_snapshot!(seen.render());

    // Every code is snapshotted: here, or where it is made.
    let elsewhere = include_str!(
        "../../src/http/snapshots/signup_otp__http__errors__tests__the_error_bodies_not_staged_over_http_read_as_reviewed.snap"
    );
    let mut covered = seen.codes();
    covered.extend(
        elsewhere
            .split("\"code\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned),
    );
    let all: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect();
    assert_eq!(covered, all);
}
