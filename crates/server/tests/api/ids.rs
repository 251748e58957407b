//! Report, alert and incident ids count nothing: they are random, so an organization that files
//! one today and another tomorrow cannot tell how many others were filed in between, while lists,
//! pages, incidents, the public page and the TAXII alerts collection keep the order things were
//! made in.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};
use super::reports::{file, report_body};
use super::taxii::read_all;

/// How many of each are made: twenty random ids come out in the order they were made (or its
/// reverse) once in about 10^18 runs.
const N: usize = 20;

/// Ids that tell nothing of how many were made before them: exact in JSON numbers, above any id
/// of an older database, far apart, and not in the order they were made.
fn assert_opaque(what: &str, ids: &[i64]) {
    for id in ids {
        assert!(
            ((1i64 << 32)..(1i64 << 53)).contains(id),
            "{what} id {id} is outside [2^32, 2^53)"
        );
    }
    // Two random ids fall within a million of each other once in about 4.5 billion pairs.
    for w in ids.windows(2) {
        assert!(
            (w[1] - w[0]).abs() > 1_000_000,
            "{what} ids {} and {} (made one after the other) are close: {ids:?}",
            w[0],
            w[1]
        );
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    assert_ne!(sorted, ids, "{what} ids grow as they are made");
    sorted.reverse();
    assert_ne!(sorted, ids, "{what} ids shrink as they are made");
}

fn ids_of(list: &[Value]) -> Vec<i64> {
    list.iter().map(|v| v["id"].as_i64().expect("id")).collect()
}

/// Every page of `path` as `user`, `limit` at a time, each page after the last id of the one
/// before.
async fn all_pages(app: &TestApp, user: &str, path: &str, limit: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut url = format!("{path}?limit={limit}");
    loop {
        let page: Vec<Value> = app.get(user, &url).await.json().await.expect("page");
        let ids = ids_of(&page);
        out.extend(&ids);
        match ids.last() {
            Some(last) if ids.len() == limit => url = format!("{path}?limit={limit}&before={last}"),
            _ => return out,
        }
    }
}

#[tokio::test]
async fn report_and_incident_ids_count_nothing_and_lists_keep_the_filing_order() {
    let app = spawn_app().await;
    // The clock stands still: every report is filed in the same microsecond, so only the order
    // of filing tells them apart.
    let mut filed = Vec::new();
    for _ in 0..N {
        filed.push(
            file(&app, report_body("ministry", "none")).await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    assert_opaque("report", &filed);
    let newest_first: Vec<i64> = filed.iter().rev().copied().collect();
    for user in ["reporter", "mhlw-analyst"] {
        let list: Vec<Value> = app
            .get(user, "/api/v1/reports?limit=200")
            .await
            .json()
            .await
            .expect("list");
        assert_eq!(ids_of(&list), newest_first, "{user}'s list");
        assert_eq!(
            all_pages(&app, user, "/api/v1/reports", 7).await,
            newest_first,
            "{user}'s pages"
        );
    }
    // A cursor that is not in the caller's list yields nothing rather than a place in others'.
    let (first, _) = filed.split_first().expect("filed");
    let stranger: Vec<Value> = app
        .get(
            "mhlw-analyst",
            &format!("/api/v1/reports?before={}", first + 1),
        )
        .await
        .json()
        .await
        .expect("list");
    assert!(stranger.is_empty());

    // A relayed copy is a report of its own with an id of its own.
    let anonymous = file(&app, report_body("ceptoar-anonymous", "none")).await;
    let copy = app
        .send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/reports/{}/relay", anonymous["id"]),
            json!({"title": "Pump station alarm", "description": "An operator lost telemetry."}),
        )
        .await;
    assert_eq!(copy.status(), 201, "{:?}", copy.text().await);
    let copy: Value = copy.json().await.expect("json");
    let relayed = [
        filed[N - 1],
        anonymous["id"].as_i64().expect("id"),
        copy["id"].as_i64().expect("id"),
    ];
    for w in relayed.windows(2) {
        assert!((w[1] - w[0]).abs() > 1_000_000, "{relayed:?}");
    }

    let mut incidents = Vec::new();
    for (i, report) in filed.iter().enumerate() {
        let resp = app
            .send(
                Method::POST,
                "mhlw-analyst",
                "/api/v1/incidents",
                json!({"title": format!("Incident {i}"), "reports": [report]}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        incidents.push(
            resp.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id"),
        );
    }
    assert_opaque("incident", &incidents);
    // An incident lists its reports in the order they were filed, whatever their ids.
    let named = [filed[7], filed[2], filed[11]];
    let resp = app
        .send(
            Method::POST,
            "mhlw-analyst",
            "/api/v1/incidents",
            json!({"title": "Campaign", "reports": named}),
        )
        .await;
    let id = resp.json::<Value>().await.expect("json")["id"].clone();
    let incident: Value = app
        .get("mhlw-analyst", &format!("/api/v1/incidents/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(incident["reports"], json!([filed[2], filed[7], filed[11]]));
}

#[tokio::test]
async fn alert_ids_count_nothing_and_inboxes_feeds_and_taxii_keep_the_sending_order() {
    let app = spawn_app().await;
    let send = |i: usize| {
        app.send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            json!({"title": format!("Advisory {i:02}"), "body": "Patch.", "tlp": "TLP:CLEAR",
                   "audience": {"kind": "sectors", "values": ["water"]}}),
        )
    };
    let mut sent = Vec::new();
    for i in 0..N {
        // Halfway, the TAXII alerts collection is read, which exports the alerts sent so far:
        // the later ones must follow, whatever their ids.
        if i == N / 2 {
            assert_eq!(read_all(&app, "reporter", "alerts", "").await.0.len(), N);
        }
        let resp = send(i).await;
        assert_eq!(resp.status(), 201);
        sent.push(
            resp.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id"),
        );
    }
    assert_opaque("alert", &sent);
    let newest_first: Vec<i64> = sent.iter().rev().copied().collect();
    for user in ["reporter", "coordinator"] {
        assert_eq!(
            all_pages(&app, user, "/api/v1/alerts", 6).await,
            newest_first,
            "{user}'s inbox"
        );
    }
    let page = app
        .client
        .get(app.url("/public/advisories"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let at: Vec<usize> = (0..N)
        .rev()
        .map(|i| page.find(&format!("Advisory {i:02}")).expect("listed"))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "newest first: {at:?}");
    // Every alert is in the collection once, as a report and a note, in the order sent.
    let (objects, _) = read_all(&app, "reporter", "alerts", "").await;
    assert_eq!(objects.len(), 2 * N);
    let exported: Vec<String> = objects
        .iter()
        .filter(|o| o["type"] == "report")
        .map(|o| {
            o["external_references"][0]["external_id"]
                .as_str()
                .expect("external id")
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = sent.iter().map(|id| format!("alert-{id}")).collect();
    assert_eq!(exported, expected);
}
