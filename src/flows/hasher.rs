//! Codes are stored only as an HMAC-SHA256 under the service's secret, bound to
//! the identity they were issued for, and compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::OtpSecret;
use crate::domain::{EmailAddress, OtpCode, UserType};

type HmacSha256 = Hmac<Sha256>;

/// Hashes and checks codes. The key schedule is computed once and cloned per use.
#[derive(Clone)]
pub struct OtpHasher {
    keyed: HmacSha256,
}

impl OtpHasher {
    pub fn new(secret: &OtpSecret) -> Self {
        Self {
            // HMAC takes keys of any length; this cannot fail.
            keyed: HmacSha256::new_from_slice(secret.expose())
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// HMAC(secret, user_type ‖ 0 ‖ email ‖ 0 ‖ code). Binding the identity means a
    /// hash copied to another row does not verify there.
    fn mac(&self, user_type: UserType, email: &EmailAddress, code: &OtpCode) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(user_type.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(email.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(code.expose().as_bytes());
        mac
    }

    pub fn hash(&self, user_type: UserType, email: &EmailAddress, code: &OtpCode) -> Vec<u8> {
        self.mac(user_type, email, code)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// Whether `code` is the one `stored` was made from; constant-time.
    pub fn matches(
        &self,
        user_type: UserType,
        email: &EmailAddress,
        code: &OtpCode,
        stored: &[u8],
    ) -> bool {
        self.mac(user_type, email, code)
            .verify_slice(stored)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(key: &str) -> OtpHasher {
        OtpHasher::new(&OtpSecret::new(key.as_bytes().to_vec()))
    }

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap()
    }

    fn code(raw: &str) -> OtpCode {
        OtpCode::parse(raw, 6).unwrap()
    }

    #[test]
    fn a_code_matches_its_own_hash_only() {
        let hasher = hasher("k");
        let stored = hasher.hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert_eq!(stored.len(), 32);
        assert!(hasher.matches(
            UserType::Live,
            &email("a@example.com"),
            &code("123456"),
            &stored
        ));
        assert!(!hasher.matches(
            UserType::Live,
            &email("a@example.com"),
            &code("123457"),
            &stored
        ));
    }

    #[test]
    fn the_hash_is_bound_to_the_identity_and_the_key() {
        let stored = hasher("k").hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert!(!hasher("k").matches(
            UserType::Demo,
            &email("a@example.com"),
            &code("123456"),
            &stored
        ));
        assert!(!hasher("k").matches(
            UserType::Live,
            &email("b@example.com"),
            &code("123456"),
            &stored
        ));
        assert!(!hasher("other").matches(
            UserType::Live,
            &email("a@example.com"),
            &code("123456"),
            &stored
        ));
    }

    #[test]
    fn the_hash_does_not_contain_the_code() {
        let stored = hasher("k").hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert!(!stored.windows(6).any(|w| w == b"123456"));
    }
}
