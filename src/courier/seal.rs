//! Sealing stored secrets (outbox payloads, stored idempotent responses):
//! XChaCha20-Poly1305 under a key derived from `OTP_SECRET` for one purpose, a
//! fresh random 192-bit nonce per message, and the row's identity as associated
//! data (so a payload moved to another row does not open).

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::OtpSecret;

/// Format version, first byte of every sealed payload.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_PURPOSE: &[u8] = b"signup-otp/email-outbox/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payload cannot be opened (wrong key, altered, or not a sealed payload)")]
pub struct OpenError;

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// The outbox's sealer.
    pub fn new(secret: &OtpSecret) -> Self {
        Self::for_purpose(secret, KEY_PURPOSE)
    }

    /// A sealer whose key, derived from `secret`, serves `purpose` alone.
    pub fn for_purpose(secret: &OtpSecret, purpose: &[u8]) -> Self {
        let mut derive = <Hmac<Sha256>>::new_from_slice(secret.expose())
            .expect("HMAC accepts keys of any length");
        derive.update(purpose);
        let key: [u8; 32] = derive.finalize().into_bytes().into();
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// `VERSION ‖ nonce ‖ ciphertext+tag`.
    pub fn seal(&self, associated: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            // Only fails for messages beyond 256 GiB.
            .expect("XChaCha20-Poly1305 encrypts any realistic message");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, associated: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let rest = sealed
            .strip_prefix(&[VERSION])
            .filter(|rest| rest.len() > NONCE_LEN)
            .ok_or(OpenError)?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&OtpSecret::new(key.as_bytes().to_vec()))
    }

    #[test]
    fn a_sealed_payload_opens_with_the_same_key_and_identity() {
        let sealed = sealer("k").seal(b"row", b"code 123456");
        assert_eq!(sealer("k").open(b"row", &sealed).unwrap(), b"code 123456");
    }

    #[test]
    fn the_plaintext_does_not_show_and_nonces_differ() {
        let first = sealer("k").seal(b"row", b"code 123456");
        let second = sealer("k").seal(b"row", b"code 123456");
        assert!(!first.windows(6).any(|w| w == b"123456"));
        assert_ne!(first, second);
    }

    #[test]
    fn another_key_identity_or_any_altered_byte_does_not_open() {
        let sealed = sealer("k").seal(b"row", b"code 123456");
        assert_eq!(sealer("other").open(b"row", &sealed), Err(OpenError));
        assert_eq!(sealer("k").open(b"another row", &sealed), Err(OpenError));
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(
                sealer("k").open(b"row", &altered),
                Err(OpenError),
                "byte {i}"
            );
        }
        assert_eq!(sealer("k").open(b"row", b""), Err(OpenError));
    }
}
