//! `/api/v1/audit`: the audit trail, limited to what the caller may see.

use axum::Json;
use axum::extract::{Query, State};
use ciphub_domain::audit::AuditEntry;
use ciphub_domain::policy;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::Authed;
use crate::error::AppError;

/// The most entries one page may hold.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// One audit entry.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryJson {
    pub seq: i64,
    pub at: String,
    /// The acting user, or null for the system.
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub hash: String,
    /// An act on an anonymous report by its reporter: only the reporter's organization reads it.
    pub restricted: bool,
    /// The organization whose user or token was changed, when not the actor's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_org: Option<String>,
    /// The secret hashed into a restricted entry; shown only to the actor's organization, which
    /// can then check the entry's hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl From<AuditEntry> for AuditEntryJson {
    fn from(e: AuditEntry) -> Self {
        Self {
            restricted: e.restricted,
            subject_org: e.subject_org,
            salt: e.salt,
            seq: e.seq,
            at: rfc3339(chrono::DateTime::from_timestamp_micros(e.at_us).unwrap_or_default()),
            actor_user: e.actor_user,
            actor_org: e.actor_org,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            hash: e.hash,
        }
    }
}

/// A page of the audit trail.
#[derive(Serialize, ToSchema)]
pub struct AuditPageJson {
    pub entries: Vec<AuditEntryJson>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
    /// With `order=newest`: pass as `before` for the next (older) page; absent on the last.
    /// With `action` or `actor`, a page searches at most 20,000 entries, so a short page may
    /// still have a next one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Paging through the audit trail.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this sequence number (default 0), oldest first.
    pub after: Option<i64>,
    /// `oldest` (the default: from `after`, oldest first) or `newest` (from `before`, newest
    /// first).
    #[param(pattern = "^(oldest|newest)?$")]
    pub order: Option<String>,
    /// Newest first: entries before this sequence number (default: the newest). `before`,
    /// `action` and `actor` read newest first; with `order=oldest` they are refused (422).
    pub before: Option<i64>,
    /// Only actions starting with this (for example `report.`).
    #[param(max_length = 100)]
    pub action: Option<String>,
    /// Only entries whose acting user or organization contains this (any case).
    #[param(max_length = 100)]
    pub actor: Option<String>,
    /// At most this many entries (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Lists audit entries the caller may see, oldest first, or newest first with filters by
/// action and actor.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPageJson), (status = 400, body = crate::error::ErrorBody),
        (status = 422, description = "Filters with order=oldest.", body = crate::error::ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPageJson>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            format!("limit must be from 1 to {MAX_AUDIT_PAGE}"),
            Some("limit".into()),
        ));
    }
    for (field, value) in [("action", &q.action), ("actor", &q.actor)] {
        if value.as_deref().is_some_and(|v| v.chars().count() > 100) {
            return Err(AppError::malformed(
                "invalid_query",
                format!("{field} must be at most 100 characters"),
                Some(field.into()),
            ));
        }
    }
    let order = q.order.as_deref().filter(|o| !o.is_empty());
    let newest = match order {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(other) => {
            return Err(AppError::malformed(
                "invalid_query",
                format!("order must be oldest or newest, not {other:?}"),
                Some("order".into()),
            ));
        }
    };
    let filtered = q.action.is_some() || q.actor.is_some() || q.before.is_some();
    // Filters read newest first: without an order they choose it; with order=oldest they
    // are a request that cannot be met.
    let newest = newest || (filtered && order.is_none());
    if filtered && !newest {
        return Err(AppError::invalid(
            "order",
            "before, action and actor go with order=newest",
        ));
    }
    let actor = authed.actor();
    let scope = policy::audit_scope(&actor);
    let page = if newest {
        state
            .store
            .audit_newest(
                &scope,
                q.before,
                q.action.as_deref(),
                q.actor.as_deref(),
                limit,
            )
            .await?
    } else {
        state
            .store
            .audit_page(&scope, q.after.unwrap_or(0), limit)
            .await?
    };
    let (next_after, next_before) = if newest {
        (None, page.next_after)
    } else {
        (page.next_after, None)
    };
    Ok(Json(AuditPageJson {
        entries: page
            .entries
            .into_iter()
            .map(|e| AuditEntryJson::from(policy::audit_view(&actor, e)))
            .collect(),
        next_after,
        next_before,
    }))
}
