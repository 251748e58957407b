//! Correlation across reports, alerts and STIX objects: who sees which linked items, an
//! anonymous report only as its sector's placeholder, counts only for groups of `k`
//! organizations, and the warning lists.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, sign_in, spawn_app, spawn_app_with, test_config};

const TAXII: &str = "application/taxii+json;version=2.1";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

async fn file(app: &TestApp, formation: &str, description: &str) -> i64 {
    let resp = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": "Pump telemetry lost", "description": description,
                "cause": "cyberattack", "sectors": ["water"], "services": ["water-supply"],
                "scope": ["ot"], "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": formation, "tlp": "TLP:GREEN",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

async fn correlations(app: &TestApp, user: &str, query: &str) -> Value {
    let resp = app.get(user, &format!("/api/v1/correlations{query}")).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

fn cluster<'a>(answer: &'a Value, value: &str) -> Option<&'a Value> {
    answer["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["value"] == value)
}

fn items(cluster: &Value) -> Vec<String> {
    cluster["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item"].as_str().expect("item").to_owned())
        .collect()
}

async fn catch_up(app: &TestApp) {
    ciphub_server::correlation::catch_up(&app.state)
        .await
        .expect("correlate");
}

#[tokio::test]
async fn reports_alerts_and_objects_sharing_a_value_are_linked() {
    let app = spawn_app().await;
    let report = file(
        &app,
        "ministry",
        "Beacons to hxxp://evil-update[.]net/a and 45.77.10.2; resolver 8.8.8.8; test net 192.0.2.7",
    )
    .await;
    let sent = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            json!({"title": "Block 45.77.10.2", "body": "Seen at water utilities.",
                "tlp": "TLP:GREEN", "audience": {"kind": "sectors", "values": ["water"]}}),
        )
        .await;
    assert_eq!(sent.status(), 201);
    let alert = sent.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let indicator = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--00000000-0000-4000-8000-0000000000c2",
        "created": "2026-04-01T00:00:00.000Z", "modified": "2026-04-01T00:00:00.000Z",
        "name": "Water C2", "pattern": "[ipv4-addr:value = '45.77.10.2']",
        "pattern_type": "stix", "valid_from": "2026-04-01T00:00:00Z",
        "object_marking_refs": [GREEN],
    });
    let posted = app
        .client
        .post(app.url(&format!(
            "/taxii2/ciphub/collections/{}/objects/",
            ciphub_server::taxii::COMMUNITY
        )))
        .basic_auth("mhlw-analyst", Some(&app.tokens["mhlw-analyst"]))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(json!({"objects": [indicator]}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 202);
    // Nothing is linked before the indexer has read them.
    let before = correlations(&app, "reporter", "?value=45.77.10.2").await;
    assert!(before["clusters"].as_array().expect("clusters").is_empty());
    catch_up(&app).await;

    // Beside the report: the alert and the object that share its address.
    let beside: Value = app
        .get(
            "reporter",
            &format!("/api/v1/reports/{report}/correlations"),
        )
        .await
        .json()
        .await
        .expect("json");
    let c = cluster(&beside, "45.77.10.2").expect("the address links");
    assert_eq!(c["kind"], "ipv4-addr");
    let mut linked = items(c);
    linked.sort();
    assert_eq!(
        linked,
        [
            format!("alert:{alert}"),
            "stix:indicator--00000000-0000-4000-8000-0000000000c2".to_owned()
        ]
    );
    // The defanged URL is read as the URL and its host, and noise is not linked at all.
    let values = app
        .db
        .store
        .values_of(&format!("report:{report}"))
        .await
        .expect("values");
    let values: Vec<&str> = values.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(
        values,
        ["evil-update.net", "45.77.10.2", "http://evil-update.net/a"]
    );
    // The report's page shows them beside it, and so do the alert's page and the dashboard.
    let cookie = sign_in(&app, "reporter").await;
    for (path, wanted) in [
        (format!("/reports/{report}"), format!("/alerts/{alert}")),
        (format!("/alerts/{alert}"), format!("/reports/{report}")),
        ("/dashboard".to_owned(), "45.77.10.2".to_owned()),
    ] {
        let html = app
            .client
            .get(app.url(&path))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(html.contains(&wanted), "{path} lacks {wanted}");
    }
    // The coordinator's overview lists the address with everything it may read.
    let overview = correlations(&app, "coordinator", "").await;
    assert_eq!(overview["k"], 5);
    let c = cluster(&overview, "45.77.10.2").expect("in the overview");
    assert!(items(c).contains(&format!("alert:{alert}")));
    // The same value, asked any usual way.
    let asked = correlations(&app, "coordinator", "?value=45%5B.%5D77.10.2").await;
    assert!(cluster(&asked, "45.77.10.2").is_some());
    // An item the caller may not read does not exist for it; bad questions say what is wrong.
    let other = app
        .get(
            "mhlw-analyst",
            &format!("/api/v1/correlations?item=report:{}", report + 1),
        )
        .await;
    assert_eq!(other.status(), 404);
    let bad = app
        .get("reporter", "/api/v1/correlations?value=hello")
        .await;
    assert_eq!(bad.status(), 422);
    let text = bad.text().await.expect("text");
    assert!(text.contains("hello"), "{text}");
}

#[tokio::test]
async fn an_anonymous_report_joins_only_as_its_sectors_placeholder() {
    for k in [5, 1] {
        let app = spawn_app_with(ciphub_server::ServerConfig {
            correlation_k: k,
            ..test_config()
        })
        .await;
        let anonymous = file(&app, "ceptoar-anonymous", "C2 at 45.77.10.3").await;
        let named = file(&app, "ministry", "C2 at 45.77.10.3 again").await;
        catch_up(&app).await;
        let item = format!("report:{anonymous}");
        // The relaying secretariat reads it: as the sector's placeholder, never by name.
        let seen = correlations(&app, "secretariat", "?value=45.77.10.3").await;
        let c = cluster(&seen, "45.77.10.3").expect("linked");
        let entry = c["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["item"] == item.as_str())
            .expect("the anonymous report");
        assert_eq!(entry["source"], "an operator in the Water sector");
        assert!(!c.to_string().contains("Tokyo Water"), "{c}");
        // The ministry receives the named report, and only a summary of the anonymous one: a
        // value from text it may not read is not its to see. One organization is fewer than
        // k = 5, so it is not even counted; with k = 1 it is, without a name.
        let ministry = correlations(&app, "mhlw-analyst", "?value=45.77.10.3").await;
        let c = cluster(&ministry, "45.77.10.3").expect("the named report is readable");
        assert_eq!(items(c), [format!("report:{named}")]);
        if k == 5 {
            assert!(c["hidden"].is_null(), "{c}");
        } else {
            assert_eq!(c["hidden"]["organizations"], 1, "{c}");
            assert_eq!(c["hidden"]["sectors"]["water"], 1, "{c}");
        }
        let beside = app
            .get("mhlw-analyst", &format!("/api/v1/correlations?item={item}"))
            .await;
        assert_eq!(beside.status(), 404);
    }
}

#[tokio::test]
async fn an_organizations_own_identifiers_are_not_linked() {
    let app = spawn_app().await;
    let put = app
        .send(
            Method::PUT,
            "water-admin",
            "/api/v1/organizations/tokyo-water/identifiers",
            json!([{"kind": "domain", "value": "tokyowater.jp"},
                   {"kind": "ip-range", "value": "133.1.0.0/16"}]),
        )
        .await;
    assert!(
        put.status().is_success(),
        "{}",
        put.text().await.unwrap_or_default()
    );
    let report = file(
        &app,
        "ministry",
        "Mail to ops@tokyowater.jp from 133.1.2.3 and from 45.77.10.4 via portal.tokyowater.jp",
    )
    .await;
    catch_up(&app).await;
    let values = app
        .db
        .store
        .values_of(&format!("report:{report}"))
        .await
        .expect("values");
    let values: Vec<&str> = values.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(values, ["45.77.10.4"]);
}
