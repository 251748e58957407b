//! `spawn_app`: a fresh database with the Japanese profile, demo users, and a running server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::{OrgKind, Organization, shipped_profile};
use ciphub_server::taxii::TaxiiLimits;
use ciphub_server::{ApiLimits, AppState, Rate, ServerConfig, hash_password, issue_token};
use ciphub_store::testkit::TestDb;
use ciphub_store::{By, ManualClock, NewUser};

/// The password of every test user.
pub const PASSWORD: &str = "test-password-123";

/// A running server and the users it knows.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub clock: Arc<ManualClock>,
    /// The server's state, for running its jobs by hand.
    pub state: AppState,
    /// A valid API token per user name.
    pub tokens: HashMap<&'static str, String>,
}

/// (organization, user, roles) created in every test app.
const USERS: &[(&str, &str, &[Role])] = &[
    ("nisc", "admin", &[Role::Admin]),
    ("nisc", "coordinator", &[Role::Coordinator]),
    ("mhlw", "mhlw-admin", &[Role::Admin]),
    ("mhlw", "mhlw-analyst", &[Role::Analyst]),
    ("water-ceptoar", "secretariat", &[Role::Secretariat]),
    ("tokyo-water", "reporter", &[Role::Reporter]),
    ("tokyo-water", "water-admin", &[Role::Admin]),
    ("tokyo-water", "water-exec", &[Role::Executive]),
];

impl TestApp {
    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET as `user`.
    pub async fn get(&self, user: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.tokens[user])
            .send()
            .await
            .expect("request")
    }

    /// A request with a JSON body as `user`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        user: &str,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.tokens[user])
            .json(&body)
            .send()
            .await
            .expect("request")
    }
}

/// Starts an app with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

/// The configuration of test apps: jobs run only when a test runs them, and the request limits
/// are off, because every test client shares one address and some poll every few milliseconds
/// (`limits.rs` tests the limits).
pub fn test_config() -> ServerConfig {
    ServerConfig {
        taxii: TaxiiLimits {
            requests_per_minute: u32::MAX,
            burst: u32::MAX,
            ..TaxiiLimits::default()
        },
        secure_cookies: false,
        api_limits: ApiLimits {
            per_credential: Rate::UNLIMITED,
            per_address: Rate::UNLIMITED,
        },
        job_poll: None,
        federation_poll: None,
        correlation_poll: None,
        webhook_private_targets: true,
        ..ServerConfig::default()
    }
}

/// Starts an app with `config`.
pub async fn spawn_app_with(config: ServerConfig) -> TestApp {
    let clock = test_clock();
    let db = TestDb::with_clock(clock.clone()).await.expect("database");
    spawn_app_in(db, clock, config).await
}

/// The clock test apps start at.
pub fn test_clock() -> Arc<ManualClock> {
    let start = Utc
        .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
        .single()
        .expect("time");
    Arc::new(ManualClock::new(start))
}

/// Starts an app on `db`, whose store uses `clock`.
pub async fn spawn_app_in(db: TestDb, clock: Arc<ManualClock>, config: ServerConfig) -> TestApp {
    let profile = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    db.store
        .apply_profile(&profile, &By::system())
        .await
        .expect("profile");
    db.store
        .add_organizations(
            &[Organization {
                slug: Slug::parse("tokyo-water").expect("slug"),
                kind: OrgKind::Operator,
                name_en: "Tokyo Water".into(),
                name_ja: Some("東京水道".into()),
                abbrev: None,
                sectors: vec![Slug::parse("water").expect("slug")],
                services: vec![Slug::parse("water-supply").expect("slug")],
                responsible_for: vec![],
                member_of: vec![Slug::parse("water-ceptoar").expect("slug")],
                members_published: None,
                members_count: None,
            }],
            &By::system(),
        )
        .await
        .expect("operator");
    let hash = hash_password(PASSWORD).expect("hash");
    let mut tokens = HashMap::new();
    for (org, name, roles) in USERS {
        let user = NewUser {
            org: Slug::parse(org).expect("slug"),
            name: UserName::parse(name).expect("name"),
            display_name: (*name).into(),
            roles: roles.iter().copied().collect(),
            password_hash: Some(hash.clone()),
        };
        db.store
            .create_user(&user, &By::system())
            .await
            .expect("user");
        let token = issue_token(
            &db.store,
            &user.name,
            "test",
            Duration::from_secs(7 * 86400),
            &By::system(),
        )
        .await
        .expect("token");
        tokens.insert(*name, token);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(db.store.clone(), config);
    tokio::spawn(ciphub_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    TestApp {
        base,
        client: reqwest::Client::new(),
        db,
        clock,
        state,
        tokens,
    }
}

/// The JSON error body's `field` and `code`.
pub async fn error_of(resp: reqwest::Response) -> (u16, String, Option<String>, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("json error body");
    let e = &body["error"];
    (
        status,
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["field"].as_str().map(str::to_owned),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Signs `user` in with its password; returns the session cookie as `name=value`.
pub async fn sign_in(app: &TestApp, user: &str) -> String {
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"user": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned()
}
