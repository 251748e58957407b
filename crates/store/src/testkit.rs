//! Fresh, migrated databases for tests, on the backend the environment asks for.
//!
//! `CIPHUB_TEST_DATABASE_URL` unset or `sqlite`: a new SQLite file in a temporary directory.
//! Set to a `postgres://` URL: a new database created on that server for each test, dropped
//! when the test's `TestDb` is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

use crate::{Backend, Clock, Store, StoreError, StoreOptions, SystemClock, sqlite_url_for_dir};

/// The environment variable naming the test backend.
pub const TEST_DB_ENV: &str = "CIPHUB_TEST_DATABASE_URL";

/// Where PostgreSQL-only tests look when the environment names no server.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh database that lives as long as this value.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

/// Says that a test is skipped and why (`why` names the test and how to install what it
/// needs), or panics when `CIPHUB_REQUIRE_ALL=1`. The line is written past the test harness's
/// capture, so `cargo test` shows it even though the test is reported `ok`.
pub fn skip(why: &str) {
    use std::io::Write as _;
    if std::env::var("CIPHUB_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{why}; CIPHUB_REQUIRE_ALL=1 forbids skipping");
    }
    // `eprintln!` would be captured, and shown only for a failing test.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {why}");
}

impl TestDb {
    /// A fresh database with the system clock.
    pub async fn new() -> Result<Self, StoreError> {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A fresh, migrated database whose store uses `clock`.
    pub async fn with_clock(clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let requested = std::env::var(TEST_DB_ENV).unwrap_or_default();
        Self::create(requested, clock, None).await
    }

    /// A fresh database with the migrations up to `version` only (the system clock), to test
    /// what the next migration does to the rows of a database made before it.
    pub async fn at_version(version: i64) -> Result<Self, StoreError> {
        let requested = std::env::var(TEST_DB_ENV).unwrap_or_default();
        Self::create(requested, Arc::new(SystemClock), Some(version)).await
    }

    /// A fresh PostgreSQL database, for tests of what only PostgreSQL does (several processes
    /// on one database): on the server `CIPHUB_TEST_DATABASE_URL` names, else on
    /// `DEFAULT_POSTGRES`. When no server answers, prints one line saying the test `name` is
    /// skipped and returns `None`, or panics when `CIPHUB_REQUIRE_ALL=1`.
    pub async fn postgres_or_skip(name: &str) -> Option<Self> {
        Self::postgres_with_clock_or_skip(name, Arc::new(SystemClock)).await
    }

    /// `postgres_or_skip` with a store that uses `clock`.
    pub async fn postgres_with_clock_or_skip(name: &str, clock: Arc<dyn Clock>) -> Option<Self> {
        let requested = std::env::var(TEST_DB_ENV).unwrap_or_default();
        let url = if requested.starts_with("postgres") {
            requested
        } else {
            DEFAULT_POSTGRES.to_owned()
        };
        match Self::create(url.clone(), clock, None).await {
            Ok(db) => Some(db),
            Err(e) => {
                let why = format!(
                    "{name}: skipped: needs PostgreSQL at {} ({e})",
                    crate::redact_url(&url)
                );
                skip(&why);
                None
            }
        }
    }

    async fn create(
        requested: String,
        clock: Arc<dyn Clock>,
        version: Option<i64>,
    ) -> Result<Self, StoreError> {
        let (url, dir, pg_drop) = if requested.is_empty() || requested == "sqlite" {
            let dir = tempfile::tempdir().map_err(|e| StoreError::Config(e.to_string()))?;
            (sqlite_url_for_dir(dir.path()), Some(dir), None)
        } else {
            if Backend::from_url(&requested)? != Backend::Postgres {
                return Err(StoreError::Config(format!(
                    "{TEST_DB_ENV} must be unset, \"sqlite\" or a postgres:// URL"
                )));
            }
            let name = fresh_name();
            let mut admin = sqlx::PgConnection::connect(&requested)
                .await
                .map_err(|e| StoreError::Connect(crate::redact_url(&requested), e))?;
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await?;
            admin.close().await?;
            let url = replace_db_name(&requested, &name);
            (url, None, Some((requested, name)))
        };
        let options = StoreOptions {
            max_connections: 8,
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&url, options, clock).await?;
        match version {
            Some(v) => store.migrate_to(v).await?,
            None => store.migrate().await?,
        }
        Ok(Self {
            store,
            url,
            _dir: dir,
            pg_drop,
        })
    }
}

impl TestDb {
    /// On PostgreSQL, ends this database's `LISTEN` connections from the server's side, as a
    /// failover or a cut network would; returns how many it ended (none on SQLite).
    pub async fn terminate_listeners(&self) -> Result<u64, StoreError> {
        if self.store.backend() != Backend::Postgres {
            return Ok(0);
        }
        let mut c = sqlx::PgConnection::connect(&self.url)
            .await
            .map_err(|e| StoreError::Connect(crate::redact_url(&self.url), e))?;
        let ended: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() \
             AND (application_name = $1 OR query ILIKE 'LISTEN%')",
        )
        .bind(crate::LISTENER_NAME)
        .fetch_all(&mut c)
        .await?;
        c.close().await?;
        Ok(ended.iter().filter(|(done,)| *done).count() as u64)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_drop.take() {
            // Drop runs inside the test's runtime; a thread with its own runtime can block.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = c.execute(sqlx::AssertSqlSafe(sql)).await;
                    }
                });
            })
            .join();
        }
    }
}

fn fresh_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "ciphub_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// `url` with its database name replaced by `name` (query string kept).
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let host = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{host}/{name}?{q}"),
        None => format!("{scheme}://{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn db_name_is_replaced() {
        assert_eq!(
            super::replace_db_name("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
