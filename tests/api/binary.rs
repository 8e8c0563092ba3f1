//! The released binary end to end: `signup-otp serve` in a time zone far from
//! UTC, mail written to files, the code read back from the file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str, mail_dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signup-otp"))
        .arg("serve")
        .env_clear()
        .env("TZ", "Pacific/Kiritimati")
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("MAIL_TRANSPORT", "file")
        .env("MAIL_DIR", mail_dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
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
    }
}

async fn post(client: &awc::Client, url: String, body: Value) -> (u16, Value) {
    let mut response = client.post(url).send_json(&body).await.unwrap();
    let body: Value = response.json().await.unwrap();
    (response.status().as_u16(), body)
}

/// The code in the only `.eml` file in `dir`.
fn code_in_mail_dir(dir: &std::path::Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "one email written: {files:?}");
    let message = std::fs::read_to_string(&files[0]).unwrap();
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
    let server = serve(&database_url, &mail_dir);
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
