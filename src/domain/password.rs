use std::fmt;

/// Fewest characters a password may have (NIST SP 800-63B's floor).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a password may have: long enough for any passphrase or password
/// manager, short enough that hashing it costs what hashing any password costs.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password as the user chose it. No composition rules (NIST advises against
/// them), only length. `Debug` is redacted; the only way to the characters is
/// [`Password::expose`], for the hash.
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

impl Password {
    /// Checks the length in characters. White space is kept: it is part of what the
    /// user typed.
    pub fn parse(raw: String) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            Err(PasswordError::TooShort)
        } else if chars > MAX_PASSWORD_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_between_the_bounds_are_accepted() {
        for raw in ["12345678", "correct horse battery staple", &"é".repeat(128)] {
            assert!(Password::parse(raw.to_string()).is_ok(), "{raw}");
        }
    }

    #[test]
    fn short_and_long_passwords_are_rejected() {
        assert_eq!(
            Password::parse("1234567".into()).unwrap_err(),
            PasswordError::TooShort
        );
        assert_eq!(
            Password::parse("x".repeat(129)).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::parse("hunter2hunter2".into()).unwrap();
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
    }
}
