//! One file per table (accounts span two). Every query the service runs is a
//! method here; flows compose them inside one transaction.

mod account;
mod idempotency;
mod otp;
mod outbox;
mod send_limit;
mod signup_otp;
mod verify_lockout;

pub use account::{Account, AccountId, AccountRecord, DemoUser, NewAccount, User};
pub use idempotency::{Claim, IdempotencyRecord};
pub use otp::{NewOtp, Otp};
pub use outbox::{Backlog, NewOutboxMessage, OutboxMessage};
pub use send_limit::SendLimit;
pub use signup_otp::{NewSignupOtp, SignupOtp};
pub use verify_lockout::VerifyLockout;
