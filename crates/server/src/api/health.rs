//! `/healthz`: the one unauthenticated probe; says whether the database answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// Health of the service.
#[derive(Serialize, ToSchema)]
pub struct HealthJson {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// The database engine: `sqlite` or `postgres`.
    pub database: &'static str,
    pub version: &'static str,
}

/// Reports whether the service and its database answer.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, body = HealthJson), (status = 503, body = HealthJson)))]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<HealthJson>) {
    let ok = state.store.ping().await.is_ok();
    let body = HealthJson {
        status: if ok { "ok" } else { "unavailable" },
        database: state.store.backend().as_str(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
