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
    /// `ok`, `unavailable` (the database does not answer) or `read-only` (it answers, but
    /// the last write failed and a test write fails too: a full disk, say).
    pub status: &'static str,
    /// Why, when the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The database engine: `sqlite` or `postgres`.
    pub database: &'static str,
    pub version: &'static str,
}

/// Reports whether the service and its database answer, and whether the database takes
/// writes (after a write failed, a test write tells).
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, body = HealthJson), (status = 503, body = HealthJson)))]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<HealthJson>) {
    let (status, problem) = match state.store.ping().await {
        Err(_) => (
            "unavailable",
            Some("the database does not answer".to_owned()),
        ),
        Ok(()) => match state.store.check_writable().await {
            Ok(()) => ("ok", None),
            Err(why) => ("read-only", Some(format!("the store cannot write: {why}"))),
        },
    };
    let ok = status == "ok";
    let body = HealthJson {
        status,
        problem,
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
