//! The SMTP connections the courier sends over: a small pool of lettre's
//! `AsyncSmtpConnection`s on sockets with `TCP_NODELAY`.
//!
//! lettre's own pooled transport (0.11.23, the latest release) leaves Nagle's
//! algorithm on. It writes a message's body and the final `.` in two writes, so the
//! `.` waits for the relay to acknowledge the body, and relays delay that
//! acknowledgement (40 ms on Linux): every message took about 42 ms however fast
//! the relay, 16 connections delivered 242 emails/s against a relay that answers
//! at once (`bench/courier.sh`). The fix is merged upstream, not yet released;
//! until then these connections are made here, on sockets of our own, and lettre
//! does the rest (EHLO, STARTTLS, AUTH, the message). The URL is read the way
//! lettre reads it.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::MailError;

/// A connection idle for longer than this is checked (NOOP) before it is used;
/// one used this recently (under load: all of them) goes straight back to work.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);
/// How long that check may take before the connection is given up for a new one.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections older than this are dropped rather than reused: relays
/// close quiet sessions after a few minutes.
const MAX_IDLE: Duration = Duration::from_secs(60);

#[derive(Clone)]
enum Tls {
    None,
    Opportunistic(TlsParameters),
    Required(TlsParameters),
    /// Implicit TLS (`smtps://`).
    Wrapper,
}

pub(super) struct SmtpPool {
    host: String,
    port: u16,
    tls: Tls,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    max_idle: usize,
    idle: parking_lot::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    /// Reads an SMTP URL as lettre's `AsyncSmtpTransport::from_url` does.
    pub fn from_url(url: &str, timeout: Duration, max_idle: u32) -> Result<Self, MailError> {
        let invalid = |why: String| MailError::Url(why);
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid("no host".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let tls_mode = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let parameters = || TlsParameters::new(host.clone()).map_err(MailError::Smtp);
        let (port, tls) = match (parsed.scheme(), tls_mode.as_deref()) {
            ("smtp", None) => (25, Tls::None),
            ("smtp", Some("required")) => (587, Tls::Required(parameters()?)),
            ("smtp", Some("opportunistic")) => (587, Tls::Opportunistic(parameters()?)),
            ("smtps", _) => (465, Tls::Wrapper),
            (scheme, mode) => {
                return Err(invalid(format!(
                    "unknown scheme {scheme:?} or tls mode {mode:?}"
                )));
            }
        };
        let hello = if parsed.path().len() > 1 {
            ClientId::Domain(parsed.path().trim_matches('/').to_owned())
        } else {
            ClientId::default()
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(Cow::into_owned)
                .map_err(|e| invalid(e.to_string()))
        };
        let credentials = match parsed.password() {
            Some(password) => Some(Credentials::new(
                decode(parsed.username())?,
                decode(password)?,
            )),
            None => None,
        };
        Ok(Self {
            port: parsed.port().unwrap_or(port),
            host,
            tls,
            hello,
            credentials,
            timeout,
            max_idle: usize::try_from(max_idle.max(1)).unwrap_or(1),
            idle: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Sends one message over an idle connection or a new one, within the
    /// timeout; the connection goes back to the pool unless it broke.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, MailError> {
        let mut conn = self.checkout().await?;
        let exchange = async {
            let sent = conn.send(envelope, message).await;
            (sent, conn)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok((sent, conn)) => {
                if !conn.has_broken() {
                    self.checkin(conn);
                }
                sent.map_err(MailError::Smtp)
            }
            Err(_) => Err(MailError::Relay(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from the SMTP relay within {:?}", self.timeout),
            ))),
        }
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, MailError> {
        loop {
            let Some((mut conn, since)) = self.idle.lock().pop() else {
                return self.connect().await;
            };
            let idle = since.elapsed();
            // An old or broken connection is dropped, not QUIT: on a session a
            // firewall dropped silently, waiting for QUIT's answer would use up
            // the send's time.
            if conn.has_broken() || idle > MAX_IDLE {
                continue;
            }
            if idle < TRUSTED_IDLE
                || tokio::time::timeout(CHECK_TIMEOUT, conn.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(conn);
            }
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push((conn, Instant::now()));
        }
    }

    /// A TCP connection to the relay: each address the name resolves to in turn,
    /// each given the whole timeout (as lettre does), so that one address that
    /// drops packets (a broken IPv6 route) does not keep a working one from
    /// being tried.
    async fn dial(&self) -> Result<TcpStream, MailError> {
        let addresses = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(MailError::Relay)?;
        let mut last = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the relay's name resolves to no address",
        );
        for address in addresses {
            match tokio::time::timeout(self.timeout, TcpStream::connect(address)).await {
                Ok(Ok(tcp)) => {
                    tcp.set_nodelay(true).map_err(MailError::Relay)?;
                    return Ok(tcp);
                }
                Ok(Err(error)) => last = error,
                Err(_) => {
                    last = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection to {address} within {:?}", self.timeout),
                    );
                }
            }
        }
        Err(MailError::Relay(last))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let tcp = self.dial().await?;
        match tokio::time::timeout(self.timeout, self.handshake(tcp)).await {
            Ok(connected) => connected,
            Err(_) => Err(MailError::Relay(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the SMTP relay did not greet within {:?}", self.timeout),
            ))),
        }
    }

    /// TLS (implicit or STARTTLS), EHLO and AUTH over a fresh connection.
    async fn handshake(&self, tcp: TcpStream) -> Result<AsyncSmtpConnection, MailError> {
        let mut conn = match &self.tls {
            Tls::Wrapper => {
                let peer = tcp.peer_addr().map_err(MailError::Relay)?;
                let connector = native_tls::TlsConnector::builder()
                    .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
                    .build()
                    .map_err(|e| MailError::Relay(std::io::Error::other(e)))?;
                let tls = tokio_native_tls::TlsConnector::from(connector)
                    .connect(&self.host, tcp)
                    .await
                    .map_err(|e| MailError::Relay(std::io::Error::other(e)))?;
                AsyncSmtpConnection::connect_with_transport(
                    Box::new(TlsOverTcp { stream: tls, peer }),
                    &self.hello,
                )
                .await?
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?,
        };
        match &self.tls {
            Tls::Required(parameters) => conn.starttls(parameters.clone(), &self.hello).await?,
            Tls::Opportunistic(parameters) if conn.can_starttls() => {
                conn.starttls(parameters.clone(), &self.hello).await?
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

/// A TLS session over our own socket, for lettre to speak SMTP over.
#[derive(Debug)]
struct TlsOverTcp {
    stream: tokio_native_tls::TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl AsyncRead for TlsOverTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsOverTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsOverTcp {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.peer)
    }
}
