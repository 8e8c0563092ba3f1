//! register: the end of the signup journey.
//!
//! With a signup token, the verified address gets an active account in one
//! transaction that also links the verification to it. Without one, the account
//! is created inactive and an activation code is queued for email; that path counts
//! against the same per-address limits as send-otp, since it sends email and
//! answers whether an address is registered.

use std::time::Duration;

use super::issue;
use super::{FlowError, Inner, password};
use crate::config::OtpPolicy;
use crate::courier::Outbox;
use crate::db::models::{Account, AccountRecord, NewAccount, NewOtp, SignupOtp};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, FullName, Locale, OtpCode, Password, UserType};
use crate::mail::{Email, EmailKind};

/// A request to register, validated. No `Debug`: it holds the password and the token.
pub struct Registration {
    pub email: EmailAddress,
    pub user_type: UserType,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub signup_token: Option<String>,
    /// The language of the activation email, when one is sent.
    pub locale: Locale,
}

/// The new account, and whether it still needs activating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Verified by its signup token: active now.
    Active(AccountRecord),
    /// Inactive until the emailed activation code is verified.
    PendingActivation {
        account: AccountRecord,
        expires_in: Duration,
        resend_after: Duration,
    },
}

pub(super) async fn register(
    inner: &Inner,
    registration: Registration,
) -> Result<Registered, FlowError> {
    let Registration {
        email,
        user_type,
        password,
        full_name,
        signup_token,
        locale,
    } = registration;
    let now = inner.clock.now();
    let result = match signup_token {
        Some(token) => {
            let proof = inner
                .tokens
                .check(&token, &email, user_type, now)
                .map_err(FlowError::InvalidSignupToken)?;
            reject_if_registered(inner, &email, user_type).await?;
            let hashed = hash(password).await?;
            let email = email.clone();
            db::run(&inner.pool, move |conn| {
                db::write_transaction(conn, |conn| {
                    let account = NewAccount {
                        user_type,
                        email: &email,
                        hashed_password: Some(&hashed),
                        full_name: full_name.as_ref().map(FullName::as_str),
                        is_active: true,
                        created_at: now,
                    }
                    .insert(conn)
                    .map_err(already_registered)?;
                    if !SignupOtp::link_verified(
                        conn,
                        &email,
                        user_type,
                        proof.verified_at,
                        account.id,
                    )? {
                        return Err(FlowError::InvalidSignupToken(super::TokenError::Superseded));
                    }
                    Ok(Registered::Active(account))
                })
            })
            .await
        }
        None => register_unverified(inner, &email, user_type, password, full_name, locale).await,
    };
    match &result {
        Ok(registered) => {
            let status = match registered {
                Registered::Active(_) => "active",
                Registered::PendingActivation { .. } => "pending_activation",
            };
            inner.events.record(
                "USER_REGISTERED",
                user_type,
                &email,
                &[("status", status)],
                "",
            );
        }
        Err(FlowError::InvalidSignupToken(reason)) => inner.events.record(
            "USER_REGISTRATION_FAILED",
            user_type,
            &email,
            &[("reason", "invalid_signup_token")],
            &format!("detail=\"{reason}\""),
        ),
        Err(FlowError::AlreadyRegistered) => inner.events.record(
            "USER_REGISTRATION_FAILED",
            user_type,
            &email,
            &[("reason", "already_registered")],
            "",
        ),
        Err(other) => issue::log_throttled(inner, other, user_type, &email),
    }
    result
}

/// Without a token: take a send from the address's limits and check it has no
/// account (one transaction, committed either way, so probing costs sends); then
/// hash the password; then create the inactive account, its activation code and
/// the code's email.
async fn register_unverified(
    inner: &Inner,
    email: &EmailAddress,
    user_type: UserType,
    password: Password,
    full_name: Option<FullName>,
    locale: Locale,
) -> Result<Registered, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let exists = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                issue::take_send_slot(conn, now, &policy, &email, user_type)?;
                Ok::<_, FlowError>(Account::find(conn, user_type, &email)?.is_some())
            })
        })
        .await?
    };
    if exists {
        return Err(FlowError::AlreadyRegistered);
    }

    let hashed = hash(password).await?;
    let code = OtpCode::generate(policy.length);
    let new = Unverified {
        email: email.clone(),
        user_type,
        hashed_password: hashed,
        full_name,
        code_hash: inner.hasher.hash(user_type, email, &code),
        code,
        locale,
    };
    let outbox = inner.outbox.clone();
    let account = db::run(&inner.pool, move |conn| {
        db::write_transaction(conn, |conn| new.create(conn, &outbox, now, &policy))
    })
    .await?;
    inner.outbox.wake();
    inner.events.record(
        "ACTIVATION_OTP_CREATED",
        user_type,
        email,
        &[("flow", "register")],
        "",
    );
    Ok(Registered::PendingActivation {
        account,
        expires_in: policy.ttl,
        resend_after: policy.resend_cooldown,
    })
}

/// An inactive account about to be created, with its activation code.
struct Unverified {
    email: EmailAddress,
    user_type: UserType,
    hashed_password: String,
    full_name: Option<FullName>,
    code: OtpCode,
    code_hash: Vec<u8>,
    locale: Locale,
}

impl Unverified {
    fn create(
        self,
        conn: &mut DbConnection,
        outbox: &Outbox,
        now: chrono::NaiveDateTime,
        policy: &OtpPolicy,
    ) -> Result<AccountRecord, FlowError> {
        let expires_at = now + policy.ttl;
        let account = NewAccount {
            user_type: self.user_type,
            email: &self.email,
            hashed_password: Some(&self.hashed_password),
            full_name: self.full_name.as_ref().map(FullName::as_str),
            is_active: false,
            created_at: now,
        }
        .insert(conn)
        .map_err(already_registered)?;
        SignupOtp::delete_unlinked_for(conn, &self.email, self.user_type)?;
        NewOtp::new(account.id, &self.code_hash, now, expires_at).upsert(conn)?;
        let message = Email {
            to: self.email,
            kind: EmailKind::ActivationCode {
                code: self.code,
                valid_for: policy.ttl,
            },
            locale: self.locale,
        };
        outbox.queue(conn, &message, self.user_type, now, expires_at)?;
        Ok(account)
    }
}

/// A cheap read before the expensive hash: most duplicate registrations end here.
/// The unique constraint still decides races.
async fn reject_if_registered(
    inner: &Inner,
    email: &EmailAddress,
    user_type: UserType,
) -> Result<(), FlowError> {
    let email = email.clone();
    let exists = db::run(&inner.pool, move |conn| {
        Account::find(conn, user_type, &email)
            .map(|account| account.is_some())
            .map_err(FlowError::from)
    })
    .await?;
    if exists {
        Err(FlowError::AlreadyRegistered)
    } else {
        Ok(())
    }
}

/// argon2id on the blocking pool: about 20 MiB and tens of milliseconds of CPU,
/// which must never run on an async worker.
async fn hash(password: Password) -> Result<String, FlowError> {
    actix_web::web::block(move || password::hash_password(&password))
        .await
        .map_err(|_| FlowError::Database(db::DbError::Task))?
        .map_err(FlowError::from)
}

fn already_registered(error: diesel::result::Error) -> FlowError {
    if db::is_unique_violation(&error) {
        FlowError::AlreadyRegistered
    } else {
        FlowError::from(error)
    }
}
