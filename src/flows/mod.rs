//! The OTP flows: issue a code (send-otp), verify it (signup or activation), and
//! clean expired ones up. Each flow is one database transaction on the blocking
//! pool; email goes out after it commits. Nothing here knows about HTTP.

mod cleanup;
mod events;
mod hasher;
mod issue;
pub mod throttle;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use cleanup::{CleanupReport, run_periodically};
pub use hasher::OtpHasher;
pub use issue::{SendReceipt, error_chain};
pub use throttle::ThrottleReason;
pub use verify::{RejectReason, VerifiedFlow};

use crate::clock::Clock;
use crate::config::{OtpPolicy, OtpSecret};
use crate::db::{self, DbError, DbPool};
use crate::domain::{EmailAddress, OtpCode, UserType};
use crate::mail::{MailError, Mailer};

/// What can go wrong in a flow, in the flows' own terms.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// No live code matched: unknown, expired, consumed or wrong.
    #[error("invalid OTP ({})", .0.as_str())]
    InvalidOtp(RejectReason),
    /// The code's attempts are spent; a new one must be sent.
    #[error("too many wrong attempts")]
    TooManyAttempts,
    /// A send refused by the per-identity limits.
    #[error("send throttled ({})", reason.as_str())]
    Throttled {
        reason: ThrottleReason,
        retry_after: Duration,
    },
    /// The email could not be handed to the transport.
    #[error("the email could not be sent")]
    EmailUnavailable(#[source] MailError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for OtpError {
    fn from(error: diesel::result::Error) -> Self {
        OtpError::Database(DbError::from(error))
    }
}

/// The OTP flows with everything they need. Cheap to clone.
#[derive(Clone)]
pub struct SignupService {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    mailer: Mailer,
    clock: Arc<dyn Clock>,
    policy: OtpPolicy,
    hasher: OtpHasher,
}

impl SignupService {
    pub fn new(
        pool: DbPool,
        mailer: Mailer,
        clock: Arc<dyn Clock>,
        policy: OtpPolicy,
        secret: &OtpSecret,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                mailer,
                clock,
                policy,
                hasher: OtpHasher::new(secret),
            }),
        }
    }

    pub fn policy(&self) -> &OtpPolicy {
        &self.inner.policy
    }

    pub fn pool(&self) -> &DbPool {
        &self.inner.pool
    }

    /// send-otp: issues a fresh code for the identity and emails it.
    pub async fn send(
        &self,
        email: EmailAddress,
        user_type: UserType,
    ) -> Result<SendReceipt, OtpError> {
        let code = OtpCode::generate(self.inner.policy.length);
        self.send_code(email, user_type, code).await
    }

    /// send-otp with a given code: the original service's `force_otp_code`, for tests.
    pub async fn send_code(
        &self,
        email: EmailAddress,
        user_type: UserType,
        code: OtpCode,
    ) -> Result<SendReceipt, OtpError> {
        issue::send(&self.inner, email, user_type, code).await
    }

    /// verify-otp: consumes the identity's code if `submitted` matches it.
    pub async fn verify(
        &self,
        email: EmailAddress,
        user_type: UserType,
        submitted: &str,
    ) -> Result<VerifiedFlow, OtpError> {
        let code = OtpCode::parse(submitted, self.inner.policy.length);
        verify::verify(&self.inner, email, user_type, code).await
    }

    /// Deletes expired codes and send limits that no longer hold anything back.
    pub async fn cleanup(&self) -> Result<CleanupReport, OtpError> {
        cleanup::cleanup(&self.inner).await
    }

    /// Whether the database answers.
    pub async fn database_ready(&self) -> Result<(), DbError> {
        db::run(&self.inner.pool, db::ping).await
    }
}
