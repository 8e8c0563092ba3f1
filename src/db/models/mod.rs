//! One file per table (accounts span two). Every query the service runs is a
//! method here; flows compose them inside one transaction.

mod account;
mod otp;
mod outbox;
mod pending_registration;
mod redis_import;
mod send_limit;
mod signup_otp;
mod signup_token;
mod verify_lockout;

pub use account::{Account, AccountId, AccountRecord, DemoUser, NewAccount, User};
pub use otp::{NewOtp, Otp};
pub use outbox::{Backlog, DeliveryRecord, DeliveryStatus, NewOutboxMessage, OutboxMessage};
pub use pending_registration::PendingRegistration;
pub use redis_import::RedisImport;
pub use send_limit::{MAILBOX_WIDE, SendLimit};
pub use signup_otp::{Attempts, NewSignupOtp, SignupOtp};
pub use signup_token::SignupToken;
pub use verify_lockout::{NewLock, VerifyLockout};
