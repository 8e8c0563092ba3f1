//! Emails in the client's language: by `locale`, by `Accept-Language`, along the
//! fallback chain, else the default.

use serde_json::json;
use signup_otp::domain::Locale;

use crate::helpers::{Received, TestApp, code_in};
use crate::on_both_backends;

const SEND: &str = "/api/v1/users/signup/send-otp";
const ENGLISH: &str = "Your verification code";
const SPANISH: &str = "Tu código de verificación";
const GERMAN: &str = "Ihr Bestätigungscode";

impl TestApp {
    /// Sends with extra body fields and headers; returns the email that arrived.
    async fn send_in(
        &self,
        address: &str,
        extra: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Received {
        let mut body = json!({"email": address, "user_type": "live"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let response = self.post_json_with(SEND, &body, headers).await;
        assert_eq!(response.status, 200, "{}", response.body);
        self.smtp.wait_for_messages_to(address, 1).await.remove(0)
    }
}

fn assert_written_in(message: &Received, subject: &str, words: &str) {
    assert_eq!(
        message.decoded_subject().as_deref(),
        Some(subject),
        "{}",
        message.data
    );
    let text = message.text();
    assert!(text.contains(words), "{words:?} in {text}");
    assert!(
        code_in(message, 6).is_some(),
        "the code is in the email: {text}"
    );
}

on_both_backends! {
    async fn the_locale_field_picks_the_language(backend) {
        let app = TestApp::spawn(backend).await;

        let spanish = app.send_in("es@example.com", json!({"locale": "es"}), &[]).await;
        let german = app.send_in("de@example.com", json!({"locale": "de"}), &[]).await;

        assert_written_in(&spanish, SPANISH, "Caduca en 10 minutos");
        assert_written_in(&german, GERMAN, "läuft in 10 Minuten ab");
    }

    async fn accept_language_decides_when_the_body_does_not(backend) {
        let app = TestApp::spawn(backend).await;

        let spanish = app
            .send_in("es@example.com", json!({}), &[("accept-language", "fr-CA, es-MX;q=0.9, en;q=0.5")])
            .await;
        let german = app
            .send_in("de@example.com", json!({}), &[("accept-language", "de-CH")])
            .await;
        let field_wins = app
            .send_in("both@example.com", json!({"locale": "de"}), &[("accept-language", "es")])
            .await;

        assert_written_in(&spanish, SPANISH, "Caduca en 10 minutos");
        assert_written_in(&german, GERMAN, "läuft in 10 Minuten ab");
        assert_written_in(&field_wins, GERMAN, "läuft in 10 Minuten ab");
    }

    async fn tags_fall_back_to_their_language_then_to_the_default(backend) {
        let app = TestApp::spawn_with(backend, |config| config.default_locale = Locale::De).await;

        let regional = app.send_in("mx@example.com", json!({"locale": "es-MX"}), &[]).await;
        // pt-BR → pt → (not shipped) → the default, German here.
        let unshipped = app.send_in("br@example.com", json!({"locale": "pt-BR"}), &[]).await;
        let unknown = app.send_in("zz@example.com", json!({"locale": "zz"}), &[]).await;
        let nothing = app.send_in("none@example.com", json!({}), &[]).await;

        assert_written_in(&regional, SPANISH, "Caduca en 10 minutos");
        assert_written_in(&unshipped, GERMAN, "läuft in 10 Minuten ab");
        assert_written_in(&unknown, GERMAN, "läuft in 10 Minuten ab");
        assert_written_in(&nothing, GERMAN, "läuft in 10 Minuten ab");
    }

    async fn english_is_the_default_default(backend) {
        let app = TestApp::spawn(backend).await;

        let message = app.send_in("pt@example.com", json!({"locale": "pt-BR"}), &[]).await;

        assert_written_in(&message, ENGLISH, "It expires in");
    }

    async fn a_malformed_locale_is_refused_and_sends_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        for locale in ["en_US", "", "not a tag", "abcdefghi"] {
            app.post_json(SEND, &json!({"email": "ada@example.com", "user_type": "live", "locale": locale}))
                .await
                .assert_error(422, "invalid_locale");
        }
        app.wait_for_empty_outbox().await;
        assert!(app.smtp.messages_to("ada@example.com").is_empty());
    }

    async fn register_sends_its_email_in_the_requested_language(backend) {
        let app = TestApp::spawn(backend).await;

        let registered = app
            .post_json_with(
                "/api/v1/users/register",
                &json!({"email": "ada@example.com", "user_type": "demo", "password": "Tr0ub4dor&3-horse"}),
                &[("accept-language", "es")],
            )
            .await;

        assert_eq!(registered.status, 202, "{}", registered.body);
        let message = app.smtp.wait_for_messages_to("ada@example.com", 1).await.remove(0);
        assert_written_in(&message, SPANISH, "Caduca en 10 minutos");
    }
}
