//! The released binary end to end: `signup-otp serve` in a time zone far from
//! UTC, mail written to files, the code read back from the file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    address: String,
    /// Everything the process has written to stderr (its log) so far.
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str, mail_dir: &std::path::Path, log_level: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .arg("serve")
        .env_clear()
        .env("TZ", "Pacific/Kiritimati")
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("MAIL_TRANSPORT", "file")
        .env("MAIL_DIR", mail_dir)
        .env("RUST_LOG", log_level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let collected = log.clone();
    std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = collected.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
            if let Some(port) = line.split("listening on port ").nth(1)
                && let Some(tx) = port_tx.take()
            {
                let _ = tx.send(port.trim().to_owned());
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says which port it listens on");
    Server {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
    }
}

async fn post(client: &awc::Client, url: String, body: Value) -> (u16, Value) {
    let mut response = client.post(url).send_json(&body).await.unwrap();
    let body: Value = response.json().await.unwrap();
    (response.status().as_u16(), body)
}

/// The code in the only `.eml` file in `dir` (which it removes).
/// Waits (at most 10 s) for the courier to write it.
fn code_in_mail_dir(dir: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() || std::time::Instant::now() > deadline {
            break files;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(files.len(), 1, "one email written: {files:?}");
    let message = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::remove_file(&files[0]).unwrap();
    message
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("a code in {message}"))
        .to_owned()
}

#[actix_web::test]
async fn the_binary_serves_a_signup_with_mail_written_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let server = serve(&database_url, &mail_dir, "info");
    let client = awc::Client::default();

    let (status, _) = post(
        &client,
        format!("{}/api/v1/users/signup/send-otp", server.address),
        json!({ "email": "file@example.com", "user_type": "demo" }),
    )
    .await;
    assert_eq!(status, 200);
    let code = code_in_mail_dir(&mail_dir);

    let (status, body) = post(
        &client,
        format!("{}/api/v1/users/signup/verify-otp", server.address),
        json!({ "email": "file@example.com", "user_type": "demo", "otp_code": code }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["flow"], "signup");
}

#[actix_web::test]
async fn no_code_password_or_token_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let server = serve(&database_url, &mail_dir, "debug");
    let client = awc::Client::default();
    let url = |path: &str| format!("{}{path}", server.address);
    let password = "log-canary-Pa55word";

    post(
        &client,
        url("/api/v1/users/signup/send-otp"),
        json!({ "email": "canary@example.com", "user_type": "live" }),
    )
    .await;
    let signup_code = code_in_mail_dir(&mail_dir);
    post(
        &client,
        url("/api/v1/users/signup/verify-otp"),
        json!({ "email": "canary@example.com", "user_type": "live", "otp_code": "000000" }),
    )
    .await;
    let (_, verified) = post(
        &client,
        url("/api/v1/users/signup/verify-otp"),
        json!({ "email": "canary@example.com", "user_type": "live", "otp_code": signup_code }),
    )
    .await;
    let token = verified["signup_token"].as_str().unwrap().to_owned();
    let (status, _) = post(&client, url("/api/v1/users/register"), json!({ "email": "canary@example.com", "user_type": "live", "password": password, "signup_token": token })).await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &client,
        url("/api/v1/users/register"),
        json!({ "email": "canary2@example.com", "user_type": "demo", "password": password }),
    )
    .await;
    assert_eq!(status, 201);
    let activation_code = code_in_mail_dir(&mail_dir);
    post(
        &client,
        url("/api/v1/users/signup/verify-otp"),
        json!({ "email": "canary2@example.com", "user_type": "demo", "otp_code": activation_code }),
    )
    .await;

    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains("USER_REGISTERED"),
        "the log was captured: {log}"
    );
    assert!(log.contains("USER_ACTIVATED"), "{log}");
    for secret in [password, &signup_code, &activation_code, &token] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        !log.contains("canary@example.com"),
        "addresses are masked:\n{log}"
    );
}
