//! verify-otp: `signup_otps` first, then the account's code in `otps`, in one
//! transaction. A match consumes the code with a conditional write, on the very
//! hash it was compared with, whose row count says whether this request won; a
//! miss spends one attempt the same way.
//!
//! A right code proves the address, and then either finishes the registration
//! the request's `registration_id` names (its password becomes the account's),
//! or hands out a signup token for register. It never makes a password that
//! nobody proved the account's: an inactive account's old password is replaced
//! at that point, not activated.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::OtpPolicy;
use super::token::Opaque;
use super::{CodeCheck, FlowError, Inner, OtpHasher};
use crate::db::models::{
    Account, AccountId, AccountRecord, Attempts, NewAccount, NewLock, Otp, PendingRegistration,
    SignupOtp, SignupToken, VerifyLockout,
};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, OtpCode, Requester, UserType};

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub flow: VerifiedFlow,
    pub outcome: VerifiedOutcome,
}

/// What a right code led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifiedOutcome {
    /// The registration the request named is done: the account is active.
    Registered(AccountRecord),
    /// The address is proven; register takes this token (once, until it expires)
    /// with the password for the account.
    Token { token: String, expires_in: Duration },
}

/// Which journey a successful verification was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedFlow {
    /// A new address; its signup code is used up and the row kept, verified, to
    /// be linked to the account.
    Signup,
    /// An existing inactive account; its activation code is consumed.
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
/// `TooManyAttempts` and `Locked`; the log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// No code was ever issued to the identity, or it was consumed or cleaned up.
    NotFound,
    /// Past its expiry, or made under a key the service no longer holds.
    Expired,
    WrongCode,
    /// A concurrent request consumed the code first, or a re-send replaced it.
    AlreadyUsed,
    TooManyAttempts,
    /// This requester is locked out of the identity after too many wrong codes.
    Locked(NaiveDateTime),
    /// Verification ids are required and this request's is not the code's.
    OtherSend,
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
            RejectReason::OtherSend => "other_send",
        }
    }
}

/// Which code was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    Signup,
    Activation(Account),
}

/// A verdict is committed either way: a wrong guess must spend its attempt even
/// though the request fails.
type Verdict = Result<(VerifiedFlow, VerifiedOutcome), RejectReason>;

/// What a verify carries besides the code: the id of the send it answers
/// (`verification_id`, or the `registration_id` of a register, which is both).
#[derive(Debug, Clone, Copy, Default)]
pub struct Carried<'a> {
    pub verification_id: Option<&'a str>,
    pub registration_id: Option<&'a str>,
}

pub(super) async fn verify(
    inner: &Inner,
    email: EmailAddress,
    user_type: UserType,
    code: Option<OtpCode>,
    requester: Requester,
    carried: Carried<'_>,
) -> Result<Verified, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let hasher = inner.hasher.clone();
    if policy.require_verification_id
        && carried.verification_id.is_none()
        && carried.registration_id.is_none()
    {
        return Err(FlowError::VerificationIdRequired);
    }
    // An id not even shaped like one names nothing.
    let registration = carried
        .registration_id
        .and_then(|id| Opaque::hash_of(id).ok());
    let holder = carried
        .verification_id
        .and_then(|id| Opaque::hash_of(id).ok())
        .or(registration);
    let (verdict, locked_now) = {
        let email = email.clone();
        let requester = requester.clone();
        db::run(&inner.pool, move |conn| {
            let check = Check {
                now,
                policy: &policy,
                hasher: &hasher,
                email: &email,
                user_type,
                code: code.as_ref(),
                requester: &requester,
                registration: registration.as_ref().map(|hash| &hash[..]),
                holder: holder.as_ref().map(|hash| &hash[..]),
            };
            match conn {
                DbConnection::Pg(conn) => check.in_one_statement(conn),
                conn => db::write_transaction(conn, |conn| check.run(conn)),
            }
        })
        .await?
    };
    if let Some(lock) = locked_now {
        record_lock(inner, &email, user_type, now, lock);
    }
    match verdict {
        Ok((flow, outcome)) => {
            let finished = matches!(outcome, VerifiedOutcome::Registered(_));
            inner.events.record(
                "SIGNUP_OTP_VERIFIED",
                user_type,
                &email,
                &[
                    ("flow", flow.as_str()),
                    ("registered", if finished { "true" } else { "false" }),
                ],
                "",
            );
            if finished {
                inner.events.record(
                    "USER_REGISTERED",
                    user_type,
                    &email,
                    &[("status", "active"), ("via", "verify_otp")],
                    "",
                );
            }
            Ok(Verified { flow, outcome })
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

/// A lock started: one event, and another, louder one when locks keep coming
/// back for the same identity (more than one in the last day, from any network).
fn record_lock(
    inner: &Inner,
    email: &EmailAddress,
    user_type: UserType,
    now: NaiveDateTime,
    lock: NewLock,
) {
    let details = format!(
        "failures={} locked_for_secs={} locks_in_last_day={}",
        inner.policy.lockout_threshold,
        (lock.until - now).num_seconds(),
        lock.recent_locks
    );
    inner.events.warn(
        "SIGNUP_OTP_IDENTITY_LOCKED",
        user_type,
        email,
        &[],
        &details,
    );
    if lock.recent_locks > 1 {
        inner.events.warn(
            "SIGNUP_OTP_LOCKOUTS_RECURRING",
            user_type,
            email,
            &[],
            &details,
        );
    }
}

struct Check<'a> {
    now: NaiveDateTime,
    policy: &'a OtpPolicy,
    hasher: &'a OtpHasher,
    email: &'a EmailAddress,
    user_type: UserType,
    code: Option<&'a OtpCode>,
    requester: &'a Requester,
    registration: Option<&'a [u8]>,
    /// The hash of the id this request carries for the code it answers.
    holder: Option<&'a [u8]>,
}

impl Check<'_> {
    /// The verdict, and the lock this request started, if any.
    fn run(&self, conn: &mut DbConnection) -> Result<(Verdict, Option<NewLock>), FlowError> {
        if let Some(lockout) =
            VerifyLockout::find(conn, self.email, self.user_type, self.requester)?
            && let Some(until) = lockout.locked_at(self.now)
        {
            return Ok((Err(RejectReason::Locked(until)), None));
        }
        match self.evaluate(conn)? {
            Ok(proof) => {
                VerifyLockout::clear(conn, self.email, self.user_type, self.requester)?;
                Ok((Ok(self.finish(conn, proof)?), None))
            }
            Err(RejectReason::WrongCode) => {
                let lock = VerifyLockout::record_failure(
                    conn,
                    self.email,
                    self.user_type,
                    self.requester,
                    self.now,
                    i32::try_from(self.policy.lockout_threshold).unwrap_or(i32::MAX),
                    self.now + self.policy.lockout,
                )?;
                Ok((Err(RejectReason::WrongCode), lock))
            }
            Err(other) => Ok((Err(other), None)),
        }
    }

    /// The whole verify as one statement on PostgreSQL (`signup_otp_verify`, the
    /// same steps as [`Check::run`]). The code's MACs and the carried id are sent
    /// blinded under a random prefix of this request's, and the stored ones are
    /// blinded the same way before the database compares them.
    fn in_one_statement(
        &self,
        conn: &mut diesel::PgConnection,
    ) -> Result<(Verdict, Option<NewLock>), FlowError> {
        use sha2::{Digest, Sha256};
        let blind = Opaque::generate();
        let blind = blind.hash();
        let blinded = self.code.map(|code| {
            self.hasher
                .blinded_macs(self.user_type, self.email, code, blind)
        });
        let holder_blinded = self.holder.map(|holder| {
            let mut digest = Sha256::new();
            digest.update(blind);
            digest.update(holder);
            digest.finalize().to_vec()
        });
        let token = Opaque::generate();
        let ttl = self.policy.signup_token_ttl;
        let limit = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
        let row = db::functions::verify(
            conn,
            &db::functions::VerifyCall {
                email: self.email.as_str(),
                user_type: self.user_type.as_str(),
                requester: self.requester.as_str(),
                now: self.now,
                key_ids: &self.hasher.key_ids(),
                blinded: blinded.as_deref(),
                blind,
                holder_blinded: holder_blinded.as_deref(),
                require_verification_id: self.policy.require_verification_id,
                max_attempts: self.max_attempts(),
                lockout_threshold: limit(self.policy.lockout_threshold),
                lock_until: self.now + self.policy.lockout,
                registration_hash: self.registration,
                token_hash: token.hash(),
                token_expires_at: self.now + ttl,
                keep_until: self.now + self.policy.signup_token_ttl,
            },
        )
        .map_err(super::register::already_registered)?;
        let flow = match row.verdict.as_str() {
            "signup" => VerifiedFlow::Signup,
            "activation" => VerifiedFlow::Activation,
            refusal => {
                let reason = match refusal {
                    "not_found" => RejectReason::NotFound,
                    "expired" => RejectReason::Expired,
                    "wrong_code" => RejectReason::WrongCode,
                    "already_used" => RejectReason::AlreadyUsed,
                    "too_many_attempts" => RejectReason::TooManyAttempts,
                    "other_send" => RejectReason::OtherSend,
                    "locked" => RejectReason::Locked(row.locked_until.unwrap_or(self.now)),
                    other => {
                        return Err(FlowError::Database(db::DbError::Query(
                            diesel::result::Error::DeserializationError(
                                format!("signup_otp_verify answered {other:?}").into(),
                            ),
                        )));
                    }
                };
                let lock = row.new_lock_until.map(|until| NewLock {
                    until,
                    recent_locks: row.recent_locks.unwrap_or(0),
                });
                return Ok((Err(reason), lock));
            }
        };
        let outcome = match (row.account_id, row.account_email, row.account_created_at) {
            (Some(id), Some(email), Some(created_at)) => {
                VerifiedOutcome::Registered(AccountRecord {
                    id: match self.user_type {
                        UserType::Live => AccountId::Live(id),
                        UserType::Demo => AccountId::Demo(id),
                    },
                    email,
                    full_name: row.account_full_name,
                    is_active: true,
                    created_at,
                })
            }
            _ => VerifiedOutcome::Token {
                token: token.expose().to_owned(),
                expires_in: ttl,
            },
        };
        Ok((Ok((flow, outcome)), None))
    }

    /// The code against the identity's live code, `signup_otps` first. Both
    /// lookups run whatever the case, so that the work (and the time) is the same
    /// for an address with or without an account.
    fn evaluate(
        &self,
        conn: &mut DbConnection,
    ) -> diesel::QueryResult<Result<Proof, RejectReason>> {
        let signup = SignupOtp::find(conn, self.email, self.user_type)?;
        let account = Otp::find_with_account(conn, self.user_type, self.email)?;
        let mut expired = false;
        if let Some(row) = signup {
            if row.is_live(self.now) {
                return self.check_signup(conn, &row);
            }
            expired = true;
        }
        if let Some((account, Some(otp))) = account {
            if otp.is_live(self.now) {
                return self.check_account(conn, &otp, account);
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

    /// Whose attempts this request spends on a code made for `verification_hash`.
    fn whose(&self, verification_hash: Option<&[u8]>) -> Attempts {
        match (self.holder, verification_hash) {
            (Some(carried), Some(stored)) if equal_in_constant_time(carried, stored) => {
                Attempts::Holder
            }
            _ => Attempts::Anyone,
        }
    }

    fn check(&self, stored: &[u8]) -> CodeCheck {
        self.hasher
            .check(self.user_type, self.email, self.code, stored)
    }

    fn check_signup(
        &self,
        conn: &mut DbConnection,
        row: &SignupOtp,
    ) -> diesel::QueryResult<Result<Proof, RejectReason>> {
        let whose = self.whose(row.verification_hash.as_deref());
        if whose == Attempts::Anyone && self.policy.require_verification_id {
            return Ok(Err(RejectReason::OtherSend));
        }
        if whose.spent(row.attempts, row.holder_attempts) >= self.max_attempts() {
            return Ok(Err(RejectReason::TooManyAttempts));
        }
        match self.check(&row.otp_hash) {
            CodeCheck::Unreadable => Ok(Err(RejectReason::Expired)),
            CodeCheck::Wrong => self.spend_attempt(SignupOtp::record_failed_attempt(
                conn,
                row.id,
                &row.otp_hash,
                whose,
                self.max_attempts(),
            )?),
            CodeCheck::Right => {
                // The verified row stays until it is linked to the account, or
                // the cleanup removes it once a token made now would have expired.
                let keep_until = self.now + self.policy.signup_token_ttl;
                let marked = SignupOtp::mark_verified(
                    conn,
                    row.id,
                    &row.otp_hash,
                    whose,
                    self.max_attempts(),
                    self.now,
                    keep_until,
                )?;
                Ok(if marked {
                    Ok(Proof::Signup)
                } else {
                    Err(RejectReason::AlreadyUsed)
                })
            }
        }
    }

    /// An account's code: an inactive account's activation code, or an active
    /// account's stand-in, which no code matches (nobody was sent one).
    fn check_account(
        &self,
        conn: &mut DbConnection,
        otp: &Otp,
        account: Account,
    ) -> diesel::QueryResult<Result<Proof, RejectReason>> {
        let whose = self.whose(otp.verification_hash.as_deref());
        if whose == Attempts::Anyone && self.policy.require_verification_id {
            return Ok(Err(RejectReason::OtherSend));
        }
        if whose.spent(otp.attempts, otp.holder_attempts) >= self.max_attempts() {
            return Ok(Err(RejectReason::TooManyAttempts));
        }
        let check = match self.check(&otp.otp_hash) {
            CodeCheck::Right if account.is_active => CodeCheck::Wrong,
            check => check,
        };
        match check {
            CodeCheck::Unreadable => Ok(Err(RejectReason::Expired)),
            CodeCheck::Wrong => self.spend_attempt(Otp::record_failed_attempt(
                conn,
                otp.id,
                &otp.otp_hash,
                whose,
                self.max_attempts(),
            )?),
            CodeCheck::Right => {
                let consumed = Otp::consume(
                    conn,
                    otp.id,
                    &otp.otp_hash,
                    whose,
                    self.max_attempts(),
                    self.now,
                )?;
                Ok(if consumed {
                    Ok(Proof::Activation(account))
                } else {
                    Err(RejectReason::AlreadyUsed)
                })
            }
        }
    }

    /// A wrong code whose attempt could not be recorded met a code whose attempts
    /// a concurrent request had just used up, or that a re-send had replaced.
    fn spend_attempt(&self, recorded: bool) -> diesel::QueryResult<Result<Proof, RejectReason>> {
        Ok(Err(if recorded {
            RejectReason::WrongCode
        } else {
            RejectReason::TooManyAttempts
        }))
    }

    /// The address is proven: finish the named registration, or hand out a token.
    fn finish(
        &self,
        conn: &mut DbConnection,
        proof: Proof,
    ) -> Result<(VerifiedFlow, VerifiedOutcome), FlowError> {
        let flow = match proof {
            Proof::Signup => VerifiedFlow::Signup,
            Proof::Activation(_) => VerifiedFlow::Activation,
        };
        let pending = match self.registration {
            Some(hash) => {
                PendingRegistration::take(conn, hash, self.email, self.user_type, self.now)?
            }
            None => None,
        };
        let Some(pending) = pending else {
            let token = Opaque::generate();
            let ttl = self.policy.signup_token_ttl;
            SignupToken::new(
                token.hash(),
                self.email,
                self.user_type,
                self.now,
                self.now + ttl,
            )
            .insert(conn)?;
            let outcome = VerifiedOutcome::Token {
                token: token.expose().to_owned(),
                expires_in: ttl,
            };
            return Ok((flow, outcome));
        };
        let account = match proof {
            Proof::Signup => {
                let account = NewAccount {
                    user_type: self.user_type,
                    email: self.email,
                    hashed_password: Some(&pending.hashed_password),
                    full_name: pending.full_name.as_deref(),
                    is_active: true,
                    created_at: self.now,
                }
                .insert(conn)
                .map_err(super::register::already_registered)?;
                SignupOtp::link_account(conn, self.email, self.user_type, self.now, account.id)?;
                account
            }
            Proof::Activation(account) => Account::activate_with_password(
                conn,
                account.id,
                &pending.hashed_password,
                pending.full_name.as_deref(),
            )?
            .ok_or(FlowError::AlreadyRegistered)?,
        };
        PendingRegistration::delete_for(conn, self.email, self.user_type)?;
        Ok((flow, VerifiedOutcome::Registered(account)))
    }
}

/// Byte strings compared without an early exit.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
