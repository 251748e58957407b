//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "ciphub API", description = "The information-sharing platform for critical-infrastructure protection."),
    paths(
        api::health::get_health,
        crate::metrics::get_metrics,
        get_openapi,
        api::sectors::list_sectors,
        api::organizations::list_organizations,
        api::organizations::get_organization,
        api::organizations::create_organization,
        api::me::get_me,
        api::me::put_my_password,
        api::session::create_session,
        api::session::delete_session,
        api::users::list_users,
        api::users::create_user,
        api::users::get_user,
        api::users::update_user,
        api::users::list_security_notices,
        api::tokens::list_tokens,
        api::tokens::create_token,
        api::tokens::revoke_token,
        api::audit::list_audit,
        api::severity::list_schemas,
        api::severity::get_schema,
        api::severity::assess,
        api::identifiers::list_identifiers,
        api::identifiers::put_identifiers,
        api::reports::create_report,
        api::reports::list_reports,
        api::reports::get_report,
        api::stix::get_report_stix,
        api::stix::get_incident_stix,
        api::stix::get_alert_stix,
        api::reports::create_stage,
        api::reports::create_consent,
        api::reports::update_triage,
        api::reports::list_notes,
        api::reports::create_note,
        api::reports::relay_check,
        api::reports::create_relay,
        api::notifications::list_notifications,
        api::incidents::create_incident,
        api::incidents::get_incident,
        api::alerts::create_alert,
        api::alerts::list_alerts,
        api::alerts::get_alert,
        api::alerts::ack_alert,
        api::alerts::get_delivery,
        api::alerts::relay_alert,
        api::alerts::put_relay_rule,
        api::alerts::get_attachment,
        api::channels::list_notices,
        api::channels::stream,
        api::channels::get_contacts,
        api::channels::put_contacts,
        api::channels::list_webhooks,
        api::channels::create_webhook,
        api::channels::delete_webhook,
        api::channels::list_calls,
        api::channels::retry_call,
        api::correlations::list_correlations,
        api::correlations::get_report_correlations,
        crate::public::get_advisories,
        crate::public::get_advisories_feed,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
