//! ciphub's store: the only crate with SQL. One `Store` over SQLite (the embedded default) or
//! PostgreSQL (the scale-out store), picked by the database URL's scheme.
//!
//! Invariant: every method is one unit of work, and every method that changes state appends to
//! the audit chain in the same transaction (see `write.rs`).

#![deny(unsafe_code)]

mod alerts;
mod audit;
pub mod clock;
mod correlation;
mod delivery;
mod error;
mod events;
mod exercises;
mod ids;
mod intake;
mod nodelay;
mod planner;
mod public_ids;
mod registry;
mod reports;
mod secrets;
mod taxii;
#[cfg(feature = "testkit")]
pub mod testkit;
mod txn;
mod users;
mod workers;
mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

pub use alerts::{
    AlertRecord, DeliveryFilter, DeliveryLine, DeliveryPage, DeliveryRecord, DeliveryShow,
    NewAlert, PUBLIC_ALERT,
};
pub use audit::{AuditPage, COMMUNITY_SCOPE, ORG_SCOPE, OWN_USER_SCOPE};
pub use clock::{Clock, ManualClock, SystemClock};
pub use correlation::{
    AlertText, BusyValue, CorrelationItem, CorrelationRow, ReportText, StixText,
};
pub use delivery::{
    Attachment, Contact, JobKind, JobRecord, JobState, NewAttachment, NoticeRecord, WebhookRecord,
};
pub use error::StoreError;
pub use events::{Event, LISTENER_NAME, STREAM_RETENTION};
pub use exercises::{
    ActionRecord, NewRun, RunRecord, SIMULATED_REPORTER, SendInject, ShareRecord, Traffic,
    inject_audience,
};
pub use intake::HeldEnvelope;
pub use registry::{OrgDetail, OrgFilter, OrgOrder, OrgRecord, ProfileReport, SectorRecord};
pub use reports::REPORT_READABLE;
pub use reports::{
    IncidentSummary, NoteRecord, NotificationRecord, Reassessment, RecipientRecord, ReportRecord,
    StageRecord, StageUpdate, TriagePatch,
};
pub use taxii::{
    FederationRecord, MAY_LEAVE, NewFederation, NewStixObject, StatusDetail, StatusRecord, StixAdd,
    StixBatch, StixPage, StixQuery, StixRow, VersionFilter,
};
pub use users::{NewUser, SecurityNotice, TokenLookup, TokenRecord, UserPatch, UserRecord};
pub use workers::{GONE_AFTER, HEARTBEAT, WorkerId};
pub use write::{AuditEvent, By};

/// The database engine behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Config(format!(
                "database URL must start with sqlite:, postgres: or postgresql:, not {scheme:?}"
            ))),
        }
    }

    /// The backend's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl FromStr for Backend {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::from_url(&format!("{s}:"))
    }
}

/// The database URL of the embedded store in a data directory.
pub fn sqlite_url_for_dir(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("ciphub.db").display())
}

/// Fails at once, naming the directory, when the directory of a SQLite database that is opened
/// for writing cannot be written (rather than after the pool's time-out, or at the first write).
fn check_writable_dir(url: &str) -> Result<(), StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty()
        || path == ":memory:"
        || query
            .split('&')
            .any(|p| p == "mode=ro" || p == "mode=memory")
    {
        return Ok(());
    }
    let file = Path::new(path);
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let not_writable = |reason: String| StoreError::NotWritable {
        path: dir.display().to_string(),
        reason,
    };
    let probe = dir.join(format!(".ciphub-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| not_writable(e.to_string()))?;
    let _ = std::fs::remove_file(&probe);
    if file.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .map_err(|e| not_writable(format!("{}: {e}", file.display())))?;
    }
    Ok(())
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a writer waits for SQLite's lock before giving up.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// The store: a pool over one database and the clock that stamps what it writes.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// On SQLite, the one connection every write goes through (see `write.rs`); on
    /// PostgreSQL, the pool.
    write_pool: AnyPool,
    /// Why the last write failed in the database itself, until one succeeds again.
    fault: txn::Fault,
    backend: Backend,
    clock: Arc<dyn Clock>,
    /// On SQLite, writers of this process queue here rather than in SQLite's busy handler,
    /// which sleeps and retries and so wastes the one write lock (see `write.rs`).
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// The database URL, for the PostgreSQL event listener's own connection.
    url: Arc<str>,
    /// This process's subscribers to live events.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Whether the PostgreSQL event listener is connected.
    listening: Arc<tokio::sync::watch::Sender<bool>>,
    /// The instance's secrets as read (see `secrets.rs`).
    secrets: Arc<std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>>,
    /// Token uses not yet written.
    last_used: Arc<std::sync::Mutex<users::LastUsedQueue>>,
    /// Tokens recently found valid (see `users::TokenCache`).
    tokens: Arc<users::TokenCache>,
    /// Organization ids by slug, as read (see `org_id`).
    org_ids: Arc<std::sync::Mutex<std::collections::HashMap<ciphub_domain::Slug, i64>>>,
    /// Acknowledgements waiting to be written together.
    acks: Arc<alerts::AckQueue>,
    /// Recently read alerts, which never change.
    alert_cache: Arc<std::sync::Mutex<std::collections::HashMap<i64, AlertRecord>>>,
    /// Rows added to large tables since they were analyzed (PostgreSQL; see `planner.rs`).
    growth: Arc<planner::Growth>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to the database at `url` with default options and the system clock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default(), Arc::new(SystemClock)).await
    }

    /// Connects to the database at `url`.
    pub async fn connect_with(
        url: &str,
        options: StoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            check_writable_dir(url)?;
        }
        let busy_ms = options.busy_timeout.as_millis();
        let configure = move |options: AnyPoolOptions| {
            options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // writers queue instead of failing; foreign keys are off by default.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        let busy = format!("PRAGMA busy_timeout = {busy_ms}");
                        conn.execute(sqlx::AssertSqlSafe(busy)).await?;
                        // A page cache of 16 MiB a connection (the default is 2 MiB), and the WAL
                        // folded back into the database every 10,000 pages rather than 1,000:
                        // index pages that every write touches are copied back once, not ten
                        // times (see BENCHMARKS.md, TAXII).
                        conn.execute("PRAGMA cache_size = -16384").await?;
                        conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                    } else {
                        nodelay::set_on_sockets();
                    }
                    Ok(())
                })
            })
        };
        let pool = configure(
            AnyPoolOptions::new()
                .max_connections(options.max_connections)
                // A SQLite connection is a file handle in this process and cannot drop away, so
                // it is not pinged each time it is taken from the pool; a PostgreSQL one is.
                .test_before_acquire(backend == Backend::Postgres),
        )
        .connect(url)
        .await
        .map_err(|e| StoreError::Connect(redact_url(url), e))?;
        let write_pool = match backend {
            Backend::Sqlite => configure(
                AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .test_before_acquire(false),
            )
            .connect(url)
            .await
            .map_err(|e| StoreError::Connect(redact_url(url), e))?,
            Backend::Postgres => pool.clone(),
        };
        Ok(Self {
            pool,
            write_pool,
            backend,
            clock,
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
            fault: Arc::default(),
            url: url.into(),
            events: tokio::sync::broadcast::channel(events::CAPACITY).0,
            listening: Arc::new(tokio::sync::watch::channel(false).0),
            secrets: Arc::default(),
            last_used: Arc::default(),
            tokens: Arc::default(),
            org_ids: Arc::default(),
            acks: Arc::default(),
            alert_cache: Arc::default(),
            growth: Arc::default(),
        })
    }

    /// Runs the migrations this version has that the database does not.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &MIGRATE_SQLITE,
            Backend::Postgres => &MIGRATE_POSTGRES,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Runs the migrations up to `version` only, so that a test of the next one can start from
    /// the schema before it.
    #[cfg(feature = "testkit")]
    pub async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &MIGRATE_SQLITE,
            Backend::Postgres => &MIGRATE_POSTGRES,
        };
        migrator.run_to(version, &self.pool).await?;
        Ok(())
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock that stamps writes.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        if let Err(e) = self.flush_last_used().await {
            tracing::warn!(error = %e, "could not record the last use of tokens");
        }
        self.pool.close().await;
        self.write_pool.close().await;
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://h/db").unwrap_err().to_string();
        assert!(err.contains("\"mysql\""), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://ciphub:s3cret@db:5432/ciphub"),
            "postgres://ciphub:***@db:5432/ciphub"
        );
        assert_eq!(
            redact_url("sqlite:///data/ciphub.db"),
            "sqlite:///data/ciphub.db"
        );
    }
}
