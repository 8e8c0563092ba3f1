//! The outbox: each email is sealed and queued inside its flow's transaction,
//! so that no code exists without its email; [`Outbox::wake`] tells the
//! delivery task once that transaction has committed.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::db::models::{Backlog, NewOutboxMessage, OutboxMessage};
use crate::db::{self, DbConnection, DbError, DbPool};
use crate::domain::{EmailAddress, Locale, OtpCode, UserType};
use crate::keys::{Keyring, OpenError, Purpose, Sealer};
use crate::mail::{Email, EmailKind};

/// What the flows hold: seals messages into the outbox and wakes the courier.
#[derive(Clone)]
pub struct Outbox {
    sealer: Arc<Sealer>,
    pub(super) wake: Arc<Notify>,
}

/// The part of a message that is sealed.
#[derive(Serialize, Deserialize)]
struct Sealed {
    code: Option<String>,
    valid_for_secs: u64,
    /// Absent in messages queued before emails had a language: those are English.
    #[serde(default)]
    locale: Option<String>,
}

impl Outbox {
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            sealer: Arc::new(Sealer::new(keyring, Purpose::EmailOutbox)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues `email` (inside the caller's transaction), replacing whatever was
    /// still waiting for the same identity. It is abandoned if not sent by `expires_at`.
    pub fn queue(
        &self,
        conn: &mut DbConnection,
        email: &Email,
        user_type: UserType,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        let (kind, payload) = self.seal(email, user_type);
        NewOutboxMessage {
            kind,
            recipient: email.to.as_str(),
            user_type: user_type.as_str(),
            payload: &payload,
            created_at: now,
            expires_at,
            next_attempt_at: now,
        }
        .replace_pending(conn)
    }

    /// The email's kind as the outbox stores it, and its sealed payload, bound to
    /// its kind, recipient and user_type.
    pub fn seal(&self, email: &Email, user_type: UserType) -> (&'static str, Vec<u8>) {
        let (kind, sealed) = match &email.kind {
            EmailKind::SignupCode { code, valid_for } => ("signup_code", Some((code, valid_for))),
            EmailKind::ActivationCode { code, valid_for } => {
                ("activation_code", Some((code, valid_for)))
            }
            EmailKind::AccountExists => ("account_exists", None),
        };
        let plaintext = Sealed {
            code: sealed.map(|(code, _)| code.expose().to_owned()),
            valid_for_secs: sealed.map_or(0, |(_, valid_for)| valid_for.as_secs()),
            locale: Some(email.locale.as_str().to_owned()),
        };
        let plaintext = serde_json::to_vec(&plaintext).expect("plain data serialises");
        let payload = self.sealer.seal(
            &associated(kind, email.to.as_str(), user_type.as_str()),
            &plaintext,
        );
        (kind, payload)
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Reads a queued message back into the email it was made from.
    pub(super) fn open(&self, message: &OutboxMessage) -> Result<(Email, UserType), OpenError> {
        let plaintext = self.sealer.open(
            &associated(&message.kind, &message.recipient, &message.user_type),
            message.payload.as_deref().ok_or(OpenError)?,
        )?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|_| OpenError)?;
        let to = EmailAddress::parse(&message.recipient).map_err(|_| OpenError)?;
        let user_type = message.user_type.parse().map_err(|_| OpenError)?;
        let code = || {
            sealed
                .code
                .as_deref()
                .and_then(|code| OtpCode::parse(code, code.len()))
                .ok_or(OpenError)
        };
        let valid_for = Duration::from_secs(sealed.valid_for_secs);
        let kind = match message.kind.as_str() {
            "signup_code" => EmailKind::SignupCode {
                code: code()?,
                valid_for,
            },
            "activation_code" => EmailKind::ActivationCode {
                code: code()?,
                valid_for,
            },
            "account_exists" => EmailKind::AccountExists,
            _ => return Err(OpenError),
        };
        let locale = match sealed.locale.as_deref() {
            None => Locale::En,
            Some(name) => name.parse().map_err(|_| OpenError)?,
        };
        Ok((Email { to, kind, locale }, user_type))
    }
}

/// The row's identity, bound into the seal.
fn associated(kind: &str, recipient: &str, user_type: &str) -> Vec<u8> {
    format!("{kind}\0{user_type}\0{recipient}").into_bytes()
}

/// The outbox's backlog, for readiness.
pub async fn backlog(pool: &DbPool) -> Result<Backlog, DbError> {
    db::run(pool, |conn| {
        OutboxMessage::backlog(conn).map_err(DbError::from)
    })
    .await
}
