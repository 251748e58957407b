//! `/api/v1/me`: who the caller is, and changing one's own password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ciphub_domain::identity::Password;
use ciphub_store::{By, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::users::UserJson;
use crate::auth::{Authed, hash_password_async, verify_password_async};
use crate::error::AppError;
use crate::json::ApiJson;

/// The caller.
#[derive(Serialize, ToSchema)]
pub struct MeJson {
    #[serde(flatten)]
    pub user: UserJson,
    /// The kind of the caller's organization.
    pub org_kind: String,
    /// Whether the caller administers the whole instance.
    pub instance_admin: bool,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeJson {
    pub current_password: String,
    #[schema(min_length = 12)]
    pub new_password: String,
}

/// Says who the caller is.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = MeJson), (status = 401, body = crate::error::ErrorBody)))]
pub async fn get_me(authed: Authed) -> Json<MeJson> {
    let actor = authed.actor();
    Json(MeJson {
        org_kind: authed.0.org_kind.to_string(),
        instance_admin: actor.is_instance_admin(),
        user: UserJson::from(&authed.0),
    })
}

/// Changes the caller's own password; ends the caller's sessions.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "identity", request_body = PasswordChangeJson,
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_my_password(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<PasswordChangeJson>,
) -> Result<StatusCode, AppError> {
    let name = authed.0.name.to_string();
    let login = state.store.user_for_login(&name).await?;
    let hash = login.and_then(|(_, h)| h);
    if !verify_password_async(hash, body.current_password).await {
        return Err(AppError::invalid(
            "current_password",
            "the current password is not correct",
        ));
    }
    let new = Password::new(body.new_password)
        .map_err(|e| AppError::invalid("new_password", e.to_string()))?;
    let hash = hash_password_async(new.expose().to_owned()).await?;
    let patch = UserPatch {
        password_hash: Some(hash),
        ..UserPatch::default()
    };
    state
        .store
        .update_user(&authed.0.name, &patch, &By::actor(&authed.actor()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
