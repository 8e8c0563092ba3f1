//! A real SMTP server for the tests: it speaks enough of RFC 5321 for lettre,
//! records every message it accepts, and can be told to refuse them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    /// Headers and body as sent, dot-stuffing undone.
    pub data: String,
}

impl Received {
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }

    pub fn subject(&self) -> Option<&str> {
        self.data
            .lines()
            .find_map(|line| line.strip_prefix("Subject: "))
    }

    /// The subject with RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded.
    pub fn decoded_subject(&self) -> Option<String> {
        use base64::Engine;
        // The header may be folded over several lines.
        let mut lines = self
            .data
            .lines()
            .skip_while(|line| !line.starts_with("Subject: "));
        let mut raw = lines.next()?.strip_prefix("Subject: ")?.to_owned();
        for continued in lines.take_while(|line| line.starts_with([' ', '\t'])) {
            raw.push_str(continued);
        }
        let mut subject = String::new();
        let mut previous_encoded = false;
        for word in raw.split_whitespace() {
            let encoded = word
                .get(..10)
                .is_some_and(|start| start.eq_ignore_ascii_case("=?utf-8?b?"))
                && word.ends_with("?=");
            // White space between two encoded words is not part of the text.
            let joined = encoded && previous_encoded;
            if !subject.is_empty() && !joined {
                subject.push(' ');
            }
            if encoded {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&word[10..word.len() - 2])
                    .expect("base64 in an encoded word");
                subject.push_str(&String::from_utf8(bytes).expect("UTF-8"));
            } else {
                subject.push_str(word);
            }
            previous_encoded = encoded;
        }
        Some(subject)
    }

    /// The plain-text part, quoted-printable or base64 undone.
    pub fn text(&self) -> String {
        let body = self.body();
        let Some(start) = body.find("Content-Type: text/plain") else {
            return body.to_owned();
        };
        let part = &body[start..];
        let (head, rest) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
        let content = rest.split("\r\n--").next().unwrap_or(rest);
        let encoding = head.to_ascii_lowercase();
        if encoding.contains("content-transfer-encoding: base64") {
            use base64::Engine;
            let joined: String = content.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .expect("base64 body");
            String::from_utf8(bytes).expect("UTF-8 body")
        } else if encoding.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(content)
        } else {
            content.to_owned()
        }
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 after quoted-printable")
}

/// How the listener treats the next messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// Answer every message with a transient error (451).
    Refuse,
    /// Close every connection as soon as it opens.
    Drop,
}

#[derive(Default)]
struct State {
    messages: std::sync::Mutex<Vec<Received>>,
    arrived: Notify,
    refusing: AtomicBool,
    dropping: AtomicBool,
    /// Answer MAIL FROM with a permanent "553 5.1.8 sender rejected" (a 5.1.x
    /// status, but about the sender).
    rejecting_sender: AtomicBool,
    /// Addresses answered "550 user unknown" at RCPT TO.
    unknown: std::sync::Mutex<Vec<String>>,
    /// Every RCPT TO, by address, whatever the answer.
    rcpt_attempts: std::sync::Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct SmtpListener {
    pub port: u16,
    state: Arc<State>,
}

impl SmtpListener {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if accept_state.dropping.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                tokio::spawn(serve(stream, accept_state.clone()));
            }
        });
        Self { port, state }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state
            .refusing
            .store(mode == Mode::Refuse, Ordering::SeqCst);
        self.state
            .dropping
            .store(mode == Mode::Drop, Ordering::SeqCst);
    }

    /// From now on, RCPT TO `address` is answered "550 5.1.1 ... user unknown".
    pub fn reject_address(&self, address: &str) {
        self.state.unknown.lock().unwrap().push(address.to_owned());
    }

    /// From now on (or no longer), MAIL FROM is refused for good: the relay
    /// will not take mail from the service's sender.
    pub fn reject_sender(&self, on: bool) {
        self.state.rejecting_sender.store(on, Ordering::SeqCst);
    }

    /// How many times a sender has named `address` in RCPT TO.
    pub fn rcpt_attempts(&self, address: &str) -> usize {
        let attempts = self.state.rcpt_attempts.lock().unwrap();
        attempts.iter().filter(|a| *a == address).count()
    }

    pub fn all_messages(&self) -> Vec<Received> {
        self.state.messages.lock().unwrap().clone()
    }

    pub fn messages_to(&self, address: &str) -> Vec<Received> {
        self.state
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r == address))
            .cloned()
            .collect()
    }

    /// Waits until `count` messages to `address` have arrived (at most 10 s).
    pub async fn wait_for_messages_to(&self, address: &str, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.state.arrived.notified();
            let messages = self.messages_to(address);
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "expected {count} messages to {address}, got {}",
                    self.messages_to(address).len()
                );
            }
        }
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut recipients = Vec::new();
    if write.write_all(b"220 test-smtp ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-test-smtp\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            if state.refusing.load(Ordering::SeqCst) {
                b"451 4.3.0 Try again later\r\n"
            } else if state.rejecting_sender.load(Ordering::SeqCst) {
                b"553 5.1.8 <no-reply@example.com>: Sender address rejected: Domain not found\r\n"
            } else {
                b"250 2.1.0 OK\r\n"
            }
        } else if command.starts_with("RCPT TO") {
            let raw = line.trim_end();
            let address = raw
                .find('<')
                .and_then(|start| {
                    raw[start + 1..]
                        .find('>')
                        .map(|end| &raw[start + 1..start + 1 + end])
                })
                .unwrap_or_default()
                .to_owned();
            state.rcpt_attempts.lock().unwrap().push(address.clone());
            if state.refusing.load(Ordering::SeqCst) {
                b"451 4.3.0 Try again later\r\n"
            } else if state.unknown.lock().unwrap().contains(&address) {
                b"550 5.1.1 Recipient address rejected: user unknown\r\n"
            } else {
                recipients.push(address);
                b"250 2.1.5 OK\r\n"
            }
        } else if command == "DATA" {
            if write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let queue_id = {
                let mut messages = state.messages.lock().unwrap();
                messages.push(Received {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                messages.len()
            };
            state.arrived.notify_waiters();
            let reply = format!("250 2.0.0 Ok: queued as Q{queue_id}\r\n");
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
            continue;
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else if command == "RSET" || command == "NOOP" {
            recipients.clear();
            b"250 2.0.0 OK\r\n"
        } else {
            b"502 5.5.2 Command not recognized\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
