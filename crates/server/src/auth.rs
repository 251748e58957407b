//! Authentication: bearer tokens and session cookies in, an `Authed` user out. Secrets are
//! random, shown once, and stored only as hashes; passwords are hashed with Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use ciphub_domain::policy::Actor;
use ciphub_store::{TokenLookup, UserRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::AppError;

/// The name of the browser session cookie.
pub const SESSION_COOKIE: &str = "ciphub_session";

/// The authenticated user of a request, put there by `authenticate`.
#[derive(Clone, Debug)]
pub struct Authed(pub UserRecord);

impl Authed {
    /// The user as the access policy sees it.
    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authed>()
            .cloned()
            .ok_or(AppError::Unauthenticated(
                "send Authorization: Bearer TOKEN",
            ))
    }
}

/// A new random secret: `prefix` and 256 random bits, URL-safe.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a high-entropy secret (token or session id): SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with Argon2id and a random salt (slow on purpose: call off the runtime).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored Argon2 hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes a password on the blocking pool.
pub async fn hash_password_async(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Verifies a password on the blocking pool; with no hash, burns the same time and fails,
/// so a missing user cannot be told from a wrong password by timing.
pub async fn verify_password_async(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&h, &password),
        None => {
            let _ = hash_password(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// The bearer token of a request, if it has one.
/// The key a request's credential is rate-limited under: its bearer token, its basic user name
/// and token, or its session, hashed so no secret is kept in the limiter. Read before the
/// credential is checked, so a flood is refused without asking the store.
pub(crate) fn credential_key(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(token) = bearer(headers) {
        Some(hash_secret(&format!("bearer:{token}")))
    } else if let Some((user, token)) = basic(headers) {
        Some(hash_secret(&format!("basic:{user}:{token}")))
    } else {
        session_cookie(headers).map(|s| hash_secret(&format!("session:{s}")))
    }
}

fn bearer(parts: &axum::http::HeaderMap) -> Option<&str> {
    let value = parts.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie of a request, if it has one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// HTTP basic credentials (user name and API token), which TAXII clients send.
fn basic(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, token) = text.split_once(':')?;
    Some((user.to_owned(), token.to_owned()))
}

/// The header that carries the session's CSRF token on a script's unsafe request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The token that proves a request comes from a page of this site: a hash of the session
/// secret, which another site cannot know. Forms carry it as `csrf`, scripts as `X-CSRF-Token`.
pub fn csrf_token(session: &str) -> String {
    let digest = Sha256::digest(format!("ciphub-csrf\0{session}").as_bytes());
    hex::encode(&digest[..16])
}

/// The user a request's credentials name: a bearer token, basic credentials (user name and
/// one of that user's API tokens) or a session cookie. A browser sends the cookie with any
/// request another site makes it send, so a request that changes something and is
/// authenticated only by the cookie must also carry the session's CSRF token.
pub async fn authed_user(
    state: &AppState,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
) -> Result<UserRecord, AppError> {
    let mut expected_user = None;
    let lookup = if let Some(token) = bearer(headers) {
        state.store.lookup_token(&hash_secret(token)).await?
    } else if let Some((user, token)) = basic(headers) {
        expected_user = Some(user);
        state.store.lookup_token(&hash_secret(&token)).await?
    } else if let Some(session) = session_cookie(headers) {
        if !method.is_safe() {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(csrf_token(&session).as_str()) {
                return Err(AppError::Forbidden(
                    "a request that changes something with the session cookie needs the page's X-CSRF-Token header (or use an API token)"
                        .into(),
                ));
            }
        }
        state.store.lookup_session(&hash_secret(&session)).await?
    } else {
        return Err(AppError::Unauthenticated(
            "no credentials: send Authorization: Bearer TOKEN (or Basic with user name and API token), or log in",
        ));
    };
    let user = match lookup {
        TokenLookup::Valid(user) => user,
        TokenLookup::Unknown => {
            return Err(AppError::Unauthenticated("the credentials are not valid"));
        }
        TokenLookup::Expired => {
            return Err(AppError::Unauthenticated("the credentials have expired"));
        }
        TokenLookup::Revoked => {
            return Err(AppError::Unauthenticated("the token has been revoked"));
        }
        TokenLookup::UserDisabled => {
            return Err(AppError::Unauthenticated("the account is disabled"));
        }
    };
    // A token is only good with the name of the user it was issued to.
    if expected_user.is_some_and(|u| u != user.name.as_str()) {
        return Err(AppError::Unauthenticated("the credentials are not valid"));
    }
    Ok(user)
}

/// Middleware: authenticates the request or answers 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    // Past every route of this router, an address outside the API is no page of ours: a
    // browser is told so in a page, whoever asks.
    let path = req.uri().path();
    let api = ["/api/", "/misp/", "/metrics"]
        .iter()
        .any(|p| path.starts_with(p));
    let html = req
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !api && html {
        return Ok(crate::web::not_found_page(req.headers()));
    }
    let user = authed_user(&state, req.method(), req.headers()).await?;
    req.extensions_mut().insert(Authed(user));
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hash_stably() {
        let a = new_secret("chp_");
        let b = new_secret("chp_");
        assert_ne!(a, b);
        assert!(a.starts_with("chp_") && a.len() > 40);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("a long enough password").expect("hash");
        assert!(verify_password(&h, "a long enough password"));
        assert!(!verify_password(&h, "a long enough passwore"));
        assert!(!verify_password("not a hash", "x"));
    }
}
