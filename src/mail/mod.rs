//! Outgoing email: what the flows ask to send ([`Email`]) and the [`Mailer`] that
//! renders it (plain text and HTML) and hands it to the configured transport:
//! standard output, a folder of `.eml` files, or an SMTP relay through lettre's
//! pooled async transport. The courier is its only caller.

mod smtp;
mod templates;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::{EmailAddress, Locale, OtpCode};

/// How emails leave the service.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub from: Sender,
    /// The courier's first retry waits about this long, each next one twice as long.
    pub retry_initial: Duration,
    /// The longest wait between two retries.
    pub retry_max: Duration,
    /// Deliveries under way at once, and the SMTP connections kept for them.
    pub max_in_flight: u32,
}

impl MailConfig {
    /// How long one delivery may take before it counts as failed.
    pub fn transport_timeout(&self) -> Duration {
        match &self.transport {
            MailTransport::Smtp { timeout, .. } => *timeout,
            MailTransport::Stdout | MailTransport::File(_) => Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub enum MailTransport {
    /// Print each whole email to standard output (development).
    Stdout,
    /// Write each email as an `.eml` file into a folder (development, tests).
    File(PathBuf),
    /// Deliver through an SMTP relay.
    Smtp { url: String, timeout: Duration },
}

impl fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailTransport::Stdout => f.write_str("Stdout"),
            MailTransport::File(dir) => write!(f, "File({})", dir.display()),
            MailTransport::Smtp { timeout, .. } => write!(f, "Smtp(<url>, timeout {timeout:?})"),
        }
    }
}

/// The `From:` of every email (`MAIL_FROM`): a mailbox with a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender(Mailbox);

impl std::str::FromStr for Sender {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        raw.parse()
            .map(Sender)
            .map_err(|error| format!("{raw:?} is not a mailbox: {error}"))
    }
}

/// A message the flows want delivered.
#[derive(Debug)]
pub struct Email {
    pub to: EmailAddress,
    pub kind: EmailKind,
    /// The language it is written in.
    pub locale: Locale,
}

#[derive(Debug)]
pub enum EmailKind {
    /// A code that confirms an address for signup.
    SignupCode { code: OtpCode, valid_for: Duration },
    /// A code that activates an existing, inactive account.
    ActivationCode { code: OtpCode, valid_for: Duration },
    /// The address already has an active account: no code, a pointer to sign-in.
    AccountExists,
}

/// Why a message could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("could not build the message")]
    Build(#[from] lettre::error::Error),
    #[error("the SMTP relay did not accept the message")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("could not write the message file")]
    File(#[from] lettre::transport::file::Error),
    #[error("could not write the message to standard output")]
    Stdout(#[from] std::io::Error),
    #[error("invalid recipient address")]
    Address(#[from] lettre::address::AddressError),
    #[error("could not reach the SMTP relay")]
    Relay(#[source] std::io::Error),
    #[error("invalid SMTP_URL: {0}")]
    Url(String),
}

impl MailError {
    /// The relay's answer when it refused the recipient for good, so that
    /// retrying cannot help: a permanent (5xx) reply whose enhanced status is
    /// about the address (5.1.x: no such mailbox, bad domain, bad syntax; 5.2.1:
    /// mailbox disabled; not 5.1.7 and 5.1.8, which are about the sender), e.g.
    /// "550 5.1.1 user unknown". Every other failure is
    /// retried until the code expires: a 5xx about the sender, relaying, a quota
    /// or the service's own credentials is the operator's to fix, not the
    /// address's fault, and a reply without an enhanced status cannot tell.
    pub fn rejection(&self) -> Option<String> {
        let MailError::Smtp(error) = self else {
            return None;
        };
        if !error.is_permanent() {
            return None;
        }
        let code = error.status()?.to_string();
        let message = std::error::Error::source(error)?.to_string();
        let enhanced = message.split_whitespace().next().unwrap_or_default();
        // 5.1.7 and 5.1.8 are about the sender's address, 5.1.0 about no
        // address in particular: the service's own mistake, retried.
        let about_the_recipient = (enhanced.starts_with("5.1.")
            && !["5.1.0", "5.1.7", "5.1.8"].contains(&enhanced))
            || enhanced == "5.2.1";
        about_the_recipient.then(|| format!("{code} {message}"))
    }
}

const PRINTED: &str = "printed to standard output";

/// What the transport answered when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The relay's reply ("250 2.0.0 Ok: queued as 4F2A1"), or where the message went.
    pub reply: String,
}

/// Delivers [`Email`]s. Cheap to clone: the SMTP transport's connection pool is shared.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Stdout,
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(std::sync::Arc<smtp::SmtpPool>),
}

impl Mailer {
    /// Builds the configured transport. For SMTP nothing is connected yet: the
    /// first message opens the pooled connection.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let backend = match &config.transport {
            MailTransport::Stdout => Backend::Stdout,
            MailTransport::File(dir) => {
                std::fs::create_dir_all(dir)?;
                Backend::File(AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp { url, timeout } => Backend::Smtp(std::sync::Arc::new(
                smtp::SmtpPool::from_url(url, *timeout, config.max_in_flight)?,
            )),
        };
        Ok(Self {
            from: config.from.0.clone(),
            backend,
        })
    }

    /// Renders `email` and hands it to the transport; returns once the transport
    /// has accepted it (for SMTP: the relay answered 250 to the message data),
    /// with its answer.
    pub async fn send(&self, email: Email) -> Result<Accepted, MailError> {
        let rendered = templates::render(&email.kind, email.locale);
        if let Backend::Stdout = self.backend {
            // For a developer reading a terminal: the text part, plainly, between
            // two lines that are easy to find among the log's.
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "----- email to {} (MAIL_TRANSPORT=stdout: printed, not sent) -----\n\
                 Subject: {}\n\n{}\n----- end of email -----",
                email.to,
                rendered.subject,
                rendered.text.trim_end()
            )?;
            out.flush()?;
            return Ok(Accepted {
                reply: PRINTED.to_owned(),
            });
        }
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, email.to.as_str().parse()?))
            .subject(rendered.subject)
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))?;
        let reply = match &self.backend {
            Backend::Stdout => PRINTED.to_owned(),
            Backend::File(transport) => {
                let id = transport.send(message).await?;
                format!("written to {id}.eml")
            }
            Backend::Smtp(pool) => {
                let response = pool.send(message.envelope(), &message.formatted()).await?;
                let lines: Vec<&str> = response.message().collect();
                format!("{} {}", response.code(), lines.join(" "))
            }
        };
        Ok(Accepted { reply })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn smtp(url: &str) -> Result<Mailer, MailError> {
        Mailer::new(&MailConfig {
            transport: MailTransport::Smtp {
                url: url.into(),
                timeout: Duration::from_secs(1),
            },
            from: "Signup <no-reply@example.com>".parse().unwrap(),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(1),
            max_in_flight: 4,
        })
    }

    // The pooled transport starts its reaper task on the current runtime.
    #[tokio::test]
    async fn smtp_urls_choose_plain_starttls_or_implicit_tls() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://relay.example.com:587?tls=required",
            "smtp://relay.example.com:587?tls=opportunistic",
            "smtps://user:secret@relay.example.com",
            "smtps://relay.example.com:465",
        ] {
            assert!(smtp(url).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn unknown_tls_modes_are_refused() {
        assert!(smtp("smtp://relay.example.com?tls=sometimes").is_err());
    }
}
