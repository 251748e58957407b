//! ciphub's HTTP server: the only crate that knows HTTP. It authenticates every request (but
//! `/healthz` and the login itself), asks the domain's access policy, and calls the store.
//!
//! Building the app (`app`) is separate from running it (`serve`), so tests call the router
//! directly or bind port 0.

#![forbid(unsafe_code)]

mod api;
mod auth;
pub mod correlation;
mod egress;
mod error;
pub mod exercise;
pub mod federation;
pub mod intake;
pub mod jobs;
mod json;
mod limits;
mod markdown;
mod metrics;
pub mod misp;
mod nul;
mod openapi;
mod path;
mod public;
mod router;
pub mod taxii;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use ciphub_store::Store;
use tokio::net::TcpListener;

pub use api::tokens::parse_lifetime as parse_token_lifetime;
pub use auth::{CSRF_HEADER, csrf_token, hash_password, hash_secret, new_secret};

/// Issues an API token for `user`; returns the token, which is shown only this once.
pub async fn issue_token(
    store: &Store,
    user: &ciphub_domain::identity::UserName,
    label: &str,
    lifetime: Duration,
    by: &ciphub_store::By,
) -> Result<String, ciphub_store::StoreError> {
    api::tokens::issue(store, user, label, lifetime, by)
        .await
        .map(|(token, _)| token)
}
pub use error::AppError;
pub use limits::{ApiLimits, Rate};
pub use router::app;

/// Settings the server needs at run time.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// Mark session cookies `Secure` (browsers still accept them on http://localhost).
    pub secure_cookies: bool,
    /// Failed logins per user name allowed within `login_window` before 429.
    pub login_failures: u32,
    pub login_window: Duration,
    /// The longest lifetime a new API token may have.
    pub max_token_lifetime: Duration,
    /// Report stage deadlines per formation and severity.
    pub deadlines: ciphub_domain::report::DeadlinePolicy,
    /// The address the public reaches this server at, for links in the Atom feed and e-mail
    /// (without it the feed's links are relative, never taken from a request's Host header).
    pub public_url: Option<String>,
    /// Where e-mail goes out; without it, alerts are not e-mailed.
    pub mail: Option<MailConfig>,
    /// Tries of a webhook call (or an e-mail) before it becomes a dead letter.
    pub delivery_attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long (at most 6 h).
    pub retry_backoff: Duration,
    /// How often the job worker looks for due jobs when nothing wakes it; `None` runs no
    /// worker in this process (tests then call `jobs::run_due`).
    pub job_poll: Option<Duration>,
    /// The largest attachment accepted, in bytes.
    pub attachment_limit: usize,
    /// Let webhooks and federations call loopback and private-network addresses (for a closed
    /// network, and tests). Off by default: they reach public addresses only.
    pub webhook_private_targets: bool,
    /// The limits of the TAXII interface.
    pub taxii: taxii::TaxiiLimits,
    /// Requests to the REST API per credential and per client address.
    pub api_limits: ApiLimits,
    /// This instance's name, which makes the STIX ids of its own records its own.
    pub instance_name: String,
    /// The time zone pages show times in for users who have not chosen one.
    pub time_zone: chrono_tz::Tz,
    /// How often federations are checked for being due; `None` runs none in this process
    /// (tests then call `federation::run_due`).
    pub federation_poll: Option<Duration>,
    /// How often new reports, alerts and STIX objects are correlated; `None` runs no indexer
    /// in this process (tests then call `correlation::catch_up`).
    pub correlation_poll: Option<Duration>,
    /// The smallest group of organizations whose items a reader who may not read them is told
    /// of, as a count.
    pub correlation_k: usize,
    /// Whether this process plays exercise runs (see `exercise.rs`); several may.
    pub exercises: bool,
    /// The font after-action reports are drawn in as PDF (one with Japanese); none: the first
    /// of `exercise::report::FONT_CANDIDATES` the machine has.
    pub pdf_font: Option<std::path::PathBuf>,
}

/// The SMTP server alerts are e-mailed through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, for a relay on the same host or network),
    /// `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`, optionally with
    /// `user:password@` before the host.
    pub smtp_url: String,
    /// The sender address, such as `ciphub <alerts@example.org>`.
    pub from: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
            login_failures: 10,
            login_window: Duration::from_secs(15 * 60),
            max_token_lifetime: Duration::from_secs(366 * 24 * 3600),
            deadlines: ciphub_domain::report::DeadlinePolicy::default(),
            public_url: None,
            mail: None,
            delivery_attempts: 8,
            retry_backoff: Duration::from_secs(30),
            job_poll: Some(Duration::from_secs(1)),
            attachment_limit: 4 * 1024 * 1024,
            webhook_private_targets: false,
            taxii: taxii::TaxiiLimits::default(),
            api_limits: ApiLimits::default(),
            instance_name: "ciphub".to_owned(),
            time_zone: chrono_tz::Asia::Tokyo,
            federation_poll: Some(Duration::from_secs(5)),
            correlation_poll: Some(Duration::from_secs(2)),
            correlation_k: ciphub_domain::policy::correlation::DEFAULT_K,
            exercises: true,
            pdf_font: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    login_limiter: Arc<limits::LoginLimiter>,
    /// The SMTP client, when mail is configured.
    mailer: Option<Arc<jobs::Mailer>>,
    /// The HTTP client webhooks are called with.
    http: reqwest::Client,
    /// Set when the server stops: live streams end so the shutdown need not wait for them.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Token buckets of requests per credential and per address, for the API and TAXII.
    limiters: Arc<limits::RequestLimiters>,
    /// One writer at a time exports new alerts to the alerts collection.
    alert_export: Arc<tokio::sync::Mutex<()>>,
    /// The client federations call other TAXII servers with.
    federation_http: reqwest::Client,
    /// Posted STIX objects on their way to the store.
    pub taxii_intake: Arc<intake::Intake>,
    /// This process's job worker, as the jobs it leases name it.
    worker: ciphub_store::WorkerId,
}

impl AppState {
    /// State over `store` with `config`. Fails when the mail settings are unusable.
    pub fn try_new(store: Store, config: ServerConfig) -> Result<Self, String> {
        let login_limiter = Arc::new(limits::LoginLimiter::new(
            config.login_failures,
            config.login_window,
        ));
        let mailer = config
            .mail
            .as_ref()
            .map(jobs::Mailer::new)
            .transpose()?
            .map(Arc::new);
        let mut http = reqwest::Client::builder();
        if !config.webhook_private_targets {
            http = http.dns_resolver(Arc::new(egress::PublicOnly));
        }
        let http = http
            .timeout(jobs::WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ciphub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        let worker = ciphub_store::WorkerId::random();
        Ok(Self {
            login_limiter,
            mailer,
            http,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            limiters: Arc::new(limits::RequestLimiters::new(
                config.api_limits,
                config.taxii.rate(),
            )),
            alert_export: Arc::default(),
            federation_http: federation::client(config.webhook_private_targets)?,
            taxii_intake: Arc::new(intake::Intake::new(
                store.clone(),
                worker.clone(),
                config.taxii.queue_bytes,
            )),
            worker,
            store,
            config: Arc::new(config),
        })
    }

    /// State over `store` with `config`, which has no mail settings or valid ones.
    ///
    /// # Panics
    /// When the mail settings are unusable; use `try_new` for settings from a user.
    #[allow(clippy::expect_used)]
    pub fn new(store: Store, config: ServerConfig) -> Self {
        Self::try_new(store, config).expect("valid server settings")
    }

    /// The key TAXII `next` cursors are sealed with: the instance's, shared by every process.
    async fn cursor_key(&self) -> Result<taxii::CursorKey, ciphub_store::StoreError> {
        Ok(taxii::CursorKey::new(
            self.store.instance_secret(taxii::CURSOR_SECRET).await?,
        ))
    }
}

/// Serves the app on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Other processes' events (PostgreSQL), and the worker that sends e-mail, calls webhooks
    // and escalates. Both stop when the server does.
    let store = state.store.clone();
    let listener_task = tokio::spawn(async move { store.listen().await });
    let worker = state
        .config
        .job_poll
        .map(|every| tokio::spawn(jobs::work(state.clone(), every)));
    let federations = state
        .config
        .federation_poll
        .map(|every| tokio::spawn(federation::work(state.clone(), every)));
    let correlations = state
        .config
        .correlation_poll
        .map(|every| tokio::spawn(correlation::work(state.clone(), every)));
    let exercises = state.config.exercises.then(|| {
        tokio::spawn(exercise::work(
            state.store.clone(),
            state.config.mail.is_some(),
        ))
    });
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        // Live streams end now; other requests finish.
        let _ = closing.send(true);
    };
    let intake = state.taxii_intake.clone();
    // The peer address is kept for the per-address request limits.
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // Posted objects still queued are written before the server is done, for a few seconds;
    // the rest stays held in the store and is written after the next start.
    intake.stop().await;
    listener_task.abort();
    if let Some(w) = worker {
        w.abort();
    }
    if let Some(f) = federations {
        f.abort();
    }
    if let Some(c) = correlations {
        c.abort();
    }
    if let Some(x) = exercises {
        x.abort();
    }
    result
}
