//! Sealing stored secrets (outbox payloads, stored idempotent responses):
//! XChaCha20-Poly1305 under a key derived from `OTP_SECRET` for one purpose, a
//! fresh random 192-bit nonce per message, and the row's identity as associated
//! data (so a payload moved to another row does not open). After a rotation
//! (`OTP_SECRET_PREVIOUS`) a payload sealed under the previous key still opens.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Keyring, OtpSecret};

/// Format version, first byte of every sealed payload.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_PURPOSE: &[u8] = b"signup-otp/email-outbox/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payload cannot be opened (wrong key, altered, or not a sealed payload)")]
pub struct OpenError;

#[derive(Clone)]
pub struct Sealer {
    /// One per key of the keyring, the current one first.
    ciphers: Vec<XChaCha20Poly1305>,
}

impl Sealer {
    /// The outbox's sealer.
    pub fn new(keyring: &Keyring) -> Self {
        Self::for_purpose(keyring, KEY_PURPOSE)
    }

    /// A sealer whose keys, derived from the keyring's, serve `purpose` alone.
    pub fn for_purpose(keyring: &Keyring, purpose: &[u8]) -> Self {
        Self {
            ciphers: keyring
                .keys()
                .map(|secret| cipher(secret, purpose))
                .collect(),
        }
    }

    /// `VERSION ‖ nonce ‖ ciphertext+tag`.
    pub fn seal(&self, associated: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let ciphertext = self.ciphers[0]
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
        self.ciphers
            .iter()
            .find_map(|cipher| {
                cipher
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: ciphertext,
                            aad: associated,
                        },
                    )
                    .ok()
            })
            .ok_or(OpenError)
    }
}

fn cipher(secret: &OtpSecret, purpose: &[u8]) -> XChaCha20Poly1305 {
    let mut derive =
        <Hmac<Sha256>>::new_from_slice(secret.expose()).expect("HMAC accepts keys of any length");
    derive.update(purpose);
    let key: [u8; 32] = derive.finalize().into_bytes().into();
    XChaCha20Poly1305::new(&Key::from(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&Keyring::new(OtpSecret::new(key.as_bytes().to_vec())))
    }

    #[test]
    fn after_a_rotation_payloads_of_the_previous_key_still_open() {
        let sealed = sealer("old").seal(b"row", b"code 123456");
        let rotated = Sealer::new(&Keyring {
            current: OtpSecret::new(b"new".to_vec()),
            previous: Some(OtpSecret::new(b"old".to_vec())),
        });
        assert_eq!(rotated.open(b"row", &sealed).unwrap(), b"code 123456");
        let resealed = rotated.seal(b"row", b"code 123456");
        assert_eq!(
            sealer("new").open(b"row", &resealed).unwrap(),
            b"code 123456"
        );
        assert_eq!(sealer("old").open(b"row", &resealed), Err(OpenError));
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
