use std::fmt;

/// A one-time code as the user types it: a fixed number of decimal digits.
///
/// It is a secret: `Debug` is redacted and there is no `Display`; the only ways
/// to see the digits are [`OtpCode::expose`] (for the email body and the HMAC).
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

/// What every code is in a build with the `deterministic-codes` feature.
#[cfg(feature = "deterministic-codes")]
pub const DETERMINISTIC: &str = "1234567890";

// The container image is built with SIGNUP_OTP_RELEASE_IMAGE set: a benchmark
// build must never become an image.
#[cfg(feature = "deterministic-codes")]
const _: () = assert!(
    option_env!("SIGNUP_OTP_RELEASE_IMAGE").is_none(),
    "the deterministic-codes feature is for benchmarks and is refused in the container image"
);

impl OtpCode {
    /// A fresh code of `length` digits, each uniform, drawn from the operating
    /// system's CSPRNG and zero-padded (so `000123` is as likely as `987654`).
    #[cfg(not(feature = "deterministic-codes"))]
    pub fn generate(length: usize) -> Self {
        use rand::RngExt;
        use rand::rand_core::UnwrapErr;
        use rand::rngs::SysRng;
        // A failure to read OS entropy is unrecoverable for a service whose job is
        // unguessable codes: panicking (one failed request) beats a weak code.
        let mut rng = UnwrapErr(SysRng);
        let digits = (0..length)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        Self(digits)
    }

    /// Benchmark builds only: always the first `length` digits of `1234567890`.
    #[cfg(feature = "deterministic-codes")]
    pub fn generate(length: usize) -> Self {
        Self(DETERMINISTIC[..length].to_owned())
    }

    /// Reads a code a user submitted: surrounding white space is ignored; anything
    /// other than exactly `length` ASCII digits is `None`, which callers treat as a
    /// wrong code rather than as a malformed request.
    pub fn parse(raw: &str, length: usize) -> Option<Self> {
        let trimmed = raw.trim();
        (trimmed.len() == length && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(trimmed.to_owned()))
    }

    /// The digits. Call only to put the code in the email or through the HMAC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_requested_number_of_digits() {
        for length in [4, 6, 8, 10] {
            let code = OtpCode::generate(length);
            assert_eq!(code.expose().len(), length);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[cfg(not(feature = "deterministic-codes"))]
    #[test]
    fn every_digit_appears_in_every_position() {
        // 2,000 six-digit codes: the chance that a given digit never shows up in a
        // given position is 0.9^2000, far below anything observable.
        let mut seen = [[false; 10]; 6];
        for _ in 0..2000 {
            let code = OtpCode::generate(6);
            for (position, digit) in code.expose().bytes().enumerate() {
                seen[position][usize::from(digit - b'0')] = true;
            }
        }
        assert!(seen.iter().flatten().all(|&s| s), "{seen:?}");
    }

    #[cfg(feature = "deterministic-codes")]
    #[test]
    fn benchmark_builds_issue_the_known_code() {
        assert_eq!(OtpCode::generate(6).expose(), "123456");
        assert_eq!(OtpCode::generate(4).expose(), "1234");
    }

    #[test]
    fn submitted_codes_may_have_surrounding_spaces() {
        let code = OtpCode::parse(" 012345\t", 6).unwrap();
        assert_eq!(code.expose(), "012345");
    }

    #[test]
    fn non_digits_and_wrong_lengths_are_not_codes() {
        for raw in [
            "",
            "12345",
            "1234567",
            "12 345",
            "12345a",
            "١٢٣٤٥٦",
            "-12345",
        ] {
            assert!(OtpCode::parse(raw, 6).is_none(), "{raw:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_digits() {
        let code = OtpCode::parse("123456", 6).unwrap();
        assert_eq!(format!("{code:?}"), "OtpCode(<redacted>)");
    }
}
