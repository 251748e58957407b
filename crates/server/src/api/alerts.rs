//! `/api/v1/alerts`: information provision. Senders (the coordinator, ministries, agencies,
//! CEPTOARs) address an audience under a TLP label; recipients read and acknowledge; senders see
//! the delivery table. Who an alert reaches and what its label allows is the domain's
//! `alert` module; an alert a caller may not see does not exist for it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::TimeDelta;
use std::collections::BTreeSet;

use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Community, Scope, resolve_audience};
use ciphub_domain::identity::{Role, Roles};
use ciphub_domain::policy::alerts::{self, may_relay, role_sees};
use ciphub_domain::policy::{self, Action, Actor};
use ciphub_domain::report::Tlp;
use ciphub_store::{AlertRecord, DeliveryRecord, NewAlert};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{parse_slugs, rfc3339};
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// The longest alert body accepted, in characters.
pub const MAX_ALERT_BODY: usize = 100_000;

/// An alert's audience as sent.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceJson {
    /// all, sectors, ceptoars or organizations.
    #[schema(schema_with = crate::api::alerts::audience_kind)]
    pub kind: String,
    /// The sectors', CEPTOARs' or organizations' slugs (none for all).
    #[serde(default)]
    pub values: Vec<String>,
    /// Only these roles within the recipient organizations (default: everyone).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A new alert.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertJson {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Markdown.
    pub body: String,
    /// TLP 2.0 label.
    #[schema(schema_with = crate::openapi::tlp)]
    pub tlp: String,
    pub audience: AudienceJson,
    /// TLP:AMBER only: recipients may pass it on to their clients.
    #[serde(default)]
    pub clients_permitted: bool,
    /// How soon recipients must acknowledge, such as 4h.
    #[serde(default)]
    pub acknowledge_within: Option<String>,
    /// Part of an exercise, not a real event.
    #[serde(default)]
    pub exercise: bool,
    /// Reports the alert refers to (ones the sender may read).
    #[serde(default)]
    pub reports: Vec<i64>,
    /// Incidents of the sender's organization the alert refers to.
    #[serde(default)]
    pub incidents: Vec<i64>,
    /// Files sent with the alert (at most `MAX_ATTACHMENTS`, each within the server's
    /// attachment limit, 4 MiB by default).
    #[serde(default)]
    pub attachments: Vec<NewAttachmentJson>,
}

/// A file sent with an alert.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachmentJson {
    /// The file name shown to recipients.
    pub name: String,
    /// Such as application/pdf (default application/octet-stream).
    #[serde(default)]
    pub media_type: Option<String>,
    /// The content, base64 (standard alphabet, padded).
    pub content_base64: String,
}

/// A file sent with an alert, as listed.
#[derive(Serialize, ToSchema)]
pub struct AttachmentJson {
    /// Its number within the alert, for `/api/v1/alerts/{id}/attachments/{n}`.
    pub n: i64,
    pub name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

/// The most files one alert carries.
pub const MAX_ATTACHMENTS: usize = 5;

/// A recipient organization's delivery of an alert.
#[derive(Serialize, ToSchema)]
pub struct DeliveryJson {
    pub org: String,
    /// The CEPTOAR that passed the alert on to this organization, when it was not sent
    /// directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// E-mail to the organization's first contacts: pending, sent or failed (absent when none
    /// was due: no contacts, or no mail on this server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Calls to the organization's webhooks: delivered (at least one answered), pending or
    /// failed (absent when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    pub delivered_at: String,
    pub read_at: Option<String>,
    pub read_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
}

impl From<DeliveryRecord> for DeliveryJson {
    fn from(d: DeliveryRecord) -> Self {
        Self {
            org: d.org.to_string(),
            via: None,
            email: None,
            webhooks: None,
            delivered_at: rfc3339(d.delivered),
            read_at: d.read.map(rfc3339),
            read_by: d.read_by,
            acknowledged_at: d.acked.map(rfc3339),
            acknowledged_by: d.acked_by,
        }
    }
}

/// An alert as the caller sees it.
#[derive(Serialize, ToSchema)]
pub struct AlertJson {
    pub id: i64,
    pub sender_org: String,
    pub sender_user: String,
    pub title: String,
    /// Markdown as sent.
    pub body: String,
    /// The body rendered to sanitized HTML.
    pub body_html: String,
    /// The TLP 2.0 label, never translated.
    pub tlp: String,
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    pub clients_permitted: bool,
    pub acknowledge_within: Option<String>,
    pub exercise: bool,
    pub reports: Vec<i64>,
    pub incidents: Vec<i64>,
    /// The alert this one passes on, and the note of the organization that passed it on.
    pub relay_of: Option<i64>,
    pub relay_note: Option<String>,
    pub created_at: String,
    /// The caller organization's delivery, when it is a recipient.
    pub my_delivery: Option<DeliveryJson>,
    pub attachments: Vec<AttachmentJson>,
}

/// Paging through the inbox.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Alerts sent before this one (the previous page's last id).
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only exercise alerts (true) or only real ones (false); both when absent.
    pub exercise: Option<bool>,
}

/// The kinds of audience `audience_of` knows.
const AUDIENCE_KINDS: [&str; 4] = ["all", "sectors", "ceptoars", "organizations"];

/// The schema of an audience's kind.
pub(crate) fn audience_kind() -> utoipa::openapi::Schema {
    crate::openapi::one_of(AUDIENCE_KINDS, false)
}

pub(crate) fn audience_of(j: &AudienceJson) -> Result<Audience, AppError> {
    let values = parse_slugs("audience.values", &j.values)?;
    let scope = match j.kind.as_str() {
        "all" if values.is_empty() => Scope::All,
        "all" => {
            return Err(AppError::invalid(
                "audience.values",
                "the audience all takes no values",
            ));
        }
        "sectors" => Scope::Sectors(values),
        "ceptoars" => Scope::Ceptoars(values),
        "organizations" => Scope::Organizations(values),
        other => {
            return Err(AppError::invalid(
                "audience.kind",
                format!(
                    "unknown audience {other:?}; expected all, sectors, ceptoars or organizations"
                ),
            ));
        }
    };
    if !matches!(scope, Scope::All) && j.values.is_empty() {
        return Err(AppError::invalid("audience.values", "name at least one"));
    }
    let roles: Roles = j
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse::<Role>()
                .map_err(|e| AppError::invalid(format!("audience.roles[{i}]"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Audience { scope, roles })
}

/// Whether the caller sees the alert: its sender's organization, or a recipient whose roles the
/// audience includes. Returns the caller's delivery when it is a recipient.
pub(crate) async fn visible(
    state: &AppState,
    actor: &Actor,
    a: &AlertRecord,
) -> Result<Option<Option<DeliveryRecord>>, AppError> {
    let delivery = state.store.delivery(a.id, &actor.org).await?;
    let sees = alerts::alert_visible(actor, &a.sender_org, delivery.is_some(), &a.audience);
    Ok(sees.then_some(delivery))
}

pub(crate) async fn view(
    state: &AppState,
    a: AlertRecord,
    delivery: Option<DeliveryRecord>,
) -> Result<AlertJson, AppError> {
    let attachments = state.store.attachments(a.id).await?;
    Ok(view_with(a, delivery, attachments))
}

/// An alert as the API gives it, with the caller's delivery and the alert's attachments.
fn view_with(
    a: AlertRecord,
    delivery: Option<DeliveryRecord>,
    attachments: Vec<ciphub_store::Attachment>,
) -> AlertJson {
    let attachments = attachments
        .into_iter()
        .map(|f| AttachmentJson {
            n: f.position,
            name: f.name,
            media_type: f.media_type,
            size: f.size,
            sha256: f.sha256,
        })
        .collect();
    AlertJson {
        id: a.id,
        sender_org: a.sender_org.to_string(),
        sender_user: a.sender_user,
        title: a.title,
        body_html: crate::markdown::render(&a.body),
        body: a.body,
        tlp: a.tlp.to_string(),
        audience: serde_json::to_value(&a.audience).unwrap_or_default(),
        clients_permitted: a.clients_permitted,
        acknowledge_within: a
            .ack_within
            .and_then(|d| d.to_std().ok())
            .map(|d| humantime::format_duration(d).to_string()),
        exercise: a.exercise,
        reports: a.reports,
        incidents: a.incidents,
        relay_of: a.relay_of,
        relay_note: a.relay_note,
        created_at: rfc3339(a.created),
        my_delivery: delivery.map(DeliveryJson::from),
        attachments,
    }
}

/// The checked attachments of a new alert.
fn attachments_of(
    files: &[NewAttachmentJson],
    limit: usize,
) -> Result<Vec<ciphub_store::NewAttachment>, AppError> {
    use base64::Engine;
    if files.len() > MAX_ATTACHMENTS {
        return Err(AppError::invalid(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} files"),
        ));
    }
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.name.trim();
            if name.is_empty()
                || name.chars().count() > 200
                || name
                    .chars()
                    .any(|c| c.is_control() || c == '/' || c == '\\')
            {
                return Err(AppError::invalid(
                    format!("attachments[{i}].name"),
                    "a file name of 1 to 200 characters without slashes or control characters",
                ));
            }
            let media_type = f
                .media_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            let ok_type = media_type.len() <= 100
                && media_type.split_once('/').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && media_type
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
                });
            if !ok_type {
                return Err(AppError::invalid(
                    format!("attachments[{i}].media_type"),
                    format!("{media_type:?} is not a media type such as application/pdf"),
                ));
            }
            let field = format!("attachments[{i}].content_base64");
            // Base64 is 4 characters per 3 bytes: refuse before decoding what is too big.
            if f.content_base64.len() / 4 * 3 > limit + 3 {
                return Err(AppError::invalid(
                    field,
                    format!("the file is larger than the limit of {limit} bytes"),
                ));
            }
            let content = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.as_bytes())
                .map_err(|e| AppError::invalid(&field, format!("not base64: {e}")))?;
            if content.len() > limit {
                return Err(AppError::invalid(
                    field,
                    format!("the file is larger than the limit of {limit} bytes"),
                ));
            }
            Ok(ciphub_store::NewAttachment {
                name: name.to_owned(),
                media_type,
                content,
            })
        })
        .collect()
}

pub(crate) async fn load_visible(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(AlertRecord, Option<DeliveryRecord>), AppError> {
    let missing = || AppError::NotFound(format!("alert {id} does not exist"));
    let a = state.store.alert(id).await.map_err(|e| match e {
        ciphub_store::StoreError::NotFound { .. } => missing(),
        other => other.into(),
    })?;
    match visible(state, actor, &a).await? {
        Some(d) => Ok((a, d)),
        None => Err(missing()),
    }
}

/// Sends an alert to an audience under a TLP label.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", request_body = NewAlertJson,
    responses((status = 201, body = AlertJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_alert(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewAlertJson>,
) -> Result<(StatusCode, Json<AlertJson>), AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::SendAlert)?;
    ciphub_domain::report::check_text(&body.title, "")
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    if body.body.chars().count() > MAX_ALERT_BODY {
        return Err(AppError::invalid(
            "body",
            format!("at most {MAX_ALERT_BODY} characters"),
        ));
    }
    let tlp: Tlp = body
        .tlp
        .parse()
        .map_err(|e: String| AppError::invalid("tlp", e))?;
    let audience = audience_of(&body.audience)?;
    if body.clients_permitted && tlp != Tlp::Amber {
        return Err(AppError::invalid(
            "clients_permitted",
            "only a TLP:AMBER alert gives permission to pass it on to clients",
        ));
    }
    let ack_within = body
        .acknowledge_within
        .as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .ok()
                .and_then(|d| TimeDelta::from_std(d).ok())
                .filter(|d| *d > TimeDelta::zero() && *d <= TimeDelta::days(30))
                .ok_or_else(|| {
                    AppError::invalid(
                        "acknowledge_within",
                        format!("{t:?} is not a duration from 1s to 30d, such as 4h"),
                    )
                })
        })
        .transpose()?;
    let attachments = attachments_of(&body.attachments, state.config.attachment_limit)?;
    // Links only to what the sender may read: a link must not reveal that a report exists.
    if body.reports.len() > 50 || body.incidents.len() > 50 {
        return Err(AppError::invalid(
            "reports",
            "at most 50 reports and 50 incidents",
        ));
    }
    for (i, r) in body.reports.iter().enumerate() {
        match crate::api::reports::readable(&state, &actor, *r).await {
            Ok(_) => {}
            Err(AppError::NotFound(m)) => {
                return Err(AppError::invalid(format!("reports[{i}]"), m));
            }
            Err(other) => return Err(other),
        }
    }
    for (i, n) in body.incidents.iter().enumerate() {
        match state.store.incident(&actor.org, *n).await {
            Ok(_) => {}
            Err(ciphub_store::StoreError::NotFound { .. }) => {
                return Err(AppError::invalid(
                    format!("incidents[{i}]"),
                    format!("incident {n} does not exist in your organization"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let (sectors, orgs) = state.store.community().await?;
    let recipients = resolve_audience(
        &audience,
        tlp,
        &actor.org,
        Community {
            sectors: &sectors,
            orgs: &orgs,
        },
    )
    .map_err(|e| AppError::invalid("audience", e.to_string()))?;
    let new = NewAlert {
        title: body.title,
        body: body.body,
        tlp,
        audience,
        clients_permitted: body.clients_permitted,
        ack_within,
        exercise: body.exercise,
        reports: body.reports,
        incidents: body.incidents,
        relay_of: None,
        relay_note: None,
        attachments,
        email: state.mailer.is_some(),
    };
    let alert = state
        .store
        .create_alert(
            &actor.org,
            actor.user.as_str(),
            &ciphub_store::By::actor(&actor),
            &new,
            &recipients,
        )
        .await?;
    relay_automatically(&state, &alert, &recipients, &sectors, &orgs).await?;
    Ok((StatusCode::CREATED, Json(view(&state, alert, None).await?)))
}

/// Passes `source` on from `ceptoar` to its members that did not receive it, keeping its label
/// and audience roles, with the CEPTOAR's note. Refused where the label forbids passing on.
/// Who passes an alert on, and with what note.
struct Relayer<'a> {
    ceptoar: &'a ciphub_domain::Slug,
    user: &'a str,
    by: &'a ciphub_store::By,
    note: &'a str,
}

async fn relay_from(
    state: &AppState,
    source: &AlertRecord,
    relayer: Relayer<'_>,
    already: &BTreeSet<ciphub_domain::Slug>,
    community: Community<'_>,
) -> Result<Option<AlertRecord>, AppError> {
    let Relayer {
        ceptoar,
        user,
        by,
        note,
    } = relayer;
    may_relay(source.tlp, source.clients_permitted)
        .map_err(|e| AppError::invalid("tlp", e.to_string()))?;
    let audience = Audience {
        scope: Scope::Ceptoars(vec![ceptoar.clone()]),
        roles: source.audience.roles.clone(),
    };
    let members = match resolve_audience(&audience, source.tlp, ceptoar, community) {
        Ok(m) => m,
        Err(ciphub_domain::alert::AlertError::Empty) => return Ok(None),
        Err(e) => return Err(AppError::invalid("audience", e.to_string())),
    };
    let fresh: BTreeSet<_> = members.difference(already).cloned().collect();
    if fresh.is_empty() {
        return Ok(None);
    }
    let new = NewAlert {
        title: source.title.clone(),
        body: source.body.clone(),
        tlp: source.tlp,
        audience,
        clients_permitted: false,
        ack_within: source.ack_within,
        exercise: source.exercise,
        reports: source.reports.clone(),
        incidents: source.incidents.clone(),
        relay_of: Some(source.id),
        relay_note: Some(note.to_owned()),
        attachments: Vec::new(),
        email: state.mailer.is_some(),
    };
    Ok(Some(
        state
            .store
            .create_alert(ceptoar, user, by, &new, &fresh)
            .await?,
    ))
}

/// Applies the relay rules of the CEPTOARs among an alert's recipients.
async fn relay_automatically(
    state: &AppState,
    alert: &AlertRecord,
    recipients: &BTreeSet<ciphub_domain::Slug>,
    sectors: &BTreeSet<ciphub_domain::Slug>,
    orgs: &[ciphub_domain::alert::OrgFacts],
) -> Result<(), AppError> {
    if may_relay(alert.tlp, alert.clients_permitted).is_err() {
        return Ok(());
    }
    let community = Community { sectors, orgs };
    for (ceptoar, note) in state.store.auto_relays(recipients).await? {
        let by = ciphub_store::By {
            user: Some(format!("relay-rule@{ceptoar}")),
            org: Some(ceptoar.to_string()),
        };
        let relayer = Relayer {
            ceptoar: &ceptoar,
            user: "relay-rule",
            by: &by,
            note: &note,
        };
        relay_from(state, alert, relayer, recipients, community).await?;
    }
    Ok(())
}

/// A CEPTOAR's note when passing an alert on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayAlertJson {
    #[serde(default)]
    pub note: String,
}

/// Passes an alert the caller's CEPTOAR received on to its members, with a note; the TLP label
/// decides whether that is allowed.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/relay", tag = "alerts", request_body = RelayAlertJson,
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 201, body = AlertJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn relay_alert(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RelayAlertJson>,
) -> Result<(StatusCode, Json<AlertJson>), AppError> {
    let actor = authed.actor();
    let (a, d) = load_visible(&state, &actor, id).await?;
    policy::check(
        &actor,
        Action::PassOnAlert {
            delivered: d.is_some(),
        },
    )?;
    if body.note.chars().count() > 2_000 {
        return Err(AppError::invalid("note", "at most 2,000 characters"));
    }
    let (sectors, orgs) = state.store.community().await?;
    let already = state.store.reached_by(id).await?;
    let by = ciphub_store::By::actor(&actor);
    let relayer = Relayer {
        ceptoar: &actor.org,
        user: actor.user.as_str(),
        by: &by,
        note: &body.note,
    };
    let relayed = relay_from(
        &state,
        &a,
        relayer,
        &already,
        Community {
            sectors: &sectors,
            orgs: &orgs,
        },
    )
    .await?
    .ok_or_else(|| {
        AppError::invalid(
            "id",
            "every member of your CEPTOAR has already received this alert",
        )
    })?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, relayed, None).await?),
    ))
}

/// A CEPTOAR's rule for passing alerts on automatically.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayRuleJson {
    pub enabled: bool,
    /// Added to every alert passed on.
    #[serde(default)]
    pub note: String,
}

/// Sets the caller CEPTOAR's rule: pass every alert it may pass on to all its members.
#[utoipa::path(put, path = "/api/v1/relay-rule", tag = "alerts", request_body = RelayRuleJson,
    responses((status = 200, body = RelayRuleJson), (status = 403, body = crate::error::ErrorBody)))]
pub async fn put_relay_rule(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<RelayRuleJson>,
) -> Result<Json<RelayRuleJson>, AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::SetRelayRule)?;
    state
        .store
        .set_relay_rule(
            &actor.org,
            body.enabled,
            &body.note,
            &ciphub_store::By::actor(&actor),
        )
        .await?;
    Ok(Json(body))
}

/// The caller organization's alerts, received and sent, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = [AlertJson])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AlertJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            "limit must be from 1 to 200",
            Some("limit".into()),
        ));
    }
    let actor = authed.actor();
    let listed = state
        .store
        .alerts_of_org_in(
            &actor.org,
            q.before,
            limit,
            ciphub_store::Traffic::from_filter(q.exercise),
        )
        .await?;
    // The caller's deliveries and the attachments of the whole list, in one query each.
    let ids: Vec<i64> = listed.iter().map(|a| a.id).collect();
    let mut deliveries = state.store.deliveries_to(&ids, &actor.org).await?;
    let mut files = state.store.attachments_of(&ids).await?;
    let mut out = Vec::with_capacity(listed.len());
    for a in listed {
        let delivery = deliveries.remove(&a.id);
        if alerts::alert_visible(&actor, &a.sender_org, delivery.is_some(), &a.audience) {
            let attachments = files.remove(&a.id).unwrap_or_default();
            out.push(view_with(a, delivery, attachments));
        }
    }
    Ok(Json(out))
}

/// One alert; reading it records the caller organization's first read.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, body = AlertJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_alert(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertJson>, AppError> {
    let actor = authed.actor();
    let (a, d) = load_visible(&state, &actor, id).await?;
    if d.as_ref().is_some_and(|d| d.read.is_none()) {
        state.store.mark_alert_read(id, &authed.0).await?;
    }
    let d = state.store.delivery(id, &actor.org).await?;
    Ok(Json(view(&state, a, d).await?))
}

/// One file of an alert, for whoever sees the alert. Always served as a download, never
/// rendered by the browser.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/attachments/{n}", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id"),
        ("n" = i64, Path, description = "The file's number")),
    responses((status = 200, description = "The file"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_attachment(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((id, n)): ApiPath<(i64, i64)>,
) -> Result<axum::response::Response, AppError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let actor = authed.actor();
    load_visible(&state, &actor, id).await?;
    let (file, content) = state
        .store
        .attachment(id, n)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("alert {id} has no file {n}")))?;
    let ascii: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        content,
    )
        .into_response())
}

/// Acknowledges an alert for the caller's organization.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, body = DeliveryJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn ack_alert(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DeliveryJson>, AppError> {
    let actor = authed.actor();
    let missing = || AppError::NotFound(format!("alert {id} does not exist"));
    let a = state.store.alert(id).await.map_err(|e| match e {
        ciphub_store::StoreError::NotFound { .. } => missing(),
        other => other.into(),
    })?;
    // Only a recipient whose roles the audience includes acknowledges; the write itself says
    // whether the organization is a recipient.
    if role_sees(&a.audience, &actor.roles)
        && let Some(d) = state.store.ack_alert(id, &authed.0).await?
    {
        return Ok(Json(d.into()));
    }
    if a.sender_org == actor.org {
        return Err(AppError::Forbidden(
            "only a recipient organization acknowledges an alert".into(),
        ));
    }
    Err(missing())
}

/// Rows of the delivery table an API call returns unless it asks for fewer, and at most.
pub const DELIVERY_LIMIT: u32 = 1_000;
pub const MAX_DELIVERY_LIMIT: u32 = 5_000;

/// The delivery table's filters and page, in the API.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQueryJson {
    /// all (the default), unread, unacknowledged or acknowledged.
    #[param(pattern = "^(all|unread|unacknowledged|acknowledged)?$")]
    pub show: Option<String>,
    /// Only organizations of this sector (its id).
    #[param(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 64)]
    pub sector: Option<String>,
    /// Part of the organization's id or name, in any case.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Rows to return: 1 to 5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// Rows to skip (default 0, at most 1,000,000).
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

impl DeliveryQueryJson {
    /// The store's filter, or what is wrong with the query.
    pub fn filter(&self) -> Result<ciphub_store::DeliveryFilter, AppError> {
        let bad = |field: &str, message: String| {
            AppError::malformed("invalid_query", message, Some(field.into()))
        };
        let show = match self.show.as_deref() {
            None | Some("") => ciphub_store::DeliveryShow::All,
            Some(s) => ciphub_store::DeliveryShow::parse(s).ok_or_else(|| {
                bad(
                    "show",
                    format!("show must be all, unread, unacknowledged or acknowledged, not {s:?}"),
                )
            })?,
        };
        let sector = match self.sector.as_deref() {
            None | Some("") => None,
            Some(s) => Some(Slug::parse(s).map_err(|e| bad("sector", e.to_string()))?),
        };
        let limit = self.limit.unwrap_or(DELIVERY_LIMIT);
        if !(1..=MAX_DELIVERY_LIMIT).contains(&limit) {
            return Err(bad(
                "limit",
                format!("limit must be from 1 to {MAX_DELIVERY_LIMIT}"),
            ));
        }
        let text = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if text.is_some_and(|q| q.chars().count() > 200) {
            return Err(bad("q", "q must be at most 200 characters".into()));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > crate::api::organizations::MAX_OFFSET {
            return Err(bad("offset", "offset must be at most 1000000".into()));
        }
        Ok(ciphub_store::DeliveryFilter {
            show,
            sector,
            text: text.map(str::to_owned),
            offset,
            limit,
        })
    }
}

impl From<ciphub_store::DeliveryLine> for DeliveryJson {
    fn from(line: ciphub_store::DeliveryLine) -> Self {
        use ciphub_store::JobState;
        let mut row = DeliveryJson::from(line.record);
        row.via = line.via.map(|v| v.to_string());
        row.email = line.email.map(|s| {
            match s {
                JobState::Pending => "pending",
                JobState::Done => "sent",
                JobState::Dead => "failed",
            }
            .to_owned()
        });
        row.webhooks = line.webhooks.map(|s| {
            match s {
                JobState::Done => "delivered",
                JobState::Pending => "pending",
                JobState::Dead => "failed",
            }
            .to_owned()
        });
        row
    }
}

/// The delivery table: for each recipient organization, delivered, read and acknowledged (by
/// whom, when), how its e-mail and webhook calls went, and the organizations reached through
/// CEPTOARs that passed the alert on (with `via`), by organization id. For the sender's
/// organization only. Paged: `X-Total-Count` gives the rows the filters match, and a `Link`
/// header with `rel="next"` the next page while there is one.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/delivery", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id"), DeliveryQueryJson),
    responses((status = 200, body = [DeliveryJson]), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    query: Result<Query<DeliveryQueryJson>, axum::extract::rejection::QueryRejection>,
) -> Result<(axum::http::HeaderMap, Json<Vec<DeliveryJson>>), AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let filter = q.filter()?;
    let page = delivery_page(&state, &authed, id, &filter).await?;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-total-count", page.matching.into());
    let next = u64::from(filter.offset) + u64::from(filter.limit);
    if next < page.matching {
        let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
        let link = format!(
            "</api/v1/alerts/{id}/delivery?show={}&sector={}&q={}&limit={}&offset={next}>; rel=\"next\"",
            filter.show.as_str(),
            enc(filter.sector.as_ref().map_or("", Slug::as_str)),
            enc(filter.text.as_deref().unwrap_or("")),
            filter.limit
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    Ok((
        headers,
        Json(page.rows.into_iter().map(DeliveryJson::from).collect()),
    ))
}

/// One page of an alert's delivery table, for the sender's organization only.
pub async fn delivery_page(
    state: &AppState,
    authed: &Authed,
    id: i64,
    filter: &ciphub_store::DeliveryFilter,
) -> Result<ciphub_store::DeliveryPage, AppError> {
    let actor = authed.actor();
    let (a, _) = load_visible(state, &actor, id).await?;
    if a.sender_org != actor.org {
        return Err(AppError::Forbidden(
            "the delivery table is for the sender's organization".into(),
        ));
    }
    Ok(state.store.delivery_page(id, filter).await?)
}
