//! Stable identifiers for sectors, services and organizations.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, URL-safe identifier: lowercase ASCII letters, digits and inner hyphens, 1 to 64 long.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

/// Why a string is not a slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid slug: {reason}")]
pub struct SlugError {
    pub value: String,
    pub reason: &'static str,
}

impl Slug {
    /// The longest slug accepted.
    pub const MAX_LEN: usize = 64;

    /// Checks `value` and makes it a slug.
    pub fn parse(value: &str) -> Result<Self, SlugError> {
        let fail = |reason| {
            Err(SlugError {
                value: value.to_owned(),
                reason,
            })
        };
        if value.is_empty() {
            return fail("it is empty");
        }
        if value.len() > Self::MAX_LEN {
            return fail("it is longer than 64 characters");
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("only lowercase ASCII letters, digits and '-' are allowed");
        }
        if value.starts_with('-') || value.ends_with('-') {
            return fail("it may not start or end with '-'");
        }
        if value.contains("--") {
            return fail("it may not contain '--'");
        }
        Ok(Self(value.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(value: Slug) -> Self {
        value.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_slugs() {
        for ok in ["nisc", "t-ceptoar", "banking-ceptoar", "a", "x1-2"] {
            assert_eq!(Slug::parse(ok).map(|s| s.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_bad_slugs_with_a_reason() {
        for bad in ["", "-a", "a-", "A", "a b", "a--b", "日本", &"a".repeat(65)] {
            let err = Slug::parse(bad).unwrap_err();
            assert!(!err.reason.is_empty(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_round_trips(s in "[a-z0-9]([a-z0-9]|-[a-z0-9]){0,20}") {
            let slug = Slug::parse(&s).unwrap();
            prop_assert_eq!(slug.as_str(), s.as_str());
        }

        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = Slug::parse(&s);
        }
    }
}
