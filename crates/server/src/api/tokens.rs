//! `/api/v1/tokens`: API tokens. A token is shown once, when issued; only its hash is kept.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use ciphub_domain::identity::UserName;
use ciphub_domain::policy::{self, Action};
use ciphub_store::{By, TokenRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::{Authed, hash_secret, new_secret};
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// The prefix of every API token, so scanners can recognize a leaked one.
pub const TOKEN_PREFIX: &str = "chp_";

/// The lifetime of a token when none is asked for.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// A token's record (never the token itself).
#[derive(Serialize, ToSchema)]
pub struct TokenJson {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    pub last_used: Option<String>,
}

impl From<&TokenRecord> for TokenJson {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id,
            user: t.user.to_string(),
            label: t.label.clone(),
            created: rfc3339(t.created),
            expires: t.expires.map(rfc3339),
            revoked: t.revoked.map(rfc3339),
            last_used: t.last_used.map(rfc3339),
        }
    }
}

/// A newly issued token: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct IssuedTokenJson {
    pub token: String,
    #[serde(flatten)]
    pub record: TokenJson,
}

/// A request for a token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenJson {
    /// Whose token: only the caller's own may be named (default).
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{1,63}$")]
    pub user: Option<String>,
    /// What the token is for.
    #[serde(default)]
    pub label: Option<String>,
    /// Lifetime such as `30d` or `12h` (default 90 days; at most the server's maximum).
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// Whose tokens to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// A user name (default: the caller).
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{1,63}$")]
    pub user: Option<String>,
}

/// Checks a requested lifetime against the server's limit.
pub fn parse_lifetime(text: Option<&str>, max: Duration) -> Result<Duration, String> {
    let lifetime = match text {
        None => DEFAULT_TOKEN_LIFETIME.min(max),
        Some(t) => humantime::parse_duration(t)
            .map_err(|e| format!("{t:?} is not a duration such as 30d or 12h: {e}"))?,
    };
    if lifetime.is_zero() {
        return Err("a token must live longer than zero".into());
    }
    if lifetime > max {
        return Err(format!(
            "a token may live at most {}",
            humantime::format_duration(max)
        ));
    }
    Ok(lifetime)
}

/// Issues a token for `user` living `lifetime`; returns the token and its record.
pub async fn issue(
    store: &ciphub_store::Store,
    user: &UserName,
    label: &str,
    lifetime: Duration,
    by: &By,
) -> Result<(String, TokenRecord), ciphub_store::StoreError> {
    let lifetime = chrono::TimeDelta::from_std(lifetime).ok();
    let token = new_secret(TOKEN_PREFIX);
    let record = store
        .create_token(user, &hash_secret(&token), label, lifetime, by)
        .await?;
    Ok((token, record))
}

/// The user whose tokens the caller manages. A user whose tokens the caller may not manage is
/// answered as one that does not exist, so names cannot be probed by telling 403 from 404.
async fn owner(
    state: &AppState,
    authed: &Authed,
    user: Option<&str>,
) -> Result<UserRecord, AppError> {
    let owner = match user {
        None => authed.0.clone(),
        Some(name) if name == authed.0.name.as_str() => authed.0.clone(),
        Some(name) => {
            let missing = || {
                AppError::from(ciphub_store::StoreError::NotFound {
                    what: "user",
                    key: name.to_owned(),
                })
            };
            // What is not a user name names no user; the store is not asked (PostgreSQL
            // refuses text with a NUL in it).
            if UserName::parse(name).is_err() {
                return Err(missing());
            }
            let found = match state.store.get_user(name).await {
                Ok(u) => u,
                Err(ciphub_store::StoreError::NotFound { .. }) => return Err(missing()),
                Err(e) => return Err(e.into()),
            };
            let action = Action::ManageTokens {
                owner_id: found.id,
                org: &found.org,
            };
            if policy::check(&authed.actor(), action).is_err() {
                return Err(missing());
            }
            found
        }
    };
    Ok(owner)
}

/// Lists a user's tokens, newest first.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "identity", params(TokenQuery),
    responses((status = 200, body = [TokenJson]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "No such user, or one the caller may not manage.", body = crate::error::ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TokenJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let owner = owner(&state, &authed, q.user.as_deref()).await?;
    let tokens = state.store.list_tokens(&owner.name).await?;
    Ok(Json(tokens.iter().map(TokenJson::from).collect()))
}

/// Issues a token; the response is the only time it is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "identity", request_body = NewTokenJson,
    responses((status = 201, body = IssuedTokenJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewTokenJson>,
) -> Result<(StatusCode, Json<IssuedTokenJson>), AppError> {
    if let Some(u) = &body.user {
        UserName::parse(u).map_err(|e| AppError::invalid("user", e.to_string()))?;
        // A token is a credential: nobody, not even an admin, mints one for another person.
        // Asked before any lookup, so the answer says nothing of whether the user exists.
        policy::check(&authed.actor(), Action::IssueToken { owner: u })?;
    }
    let owner = authed.0.clone();
    let lifetime = parse_lifetime(body.expires_in.as_deref(), state.config.max_token_lifetime)
        .map_err(|m| AppError::invalid("expires_in", m))?;
    let label = body.label.unwrap_or_else(|| "api".into());
    if label.chars().count() > 200 {
        return Err(AppError::invalid(
            "label",
            "a label may have at most 200 characters",
        ));
    }
    let (token, record) = issue(
        &state.store,
        &owner.name,
        &label,
        lifetime,
        &By::actor(&authed.actor()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTokenJson {
            token,
            record: TokenJson::from(&record),
        }),
    ))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "identity",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 200, body = TokenJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TokenJson>, AppError> {
    // Another organization's token is answered as a missing one, so ids cannot be probed.
    let record = state.store.get_token(id).await?;
    owner(&state, &authed, Some(record.user.as_str()))
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::from(ciphub_store::StoreError::NotFound {
                what: "token",
                key: id.to_string(),
            }),
            other => other,
        })?;
    let revoked = state
        .store
        .revoke_token(id, &By::actor(&authed.actor()))
        .await?;
    Ok(Json(TokenJson::from(&revoked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_bounded() {
        let max = Duration::from_secs(366 * 24 * 3600);
        assert_eq!(
            parse_lifetime(Some("30d"), max),
            Ok(Duration::from_secs(30 * 86400))
        );
        assert_eq!(parse_lifetime(None, max), Ok(DEFAULT_TOKEN_LIFETIME));
        assert!(
            parse_lifetime(Some("400d"), max)
                .unwrap_err()
                .contains("at most")
        );
        assert!(parse_lifetime(Some("soon"), max).is_err());
        assert!(parse_lifetime(Some("0s"), max).is_err());
    }
}
