//! The audit trail through the API: each caller sees only what the policy allows.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::spawn_app;

async fn entries(app: &super::helpers::TestApp, user: &str) -> Vec<Value> {
    let page: Value = app
        .get(user, "/api/v1/audit?limit=1000")
        .await
        .json()
        .await
        .expect("json");
    page["entries"].as_array().expect("entries").clone()
}

#[tokio::test]
async fn each_caller_sees_only_what_it_may() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/users",
            json!({"name": "new-staff", "org": "tokyo-water", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = app
        .send(
            Method::POST,
            "mhlw-analyst",
            "/api/v1/tokens",
            json!({"label": "mine"}),
        )
        .await;
    assert_eq!(resp.status(), 201);

    // The instance admin reads the coordinator's view: other organizations' acts on what the
    // community shares, not their people's comings and goings or their own staff changes.
    let all = entries(&app, "admin").await;
    assert!(!all.is_empty());
    assert!(
        !all.iter()
            .any(|e| e["action"] == "user.create" && e["object_id"] == "new-staff")
    );
    assert!(!all.iter().any(|e| e["actor_user"] == "mhlw-analyst"));
    assert!(all.iter().all(|e| e["actor_org"].is_null()
        || e["actor_org"] == "nisc"
        || e["subject_org"] == "nisc"));

    // The operator's executive sees the operator's entries and nobody else's, and what the
    // system did to the operator's people (creating the test users).
    let exec = entries(&app, "water-exec").await;
    assert!(exec.iter().all(|e| e["actor_org"] == "tokyo-water"
        || (e["actor_org"].is_null() && e["subject_org"] == "tokyo-water")));
    let exec: Vec<Value> = exec
        .into_iter()
        .filter(|e| !e["actor_user"].is_null())
        .collect();
    assert_eq!(exec.len(), 1);
    assert_eq!(exec[0]["actor_user"], "water-admin");
    assert_eq!(exec[0]["detail"]["org"], "tokyo-water");

    // A plain user sees only its own acts.
    let analyst = entries(&app, "mhlw-analyst").await;
    assert_eq!(analyst.len(), 1);
    assert_eq!(analyst[0]["action"], "token.issue");
    assert!(entries(&app, "reporter").await.is_empty());
}
