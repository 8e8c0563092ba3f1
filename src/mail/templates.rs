//! Message texts, kept in `templates/email/*.txt` (first line `Subject: ...`, then
//! the body) and compiled into the binary.

use std::time::Duration;

use super::EmailKind;

const SIGNUP_CODE: &str = include_str!("../../templates/email/signup_code.txt");
const ACTIVATION_CODE: &str = include_str!("../../templates/email/activation_code.txt");
const ACCOUNT_EXISTS: &str = include_str!("../../templates/email/account_exists.txt");

pub struct Rendered {
    pub subject: String,
    pub text: String,
}

pub fn render(kind: &EmailKind) -> Rendered {
    match kind {
        EmailKind::SignupCode { code, valid_for } => fill(SIGNUP_CODE, code.expose(), *valid_for),
        EmailKind::ActivationCode { code, valid_for } => {
            fill(ACTIVATION_CODE, code.expose(), *valid_for)
        }
        EmailKind::AccountExists => fill(ACCOUNT_EXISTS, "", Duration::ZERO),
    }
}

fn fill(template: &str, code: &str, valid_for: Duration) -> Rendered {
    let (subject_line, body) = template.split_once('\n').unwrap_or((template, ""));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .trim()
        .to_owned();
    let minutes = valid_for.as_secs().div_ceil(60).to_string();
    let text = body.replace("{code}", code).replace("{minutes}", &minutes);
    Rendered { subject, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OtpCode;

    #[test]
    fn code_emails_show_the_code_and_the_expiry() {
        let rendered = render(&EmailKind::SignupCode {
            code: OtpCode::parse("042137", 6).unwrap(),
            valid_for: Duration::from_secs(600),
        });
        assert_eq!(rendered.subject, "Your verification code");
        assert!(rendered.text.contains("    042137\n"), "{}", rendered.text);
        assert!(rendered.text.contains("10 minutes"), "{}", rendered.text);
        assert!(!rendered.text.contains('{'), "unfilled placeholder");
    }

    #[test]
    fn the_account_exists_email_has_no_code() {
        let rendered = render(&EmailKind::AccountExists);
        assert_eq!(rendered.subject, "You already have an account");
        assert!(!rendered.text.chars().any(|c| c.is_ascii_digit()));
    }
}
