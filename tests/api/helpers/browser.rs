//! Headless Chromium driven over the DevTools protocol (a WebSocket), enough to
//! open a page, type, click, wait for a condition and take a screenshot. Uses
//! Debian's `chromium`; CI installs it, and without it the browser tests show as
//! ignored (build.rs).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use awc::ws;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/// Headless, and nothing reaching out to the network (this machine's network is
/// closed; background fetches only slow Chromium down).
pub const HEADLESS_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Debian's Chromium. The browser tests are compiled as ignored where it is not
/// installed (see build.rs), so a missing one here is a failure.
pub fn chromium() -> &'static str {
    CHROMIUM
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is installed (the browser tests are ignored without it)")
}

pub struct Browser {
    child: Child,
    endpoint: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium.
    pub fn launch() -> Browser {
        let chromium = chromium();
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium)
            .args(HEADLESS_FLAGS)
            .args([
                "--hide-scrollbars",
                "--window-size=600,900",
                "--lang=en-US",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // Chromium announces its DevTools endpoint on standard error.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("chromium announces its DevTools endpoint")
                .expect("chromium's standard error is readable");
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining standard error so that Chromium never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Browser {
            child,
            endpoint,
            _profile: profile,
        }
    }

    /// Opens `url` in a new tab.
    pub async fn open(&self, url: &str) -> Page {
        let (_, socket) = awc::Client::new()
            .ws(&self.endpoint)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("DevTools WebSocket connects");
        let mut page = Page {
            socket,
            next_id: 0,
            session: None,
        };
        let target = page
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        page.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        page.call("Page.enable", json!({})).await;
        page.call("Page.navigate", json!({"url": url})).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Page {
    socket: actix_codec::Framed<awc::BoxedSocket, ws::Codec>,
    next_id: u64,
    session: Option<String>,
}

impl Page {
    /// Sends one DevTools command and returns its result (events are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(ws::Message::Text(message.to_string().into()))
            .await
            .expect("a DevTools command is sent");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("the DevTools socket stays open")
                .expect("a DevTools frame");
            // Chromium sends each message in one frame.
            let ws::Frame::Text(text) = frame else {
                continue;
            };
            let reply: Value = serde_json::from_slice(&text).expect("DevTools speaks JSON");
            if reply["id"] == id {
                assert!(
                    reply.get("error").is_none(),
                    "{method} failed: {}",
                    reply["error"]
                );
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) holds in the page, checking
    /// on every animation frame, for at most 10 s.
    pub async fn wait_for(&mut self, condition: &str) {
        let script = format!(
            "new Promise((resolve) => {{
                const deadline = Date.now() + 10000;
                const check = () => {{
                    let ok = false;
                    try {{ ok = Boolean({condition}); }} catch (e) {{}}
                    if (ok || Date.now() > deadline) resolve(ok);
                    else requestAnimationFrame(check);
                }};
                check();
            }})"
        );
        assert_eq!(
            self.eval(&script).await,
            json!(true),
            "the page never reached: {condition}"
        );
    }

    /// Focuses the element and types `text` as keyboard input.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        self.eval(&format!(
            "document.querySelector({selector:?}).focus(); document.querySelector({selector:?}).select?.()"
        ))
        .await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Clicks the element at its centre with the mouse.
    pub async fn click(&mut self, selector: &str) {
        let point = self
            .eval(&format!(
                "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect();
                   return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = (point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Saves a PNG of the page.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}
