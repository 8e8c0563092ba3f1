//! Values checked at the edge of the service. Once a request has been turned into
//! these types, the inner layers never check them again.

mod email;
mod otp_code;
mod user_type;

pub use email::{EmailAddress, EmailError};
pub use otp_code::OtpCode;
pub use user_type::{UserType, UserTypeError};
