use std::fmt;
use std::str::FromStr;

/// Which kind of account an address signs up for. Live and demo accounts are
/// separate identities: the same email may hold one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserType {
    Live,
    Demo,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user_type must be \"live\" or \"demo\"")]
pub struct UserTypeError;

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Live => "live",
            UserType::Demo => "demo",
        }
    }
}

impl FromStr for UserType {
    type Err = UserTypeError;

    /// Accepts exactly `live` or `demo`, as the old service did; no guessing at case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(UserType::Live),
            "demo" => Ok(UserType::Demo),
            _ => Err(UserTypeError),
        }
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_demo_round_trip_through_their_names() {
        for user_type in [UserType::Live, UserType::Demo] {
            assert_eq!(user_type.as_str().parse::<UserType>(), Ok(user_type));
        }
    }

    #[test]
    fn other_names_are_rejected() {
        for raw in ["", "LIVE", "Demo", "admin", " live"] {
            assert_eq!(raw.parse::<UserType>(), Err(UserTypeError), "{raw:?}");
        }
    }
}
