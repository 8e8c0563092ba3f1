//! Values checked at the edge of the service. Once a request has been turned into
//! these types, the inner layers never check them again.

mod email;
mod full_name;
pub mod locale;
mod otp_code;
mod password;
mod requester;
mod user_type;

pub use email::{EmailAddress, EmailError};
pub use full_name::{FullName, FullNameError};
pub use locale::{Locale, LocaleTagError};
pub use otp_code::OtpCode;
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Password, PasswordError};
pub use requester::{DEFAULT_IPV6_PREFIX, Requester, client_network};
pub use user_type::{UserType, UserTypeError};
