//! Password hashing: argon2id with the library's recommended parameters (the
//! OWASP baseline: 19 MiB, 2 passes, 1 lane), a random salt per password, stored
//! as a PHC string. Callers run it on the blocking pool: it is CPU- and
//! memory-heavy by design.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for `password`.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;

    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_that_verify() {
        let password = Password::parse("correct horse battery staple".into()).unwrap();
        let first = hash_password(&password).unwrap();
        let second = hash_password(&password).unwrap();

        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(!first.contains("correct horse"));
        let parsed = PasswordHash::new(&first).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
    }
}
