//! Two service processes on one PostgreSQL: a code is one code, whichever
//! instance a request reaches.

use futures_util::future::join_all;
use serde_json::{Value, json};
use signup_otp::db::models::SignupOtp;
use signup_otp::domain::{EmailAddress, UserType};

use crate::binary::{Server, start};
use crate::helpers::{Backend, SECRET, SmtpListener, TestDb, code_in, wrong_code};

struct Pair {
    instances: [Server; 2],
    client: awc::Client,
    smtp: SmtpListener,
    db: TestDb,
}

impl Pair {
    async fn start() -> Pair {
        let db = TestDb::create(Backend::Postgres);
        let smtp = SmtpListener::start().await;
        let smtp_url = smtp.url();
        let env = [
            ("DATABASE_URL", db.url_string.as_str()),
            ("OTP_SECRET", SECRET),
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", smtp_url.as_str()),
            ("IP_RATE_LIMITS", "off"),
            ("MAX_CONNECTIONS_PER_CLIENT", "1000"),
        ];
        // The first applies the migrations; the second finds them applied.
        let first = start(&env);
        let second = start(&env);
        Pair {
            instances: [first, second],
            client: awc::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .finish(),
            smtp,
            db,
        }
    }

    async fn post(&self, instance: usize, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.instances[instance % 2].address);
        let mut response = self.client.post(url).send_json(&body).await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn send(&self, instance: usize, email: &str) -> String {
        let (status, body) = self
            .post(
                instance,
                "/api/v1/users/signup/send-otp",
                json!({ "email": email, "user_type": "live" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let message = &self.smtp.wait_for_messages_to(email, 1).await[0];
        code_in(message, 6).unwrap()
    }

    async fn verify(&self, instance: usize, email: &str, code: &str) -> u16 {
        let body = json!({ "email": email, "user_type": "live", "otp_code": code });
        self.post(instance, "/api/v1/users/signup/verify-otp", body)
            .await
            .0
    }

    fn attempts(&self, email: &str) -> i32 {
        let pool = signup_otp::db::build_pool(&self.db.url, 1, std::time::Duration::from_secs(5));
        let mut conn = pool.get().unwrap();
        SignupOtp::find(
            &mut conn,
            &EmailAddress::parse(email).unwrap(),
            UserType::Live,
        )
        .unwrap()
        .unwrap()
        .attempts
    }
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_code_sent_through_one_instance_verifies_through_the_other() {
    let pair = Pair::start().await;
    let code = pair.send(0, "across@example.com").await;
    assert_eq!(pair.verify(1, "across@example.com", &code).await, 200);
    assert_eq!(pair.verify(0, "across@example.com", &code).await, 400);
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn fifty_concurrent_verifies_across_both_instances_succeed_once() {
    let pair = Pair::start().await;
    let code = pair.send(1, "fifty@example.com").await;

    let statuses = join_all((0..50).map(|i| pair.verify(i, "fifty@example.com", &code))).await;

    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 400),
        "{statuses:?}"
    );
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_hundred_concurrent_wrong_guesses_across_both_spend_exactly_the_attempts() {
    let pair = Pair::start().await;
    let code = pair.send(0, "guessed@example.com").await;
    let wrong = wrong_code(&code);

    let statuses = join_all((0..100).map(|i| pair.verify(i, "guessed@example.com", &wrong))).await;

    assert_eq!(
        statuses.iter().filter(|&&s| s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        95,
        "{statuses:?}"
    );
    assert_eq!(pair.attempts("guessed@example.com"), 5);
    assert_eq!(
        pair.verify(1, "guessed@example.com", &code).await,
        429,
        "the code is dead"
    );
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn instances_starting_together_on_a_fresh_database_both_come_up() {
    let db = TestDb::create(Backend::Postgres);
    let url = db.url_string.clone();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                start(&[
                    ("DATABASE_URL", url.as_str()),
                    ("OTP_SECRET", SECRET),
                    ("MAIL_TRANSPORT", "stdout"),
                ])
            })
        })
        .collect();
    let servers: Vec<Server> = starts
        .into_iter()
        .map(|s| s.join().expect("every instance starts"))
        .collect();
    let client = awc::Client::default();
    for server in &servers {
        let ready = client
            .get(format!("{}/health/ready", server.address))
            .send()
            .await
            .expect("each instance answers");
        assert_eq!(
            ready.status(),
            200,
            "{} is ready on the migrated database",
            server.address
        );
    }
}

#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
async fn a_verify_retried_through_the_other_instance_is_replayed() {
    let pair = Pair::start().await;
    let code = pair.send(0, "retry@example.com").await;
    let body = json!({ "email": "retry@example.com", "user_type": "live", "otp_code": code });
    let verify = |instance: usize| {
        let url = format!(
            "{}/api/v1/users/signup/verify-otp",
            pair.instances[instance].address
        );
        let request = pair
            .client
            .post(url)
            .insert_header(("idempotency-key", "mobile-retry-1"));
        let body = body.clone();
        async move {
            let mut response = request.send_json(&body).await.unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let json: Value = response.json().await.unwrap();
            (response.status().as_u16(), replayed, json)
        }
    };

    let (status, replayed, first) = verify(0).await;
    let (retry_status, retry_replayed, retry) = verify(1).await;

    assert_eq!((status, replayed), (200, false), "{first}");
    assert_eq!((retry_status, retry_replayed), (200, true), "{retry}");
    assert_eq!(retry["signup_token"], first["signup_token"]);
}
