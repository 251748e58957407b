//! The OpenAPI document, generated from the handlers' annotations, plus the answers every
//! operation can give for what it takes (credentials, a body, path and query parameters),
//! added in one place so that no annotation has to repeat them.

use std::collections::BTreeMap;

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder, Schema, SecurityRequirement,
};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::auth::SESSION_COOKIE;
use crate::error::ErrorBody;

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
        api::exercises::list_scenarios,
        api::exercises::create_run,
        api::exercises::list_runs,
        api::exercises::get_run,
        api::exercises::control_run,
        api::exercises::get_scores,
        api::exercises::reply,
        api::exercises::live,
        api::exercises::get_report,
        api::exercises::get_lessons,
        api::exercises::put_lessons,
        api::exercises::list_actions,
        api::exercises::create_action,
        api::exercises::update_action,
        api::exercises::list_my_actions,
        api::exercises::create_share,
        api::exercises::list_shares,
        api::exercises::revoke_share,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Credentials, &CommonErrors),
    // Any one of the credentials `auth::authed_user` accepts.
    security(("bearer" = []), ("basic" = []), ("session" = []))
)]
pub struct ApiDoc;

/// The credentials `auth::authed_user` accepts, as security schemes.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("An API token (`chp_…`), from POST /api/v1/tokens.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("A user name and one of that user's API tokens, as TAXII clients send.".into());
        components.add_security_scheme("basic", SecurityScheme::Http(basic));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie POST /api/v1/session sets; a request that changes \
                 something with it alone also needs the session's X-CSRF-Token header.",
            ))),
        );
    }
}

/// Adds to each operation the errors that follow from what it takes: 401 where it needs
/// credentials, 403 where a session cookie needs its CSRF token, 400, 413 and 415 where it
/// takes a JSON body, 400 where a path or query parameter may not parse, and 404 where a path
/// names a resource, and 429 with `Retry-After` where the request limits apply (every
/// operation but the health probe and the public advisories). An answer an annotation already
/// declares keeps its own words, and gets these causes after them.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The routes outside `limits::limit_api` (see `router.rs`).
            let limited = path != "/healthz" && !path.starts_with("/public/");
            let operations = [
                (false, item.get.as_mut()),
                (false, item.head.as_mut()),
                (false, item.options.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (unsafe_method, op) in operations {
                if let Some(op) = op {
                    add_common_errors(op, unsafe_method, limited);
                }
            }
        }
    }
}

fn add_common_errors(op: &mut Operation, unsafe_method: bool, limited: bool) {
    let mut causes: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.contains(&SecurityRequirement::default()));
    if !public {
        causes.entry(401).or_default().push(
            "No credentials, or credentials that are not valid, have expired or were revoked.",
        );
        if unsafe_method {
            causes.entry(403).or_default().push(
                "Authenticated by the session cookie alone without the session's X-CSRF-Token header.",
            );
        }
    }
    if op.request_body.is_some() {
        causes
            .entry(400)
            .or_default()
            .push("The body is not JSON, or not of the documented shape (the field is named).");
        causes
            .entry(413)
            .or_default()
            .push("The body is larger than the server accepts.");
        causes
            .entry(415)
            .or_default()
            .push("The body is not sent as application/json.");
    }
    let parameters = op.parameters.as_deref().unwrap_or_default();
    let typed_path = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path) && !is_string(p.schema.as_ref()));
    if typed_path {
        causes
            .entry(400)
            .or_default()
            .push("A path parameter does not parse (the parameter is named).");
    }
    if parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    {
        // `nul::refuse`, before any handler.
        causes
            .entry(422)
            .or_default()
            .push("The path holds the NUL character (%00), which no text may.");
    }
    if parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    {
        causes
            .entry(404)
            .or_default()
            .push("No such resource, or none the caller may see.");
    }
    if parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query))
    {
        causes
            .entry(400)
            .or_default()
            .push("A query parameter is unknown or does not parse (the parameter is named).");
        causes.entry(422).or_default().push(
            "A query parameter holds the NUL character (%00), which no text may (the parameter \
             is named).",
        );
    }
    if limited {
        causes.entry(429).or_default().push(
            "More requests than the credential's or the client address's limit allows; \
             retry after the seconds Retry-After gives.",
        );
    }
    // Declared errors without words of their own say what the status means here.
    for (key, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(r) = response
            && r.description.is_empty()
        {
            r.description = meaning(key).to_owned();
        }
    }
    for (status, why) in causes {
        let why = why.join(" ");
        let key = status.to_string();
        match op.responses.responses.get_mut(&key) {
            Some(RefOr::T(declared)) => {
                declared.description = if declared.description.is_empty() {
                    why
                } else {
                    format!("{} {why}", declared.description)
                };
                if status == 429 {
                    declared
                        .headers
                        .insert("Retry-After".to_owned(), retry_after());
                }
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                let mut response = ResponseBuilder::new().description(why).content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                );
                if status == 429 {
                    response = response.header("Retry-After", retry_after());
                }
                if status == 401 {
                    response = response.header(
                        "WWW-Authenticate",
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::String))
                            .description(Some("The Bearer challenge."))
                            .build(),
                    );
                }
                op.responses
                    .responses
                    .insert(key, RefOr::T(response.build()));
            }
        }
    }
}

/// The header of a 429.
fn retry_after() -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some("Seconds until the next request is allowed."))
        .build()
}

/// What a status means when an annotation declares it without a description.
fn meaning(status: &str) -> &'static str {
    match status {
        "200" | "201" => "Done.",
        "202" => "Accepted; it happens in the background.",
        "204" => "Done; nothing to answer.",
        "400" => "The request is malformed (the field or parameter is named).",
        "401" => "No credentials, or credentials that are not valid.",
        "403" => "The access policy refuses this to the caller.",
        "404" => "No such resource, or none the caller may see.",
        "409" => "It conflicts with what exists.",
        "422" => "A value is not acceptable (the field is named).",
        "429" => "Too many attempts; wait and try again.",
        _ => "See the body.",
    }
}

/// Whether a parameter's schema is a plain string, which any path segment parses as.
fn is_string(schema: Option<&RefOr<Schema>>) -> bool {
    matches!(
        schema,
        Some(RefOr::T(Schema::Object(o))) if o.schema_type == SchemaType::Type(Type::String)
    )
}

/// A string that is one of `names`, or null when `nullable`.
pub(crate) fn one_of(names: impl IntoIterator<Item = &'static str>, nullable: bool) -> Schema {
    let mut names: Vec<Option<&str>> = names.into_iter().map(Some).collect();
    let kind = if nullable {
        names.push(None);
        SchemaType::Array(vec![Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some(names))
        .build()
        .into()
}

/// A TLP 2.0 label, from the domain's list.
pub fn tlp() -> Schema {
    one_of(
        ciphub_domain::report::Tlp::ALL.iter().map(|t| t.as_str()),
        false,
    )
}

/// A TLP 2.0 label, or null for the default.
pub fn tlp_or_null() -> Schema {
    one_of(
        ciphub_domain::report::Tlp::ALL.iter().map(|t| t.as_str()),
        true,
    )
}

/// A role, from the domain's list.
pub fn role() -> Schema {
    one_of(
        ciphub_domain::identity::Role::ALL
            .iter()
            .map(|r| r.as_str()),
        false,
    )
}

/// Roles, each from the domain's list.
pub fn roles() -> Schema {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(RefOr::T(role()))
        .build()
        .into()
}

/// Roles, or null to keep them.
pub fn roles_or_null() -> Schema {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Array, Type::Null]))
        .items(RefOr::T(role()))
        .build()
        .into()
}

/// A kind of organization, from the domain's list.
pub fn org_kind() -> Schema {
    one_of(
        ciphub_domain::registry::OrgKind::ALL
            .iter()
            .map(|k| k.as_str()),
        false,
    )
}

/// A triage status, from the domain's list.
pub fn triage_status() -> Schema {
    one_of(
        ciphub_domain::report::TriageStatus::ALL
            .iter()
            .map(|s| s.as_str()),
        false,
    )
}

/// A triage status, or null to keep it.
pub fn triage_status_or_null() -> Schema {
    one_of(
        ciphub_domain::report::TriageStatus::ALL
            .iter()
            .map(|s| s.as_str()),
        true,
    )
}

/// A stage after the first.
pub fn later_stage() -> Schema {
    use ciphub_domain::report::Stage;
    one_of(
        Stage::ALL
            .iter()
            .filter(|s| **s != Stage::Initial)
            .map(|s| s.as_str()),
        false,
    )
}

/// A cause of an outage, from the domain's list.
pub fn cause() -> Schema {
    one_of(
        ciphub_domain::report::Cause::ALL.iter().map(|c| c.as_str()),
        false,
    )
}

/// What a report was filed through, from the domain's list.
pub fn formation() -> Schema {
    one_of(
        ciphub_domain::report::Formation::ALL
            .iter()
            .map(|f| f.as_str()),
        false,
    )
}

/// The technologies an outage touched, from the domain's list.
pub fn tech_scope() -> Schema {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(RefOr::T(one_of(
            ciphub_domain::report::TechScope::ALL
                .iter()
                .map(|t| t.as_str()),
            false,
        )))
        .build()
        .into()
}

/// A shipped severity schema's id.
pub fn severity_schema_or_null() -> Schema {
    one_of(
        ciphub_domain::severity::SHIPPED_SCHEMAS
            .iter()
            .map(|(id, _)| *id),
        true,
    )
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation that needs credentials says it answers 401, every limited one 429 with
    /// `Retry-After`, and every one that takes a body 400, 413 and 415, all with the error
    /// envelope.
    #[test]
    fn common_errors_are_documented() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
        let error_ref = "#/components/schemas/ErrorBody";
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let public = op["security"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                });
                let responses = &op["responses"];
                if !public {
                    assert_eq!(
                        responses["401"]["content"]["application/json"]["schema"]["$ref"],
                        error_ref,
                        "{method} {path}"
                    );
                }
                if path != "/healthz" && !path.starts_with("/public/") {
                    let limited = &responses["429"];
                    assert_eq!(
                        limited["content"]["application/json"]["schema"]["$ref"], error_ref,
                        "{method} {path}"
                    );
                    assert!(
                        limited["headers"].get("Retry-After").is_some(),
                        "{method} {path}"
                    );
                }
                if op.get("requestBody").is_some() {
                    for status in ["400", "413", "415"] {
                        assert!(responses.get(status).is_some(), "{method} {path} {status}");
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 80);
    }
}
