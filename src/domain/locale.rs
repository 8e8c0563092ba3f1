//! The language an email is written in.
//!
//! Clients name one with a BCP 47 tag (`es`, `pt-BR`, `de-CH`), in the request or
//! in `Accept-Language`. A tag resolves along its fallback chain, dropping one
//! subtag at a time (`pt-BR` → `pt`), to a locale the service ships; a tag with
//! no shipped locale on its chain is not an error, it falls back to the default.

use std::fmt;
use std::str::FromStr;

/// The locales with templates in `templates/email/<locale>/`.
pub const SHIPPED: [Locale; 3] = [Locale::En, Locale::Es, Locale::De];

/// Longest tag accepted in a request (RFC 5646 recommends supporting 35).
pub const MAX_TAG_LEN: usize = 35;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    Es,
    De,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("locale must be a language tag such as \"es\" or \"pt-BR\" (at most 35 characters)")]
pub struct LocaleTagError;

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
            Locale::De => "de",
        }
    }

    /// The shipped locale `tag` falls back to, if any: `pt-BR` tries `pt-br`, then `pt`.
    pub fn resolve(tag: &str) -> Option<Locale> {
        let mut candidate = tag.trim().to_ascii_lowercase();
        loop {
            if let Some(locale) = SHIPPED.into_iter().find(|l| l.as_str() == candidate) {
                return Some(locale);
            }
            let cut = candidate.rfind('-')?;
            candidate.truncate(cut);
        }
    }

    /// The best shipped locale an `Accept-Language` header asks for: by quality
    /// (`q`, default 1), then by position; `*`, `q=0` and malformed entries are
    /// skipped. `None` when nothing on the list is shipped.
    pub fn negotiate(accept_language: &str) -> Option<Locale> {
        let mut ranges: Vec<(u16, usize, &str)> = accept_language
            .split(',')
            .enumerate()
            .filter_map(|(position, entry)| {
                let mut parts = entry.split(';').map(str::trim);
                let tag = parts.next().filter(|tag| is_well_formed(tag))?;
                let mut quality = 1000;
                for parameter in parts {
                    if let Some(q) = parameter
                        .strip_prefix("q=")
                        .or_else(|| parameter.strip_prefix("Q="))
                    {
                        quality = parse_quality(q)?;
                    }
                }
                (quality > 0).then_some((quality, position, tag))
            })
            .collect();
        ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges
            .into_iter()
            .find_map(|(_, _, tag)| Self::resolve(tag))
    }
}

/// `q` values have at most three decimals (RFC 9110 §12.4.2): thousandths.
fn parse_quality(raw: &str) -> Option<u16> {
    let value: f32 = raw.parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

/// A language tag's shape: `alpha{1,8}(-alphanum{1,8})*`, at most [`MAX_TAG_LEN`].
/// Checks the shape only; whether the language exists does not matter.
pub fn is_well_formed(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return false;
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    let subtag_ok = |s: &str| (1..=8).contains(&s.len());
    subtag_ok(primary)
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags.all(|s| subtag_ok(s) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl FromStr for Locale {
    type Err = LocaleTagError;

    /// A shipped locale by its exact name (configuration: `DEFAULT_LOCALE`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SHIPPED
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or(LocaleTagError)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fall_back_subtag_by_subtag() {
        assert_eq!(Locale::resolve("es"), Some(Locale::Es));
        assert_eq!(Locale::resolve("es-MX"), Some(Locale::Es));
        assert_eq!(Locale::resolve("DE-ch-x-private"), Some(Locale::De));
        assert_eq!(Locale::resolve("en-GB"), Some(Locale::En));
        assert_eq!(Locale::resolve("pt-BR"), None);
        assert_eq!(Locale::resolve("pt"), None);
        assert_eq!(Locale::resolve("zz"), None);
    }

    #[test]
    fn accept_language_picks_the_best_shipped_range() {
        assert_eq!(Locale::negotiate("de"), Some(Locale::De));
        assert_eq!(
            Locale::negotiate("fr-CH, fr;q=0.9, es;q=0.8, en;q=0.7"),
            Some(Locale::Es)
        );
        assert_eq!(Locale::negotiate("en;q=0.5, de;q=0.9"), Some(Locale::De));
        assert_eq!(Locale::negotiate("es;q=0.8, de;q=0.8"), Some(Locale::Es));
        assert_eq!(Locale::negotiate("de;q=0, es"), Some(Locale::Es));
        assert_eq!(Locale::negotiate("pt-BR, *;q=0.1"), None);
        assert_eq!(Locale::negotiate("es;q=2, de;q=abc"), None);
        assert_eq!(Locale::negotiate(""), None);
    }

    #[test]
    fn only_tag_shaped_strings_are_well_formed() {
        for tag in ["en", "pt-BR", "zh-Hant-TW", "x-private", "es-419"] {
            assert!(is_well_formed(tag), "{tag}");
        }
        let long = format!("en-{}", "abcdefgh-".repeat(4));
        for tag in [
            "",
            "-",
            "en-",
            "e n",
            "en_US",
            "123",
            "en-abcdefghi",
            "ü",
            &long,
        ] {
            assert!(!is_well_formed(tag), "{tag}");
        }
    }

    #[test]
    fn the_default_locale_names_a_shipped_one_exactly() {
        assert_eq!("de".parse::<Locale>(), Ok(Locale::De));
        assert!("fr".parse::<Locale>().is_err());
        assert!("es-MX".parse::<Locale>().is_err());
    }
}
