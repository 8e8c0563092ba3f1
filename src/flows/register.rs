//! register: the end of the signup journey.
//!
//! With a signup token (proof that the caller read a code sent to the address),
//! the account is created active with the password given, in one transaction that
//! uses the token up; an inactive account (one registered before, or imported) is
//! activated and its password replaced, since nobody had proven the old one.
//!
//! Without a token nothing is created: the call is a send-otp that keeps the
//! password hash, under a fresh registration_id, for a verify-otp that brings the
//! right code and that registration_id back. Its answer is the same for every
//! address, whether it has no account, an inactive one or an active one, and so
//! is its cost: the password is hashed in every case.

use std::time::Duration;

use super::issue::{self, Issue};
use super::token::Opaque;
use super::{FlowError, Inner, TokenError};
use crate::db::models::{
    Account, AccountId, AccountRecord, NewAccount, Otp, PendingRegistration, SignupOtp, SignupToken,
};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, FullName, Locale, OtpCode, Password, Requester, UserType};

/// A request to register, validated. No `Debug`: it holds the password and the token.
pub struct Registration {
    pub email: EmailAddress,
    pub user_type: UserType,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub signup_token: Option<String>,
    /// The language of the email, when one is sent.
    pub locale: Locale,
    pub requester: Requester,
}

/// What register did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Proven by its signup token: the account is active now.
    Active(AccountRecord),
    /// A code is on its way; verify-otp with it and `registration_id` finishes
    /// the registration.
    Pending {
        registration_id: String,
        expires_in: Duration,
        resend_after: Duration,
    },
}

pub(super) async fn register(
    inner: &Inner,
    registration: Registration,
) -> Result<Registered, FlowError> {
    let (email, user_type) = (registration.email.clone(), registration.user_type);
    let result = match registration.signup_token {
        Some(ref token) => {
            let token_hash = Opaque::hash_of(token).map_err(FlowError::InvalidSignupToken)?;
            with_token(inner, registration, token_hash).await
        }
        None => without_token(inner, registration).await,
    };
    match &result {
        Ok(registered) => {
            let status = match registered {
                Registered::Active(_) => "active",
                Registered::Pending { .. } => "pending_verification",
            };
            inner.events.record(
                "USER_REGISTERED",
                user_type,
                &email,
                &[("status", status), ("via", "register")],
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
        Err(_) => {}
    }
    result
}

/// The token is checked before the expensive hash (a read), and taken in the
/// transaction that creates the account, so of concurrent registers with one
/// token exactly one succeeds.
async fn with_token(
    inner: &Inner,
    registration: Registration,
    token_hash: [u8; 32],
) -> Result<Registered, FlowError> {
    let Registration {
        email,
        user_type,
        password,
        full_name,
        ..
    } = registration;
    let now = inner.clock.now();
    let active = {
        let email = email.clone();
        db::run(&inner.pool, move |conn| {
            let (good, active) = match conn {
                DbConnection::Pg(conn) => {
                    let row = db::functions::check_token(
                        conn,
                        &token_hash,
                        email.as_str(),
                        user_type.as_str(),
                        now,
                    )?;
                    (row.good, row.active)
                }
                conn => (
                    SignupToken::is_good(conn, &token_hash, &email, user_type, now)?,
                    Account::find(conn, user_type, &email)?.is_some_and(|a| a.is_active),
                ),
            };
            if !good {
                return Err(FlowError::InvalidSignupToken(TokenError::Unknown));
            }
            Ok(active)
        })
        .await?
    };
    // Only a holder of a good token learns that the address is registered.
    if active {
        return Err(FlowError::AlreadyRegistered);
    }
    let hashed = inner.passwords.hash(password).await?;
    let account = db::run(&inner.pool, move |conn| {
        let conn = match conn {
            DbConnection::Pg(conn) => {
                let full_name = full_name.as_ref().map(FullName::as_str);
                return register_in_one_statement(
                    conn,
                    &token_hash,
                    &email,
                    user_type,
                    now,
                    &hashed,
                    full_name,
                );
            }
            conn => conn,
        };
        db::write_transaction(conn, |conn| {
            let Some(verified_at) = SignupToken::take(conn, &token_hash, &email, user_type, now)?
            else {
                return Err(FlowError::InvalidSignupToken(TokenError::Unknown));
            };
            let full_name = full_name.as_ref().map(FullName::as_str);
            let account = create_or_activate(conn, &email, user_type, &hashed, full_name, now)?;
            SignupOtp::link_account(conn, &email, user_type, verified_at, account.id)?;
            Ok(account)
        })
    })
    .await?;
    Ok(Registered::Active(account))
}

/// A new active account, or the inactive one activated with the new password.
/// Register with a token as one statement on PostgreSQL (`signup_otp_register`,
/// the same steps as the transaction in [`with_token`]).
fn register_in_one_statement(
    conn: &mut diesel::PgConnection,
    token_hash: &[u8],
    email: &EmailAddress,
    user_type: UserType,
    now: chrono::NaiveDateTime,
    hashed: &str,
    full_name: Option<&str>,
) -> Result<AccountRecord, FlowError> {
    let row = db::functions::register(
        conn,
        token_hash,
        email.as_str(),
        user_type.as_str(),
        now,
        hashed,
        full_name,
    )
    .map_err(already_registered)?;
    match (row.outcome.as_str(), row.account_id, row.account_created_at) {
        ("registered", Some(id), Some(created_at)) => Ok(AccountRecord {
            id: match user_type {
                UserType::Live => AccountId::Live(id),
                UserType::Demo => AccountId::Demo(id),
            },
            email: row
                .account_email
                .unwrap_or_else(|| email.as_str().to_owned()),
            full_name: row.account_full_name,
            is_active: true,
            created_at,
        }),
        _ => Err(FlowError::InvalidSignupToken(TokenError::Unknown)),
    }
}

fn create_or_activate(
    conn: &mut DbConnection,
    email: &EmailAddress,
    user_type: UserType,
    hashed: &str,
    full_name: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<AccountRecord, FlowError> {
    let account = match Account::find(conn, user_type, email)? {
        Some(account) if account.is_active => return Err(FlowError::AlreadyRegistered),
        Some(account) => {
            let activated = Account::activate_with_password(conn, account.id, hashed, full_name)?
                .ok_or(FlowError::AlreadyRegistered)?;
            Otp::delete_for(conn, account.id)?;
            activated
        }
        None => NewAccount {
            user_type,
            email,
            hashed_password: Some(hashed),
            full_name,
            is_active: true,
            created_at: now,
        }
        .insert(conn)
        .map_err(already_registered)?,
    };
    PendingRegistration::delete_for(conn, email, user_type)?;
    Ok(account)
}

/// Without a token: a send, with the registration kept for the verify that
/// brings the code and the registration_id back.
async fn without_token(inner: &Inner, registration: Registration) -> Result<Registered, FlowError> {
    let Registration {
        email,
        user_type,
        password,
        full_name,
        locale,
        requester,
        ..
    } = registration;
    let now = inner.clock.now();
    let policy = inner.policy;
    // A refused send costs no hash; the real check is in the send's transaction.
    {
        let (email, requester) = (email.clone(), requester.clone());
        db::run(&inner.pool, move |conn| {
            issue::check_send_slot(conn, now, &policy, &email, user_type, &requester)
        })
        .await
    }
    .inspect_err(|error| issue::log_throttled(inner, error, user_type, &email))?;
    let hashed = inner.passwords.hash(password).await?;
    let registration_id = Opaque::generate();
    let pending = PendingRegistration {
        registration_hash: registration_id.hash().to_vec(),
        email: email.as_str().to_owned(),
        user_type: user_type.as_str().to_owned(),
        hashed_password: hashed,
        full_name: full_name.as_ref().map(|name| name.as_str().to_owned()),
        created_at: now,
        expires_at: now + policy.ttl,
    };
    issue::issue(
        inner,
        Issue {
            email: &email,
            user_type,
            requester: &requester,
            code: OtpCode::generate(policy.length),
            locale,
            pending: Some(pending),
            // The registration_id is also the code's verification id.
            verification_hash: registration_id.hash(),
            via: "register",
        },
    )
    .await?;
    Ok(Registered::Pending {
        registration_id: registration_id.expose().to_owned(),
        expires_in: policy.ttl,
        resend_after: policy.resend_cooldown,
    })
}

pub(super) fn already_registered(error: diesel::result::Error) -> FlowError {
    if db::is_unique_violation(&error) {
        FlowError::AlreadyRegistered
    } else {
        FlowError::from(error)
    }
}
