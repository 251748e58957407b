//! `/api/v1/users`: creating, listing and changing users. Admins manage their own
//! organization's users; an admin at the coordinator lists everyone's and creates an
//! organization's first admin, and nothing more.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use ciphub_domain::Slug;
use ciphub_domain::identity::{Password, Role, Roles, UserName};
use ciphub_domain::policy::{self, Action};
use ciphub_store::{By, NewUser, UserPatch, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::{Authed, hash_password_async};
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// A user.
#[derive(Serialize, ToSchema)]
pub struct UserJson {
    pub name: String,
    pub display_name: String,
    /// The slug of the user's organization.
    pub org: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created: String,
}

impl From<&UserRecord> for UserJson {
    fn from(u: &UserRecord) -> Self {
        Self {
            name: u.name.to_string(),
            display_name: u.display_name.clone(),
            org: u.org.to_string(),
            roles: u.roles.iter().map(ToString::to_string).collect(),
            disabled: u.disabled,
            created: rfc3339(u.created),
        }
    }
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserJson {
    /// Login name: 2 to 64 of a-z, 0-9, '.', '_', '-'.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{1,63}$")]
    pub name: String,
    /// The organization's slug.
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub org: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[schema(schema_with = crate::openapi::roles)]
    pub roles: Vec<String>,
    /// At least 12 characters; without one, the user signs in with API tokens only.
    #[serde(default)]
    #[schema(min_length = 12)]
    pub password: Option<String>,
}

/// Changes to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchJson {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::roles_or_null)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    #[schema(min_length = 12)]
    pub password: Option<String>,
}

/// Which users to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only users of this organization (default: the caller's).
    #[param(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub org: Option<String>,
}

fn parse_roles(v: &[String]) -> Result<Roles, AppError> {
    v.iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse::<Role>()
                .map_err(|e| AppError::invalid(format!("roles[{i}]"), e.to_string()))
        })
        .collect()
}

fn parse_org(field: &str, s: &str) -> Result<Slug, AppError> {
    Slug::parse(s).map_err(|e| AppError::invalid(field, e.to_string()))
}

/// Lists the users of an organization.
#[utoipa::path(get, path = "/api/v1/users", tag = "identity", params(UserQuery),
    responses((status = 200, body = [UserJson]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "The org is not a slug.", body = crate::error::ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<UserJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let actor = authed.actor();
    let org = match q.org.as_deref() {
        Some(o) => parse_org("org", o)?,
        None => actor.org.clone(),
    };
    policy::check(&actor, Action::ReadUsers { org: &org })?;
    let users = state.store.list_users(Some(&org)).await?;
    Ok(Json(users.iter().map(UserJson::from).collect()))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "identity", request_body = NewUserJson,
    responses((status = 201, body = UserJson), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewUserJson>,
) -> Result<(StatusCode, Json<UserJson>), AppError> {
    let actor = authed.actor();
    let org = parse_org("org", &body.org)?;
    let name = UserName::parse(&body.name).map_err(|e| AppError::invalid("name", e.to_string()))?;
    let roles = parse_roles(&body.roles)?;
    if roles.is_empty() {
        return Err(AppError::invalid("roles", "a user needs at least one role"));
    }
    if policy::check(&actor, Action::ManageUsers { org: &org }).is_err() {
        // Outside its own organization an instance admin may only start one off: its first
        // admin, with no other role, while it has no active admin.
        let has_admin = state
            .store
            .has_active_admin(&org)
            .await
            .map_err(|e| match e {
                ciphub_store::StoreError::NotFound { .. } => AppError::from_store_for("org", e),
                other => other.into(),
            })?;
        policy::check(
            &actor,
            Action::CreateFirstAdmin {
                org: &org,
                has_admin,
            },
        )?;
        if roles.iter().any(|r| *r != Role::Admin) {
            return Err(AppError::invalid(
                "roles",
                "another organization's first user is its admin, with no other role; its admins give the rest",
            ));
        }
    }
    let password_hash = match body.password {
        Some(p) => {
            let p = Password::new(p).map_err(|e| AppError::invalid("password", e.to_string()))?;
            Some(hash_password_async(p.expose().to_owned()).await?)
        }
        None => None,
    };
    let new = NewUser {
        org,
        display_name: body.display_name.unwrap_or_else(|| name.to_string()),
        name,
        roles,
        password_hash,
    };
    let user = state
        .store
        .create_user(&new, &By::actor(&actor))
        .await
        .map_err(|e| match e {
            ciphub_store::StoreError::NotFound { .. } => AppError::from_store_for("org", e),
            ciphub_store::StoreError::User(_) => AppError::from_store_for("roles", e),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(UserJson::from(&user))))
}

/// Loads a user the caller may read (or is). A user the caller may not read is answered as
/// one that does not exist, so names cannot be probed by telling 403 from 404.
pub(crate) async fn readable_user(
    state: &AppState,
    authed: &Authed,
    name: &str,
) -> Result<UserRecord, AppError> {
    let missing = || {
        AppError::from(ciphub_store::StoreError::NotFound {
            what: "user",
            key: name.to_owned(),
        })
    };
    // What is not a user name names no user; the store is not asked (PostgreSQL refuses text
    // with a NUL in it).
    if UserName::parse(name).is_err() {
        return Err(missing());
    }
    let user = match state.store.get_user(name).await {
        Ok(u) => u,
        Err(ciphub_store::StoreError::NotFound { .. }) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    if user.id != authed.0.id
        && policy::check(&authed.actor(), Action::ReadUsers { org: &user.org }).is_err()
    {
        return Err(missing());
    }
    Ok(user)
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "identity",
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, body = UserJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<UserJson>, AppError> {
    let user = readable_user(&state, &authed, &name).await?;
    Ok(Json(UserJson::from(&user)))
}

/// Changes a user's display name, roles, password or whether it is disabled.
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "identity", request_body = UserPatchJson,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, body = UserJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UserPatchJson>,
) -> Result<Json<UserJson>, AppError> {
    let actor = authed.actor();
    let user = readable_user(&state, &authed, &name).await?;
    // Changing roles, passwords or access is an administrator's act, even on oneself.
    policy::check(&actor, Action::ManageUsers { org: &user.org })?;
    let roles = body.roles.as_deref().map(parse_roles).transpose()?;
    if body.disabled == Some(true) && user.id == actor.user_id {
        return Err(AppError::invalid(
            "disabled",
            "you cannot disable your own account",
        ));
    }
    let password_hash = match body.password {
        Some(p) => {
            let p = Password::new(p).map_err(|e| AppError::invalid("password", e.to_string()))?;
            Some(hash_password_async(p.expose().to_owned()).await?)
        }
        None => None,
    };
    let patch = UserPatch {
        display_name: body.display_name,
        roles,
        disabled: body.disabled,
        password_hash,
    };
    let updated = state
        .store
        .update_user(&user.name, &patch, &By::actor(&actor))
        .await
        .map_err(|e| AppError::from_store_for("roles", e))?;
    Ok(Json(UserJson::from(&updated)))
}

/// Something an organization's admins are told about its own people.
#[derive(Serialize, ToSchema)]
pub struct SecurityNoticeJson {
    pub id: i64,
    /// `secretariat-granted` (the user may now read anonymous reporters relayed through the
    /// organization) or `created-by-outsider` (an admin of another organization created it).
    pub kind: String,
    pub user: String,
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    pub created: String,
}

/// What the caller's organization's admins were told about its people, newest first.
#[utoipa::path(get, path = "/api/v1/security-notices", tag = "identity",
    responses((status = 200, body = [SecurityNoticeJson]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_security_notices(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<SecurityNoticeJson>>, AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::ReadSecurityNotices)?;
    let notices = state.store.security_notices(&actor.org, 200).await?;
    Ok(Json(
        notices
            .into_iter()
            .map(|n| SecurityNoticeJson {
                id: n.id,
                kind: n.kind,
                user: n.user,
                actor_user: n.actor_user,
                actor_org: n.actor_org,
                created: rfc3339(n.created),
            })
            .collect(),
    ))
}
