//! The flows: issue a code (send-otp), verify it (signup or activation), register
//! an account, and clean expired codes up. Each flow's database work is one
//! transaction on the blocking pool; an email is queued in the outbox inside that
//! transaction and the courier delivers it after the commit. Nothing here knows
//! about HTTP.
//!
//! Who may set an account's password: only someone who has proven the address.
//! A right code proves it; a signup token (from a right code) proves it; a
//! registration_id proves nothing by itself and only counts together with the
//! right code. An address's answers are the same whether it has no account, an
//! inactive one or an active one.

mod cleanup;
mod hasher;
pub mod import;
mod issue;
mod password;
mod policy;
mod register;
mod support;
pub mod throttle;
mod token;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use cleanup::{CleanupReport, run_periodically};
pub use hasher::{CodeCheck, OtpHasher};
pub use issue::SendReceipt;
pub use password::{HashError, PasswordHashers};
pub use policy::OtpPolicy;
pub use register::{Registered, Registration};
pub use support::{
    AccountState, ActionReport, CodeState, Delivery, IdentityReport, LockoutState, Operator,
    RequesterSends, SendLimits,
};
pub use throttle::ThrottleReason;
pub use token::{Opaque, TokenError};
pub use verify::{Carried, RejectReason, Verified, VerifiedFlow, VerifiedOutcome};

/// What the flows hand back from the database, re-exported so callers above the
/// flows (the HTTP layer) never reach into `db` themselves.
pub use crate::db::{DbError, models::AccountRecord};

use crate::clock::Clock;
use crate::courier::{self, Outbox};
use crate::db::DbPool;
use crate::domain::{EmailAddress, Locale, OtpCode, Requester, UserType};
use crate::events::Events;
use crate::keys::Keyring;

/// What can go wrong in a flow, in the flows' own terms.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No live code matched: unknown, expired, consumed or wrong.
    #[error("invalid OTP ({})", .0.as_str())]
    InvalidOtp(RejectReason),
    /// The code's attempts are spent; a new one must be sent.
    #[error("too many wrong attempts")]
    TooManyAttempts,
    /// Too many consecutive wrong codes from this requester for the identity.
    #[error("verification locked")]
    VerificationLocked { retry_after: Duration },
    /// A send refused by the send limits.
    #[error("send throttled ({})", reason.as_str())]
    Throttled {
        reason: ThrottleReason,
        retry_after: Duration,
    },
    /// The signup token is malformed, unknown, expired, used, or for another identity.
    #[error("invalid signup token ({0})")]
    InvalidSignupToken(TokenError),
    /// The identity already has an account (told only to someone who proved the address).
    #[error("already registered")]
    AlreadyRegistered,
    /// `VERIFY_REQUIRES_VERIFICATION_ID` is on and the verify carried no id.
    #[error("verification id required")]
    VerificationIdRequired,
    #[error(transparent)]
    PasswordHash(#[from] HashError),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// A wait in whole seconds, rounded up, at least one: what `Retry-After` carries.
pub(crate) fn whole_seconds_until(
    now: chrono::NaiveDateTime,
    until: chrono::NaiveDateTime,
) -> Duration {
    let micros = (until - now).num_microseconds().unwrap_or(i64::MAX).max(0);
    Duration::from_secs(micros.unsigned_abs().div_ceil(1_000_000).max(1))
}

impl crate::db::MayLoseConnection for FlowError {
    fn lost_connection(&self) -> bool {
        matches!(self, FlowError::Database(error) if error.lost_connection())
    }
}

impl From<diesel::result::Error> for FlowError {
    fn from(error: diesel::result::Error) -> Self {
        FlowError::Database(DbError::from(error))
    }
}

/// The database answers; this is what waits for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub outbox_messages: i64,
    pub oldest_message_age: Option<Duration>,
}

/// The flows with everything they need. Cheap to clone.
#[derive(Clone)]
pub struct SignupService {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    policy: OtpPolicy,
    hasher: OtpHasher,
    passwords: PasswordHashers,
    events: Events,
}

impl SignupService {
    pub fn new(
        pool: DbPool,
        outbox: Outbox,
        clock: Arc<dyn Clock>,
        policy: OtpPolicy,
        keyring: &Keyring,
        events: Events,
        passwords: PasswordHashers,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                events,
                pool,
                outbox,
                clock,
                policy,
                hasher: OtpHasher::new(keyring),
                passwords,
            }),
        }
    }

    pub fn pool(&self) -> &DbPool {
        &self.inner.pool
    }

    /// send-otp: issues a fresh code for the identity and emails it.
    pub async fn send(
        &self,
        email: EmailAddress,
        user_type: UserType,
        requester: Requester,
        locale: Locale,
    ) -> Result<SendReceipt, FlowError> {
        let code = OtpCode::generate(self.inner.policy.length);
        issue::send(&self.inner, email, user_type, &requester, code, locale).await
    }

    /// send-otp with a given code: the original service's `force_otp_code`, for
    /// tests only (the `test-support` feature, which only the tests turn on).
    #[cfg(feature = "test-support")]
    pub async fn send_code(
        &self,
        email: EmailAddress,
        user_type: UserType,
        code: OtpCode,
    ) -> Result<SendReceipt, FlowError> {
        issue::send(
            &self.inner,
            email,
            user_type,
            &Requester::local(),
            code,
            Locale::default(),
        )
        .await
    }

    /// verify-otp: consumes the identity's code if `submitted` matches it, and
    /// finishes the registration the carried `registration_id` names when it is
    /// this identity's and still waiting.
    pub async fn verify(
        &self,
        email: EmailAddress,
        user_type: UserType,
        submitted: &str,
        requester: Requester,
        carried: Carried<'_>,
    ) -> Result<Verified, FlowError> {
        let code = OtpCode::parse(submitted, self.inner.policy.length);
        verify::verify(&self.inner, email, user_type, code, requester, carried).await
    }

    /// register: with a signup token, creates the account (or activates an
    /// inactive one) with the password given; without one, sends a code and keeps
    /// the password for a verify that brings the registration_id back.
    pub async fn register(&self, registration: Registration) -> Result<Registered, FlowError> {
        register::register(&self.inner, registration).await
    }

    /// Deletes expired codes and send limits that no longer hold anything back.
    pub async fn cleanup(&self) -> Result<CleanupReport, FlowError> {
        cleanup::cleanup(&self.inner).await
    }

    /// Everything on record about one identity, with a diagnosis (support's view).
    pub async fn inspect(
        &self,
        email: EmailAddress,
        user_type: UserType,
        operator: Operator,
    ) -> Result<IdentityReport, FlowError> {
        support::inspect(&self.inner, email, user_type, operator).await
    }

    /// Clears every lockout on the identity.
    pub async fn unlock(
        &self,
        email: EmailAddress,
        user_type: UserType,
        operator: Operator,
    ) -> Result<ActionReport, FlowError> {
        support::unlock(&self.inner, email, user_type, operator).await
    }

    /// Expires the identity's live code and abandons its unsent email.
    pub async fn expire(
        &self,
        email: EmailAddress,
        user_type: UserType,
        operator: Operator,
    ) -> Result<ActionReport, FlowError> {
        support::expire(&self.inner, email, user_type, operator).await
    }

    /// Whether the database answers, and what waits in the outbox.
    pub async fn readiness(&self) -> Result<Readiness, DbError> {
        let backlog = courier::backlog(&self.inner.pool).await?;
        let now = self.inner.clock.now();
        Ok(Readiness {
            outbox_messages: backlog.messages,
            oldest_message_age: backlog
                .oldest_created_at
                .map(|created| (now - created).to_std().unwrap_or_default()),
        })
    }
}
