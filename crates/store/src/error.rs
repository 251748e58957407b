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
    /// Whether the database could not do the work just now (no space, an I/O error, a
    /// read-only file, a lost connection, a conflict with another transaction), so the same
    /// write may succeed later, as opposed to a write that is itself at fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect(..) | StoreError::NotWritable { .. } => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    db.code().is_some_and(|code| match code.parse::<i32>() {
                        // SQLite (an extended code keeps the primary one in its low byte): BUSY,
                        // LOCKED, READONLY, IOERR, FULL, CANTOPEN.
                        Ok(n) => matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14),
                        // PostgreSQL: connection exceptions, insufficient resources (a full
                        // disk), operator intervention, system errors, a read-only transaction,
                        // serialization failures and deadlocks.
                        Err(_) => {
                            ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
                                || matches!(code.as_ref(), "25006" | "40001" | "40P01")
                        }
                    })
                }
                _ => false,
            },
            _ => false,
        }
    }

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
