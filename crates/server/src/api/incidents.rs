//! `/api/v1/incidents`: a recipient organization groups related reports into one incident.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ciphub_domain::policy::{self, Action};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// A new incident.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentJson {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Reports in the caller organization's queue.
    pub reports: Vec<i64>,
}

/// An incident of the caller's organization.
#[derive(Serialize, ToSchema)]
pub struct IncidentJson {
    pub id: i64,
    pub title: String,
    pub reports: Vec<i64>,
}

/// Groups reports from the caller organization's queue into one incident.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "reports", request_body = NewIncidentJson,
    responses((status = 201, body = IncidentJson), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_incident(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewIncidentJson>,
) -> Result<(StatusCode, Json<IncidentJson>), AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::CreateIncident)?;
    if body.title.trim().is_empty() || body.title.chars().count() > 200 {
        return Err(AppError::invalid(
            "title",
            "a title has 1 to 200 characters",
        ));
    }
    if body.reports.is_empty() {
        return Err(AppError::invalid("reports", "name at least one report"));
    }
    let id = state
        .store
        .create_incident(
            &actor.org,
            &body.title,
            &body.reports,
            &ciphub_store::By::actor(&actor),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IncidentJson {
            id,
            title: body.title,
            reports: body.reports,
        }),
    ))
}

/// One of the caller organization's incidents.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "reports",
    params(("id" = i64, Path, description = "The incident's id")),
    responses((status = 200, body = IncidentJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IncidentJson>, AppError> {
    let (title, reports) = state.store.incident(&authed.0.org, id).await?;
    Ok(Json(IncidentJson { id, title, reports }))
}
