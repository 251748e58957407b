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

/// Newest first, with filters, holds exactly the entries the caller sees oldest first, and the
/// filters read only what those entries show.
#[tokio::test]
async fn newest_first_with_filters_shows_the_same_entries() {
    let app = spawn_app().await;
    for n in 0..3 {
        let resp = app
            .send(
                Method::POST,
                "water-admin",
                "/api/v1/users",
                json!({"name": format!("staff-{n}"), "org": "tokyo-water", "roles": ["viewer"]}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    for user in ["admin", "water-admin", "mhlw-analyst", "reporter"] {
        let oldest = entries(&app, user).await;
        // Newest first, in pages of 2, following next_before.
        let mut newest: Vec<Value> = Vec::new();
        let mut path = "/api/v1/audit?order=newest&limit=2".to_owned();
        loop {
            let page: Value = app.get(user, &path).await.json().await.expect("json");
            newest.extend(page["entries"].as_array().expect("entries").iter().cloned());
            match page["next_before"].as_i64() {
                Some(b) => path = format!("/api/v1/audit?order=newest&limit=2&before={b}"),
                None => break,
            }
        }
        let mut reversed = oldest.clone();
        reversed.reverse();
        assert_eq!(newest, reversed, "{user}");
        // Filters: the same as filtering what the caller sees.
        for (query, keep) in [
            (
                "action=user.",
                Box::new(|e: &Value| e["action"].as_str().unwrap().starts_with("user."))
                    as Box<dyn Fn(&Value) -> bool>,
            ),
            (
                "actor=WATER-ad",
                Box::new(|e: &Value| {
                    e["actor_user"]
                        .as_str()
                        .is_some_and(|u| u.contains("water-ad"))
                        || e["actor_org"]
                            .as_str()
                            .is_some_and(|o| o.contains("water-ad"))
                }),
            ),
            ("action=%25", Box::new(|_: &Value| false)),
        ] {
            let page: Value = app
                .get(
                    user,
                    &format!("/api/v1/audit?order=newest&limit=1000&{query}"),
                )
                .await
                .json()
                .await
                .expect("json");
            let want: Vec<&Value> = reversed.iter().filter(|e| keep(e)).collect();
            let got: Vec<&Value> = page["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .collect();
            assert_eq!(got, want, "{user} {query}");
        }
    }
    // Filters read newest first; with the oldest order, or a bad order, they are refused.
    let implied: Value = app
        .get("admin", "/api/v1/audit?action=user.")
        .await
        .json()
        .await
        .expect("json");
    let seqs: Vec<i64> = implied["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(
        seqs.len() >= 3 && seqs.windows(2).all(|w| w[0] > w[1]),
        "{seqs:?}"
    );
    for (bad, status) in [("order=oldest&action=user.", 422), ("order=sideways", 400)] {
        let resp = app.get("admin", &format!("/api/v1/audit?{bad}")).await;
        assert_eq!(resp.status(), status, "{bad}");
    }
}
