//! `/api/v1/organizations`: the registry's organizations, their members, and adding new ones.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use ciphub_domain::Slug;
use ciphub_domain::policy::{self, Action};
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_store::{By, OrgFilter, OrgOrder, OrgRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::parse_slugs;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// A short reference to an organization.
#[derive(Serialize, ToSchema)]
pub struct OrgRefJson {
    pub slug: String,
    pub kind: String,
    pub name_en: String,
    pub name_ja: Option<String>,
    pub abbrev: Option<String>,
}

impl From<&OrgRecord> for OrgRefJson {
    fn from(r: &OrgRecord) -> Self {
        Self {
            slug: r.org.slug.to_string(),
            kind: r.org.kind.to_string(),
            name_en: r.org.name_en.clone(),
            name_ja: r.org.name_ja.clone(),
            abbrev: r.org.abbrev.clone(),
        }
    }
}

/// An organization.
#[derive(Serialize, ToSchema)]
pub struct OrgJson {
    pub slug: String,
    /// coordinator, ministry, ceptoar, council, agency, operator or external.
    pub kind: String,
    pub name_en: String,
    pub name_ja: Option<String>,
    pub abbrev: Option<String>,
    pub sectors: Vec<String>,
    pub services: Vec<String>,
    /// Sectors this ministry is responsible for.
    pub responsible_for: Vec<String>,
    /// The CEPTOARs and councils it belongs to.
    pub member_of: Vec<String>,
    pub members_published: Option<String>,
    pub members_count: Option<u32>,
}

fn strings(v: &[Slug]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

impl From<&OrgRecord> for OrgJson {
    fn from(r: &OrgRecord) -> Self {
        let o = &r.org;
        Self {
            slug: o.slug.to_string(),
            kind: o.kind.to_string(),
            name_en: o.name_en.clone(),
            name_ja: o.name_ja.clone(),
            abbrev: o.abbrev.clone(),
            sectors: strings(&o.sectors),
            services: strings(&o.services),
            responsible_for: strings(&o.responsible_for),
            member_of: strings(&o.member_of),
            members_published: o.members_published.clone(),
            members_count: o.members_count,
        }
    }
}

/// An organization with its members (for CEPTOARs and councils).
#[derive(Serialize, ToSchema)]
pub struct OrgDetailJson {
    #[serde(flatten)]
    pub organization: OrgJson,
    pub members: Vec<OrgRefJson>,
}

/// Filters for listing organizations.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrgQuery {
    /// Only organizations of this kind.
    #[param(schema_with = crate::openapi::org_kind)]
    pub kind: Option<String>,
    /// Only organizations in this sector.
    #[param(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub sector: Option<String>,
    /// Only organizations with this text in their id, name or abbreviation (any case).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Organizations to return: 1 to 5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// Organizations to skip (default 0, at most 1,000,000).
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

/// Organizations a list returns unless it asks for fewer, and at most.
pub const ORG_LIMIT: u32 = 1_000;
pub const MAX_ORG_LIMIT: u32 = 5_000;

/// The largest `offset` a paged list takes.
pub const MAX_OFFSET: u32 = 1_000_000;

/// A new organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgJson {
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub slug: String,
    #[schema(schema_with = crate::openapi::org_kind)]
    pub kind: String,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    #[serde(default)]
    pub abbrev: Option<String>,
    #[serde(default)]
    pub sectors: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub responsible_for: Vec<String>,
    #[serde(default)]
    pub member_of: Vec<String>,
}

impl TryFrom<NewOrgJson> for Organization {
    type Error = AppError;
    fn try_from(j: NewOrgJson) -> Result<Self, AppError> {
        Ok(Organization {
            slug: Slug::parse(&j.slug).map_err(|e| AppError::invalid("slug", e.to_string()))?,
            kind: j
                .kind
                .parse()
                .map_err(|e: ciphub_domain::registry::UnknownOrgKind| {
                    AppError::invalid("kind", e.to_string())
                })?,
            name_en: j.name_en,
            name_ja: j.name_ja,
            abbrev: j.abbrev,
            sectors: parse_slugs("sectors", &j.sectors)?,
            services: parse_slugs("services", &j.services)?,
            responsible_for: parse_slugs("responsible_for", &j.responsible_for)?,
            member_of: parse_slugs("member_of", &j.member_of)?,
            members_published: None,
            members_count: None,
        })
    }
}

/// Lists organizations, optionally of one kind, in one sector and with some text, by kind then
/// id. Paged: `X-Total-Count` gives how many match, and a `Link` header with `rel="next"` the
/// next page while there is one.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "registry", params(OrgQuery),
    responses((status = 200, body = [OrgJson]), (status = 400, body = crate::error::ErrorBody),
        (status = 422, description = "The sector names no sector.", body = crate::error::ErrorBody)))]
pub async fn list_organizations(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<OrgQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(axum::http::HeaderMap, Json<Vec<OrgJson>>), AppError> {
    policy::check(&authed.actor(), Action::ReadRegistry)?;
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            k.parse::<OrgKind>().map_err(|e| {
                AppError::malformed("invalid_query", e.to_string(), Some("kind".into()))
            })
        })
        .transpose()?;
    let sector = match q.sector.as_deref() {
        None => None,
        Some(s) => {
            let known = state.store.list_sectors().await?;
            // A well-formed slug that names no sector is a value the request gets wrong, not
            // a malformed request: 422, as for bodies.
            if !known.iter().any(|k| k.sector.slug.as_str() == s) {
                return Err(AppError::invalid(
                    "sector",
                    format!("unknown sector {s:?}; GET /api/v1/sectors lists them"),
                ));
            }
            Some(Slug::parse(s).map_err(|e| {
                AppError::malformed("invalid_query", e.to_string(), Some("sector".into()))
            })?)
        }
    };
    let limit = q.limit.unwrap_or(ORG_LIMIT);
    if !(1..=MAX_ORG_LIMIT).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            format!("limit must be from 1 to {MAX_ORG_LIMIT}"),
            Some("limit".into()),
        ));
    }
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > 200) {
        return Err(AppError::malformed(
            "invalid_query",
            "q must be at most 200 characters",
            Some("q".into()),
        ));
    }
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(AppError::malformed(
            "invalid_query",
            "offset must be at most 1000000",
            Some("offset".into()),
        ));
    }
    let filter = OrgFilter { kind, sector };
    let (orgs, total) = state
        .store
        .organizations_page(&filter, text, (OrgOrder::Id, false), offset, limit)
        .await?;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-total-count", total.into());
    let next = u64::from(offset) + u64::from(limit);
    if next < total {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(k) = filter.kind {
            query.append_pair("kind", k.as_str());
        }
        if let Some(s) = &filter.sector {
            query.append_pair("sector", s.as_str());
        }
        if let Some(t) = text {
            query.append_pair("q", t);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &next.to_string());
        let link = format!("</api/v1/organizations?{}>; rel=\"next\"", query.finish());
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    Ok((headers, Json(orgs.iter().map(OrgJson::from).collect())))
}

/// One organization, with its members when it is a CEPTOAR or a council.
#[utoipa::path(get, path = "/api/v1/organizations/{slug}", tag = "registry",
    params(("slug" = String, Path, description = "The organization's slug")),
    responses((status = 200, body = OrgDetailJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_organization(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<OrgDetailJson>, AppError> {
    policy::check(&authed.actor(), Action::ReadRegistry)?;
    let slug = Slug::parse(&slug)
        .map_err(|_| AppError::NotFound(format!("organization {slug:?} does not exist")))?;
    let detail = state.store.get_organization(&slug).await?;
    Ok(Json(OrgDetailJson {
        organization: OrgJson::from(&detail.record),
        members: detail.members.iter().map(OrgRefJson::from).collect(),
    }))
}

/// Adds an organization (an operator joining, a new agency). Needs the admin role at the coordinator.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "registry", request_body = NewOrgJson,
    responses((status = 201, body = OrgJson), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_organization(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewOrgJson>,
) -> Result<(StatusCode, Json<OrgJson>), AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::ManageRegistry)?;
    let org = Organization::try_from(body)?;
    let mut added = state
        .store
        .add_organizations(&[org], &By::actor(&actor))
        .await?;
    let rec = added
        .pop()
        .ok_or_else(|| AppError::Internal("no organization added".into()))?;
    Ok((StatusCode::CREATED, Json(OrgJson::from(&rec))))
}
