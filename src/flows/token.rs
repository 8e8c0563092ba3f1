//! Opaque one-use secrets handed to a client: the signup token (proof that the
//! client read a code sent to the address) and the registration_id (ties a
//! registration waiting for its code to the client that made it).
//!
//! Each is 32 bytes from the operating system's CSPRNG, base64url without
//! padding (43 characters). The database keeps only its SHA-256, so a dump
//! reveals none; and since a token carries nothing (no address, no MAC), holding
//! one lets nobody test guesses of `OTP_SECRET` offline, and a key rotation never
//! voids one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

const BYTES: usize = 32;
/// The length of the text form: 32 bytes in base64 without padding.
pub const TEXT_LEN: usize = 43;

/// Why a token was refused. Clients see one answer; the log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed")]
    Malformed,
    /// Never issued, expired, already used, or issued for another address.
    #[error("unknown, expired, used or for another address")]
    Unknown,
}

/// A freshly made secret: its text for the client, its hash for the database.
/// No `Debug`.
pub struct Opaque {
    text: String,
    hash: [u8; 32],
}

impl Opaque {
    pub fn generate() -> Self {
        let mut bytes = [0u8; BYTES];
        // Without OS entropy no unguessable token can be made: fail this request.
        SysRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        let text = URL_SAFE_NO_PAD.encode(bytes);
        let hash = digest(&text);
        Self { text, hash }
    }

    /// The text to hand to the client, once.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The hash a submitted token is stored under; `Malformed` if it is not shaped
    /// like one (so no lookup is made for garbage).
    pub fn hash_of(submitted: &str) -> Result<[u8; 32], TokenError> {
        let submitted = submitted.trim();
        let shaped = submitted.len() == TEXT_LEN
            && URL_SAFE_NO_PAD
                .decode(submitted)
                .is_ok_and(|bytes| bytes.len() == BYTES);
        if shaped {
            Ok(digest(submitted))
        } else {
            Err(TokenError::Malformed)
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_43_url_safe_characters_and_its_hash_is_found_again() {
        let token = Opaque::generate();
        assert_eq!(token.expose().len(), TEXT_LEN);
        assert!(
            token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            Opaque::hash_of(token.expose()),
            Ok(*<&[u8; 32]>::try_from(token.hash()).unwrap())
        );
        assert_eq!(
            Opaque::hash_of(&format!(" {} ", token.expose())).unwrap()[..],
            token.hash()[..]
        );
    }

    #[test]
    fn tokens_differ_and_carry_nothing_readable() {
        let (a, b) = (Opaque::generate(), Opaque::generate());
        assert_ne!(a.expose(), b.expose());
        let decoded = URL_SAFE_NO_PAD.decode(a.expose()).unwrap();
        assert!(!decoded.windows(1).all(|w| w[0].is_ascii_graphic()));
    }

    #[test]
    fn anything_not_shaped_like_a_token_is_malformed() {
        let token = Opaque::generate();
        for bad in [
            "",
            "abc",
            "a.b",
            &token.expose()[..42],
            &format!("{}A", token.expose()),
            &"!".repeat(43),
        ] {
            assert_eq!(Opaque::hash_of(bad), Err(TokenError::Malformed), "{bad:?}");
        }
    }
}
