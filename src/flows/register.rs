//! register: the end of the signup journey.
//!
//! With a signup token, the verified address gets an active account in one
//! transaction that also links the verification to it. Without one, the account
//! is created inactive and an activation code is emailed; that path counts
//! against the same per-address limits as send-otp, since it sends email and
//! answers whether an address is registered.

use std::time::Duration;

use super::issue::{self, SendSlot};
use super::{FlowError, Inner, password};
use crate::events;
use crate::db::models::{Account, AccountRecord, NewAccount, NewOtp, SignupOtp};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, FullName, OtpCode, Password, UserType};
use crate::mail::EmailKind;

/// A request to register, validated. No `Debug`: it holds the password and the token.
pub struct Registration {
    pub email: EmailAddress,
    pub user_type: UserType,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub signup_token: Option<String>,
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
        None => register_unverified(inner, &email, user_type, password, full_name).await,
    };
    match &result {
        Ok(registered) => {
            let status = match registered {
                Registered::Active(_) => "active",
                Registered::PendingActivation { .. } => "pending_activation",
            };
            events::record(
                "USER_REGISTERED",
                user_type,
                &email,
                &format!("status={status}"),
            );
        }
        Err(FlowError::InvalidSignupToken(reason)) => events::record(
            "USER_REGISTRATION_FAILED",
            user_type,
            &email,
            &format!("reason=invalid_signup_token detail=\"{reason}\""),
        ),
        Err(FlowError::AlreadyRegistered) => events::record(
            "USER_REGISTRATION_FAILED",
            user_type,
            &email,
            "reason=already_registered",
        ),
        Err(other) => issue::log_throttled(other, user_type, &email),
    }
    result
}

/// Without a token: take a send from the address's limits and check it has no
/// account (one transaction, committed either way, so probing costs sends); then
/// hash the password; then create the inactive account and its activation code.
async fn register_unverified(
    inner: &Inner,
    email: &EmailAddress,
    user_type: UserType,
    password: Password,
    full_name: Option<FullName>,
) -> Result<Registered, FlowError> {
    let now = inner.clock.now();
    let policy = inner.policy;
    let slot = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                let slot = issue::take_send_slot(conn, now, &policy, &email, user_type)?;
                let exists = Account::find(conn, user_type, &email)?.is_some();
                Ok::<_, FlowError>((slot, exists))
            })
        })
        .await?
    };
    let slot: SendSlot = match slot {
        (_, true) => return Err(FlowError::AlreadyRegistered),
        (slot, false) => slot,
    };

    let hashed = hash(password).await?;
    let code = OtpCode::generate(policy.length);
    let code_hash = inner.hasher.hash(user_type, email, &code);
    let account = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                create_inactive(
                    conn,
                    now,
                    &policy,
                    &email,
                    user_type,
                    &hashed,
                    full_name.as_ref(),
                    &code_hash,
                )
            })
        })
        .await?
    };

    // The account exists whatever the mail transport says; if the email cannot go
    // out, the send is given back and send-otp delivers a new activation code.
    let kind = EmailKind::ActivationCode {
        code,
        valid_for: policy.ttl,
    };
    if issue::deliver(inner, email, user_type, kind, slot)
        .await
        .is_ok()
    {
        events::record("ACTIVATION_OTP_CREATED", user_type, email, "flow=register");
    }
    Ok(Registered::PendingActivation {
        account,
        expires_in: policy.ttl,
        resend_after: policy.resend_cooldown,
    })
}

#[allow(clippy::too_many_arguments)]
fn create_inactive(
    conn: &mut DbConnection,
    now: chrono::NaiveDateTime,
    policy: &crate::config::OtpPolicy,
    email: &EmailAddress,
    user_type: UserType,
    hashed_password: &str,
    full_name: Option<&FullName>,
    code_hash: &[u8],
) -> Result<AccountRecord, FlowError> {
    let account = NewAccount {
        user_type,
        email,
        hashed_password: Some(hashed_password),
        full_name: full_name.map(FullName::as_str),
        is_active: false,
        created_at: now,
    }
    .insert(conn)
    .map_err(already_registered)?;
    SignupOtp::delete_unlinked_for(conn, email, user_type)?;
    NewOtp::new(account.id, code_hash, now, now + policy.ttl).upsert(conn)?;
    Ok(account)
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
