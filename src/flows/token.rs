//! Signup tokens: what verify-otp hands a new address as proof that it was
//! verified, and the only proof register accepts.
//!
//! A token is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, the
//! key derived from `OTP_SECRET` for this one purpose. The payload binds the
//! token to the normalised email, the user_type, the moment of verification (so
//! that the verification row must still be the one the token was made for) and an
//! expiry. Clients treat it as opaque.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::OtpSecret;
use crate::domain::{EmailAddress, UserType};

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "st1";
/// Separates this key from every other use of `OTP_SECRET`.
const KEY_PURPOSE: &[u8] = b"signup-otp/signup-token/v1";

/// Why a token was refused. Clients see one answer; the log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("issued for another email or user type")]
    WrongIdentity,
    /// Valid, but its verification was replaced by a newer code or already used.
    #[error("superseded or already used")]
    Superseded,
}

/// Issues and checks signup tokens.
#[derive(Clone)]
pub struct SignupTokens {
    keyed: HmacSha256,
    ttl: Duration,
}

/// What a valid token proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAddress {
    pub verified_at: NaiveDateTime,
}

impl SignupTokens {
    pub fn new(secret: &OtpSecret, ttl: Duration) -> Self {
        let mut derive =
            HmacSha256::new_from_slice(secret.expose()).expect("HMAC accepts keys of any length");
        derive.update(KEY_PURPOSE);
        let key = derive.finalize().into_bytes();
        Self {
            keyed: HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length"),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `email` and `user_type`, verified at `verified_at`, valid for the TTL.
    pub fn issue(
        &self,
        email: &EmailAddress,
        user_type: UserType,
        verified_at: NaiveDateTime,
    ) -> String {
        let verified_micros = verified_at.and_utc().timestamp_micros();
        let expires = verified_at.and_utc().timestamp()
            + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let payload = format!("{VERSION}|{user_type}|{verified_micros}|{expires}|{email}");
        let signature = self.sign(payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// Checks `token` for `email` and `user_type` at `now`.
    pub fn check(
        &self,
        token: &str,
        email: &EmailAddress,
        user_type: UserType,
        now: NaiveDateTime,
    ) -> Result<VerifiedAddress, TokenError> {
        let (payload, signature) = token.trim().split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.keyed.clone();
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;

        // Signed by us: the fields are ours, but read them defensively anyway.
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut fields = payload.splitn(5, '|');
        let (Some(VERSION), Some(token_type), Some(verified), Some(expires), Some(token_email)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        let verified_at = verified
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or(TokenError::Malformed)?
            .naive_utc();
        if now.and_utc().timestamp() >= expires {
            return Err(TokenError::Expired);
        }
        if token_type != user_type.as_str() || token_email != email.as_str() {
            return Err(TokenError::WrongIdentity);
        }
        Ok(VerifiedAddress { verified_at })
    }

    fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::clock::{Clock, SystemClock};

    fn tokens(key: &str) -> SignupTokens {
        SignupTokens::new(
            &OtpSecret::new(key.as_bytes().to_vec()),
            Duration::from_secs(900),
        )
    }

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap()
    }

    #[test]
    fn a_token_proves_its_own_verification() {
        let now = SystemClock.now();
        let token = tokens("k").issue(&email("a@example.com"), UserType::Live, now);
        let proof = tokens("k").check(&token, &email("a@example.com"), UserType::Live, now);
        assert_eq!(proof, Ok(VerifiedAddress { verified_at: now }));
    }

    #[test]
    fn a_token_is_refused_for_another_identity() {
        let now = SystemClock.now();
        let token = tokens("k").issue(&email("a@example.com"), UserType::Live, now);
        assert_eq!(
            tokens("k").check(&token, &email("b@example.com"), UserType::Live, now),
            Err(TokenError::WrongIdentity)
        );
        assert_eq!(
            tokens("k").check(&token, &email("a@example.com"), UserType::Demo, now),
            Err(TokenError::WrongIdentity)
        );
    }

    #[test]
    fn a_token_expires_after_its_ttl() {
        let now = SystemClock.now();
        let token = tokens("k").issue(&email("a@example.com"), UserType::Live, now);
        let check = |at| tokens("k").check(&token, &email("a@example.com"), UserType::Live, at);
        assert!(check(now + TimeDelta::seconds(899)).is_ok());
        assert_eq!(
            check(now + TimeDelta::seconds(900)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let now = SystemClock.now();
        let token = tokens("k").issue(&email("a@example.com"), UserType::Live, now);
        let (payload, signature) = token.split_once('.').unwrap();
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(decoded.replace("|live|", "|demo|"));
        let check =
            |t: &str, user_type| tokens("k").check(t, &email("a@example.com"), user_type, now);

        assert_eq!(
            check(&format!("{forged}.{signature}"), UserType::Demo),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            tokens("other").check(&token, &email("a@example.com"), UserType::Live, now),
            Err(TokenError::BadSignature)
        );
        for garbage in ["", "abc", "a.b", "!!!.???", &format!("{payload}.")] {
            assert!(check(garbage, UserType::Live).is_err(), "{garbage:?}");
        }
    }
}
