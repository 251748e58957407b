//! ciphub's domain: the types and rules of the CIP community, with no IO, no async, no SQL, no HTTP.
//!
//! Everything that decides something (is this slug valid, may this user do that, is this audit
//! chain intact) lives here, so the store and the server only move data and ask.

#![forbid(unsafe_code)]

pub mod alert;
pub mod anonymize;
pub mod audit;
pub mod correlation;
pub mod exercise;
pub mod identity;
pub mod misp;
pub mod policy;
pub mod redact;
pub mod registry;
pub mod report;
pub mod severity;
pub mod slug;
pub mod stix;

pub use slug::Slug;
