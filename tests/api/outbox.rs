//! Delivery through the outbox: at once when all is well, after recovery when the
//! relay is down, after a restart, never for an expired code, never twice.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use signup_otp::clock::ShiftedClock;
use signup_otp::db::models::OutboxMessage;
use signup_otp::db::schema;
use signup_otp::domain::{EmailAddress, OtpCode, UserType};

use crate::helpers::{Backend, Mode, SmtpListener, TestApp, TestDb, code_in, eventually, holds};
use crate::on_both_backends;

/// Every row, pending or finished, oldest first.
fn rows(app: &TestApp) -> Vec<OutboxMessage> {
    app.with_conn(|conn| {
        schema::email_outbox::table
            .order(schema::email_outbox::id.asc())
            .select(OutboxMessage::as_select())
            .load(conn)
            .unwrap()
    })
}

/// The messages still to deliver.
fn queued(app: &TestApp) -> Vec<OutboxMessage> {
    let pending = ["queued", "retrying"];
    rows(app)
        .into_iter()
        .filter(|row| pending.contains(&row.status.as_str()))
        .collect()
}

/// Waits until the message to `address` is finished; returns its record.
async fn finished_record(app: &TestApp, address: &str) -> OutboxMessage {
    let finished = || {
        rows(app)
            .into_iter()
            .rev()
            .find(|row| row.recipient == address && row.finished_at.is_some())
    };
    eventually("the message is finished", || std::future::ready(finished())).await
}

/// Retries a minute apart (by the service's clock): after a failed attempt,
/// nothing is in flight until the test moves the clock.
fn slow_retries(config: &mut signup_otp::config::Config) {
    config.mail.retry_initial = Duration::from_secs(60);
    config.mail.retry_max = Duration::from_secs(60);
}

/// Waits until every queued message has failed at least once.
pub async fn wait_for_failed_attempts(app: &TestApp) {
    eventually("the courier tries every message", || {
        holds(queued(app).iter().all(|m| m.attempts > 0))
    })
    .await;
}

on_both_backends! {
    async fn a_code_arrives_once_and_verifies(backend) {
        let app = TestApp::spawn(backend).await;

        let code = app.send_and_read_code("once@example.com", "live").await;
        app.wait_for_empty_outbox().await;

        assert_eq!(app.smtp.messages_to("once@example.com").len(), 1);
        assert_eq!(app.verify_otp("once@example.com", "live", &code).await.status, 200);
    }

    async fn emails_queued_while_the_relay_refuses_arrive_once_it_recovers(backend) {
        let app = TestApp::spawn(backend).await;
        app.smtp.set_mode(Mode::Refuse);
        let addresses: Vec<String> = (0..5).map(|i| format!("patient{i}@example.com")).collect();
        for address in &addresses {
            assert_eq!(app.send_otp(address, "live").await.status, 200);
        }
        wait_for_failed_attempts(&app).await;
        assert_eq!(app.smtp.all_messages().len(), 0);

        app.smtp.set_mode(Mode::Accept);
        for address in &addresses {
            app.smtp.wait_for_messages_to(address, 1).await;
        }
        app.wait_for_empty_outbox().await;

        for address in &addresses {
            assert_eq!(app.smtp.messages_to(address).len(), 1, "{address} got one email");
            let code = app.code_in_message(address, 1).await;
            assert_eq!(app.verify_otp(address, "live", &code).await.status, 200);
        }
    }

    async fn emails_queued_while_the_relay_drops_connections_arrive_once_it_recovers(backend) {
        let app = TestApp::spawn(backend).await;
        app.smtp.set_mode(Mode::Drop);
        app.send_otp("dropped@example.com", "demo").await;
        wait_for_failed_attempts(&app).await;

        app.smtp.set_mode(Mode::Accept);
        let code = app.code_in_message("dropped@example.com", 1).await;
        app.wait_for_empty_outbox().await;

        assert_eq!(app.smtp.messages_to("dropped@example.com").len(), 1);
        assert_eq!(app.verify_otp("dropped@example.com", "demo", &code).await.status, 200);
    }

    async fn a_restarted_service_delivers_what_was_queued_before(backend) {
        let app = TestApp::spawn(backend).await;
        app.smtp.set_mode(Mode::Refuse);
        app.send_otp("survivor@example.com", "live").await;
        wait_for_failed_attempts(&app).await;
        let (db, smtp, clock) = (app.db.clone(), app.smtp.clone(), app.clock.clone());
        app.stop().await;

        smtp.set_mode(Mode::Accept);
        let restarted = TestApp::spawn_on(db, smtp, clock, |_| {}).await;

        let code = restarted.code_in_message("survivor@example.com", 1).await;
        assert_eq!(restarted.verify_otp("survivor@example.com", "live", &code).await.status, 200);
    }

    async fn an_email_whose_code_expired_while_the_relay_was_down_is_abandoned(backend) {
        let app = TestApp::spawn_with(backend, slow_retries).await;
        app.smtp.set_mode(Mode::Refuse);
        assert_eq!(app.send_otp("toolate@example.com", "live").await.status, 200);
        wait_for_failed_attempts(&app).await;
        assert_eq!(app.outbox_len(), 1, "the email waits for the relay");

        app.advance(Duration::from_secs(601));
        app.smtp.set_mode(Mode::Accept);
        app.wait_for_empty_outbox().await;

        assert!(app.smtp.messages_to("toolate@example.com").is_empty());
        let metrics = app.metrics().await;
        let abandoned = "signup_otp_events_total{event=\"OTP_EMAIL_ABANDONED\",user_type=\"live\",reason=\"expired\",kind=\"signup_code\"} 1";
        assert!(metrics.contains(abandoned), "abandoned, not lost: {metrics}");
        let record = finished_record(&app, "toolate@example.com").await;
        assert_eq!(record.status, "abandoned");
        assert_eq!(
            record.last_error.as_deref(),
            Some("the code expired before the email could be delivered")
        );
        assert_eq!(record.payload, None);
    }

    async fn a_resend_drops_the_unsent_email_of_the_code_it_replaces(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            slow_retries(config);
            config.otp.resend_cooldown = Duration::ZERO;
        })
        .await;
        app.smtp.set_mode(Mode::Refuse);
        app.send_otp("twice@example.com", "live").await;
        wait_for_failed_attempts(&app).await;
        let first = queued(&app)[0].id;

        app.send_otp("twice@example.com", "live").await;
        let pending = queued(&app);
        assert_eq!(pending.len(), 1);
        assert_ne!(pending[0].id, first, "the first code's email is no longer to send");
        let replaced = rows(&app).into_iter().find(|row| row.id == first).unwrap();
        assert_eq!(replaced.status, "replaced");
        assert_eq!(replaced.payload, None, "a record keeps no sealed code");
        wait_for_failed_attempts(&app).await;
        app.smtp.set_mode(Mode::Accept);
        app.advance(Duration::from_secs(61));

        let code = app.code_in_message("twice@example.com", 1).await;
        app.wait_for_empty_outbox().await;
        assert_eq!(app.smtp.messages_to("twice@example.com").len(), 1);
        assert_eq!(app.verify_otp("twice@example.com", "live", &code).await.status, 200);
    }

    async fn the_outbox_holds_no_plaintext_code(backend) {
        let app = TestApp::spawn(backend).await;
        app.smtp.set_mode(Mode::Refuse);
        let email = EmailAddress::parse("sealed@example.com").unwrap();
        app.service()
            .send_code(email, UserType::Live, OtpCode::parse("424242", 6).unwrap())
            .await
            .unwrap();

        let rows = queued(&app);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.kind, "signup_code");
        let payload = row.payload.as_deref().expect("a queued message has its payload");
        assert!(!payload.windows(6).any(|w| w == b"424242"), "payload is sealed");
        let columns = format!("{} {} {} {:?}", row.kind, row.recipient, row.user_type, row.last_error);
        assert!(!columns.contains("424242"));

        app.smtp.set_mode(Mode::Accept);
        let message = &app.smtp.wait_for_messages_to("sealed@example.com", 1).await[0];
        assert_eq!(code_in(message, 6).as_deref(), Some("424242"));
    }

    async fn a_delivered_message_stays_as_a_record_with_the_relays_reply(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_and_read_code("recorded@example.com", "live").await;

        let record = finished_record(&app, "recorded@example.com").await;
        assert_eq!(record.status, "delivered");
        assert_eq!(record.relay_reply.as_deref(), Some("250 2.0.0 Ok: queued as Q1"));
        assert_eq!(record.attempts, 1);
        assert_eq!(record.payload, None, "the sealed code is dropped once delivered");
        assert_eq!(app.outbox_len(), 0, "nothing is left to deliver");
    }

    async fn a_relay_that_answers_550_rejects_the_message_at_once_and_for_good(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            config.mail.retry_initial = Duration::from_millis(1);
            config.mail.retry_max = Duration::from_millis(1);
        })
        .await;
        app.smtp.reject_address("nobody@example.com");
        assert_eq!(app.send_otp("nobody@example.com", "live").await.status, 200);

        let record = finished_record(&app, "nobody@example.com").await;
        assert_eq!(record.status, "rejected");
        assert_eq!(
            record.relay_reply.as_deref(),
            Some("550 5.1.1 Recipient address rejected: user unknown")
        );
        assert_eq!(record.attempts, 1);
        assert_eq!(record.payload, None);

        // Retries a millisecond apart would have come by now; a later email to
        // another address goes through the same relay after it.
        app.send_and_read_code("somebody@example.com", "live").await;
        app.wait_for_empty_outbox().await;
        assert_eq!(app.smtp.rcpt_attempts("nobody@example.com"), 1, "never retried");
        let metrics = app.metrics().await;
        let rejected = "signup_otp_events_total{event=\"OTP_EMAIL_REJECTED\",user_type=\"live\",kind=\"signup_code\"} 1";
        assert!(metrics.contains(rejected), "{metrics}");
    }

    async fn a_relay_refusing_the_sender_for_good_is_retried_not_blamed_on_the_address(backend) {
        let app = TestApp::spawn_with(backend, slow_retries).await;
        app.smtp.reject_sender(true);
        assert_eq!(app.send_otp("innocent@example.com", "live").await.status, 200);
        wait_for_failed_attempts(&app).await;
        let row = queued(&app).into_iter().next().expect("still to deliver");
        assert_eq!(row.status, "retrying");
        assert!(row.last_error.as_deref().unwrap_or_default().contains("553"), "{:?}", row.last_error);

        app.smtp.reject_sender(false);
        app.advance(Duration::from_secs(61));
        let code = app.code_in_message("innocent@example.com", 1).await;
        assert_eq!(app.verify_otp("innocent@example.com", "live", &code).await.status, 200);
    }

    async fn delivery_records_go_with_the_cleanup_after_their_retention(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_and_read_code("old@example.com", "live").await;
        finished_record(&app, "old@example.com").await;
        app.advance(Duration::from_secs(6 * 86_400));
        app.send_and_read_code("recent@example.com", "live").await;
        finished_record(&app, "recent@example.com").await;

        app.advance(Duration::from_secs(86_400 + 1));
        let report = app.service().cleanup().await.unwrap();
        assert_eq!(report.delivery_records, 1);
        let left: Vec<String> = rows(&app).into_iter().map(|row| row.recipient).collect();
        assert_eq!(left, ["recent@example.com"]);
    }

    async fn readiness_reports_the_backlog_and_its_age(backend) {
        let app = TestApp::spawn(backend).await;
        app.smtp.set_mode(Mode::Refuse);
        app.send_otp("waiting@example.com", "live").await;
        app.advance(Duration::from_secs(30));

        let ready = app.get("/health/ready").await;

        assert_eq!(ready.status, 200);
        assert_eq!(ready.body["outbox"]["backlog"], 1);
        assert!(ready.body["outbox"]["oldest_age_secs"].as_u64().unwrap() >= 30, "{}", ready.body);
    }

    async fn emails_are_multipart_with_plain_text_and_html(backend) {
        let app = TestApp::spawn(backend).await;
        app.send_otp("parts@example.com", "live").await;
        let message = &app.smtp.wait_for_messages_to("parts@example.com", 1).await[0];

        assert!(message.data.contains("multipart/alternative"), "{}", message.data);
        assert!(message.data.contains("text/plain"));
        assert!(message.data.contains("text/html"));
        assert!(message.data.contains("From: signup-otp <no-reply@example.com>"));
    }
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn two_instances_on_one_postgres_deliver_each_message_exactly_once() {
    let db = Arc::new(TestDb::create(Backend::Postgres));
    let smtp = SmtpListener::start().await;
    let clock = ShiftedClock::new();
    let first = TestApp::spawn_on(db.clone(), smtp.clone(), clock.clone(), |_| {}).await;
    let second = TestApp::spawn_on(db, smtp.clone(), clock, |_| {}).await;
    smtp.set_mode(Mode::Refuse);
    let addresses: Vec<String> = (0..20).map(|i| format!("shared{i}@example.com")).collect();
    let sends = addresses.iter().enumerate().map(|(i, address)| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.send_otp(address, "live")
    });
    assert!(join_all(sends).await.iter().all(|r| r.status == 200));
    wait_for_failed_attempts(&first).await;

    smtp.set_mode(Mode::Accept);
    for address in &addresses {
        smtp.wait_for_messages_to(address, 1).await;
    }
    first.wait_for_empty_outbox().await;

    for address in &addresses {
        assert_eq!(smtp.messages_to(address).len(), 1, "{address}");
    }
    assert_eq!(smtp.all_messages().len(), 20);
}
