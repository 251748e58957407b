//! Store errors. A caller can tell "you asked for something wrong" (not found, conflict,
//! invalid) from "the database failed"; only the first kind carries text safe to show a user.

use ciphub_domain::{identity::UserError, registry::RegistryError};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {key:?} does not exist")]
    NotFound { what: &'static str, key: String },
    #[error("{what} {key:?} already exists")]
    Conflict { what: &'static str, key: String },
    /// A value of the request is not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, #[source] sqlx::Error),
    /// The embedded store's directory cannot be written: SQLite keeps the database, its
    /// write-ahead log and its shared-memory file there.
    #[error(
        "the data directory {path} is not writable ({reason}); ciphub keeps its database and write-ahead log there: give the server's user write access, or choose another --data-dir"
    )]
    NotWritable { path: String, reason: String },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A database error that failed a batch of writes this one was part of.
    #[error("database error: {0}")]
    Batch(String),
}

impl StoreError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, key: impl ToString) -> Self {
        StoreError::NotFound {
            what,
            key: key.to_string(),
        }
    }
}

/// Maps a unique-constraint violation to a conflict naming `what` and `key`.
pub(crate) fn conflict_on_unique(
    e: sqlx::Error,
    what: &'static str,
    key: impl ToString,
) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict {
            what,
            key: key.to_string(),
        };
    }
    StoreError::Database(e)
}
