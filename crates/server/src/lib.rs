//! ciphub's HTTP server: the only crate that knows HTTP. It authenticates every request (but
//! `/healthz` and the login itself), asks the domain's access policy, and calls the store.
//!
//! Building the app (`app`) is separate from running it (`serve`), so tests call the router
//! directly or bind port 0.

#![forbid(unsafe_code)]

mod api;
mod auth;
mod error;
mod json;
mod limits;
mod markdown;
mod metrics;
mod openapi;
mod public;
mod router;

use std::sync::Arc;
use std::time::Duration;

use ciphub_store::Store;
use tokio::net::TcpListener;

pub use api::tokens::parse_lifetime as parse_token_lifetime;
pub use auth::{hash_password, hash_secret, new_secret};

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
    /// The address the public reaches this server at, for links in the Atom feed (default:
    /// from the request's Host header).
    pub public_url: Option<String>,
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
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    login_limiter: Arc<limits::LoginLimiter>,
}

impl AppState {
    /// State over `store` with `config`.
    pub fn new(store: Store, config: ServerConfig) -> Self {
        let login_limiter = Arc::new(limits::LoginLimiter::new(
            config.login_failures,
            config.login_window,
        ));
        Self {
            store,
            config: Arc::new(config),
            login_limiter,
        }
    }
}

/// Serves the app on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
