//! The JSON API under `/api/v1`, one module per resource.

pub mod audit;
pub mod health;
pub mod identifiers;
pub mod incidents;
pub mod me;
pub mod notifications;
pub mod organizations;
pub mod reports;
pub mod sectors;
pub mod session;
pub mod severity;
pub mod tokens;
pub mod users;

use chrono::{DateTime, Utc};

/// A time as the API writes it: RFC 3339, UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
