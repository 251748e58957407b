//! Bad input: a 4xx that names what is wrong, and nothing half-written.

use reqwest::Method;
use serde_json::json;

use super::helpers::{error_of, spawn_app, spawn_app_with};

async fn post_raw(
    app: &super::helpers::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&app.tokens["admin"])
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_named() {
    let app = spawn_app().await;
    let (status, code, _, msg) = error_of(
        post_raw(
            &app,
            "/api/v1/users",
            "application/json",
            br#"{"name": "x", "org": "#.to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    assert!(msg.contains("line 1"), "{msg}");

    let body = json!({"name": "kato", "org": "nisc", "roles": ["viewer"], "colour": "red"});
    let (status, code, field, msg) =
        error_of(app.send(Method::POST, "admin", "/api/v1/users", body).await).await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (400, "invalid_json", Some("colour"))
    );
    assert!(msg.contains("unknown field"), "{msg}");

    let body = json!({"name": "kato", "org": "nisc", "roles": "viewer"});
    let (status, _, field, _) =
        error_of(app.send(Method::POST, "admin", "/api/v1/users", body).await).await;
    assert_eq!((status, field.as_deref()), (400, Some("roles")));

    let (status, code, _, _) =
        error_of(post_raw(&app, "/api/v1/users", "text/plain", b"{}".to_vec()).await).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = spawn_app_with(ciphub_server::ServerConfig {
        body_limit: 4096,
        secure_cookies: false,
        ..ciphub_server::ServerConfig::default()
    })
    .await;
    let big = json!({"name": "kato", "org": "nisc", "roles": ["viewer"], "display_name": "x".repeat(5000)});
    let (status, code, _, _) =
        error_of(app.send(Method::POST, "admin", "/api/v1/users", big).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    let fits = json!({"name": "kato", "org": "nisc", "roles": ["viewer"], "display_name": "x".repeat(3000)});
    assert_eq!(
        app.send(Method::POST, "admin", "/api/v1/users", fits)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn bad_users_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let audit_before = app.db.store.audit_len().await.expect("len");
    let users_before = app.db.store.list_users(None).await.expect("users").len();
    let cases = [
        (
            json!({"name": "kato", "org": "no-such-org", "roles": ["viewer"]}),
            422,
            "org",
        ),
        (
            json!({"name": "kato", "org": "nisc", "roles": ["viewer", "root"]}),
            422,
            "roles[1]",
        ),
        (
            json!({"name": "kato", "org": "nisc", "roles": []}),
            422,
            "roles",
        ),
        (
            json!({"name": "kato", "org": "nisc", "roles": ["secretariat"]}),
            422,
            "roles",
        ),
        (
            json!({"name": "Kato San", "org": "nisc", "roles": ["viewer"]}),
            422,
            "name",
        ),
        (
            json!({"name": "kato", "org": "nisc", "roles": ["viewer"], "password": "short"}),
            422,
            "password",
        ),
    ];
    for (body, want_status, want_field) in cases {
        let (status, _, field, msg) = error_of(
            app.send(Method::POST, "admin", "/api/v1/users", body.clone())
                .await,
        )
        .await;
        assert_eq!(
            (status, field.as_deref()),
            (want_status, Some(want_field)),
            "{body}: {msg}"
        );
    }
    let (status, code, _, msg) = error_of(
        app.send(
            Method::POST,
            "admin",
            "/api/v1/users",
            json!({"name": "reporter", "org": "nisc", "roles": ["viewer"]}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(msg.contains("reporter"), "{msg}");
    assert_eq!(app.db.store.audit_len().await.expect("len"), audit_before);
    assert_eq!(
        app.db.store.list_users(None).await.expect("users").len(),
        users_before
    );
}

#[tokio::test]
async fn bad_token_requests_are_named() {
    let app = spawn_app().await;
    let (status, _, field, msg) = error_of(
        app.send(
            Method::POST,
            "reporter",
            "/api/v1/tokens",
            json!({"expires_in": "400d"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("expires_in")));
    assert!(msg.contains("at most"), "{msg}");
    // A token for anyone else is refused before the name is looked up, so the answer is the
    // same whether the user exists or not.
    let (status, code, _, _) = error_of(
        app.send(
            Method::POST,
            "admin",
            "/api/v1/tokens",
            json!({"user": "ghost"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, _, field, _) = error_of(app.get("admin", "/api/v1/audit?limit=5000").await).await;
    assert_eq!((status, field.as_deref()), (400, Some("limit")));
}

#[tokio::test]
async fn path_parameters_that_do_not_parse_are_named_in_json() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/api/v1/reports/abc", "id"),
        ("/api/v1/alerts/1.5/delivery", "id"),
        ("/api/v1/webhooks/7/calls/x/retry", "call"),
    ] {
        let method = if path.ends_with("retry") {
            Method::POST
        } else {
            Method::GET
        };
        let resp = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&app.tokens["admin"])
            .send()
            .await
            .expect("request");
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        let (status, code, got, msg) = error_of(resp).await;
        assert_eq!(
            (status, code.as_str(), got.as_deref()),
            (400, "invalid_path", Some(field)),
            "{path}: {msg}"
        );
        assert!(msg.contains("whole number"), "{msg}");
    }
}

#[tokio::test]
async fn an_array_is_not_an_object() {
    let app = spawn_app().await;
    let (status, code, _, _) = error_of(
        post_raw(
            &app,
            "/api/v1/tokens",
            "application/json",
            b"[null, null]".to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
}

/// No text holds a NUL and PostgreSQL refuses text holding one, so a path or query with one is
/// refused before the store is asked, naming the parameter (found by schemathesis on
/// PostgreSQL: a search for `\0` answered 500).
#[tokio::test]
async fn a_nul_in_a_path_or_query_is_refused_naming_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/tokens?user=a%00b", Some("user")),
        ("/api/v1/organizations?q=%C3%B79%00m", Some("q")),
        ("/api/v1/alerts/1/delivery?q=%00", Some("q")),
        ("/api/v1/audit?actor=a%00", Some("actor")),
        ("/api/v1/reports?sector=water%00", Some("sector")),
        ("/api/v1/users/a%00b", None),
        ("/api/v1/organizations/a%00b/contacts", None),
    ];

    for (path, field) in cases {
        let resp = app.get("admin", path).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_value", "{path}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{path}: {body}"
        );
    }
    // The same search without the NUL is answered.
    let resp = app.get("admin", "/api/v1/organizations?q=%C3%B79m").await;
    assert_eq!(resp.status().as_u16(), 200);
}
