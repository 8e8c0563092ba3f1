//! The audit events the flows and the courier log, one line each: the event name first, then
//! `key=value` pairs. Addresses are masked; codes and secrets never appear.

use crate::domain::{EmailAddress, UserType};

/// Where events are logged, so operators can route or filter them.
pub const TARGET: &str = "signup_otp::events";

pub fn record(event: &str, user_type: UserType, email: &EmailAddress, details: &str) {
    let masked = email.masked();
    if details.is_empty() {
        log::info!(target: TARGET, "{event} user_type={user_type} email={masked}");
    } else {
        log::info!(target: TARGET, "{event} user_type={user_type} email={masked} {details}");
    }
}

pub fn warn(event: &str, user_type: UserType, email: &EmailAddress, details: &str) {
    let masked = email.masked();
    log::warn!(target: TARGET, "{event} user_type={user_type} email={masked} {details}");
}
