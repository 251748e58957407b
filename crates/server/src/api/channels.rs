//! How alerts reach an organization beyond the inbox: its e-mail contacts, its signed
//! webhooks (with the calls that failed, for its admins to see and retry), its notices
//! (reminders and escalations), and the live stream of each signed-in user.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use ciphub_domain::Slug;
use ciphub_domain::policy::{self, Action, Actor};
use ciphub_store::{Contact, Event, JobRecord, WebhookRecord};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// The most contacts one organization keeps.
pub const MAX_CONTACTS: usize = 20;
/// The most webhooks one organization registers.
pub const MAX_WEBHOOKS: usize = 10;
/// How long one live stream lasts before the client reconnects (and is authenticated again).
pub const STREAM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// One e-mail contact.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactJson {
    /// 1: told first; 2: the second contact, told when the first have not acknowledged.
    pub rank: i64,
    pub name: String,
    pub email: String,
}

fn org_param(slug: &str) -> Result<Slug, AppError> {
    Slug::parse(slug).map_err(|e| AppError::NotFound(format!("organization {slug:?}: {e}")))
}

/// An organization's e-mail contacts, for its admins.
#[utoipa::path(get, path = "/api/v1/organizations/{slug}/contacts", tag = "channels",
    params(("slug" = String, Path, description = "The organization")),
    responses((status = 200, body = [ContactJson]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn get_contacts(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<Vec<ContactJson>>, AppError> {
    let org = org_param(&slug)?;
    policy::check(&authed.actor(), Action::ManageChannels { org: &org })?;
    let contacts = state.store.contacts(&org).await?;
    Ok(Json(
        contacts
            .into_iter()
            .map(|c| ContactJson {
                rank: c.rank,
                name: c.name,
                email: c.email,
            })
            .collect(),
    ))
}

/// Replaces an organization's e-mail contacts.
#[utoipa::path(put, path = "/api/v1/organizations/{slug}/contacts", tag = "channels",
    params(("slug" = String, Path, description = "The organization")),
    request_body = [ContactJson],
    responses((status = 200, body = [ContactJson]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_contacts(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<Vec<ContactJson>>,
) -> Result<Json<Vec<ContactJson>>, AppError> {
    let org = org_param(&slug)?;
    policy::check(&authed.actor(), Action::ManageChannels { org: &org })?;
    if body.len() > MAX_CONTACTS {
        return Err(AppError::invalid(
            "contacts",
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    let mut contacts = Vec::new();
    for (i, c) in body.iter().enumerate() {
        if !(1..=2).contains(&c.rank) {
            return Err(AppError::invalid(
                format!("[{i}].rank"),
                "1 (told first) or 2 (the second contact)",
            ));
        }
        let name = c.name.trim();
        if name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                format!("[{i}].name"),
                "at most 200 characters, without control characters",
            ));
        }
        let email = c.email.trim();
        if email.parse::<lettre::Address>().is_err() || email.len() > 254 {
            return Err(AppError::invalid(
                format!("[{i}].email"),
                format!("{email:?} is not an e-mail address"),
            ));
        }
        if contacts.iter().any(|x: &Contact| x.email == email) {
            return Err(AppError::invalid(
                format!("[{i}].email"),
                format!("{email} is listed twice"),
            ));
        }
        contacts.push(Contact {
            rank: c.rank,
            name: name.to_owned(),
            email: email.to_owned(),
        });
    }
    let actor = authed.actor();
    state
        .store
        .set_contacts(&org, &contacts, &ciphub_store::By::actor(&actor))
        .await?;
    Ok(Json(body))
}

/// A new webhook.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookJson {
    /// An http:// or https:// address that accepts POST.
    #[schema(pattern = "^https?://")]
    pub url: String,
}

/// A webhook.
#[derive(Serialize, ToSchema)]
pub struct WebhookJson {
    pub id: i64,
    pub org: String,
    pub url: String,
    pub created_by: String,
    pub created_at: String,
    /// Calls waiting or being retried.
    pub pending: i64,
    /// Calls given up on (dead letters).
    pub dead: i64,
    /// The signing secret, shown only when the webhook is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<WebhookRecord> for WebhookJson {
    fn from(w: WebhookRecord) -> Self {
        Self {
            id: w.id,
            org: w.org.to_string(),
            url: w.url,
            created_by: w.created_by,
            created_at: rfc3339(w.created),
            pending: w.pending,
            dead: w.dead,
            secret: None,
        }
    }
}

fn check_webhook_url(url: &str, private_ok: bool) -> Result<(), AppError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AppError::invalid("url", format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::invalid(
            "url",
            "a webhook is an http:// or https:// address with a host",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || url.len() > 2_000 {
        return Err(AppError::invalid(
            "url",
            "at most 2,000 characters, without a user name or password (calls are signed instead)",
        ));
    }
    if !private_ok {
        crate::egress::check_literal(&parsed).map_err(|e| AppError::invalid("url", e))?;
    }
    Ok(())
}

/// Registers a webhook for the caller's organization. The answer carries the signing secret,
/// shown this once: each call has `Ciphub-Timestamp` and `Ciphub-Signature: v1=HEX`, HEX being
/// HMAC-SHA256 with the secret over `{timestamp}.{body}`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "channels", request_body = NewWebhookJson,
    responses((status = 201, body = WebhookJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewWebhookJson>,
) -> Result<(StatusCode, Json<WebhookJson>), AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::ManageChannels { org: &actor.org })?;
    check_webhook_url(&body.url, state.config.webhook_private_targets)?;
    if state.store.webhooks(&actor.org).await?.len() >= MAX_WEBHOOKS {
        return Err(AppError::invalid(
            "url",
            format!("an organization has at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    let secret = crate::auth::new_secret("whsec_");
    let id = state
        .store
        .add_webhook(
            &actor.org,
            &body.url,
            &secret,
            &ciphub_store::By::actor(&actor),
        )
        .await?;
    let w = state
        .store
        .webhooks(&actor.org)
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| AppError::NotFound(format!("webhook {id} does not exist")))?;
    let mut json = WebhookJson::from(w);
    json.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(json)))
}

/// The caller organization's webhooks, with their waiting and dead calls.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "channels",
    responses((status = 200, body = [WebhookJson]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<WebhookJson>>, AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::ManageChannels { org: &actor.org })?;
    let hooks = state.store.webhooks(&actor.org).await?;
    Ok(Json(hooks.into_iter().map(WebhookJson::from).collect()))
}

async fn own_webhook(state: &AppState, actor: &Actor, id: i64) -> Result<(), AppError> {
    policy::check(actor, Action::ManageChannels { org: &actor.org })?;
    if state
        .store
        .webhooks(&actor.org)
        .await?
        .iter()
        .any(|w| w.id == id)
    {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("webhook {id} does not exist")))
    }
}

/// Removes a webhook of the caller's organization; its waiting calls become dead letters.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "channels",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    let actor = authed.actor();
    own_webhook(&state, &actor, id).await?;
    state
        .store
        .delete_webhook(&actor.org, id, &ciphub_store::By::actor(&actor))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filtering a webhook's calls.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    /// Only dead letters.
    #[serde(default)]
    pub dead: bool,
}

/// One call of a webhook.
#[derive(Serialize, ToSchema)]
pub struct CallJson {
    pub id: i64,
    pub alert: i64,
    /// 0: the alert's delivery; 1: the reminder.
    pub step: i64,
    /// pending, done or dead.
    pub state: String,
    pub attempts: i64,
    /// When it runs (again), if pending.
    pub due_at: String,
    pub last_error: Option<String>,
}

impl From<JobRecord> for CallJson {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id,
            alert: j.alert,
            step: j.step,
            state: j.state.as_str().into(),
            attempts: j.attempts,
            due_at: rfc3339(j.due),
            last_error: j.last_error,
        }
    }
}

/// A webhook's latest calls (or only its dead letters), newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/calls", tag = "channels",
    params(("id" = i64, Path, description = "The webhook's id"), CallsQuery),
    responses((status = 200, body = [CallJson]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_calls(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    query: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<CallJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let actor = authed.actor();
    own_webhook(&state, &actor, id).await?;
    let calls = state.store.webhook_jobs(id, q.dead, 200).await?;
    Ok(Json(calls.into_iter().map(CallJson::from).collect()))
}

/// Sends a dead letter again, with a fresh set of tries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/calls/{call}/retry", tag = "channels",
    params(("id" = i64, Path, description = "The webhook's id"),
        ("call" = i64, Path, description = "The dead call's id")),
    responses((status = 202), (status = 404, body = crate::error::ErrorBody)))]
pub async fn retry_call(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((id, call)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let actor = authed.actor();
    own_webhook(&state, &actor, id).await?;
    state
        .store
        .retry_webhook_job(id, call, &ciphub_store::By::actor(&actor))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// A notice about an alert: a reminder to acknowledge it, or, for a CEPTOAR or ministry, an
/// organization it oversees that has not.
#[derive(Serialize, ToSchema)]
pub struct NoticeJson {
    pub id: i64,
    pub alert: i64,
    /// reminder, second-contact or oversight.
    pub kind: String,
    /// The organization that has not acknowledged.
    pub about: String,
    pub created_at: String,
}

/// The caller organization's notices, newest first.
#[utoipa::path(get, path = "/api/v1/alert-notices", tag = "channels",
    responses((status = 200, body = [NoticeJson])))]
pub async fn list_notices(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<NoticeJson>>, AppError> {
    let actor = authed.actor();
    let mut out = Vec::new();
    for n in state.store.notices(&actor.org, 200).await? {
        if notice_visible(&state, &actor, n.alert).await? {
            out.push(NoticeJson {
                id: n.id,
                alert: n.alert,
                kind: n.kind,
                about: n.about.to_string(),
                created_at: rfc3339(n.created),
            });
        }
    }
    Ok(Json(out))
}

/// Whether a user sees a notice about an alert to their organization. A recipient's reminder
/// is for the users the alert is for (an alert for executives is not announced to everyone);
/// an overseer's notice names only the late organization, and is for all its users.
async fn notice_visible(state: &AppState, actor: &Actor, alert: i64) -> Result<bool, AppError> {
    let a = state.store.alert(alert).await?;
    let recipient = state.store.delivery(alert, &actor.org).await?.is_some();
    Ok(!recipient || ciphub_domain::policy::alerts::role_sees(&a.audience, &actor.roles))
}

/// What one event is to one user: an SSE event with the event's id in the log, or nothing when
/// it is not theirs to see.
async fn render(state: &AppState, actor: &Actor, id: i64, event: Event) -> Option<SseEvent> {
    let e = match event {
        Event::Alert { id } => {
            let a = state.store.alert(id).await.ok()?;
            let delivery = crate::api::alerts::visible(state, actor, &a).await.ok()??;
            let view = crate::api::alerts::view(state, a, delivery).await.ok()?;
            SseEvent::default().event("alert").json_data(view).ok()?
        }
        Event::Notice { alert, org } if org == actor.org => {
            if !notice_visible(state, actor, alert).await.ok()? {
                return None;
            }
            SseEvent::default()
                .event("notice")
                .json_data(serde_json::json!({"alert": alert}))
                .ok()?
        }
        Event::Ack { alert, sender, org } if sender == actor.org => SseEvent::default()
            .event("ack")
            .json_data(serde_json::json!({"alert": alert, "org": org}))
            .ok()?,
        _ => return None,
    };
    Some(e.id(id.to_string()))
}

/// Where a stream starts: after the event a reconnecting client received last.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// The id of the last event received, for clients that cannot send the `Last-Event-ID`
    /// header (which wins when both are sent).
    pub last_event_id: Option<i64>,
}

/// How often an open stream checks that its credentials are still good and reads the log,
/// besides whenever events say so: a command-line tool beside a SQLite server tells it nothing.
const RECHECK: Duration = Duration::from_secs(30);

/// One open stream: what it waits on, and where it is in the `stream_events` log.
struct Live {
    state: AppState,
    actor: Actor,
    /// The request's credentials, checked again as requests check them.
    headers: HeaderMap,
    rx: tokio::sync::broadcast::Receiver<Event>,
    closing: tokio::sync::watch::Receiver<bool>,
    until: tokio::time::Instant,
    recheck_at: tokio::time::Instant,
    /// The id of the last logged event this stream read (shown or not).
    cursor: i64,
    /// Whether the log may hold events after `cursor`.
    behind: bool,
    pending: std::collections::VecDeque<SseEvent>,
}

impl Live {
    /// The next event to send, or `None` when the stream ends: at the end of its lifetime,
    /// when the server stops, when its credentials are no longer good, or when the log cannot
    /// be read (the client reconnects with its last id and misses nothing).
    async fn next(&mut self) -> Option<SseEvent> {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if *self.closing.borrow() {
                return None;
            }
            if self.behind {
                if let Err(e) = self.read_log().await {
                    tracing::warn!(error = %e, "a live stream could not read the event log");
                    return None;
                }
                continue;
            }
            // Live events only say that something happened: what the stream shows is read
            // from the log after its cursor, so it is in order, and a notification that never
            // came is made up for by the next one or by a resync.
            let woke = tokio::select! {
                n = self.rx.recv() => n,
                _ = self.closing.changed() => return None,
                _ = tokio::time::sleep_until(self.until) => return None,
                // What no event announced (a command-line tool or a second process beside a
                // SQLite server) is found this way too.
                _ = tokio::time::sleep_until(self.recheck_at) => Ok(Event::Resync),
            };
            let (mut read, mut recheck) = match woke {
                Ok(e) => wakes(&e),
                Err(RecvError::Lagged(_)) => (true, true),
                Err(RecvError::Closed) => return None,
            };
            // Events queued meanwhile are answered by the same read.
            loop {
                let (r, c) = match self.rx.try_recv() {
                    Ok(e) => wakes(&e),
                    Err(TryRecvError::Lagged(_)) => (true, true),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                };
                read |= r;
                recheck |= c;
            }
            if recheck && !self.still_authed().await {
                return None;
            }
            self.behind |= read;
        }
    }

    /// Reads one page of the log after the cursor and renders what the user may see.
    async fn read_log(&mut self) -> Result<(), AppError> {
        let page = self.state.store.stream_events_after(self.cursor).await?;
        self.behind = !page.is_empty();
        for (id, event) in page {
            self.cursor = id;
            if let Some(e) = render(&self.state, &self.actor, id, event).await {
                self.pending.push_back(e);
            }
        }
        Ok(())
    }

    /// Whether the request's credentials are still good (a token not revoked, a user not
    /// disabled, a session not ended); the user's roles are taken afresh.
    async fn still_authed(&mut self) -> bool {
        self.recheck_at = tokio::time::Instant::now() + RECHECK;
        match crate::auth::authed_user(&self.state, &Method::GET, &self.headers).await {
            Ok(user) => {
                self.actor = user.actor();
                true
            }
            Err(_) => false,
        }
    }
}

/// What an event asks of a stream: (read the log, check the credentials).
fn wakes(e: &Event) -> (bool, bool) {
    match e {
        Event::Alert { .. } | Event::Notice { .. } | Event::Ack { .. } => (true, false),
        Event::Credentials => (false, true),
        Event::Resync => (true, true),
        Event::Jobs | Event::Exercise { .. } => (false, false),
    }
}

/// The id a client asks to resume after: the `Last-Event-ID` header, else the query's.
fn last_event_id(headers: &HeaderMap, query: &StreamQuery) -> Result<Option<i64>, AppError> {
    match headers.get("last-event-id") {
        Some(v) => {
            let text = v.to_str().unwrap_or_default().trim();
            if text.is_empty() {
                return Ok(query.last_event_id);
            }
            text.parse().map(Some).map_err(|_| {
                AppError::malformed(
                    "invalid_last_event_id",
                    "Last-Event-ID must be the id of an event this stream sent",
                    Some("Last-Event-ID".into()),
                )
            })
        }
        None => Ok(query.last_event_id),
    }
}

/// The caller's live stream (Server-Sent Events): `alert` for each new alert the caller sees
/// (the alert as `GET /api/v1/alerts/{id}` shows it), `notice` for a reminder or escalation
/// to the caller's organization, and `ack` when a recipient acknowledges an alert the caller's
/// organization sent. Every event has an id; a client that reconnects with the last one as
/// `Last-Event-ID` (or `last_event_id`) first receives what it missed, in order, then live
/// events. `ready` comes first, with the id the stream starts after; `lagged` says events
/// older than a week may be missing. The stream ends after 15 minutes, or when its token is
/// revoked or its user disabled; clients reconnect and are authenticated again.
#[utoipa::path(get, path = "/api/v1/stream", tag = "channels", params(StreamQuery),
    responses((status = 200, description = "text/event-stream")))]
pub async fn stream(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let resume = last_event_id(&headers, &q)?;
    // Subscribed before the log is read, so that nothing committed after the read goes
    // unnoticed; what was read already is not shown twice, since the cursor only grows.
    let rx = state.store.subscribe();
    // On PostgreSQL, "ready" means other processes' alerts reach this stream too.
    let _ = tokio::time::timeout(Duration::from_secs(5), state.store.wait_listening()).await;
    let latest = state.store.stream_cursor().await?;
    // An id from the future would hide what comes until then.
    let cursor = resume.map_or(latest, |id| id.min(latest));
    let mut pending = std::collections::VecDeque::new();
    // Tells the client the stream is open, so it need not guess, and where it starts.
    pending.push_back(
        SseEvent::default()
            .event("ready")
            .id(cursor.to_string())
            .data("{}"),
    );
    if resume.is_some_and(|id| id < state.store.stream_horizon()) {
        pending.push_back(
            SseEvent::default()
                .event("lagged")
                .data("{\"missed\":null}"),
        );
    }
    let now = tokio::time::Instant::now();
    let live = Live {
        actor: authed.actor(),
        headers,
        rx,
        closing: state.closing.subscribe(),
        until: now + STREAM_LIFETIME,
        recheck_at: now + RECHECK,
        cursor,
        behind: resume.is_some(),
        pending,
        state,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|e| (Ok(e), live))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
