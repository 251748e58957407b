//! Transactions on the write pool, begun and ended by this crate's own statements rather than
//! sqlx's transaction bookkeeping, so that a connection never goes back to the pool in doubt.
//!
//! SQLite rolls a transaction back by itself when a write fails for want of space or on an I/O
//! error. sqlx's count of open transactions then no longer matches the connection's, and every
//! later "transaction" on that connection went astray: statements ran outside any transaction
//! or inside a stale savepoint, and commits that answered success kept nothing. Here a
//! transaction that ends other than by a successful commit is rolled back before its
//! connection is used again, and a connection whose rollback fails for any other reason than
//! "no transaction is active" is closed, so the next writer gets a fresh one.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use crate::{Backend, StoreError};

/// What the last failed write said, until a write succeeds again: the store cannot write.
pub(crate) type Fault = Arc<Mutex<Option<String>>>;

/// An open transaction on a connection of the write pool.
pub(crate) struct WriteConn {
    conn: Option<PoolConnection<Any>>,
    fault: Fault,
    committed: bool,
    /// On SQLite, this process's writers queue here rather than in SQLite's busy handler;
    /// held until the transaction ends.
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteConn {
    /// Takes a connection of `pool` and begins a transaction: on SQLite `BEGIN IMMEDIATE`,
    /// which takes the write lock at once, so no reader has to upgrade later.
    pub(crate) async fn begin(
        pool: &AnyPool,
        backend: Backend,
        fault: &Fault,
        gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<Self, StoreError> {
        let mut conn = pool.acquire().await?;
        let begin = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let mut out = Self {
            conn: None,
            fault: fault.clone(),
            committed: false,
            _gate: gate,
        };
        match sqlx::query(begin).execute(&mut *conn).await {
            Ok(_) => {
                out.conn = Some(conn);
                Ok(out)
            }
            Err(e) => {
                // Whatever state it is in, this connection is not used again.
                drop(conn.detach());
                out.committed = true;
                Err(out.failed(e))
            }
        }
    }

    /// Commits. An error means nothing of the transaction was kept.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(StoreError::Corrupt(
                "a write transaction was ended twice".into(),
            ));
        };
        match sqlx::query("COMMIT").execute(&mut **conn).await {
            Ok(_) => {
                self.committed = true;
                if let Ok(mut f) = self.fault.lock() {
                    *f = None;
                }
                Ok(())
            }
            // Drop rolls back what may be left, or closes the connection.
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Records a failure of the database itself (not of what was asked) as the store's fault.
    fn failed(&self, e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(_) | sqlx::Error::Io(_) = &e
            && let Ok(mut f) = self.fault.lock()
        {
            *f = Some(e.to_string());
        }
        e.into()
    }
}

impl Deref for WriteConn {
    type Target = AnyConnection;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &AnyConnection {
        // The connection is taken only by `drop`.
        self.conn.as_ref().expect("an open write connection")
    }
}

impl DerefMut for WriteConn {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("an open write connection")
    }
}

impl Drop for WriteConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.committed {
            return;
        }
        let fault = self.fault.clone();
        // A rollback needs the runtime; the connection returns to the pool only after it, so
        // the next writer (on SQLite, the pool's only connection) waits for a clean one.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    match sqlx::query("ROLLBACK").execute(&mut *conn).await {
                        Ok(_) => drop(conn),
                        // SQLite already rolled it back itself: the connection is clean.
                        Err(sqlx::Error::Database(e))
                            if e.message().contains("no transaction is active") =>
                        {
                            drop(conn)
                        }
                        Err(e) => {
                            if let Ok(mut f) = fault.lock() {
                                *f = Some(e.to_string());
                            }
                            drop(conn.detach());
                        }
                    }
                });
            }
            Err(_) => drop(conn.detach()),
        }
    }
}
