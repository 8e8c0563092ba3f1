//! Message texts, kept in `templates/email/<locale>/` and compiled into the
//! binary: for each kind, `<kind>.txt` (first line `Subject: ...`, then the plain
//! body) and `<kind>.html` (the HTML body, placed in `layout.html`).
//! Placeholders: `{code}`, `{minutes}`. No links: a mail scanner that follows
//! links cannot use anything up.

use std::time::Duration;

use super::EmailKind;

struct Template {
    text: &'static str,
    html: &'static str,
}

const LAYOUT: &str = include_str!("../../templates/email/en/layout.html");
const SIGNUP_CODE: Template = Template {
    text: include_str!("../../templates/email/en/signup_code.txt"),
    html: include_str!("../../templates/email/en/signup_code.html"),
};
const ACTIVATION_CODE: Template = Template {
    text: include_str!("../../templates/email/en/activation_code.txt"),
    html: include_str!("../../templates/email/en/activation_code.html"),
};
const ACCOUNT_EXISTS: Template = Template {
    text: include_str!("../../templates/email/en/account_exists.txt"),
    html: include_str!("../../templates/email/en/account_exists.html"),
};

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(kind: &EmailKind) -> Rendered {
    match kind {
        EmailKind::SignupCode { code, valid_for } => fill(&SIGNUP_CODE, code.expose(), *valid_for),
        EmailKind::ActivationCode { code, valid_for } => {
            fill(&ACTIVATION_CODE, code.expose(), *valid_for)
        }
        EmailKind::AccountExists => fill(&ACCOUNT_EXISTS, "", Duration::ZERO),
    }
}

fn fill(template: &Template, code: &str, valid_for: Duration) -> Rendered {
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
        render(&EmailKind::SignupCode {
            code: OtpCode::parse("042137", 6).unwrap(),
            valid_for: Duration::from_secs(600),
        })
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
        for kind in &kinds {
            let rendered = render(kind);
            for part in [&rendered.text, &rendered.html] {
                assert!(
                    !part.contains("{code}") && !part.contains("{minutes}"),
                    "{part}"
                );
                assert!(
                    !part.contains("{subject}") && !part.contains("{content}"),
                    "{part}"
                );
                assert!(!part.contains("href") && !part.contains("http"), "{part}");
            }
        }
    }

    #[test]
    fn the_account_exists_email_has_no_code() {
        let rendered = render(&EmailKind::AccountExists);
        assert_eq!(rendered.subject, "You already have an account");
        assert!(!rendered.text.chars().any(|c| c.is_ascii_digit()));
    }
}
