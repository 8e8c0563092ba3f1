//! The service's keys. `OTP_SECRET` (and, after a rotation, the secret before
//! it) is held in a [`secrecy`] box, so it cannot reach a `Debug` line or a log
//! by accident, and every key the service uses is derived from it here, by
//! HKDF-SHA256 (RFC 5869) with one label per [`Purpose`]: a key made for one use
//! says nothing about the key of another.
//!
//! Before HKDF, keys were derived as HMAC-SHA256(secret, label) and codes were
//! hashed under the secret itself. Those keys are still derived, for reading
//! only, so that a code, a queued email or a stored answer made before an
//! upgrade works until it expires; nothing new is made with them.

mod seal;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

pub use seal::{OpenError, Sealer};

/// Random bytes an `OTP_SECRET` must carry at least; also the size of a key
/// made for a trial run.
pub const MIN_SECRET_BYTES: usize = 32;

/// Bytes of a derived key.
const KEY_LEN: usize = 32;

/// What a derived key is for. Each purpose has its own label, so its keys are
/// independent of every other purpose's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The HMAC key a code is hashed under.
    CodeHash,
    /// Names the secret a stored hash was made with (its first bytes, not a key).
    KeyId,
    /// Seals the emails waiting in the outbox.
    EmailOutbox,
    /// Seals the responses kept for `Idempotency-Key` replays.
    IdempotencyResponse,
    /// Keys the fingerprint that tells a replay's body from another.
    IdempotencyFingerprint,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::CodeHash => b"signup-otp/code-hash/v2",
            Purpose::KeyId => b"signup-otp/key-id/v2",
            Purpose::EmailOutbox => b"signup-otp/email-outbox/v2",
            Purpose::IdempotencyResponse => b"signup-otp/idempotency-response/v2",
            Purpose::IdempotencyFingerprint => b"signup-otp/idempotency-fingerprint/v2",
        }
    }

    /// The label of the derivation before HKDF; `None` where the secret itself
    /// was the key.
    fn legacy_label(self) -> Option<&'static [u8]> {
        match self {
            Purpose::CodeHash => None,
            Purpose::KeyId => Some(b"signup-otp/key-id/v1"),
            Purpose::EmailOutbox => Some(b"signup-otp/email-outbox/v1"),
            Purpose::IdempotencyResponse => Some(b"signup-otp/idempotency-response/v1"),
            Purpose::IdempotencyFingerprint => Some(b"signup-otp/idempotency-fingerprint/v1"),
        }
    }
}

/// `OTP_SECRET`'s bytes. `Debug` shows nothing of them, and they are wiped
/// from memory when dropped.
#[derive(Clone)]
pub struct OtpSecret(SecretSlice<u8>);

impl OtpSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(SecretSlice::from(bytes.into()))
    }

    /// A random key for this process only.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; MIN_SECRET_BYTES];
        // Start-up: without OS entropy there is nothing sensible to run.
        SysRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Self::new(bytes)
    }
}

/// Whether two settings hold the same secret (start-up only, so not constant-time).
impl PartialEq for OtpSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for OtpSecret {}

impl std::fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpSecret(<redacted>)")
    }
}

/// A key derived for one purpose. Like the secret, never shown and wiped on drop.
#[derive(Clone)]
pub struct DerivedKey(SecretSlice<u8>);

impl DerivedKey {
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// An HMAC-SHA256 keyed with this key.
    pub fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256>>::new_from_slice(self.expose()).expect("HMAC accepts keys of any length")
    }
}

/// How a [`KeySource`] turns its secret into keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Derivation {
    Hkdf,
    /// Read-only: see the module's documentation.
    Legacy,
}

/// One secret under one derivation: where every key of one generation comes from.
#[derive(Clone, Copy)]
pub struct KeySource<'a> {
    secret: &'a OtpSecret,
    derivation: Derivation,
}

impl KeySource<'_> {
    /// The key for `purpose`.
    pub fn key(&self, purpose: Purpose) -> DerivedKey {
        let secret = self.secret.0.expose_secret();
        let bytes = match (self.derivation, purpose.legacy_label()) {
            (Derivation::Hkdf, _) => {
                let mut okm = vec![0u8; KEY_LEN];
                Hkdf::<Sha256>::new(None, secret)
                    .expand(purpose.label(), &mut okm)
                    // 32 bytes is far below HKDF-SHA256's limit of 8160.
                    .expect("HKDF-SHA256 yields 32 bytes");
                okm
            }
            (Derivation::Legacy, Some(label)) => {
                let mut mac = <Hmac<Sha256>>::new_from_slice(secret)
                    .expect("HMAC accepts keys of any length");
                mac.update(label);
                mac.finalize().into_bytes().to_vec()
            }
            (Derivation::Legacy, None) => secret.to_vec(),
        };
        DerivedKey(SecretSlice::from(bytes))
    }
}

/// The secrets in use: the current one, which makes everything new, and the one
/// before it, which is still read. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Keyring {
    pub current: OtpSecret,
    pub previous: Option<OtpSecret>,
}

impl Keyring {
    pub fn new(current: OtpSecret) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// Where everything new is made from: the current secret, by HKDF.
    pub fn writer(&self) -> KeySource<'_> {
        KeySource {
            secret: &self.current,
            derivation: Derivation::Hkdf,
        }
    }

    /// Everything that may have made what is stored, [`writer`](Self::writer)
    /// first: each secret by HKDF, then by the derivation before it.
    pub fn readers(&self) -> impl Iterator<Item = KeySource<'_>> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .flat_map(|secret| {
                [Derivation::Hkdf, Derivation::Legacy]
                    .map(|derivation| KeySource { secret, derivation })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(OtpSecret::new(
            b"a-secret-of-thirty-two-bytes-or-more".to_vec(),
        ))
    }

    #[test]
    fn each_purpose_has_its_own_key() {
        let keyring = keyring();
        let purposes = [
            Purpose::CodeHash,
            Purpose::KeyId,
            Purpose::EmailOutbox,
            Purpose::IdempotencyResponse,
            Purpose::IdempotencyFingerprint,
        ];
        let keys: std::collections::HashSet<Vec<u8>> = purposes
            .iter()
            .flat_map(|&purpose| {
                keyring
                    .readers()
                    .map(move |s| s.key(purpose).expose().to_vec())
            })
            .collect();
        assert_eq!(keys.len(), purposes.len() * 2);
    }

    #[test]
    fn keys_are_hkdf_sha256_of_the_secret_with_the_purpose_as_info() {
        // RFC 5869 with no salt: PRK = HMAC(zeros, secret), OKM = HMAC(PRK, info ‖ 1).
        let secret = b"a-secret-of-thirty-two-bytes-or-more";
        let mut extract = <Hmac<Sha256>>::new_from_slice(&[0u8; 32]).unwrap();
        extract.update(secret);
        let prk = extract.finalize().into_bytes();
        let mut expand = <Hmac<Sha256>>::new_from_slice(&prk).unwrap();
        expand.update(b"signup-otp/email-outbox/v2");
        expand.update(&[1]);
        let expected = expand.finalize().into_bytes();
        assert_eq!(
            keyring().writer().key(Purpose::EmailOutbox).expose(),
            expected.as_slice()
        );
    }

    #[test]
    fn the_writer_is_the_first_reader_and_the_previous_secret_is_read_after_the_current() {
        let rotated = Keyring {
            current: OtpSecret::new(b"new".to_vec()),
            previous: Some(OtpSecret::new(b"old".to_vec())),
        };
        let readers: Vec<_> = rotated
            .readers()
            .map(|source| source.key(Purpose::KeyId).expose().to_vec())
            .collect();
        assert_eq!(readers.len(), 4);
        assert_eq!(readers[0], rotated.writer().key(Purpose::KeyId).expose());
        let old = Keyring::new(OtpSecret::new(b"old".to_vec()));
        assert_eq!(readers[2], old.writer().key(Purpose::KeyId).expose());
    }

    #[test]
    fn the_derivation_before_hkdf_is_reproduced_for_reading() {
        // An idempotency fingerprint of route `/route` and body `{}`, made by the
        // derivation before HKDF under this secret.
        const SECRET: &[u8] = b"legacy-fixture-secret-0123456789abcdef";
        const FINGERPRINT: &str =
            "e4c21cacec057e1df71165d051f68cac4c04713d9d635aa8402411219139365d";
        let keyring = Keyring::new(OtpSecret::new(SECRET));
        let fingerprints: Vec<String> = keyring
            .readers()
            .map(|source| {
                let mut mac = source.key(Purpose::IdempotencyFingerprint).hmac();
                mac.update(b"/route\0{}");
                mac.finalize()
                    .into_bytes()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(fingerprints.len(), 2);
        assert_ne!(
            fingerprints[0], FINGERPRINT,
            "new fingerprints use the HKDF key"
        );
        assert_eq!(fingerprints[1], FINGERPRINT);
    }

    #[test]
    fn neither_the_secret_nor_a_key_shows_in_debug() {
        let keyring = keyring();
        let shown = format!("{keyring:?}");
        assert!(!shown.contains("thirty-two"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
