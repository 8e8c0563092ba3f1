//! The released binary end to end: `signup-otp serve` in a time zone far from
//! UTC, mail written to files, the code read back from the file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::eventually_blocking;

pub struct Server {
    child: Child,
    pub address: String,
    /// The operations listener (`/metrics`).
    pub metrics_address: String,
    /// Everything the process has written to stderr (its log) so far.
    log: Arc<Mutex<String>>,
    /// Everything it has written to stdout so far.
    out: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str, mail_dir: &std::path::Path, log_level: &str) -> Server {
    serve_with(database_url, mail_dir, log_level, &[])
}

fn serve_with(
    database_url: &str,
    mail_dir: &std::path::Path,
    log_level: &str,
    extra_env: &[(&str, &str)],
) -> Server {
    let mail_dir = mail_dir.to_string_lossy();
    let mut env = vec![
        ("TZ", "Pacific/Kiritimati"),
        ("DATABASE_URL", database_url),
        ("MAIL_TRANSPORT", "file"),
        ("MAIL_DIR", &mail_dir),
        ("RUST_LOG", log_level),
    ];
    env.extend_from_slice(extra_env);
    start(&env)
}

/// Starts `signup-otp serve` on a free port with exactly `env` (and PATH);
/// returns once it says where it listens.
pub fn start(env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let printed = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut printed = printed.lock().unwrap();
            printed.push_str(&line);
            printed.push('\n');
        }
    });
    let stderr = child.stderr.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let collected = log.clone();
    std::thread::spawn(move || {
        // The API's URL, then the operations listener's.
        let mut wanted = ["listening on http://", "metrics on http://"].into_iter();
        let mut next = wanted.next();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = collected.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
            if let Some(marker) = next
                && let Some(rest) = line.split(marker).nth(1)
            {
                let host_port: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                let _ = port_tx.send(host_port);
                next = wanted.next();
            }
        }
    });
    let mut addresses = (0..2).map(|_| {
        port_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the server says where it listens: {}", log.lock().unwrap()))
    });
    let (api, operations) = (addresses.next().unwrap(), addresses.next().unwrap());
    Server {
        child,
        address: format!("http://{api}"),
        metrics_address: format!("http://{operations}"),
        log,
        out,
    }
}

async fn post(client: &awc::Client, url: String, body: Value) -> (u16, Value) {
    let mut response = client.post(url).send_json(&body).await.unwrap();
    let body: Value = response.json().await.unwrap();
    (response.status().as_u16(), body)
}

/// The code in the only `.eml` file in `dir` (which it removes), once the
/// courier has written it.
fn code_in_mail_dir(dir: &std::path::Path) -> String {
    let files = eventually_blocking("the courier writes the email", || {
        let files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        (!files.is_empty()).then_some(files)
    });
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
    let (status, pending) = post(
        &client,
        url("/api/v1/users/register"),
        json!({ "email": "canary2@example.com", "user_type": "demo", "password": password }),
    )
    .await;
    assert_eq!(status, 202);
    let registration_id = pending["registration_id"].as_str().unwrap().to_owned();
    let second_code = code_in_mail_dir(&mail_dir);
    let (status, finished) = post(
        &client,
        url("/api/v1/users/signup/verify-otp"),
        json!({ "email": "canary2@example.com", "user_type": "demo", "otp_code": second_code,
                "registration_id": registration_id }),
    )
    .await;
    assert_eq!(status, 200, "{finished}");

    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains("USER_REGISTERED"),
        "the log was captured: {log}"
    );
    assert!(log.contains("SIGNUP_OTP_VERIFIED"), "{log}");
    for secret in [
        password,
        &signup_code,
        &second_code,
        &token,
        &registration_id,
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
    assert!(
        !log.contains("canary@example.com"),
        "addresses are masked:\n{log}"
    );

    // The counters that moved are on the operations listener, not the API's port.
    let public = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(public.status().as_u16(), 404);
    let mut private = client
        .get(format!("{}/metrics", server.metrics_address))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status().as_u16(), 200);
    let metrics = String::from_utf8(private.body().await.unwrap().to_vec()).unwrap();
    assert!(metrics.contains("USER_REGISTERED"), "{metrics}");
}

/// The log, once it contains `needle`.
fn wait_for_log(server: &Server, needle: &str) -> String {
    eventually_blocking(&format!("the log says {needle:?}"), || {
        let log = server.log.lock().unwrap().clone();
        log.contains(needle).then_some(log)
    })
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let server = serve_with(&database_url, &mail_dir, "info", &[("LOG_FORMAT", "json")]);
    let client = awc::Client::default();

    let response = client
        .post(format!("{}/api/v1/users/signup/send-otp", server.address))
        .insert_header(("x-request-id", "trace-me-7"))
        .send_json(&json!({ "email": "json@example.com", "user_type": "live" }))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let log = wait_for_log(&server, "OTP_EMAIL_SENT");

    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    let created = lines
        .iter()
        .find(|l| l["event"] == "SIGNUP_OTP_CREATED")
        .unwrap_or_else(|| panic!("no event line in {log}"));
    assert_eq!(created["request_id"], "trace-me-7");
    assert_eq!(created["email"], "j***@example.com");
    assert_eq!(created["user_type"], "live");
    let access = lines
        .iter()
        .find(|l| l["target"] == "actix_web::middleware::logger")
        .unwrap();
    assert!(
        access["message"]
            .as_str()
            .unwrap()
            .contains("request_id=trace-me-7")
    );
}

#[actix_web::test]
async fn sigterm_stops_the_service_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let mut server = serve(&database_url, &mail_dir, "info");

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let exit = eventually_blocking("the process exits after SIGTERM", || {
        server.child.try_wait().unwrap()
    });
    assert!(exit.success(), "{exit:?}");
    let log = wait_for_log(&server, "stopped");
    assert!(log.contains("stopped"), "{log}");
}

#[actix_web::test]
async fn the_healthcheck_command_reports_whether_the_service_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let server = serve(&database_url, &mail_dir, "info");
    let check = |address: &str| {
        Command::new(env!("CARGO_BIN_EXE_signup-otp"))
            .arg("healthcheck")
            .env_clear()
            .env("DATABASE_URL", &database_url)
            .env("BIND_ADDR", address.trim_start_matches("http://"))
            .output()
            .unwrap()
    };

    assert!(check(&server.address).status.success());
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    assert!(
        check(&format!("0.0.0.0:{port}")).status.success(),
        "0.0.0.0 means loopback"
    );
    drop(server);
    let down = check(&format!("127.0.0.1:{port}"));
    assert!(!down.status.success());
}

#[actix_web::test]
async fn in_development_the_email_is_printed_plainly_on_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("otp.db").display());
    let server = start(&[
        ("DATABASE_URL", &database_url),
        ("MAIL_TRANSPORT", "stdout"),
    ]);
    let client = awc::Client::default();

    let (status, _) = post(
        &client,
        format!("{}/api/v1/users/signup/send-otp", server.address),
        json!({ "email": "dev@example.com", "user_type": "live" }),
    )
    .await;
    assert_eq!(status, 200);

    let printed = eventually_blocking("the email is printed", || {
        let out = server.out.lock().unwrap().clone();
        out.contains("----- end of email -----").then_some(out)
    });
    assert!(
        printed.contains(
            "----- email to dev@example.com (MAIL_TRANSPORT=stdout: printed, not sent) -----"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("Subject: Your verification code"),
        "{printed}"
    );
    let code = printed
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.bytes().all(|b| b.is_ascii_digit()));
    assert!(code.is_some(), "the code stands on its own line: {printed}");
    assert!(!printed.contains('\r'), "plain line ends");
}
