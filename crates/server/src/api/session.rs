//! `/api/v1/session`: logging in with a password (a session cookie) and logging out.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ciphub_store::By;
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::users::UserJson;
use crate::auth::{
    Authed, SESSION_COOKIE, hash_secret, new_secret, session_cookie, verify_password_async,
};
use crate::error::AppError;
use crate::json::ApiJson;

/// A login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginJson {
    pub user: String,
    pub password: String,
}

fn cookie_header(
    state: &AppState,
    value: &str,
    max_age_secs: i64,
) -> Result<HeaderValue, AppError> {
    let c = Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .secure(state.config.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string()).map_err(|e| AppError::Internal(e.to_string()))
}

/// Logs in with a user name and password; answers with the user and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "identity", request_body = LoginJson, security(()),
    responses((status = 200, body = UserJson), (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "The user name or password holds a character no text may (NUL).", body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn create_session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginJson>,
) -> Result<Response, AppError> {
    if !state.login_limiter.allows(&body.user) {
        return Err(AppError::TooMany(
            "too many failed logins for this user; wait and try again".into(),
        ));
    }
    let found = state.store.user_for_login(&body.user).await?;
    let (user, hash) = match found {
        Some((user, hash)) if !user.disabled => (Some(user), hash),
        _ => (None, None),
    };
    let ok = verify_password_async(hash, body.password).await;
    let Some(user) = user.filter(|_| ok) else {
        state.login_limiter.failed(&body.user);
        return Err(AppError::Unauthenticated(
            "the user name or password is not correct",
        ));
    };
    state.login_limiter.succeeded(&body.user);
    let session = new_secret("");
    let ttl = state.config.session_ttl;
    let expires = state.store.clock().now()
        + chrono::TimeDelta::from_std(ttl).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .store
        .create_session(&user, &hash_secret(&session), expires)
        .await?;
    let mut resp = Json(UserJson::from(&user)).into_response();
    let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&state, &session, secs)?);
    Ok(resp)
}

/// Logs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "identity", responses((status = 204)))]
pub async fn delete_session(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(session) = session_cookie(&headers) {
        state
            .store
            .delete_session(&hash_secret(&session), &By::actor(&authed.actor()))
            .await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&state, "", 0)?);
    Ok(resp)
}
