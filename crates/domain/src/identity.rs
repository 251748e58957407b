//! Users and their roles: names, passwords and which roles fit which kind of organization.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::registry::OrgKind;

/// What a user may be trusted with. Roles add up; the access policy reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the users and tokens of the user's organization (of every organization, at the coordinator).
    Admin,
    /// Works for the national coordinator: the cross-sector picture.
    Coordinator,
    /// Reads and works on shared information.
    Analyst,
    /// Runs a CEPTOAR's secretariat: receives, anonymizes and relays.
    Secretariat,
    /// Files incident reports for an operator.
    Reporter,
    /// Reads what the organization may see.
    Viewer,
    /// Top management: summaries and reports.
    Executive,
    /// The coordinator's 24/365 duty desk: told at once of emergency-level reports.
    Duty,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Coordinator,
        Role::Analyst,
        Role::Secretariat,
        Role::Reporter,
        Role::Viewer,
        Role::Executive,
        Role::Duty,
    ];

    /// The role's name as used in URLs, files and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Analyst => "analyst",
            Role::Secretariat => "secretariat",
            Role::Reporter => "reporter",
            Role::Viewer => "viewer",
            Role::Executive => "executive",
            Role::Duty => "duty",
        }
    }

    /// Whether a member of an organization of `kind` may hold this role.
    pub fn fits(self, kind: OrgKind) -> bool {
        match self {
            Role::Coordinator | Role::Duty => kind == OrgKind::Coordinator,
            Role::Secretariat => matches!(kind, OrgKind::Ceptoar | OrgKind::Council),
            Role::Reporter => matches!(kind, OrgKind::Operator | OrgKind::External),
            Role::Admin | Role::Analyst | Role::Viewer | Role::Executive => true,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; expected one of admin, coordinator, analyst, secretariat, reporter, viewer, executive, duty"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles.
pub type Roles = BTreeSet<Role>;

/// What is wrong with a user as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error(
        "user name {0:?} is not valid: use 2 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
    )]
    Name(String),
    #[error("role {role} is not available to a member of a {kind} organization")]
    RoleDoesNotFit { role: Role, kind: OrgKind },
    #[error("a user needs at least one role")]
    NoRole,
    #[error("password is too short: at least {min} characters are required")]
    PasswordTooShort { min: usize },
    #[error("password is too long: at most {max} bytes are accepted")]
    PasswordTooLong { max: usize },
}

/// A login name: 2 to 64 characters of lowercase letters, digits, '.', '_' and '-'.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// Checks and makes a user name.
    pub fn parse(value: &str) -> Result<Self, UserError> {
        let ok_len = (2..=64).contains(&value.len());
        let ok_chars = value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let ok_start = value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(Self(value.to_owned()))
        } else {
            Err(UserError::Name(value.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = UserError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        UserName::parse(&value)
    }
}

impl From<UserName> for String {
    fn from(value: UserName) -> Self {
        value.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed, checked for length; its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The shortest password accepted.
    pub const MIN_CHARS: usize = 12;
    /// The longest, in bytes, so hashing stays bounded.
    pub const MAX_BYTES: usize = 1024;

    /// Checks a new password's length.
    pub fn new(value: String) -> Result<Self, UserError> {
        if value.chars().count() < Self::MIN_CHARS {
            return Err(UserError::PasswordTooShort {
                min: Self::MIN_CHARS,
            });
        }
        if value.len() > Self::MAX_BYTES {
            return Err(UserError::PasswordTooLong {
                max: Self::MAX_BYTES,
            });
        }
        Ok(Self(value))
    }

    /// The password to hash or compare; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Checks that `roles` is not empty and every role fits an organization of `kind`.
pub fn check_roles(roles: &Roles, kind: OrgKind) -> Result<(), UserError> {
    if roles.is_empty() {
        return Err(UserError::NoRole);
    }
    match roles.iter().find(|r| !r.fits(kind)) {
        Some(&role) => Err(UserError::RoleDoesNotFit { role, kind }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_fit_their_organizations() {
        assert!(Role::Secretariat.fits(OrgKind::Ceptoar));
        assert!(!Role::Secretariat.fits(OrgKind::Operator));
        assert!(Role::Reporter.fits(OrgKind::Operator));
        assert!(!Role::Coordinator.fits(OrgKind::Ministry));
        let roles: Roles = [Role::Reporter, Role::Coordinator].into();
        assert_eq!(
            check_roles(&roles, OrgKind::Operator),
            Err(UserError::RoleDoesNotFit {
                role: Role::Coordinator,
                kind: OrgKind::Operator
            })
        );
        assert_eq!(
            check_roles(&Roles::new(), OrgKind::Operator),
            Err(UserError::NoRole)
        );
    }

    #[test]
    fn user_names() {
        assert!(UserName::parse("tanaka.h").is_ok());
        for bad in ["", "a", "Tanaka", "-x", "a b", "名前"] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_is_never_debug_printed() {
        let p = Password::new("correct horse battery".into()).expect("long enough");
        assert!(!format!("{p:?}").contains("horse"));
        assert!(Password::new("short".into()).is_err());
    }

    #[test]
    fn roles_parse_by_name() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
