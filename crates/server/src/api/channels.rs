//! How alerts reach an organization beyond the inbox: its e-mail contacts, its signed
//! webhooks (with the calls that failed, for its admins to see and retry), its notices
//! (reminders and escalations), and the live stream of each signed-in user.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
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

/// What one event is to one user: an SSE event, or nothing when it is not theirs to see.
async fn render(state: &AppState, actor: &Actor, event: Event) -> Option<SseEvent> {
    match event {
        Event::Alert { id } => {
            let a = state.store.alert(id).await.ok()?;
            let delivery = crate::api::alerts::visible(state, actor, &a).await.ok()??;
            let view = crate::api::alerts::view(state, a, delivery).await.ok()?;
            SseEvent::default()
                .event("alert")
                .id(id.to_string())
                .json_data(view)
                .ok()
        }
        Event::Notice { alert, org } if org == actor.org => {
            if !notice_visible(state, actor, alert).await.ok()? {
                return None;
            }
            SseEvent::default()
                .event("notice")
                .json_data(serde_json::json!({"alert": alert}))
                .ok()
        }
        Event::Ack { alert, sender, org } if sender == actor.org => SseEvent::default()
            .event("ack")
            .json_data(serde_json::json!({"alert": alert, "org": org}))
            .ok(),
        _ => None,
    }
}

/// The caller's live stream (Server-Sent Events): `alert` for each new alert the caller sees
/// (the alert as `GET /api/v1/alerts/{id}` shows it), `notice` for a reminder or escalation
/// to the caller's organization, and `ack` when a recipient acknowledges an alert the caller's
/// organization sent. It ends after 15 minutes; clients reconnect and are authenticated again.
#[utoipa::path(get, path = "/api/v1/stream", tag = "channels",
    responses((status = 200, description = "text/event-stream")))]
pub async fn stream(
    State(state): State<AppState>,
    authed: Authed,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    use tokio::sync::broadcast::error::RecvError;
    let actor = authed.actor();
    let rx = state.store.subscribe();
    // On PostgreSQL, "ready" means other processes' alerts reach this stream too.
    let _ = tokio::time::timeout(Duration::from_secs(5), state.store.wait_listening()).await;
    let until = tokio::time::Instant::now() + STREAM_LIFETIME;
    let closing = state.closing.subscribe();
    let events = futures_util::stream::unfold(
        (rx, state, actor, true, closing),
        move |(mut rx, state, actor, first, mut closing)| async move {
            if first {
                // Tells the client the stream is open, so it need not guess.
                let hello = SseEvent::default().event("ready").data("{}");
                return Some((Ok(hello), (rx, state, actor, false, closing)));
            }
            loop {
                if *closing.borrow() {
                    return None;
                }
                let next = tokio::select! {
                    n = tokio::time::timeout_at(until, rx.recv()) => n,
                    _ = closing.changed() => return None,
                };
                match next {
                    Err(_) | Ok(Err(RecvError::Closed)) => return None,
                    Ok(Err(RecvError::Lagged(n))) => {
                        let e = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{n}}}"));
                        return Some((Ok(e), (rx, state, actor, false, closing)));
                    }
                    Ok(Ok(event)) => {
                        if let Some(e) = render(&state, &actor, event).await {
                            return Some((Ok(e), (rx, state, actor, false, closing)));
                        }
                    }
                }
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}
