//! Health, metrics and the OpenAPI document.

use serde_json::Value;

use super::helpers::spawn_app;

#[tokio::test]
async fn health_names_the_backend() {
    let app = spawn_app().await;
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], app.db.store.backend().as_str());
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn_app().await;
    assert_eq!(app.get("reporter", "/api/v1/sectors").await.status(), 200);
    let resp = app.get("admin", "/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert!(text.contains("ciphub_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/sectors\""), "{text}");
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("reporter", "/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/sectors", "get"),
        ("/api/v1/organizations", "get"),
        ("/api/v1/organizations", "post"),
        ("/api/v1/organizations/{slug}", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/me/password", "put"),
        ("/api/v1/session", "post"),
        ("/api/v1/session", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{name}", "get"),
        ("/api/v1/users/{name}", "patch"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/audit", "get"),
        ("/api/v1/severity/schemas", "get"),
        ("/api/v1/severity/schemas/{id}", "get"),
        ("/api/v1/severity/assess", "post"),
        ("/api/v1/organizations/{slug}/identifiers", "get"),
        ("/api/v1/organizations/{slug}/identifiers", "put"),
        ("/api/v1/reports", "get"),
        ("/api/v1/reports", "post"),
        ("/api/v1/reports/{id}", "get"),
        ("/api/v1/reports/{id}/stages", "post"),
        ("/api/v1/reports/{id}/consent", "post"),
        ("/api/v1/reports/{id}/triage", "patch"),
        ("/api/v1/reports/{id}/notes", "get"),
        ("/api/v1/reports/{id}/notes", "post"),
        ("/api/v1/reports/{id}/relay-check", "get"),
        ("/api/v1/reports/{id}/relay", "post"),
        ("/api/v1/notifications", "get"),
        ("/api/v1/incidents", "post"),
        ("/api/v1/incidents/{id}", "get"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts", "post"),
        ("/api/v1/alerts/{id}", "get"),
        ("/api/v1/alerts/{id}/ack", "post"),
        ("/api/v1/alerts/{id}/delivery", "get"),
        ("/api/v1/alerts/{id}/relay", "post"),
        ("/api/v1/relay-rule", "put"),
        ("/api/v1/alerts/{id}/attachments/{n}", "get"),
        ("/api/v1/alert-notices", "get"),
        ("/api/v1/stream", "get"),
        ("/api/v1/organizations/{slug}/contacts", "get"),
        ("/api/v1/organizations/{slug}/contacts", "put"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{id}", "delete"),
        ("/api/v1/webhooks/{id}/calls", "get"),
        ("/api/v1/webhooks/{id}/calls/{call}/retry", "post"),
        ("/api/v1/reports/{id}/stix", "get"),
        ("/api/v1/incidents/{id}/stix", "get"),
        ("/api/v1/alerts/{id}/stix", "get"),
        ("/public/advisories", "get"),
        ("/public/advisories.atom", "get"),
        ("/api/v1/security-notices", "get"),
        ("/api/v1/correlations", "get"),
        ("/api/v1/reports/{id}/correlations", "get"),
        ("/api/v1/exercises/scenarios", "get"),
        ("/api/v1/exercises/runs", "get"),
        ("/api/v1/exercises/runs", "post"),
        ("/api/v1/exercises/runs/{id}", "get"),
        ("/api/v1/exercises/runs/{id}/control", "post"),
        ("/api/v1/exercises/runs/{id}/scores", "get"),
        ("/api/v1/exercises/runs/{id}/live", "get"),
        ("/api/v1/exercises/runs/{id}/injects/{inject}/reply", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert_eq!(
        paths
            .values()
            .map(|p| p.as_object().expect("ops").len())
            .sum::<usize>(),
        80
    );
    // The shapes really sent: the list of severity schemas is an array.
    let schemas = &paths["/api/v1/severity/schemas"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(schemas["type"], "array", "{schemas}");
    let sent: Value = app
        .get("reporter", "/api/v1/severity/schemas")
        .await
        .json()
        .await
        .expect("json");
    assert!(sent.is_array(), "{sent}");
    // Query parameters are in the query, and a path id that does not parse is a documented 400.
    let params = &paths["/api/v1/alerts"]["get"]["parameters"];
    assert!(
        params
            .as_array()
            .expect("params")
            .iter()
            .all(|p| p["in"] == "query" && p["required"] == false),
        "{params}"
    );
    let report = &paths["/api/v1/reports/{id}"]["get"]["responses"];
    for status in ["400", "401", "404"] {
        assert!(
            report.get(status).is_some(),
            "GET /api/v1/reports/{{id}} {status}"
        );
    }
}
