//! Authentication: tokens, sessions, expiry, revocation, and the login limit.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, error_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn everything_but_healthz_needs_credentials() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    for path in [
        "/api/v1/sectors",
        "/api/v1/me",
        "/api/v1/openapi.json",
        "/metrics",
        "/api/v1/nothing-here",
    ] {
        let resp = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(resp.status(), 401, "{path}");
        assert!(resp.headers().contains_key("www-authenticate"), "{path}");
    }
    let resp = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth("chp_not-a-real-token")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn revoked_and_expired_tokens_get_401() {
    let app = spawn_app().await;
    let issued: Value = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/tokens",
            json!({"label": "ci", "expires_in": "2d"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let token = issued["token"].as_str().expect("token").to_owned();
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), 200);
    // Tokens are listed without the secret.
    let list: Vec<Value> = app
        .get("reporter", "/api/v1/tokens")
        .await
        .json()
        .await
        .expect("json");
    assert!(list.iter().all(|t| t.get("token").is_none()));

    app.clock.advance(TimeDelta::days(2));
    let (status, _, _, msg) = error_of(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(msg.contains("expired"), "{msg}");

    let id = issued["id"].as_i64().expect("id");
    let other: Value = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/tokens",
            json!({"label": "second"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let other_token = other["token"].as_str().expect("token").to_owned();
    // Someone else's token cannot be revoked by a non-admin; to it the token does not exist.
    let resp = app
        .send(
            Method::DELETE,
            "mhlw-analyst",
            &format!("/api/v1/tokens/{}", other["id"]),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .send(
            Method::DELETE,
            "reporter",
            &format!("/api/v1/tokens/{}", other["id"]),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, _, _, msg) = error_of(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&other_token)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(msg.contains("revoked"), "{msg}");
    // The operator's admin may revoke its staff's tokens.
    let resp = app
        .send(
            Method::DELETE,
            "water-admin",
            &format!("/api/v1/tokens/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn tokens_without_permission_get_403_on_admin_endpoints() {
    let app = spawn_app().await;
    for user in ["reporter", "mhlw-analyst", "secretariat", "water-exec"] {
        let resp = app
            .send(
                Method::POST,
                user,
                "/api/v1/users",
                json!({"name": "newbie", "org": "tokyo-water", "roles": ["viewer"]}),
            )
            .await;
        assert_eq!(resp.status(), 403, "{user}");
        assert_eq!(app.get(user, "/metrics").await.status(), 403, "{user}");
        assert_eq!(
            app.get(user, "/api/v1/users?org=nisc").await.status(),
            403,
            "{user}"
        );
        // A user of another organization is, to them, a user that does not exist.
        let resp = app
            .send(
                Method::PATCH,
                user,
                "/api/v1/users/admin",
                json!({"disabled": true}),
            )
            .await;
        assert_eq!(resp.status(), 404, "{user}");
    }
    // An organization's admin manages only its own organization.
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/users",
            json!({"name": "intruder", "org": "nisc", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/users",
            json!({"name": "newbie", "org": "tokyo-water", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn a_disabled_user_is_locked_out() {
    let app = spawn_app().await;
    assert_eq!(app.get("reporter", "/api/v1/me").await.status(), 200);
    let resp = app
        .send(
            Method::PATCH,
            "water-admin",
            "/api/v1/users/reporter",
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, _, _, msg) = error_of(app.get("reporter", "/api/v1/me").await).await;
    assert_eq!(status, 401);
    assert!(msg.contains("disabled"), "{msg}");
}

#[tokio::test]
async fn password_login_sets_a_session_cookie_until_logout() {
    let app = spawn_app().await;
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "secretariat", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["name"], "secretariat");
    assert_eq!(me["org"], "water-ceptoar");
    // Signing out changes something: the cookie alone is not enough.
    let forged = app
        .client
        .delete(app.url("/api/v1/session"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("logout");
    assert_eq!(forged.status(), 403);
    let session = pair.split_once('=').expect("pair").1;
    let out = app
        .client
        .delete(app.url("/api/v1/session"))
        .header("cookie", &pair)
        .header(
            ciphub_server::CSRF_HEADER,
            ciphub_server::csrf_token(session),
        )
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    let again = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("me");
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn failed_logins_are_limited() {
    let app = spawn_app_with(ciphub_server::ServerConfig {
        login_failures: 3,
        secure_cookies: false,
        ..ciphub_server::ServerConfig::default()
    })
    .await;
    let login = |password: &'static str| {
        app.client
            .post(app.url("/api/v1/session"))
            .json(&json!({"user": "reporter", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            login("wrong-password-xx").await.expect("login").status(),
            401
        );
    }
    assert_eq!(
        login("wrong-password-xx").await.expect("login").status(),
        429
    );
    // Even the right password waits out the window.
    assert_eq!(login(PASSWORD).await.expect("login").status(), 429);
    // Another user is not affected, and an unknown user looks like a wrong password.
    let other = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "nobody-here", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(other.status(), 401);
}
