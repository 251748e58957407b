//! Managing users through the API.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::spawn_app;

#[tokio::test]
async fn admins_create_and_change_users_who_can_then_log_in() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/users",
            json!({"name": "sato.k", "org": "tokyo-water", "display_name": "佐藤", "roles": ["reporter", "viewer"],
                   "password": "a sufficiently long one"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let user: Value = resp.json().await.expect("json");
    assert_eq!(user["roles"], json!(["reporter", "viewer"]));
    assert_eq!(user["display_name"], "佐藤");
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "sato.k", "password": "a sufficiently long one"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);

    let patched: Value = app
        .send(
            Method::PATCH,
            "water-admin",
            "/api/v1/users/sato.k",
            json!({"roles": ["viewer"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(patched["roles"], json!(["viewer"]));
    let listed: Vec<Value> = app
        .get("water-admin", "/api/v1/users?org=tokyo-water")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed
        .iter()
        .map(|u| u["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["reporter", "sato.k", "water-admin", "water-exec"]);
    // Users see themselves; to admins elsewhere they do not exist.
    assert_eq!(
        app.get("secretariat", "/api/v1/users/secretariat")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get("mhlw-admin", "/api/v1/users/secretariat")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn users_change_their_own_password() {
    let app = spawn_app().await;
    let wrong = app
        .send(
            Method::PUT,
            "reporter",
            "/api/v1/me/password",
            json!({"current_password": "nope", "new_password": "brand new password"}),
        )
        .await;
    assert_eq!(wrong.status(), 422);
    let ok = app
        .send(
            Method::PUT,
            "reporter",
            "/api/v1/me/password",
            json!({"current_password": super::helpers::PASSWORD, "new_password": "brand new password"}),
        )
        .await;
    assert_eq!(ok.status(), 204);
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "reporter", "password": "brand new password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
}
