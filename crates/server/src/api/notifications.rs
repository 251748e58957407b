//! `/api/v1/notifications`: what the caller's organization has been told about reports.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::Authed;
use crate::error::AppError;

/// One notification.
#[derive(Serialize, ToSchema)]
pub struct NotificationJson {
    pub id: i64,
    pub report_id: i64,
    /// report.new, report.stage or report.severity.
    pub kind: String,
    /// An emergency level.
    pub urgent: bool,
    /// The role it is addressed to (duty: the coordinator's 24/365 desk), or null for all.
    pub for_role: Option<String>,
    pub created_at: String,
}

/// How many notifications.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// At most this many, newest first (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Lists the caller organization's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "reports", params(NotificationQuery),
    responses((status = 200, body = [NotificationJson])))]
pub async fn list_notifications(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<NotificationJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            "limit must be from 1 to 500",
            Some("limit".into()),
        ));
    }
    let list = state.store.notifications(&authed.0.org, limit).await?;
    Ok(Json(
        list.into_iter()
            .map(|n| NotificationJson {
                id: n.id,
                report_id: n.report_id,
                kind: n.kind,
                urgent: n.urgent,
                for_role: n.role,
                created_at: rfc3339(n.created),
            })
            .collect(),
    ))
}
