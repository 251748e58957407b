//! Severity assessment through the API.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{error_of, spawn_app};

#[tokio::test]
async fn nciss_check_value_through_the_api() {
    let app = spawn_app().await;
    let body = json!({"schema": "us-nciss", "answers": {
        "functional-impact": "denial-non-critical", "observed-activity": "effect", "location": "business-network",
        "actor": "criminal", "information-impact": "destruction-non-critical", "recoverability": "extended",
        "cross-sector-dependency": "water", "potential-impact": "moderate"}});
    let resp = app
        .send(Method::POST, "reporter", "/api/v1/severity/assess", body)
        .await;
    assert_eq!(resp.status(), 200);
    let a: Value = resp.json().await.expect("json");
    assert_eq!(a["score"], 59.4);
    assert_eq!(a["level"], 3);
    assert_eq!(a["name_en"], "High");
    assert_eq!(a["emergency"], false);
    assert_eq!(a["rationale"][0]["question"], "observed-activity");
}

#[tokio::test]
async fn seed_draft_is_the_default_and_flags_emergencies() {
    let app = spawn_app().await;
    let body = json!({"answers": {"people-society": "significant", "systems": "provision-may"}});
    let a: Value = app
        .send(Method::POST, "reporter", "/api/v1/severity/assess", body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(a["schema"], "seed-draft");
    assert_eq!(
        (a["level"].as_u64(), a["emergency"].as_bool()),
        (Some(4), Some(true))
    );
    assert_eq!(a["rationale"][0]["question"], "people-society");
    assert!(a["score"].is_null());
}

#[tokio::test]
async fn schemas_are_listed_as_data() {
    let app = spawn_app().await;
    let schemas: Vec<Value> = app
        .get("reporter", "/api/v1/severity/schemas")
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = schemas
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["seed-draft", "nisc-2018", "us-nciss"]);
    let nisc: Value = app
        .get("reporter", "/api/v1/severity/schemas/nisc-2018")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nisc["levels"].as_array().expect("levels").len(), 5);
    assert_eq!(
        app.get("reporter", "/api/v1/severity/schemas/nope")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn answers_that_do_not_fit_are_named() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"schema": "nisc-2018", "answers": {"continuity": "partial"}}),
            "answers.safety",
        ),
        (
            json!({"schema": "nisc-2018", "answers": {"continuity": "forever", "safety": "none"}}),
            "answers.continuity",
        ),
        (
            json!({"schema": "nisc-2018", "answers": {"continuity": "none", "safety": "none", "mood": "bad"}}),
            "answers.mood",
        ),
        (json!({"schema": "iso-1234", "answers": {}}), "schema"),
    ];
    for (body, field) in cases {
        let (status, _, got, msg) = error_of(
            app.send(
                Method::POST,
                "reporter",
                "/api/v1/severity/assess",
                body.clone(),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, got.as_deref()),
            (422, Some(field)),
            "{body}: {msg}"
        );
    }
}
