//! The cut-over from the Redis-based service: its signup codes, stored as
//! `signup_otp:{email}:{user_type}` → code with a TTL, become hashed rows in
//! `signup_otps` with the same expiry, so codes already in users' inboxes keep
//! working. Keys are streamed with SCAN (never KEYS), a batch at a time.
//!
//! The import never overrides the new service: an address it already holds
//! anything for (an account, a code, send limits, a lockout, a signup token, a
//! pending registration) keeps what it has; a (key, code) imported once is never
//! imported again, even after its row was used and cleaned up; and a key without
//! an expiry is skipped (the old service always set one, so it is not a code in
//! use).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::OtpHasher;
use crate::db::models::{Account, NewSignupOtp, RedisImport};
use crate::db::{self, DbConnection};
use crate::domain::{EmailAddress, OtpCode, UserType};

/// What became of each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Imported,
    /// The key expired before it could be read.
    SkippedExpired,
    /// The key has no expiry: not a code the old service had in use.
    SkippedNoExpiry,
    /// Not `{prefix}{email}:{user_type}` with a valid email.
    SkippedMalformedKey,
    SkippedBadUserType,
    /// The value is not a code of digits.
    SkippedMalformedCode,
    /// The service already holds state for the address (a code, send limits, a
    /// lockout, a signup token or a pending registration): it wins.
    SkippedHasState,
    /// This code for this address was imported by an earlier run.
    SkippedAlreadyImported,
    /// The address has an account now; a signup code is no use to it.
    SkippedAccountExists,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::SkippedExpired => "skipped: expired",
            Outcome::SkippedNoExpiry => "skipped: no expiry",
            Outcome::SkippedMalformedKey => "skipped: malformed key",
            Outcome::SkippedBadUserType => "skipped: bad user_type",
            Outcome::SkippedMalformedCode => "skipped: malformed code",
            Outcome::SkippedHasState => "skipped: the service already holds state for the address",
            Outcome::SkippedAlreadyImported => "skipped: imported before",
            Outcome::SkippedAccountExists => "skipped: account exists",
            Outcome::Failed => "failed",
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub counts: BTreeMap<Outcome, usize>,
    /// Keys deleted from Redis (with `--delete`: the imported ones).
    pub deleted: usize,
}

impl ImportReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }
}

pub struct ImportOptions {
    /// What every key starts with: `signup_otp:` in the old service.
    pub prefix: String,
    /// Delete each imported key from Redis.
    pub delete: bool,
    pub now: NaiveDateTime,
}

/// A key read from Redis, classified before anything is written.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Code {
        email: EmailAddress,
        user_type: UserType,
        code: OtpCode,
        expires_at: NaiveDateTime,
    },
    Skip(Outcome),
}

/// Classifies one key: its name, its value (`None` if gone) and its `PTTL`
/// (milliseconds; -1 no expiry; -2 gone).
pub fn parse(key: &str, value: Option<&str>, pttl_ms: i64, options: &ImportOptions) -> Parsed {
    let Some(rest) = key.strip_prefix(&options.prefix) else {
        return Parsed::Skip(Outcome::SkippedMalformedKey);
    };
    let Some((raw_email, raw_type)) = rest.rsplit_once(':') else {
        return Parsed::Skip(Outcome::SkippedMalformedKey);
    };
    let Ok(email) = EmailAddress::parse(raw_email) else {
        return Parsed::Skip(Outcome::SkippedMalformedKey);
    };
    let Ok(user_type) = raw_type.parse::<UserType>() else {
        return Parsed::Skip(Outcome::SkippedBadUserType);
    };
    let (Some(value), true) = (value, pttl_ms != -2) else {
        return Parsed::Skip(Outcome::SkippedExpired);
    };
    let lifetime = match pttl_ms {
        -1 => return Parsed::Skip(Outcome::SkippedNoExpiry),
        ms if ms > 0 => Duration::from_millis(ms.unsigned_abs()),
        _ => return Parsed::Skip(Outcome::SkippedExpired),
    };
    let trimmed = value.trim();
    let Some(code) = (4..=10)
        .contains(&trimmed.len())
        .then(|| OtpCode::parse(trimmed, trimmed.len()))
        .flatten()
    else {
        return Parsed::Skip(Outcome::SkippedMalformedCode);
    };
    Parsed::Code {
        email,
        user_type,
        code,
        expires_at: options.now + lifetime,
    }
}

/// Writes one parsed code, in its own transaction.
pub fn store(
    conn: &mut DbConnection,
    hasher: &OtpHasher,
    parsed: &Parsed,
    now: NaiveDateTime,
) -> Outcome {
    let Parsed::Code {
        email,
        user_type,
        code,
        expires_at,
    } = parsed
    else {
        return match parsed {
            Parsed::Skip(outcome) => *outcome,
            Parsed::Code { .. } => unreachable!(),
        };
    };
    let result = db::write_transaction(conn, |conn| {
        if Account::find(conn, *user_type, email)?.is_some() {
            return Ok(Outcome::SkippedAccountExists);
        }
        if holds_state(conn, email, *user_type)? {
            return Ok(Outcome::SkippedHasState);
        }
        if RedisImport::seen(
            conn,
            &hasher.hashes_under_every_key(*user_type, email, code),
        )? {
            return Ok(Outcome::SkippedAlreadyImported);
        }
        let hash = hasher.hash(*user_type, email, code);
        // A send that committed since the checks above wins: never replace a row.
        // Nobody holds an id for an imported code: every guess is anyone's.
        let new = NewSignupOtp::new(email, *user_type, &hash, None, now, *expires_at);
        if !new.insert_if_absent(conn)? {
            return Ok(Outcome::SkippedHasState);
        }
        RedisImport::remember(conn, &hash, now, *expires_at)?;
        Ok::<_, diesel::result::Error>(Outcome::Imported)
    });
    result.unwrap_or_else(|error| {
        log::warn!("import of a {user_type} code failed: {error}");
        Outcome::Failed
    })
}

/// Whether the service holds anything for the address besides an account.
fn holds_state(
    conn: &mut DbConnection,
    email: &EmailAddress,
    user_type: UserType,
) -> diesel::QueryResult<bool> {
    use crate::db::schema::{
        otp_send_limits, pending_registrations, signup_otps, signup_tokens, verify_lockouts,
    };
    use diesel::dsl::{exists, select};
    use diesel::prelude::*;
    let (email, mailbox, user_type) = (email.as_str(), email.mailbox(), user_type.as_str());
    type Check<'a> = &'a dyn Fn(&mut DbConnection) -> diesel::QueryResult<bool>;
    let checks: [Check; 5] = [
        &|conn| {
            select(exists(
                signup_otps::table
                    .filter(signup_otps::email.eq(email))
                    .filter(signup_otps::user_type.eq(user_type)),
            ))
            .get_result(conn)
        },
        &|conn| {
            select(exists(
                otp_send_limits::table
                    .filter(otp_send_limits::email.eq(&mailbox))
                    .filter(otp_send_limits::user_type.eq(user_type)),
            ))
            .get_result(conn)
        },
        &|conn| {
            select(exists(
                verify_lockouts::table
                    .filter(verify_lockouts::email.eq(email))
                    .filter(verify_lockouts::user_type.eq(user_type)),
            ))
            .get_result(conn)
        },
        &|conn| {
            select(exists(
                signup_tokens::table
                    .filter(signup_tokens::email.eq(email))
                    .filter(signup_tokens::user_type.eq(user_type)),
            ))
            .get_result(conn)
        },
        &|conn| {
            select(exists(
                pending_registrations::table
                    .filter(pending_registrations::email.eq(email))
                    .filter(pending_registrations::user_type.eq(user_type)),
            ))
            .get_result(conn)
        },
    ];
    for check in checks {
        if check(conn)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Streams every `{prefix}*` key from `redis` into the database.
pub fn import(
    conn: &mut DbConnection,
    redis: &mut redis::Connection,
    hasher: &OtpHasher,
    options: &ImportOptions,
) -> redis::RedisResult<ImportReport> {
    const BATCH: usize = 500;
    let pattern = format!("{}*", escape_glob(&options.prefix));
    let mut report = ImportReport::default();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query(redis)?;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
            }
            let replies: Vec<(Option<String>, i64)> = pipe.query(redis)?;
            let mut imported = Vec::new();
            for (key, (value, pttl)) in keys.iter().zip(replies) {
                let parsed = parse(key, value.as_deref(), pttl, options);
                let outcome = store(conn, hasher, &parsed, options.now);
                *report.counts.entry(outcome).or_default() += 1;
                if outcome == Outcome::Imported {
                    imported.push(key.clone());
                }
            }
            if options.delete && !imported.is_empty() {
                let deleted: usize = redis::cmd("DEL").arg(&imported).query(redis)?;
                report.deleted += deleted;
            }
        }
        if next == 0 {
            return Ok(report);
        }
        cursor = next;
    }
}

/// SCAN's MATCH is a glob: the prefix is matched literally.
fn escape_glob(prefix: &str) -> String {
    prefix
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::clock::{Clock, SystemClock};

    fn options() -> ImportOptions {
        ImportOptions {
            prefix: "signup_otp:".into(),
            delete: false,
            now: SystemClock.now(),
        }
    }

    #[test]
    fn a_well_formed_key_becomes_a_code_with_its_remaining_life() {
        let options = options();
        let parsed = parse(
            "signup_otp:Ada@Example.com:live",
            Some("042137"),
            90_000,
            &options,
        );
        assert_eq!(
            parsed,
            Parsed::Code {
                email: EmailAddress::parse("ada@example.com").unwrap(),
                user_type: UserType::Live,
                code: OtpCode::parse("042137", 6).unwrap(),
                expires_at: options.now + TimeDelta::seconds(90),
            }
        );
    }

    #[test]
    fn a_key_without_expiry_is_skipped() {
        assert_eq!(
            parse(
                "signup_otp:a@example.com:demo",
                Some("1234"),
                -1,
                &options()
            ),
            Parsed::Skip(Outcome::SkippedNoExpiry)
        );
    }

    #[test]
    fn every_kind_of_bad_key_is_classified() {
        let options = options();
        let cases = [
            (
                "signup_otp:a@example.com:live",
                None,
                -2,
                Outcome::SkippedExpired,
            ),
            (
                "signup_otp:a@example.com:live",
                Some("123456"),
                0,
                Outcome::SkippedExpired,
            ),
            (
                "signup_otp:no-user-type",
                Some("123456"),
                5000,
                Outcome::SkippedMalformedKey,
            ),
            (
                "signup_otp:not-an-email:live",
                Some("123456"),
                5000,
                Outcome::SkippedMalformedKey,
            ),
            (
                "other:a@example.com:live",
                Some("123456"),
                5000,
                Outcome::SkippedMalformedKey,
            ),
            (
                "signup_otp:a@example.com:paper",
                Some("123456"),
                5000,
                Outcome::SkippedBadUserType,
            ),
            (
                "signup_otp:a@example.com:live",
                Some("12ab56"),
                5000,
                Outcome::SkippedMalformedCode,
            ),
            (
                "signup_otp:a@example.com:live",
                Some("123"),
                5000,
                Outcome::SkippedMalformedCode,
            ),
        ];
        for (key, value, pttl, expected) in cases {
            assert_eq!(
                parse(key, value, pttl, &options),
                Parsed::Skip(expected),
                "{key} {value:?} {pttl}"
            );
        }
    }

    #[test]
    fn the_prefix_is_matched_literally() {
        assert_eq!(escape_glob("signup_otp:"), "signup_otp:");
        assert_eq!(escape_glob("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
