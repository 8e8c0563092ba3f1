/// The longest name stored (the column's width).
pub const MAX_FULL_NAME_CHARS: usize = 255;

/// A person's name as they gave it: trimmed, at most 255 characters, no control
/// characters. Any script is fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("full_name must be at most {MAX_FULL_NAME_CHARS} characters")]
    TooLong,
    #[error("full_name must not contain control characters")]
    ControlCharacter,
}

impl FullName {
    /// `None` for a name that is empty once trimmed. The limits apply to the
    /// name as sent (as the API's schema says), then it is trimmed.
    pub fn parse(raw: &str) -> Result<Option<Self>, FullNameError> {
        if raw.chars().count() > MAX_FULL_NAME_CHARS {
            return Err(FullNameError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacter);
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_any_script_is_kept() {
        let name = FullName::parse("  Zoë Ng 吴  ").unwrap().unwrap();
        assert_eq!(name.as_str(), "Zoë Ng 吴");
    }

    #[test]
    fn a_blank_name_is_no_name() {
        assert_eq!(FullName::parse("   "), Ok(None));
    }

    #[test]
    fn long_names_and_control_characters_are_rejected() {
        assert_eq!(
            FullName::parse(&"a".repeat(256)),
            Err(FullNameError::TooLong)
        );
        assert_eq!(
            FullName::parse("a\u{0}b"),
            Err(FullNameError::ControlCharacter)
        );
        assert_eq!(
            FullName::parse("a\nb"),
            Err(FullNameError::ControlCharacter)
        );
    }
}
