//! The JSON API under `/api/v1`, one module per resource.

pub mod alerts;
pub mod audit;
pub mod channels;
pub mod correlations;
pub mod exercises;
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
pub mod stix;
pub mod tokens;
pub mod users;

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;

use crate::error::AppError;

/// Parses a list of slugs, naming the element at fault (`sectors[1]`): one that is not a slug,
/// or one listed twice.
pub fn parse_slugs(field: &str, v: &[String]) -> Result<Vec<Slug>, AppError> {
    let mut out: Vec<Slug> = Vec::with_capacity(v.len());
    for (i, s) in v.iter().enumerate() {
        let slug = Slug::parse(s)
            .map_err(|e| AppError::invalid(format!("{field}[{i}]"), e.to_string()))?;
        if out.contains(&slug) {
            return Err(AppError::invalid(
                format!("{field}[{i}]"),
                format!("{slug} is listed twice"),
            ));
        }
        out.push(slug);
    }
    Ok(out)
}

/// A time as the API writes it: RFC 3339, UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
