//! Every URL the server answers, in one table.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{any, delete, get, patch, post, put};
use tower_http::trace::TraceLayer;

use crate::api::{
    alerts, audit, channels, correlations, exercises, health, identifiers, incidents, me,
    notifications, organizations, reports, sectors, session, severity, stix, tokens, users,
};
use crate::error::AppError;
use crate::{AppState, auth, limits, metrics, openapi, public, taxii};

/// Builds the whole application.
pub fn app(state: AppState) -> Router {
    // Install the recorder before the first request is counted.
    let _ = metrics::handle();
    let authenticated = Router::new()
        .route("/metrics", get(metrics::get_metrics))
        .route("/api/v1/openapi.json", get(openapi::get_openapi))
        .route("/api/v1/sectors", get(sectors::list_sectors))
        .route(
            "/api/v1/organizations",
            get(organizations::list_organizations).post(organizations::create_organization),
        )
        .route(
            "/api/v1/organizations/{slug}",
            get(organizations::get_organization),
        )
        .route("/api/v1/me", get(me::get_me))
        .route("/api/v1/me/password", put(me::put_my_password))
        .route("/api/v1/session", delete(session::delete_session))
        .route(
            "/api/v1/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/v1/security-notices",
            get(users::list_security_notices),
        )
        .route(
            "/api/v1/users/{name}",
            get(users::get_user).patch(users::update_user),
        )
        .route(
            "/api/v1/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(tokens::revoke_token))
        .route("/api/v1/audit", get(audit::list_audit))
        .route("/api/v1/severity/schemas", get(severity::list_schemas))
        .route("/api/v1/severity/schemas/{id}", get(severity::get_schema))
        .route("/api/v1/severity/assess", post(severity::assess))
        .route(
            "/api/v1/organizations/{slug}/identifiers",
            get(identifiers::list_identifiers).put(identifiers::put_identifiers),
        )
        .route(
            "/api/v1/reports",
            get(reports::list_reports).post(reports::create_report),
        )
        .route("/api/v1/reports/{id}", get(reports::get_report))
        .route("/api/v1/reports/{id}/stix", get(stix::get_report_stix))
        .route(
            "/api/v1/reports/{id}/correlations",
            get(correlations::get_report_correlations),
        )
        .route("/api/v1/correlations", get(correlations::list_correlations))
        .route("/api/v1/incidents/{id}/stix", get(stix::get_incident_stix))
        .route("/api/v1/alerts/{id}/stix", get(stix::get_alert_stix))
        .route("/api/v1/reports/{id}/stages", post(reports::create_stage))
        .route(
            "/api/v1/reports/{id}/consent",
            post(reports::create_consent),
        )
        .route("/api/v1/reports/{id}/triage", patch(reports::update_triage))
        .route(
            "/api/v1/reports/{id}/notes",
            get(reports::list_notes).post(reports::create_note),
        )
        .route(
            "/api/v1/reports/{id}/relay-check",
            get(reports::relay_check),
        )
        .route("/api/v1/reports/{id}/relay", post(reports::create_relay))
        .route(
            "/api/v1/notifications",
            get(notifications::list_notifications),
        )
        .route("/api/v1/incidents", post(incidents::create_incident))
        .route(
            "/api/v1/exercises/scenarios",
            get(exercises::list_scenarios),
        )
        .route(
            "/api/v1/exercises/runs",
            get(exercises::list_runs).post(exercises::create_run),
        )
        .route("/api/v1/exercises/runs/{id}", get(exercises::get_run))
        .route(
            "/api/v1/exercises/runs/{id}/control",
            post(exercises::control_run),
        )
        .route(
            "/api/v1/exercises/runs/{id}/scores",
            get(exercises::get_scores),
        )
        .route("/api/v1/exercises/runs/{id}/live", get(exercises::live))
        .route(
            "/api/v1/exercises/runs/{id}/injects/{inject}/reply",
            post(exercises::reply),
        )
        .route(
            "/api/v1/exercises/runs/{id}/report",
            get(exercises::get_report),
        )
        .route(
            "/api/v1/exercises/runs/{id}/lessons",
            get(exercises::get_lessons).put(exercises::put_lessons),
        )
        .route(
            "/api/v1/exercises/runs/{id}/actions",
            get(exercises::list_actions).post(exercises::create_action),
        )
        .route("/api/v1/exercise-actions", get(exercises::list_my_actions))
        .route(
            "/api/v1/exercise-actions/{id}",
            axum::routing::patch(exercises::update_action),
        )
        .route(
            "/api/v1/exercises/runs/{id}/shares",
            get(exercises::list_shares).post(exercises::create_share),
        )
        .route(
            "/api/v1/exercises/runs/{id}/shares/{share}",
            axum::routing::delete(exercises::revoke_share),
        )
        .route("/api/v1/incidents/{id}", get(incidents::get_incident))
        .route(
            "/api/v1/alerts",
            get(alerts::list_alerts)
                .post(alerts::create_alert)
                .layer(DefaultBodyLimit::max(alert_body_limit(
                    state.config.body_limit,
                    state.config.attachment_limit,
                ))),
        )
        .route("/api/v1/alerts/{id}", get(alerts::get_alert))
        .route("/api/v1/alerts/{id}/ack", post(alerts::ack_alert))
        .route("/api/v1/alerts/{id}/delivery", get(alerts::get_delivery))
        .route("/api/v1/alerts/{id}/relay", post(alerts::relay_alert))
        .route("/api/v1/relay-rule", put(alerts::put_relay_rule))
        .route(
            "/api/v1/alerts/{id}/attachments/{n}",
            get(alerts::get_attachment),
        )
        .route("/api/v1/alert-notices", get(channels::list_notices))
        .route("/api/v1/stream", get(channels::stream))
        .route(
            "/api/v1/organizations/{slug}/contacts",
            get(channels::get_contacts).put(channels::put_contacts),
        )
        .route(
            "/api/v1/webhooks",
            get(channels::list_webhooks).post(channels::create_webhook),
        )
        .route("/api/v1/webhooks/{id}", delete(channels::delete_webhook))
        .route("/api/v1/webhooks/{id}/calls", get(channels::list_calls))
        .route(
            "/api/v1/webhooks/{id}/calls/{call}/retry",
            post(channels::retry_call),
        )
        .route("/misp/feed/manifest.json", get(crate::misp::get_manifest))
        .route("/misp/feed/{file}", get(crate::misp::get_event))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Outside authentication, so a refused request is not looked up in the store.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_api,
        ));
    // The unauthenticated routes: the health probe, the password login itself, and the
    // TLP:CLEAR advisories (the only data served without credentials).
    let open = Router::new()
        .route("/healthz", get(health::get_health))
        .route("/public/advisories", get(public::get_advisories))
        .route("/public/advisories.atom", get(public::get_advisories_feed))
        .route(
            "/shared/exercise-reports/{token}",
            get(exercises::shared_report),
        )
        .route(
            "/api/v1/session",
            post(session::create_session).layer(middleware::from_fn_with_state(
                state.clone(),
                limits::limit_api,
            )),
        );
    // TAXII 2.1: its own negotiation, authentication (basic as well as bearer) and limits,
    // and TAXII error resources for everything, unknown paths and methods included.
    let t = |p: &str| format!("/taxii2/{}{p}", taxii::API_ROOT);
    let taxii_routes = Router::new()
        .route("/taxii2/", get(taxii::get_discovery))
        .route(&t("/"), get(taxii::get_api_root))
        .route(&t("/status/{id}/"), get(taxii::get_status))
        .route(&t("/collections/"), get(taxii::list_collections))
        .route(&t("/collections/{id}/"), get(taxii::get_collection))
        .route(&t("/collections/{id}/manifest/"), get(taxii::get_manifest))
        .route(
            &t("/collections/{id}/objects/"),
            get(taxii::get_objects).post(taxii::post_objects),
        )
        .route(
            &t("/collections/{id}/objects/{object_id}/"),
            get(taxii::get_object).delete(taxii::delete_object),
        )
        .route(
            &t("/collections/{id}/objects/{object_id}/versions/"),
            get(taxii::get_versions),
        )
        // Unknown API roots and paths: a TAXII error resource, not the API's.
        .route("/taxii2/{*rest}", any(taxii::not_found))
        .method_not_allowed_fallback(taxii::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), taxii::gate))
        // The envelope limit (max_content_length) is applied by the handler, which answers
        // 413 with a TAXII error resource.
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .merge(open)
        .merge(taxii_routes)
        .merge(crate::web::routes(alert_body_limit(
            state.config.body_limit,
            state.config.attachment_limit,
        )))
        .merge(authenticated)
        .layer(middleware::from_fn(crate::nul::refuse))
        .layer(middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}

/// The largest new alert: the usual limit plus its attachments, base64-encoded.
fn alert_body_limit(body_limit: usize, attachment_limit: usize) -> usize {
    body_limit + alerts::MAX_ATTACHMENTS * attachment_limit.div_ceil(3) * 4
}

async fn not_found() -> AppError {
    AppError::NotFound("no such resource; GET /api/v1/openapi.json lists them".into())
}
