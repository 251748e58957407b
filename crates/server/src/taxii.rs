//! The TAXII 2.1 server under `/taxii2/`: discovery, one API root, collections that are views
//! of the sharing policy, objects with every filter and a stateless cursor, manifests,
//! versions, deletion and status. Every answer, errors included, is a TAXII resource.
//!
//! Collections: `community` (anyone may read what TLP allows, sharers may write) and `alerts`
//! (read-only: the alerts the caller's organization received or sent, as STIX).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ciphub_domain::policy::{Action, check};
use ciphub_domain::stix::{self, format_timestamp, parse_timestamp};
use ciphub_store::{
    By, NewStixObject, StatusDetail, StatusRecord, StixAdd, StixBatch, StixQuery, StixRow,
    VersionFilter,
};
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::intake::Held;

/// The TAXII 2.1 media type.
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// The one API root's path segment.
pub const API_ROOT: &str = "ciphub";
/// The community collection: shared STIX objects under TLP.
pub const COMMUNITY: &str = "2f4e3d1c-9b8a-4c7d-8e6f-5a4b3c2d1e01";
/// The alerts collection: alerts the reader received or sent, read-only.
pub const ALERTS: &str = "2f4e3d1c-9b8a-4c7d-8e6f-5a4b3c2d1e02";
/// The community collection's alias, which is also its key in the store.
pub const COMMUNITY_ALIAS: &str = "community";
/// The alerts collection's alias and store key.
pub const ALERTS_ALIAS: &str = "alerts";

/// The limits of the TAXII interface.
#[derive(Clone, Debug)]
pub struct TaxiiLimits {
    /// The largest envelope accepted, in bytes (the API root's `max_content_length`).
    pub max_content_length: usize,
    /// The largest page a GET returns (a larger `limit` is lowered to it).
    pub max_page: u32,
    /// Requests per credential per minute, in the long run.
    pub requests_per_minute: u32,
    /// Requests per credential allowed at once after a quiet spell.
    pub burst: u32,
    /// Bytes of checked envelopes waiting to be written (`crate::intake`); a POST that finds
    /// the queue full waits for room.
    pub queue_bytes: usize,
    /// How long a POST waits for its objects to be written before it answers: written in
    /// time, the status is `complete` at once; otherwise `pending`, to be polled. Clients such
    /// as `taxii2-client` sleep a whole second before polling a pending status.
    pub complete_within: Duration,
}

impl TaxiiLimits {
    /// The token bucket of each credential.
    pub fn rate(&self) -> crate::Rate {
        crate::Rate {
            per_minute: self.requests_per_minute,
            burst: self.burst,
        }
    }
}

impl Default for TaxiiLimits {
    fn default() -> Self {
        Self {
            max_content_length: 10 * 1024 * 1024,
            max_page: 1_000,
            requests_per_minute: 1_200,
            burst: 100,
            queue_bytes: 8 * 1024 * 1024,
            complete_within: Duration::from_millis(500),
        }
    }
}

/// A collection as the server defines it.
struct CollectionDef {
    id: &'static str,
    alias: &'static str,
    title: &'static str,
    description: &'static str,
    writable: bool,
}

const COLLECTIONS: [CollectionDef; 2] = [
    CollectionDef {
        id: COMMUNITY,
        alias: COMMUNITY_ALIAS,
        title: "Community sharing",
        description: "STIX objects shared by the community. TLP:CLEAR and TLP:GREEN objects are read by every organization; TLP:AMBER, TLP:AMBER+STRICT, TLP:RED and unmarked objects only by the organization that shared them.",
        writable: true,
    },
    CollectionDef {
        id: ALERTS,
        alias: ALERTS_ALIAS,
        title: "Alerts",
        description: "Alerts your organization received or sent, as STIX reports with a note. Read-only.",
        writable: false,
    },
];

fn collection(id: &str) -> Result<&'static CollectionDef, TaxiiError> {
    COLLECTIONS
        .iter()
        .find(|c| c.id == id || c.alias == id)
        .ok_or_else(|| {
            TaxiiError::new(
                StatusCode::NOT_FOUND,
                "Collection not found",
                format!("there is no collection {id:?}; GET the collections resource for the list"),
            )
        })
}

/// A TAXII error resource.
#[derive(Debug)]
pub struct TaxiiError {
    status: StatusCode,
    title: String,
    description: String,
    /// Seconds for `Retry-After`, if the request may be sent again as it is.
    retry_after: Option<u32>,
}

impl TaxiiError {
    fn new(status: StatusCode, title: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            description: description.into(),
            retry_after: None,
        }
    }

    fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn bad(parameter: &str, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Bad parameter {parameter}"),
            description,
        )
    }
}

impl From<AppError> for TaxiiError {
    fn from(e: AppError) -> Self {
        let status = e.status();
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let description = match &e {
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "TAXII request failed");
                "the server failed; the error is logged".to_owned()
            }
            other => other.to_string(),
        };
        Self::new(status, title, description)
    }
}

impl From<ciphub_store::StoreError> for TaxiiError {
    fn from(e: ciphub_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut resp = (self.status, taxii_json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ciphub TAXII\""),
            );
        }
        resp
    }
}

/// A JSON body with the TAXII media type.
fn taxii_json(body: impl serde::Serialize) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII));
    resp
}

/// Whether a media type names TAXII 2.1 (or TAXII with no version, which means the newest).
fn is_taxii(media: &str) -> bool {
    let mut parts = media.split(';').map(str::trim);
    let Some(base) = parts.next() else {
        return false;
    };
    if !base.eq_ignore_ascii_case("application/taxii+json") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("version") => v.trim() == "2.1",
        _ => true,
    })
}

/// Middleware for every TAXII route: content negotiation (406), the token buckets per client
/// address and per credential (429 with `Retry-After`, the body read so the connection stays
/// usable) and authentication (401, as a TAXII error with a Basic challenge).
pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.split(',').any(is_taxii) {
        return TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            format!("send Accept: {MEDIA_TAXII}"),
        )
        .into_response();
    }
    // The buckets come before the credential is looked up, so a flood costs the store nothing.
    let limits = &state.limiters;
    if let Err(e) = crate::limits::check(&req, &limits.taxii_address, &limits.taxii_credential) {
        let rate = match &e {
            crate::limits::Exceeded::Credential(_) => state.config.taxii.rate(),
            crate::limits::Exceeded::Address(_) => state.config.api_limits.per_address,
        };
        let resp = TaxiiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            e.message(rate),
        )
        .into_response();
        return crate::limits::refuse(
            req.into_body(),
            state.config.taxii.max_content_length,
            resp,
            e.wait(),
        )
        .await;
    }
    let user = match crate::auth::authed_user(&state, req.method(), req.headers()).await {
        Ok(u) => u,
        Err(e) => return TaxiiError::from(e).into_response(),
    };
    req.extensions_mut().insert(Authed(user));
    next.run(req).await
}

/// The address of the API root, for discovery.
/// The API root's URL: absolute under `public_url` when it is set, else relative (TAXII 2.1
/// allows a relative URL beginning with `/`), which is right whatever scheme, host and port a
/// TLS proxy in front of the server shows clients; the Host header is never used.
fn root_url(state: &AppState) -> String {
    let base = state.config.public_url.as_deref().unwrap_or("");
    format!("{}/taxii2/{API_ROOT}/", base.trim_end_matches('/'))
}

/// `GET /taxii2/`: the discovery resource.
pub async fn get_discovery(State(state): State<AppState>) -> Response {
    let root = root_url(&state);
    taxii_json(json!({
        "title": "ciphub TAXII 2.1",
        "description": "Critical-infrastructure information sharing: STIX 2.1 under the community's sharing policy.",
        "default": root,
        "api_roots": [root],
    }))
}

/// `GET /taxii2/ciphub/`: the API root.
pub async fn get_api_root(State(state): State<AppState>) -> Response {
    taxii_json(json!({
        "title": "ciphub",
        "description": "Collections of this ciphub instance.",
        "versions": [MEDIA_TAXII],
        "max_content_length": state.config.taxii.max_content_length,
    }))
}

fn collection_json(c: &CollectionDef, authed: &Authed) -> Value {
    let can_write = c.writable && check(&authed.actor(), Action::ShareIntel).is_ok();
    json!({
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "alias": c.alias,
        "can_read": true,
        "can_write": can_write,
        "media_types": [MEDIA_STIX],
    })
}

/// `GET .../collections/`.
pub async fn list_collections(authed: Authed) -> Response {
    let all: Vec<Value> = COLLECTIONS
        .iter()
        .map(|c| collection_json(c, &authed))
        .collect();
    taxii_json(json!({ "collections": all }))
}

/// `GET .../collections/{id}/`.
pub async fn get_collection(
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    Ok(taxii_json(collection_json(collection(&id)?, &authed)))
}

/// Seals `next` cursors with the instance's secret. A cursor holds where a page ended (date
/// added, sequence); the sequence counts every object stored, others' included, so it is masked
/// with a keyed hash of the date, and the whole is signed so a made-up cursor is refused rather
/// than used to probe positions. Every server process on the database shares the key.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

/// What the cursor's key is called among the instance's secrets.
pub const CURSOR_SECRET: &str = "taxii-cursor";

/// Bytes of the cursor's signature.
const CURSOR_TAG: usize = 12;
/// Bytes of a cursor: date added, a random nonce (so two cursors at one date do not share a
/// mask), the masked sequence and the signature.
const CURSOR_LEN: usize = 24 + CURSOR_TAG;

impl CursorKey {
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    fn mac(&self, label: &[u8], parts: &[i64]) -> Hmac<Sha256> {
        #[allow(clippy::expect_used)]
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        m.update(label);
        for p in parts {
            m.update(&p.to_be_bytes());
        }
        m
    }

    fn mask(&self, added: i64, nonce: i64) -> i64 {
        let bytes = self.mac(b"mask", &[added, nonce]).finalize().into_bytes();
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[..8]);
        i64::from_be_bytes(eight)
    }

    /// The cursor for a page that ended at `row`.
    fn seal(&self, row: &StixRow) -> String {
        let nonce: i64 = rand::random();
        let mut out = Vec::with_capacity(CURSOR_LEN);
        out.extend_from_slice(&row.added_us.to_be_bytes());
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&(row.seq ^ self.mask(row.added_us, nonce)).to_be_bytes());
        let tag = self
            .mac(b"tag", &[row.added_us, nonce, row.seq])
            .finalize()
            .into_bytes();
        out.extend_from_slice(&tag[..CURSOR_TAG]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The (date added, sequence) of a cursor this instance gave.
    fn open(&self, s: &str) -> Result<(i64, i64), TaxiiError> {
        let bad = || {
            TaxiiError::bad(
                "next",
                "not a cursor this server gave; start again without next",
            )
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad())?;
        if raw.len() != CURSOR_LEN {
            return Err(bad());
        }
        let word = |at: usize| {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&raw[at..at + 8]);
            i64::from_be_bytes(eight)
        };
        let (added, nonce) = (word(0), word(8));
        let seq = word(16) ^ self.mask(added, nonce);
        self.mac(b"tag", &[added, nonce, seq])
            .verify_truncated_left(&raw[24..])
            .map_err(|_| bad())?;
        Ok((added, seq))
    }
}

/// Reads the TAXII filters of a query string.
fn parse_query(
    raw: Option<&str>,
    limits: &TaxiiLimits,
    key: &CursorKey,
) -> Result<StixQuery, TaxiiError> {
    let mut q = StixQuery {
        versions: VersionFilter::last(),
        limit: limits.max_page,
        ..StixQuery::default()
    };
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "match[type]" => q.types.extend(list(&v)),
            "match[id]" => q.ids.extend(list(&v)),
            "match[spec_version]" => q.spec_versions.extend(list(&v)),
            "match[version]" => {
                let mut f = VersionFilter::default();
                for item in list(&v) {
                    match item.as_str() {
                        "last" => f.last = true,
                        "first" => f.first = true,
                        "all" => f.all = true,
                        ts => f.at.push(parse_timestamp(ts).map_err(|m| {
                            TaxiiError::bad(
                                "match[version]",
                                format!("first, last, all or a timestamp: {m}"),
                            )
                        })?),
                    }
                }
                q.versions = f;
            }
            "added_after" => {
                q.added_after_us =
                    Some(parse_timestamp(&v).map_err(|m| TaxiiError::bad("added_after", m))?);
            }
            "limit" => {
                let n: u32 = v.parse().map_err(|_| {
                    TaxiiError::bad("limit", format!("{v:?} is not a positive whole number"))
                })?;
                if n == 0 {
                    return Err(TaxiiError::bad("limit", "must be at least 1"));
                }
                q.limit = n.min(limits.max_page);
            }
            "next" => q.after = Some(key.open(&v)?),
            _ => {}
        }
    }
    Ok(q)
}

/// The page headers: when the first and the last object of the page were added.
fn with_added_headers(mut resp: Response, rows: &[StixRow]) -> Response {
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        for (name, us) in [
            ("x-taxii-date-added-first", first.added_us),
            ("x-taxii-date-added-last", last.added_us),
        ] {
            if let Ok(v) = HeaderValue::from_str(&format_timestamp(us)) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

/// Reads a page of a collection as the caller may see it.
async fn read_page(
    state: &AppState,
    authed: &Authed,
    c: &CollectionDef,
    query: &StixQuery,
    with_body: bool,
) -> Result<ciphub_store::StixPage, TaxiiError> {
    if c.id == ALERTS {
        export_alerts(state).await;
        return read_alerts_page(state, authed, query, with_body).await;
    }
    Ok(state
        .store
        .stix_page(c.alias, &authed.0.org, query, with_body)
        .await?)
}

/// Rows read at a time while a page of the alerts collection is filled.
const ALERT_ROWS_READ: u32 = 100;

/// A page of the alerts collection. The store keeps to the alerts the caller's organization
/// sent or received; an alert for some roles only is not for the others of a recipient
/// organization, which `api::alerts::visible` decides per alert. The page is filled with rows
/// the caller may see before it is cut, reading on past the others, so `more` and `next` are
/// right and neither tells of alerts for other roles. (Reading past them takes a little time,
/// which says no more than that the organization received something.)
async fn read_alerts_page(
    state: &AppState,
    authed: &Authed,
    query: &StixQuery,
    with_body: bool,
) -> Result<ciphub_store::StixPage, TaxiiError> {
    let actor = authed.actor();
    let want = query.limit as usize;
    let mut read = query.clone();
    read.limit = query.limit.saturating_add(1).max(ALERT_ROWS_READ);
    let mut seen: HashMap<i64, bool> = HashMap::new();
    let mut rows = Vec::with_capacity(want + 1);
    loop {
        let page = state
            .store
            .stix_page(ALERTS_ALIAS, &actor.org, &read, with_body)
            .await?;
        let last = page.rows.last().map(|r| (r.added_us, r.seq));
        for row in page.rows {
            if alert_row_visible(state, &actor, &row, &mut seen).await? {
                rows.push(row);
                if rows.len() > want {
                    // One more than the page holds: the page is full and more follow.
                    rows.truncate(want);
                    return Ok(ciphub_store::StixPage { rows, more: true });
                }
            }
        }
        match last {
            Some(after) if page.more => read.after = Some(after),
            _ => return Ok(ciphub_store::StixPage { rows, more: false }),
        }
    }
}

/// Whether the caller sees the alert a row was made from; `seen` keeps the answer per alert
/// (each alert is several rows).
async fn alert_row_visible(
    state: &AppState,
    actor: &ciphub_domain::policy::Actor,
    row: &StixRow,
    seen: &mut HashMap<i64, bool>,
) -> Result<bool, TaxiiError> {
    let Some(id) = row
        .origin
        .strip_prefix("alert:")
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return Ok(false);
    };
    if let Some(sees) = seen.get(&id) {
        return Ok(*sees);
    }
    let alert = state.store.alert(id).await?;
    let sees = crate::api::alerts::visible(state, actor, &alert)
        .await?
        .is_some();
    seen.insert(id, sees);
    Ok(sees)
}

/// Writes alerts sent since the last call into the alerts collection as STIX. Alerts never
/// change, so each is written once; concurrent readers wait for one writer.
async fn export_alerts(state: &AppState) {
    let _one = state.alert_export.lock().await;
    if let Err(e) = export_alerts_now(state).await {
        tracing::warn!(error = %e, "exporting alerts as STIX failed; the collection may lag");
    }
}

async fn export_alerts_now(state: &AppState) -> Result<(), AppError> {
    let ids = state.store.stix_id_space().await?;
    for id in state.store.alerts_to_export(ALERTS_ALIAS, 500).await? {
        let a = state.store.alert(id).await?;
        let objects = stix::export::alert_objects(&stix::export::AlertFacts {
            ids,
            id: a.id,
            instance: &state.config.instance_name,
            sender_slug: a.sender_org.as_str(),
            title: &a.title,
            body: &a.body,
            tlp: a.tlp,
            created_us: a.created.timestamp_micros(),
            exercise: a.exercise,
        });
        let rows = objects
            .into_iter()
            .map(|v| to_new_object(v, "$"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AppError::Internal(format!("alert {id} as STIX: {e}")))?;
        state
            .store
            .add_stix_objects(
                &StixBatch {
                    collection: ALERTS_ALIAS.to_owned(),
                    owner: a.sender_org.clone(),
                    origin: format!("alert:{id}"),
                    alert_id: Some(id),
                    status_id: None,
                },
                rows,
                Vec::new(),
                &By::system(),
            )
            .await?;
    }
    Ok(())
}

/// A checked object as the store takes it.
pub fn to_new_object(v: Value, path: &str) -> Result<NewStixObject, stix::StixError> {
    let o = stix::parse_object(v, path)?;
    let body = o.value.to_string();
    Ok(stored(o, body))
}

/// A checked object and its JSON text, as the store takes them.
fn stored(o: stix::StixObject, body: String) -> NewStixObject {
    let version_text = o
        .version_us
        .and(o.value.get("modified").or_else(|| o.value.get("created")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    NewStixObject {
        version_text,
        body,
        object_id: o.id,
        object_type: o.object_type,
        spec_version: o.spec_version,
        version_us: o.version_us,
        tlp: o.tlp,
    }
}

fn object_value(row: &StixRow) -> Value {
    serde_json::from_str(&row.body).unwrap_or(Value::Null)
}

/// `GET .../collections/{id}/objects/`.
pub async fn get_objects(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    let cursors = state.cursor_key().await?;
    let query = parse_query(raw.as_deref(), &state.config.taxii, &cursors)?;
    let page = read_page(&state, &authed, c, &query, true).await?;
    Ok(envelope(page, &cursors, "objects", object_value))
}

/// An envelope (or versions/manifest list) of a page.
fn envelope(
    page: ciphub_store::StixPage,
    cursors: &CursorKey,
    key: &str,
    item: impl Fn(&StixRow) -> Value,
) -> Response {
    let mut body = json!({ "more": page.more });
    if page.more
        && let Some(last) = page.rows.last()
    {
        body["next"] = json!(cursors.seal(last));
    }
    if !page.rows.is_empty() {
        body[key] = Value::Array(page.rows.iter().map(item).collect());
    }
    with_added_headers(taxii_json(body), &page.rows)
}

/// `GET .../collections/{id}/objects/{object_id}/`.
pub async fn get_object(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    let cursors = state.cursor_key().await?;
    let mut query = parse_query(raw.as_deref(), &state.config.taxii, &cursors)?;
    query.ids = vec![object_id.clone()];
    let page = read_page(&state, &authed, c, &query, true).await?;
    if page.rows.is_empty()
        && query.after.is_none()
        && !exists(&state, &authed, c, &object_id).await?
    {
        // An object that exists but has none of the versions asked for is an empty envelope.
        return Err(no_object(&object_id));
    }
    Ok(envelope(page, &cursors, "objects", object_value))
}

/// The newest version of `object_id` in the community collection that the caller may read.
pub(crate) async fn readable_community_object(
    state: &AppState,
    authed: &Authed,
    object_id: &str,
) -> Result<Option<StixRow>, AppError> {
    let c = collection(COMMUNITY_ALIAS).map_err(|e| AppError::Internal(format!("{e:?}")))?;
    let query = StixQuery {
        ids: vec![object_id.to_owned()],
        versions: VersionFilter::last(),
        limit: 1,
        ..StixQuery::default()
    };
    let page = read_page(state, authed, c, &query, true)
        .await
        .map_err(|e| AppError::Internal(format!("reading the community collection: {e:?}")))?;
    Ok(page.rows.into_iter().next())
}

/// Whether the caller may read some version of `object_id` in `c`.
async fn exists(
    state: &AppState,
    authed: &Authed,
    c: &CollectionDef,
    object_id: &str,
) -> Result<bool, TaxiiError> {
    let query = StixQuery {
        ids: vec![object_id.to_owned()],
        versions: VersionFilter {
            all: true,
            ..VersionFilter::default()
        },
        limit: 1,
        ..StixQuery::default()
    };
    Ok(!read_page(state, authed, c, &query, false)
        .await?
        .rows
        .is_empty())
}

fn no_object(id: &str) -> TaxiiError {
    TaxiiError::new(
        StatusCode::NOT_FOUND,
        "Object not found",
        format!("no object {id:?} in this collection that you may see"),
    )
}

/// `GET .../collections/{id}/objects/{object_id}/versions/`.
pub async fn get_versions(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    let cursors = state.cursor_key().await?;
    let mut query = parse_query(raw.as_deref(), &state.config.taxii, &cursors)?;
    query.ids = vec![object_id.clone()];
    query.versions = VersionFilter {
        all: true,
        ..VersionFilter::default()
    };
    let page = read_page(&state, &authed, c, &query, false).await?;
    if page.rows.is_empty() && query.after.is_none() {
        return Err(no_object(&object_id));
    }
    Ok(envelope(page, &cursors, "versions", |r| json!(r.version())))
}

/// `GET .../collections/{id}/manifest/`.
pub async fn get_manifest(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    let cursors = state.cursor_key().await?;
    let query = parse_query(raw.as_deref(), &state.config.taxii, &cursors)?;
    let page = read_page(&state, &authed, c, &query, false).await?;
    Ok(envelope(page, &cursors, "objects", |r| {
        json!({
            "id": r.object_id,
            "date_added": format_timestamp(r.added_us),
            "version": r.version(),
            "media_type": MEDIA_STIX,
        })
    }))
}

fn may_write(authed: &Authed, c: &CollectionDef) -> Result<(), TaxiiError> {
    if !c.writable {
        return Err(TaxiiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("the {} collection is read-only", c.alias),
        ));
    }
    check(&authed.actor(), Action::ShareIntel)
        .map_err(|d| TaxiiError::new(StatusCode::FORBIDDEN, "Forbidden", d.0))
}

/// `POST .../collections/{id}/objects/`: checks each object, stores the valid ones in one
/// transaction, and answers 202 with the status resource (complete at once).
pub async fn post_objects(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_taxii(content_type) {
        return Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("send Content-Type: {MEDIA_TAXII}"),
        ));
    }
    may_write(&authed, c)?;
    let limits = &state.config.taxii;
    // Read no more than the limit: a larger body is refused without being held in memory.
    let body: Bytes = axum::body::to_bytes(body, limits.max_content_length)
        .await
        .map_err(|_| {
            too_large(format!(
                "the envelope is larger than {} bytes (max_content_length)",
                limits.max_content_length
            ))
        })?;
    let requested_us = ciphub_store::clock::to_us(state.store.clock().now());
    let (accepted, failures) = check_envelope(&body)?;
    let add = StixAdd {
        batch: StixBatch {
            collection: c.alias.to_owned(),
            owner: authed.0.org.clone(),
            origin: "taxii".to_owned(),
            alert_id: None,
            status_id: Some(uuid::Uuid::new_v4().to_string()),
        },
        objects: accepted,
        failures,
        by: By::actor(&authed.actor()),
        requested_us: Some(requested_us),
    };
    let status_id = add.batch.status_id.clone().unwrap_or_default();
    let (held, written) = state
        .taxii_intake
        .submit(add, &body)
        .await
        .map_err(refused)?;
    // Written within the bound (the usual case: one group commit), the answer is the complete
    // status; a backed-up queue answers pending, and so does a client that asks not to wait
    // (`Prefer: respond-async`, RFC 7240), so its envelopes share group commits.
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    if !respond_async
        && !limits.complete_within.is_zero()
        && tokio::time::timeout(limits.complete_within, written)
            .await
            .is_ok_and(|r| r.is_ok())
    {
        let answer = status_response(&state, &authed, &status_id).await?;
        return Ok((StatusCode::ACCEPTED, answer).into_response());
    }
    Ok((StatusCode::ACCEPTED, held_json(&held)).into_response())
}

/// The answer to an envelope the intake did not take: 503, to be sent again later.
fn refused(r: crate::intake::Refused) -> TaxiiError {
    let (description, retry) = match r {
        crate::intake::Refused::Stopping => {
            ("the server is stopping; nothing was taken".to_owned(), 5)
        }
        crate::intake::Refused::Store(why) => (
            format!("the server cannot store the envelope now ({why}); nothing was taken"),
            30,
        ),
    };
    TaxiiError::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", description).retry_after(retry)
}

/// An envelope held by a worker that stopped, read again as its POST read it (for
/// `crate::intake::Intake::resume`).
pub fn recheck(body: &[u8]) -> Result<(Vec<NewStixObject>, Vec<StatusDetail>), String> {
    check_envelope(body).map_err(|e| e.description)
}

/// The envelope `{"objects": [...]}` of a POST, each object checked: the valid ones, and a
/// failure naming the problem for each other one. The objects' text is kept as it came.
fn check_envelope(body: &[u8]) -> Result<(Vec<NewStixObject>, Vec<StatusDetail>), TaxiiError> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        objects: Option<&'a RawValue>,
    }
    let invalid = |d: String| TaxiiError::new(StatusCode::BAD_REQUEST, "Invalid envelope", d);
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not a JSON envelope: {e}")))?;
    let items: Vec<&RawValue> = envelope
        .objects
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or_else(|| {
            invalid("objects: missing or not a list; send {\"objects\": [...]}".into())
        })?;
    let mut accepted = Vec::with_capacity(items.len());
    let mut failures = Vec::new();
    for (i, raw) in items.into_iter().enumerate() {
        match check_one(i, raw) {
            Ok(o) => accepted.push(o),
            Err(f) => failures.push(f),
        }
    }
    Ok((accepted, failures))
}

/// The `i`th object of an envelope, checked; a failure names the problem.
fn check_one(i: usize, raw: &RawValue) -> Result<NewStixObject, StatusDetail> {
    let mut path = String::with_capacity(16);
    let _ = write!(path, "objects[{i}]");
    to_new_object_raw(raw, &path).map_err(|e| {
        let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        StatusDetail {
            id: text("id").unwrap_or_default(),
            version: text("modified")
                .or_else(|| text("created"))
                .unwrap_or_default(),
            message: Some(e.to_string()),
        }
    })
}

/// A checked object as the store takes it, its text kept as it came.
fn to_new_object_raw(raw: &RawValue, path: &str) -> Result<NewStixObject, stix::StixError> {
    let v: Value = serde_json::from_str(raw.get())
        .map_err(|e| stix::StixError::new(path, format!("not JSON: {e}")))?;
    Ok(stored(stix::parse_object(v, path)?, raw.get().to_owned()))
}

fn too_large(description: String) -> TaxiiError {
    TaxiiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request too large",
        description,
    )
}

fn status_json(s: &StatusRecord) -> Response {
    let pendings = &s.pendings;
    /// A status resource, serialized straight from the record (it can list thousands of
    /// objects, which a `Value` would first copy).
    #[derive(serde::Serialize)]
    struct Body<'a> {
        id: &'a str,
        status: &'static str,
        request_timestamp: String,
        total_count: i64,
        success_count: usize,
        failure_count: usize,
        pending_count: usize,
        // TAXII 2.1 (4.3.1): empty lists are not sent.
        #[serde(skip_serializing_if = "<[StatusDetail]>::is_empty")]
        successes: &'a [StatusDetail],
        #[serde(skip_serializing_if = "<[StatusDetail]>::is_empty")]
        failures: &'a [StatusDetail],
        #[serde(skip_serializing_if = "<[StatusDetail]>::is_empty")]
        pendings: &'a [StatusDetail],
    }
    let body = Body {
        id: &s.id,
        status: if pendings.is_empty() {
            "complete"
        } else {
            "pending"
        },
        request_timestamp: format_timestamp(s.created_us),
        total_count: s.total,
        success_count: s.successes.len(),
        failure_count: s.failures.len(),
        pending_count: pendings.len(),
        successes: &s.successes,
        failures: &s.failures,
        pendings,
    };
    taxii_json(body)
}

fn held_json(h: &Held) -> Response {
    match h {
        Held::Pending(s) | Held::Failed(s, _) => status_json(s),
    }
}

/// `GET .../status/{id}/`: for the organization that posted; from the intake while its
/// objects wait to be written, then from the store.
pub async fn get_status(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    status_response(&state, &authed, &id).await
}

/// The status `id` of the caller's organization: from memory while it is held, else from the
/// store.
async fn status_response(
    state: &AppState,
    authed: &Authed,
    id: &str,
) -> Result<Response, TaxiiError> {
    if let Some(h) = state.taxii_intake.held(id, &authed.0.org) {
        return Ok(held_json(&h));
    }
    match state.store.stix_status(id, &authed.0.org).await? {
        Some(s) => Ok(status_json(&s)),
        None => Err(TaxiiError::new(
            StatusCode::NOT_FOUND,
            "Status not found",
            format!("no status {id:?} of your organization"),
        )),
    }
}

/// `DELETE .../collections/{id}/objects/{object_id}/`: the organization's own copies only.
pub async fn delete_object(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, object_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let c = collection(&id)?;
    may_write(&authed, c)?;
    let query = parse_query(
        raw.as_deref(),
        &state.config.taxii,
        &state.cursor_key().await?,
    )?;
    let versions = if raw.as_deref().unwrap_or("").contains("match%5Bversion%5D")
        || raw.as_deref().unwrap_or("").contains("match[version]")
    {
        query.versions
    } else {
        // With no match[version], DELETE removes every version.
        VersionFilter {
            all: true,
            ..VersionFilter::default()
        }
    };
    let n = state
        .store
        .delete_stix_object(
            c.alias,
            &object_id,
            &versions,
            &authed.0.org,
            &By::actor(&authed.actor()),
        )
        .await?;
    let Some(n) = n else {
        // Readable but another organization's: forbidden, not missing.
        if exists(&state, &authed, c, &object_id).await? {
            return Err(TaxiiError::new(
                StatusCode::FORBIDDEN,
                "Not the owner",
                format!(
                    "{object_id:?} was added by another organization; only it deletes its copies"
                ),
            ));
        }
        return Err(no_object(&object_id));
    };
    if n == 0 {
        return Err(no_object(&object_id));
    }
    // An object deleted whole links nothing any more (its owner reads every version it has).
    if c.alias == COMMUNITY_ALIAS && !exists(&state, &authed, c, &object_id).await? {
        state
            .store
            .clear_correlations(&format!("stix:{object_id}"))
            .await?;
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
    )
        .into_response())
}

/// Answers the methods a TAXII route does not have.
pub async fn method_not_allowed(method: Method) -> TaxiiError {
    TaxiiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        format!("{method} is not allowed here"),
    )
}

/// Answers TAXII paths that do not exist.
pub async fn not_found() -> TaxiiError {
    TaxiiError::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        "no such TAXII resource; start at /taxii2/",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_taxii("application/taxii+json;version=2.1"));
        assert!(is_taxii("application/taxii+json; version=2.1"));
        assert!(is_taxii("application/taxii+json"));
        assert!(!is_taxii("application/taxii+json;version=2.0"));
        assert!(!is_taxii("application/json"));
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let row = StixRow {
            seq: 42,
            object_id: String::new(),
            object_type: String::new(),
            spec_version: String::new(),
            version_us: 0,
            version_text: None,
            added_us: 1_700_000_000_123_456,
            tlp: String::new(),
            origin: String::new(),
            body: String::new(),
        };
        let key = CursorKey::new([7; 32]);
        let c = key.seal(&row);
        assert_eq!(key.open(&c).expect("cursor"), (1_700_000_000_123_456, 42));
        // The sequence does not show: neither as text nor as bytes after the date.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&c)
            .expect("base64");
        assert!(!raw.windows(8).any(|w| w == 42i64.to_be_bytes()));
        // Two cursors of one position do not share a mask.
        assert_ne!(key.seal(&row), c);
        assert!(!c.contains("42"));
        // Another instance's cursor, a changed one, or one made up, is refused.
        assert!(CursorKey::new([8; 32]).open(&c).is_err());
        let mut forged = raw.clone();
        forged[23] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        assert!(key.open(&forged).is_err());
        assert!(key.open("garbage!").is_err());
        let old_style =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1700000000123456.42");
        assert!(key.open(&old_style).is_err());
    }

    #[test]
    fn queries_parse_every_filter() {
        let limits = TaxiiLimits::default();
        let q = parse_query(
            Some("match[type]=indicator,malware&match[id]=a&match[version]=first,2016-01-01T00:00:00.000Z&match[spec_version]=2.1&added_after=2016-01-01T00:00:00Z&limit=5000"),
            &limits,
            &CursorKey::new([0; 32]),
        )
        .expect("query");
        assert_eq!(q.types, ["indicator", "malware"]);
        assert!(q.versions.first && !q.versions.last && q.versions.at.len() == 1);
        assert_eq!(q.limit, limits.max_page);
        let key = CursorKey::new([0; 32]);
        assert!(parse_query(Some("limit=0"), &limits, &key).is_err());
        assert!(parse_query(Some("added_after=yesterday"), &limits, &key).is_err());
    }
}
