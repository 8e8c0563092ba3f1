//! Codes are stored only as an HMAC-SHA256 under the service's secret, bound to
//! the identity they were issued for, and compared in constant time.
//!
//! A stored hash is `key id (4 bytes) ‖ HMAC`: the key id says which secret made
//! it, so that after a rotation (`OTP_SECRET_PREVIOUS`) a code is checked under
//! the key it was made with, and one made under a key the service no longer has
//! is known to be unreadable (treated as expired, never as a wrong guess).
//! Hashes from before key ids (32 bytes) are checked under every key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{EmailAddress, OtpCode, UserType};
use crate::keys::{KeySource, Keyring, Purpose};

type HmacSha256 = Hmac<Sha256>;

const KEY_ID_LEN: usize = 4;
const MAC_LEN: usize = 32;

/// What a submitted code is, against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Right,
    Wrong,
    /// Made under a key the service no longer holds: nobody can tell.
    Unreadable,
}

/// One key: its id and its HMAC schedule, computed once and cloned per use.
#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    keyed: HmacSha256,
}

impl Key {
    fn new(source: KeySource<'_>) -> Self {
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&source.key(Purpose::KeyId).expose()[..KEY_ID_LEN]);
        Self {
            id,
            keyed: source.key(Purpose::CodeHash).hmac(),
        }
    }

    /// HMAC(secret, user_type ‖ 0 ‖ email ‖ 0 ‖ code). Binding the identity means
    /// a hash copied to another row does not verify there.
    fn mac(&self, user_type: UserType, email: &EmailAddress, code: &OtpCode) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(user_type.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(email.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(code.expose().as_bytes());
        mac
    }
}

/// Hashes and checks codes under the keyring.
#[derive(Clone)]
pub struct OtpHasher {
    /// The current key first.
    keys: Vec<Key>,
}

impl OtpHasher {
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            keys: keyring.readers().map(Key::new).collect(),
        }
    }

    fn current(&self) -> &Key {
        &self.keys[0]
    }

    /// `key id ‖ HMAC` under the current key.
    pub fn hash(&self, user_type: UserType, email: &EmailAddress, code: &OtpCode) -> Vec<u8> {
        let key = self.current();
        let mut stored = key.id.to_vec();
        stored.extend_from_slice(&key.mac(user_type, email, code).finalize().into_bytes());
        stored
    }

    /// A stored hash that no code has: the current key id and 32 random bytes.
    /// An active account holds one, so that guesses against it are counted and
    /// refused exactly as against a real code (and none can ever be right).
    pub fn decoy(&self) -> Vec<u8> {
        use rand::TryRng;
        let mut random = [0u8; MAC_LEN];
        rand::rngs::SysRng
            .try_fill_bytes(&mut random)
            .expect("the operating system's random number generator failed");
        let mut stored = self.current().id.to_vec();
        stored.extend_from_slice(&random);
        stored
    }

    /// The same code's hash under every key held: what an earlier hash of it
    /// could be (import-redis remembers codes this way).
    pub fn hashes_under_every_key(
        &self,
        user_type: UserType,
        email: &EmailAddress,
        code: &OtpCode,
    ) -> Vec<Vec<u8>> {
        self.keys
            .iter()
            .map(|key| {
                let mut stored = key.id.to_vec();
                stored.extend_from_slice(&key.mac(user_type, email, code).finalize().into_bytes());
                stored
            })
            .collect()
    }

    /// The ids of the keys this hasher holds, 4 bytes each, current first: what
    /// a stored hash starts with.
    pub fn key_ids(&self) -> Vec<u8> {
        self.keys.iter().flat_map(|key| key.id).collect()
    }

    /// The code's MAC under each key, in [`OtpHasher::key_ids`]' order, each
    /// blinded as SHA-256(`blind` || MAC): for a database to compare with a stored
    /// MAC blinded the same way, so that no comparison ever runs on the MACs
    /// themselves.
    pub fn blinded_macs(
        &self,
        user_type: UserType,
        email: &EmailAddress,
        code: &OtpCode,
        blind: &[u8],
    ) -> Vec<u8> {
        use sha2::Digest;
        self.keys
            .iter()
            .flat_map(|key| {
                let mac = key.mac(user_type, email, code).finalize().into_bytes();
                let mut blinded = Sha256::new();
                blinded.update(blind);
                blinded.update(mac);
                blinded.finalize()
            })
            .collect()
    }

    /// Whether `code` is the one `stored` was made from; constant-time in the
    /// comparison. `code` is `None` for a submission that is not even shaped like
    /// a code: wrong, whatever is stored.
    pub fn check(
        &self,
        user_type: UserType,
        email: &EmailAddress,
        code: Option<&OtpCode>,
        stored: &[u8],
    ) -> CodeCheck {
        let candidates: Vec<(&Key, &[u8])> = match stored.len() {
            MAC_LEN => self.keys.iter().map(|key| (key, stored)).collect(),
            len if len == KEY_ID_LEN + MAC_LEN => {
                let (id, mac) = stored.split_at(KEY_ID_LEN);
                match self.keys.iter().find(|key| key.id == id) {
                    Some(key) => vec![(key, mac)],
                    None => return CodeCheck::Unreadable,
                }
            }
            _ => return CodeCheck::Unreadable,
        };
        let Some(code) = code else {
            return CodeCheck::Wrong;
        };
        let right = candidates.into_iter().fold(false, |right, (key, mac)| {
            key.mac(user_type, email, code).verify_slice(mac).is_ok() | right
        });
        if right {
            CodeCheck::Right
        } else {
            CodeCheck::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use hmac::KeyInit;

    use super::*;
    use crate::keys::OtpSecret;

    fn keyring(current: &str, previous: Option<&str>) -> Keyring {
        Keyring {
            current: OtpSecret::new(current.as_bytes().to_vec()),
            previous: previous.map(|key| OtpSecret::new(key.as_bytes().to_vec())),
        }
    }

    fn hasher(key: &str) -> OtpHasher {
        OtpHasher::new(&keyring(key, None))
    }

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap()
    }

    fn code(raw: &str) -> OtpCode {
        OtpCode::parse(raw, 6).unwrap()
    }

    fn check(
        hasher: &OtpHasher,
        user_type: UserType,
        to: &str,
        raw: &str,
        stored: &[u8],
    ) -> CodeCheck {
        hasher.check(user_type, &email(to), Some(&code(raw)), stored)
    }

    #[test]
    fn a_code_matches_its_own_hash_only() {
        let hasher = hasher("k");
        let stored = hasher.hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert_eq!(stored.len(), 36);
        assert_eq!(
            check(&hasher, UserType::Live, "a@example.com", "123456", &stored),
            CodeCheck::Right
        );
        assert_eq!(
            check(&hasher, UserType::Live, "a@example.com", "123457", &stored),
            CodeCheck::Wrong
        );
        assert_eq!(
            hasher.check(UserType::Live, &email("a@example.com"), None, &stored),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn the_hash_is_bound_to_the_identity() {
        let hasher = hasher("k");
        let stored = hasher.hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert_eq!(
            check(&hasher, UserType::Demo, "a@example.com", "123456", &stored),
            CodeCheck::Wrong
        );
        assert_eq!(
            check(&hasher, UserType::Live, "b@example.com", "123456", &stored),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn after_a_rotation_codes_of_the_previous_key_still_verify() {
        let before = hasher("old-key");
        let stored = before.hash(UserType::Live, &email("a@example.com"), &code("123456"));
        let rotated = OtpHasher::new(&keyring("new-key", Some("old-key")));
        assert_eq!(
            check(&rotated, UserType::Live, "a@example.com", "123456", &stored),
            CodeCheck::Right
        );
        assert_eq!(
            check(&rotated, UserType::Live, "a@example.com", "654321", &stored),
            CodeCheck::Wrong
        );
        let fresh = rotated.hash(UserType::Live, &email("a@example.com"), &code("123456"));
        let new_only = hasher("new-key");
        assert_eq!(
            fresh[..4],
            new_only.hash(UserType::Live, &email("b@example.com"), &code("000000"))[..4]
        );
        assert_eq!(
            check(&new_only, UserType::Live, "a@example.com", "123456", &fresh),
            CodeCheck::Right
        );
    }

    #[test]
    fn a_code_made_under_a_key_no_longer_held_is_unreadable_not_wrong() {
        let stored = hasher("gone").hash(UserType::Live, &email("a@example.com"), &code("123456"));
        let now = hasher("new-key");
        assert_eq!(
            check(&now, UserType::Live, "a@example.com", "123456", &stored),
            CodeCheck::Unreadable
        );
        assert_eq!(
            check(&now, UserType::Live, "a@example.com", "000000", &stored),
            CodeCheck::Unreadable
        );
    }

    #[test]
    fn hashes_from_before_key_ids_are_checked_under_every_key() {
        let legacy = {
            let mut mac = HmacSha256::new_from_slice(b"old-key").unwrap();
            mac.update(b"live\x00a@example.com\x00123456");
            mac.finalize().into_bytes().to_vec()
        };
        let rotated = OtpHasher::new(&keyring("new-key", Some("old-key")));
        assert_eq!(
            check(&rotated, UserType::Live, "a@example.com", "123456", &legacy),
            CodeCheck::Right
        );
        assert_eq!(
            check(&rotated, UserType::Live, "a@example.com", "123457", &legacy),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn a_code_hashed_before_keys_came_from_hkdf_still_verifies_and_new_ones_do_not_use_that_key() {
        // `key id ‖ HMAC` for live, ada@example.com, 123456, made by the
        // derivation before HKDF under this secret.
        const SECRET: &str = "legacy-fixture-secret-0123456789abcdef";
        const STORED: &str =
            "7a17a6edd0cd84ff005530d11fb6943e94d339600c6e0d0b3be72cbc771ea7899c7e9a1b";
        let stored: Vec<u8> = (0..STORED.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&STORED[i..i + 2], 16).unwrap())
            .collect();
        let hasher = hasher(SECRET);
        assert_eq!(
            check(
                &hasher,
                UserType::Live,
                "ada@example.com",
                "123456",
                &stored
            ),
            CodeCheck::Right
        );
        assert_eq!(
            check(
                &hasher,
                UserType::Live,
                "ada@example.com",
                "123457",
                &stored
            ),
            CodeCheck::Wrong
        );
        let fresh = hasher.hash(UserType::Live, &email("ada@example.com"), &code("123456"));
        assert_ne!(fresh, stored);
        assert_ne!(fresh[..KEY_ID_LEN], stored[..KEY_ID_LEN]);
    }

    #[test]
    fn the_hash_does_not_contain_the_code() {
        let stored = hasher("k").hash(UserType::Live, &email("a@example.com"), &code("123456"));
        assert!(!stored.windows(6).any(|w| w == b"123456"));
    }
}
