use std::fmt;

/// The longest address SMTP can carry (RFC 5321: a 256-octet path less the brackets).
const MAX_LEN: usize = 254;
/// The longest local part (before the `@`) RFC 5321 allows.
const MAX_LOCAL_LEN: usize = 64;
/// The longest DNS label.
const MAX_LABEL_LEN: usize = 63;

/// A normalised email address: trimmed, lower-cased and syntactically plausible.
///
/// The rules are deliberately narrower than RFC 5322: ASCII only (the service's
/// mail path does not negotiate SMTPUTF8), no quoted local parts, no IP-literal
/// domains, a domain with at least two labels. Lower-casing the whole address
/// is what makes `Alice@Example.com` and `alice@example.com` one identity.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is empty")]
    Empty,
    #[error("email is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("email must contain only ASCII characters")]
    NotAscii,
    #[error("email is not a valid address")]
    Malformed,
}

impl EmailAddress {
    /// Trims, lower-cases and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !trimmed.is_ascii() {
            return Err(EmailError::NotAscii);
        }
        let email = trimmed.to_ascii_lowercase();
        let (local, domain) = email.split_once('@').ok_or(EmailError::Malformed)?;
        if !valid_local_part(local) || !valid_domain(domain) {
            return Err(EmailError::Malformed);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mailbox this address delivers to, as far as public provider rules
    /// tell: the sub-address tag (`+anything`) dropped, and for Gmail the dots in
    /// the local part dropped and `googlemail.com` read as `gmail.com`. Send
    /// limits count per mailbox, so `victim+1@` and `v.ictim@gmail.com` share
    /// one inbox's budget; codes and accounts keep the address as typed.
    pub fn mailbox(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        let (local, domain) = match domain {
            "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
            _ => (local.to_owned(), domain),
        };
        // A local part that was nothing but a tag (`+x@`) keeps its whole form.
        if local.is_empty() {
            return self.0.clone();
        }
        format!("{local}@{domain}")
    }

    /// The address with most of the local part hidden, for logs: `a***@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first = local.chars().next().unwrap_or('*');
        format!("{first}***@{domain}")
    }
}

fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // A top-level domain is never all digits; this also refuses bare IPv4 addresses.
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug shows the masked form, so an address never lands whole in a log by accident.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Alice.Smith+Tag@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith+tag@example.com");
    }

    #[test]
    fn empty_string_is_rejected() {
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn addresses_without_an_at_sign_or_a_dotted_domain_are_rejected() {
        for raw in [
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a@b@example.com",
        ] {
            assert_eq!(
                EmailAddress::parse(raw),
                Err(EmailError::Malformed),
                "{raw}"
            );
        }
    }

    #[test]
    fn malformed_local_parts_and_domains_are_rejected() {
        for raw in [
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "al ice@example.com",
            "alice@-example.com",
            "alice@example..com",
            "alice@example.com.",
            "alice@1.2.3.4",
            "\"alice\"@example.com",
        ] {
            assert_eq!(
                EmailAddress::parse(raw),
                Err(EmailError::Malformed),
                "{raw}"
            );
        }
    }

    #[test]
    fn non_ascii_addresses_are_rejected() {
        assert_eq!(
            EmailAddress::parse("jörg@example.com"),
            Err(EmailError::NotAscii)
        );
        assert_eq!(
            EmailAddress::parse("a@bücher.example"),
            Err(EmailError::NotAscii)
        );
    }

    #[test]
    fn overlong_addresses_are_rejected() {
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(EmailAddress::parse(&long_local), Err(EmailError::Malformed));
    }

    #[test]
    fn sub_address_tags_and_gmail_dots_share_one_mailbox() {
        let mailbox = |raw: &str| EmailAddress::parse(raw).unwrap().mailbox();
        assert_eq!(mailbox("Victim+1@Example.com"), "victim@example.com");
        assert_eq!(mailbox("victim+a+b@example.com"), "victim@example.com");
        assert_eq!(mailbox("v.i.c.tim@example.com"), "v.i.c.tim@example.com");
        assert_eq!(mailbox("v.i.c.tim+x@gmail.com"), "victim@gmail.com");
        assert_eq!(mailbox("Vic.Tim@GoogleMail.com"), "victim@gmail.com");
        assert_eq!(mailbox("+tag@example.com"), "+tag@example.com");
    }

    #[test]
    fn masking_keeps_the_first_character_and_the_domain() {
        let email = EmailAddress::parse("alice@example.com").unwrap();
        assert_eq!(email.masked(), "a***@example.com");
        assert_eq!(format!("{email:?}"), "EmailAddress(a***@example.com)");
    }
}
