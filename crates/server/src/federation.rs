//! Federation: a TAXII 2.1 client that pulls objects added to another server's collection
//! into a local one, or pushes what may leave this instance (TLP:CLEAR and TLP:GREEN) to it.
//!
//! Each federation keeps a cursor in the database (the remote's last date added for a pull,
//! the last local sequence number for a push), so a run moves only what changed since the
//! last and a restart carries on where it stopped. Every object pulled records where it came
//! from (`federation:<id>`) and is never pushed back there.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use ciphub_domain::redact::{mask_url, mask_urls_in};
use ciphub_store::{By, FederationRecord, StixBatch};
use serde_json::{Value, json};

use crate::taxii::{MEDIA_TAXII, to_new_object};
use crate::{AppState, egress};

/// Pages (of up to `PAGE` objects) moved per federation per run, so one busy link cannot hold
/// the worker; the next run continues from the cursor.
const MAX_PAGES: usize = 200;
const PAGE: u32 = 1_000;
/// Objects per envelope pushed.
const PUSH_ENVELOPE: u32 = 100;

/// The HTTP client federations use. Unless `private_ok`, it reaches public addresses only,
/// through names and through redirects alike.
pub fn client(private_ok: bool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    if !private_ok {
        builder = builder
            .dns_resolver(Arc::new(egress::PublicOnly))
            .redirect(egress::public_redirects());
    }
    builder
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("ciphub/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the federation client: {e}"))
}

/// Checks the API root of a federation partner: an http:// or https:// URL with a host, no
/// user name, password, query or fragment (the partner's credentials are stored apart and never
/// shown), at a public address unless `private_ok`.
pub fn check_url(url: &str, private_ok: bool) -> Result<reqwest::Url, String> {
    let shown = mask_url(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{shown:?}: must be an http:// or https:// API root with a host"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{shown:?}: no user name or password in the URL; give the partner's credentials apart"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{shown:?}: an API root has no query or fragment; give a token as the secret"
        ));
    }
    if !private_ok {
        egress::check_literal(&parsed)?;
    }
    Ok(parsed)
}

/// Refuses, unless the operator allows private targets, a federation whose stored URL is an
/// address literal that is not public (stored before the check, or while private targets
/// were allowed).
fn reachable(state: &AppState, f: &FederationRecord) -> Result<(), String> {
    if state.config.webhook_private_targets {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(&f.url)
        .map_err(|e| format!("{:?} is not a URL: {e}", mask_url(&f.url)))?;
    egress::check_literal(&parsed)
}

/// Why a call failed, without its URL (which may carry credentials): reqwest's own words and
/// the innermost cause (refused, timed out, no public address).
fn failure(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    if let Some(inner) = innermost {
        why = format!("{why}: {inner}");
    }
    why
}

/// What one run of a federation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub moved: i64,
    pub error: Option<String>,
}

/// Runs federations when they are due, until the server stops.
pub async fn work(state: AppState, every: Duration) {
    loop {
        if let Err(e) = run_due(&state).await {
            tracing::warn!(error = %e, "federation run failed");
        }
        tokio::time::sleep(every).await;
    }
}

/// Runs every federation that is due now; returns (federation id, outcome) for each.
pub async fn run_due(state: &AppState) -> Result<Vec<(i64, RunOutcome)>, crate::AppError> {
    let now = state.store.clock().now().timestamp_micros();
    let mut out = Vec::new();
    for f in state.store.federations().await? {
        if f.next_us <= now {
            out.push((f.id, run_one(state, &f).await?));
        }
    }
    Ok(out)
}

/// Runs one federation now and records the outcome.
pub async fn run_one(
    state: &AppState,
    f: &FederationRecord,
) -> Result<RunOutcome, crate::AppError> {
    let (cursor, moved, error) = match reachable(state, f) {
        Err(why) => (f.cursor.clone(), 0, Some(why)),
        Ok(()) => match f.direction.as_str() {
            "push" => push(state, f).await,
            _ => pull(state, f).await,
        },
    };
    // What a remote answered may quote URLs with credentials; it is stored, logged and shown.
    let error = error.map(|e| mask_urls_in(&e));
    if let Some(e) = &error {
        let url = mask_url(&f.url);
        tracing::warn!(federation = f.id, %url, error = %e, "federation run stopped");
    }
    state
        .store
        .record_federation_run(f.id, &cursor, moved, error.as_deref())
        .await?;
    Ok(RunOutcome { moved, error })
}

fn collection_url(f: &FederationRecord) -> String {
    format!(
        "{}/collections/{}/objects/",
        f.url.trim_end_matches('/'),
        f.remote_collection
    )
}

fn authorize(req: reqwest::RequestBuilder, f: &FederationRecord) -> reqwest::RequestBuilder {
    match (&f.username, &f.secret) {
        (Some(user), secret) => req.basic_auth(user, secret.as_deref()),
        (None, Some(token)) => req.bearer_auth(token),
        (None, None) => req,
    }
}

/// Pulls what the remote collection added after the cursor; returns (cursor, moved, error).
async fn pull(state: &AppState, f: &FederationRecord) -> (String, i64, Option<String>) {
    let mut cursor = f.cursor.clone();
    // While following `next`, the other parameters stay as they were (servers such as
    // medallion refuse a changed query); the cursor moves on as pages arrive.
    let mut asked_after = f.cursor.clone();
    let mut moved = 0;
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query: Vec<(&str, String)> = vec![
            ("limit", PAGE.to_string()),
            ("match[version]", "all".to_owned()),
        ];
        if !asked_after.is_empty() {
            query.push(("added_after", asked_after.clone()));
        }
        if let Some(n) = &next {
            query.push(("next", n.clone()));
        }
        let req = authorize(
            state
                .federation_http
                .get(collection_url(f))
                .header(header::ACCEPT, MEDIA_TAXII)
                .query(&query),
            f,
        );
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return (cursor, moved, Some(format!("GET failed: {}", failure(e)))),
        };
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return (
                cursor,
                moved,
                Some(format!("GET answered {status}: {}", clip(&body))),
            );
        }
        let last_added = resp
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let envelope: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) => {
                return (
                    cursor,
                    moved,
                    Some(format!("the envelope is not JSON: {}", failure(e))),
                );
            }
        };
        let items = envelope
            .get("objects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut objects = Vec::with_capacity(items.len());
        let mut refused = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match to_new_object(item, &format!("objects[{i}]")) {
                Ok(o) => objects.push(o),
                Err(e) => refused.push(e.to_string()),
            }
        }
        if !refused.is_empty() {
            tracing::warn!(federation = f.id, refused = refused.len(), first = %refused[0], "federation refused invalid objects");
        }
        let n = objects.len() as i64;
        if !objects.is_empty()
            && let Err(e) = state
                .store
                .add_stix_objects(
                    &StixBatch {
                        collection: f.local_collection.clone(),
                        owner: f.org.clone(),
                        origin: format!("federation:{}", f.id),
                        alert_id: None,
                        status_id: None,
                    },
                    objects,
                    Vec::new(),
                    &By::system(),
                )
                .await
        {
            return (cursor, moved, Some(format!("storing failed: {e}")));
        }
        moved += n;
        let more = envelope
            .get("more")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        next = envelope
            .get("next")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(last) = last_added {
            cursor = last;
        }
        if !more {
            return (cursor, moved, None);
        }
        if next.is_none() {
            if n == 0 || asked_after == cursor {
                return (
                    cursor,
                    moved,
                    Some("the server says more but gave no next and no way on".to_owned()),
                );
            }
            // No `next`: a new query from where this page ended.
            asked_after = cursor.clone();
        }
    }
    (cursor, moved, None)
}

/// Pushes local objects that may leave, added after the cursor, in envelopes.
async fn push(state: &AppState, f: &FederationRecord) -> (String, i64, Option<String>) {
    let mut after: i64 = f.cursor.parse().unwrap_or(0);
    let mut moved = 0;
    // Never send a server what came from it, by any federation with it.
    let own: Vec<String> = match state.store.federations().await {
        Ok(all) => all
            .iter()
            .filter(|g| g.url == f.url)
            .map(|g| format!("federation:{}", g.id))
            .collect(),
        Err(e) => return (f.cursor.clone(), 0, Some(format!("reading failed: {e}"))),
    };
    for _ in 0..MAX_PAGES {
        let rows = match state
            .store
            .stix_outgoing(&f.local_collection, after, &own, PUSH_ENVELOPE)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return (
                    after.to_string(),
                    moved,
                    Some(format!("reading failed: {e}")),
                );
            }
        };
        let Some(last) = rows.last().map(|r| r.seq) else {
            return (after.to_string(), moved, None);
        };
        let objects: Vec<Value> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        let req = authorize(
            state
                .federation_http
                .post(collection_url(f))
                .header(header::ACCEPT, MEDIA_TAXII)
                .header(header::CONTENT_TYPE, MEDIA_TAXII)
                .body(json!({ "objects": objects }).to_string()),
            f,
        );
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return (
                    after.to_string(),
                    moved,
                    Some(format!("POST failed: {}", failure(e))),
                );
            }
        };
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return (
                after.to_string(),
                moved,
                Some(format!(
                    "POST answered {status}: {}",
                    clip(&body.to_string())
                )),
            );
        }
        let failed = body
            .get("failure_count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if failed > 0 {
            tracing::warn!(
                federation = f.id,
                failed,
                "the remote refused some pushed objects"
            );
        }
        moved += objects.len() as i64 - failed;
        after = last;
    }
    (after.to_string(), moved, None)
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_urls_are_checked() {
        for url in [
            "http://127.0.0.1:8750/taxii2/ciphub/",
            "http://0x7f.1/taxii2/",
            "http://[64:ff9b::7f00:1]/taxii2/",
            "http://[2002:c0a8:101::1]/taxii2/",
            "http://192.0.0.1/taxii2/",
        ] {
            let why = check_url(url, false).expect_err(url);
            assert!(why.contains("not a public address"), "{url}: {why}");
            check_url(url, true).expect(url);
        }
        for url in [
            "ftp://partner.example/",
            "not a url",
            "https://partner:hunter2@partner.example/taxii2/",
            "https://partner.example/taxii2/?token=hunter2",
            "https://partner.example/taxii2/#hunter2",
        ] {
            let why = check_url(url, true).expect_err(url);
            assert!(!why.contains("hunter2"), "{why}");
        }
        let ok = check_url("https://Partner.example/taxii2/ciphub/", false).expect("public");
        assert_eq!(ok.as_str(), "https://partner.example/taxii2/ciphub/");
    }
}
