//! Sealing stored secrets (outbox payloads, stored idempotent responses):
//! XChaCha20-Poly1305 under a key derived for one [`Purpose`], a fresh random
//! 192-bit nonce per message, and the row's identity as associated data (so a
//! payload moved to another row does not open). After a rotation
//! (`OTP_SECRET_PREVIOUS`) a payload sealed under the previous key still opens.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::{Keyring, Purpose};

/// Format version, first byte of every sealed payload.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payload cannot be opened (wrong key, altered, or not a sealed payload)")]
pub struct OpenError;

#[derive(Clone)]
pub struct Sealer {
    /// One per reader of the keyring, the writer first.
    ciphers: Vec<XChaCha20Poly1305>,
}

impl Sealer {
    /// A sealer whose keys serve `purpose` alone.
    pub fn new(keyring: &Keyring, purpose: Purpose) -> Self {
        Self {
            ciphers: keyring
                .readers()
                .map(|source| {
                    XChaCha20Poly1305::new_from_slice(source.key(purpose).expose())
                        .expect("derived keys are 32 bytes")
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OtpSecret;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(
            &Keyring::new(OtpSecret::new(key.as_bytes().to_vec())),
            Purpose::EmailOutbox,
        )
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn payloads_sealed_before_keys_came_from_hkdf_still_open_for_their_purpose_alone() {
        // Sealed by the derivation before HKDF, under this secret.
        const SECRET: &str = "legacy-fixture-secret-0123456789abcdef";
        let outbox = unhex(
            "0183136317ad1a43c1e479419182481432da7d6d583de328df2f1d6589e98a129e0e\
             4641762d3dc047f4d160e39f8fc522074732f3575d",
        );
        let response = unhex(
            "01e4e79e32ad735972a25bf90cd1f93d0806cbc31b960ea39aa08598480bd4183af7\
             cf633633c2bddf034d9d98b7745f23cd4ede6d8f",
        );
        let keyring = Keyring::new(OtpSecret::new(SECRET.as_bytes().to_vec()));
        let outbox_sealer = Sealer::new(&keyring, Purpose::EmailOutbox);
        let response_sealer = Sealer::new(&keyring, Purpose::IdempotencyResponse);
        assert_eq!(
            outbox_sealer.open(b"row-1", &outbox).unwrap(),
            b"outbox payload"
        );
        assert_eq!(
            response_sealer.open(b"assoc", &response).unwrap(),
            b"stored answer"
        );
        assert_eq!(response_sealer.open(b"row-1", &outbox), Err(OpenError));
        // What is sealed now is not sealed under the old derivation's key.
        let legacy_only = outbox_sealer.ciphers[1].clone();
        let fresh = outbox_sealer.seal(b"row-1", b"outbox payload");
        let (nonce, ciphertext) = fresh[1..].split_at(NONCE_LEN);
        assert!(
            legacy_only
                .decrypt(
                    &XNonce::try_from(nonce).unwrap(),
                    Payload {
                        msg: ciphertext,
                        aad: b"row-1"
                    }
                )
                .is_err()
        );
    }

    #[test]
    fn after_a_rotation_payloads_of_the_previous_key_still_open() {
        let sealed = sealer("old").seal(b"row", b"code 123456");
        let rotated = Sealer::new(
            &Keyring {
                current: OtpSecret::new(b"new".to_vec()),
                previous: Some(OtpSecret::new(b"old".to_vec())),
            },
            Purpose::EmailOutbox,
        );
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
