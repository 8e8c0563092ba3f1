//! verify-otp: `signup_otps` first, then the activation codes in `otps`, in one
//! transaction. A match consumes the code with a conditional write whose row count
//! says whether this request won; a miss spends one attempt the same way.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::{FlowError, Inner, OtpHasher};
use crate::config::OtpPolicy;
use crate::db::models::{Account, Otp, SignupOtp, VerifyLockout};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, OtpCode, UserType};

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub flow: VerifiedFlow,
    /// For a signup: the proof register takes, and how long it stays good.
    pub signup_token: Option<(String, Duration)>,
}

/// Which journey a successful verification completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedFlow {
    /// A new address is confirmed; its signup code is used up and the row kept,
    /// verified, as the server-side half of the signup token.
    Signup,
    /// An inactive account is now active; its activation code is consumed.
    Activation,
}

impl VerifiedFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifiedFlow::Signup => "signup",
            VerifiedFlow::Activation => "activation",
        }
    }
}

/// Why a code was refused. Clients see one message for all of them but
/// `TooManyAttempts`; the log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// No code was ever issued to the identity, or it was consumed or cleaned up.
    NotFound,
    Expired,
    WrongCode,
    /// A concurrent request consumed the code first.
    AlreadyUsed,
    TooManyAttempts,
    /// The identity is locked after too many consecutive wrong codes.
    Locked(NaiveDateTime),
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotFound => "not_found",
            RejectReason::Expired => "expired",
            RejectReason::WrongCode => "wrong_code",
            RejectReason::AlreadyUsed => "already_used",
            RejectReason::TooManyAttempts => "too_many_attempts",
            RejectReason::Locked(_) => "locked",
        }
    }
}

/// A verdict is committed either way: a wrong guess must spend its attempt even
/// though the request fails.
type Verdict = Result<VerifiedFlow, RejectReason>;

pub(super) async fn verify(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    code: Option<OtpCode>,
) -> Result<Verified, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let hasher = inner.hasher.clone();
    let verdict = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                let check = Check {
                    now,
                    policy: &policy,
                    hasher: &hasher,
                    email: &email,
                    user_type,
                    code: code.as_ref(),
                };
                check.run(conn).map_err(FlowError::from)
            })
        })
        .await?
    };
    let (verdict, locked_now) = verdict;
    if let Some(until) = locked_now {
        inner.events.warn(
            "SIGNUP_OTP_IDENTITY_LOCKED",
            user_type,
            &email,
            &[],
            &format!(
                "failures={} locked_for_secs={}",
                policy.lockout_threshold,
                (until - now).num_seconds()
            ),
        );
    }
    match verdict {
        Ok(flow) => {
            inner.events.record(
                "SIGNUP_OTP_VERIFIED",
                user_type,
                &email,
                &[("flow", flow.as_str())],
                "",
            );
            let signup_token = match flow {
                VerifiedFlow::Signup => Some((
                    inner.tokens.issue(&email, user_type, now),
                    inner.tokens.ttl(),
                )),
                VerifiedFlow::Activation => {
                    inner.events.record(
                        "USER_ACTIVATED",
                        user_type,
                        &email,
                        &[("via", "activation_code")],
                        "",
                    );
                    None
                }
            };
            Ok(Verified { flow, signup_token })
        }
        Err(reason) => {
            inner.events.record(
                "SIGNUP_OTP_VERIFICATION_FAILED",
                user_type,
                &email,
                &[("reason", reason.as_str())],
                "",
            );
            Err(match reason {
                RejectReason::TooManyAttempts => FlowError::TooManyAttempts,
                RejectReason::Locked(until) => FlowError::VerificationLocked {
                    retry_after: super::whole_seconds_until(now, until),
                },
                other => FlowError::InvalidOtp(other),
            })
        }
    }
}

struct Check<'a> {
    now: NaiveDateTime,
    policy: &'a OtpPolicy,
    hasher: &'a OtpHasher,
    email: &'a EmailAddress,
    user_type: UserType,
    code: Option<&'a OtpCode>,
}

impl Check<'_> {
    /// The verdict, and the lock this request started, if any.
    fn run(
        &self,
        conn: &mut DbConnection,
    ) -> diesel::QueryResult<(Verdict, Option<NaiveDateTime>)> {
        if let Some(lockout) = VerifyLockout::find(conn, self.email, self.user_type)?
            && let Some(until) = lockout.locked_at(self.now)
        {
            return Ok((Err(RejectReason::Locked(until)), None));
        }
        let verdict = self.evaluate(conn)?;
        let locked_now = match verdict {
            Ok(_) => {
                VerifyLockout::clear(conn, self.email, self.user_type)?;
                None
            }
            Err(RejectReason::WrongCode) => VerifyLockout::record_failure(
                conn,
                self.email,
                self.user_type,
                self.now,
                i32::try_from(self.policy.lockout_threshold).unwrap_or(i32::MAX),
                self.now + self.policy.lockout,
            )?,
            Err(_) => None,
        };
        Ok((verdict, locked_now))
    }

    /// The code against the identity's live code, `signup_otps` first.
    fn evaluate(&self, conn: &mut DbConnection) -> diesel::QueryResult<Verdict> {
        let mut expired = false;
        if let Some(row) = SignupOtp::find(conn, self.email, self.user_type)? {
            if row.is_live(self.now) {
                return self.check_signup(conn, &row);
            }
            expired = true;
        }
        if let Some(account) = Account::find(conn, self.user_type, self.email)?
            && !account.is_active
            && let Some(otp) = Otp::find_for(conn, account.id)?
        {
            if otp.is_live(self.now) {
                return self.check_activation(conn, &otp, account);
            }
            expired = true;
        }
        Ok(Err(if expired {
            RejectReason::Expired
        } else {
            RejectReason::NotFound
        }))
    }

    fn max_attempts(&self) -> i32 {
        i32::try_from(self.policy.max_attempts).unwrap_or(i32::MAX)
    }

    fn matches(&self, stored: &[u8]) -> bool {
        self.code.is_some_and(|code| {
            self.hasher
                .matches(self.user_type, self.email, code, stored)
        })
    }

    fn check_signup(
        &self,
        conn: &mut DbConnection,
        row: &SignupOtp,
    ) -> diesel::QueryResult<Verdict> {
        if row.attempts >= self.max_attempts() {
            return Ok(Err(RejectReason::TooManyAttempts));
        }
        if !self.matches(&row.otp_hash) {
            return self.spend_attempt(SignupOtp::record_failed_attempt(
                conn,
                row.id,
                self.max_attempts(),
            )?);
        }
        // The verified row stays while the signup token it backs is good; register
        // links it to the new account, and the cleanup removes it if unused.
        let keep_until = self.now + self.policy.signup_token_ttl;
        if !SignupOtp::mark_verified(conn, row.id, self.max_attempts(), self.now, keep_until)? {
            return Ok(Err(RejectReason::AlreadyUsed));
        }
        Ok(Ok(VerifiedFlow::Signup))
    }

    fn check_activation(
        &self,
        conn: &mut DbConnection,
        otp: &Otp,
        account: Account,
    ) -> diesel::QueryResult<Verdict> {
        if otp.attempts >= self.max_attempts() {
            return Ok(Err(RejectReason::TooManyAttempts));
        }
        if !self.matches(&otp.otp_hash) {
            return self.spend_attempt(Otp::record_failed_attempt(
                conn,
                otp.id,
                self.max_attempts(),
            )?);
        }
        if !Otp::consume(conn, otp.id, self.max_attempts(), self.now)? {
            return Ok(Err(RejectReason::AlreadyUsed));
        }
        Account::activate(conn, account.id)?;
        Ok(Ok(VerifiedFlow::Activation))
    }

    /// A wrong code whose attempt could not be recorded met a code whose attempts a
    /// concurrent request had just used up.
    fn spend_attempt(&self, recorded: bool) -> diesel::QueryResult<Verdict> {
        Ok(Err(if recorded {
            RejectReason::WrongCode
        } else {
            RejectReason::TooManyAttempts
        }))
    }
}
