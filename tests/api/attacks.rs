//! What someone who knows only a victim's address can do, and what they cannot:
//! tell whether it has an account, lock its owner out, flood its inbox under
//! other spellings, or hold the service's resources with slow or compressed
//! requests.

use std::time::Duration;

use serde_json::{Value, json};
use signup_otp::config::Config;
use signup_otp::domain::UserType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestResponse, without_ids, wrong_code};
use crate::on_both_backends;
use crate::send_otp::create_account;

const SEND: &str = "/api/v1/users/signup/send-otp";
const VERIFY: &str = "/api/v1/users/signup/verify-otp";
const REGISTER: &str = "/api/v1/users/register";
const STRANGER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

/// The service behind a proxy on 127.0.0.1, so that a test can speak as any client.
fn behind_a_proxy(config: &mut Config) {
    config.rate_limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

impl TestApp {
    async fn post_from(&self, client: &str, path: &str, body: &Value) -> TestResponse {
        self.post_json_with(path, body, &[("x-forwarded-for", client)])
            .await
    }

    async fn send_from(&self, client: &str, email: &str) -> TestResponse {
        self.post_from(client, SEND, &json!({"email": email, "user_type": "live"}))
            .await
    }

    async fn verify_from(&self, client: &str, email: &str, code: &str) -> TestResponse {
        self.post_from(
            client,
            VERIFY,
            &json!({"email": email, "user_type": "live", "otp_code": code}),
        )
        .await
    }
}

/// What a client sees of an answer: its status, its body (with the one value
/// that is new on every answer left out), and the headers that carry meaning.
fn seen(response: &TestResponse) -> Value {
    let body = without_ids(&response.body);
    let header = |name: &str| response.header(name).map(str::to_owned);
    json!({
        "status": response.status,
        "body": body,
        "retry-after": header("retry-after"),
        "content-type": header("content-type"),
        "cache-control": header("cache-control"),
    })
}

/// A wrong code of the right shape for the `nth` message to `email`. An
/// active account's email carries no code: any code is as wrong there.
async fn wrong_for(app: &TestApp, email: &str, nth: usize) -> String {
    let messages = app.smtp.wait_for_messages_to(email, nth).await;
    crate::helpers::code_in(&messages[nth - 1], 6)
        .map_or_else(|| "000000".to_owned(), |code| wrong_code(&code))
}

/// The same requests, as a stranger would make them, against one address; the
/// answers as seen.
async fn probe(app: &TestApp, email: &str) -> Vec<Value> {
    let mut answers = vec![seen(&app.send_otp(email, "live").await)];
    let wrong = wrong_for(app, email, 1).await;
    for _ in 0..6 {
        answers.push(seen(&app.verify_otp(email, "live", &wrong).await));
    }
    answers.push(seen(&app.send_otp(email, "live").await));
    // Register without a token, then guess on: the lockout comes at the same
    // request for every address.
    app.advance(Duration::from_secs(61));
    let register = json!({"email": email, "user_type": "live", "password": "a password of mine"});
    answers.push(seen(&app.post_json(REGISTER, &register).await));
    answers.push(seen(&app.post_json(REGISTER, &register).await));
    let wrong = wrong_for(app, email, 2).await;
    for _ in 0..6 {
        answers.push(seen(&app.verify_otp(email, "live", &wrong).await));
    }
    answers
}

on_both_backends! {
    async fn every_address_answers_alike_whether_or_not_it_has_an_account(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "inactive@example.com", UserType::Live, false);
        create_account(&app, "active@example.com", UserType::Live, true);
        let addresses = ["new@example.com", "inactive@example.com", "active@example.com"];

        let mut journeys = Vec::new();
        for email in addresses {
            journeys.push(probe(&app, email).await);
        }

        let new = &journeys[0];
        assert_eq!(new[0]["status"], 200);
        assert_eq!(new[5]["status"], 400, "{}", new[5]);
        assert_eq!(new[6]["body"]["code"], "too_many_attempts");
        assert_eq!(new[7]["body"]["code"], "resend_cooldown");
        assert_eq!(new[8]["status"], 202);
        assert_eq!(new[9]["body"]["code"], "resend_cooldown");
        assert_eq!(new[14]["body"]["code"], "invalid_otp", "the tenth wrong code: {}", new[14]);
        assert_eq!(new[15]["body"]["code"], "verification_locked", "{}", new[15]);
        for (email, journey) in addresses.iter().zip(&journeys).skip(1) {
            for (step, (theirs, ours)) in journey.iter().zip(new).enumerate() {
                assert_eq!(theirs, ours, "{email}, request {step}");
            }
        }
    }

    async fn a_stranger_cannot_lock_the_owner_out(backend) {
        let app = TestApp::spawn_with(backend, behind_a_proxy).await;
        let victim = "victim@example.com";
        // A stranger asks for codes and guesses wrong, round after round.
        let mut stranger_locked = None;
        for round in 0..3 {
            let sent = app.send_from(STRANGER, victim).await;
            assert_eq!(sent.status, 200, "round {round}: {}", sent.body);
            let code = app.code_in_message(victim, round + 1).await;
            for _ in 0..5 {
                let guess = app.verify_from(STRANGER, victim, &wrong_code(&code)).await;
                if guess.status == 429 {
                    stranger_locked = Some(guess);
                    break;
                }
            }
            app.advance(Duration::from_secs(61));
        }
        let locked = stranger_locked.expect("ten wrong codes lock the stranger out");
        locked.assert_error(429, "verification_locked");
        for _ in 0..2 {
            app.send_from(STRANGER, victim).await;
            app.advance(Duration::from_secs(61));
        }
        app.send_from(STRANGER, victim)
            .await
            .assert_error(429, "send_limit_reached");

        // The owner, from another network, minutes later: a code, and signed up.
        app.wait_for_empty_outbox().await;
        let before = app.smtp.messages_to(victim).len();
        let sent = app.send_from(OWNER, victim).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let code = app.code_in_message(victim, before + 1).await;
        let verified = app.verify_from(OWNER, victim, &code).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        assert!(verified.body["signup_token"].is_string());
    }

    async fn a_strangers_guesses_never_spend_the_owners_attempts(backend) {
        let app = TestApp::spawn_with(backend, behind_a_proxy).await;
        let victim = "owner@example.com";
        let sent = app.send_from(OWNER, victim).await;
        let verification_id = sent.body["verification_id"].as_str().unwrap().to_owned();
        let code = app.code_in_message(victim, 1).await;

        // A stranger polls wrong codes from network after network, without the id.
        let mut last = None;
        for network in 0..12 {
            let client = format!("2001:db8:0:{network:x}::1");
            last = Some(app.verify_from(&client, victim, &wrong_code(&code)).await);
        }
        last.unwrap().assert_error(429, "too_many_attempts");

        // The owner's client carries its id: its attempts are its own.
        let owner = json!({"email": victim, "user_type": "live", "otp_code": wrong_code(&code), "verification_id": verification_id});
        app.post_from(OWNER, VERIFY, &owner).await.assert_error(400, "invalid_otp");
        let owner = json!({"email": victim, "user_type": "live", "otp_code": code, "verification_id": verification_id});
        let verified = app.post_from(OWNER, VERIFY, &owner).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
    }

    async fn with_verification_ids_required_only_the_asking_client_can_guess(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            behind_a_proxy(config);
            config.otp.require_verification_id = true;
        })
        .await;
        let victim = "guarded@example.com";
        let sent = app.send_from(OWNER, victim).await;
        let verification_id = sent.body["verification_id"].as_str().unwrap().to_owned();
        let code = app.code_in_message(victim, 1).await;

        app.verify_from(STRANGER, victim, &code)
            .await
            .assert_error(422, "verification_id_required");
        // Even the right code, with an id of another send, is refused, and spends nothing.
        let strangers_id = app.send_from(STRANGER, "elsewhere@example.com").await.body["verification_id"].clone();
        for _ in 0..10 {
            let guess = json!({"email": victim, "user_type": "live", "otp_code": code, "verification_id": strangers_id});
            app.post_from(STRANGER, VERIFY, &guess).await.assert_error(400, "invalid_otp");
        }

        let owner = json!({"email": victim, "user_type": "live", "otp_code": code, "verification_id": verification_id});
        let verified = app.post_from(OWNER, VERIFY, &owner).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
    }

    async fn the_mailbox_has_a_daily_ceiling_across_every_network(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            behind_a_proxy(config);
            config.otp.max_sends_per_day = 2;
            config.otp.max_sends_per_hour = 2;
            config.otp.mailbox_sends_per_day = 6;
        })
        .await;
        for network in 1..=3 {
            for _ in 0..2 {
                let client = format!("192.0.2.{network}");
                let sent = app.send_from(&client, "target@example.com").await;
                assert_eq!(sent.status, 200, "{client}: {}", sent.body);
                app.advance(Duration::from_secs(61));
            }
        }

        let seventh = app.send_from("192.0.2.99", "target@example.com").await;

        seventh.assert_error(429, "send_limit_reached");
        let wait: u64 = seventh.header("retry-after").unwrap().parse().unwrap();
        assert_eq!(wait % 900, 0, "rounded to 15 minutes: {wait}");
        // At most this many codes a day, OTP_MAX_ATTEMPTS guesses each.
        let metrics = app.metrics().await;
        let created = "signup_otp_events_total{event=\"SIGNUP_OTP_CREATED\",user_type=\"live\",flow=\"signup\",via=\"send_otp\"} 6";
        assert!(metrics.contains(created), "{metrics}");
    }

    async fn lockouts_that_keep_coming_back_are_an_event_and_a_metric(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            behind_a_proxy(config);
            config.otp.lockout_threshold = 2;
        })
        .await;
        let victim = "hunted@example.com";
        app.send_from(STRANGER, victim).await;
        let code = app.code_in_message(victim, 1).await;
        for network in [STRANGER, "203.0.113.67"] {
            for _ in 0..2 {
                app.verify_from(network, victim, &wrong_code(&code)).await;
            }
            app.verify_from(network, victim, &code)
                .await
                .assert_error(429, "verification_locked");
        }
        assert_eq!(
            app.verify_from(OWNER, victim, &code).await.status,
            200,
            "the owner is not locked out by either"
        );

        let metrics = app.metrics().await;
        let recurring = "signup_otp_events_total{event=\"SIGNUP_OTP_LOCKOUTS_RECURRING\",user_type=\"live\"} 1";
        assert!(metrics.contains(recurring), "{metrics}");
    }

    async fn one_mailbox_shares_its_limits_under_every_spelling(backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.send_otp("victim+1@example.com", "live").await.status, 200);
        for spelling in ["victim+2@example.com", "Victim+news@Example.com", "victim@example.com"] {
            app.send_otp(spelling, "live")
                .await
                .assert_error(429, "resend_cooldown");
        }
        assert_eq!(app.send_otp("v.ic.tim@gmail.com", "live").await.status, 200);
        for spelling in ["victim@gmail.com", "vic.tim+1@googlemail.com"] {
            app.send_otp(spelling, "live")
                .await
                .assert_error(429, "resend_cooldown");
        }

        // The account keeps the address as it was typed.
        let code = app.code_in_message("victim+1@example.com", 1).await;
        let verified = app.verify_otp("victim+1@example.com", "live", &code).await;
        let registered = app
            .register(json!({
                "email": "victim+1@example.com", "user_type": "live",
                "password": crate::register::PASSWORD, "signup_token": verified.body["signup_token"]
            }))
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        assert_eq!(registered.body["email"], "victim+1@example.com");
    }

    async fn ip_quotas_count_ipv6_by_64_read_hops_with_ports_and_believe_nothing_past_garbage(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            behind_a_proxy(config);
            config.rate_limits.enabled = true;
            config.rate_limits.send_per_minute = 1;
            config.rate_limits.send_per_hour = 100;
        })
        .await;
        let app = &app;
        let send = |hops: &'static str, email: &'static str| async move {
            app.post_json_with(
                SEND,
                &json!({"email": email, "user_type": "live"}),
                &[("x-forwarded-for", hops)],
            )
            .await
        };

        // Two addresses of one /64: one client.
        assert_eq!(send("2001:db8:7:7::1", "a1@example.com").await.status, 200);
        send("2001:db8:7:7:ffff::2", "a2@example.com").await.assert_error(429, "rate_limited");
        assert_eq!(send("2001:db8:7:8::1", "a3@example.com").await.status, 200, "the next /64 is another client");
        // A hop with a port is its address.
        assert_eq!(send("198.51.100.9:40000", "b1@example.com").await.status, 200);
        send("198.51.100.9:40001", "b2@example.com").await.assert_error(429, "rate_limited");
        assert_eq!(send("[2001:db8:9:9::1]:443", "c1@example.com").await.status, 200);
        send("2001:db8:9:9::5", "c2@example.com").await.assert_error(429, "rate_limited");
        // What a client writes left of a hop that is not an address is not believed:
        // all such requests count as the proxy that reported them.
        assert_eq!(send("203.0.113.1, unknown", "d1@example.com").await.status, 200);
        send("203.0.113.2, unknown", "d2@example.com").await.assert_error(429, "rate_limited");
    }

    async fn a_body_that_never_arrives_is_cut_off(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            config.resources.body_timeout = Duration::from_secs(1);
        })
        .await;
        let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap();
        socket
            .write_all(b"POST /api/v1/users/signup/send-otp HTTP/1.1\r\nHost: x\r\n\
                         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"")
            .await
            .unwrap();

        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
            .await
            .expect("the service answers and closes the connection");
        read.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }

    async fn a_kept_alive_connection_that_trickles_its_next_request_is_shut(backend) {
        let app = TestApp::spawn(backend).await;
        let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap();
        socket.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 1024];
        let read = socket.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));

        // The next request's head, a byte every 200 ms, for as long as the
        // connection takes it (at most 60 s).
        let (mut reader, mut writer) = socket.into_split();
        let trickle = async {
            for byte in b"GET /health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')).take(300) {
                if writer.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            }
            false
        };
        let closed = async {
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest).await;
            true
        };
        let cut = tokio::select! {
            closed = closed => closed,
            refused = trickle => refused,
        };

        assert!(cut, "the service shut the connection while its head was still trickling in");
    }

    async fn connections_beyond_a_clients_limit_are_shut_at_once(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            config.resources.connections_per_client = 3;
        })
        .await;
        let address = app.address.trim_start_matches("http://").to_owned();
        let mut held = Vec::new();
        for _ in 0..3 {
            // Served once, and kept open (keep-alive): each is counted.
            let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
            connection.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut answer = [0u8; 512];
            let read = connection.read(&mut answer).await.unwrap();
            assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
            held.push(connection);
        }

        // One more is shut at once: it holds nothing, and gets no answer.
        let mut extra = tokio::net::TcpStream::connect(&address).await.unwrap();
        let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), extra.read_to_end(&mut answer))
            .await
            .expect("the connection is closed");
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        // The ones within the limit still work.
        held[0].write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 512];
        let read = held[0].read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));

        // Once the client lets go of its connections, it is served again.
        drop(held);
        let served = async || {
            let mut socket = tokio::net::TcpStream::connect(&address).await.ok()?;
            socket.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
            let mut answer = [0u8; 64];
            let read = socket.read(&mut answer).await.ok()?;
            answer[..read].starts_with(b"HTTP/1.1 200").then_some(())
        };
        crate::helpers::eventually("a client under its limit is served", served).await;
    }

    async fn compressed_bodies_are_refused_before_they_are_read(backend) {
        let app = TestApp::spawn(backend).await;
        for encoding in ["gzip", "deflate", "br", "GZIP"] {
            app.request_with(
                "POST",
                SEND,
                &[("content-type", "application/json"), ("content-encoding", encoding)],
                vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
            )
            .await
            .assert_error(415, "unsupported_content_encoding");
        }
        let plain = app
            .request_with(
                "POST",
                SEND,
                &[("content-type", "application/json"), ("content-encoding", "identity")],
                br#"{"email": "plain@example.com", "user_type": "live"}"#.to_vec(),
            )
            .await;
        assert_eq!(plain.status, 200, "{}", plain.body);
    }

    async fn password_hashing_beyond_its_queue_is_a_503(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            config.resources.hashing_threads = 1;
            config.resources.hashing_queue = 1;
        })
        .await;
        let bodies: Vec<Value> = (0..8)
            .map(|i| json!({"email": format!("crowd{i}@example.com"), "user_type": "live", "password": "a long password"}))
            .collect();

        let answers = futures_util::future::join_all(bodies.iter().map(|b| app.post_json(REGISTER, b))).await;

        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert!(statuses.contains(&202), "{statuses:?}");
        let busy: Vec<&TestResponse> = answers.iter().filter(|a| a.status == 503).collect();
        assert!(!busy.is_empty(), "{statuses:?}");
        for answer in busy {
            answer.assert_error(503, "service_busy");
            assert_eq!(answer.header("retry-after"), Some("2"));
        }
        assert!(statuses.iter().all(|s| [202, 503].contains(s)), "{statuses:?}");
        let later = app
            .post_json(REGISTER, &json!({"email": "later@example.com", "user_type": "live", "password": "a long password"}))
            .await;
        assert_eq!(later.status, 202, "{}", later.body);
    }
}
