//! `/api/v1/organizations/{slug}/identifiers`: the names, domains, addresses and IP ranges
//! that flag identifying text before an anonymous report is relayed. Only the organization's
//! own admins (and the instance's) may read or change them.

use axum::Json;
use axum::extract::State;
use ciphub_domain::Slug;
use ciphub_domain::anonymize::{Identifier, IdentifierKind, check_identifier};
use ciphub_domain::policy::{self, Action};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// The most identifiers one organization may register.
pub const MAX_IDENTIFIERS: usize = 500;

/// One identifier.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierJson {
    /// name, domain, email, hostname or ip-range.
    #[schema(schema_with = crate::api::identifiers::identifier_kind)]
    pub kind: String,
    pub value: String,
}

/// The schema of an identifier's kind, from the domain's list.
pub(crate) fn identifier_kind() -> utoipa::openapi::Schema {
    crate::openapi::one_of(IdentifierKind::ALL.iter().map(|k| k.as_str()), false)
}

fn org(slug: &str) -> Result<Slug, AppError> {
    Slug::parse(slug)
        .map_err(|_| AppError::NotFound(format!("organization {slug:?} does not exist")))
}

/// Lists an organization's identifiers.
#[utoipa::path(get, path = "/api/v1/organizations/{slug}/identifiers", tag = "registry",
    params(("slug" = String, Path, description = "The organization's slug")),
    responses((status = 200, body = [IdentifierJson]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_identifiers(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<Vec<IdentifierJson>>, AppError> {
    let org = org(&slug)?;
    policy::check(&authed.actor(), Action::ManageIdentifiers { org: &org })?;
    let ids = state.store.identifiers(&org).await?;
    Ok(Json(
        ids.into_iter()
            .map(|i| IdentifierJson {
                kind: i.kind.as_str().to_owned(),
                value: i.value,
            })
            .collect(),
    ))
}

/// Replaces an organization's identifiers.
#[utoipa::path(put, path = "/api/v1/organizations/{slug}/identifiers", tag = "registry",
    request_body = [IdentifierJson],
    params(("slug" = String, Path, description = "The organization's slug")),
    responses((status = 200, body = [IdentifierJson]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_identifiers(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<Vec<IdentifierJson>>,
) -> Result<Json<Vec<IdentifierJson>>, AppError> {
    let org = org(&slug)?;
    let actor = authed.actor();
    policy::check(&actor, Action::ManageIdentifiers { org: &org })?;
    if body.len() > MAX_IDENTIFIERS {
        return Err(AppError::invalid(
            "",
            format!("at most {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    let ids = body
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let kind: IdentifierKind = j
                .kind
                .parse()
                .map_err(|e| AppError::invalid(format!("[{i}].kind"), e))?;
            let value = check_identifier(kind, &j.value)
                .map_err(|e| AppError::invalid(format!("[{i}].value"), e))?;
            Ok(Identifier { kind, value })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    state
        .store
        .set_identifiers(&org, &ids, &ciphub_store::By::actor(&actor))
        .await?;
    Ok(Json(
        ids.into_iter()
            .map(|i| IdentifierJson {
                kind: i.kind.as_str().to_owned(),
                value: i.value,
            })
            .collect(),
    ))
}
