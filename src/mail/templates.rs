//! Message texts, kept in `templates/email/<locale>/` (one folder per shipped
//! [`Locale`]) and compiled into the binary: for each kind, `<kind>.txt` (first line `Subject: ...`, then the plain
//! body) and `<kind>.html` (the HTML body, placed in `layout.html`).
//! Placeholders: `{code}`, `{minutes}`. No links: a mail scanner that follows
//! links cannot use anything up.

use std::time::Duration;

use super::EmailKind;
use crate::domain::Locale;

struct Template {
    text: &'static str,
    html: &'static str,
}

/// One locale's messages.
struct Messages {
    signup_code: Template,
    activation_code: Template,
    account_exists: Template,
}

/// A message's two files in a locale's folder, compiled in.
macro_rules! template {
    ($locale:literal, $kind:literal) => {
        Template {
            text: include_str!(concat!(
                "../../templates/email/",
                $locale,
                "/",
                $kind,
                ".txt"
            )),
            html: include_str!(concat!(
                "../../templates/email/",
                $locale,
                "/",
                $kind,
                ".html"
            )),
        }
    };
}

macro_rules! messages {
    ($locale:literal) => {
        Messages {
            signup_code: template!($locale, "signup_code"),
            activation_code: template!($locale, "activation_code"),
            account_exists: template!($locale, "account_exists"),
        }
    };
}

/// The HTML frame every message's HTML part sits in; `{lang}` is the locale.
const LAYOUT: &str = include_str!("../../templates/email/layout.html");
const EN: Messages = messages!("en");
const ES: Messages = messages!("es");
const DE: Messages = messages!("de");

fn messages(locale: Locale) -> &'static Messages {
    match locale {
        Locale::En => &EN,
        Locale::Es => &ES,
        Locale::De => &DE,
    }
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(kind: &EmailKind, locale: Locale) -> Rendered {
    let messages = messages(locale);
    match kind {
        EmailKind::SignupCode { code, valid_for } => {
            fill(&messages.signup_code, locale, code.expose(), *valid_for)
        }
        EmailKind::ActivationCode { code, valid_for } => {
            fill(&messages.activation_code, locale, code.expose(), *valid_for)
        }
        EmailKind::AccountExists => fill(&messages.account_exists, locale, "", Duration::ZERO),
    }
}

fn fill(template: &Template, locale: Locale, code: &str, valid_for: Duration) -> Rendered {
    let (subject_line, body) = template
        .text
        .split_once('\n')
        .unwrap_or((template.text, ""));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .trim()
        .to_owned();
    let minutes = valid_for.as_secs().div_ceil(60).to_string();
    let placeholders = |text: &str| text.replace("{code}", code).replace("{minutes}", &minutes);
    let html = LAYOUT
        .replace("{lang}", locale.as_str())
        .replace("{subject}", &subject)
        .replace("{content}", &placeholders(template.html));
    Rendered {
        text: placeholders(body),
        html,
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OtpCode;

    fn signup() -> Rendered {
        render(
            &EmailKind::SignupCode {
                code: OtpCode::parse("042137", 6).unwrap(),
                valid_for: Duration::from_secs(600),
            },
            Locale::En,
        )
    }

    #[test]
    fn code_emails_show_the_code_and_the_expiry_in_both_parts() {
        let rendered = signup();
        assert_eq!(rendered.subject, "Your verification code");
        assert!(rendered.text.contains("    042137\n"), "{}", rendered.text);
        assert!(rendered.text.contains("10 minutes"), "{}", rendered.text);
        assert!(rendered.html.contains(">042137</p>"), "{}", rendered.html);
        assert!(rendered.html.contains("10 minutes"));
        assert!(
            rendered
                .html
                .contains("<title>Your verification code</title>")
        );
    }

    #[test]
    fn no_placeholder_is_left_and_no_link_is_present() {
        let kinds = [
            EmailKind::SignupCode {
                code: OtpCode::parse("042137", 6).unwrap(),
                valid_for: Duration::from_secs(600),
            },
            EmailKind::ActivationCode {
                code: OtpCode::parse("042137", 6).unwrap(),
                valid_for: Duration::from_secs(600),
            },
            EmailKind::AccountExists,
        ];
        for (kind, locale) in kinds
            .iter()
            .flat_map(|kind| crate::domain::locale::SHIPPED.map(|locale| (kind, locale)))
        {
            let rendered = render(kind, locale);
            assert!(!rendered.subject.is_empty(), "{locale}");
            assert!(rendered.html.contains(&format!("<html lang=\"{locale}\">")));
            for part in [&rendered.text, &rendered.html] {
                assert!(
                    !part.contains("{code}") && !part.contains("{minutes}"),
                    "{part}"
                );
                assert!(
                    !part.contains("{subject}")
                        && !part.contains("{content}")
                        && !part.contains("{lang}"),
                    "{part}"
                );
                assert!(!part.contains("href") && !part.contains("http"), "{part}");
            }
        }
    }

    #[test]
    fn the_account_exists_email_has_no_code() {
        let rendered = render(&EmailKind::AccountExists, Locale::En);
        assert_eq!(rendered.subject, "You already have an account");
        assert!(!rendered.text.chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn each_locale_has_its_own_words_around_the_same_code() {
        let kind = EmailKind::SignupCode {
            code: OtpCode::parse("042137", 6).unwrap(),
            valid_for: Duration::from_secs(600),
        };
        let es = render(&kind, Locale::Es);
        let de = render(&kind, Locale::De);
        assert_eq!(es.subject, "Tu código de verificación");
        assert_eq!(de.subject, "Ihr Bestätigungscode");
        for rendered in [&es, &de] {
            assert!(rendered.text.contains("    042137\n"), "{}", rendered.text);
            assert!(rendered.html.contains(">042137</p>"));
            assert!(rendered.text.contains("10 Minuten") || rendered.text.contains("10 minutos"));
        }
    }
}
