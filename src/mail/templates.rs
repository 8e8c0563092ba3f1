//! Message texts, kept in `templates/email/<locale>/` (one folder per shipped
//! [`Locale`]) and compiled into the binary: for each kind, `<kind>.txt` (first
//! line `Subject: ...`, then the plain body) and `<kind>.html` (the HTML body,
//! which extends `layout.html`). They are minijinja templates with `code` and
//! `minutes` to fill in; what goes into an HTML part is escaped, so a value can
//! never add markup. No links: a mail scanner that follows links cannot use
//! anything up.

use std::sync::OnceLock;
use std::time::Duration;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, context};

use super::EmailKind;
use crate::domain::Locale;

/// One template file of a locale's folder, named as it is rendered (`en/signup_code.txt`).
macro_rules! template {
    ($locale:literal, $file:literal) => {
        (
            concat!($locale, "/", $file),
            include_str!(concat!("../../templates/email/", $locale, "/", $file)),
        )
    };
}

/// A locale's folder: each kind's text and HTML parts.
macro_rules! folder {
    ($locale:literal) => {
        [
            template!($locale, "signup_code.txt"),
            template!($locale, "signup_code.html"),
            template!($locale, "activation_code.txt"),
            template!($locale, "activation_code.html"),
            template!($locale, "account_exists.txt"),
            template!($locale, "account_exists.html"),
        ]
    };
}

/// Every shipped locale's templates.
const FOLDERS: [[(&str, &str); 6]; 3] = [folder!("en"), folder!("es"), folder!("de")];

/// The HTML frame every message's HTML part extends.
const LAYOUT: &str = include_str!("../../templates/email/layout.html");

/// The templates, parsed once. `.html` templates escape what they are given
/// (minijinja's default, by file name); `.txt` ones do not.
fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut environment = Environment::new();
        // A block tag's own line end is not output; a file's last one is.
        environment.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("a valid syntax"),
        );
        for (name, source) in FOLDERS.iter().flatten().chain([&("layout.html", LAYOUT)]) {
            environment.add_template(name, source).expect(
                "the templates compiled into the binary parse (the unit tests render each)",
            );
        }
        environment
    })
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(kind: &EmailKind, locale: Locale) -> Rendered {
    let (name, code, valid_for) = match kind {
        EmailKind::SignupCode { code, valid_for } => ("signup_code", code.expose(), *valid_for),
        EmailKind::ActivationCode { code, valid_for } => {
            ("activation_code", code.expose(), *valid_for)
        }
        EmailKind::AccountExists => ("account_exists", "", Duration::ZERO),
    };
    let minutes = valid_for.as_secs().div_ceil(60);
    let fill = |part: &str, values: minijinja::Value| {
        environment()
            .get_template(&format!("{locale}/{name}.{part}"))
            .and_then(|template| template.render(values))
            .expect("every shipped locale has every template, and they render (unit-tested)")
    };
    let text = fill("txt", context! { code, minutes });
    let (subject_line, body) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .trim()
        .to_owned();
    let html = fill(
        "html",
        context! { code, minutes, subject => &subject, lang => locale.as_str() },
    );
    Rendered {
        text: body.to_owned(),
        html,
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OtpCode;

    /// One email of each kind, with the name its templates have.
    fn every_kind() -> [(&'static str, EmailKind); 3] {
        let code = || OtpCode::parse("042137", 6).unwrap();
        let valid_for = Duration::from_secs(600);
        [
            (
                "signup_code",
                EmailKind::SignupCode {
                    code: code(),
                    valid_for,
                },
            ),
            (
                "activation_code",
                EmailKind::ActivationCode {
                    code: code(),
                    valid_for,
                },
            ),
            ("account_exists", EmailKind::AccountExists),
        ]
    }

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
        let kinds = every_kind().map(|(_, kind)| kind);
        for (kind, locale) in kinds
            .iter()
            .flat_map(|kind| crate::domain::locale::SHIPPED.map(|locale| (kind, locale)))
        {
            let rendered = render(kind, locale);
            assert!(!rendered.subject.is_empty(), "{locale}");
            assert!(rendered.html.contains(&format!("<html lang=\"{locale}\">")));
            for part in [&rendered.text, &rendered.html] {
                assert!(
                    !part.contains("{{") && !part.contains("{%") && !part.contains("}}"),
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

    #[test]
    fn every_email_in_every_language_reads_as_reviewed() {
        for locale in crate::domain::locale::SHIPPED {
            for (name, kind) in every_kind() {
                let rendered = render(&kind, locale);
                insta::assert_snapshot!(
                    format!("{locale}_{name}_text"),
                    format!("Subject: {}\n\n{}", rendered.subject, rendered.text)
                );
                insta::assert_snapshot!(format!("{locale}_{name}_html"), rendered.html);
            }
        }
    }

    #[test]
    fn what_goes_into_an_html_part_is_escaped_and_the_text_part_is_left_as_it_is() {
        let values = context! {
            code => "<b onclick=\"x\">&",
            minutes => 10,
            subject => "</title><script>",
            lang => "en",
        };
        let html = environment()
            .get_template("en/signup_code.html")
            .unwrap()
            .render(&values)
            .unwrap();
        assert!(
            html.contains("&lt;b onclick=&quot;x&quot;&gt;&amp;"),
            "{html}"
        );
        assert!(html.contains("&lt;&#x2f;title&gt;&lt;script&gt;"), "{html}");
        assert!(
            !html.contains("<script>") && !html.contains("<b "),
            "{html}"
        );
        let text = environment()
            .get_template("en/signup_code.txt")
            .unwrap()
            .render(&values)
            .unwrap();
        assert!(text.contains("<b onclick=\"x\">&"), "{text}");
    }
}
