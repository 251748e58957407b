//! TAXII 2.1: negotiation, authentication and limits answered as TAXII errors; paging that
//! never skips or repeats; every filter; versions, manifests and deletion; collections as
//! views of the sharing policy; the OASIS examples round trip; STIX exports that keep the
//! anonymity rule; federation between two instances and with medallion; MISP feeds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use ciphub_server::federation;
use ciphub_server::taxii::{ALERTS, COMMUNITY, TaxiiLimits};
use ciphub_store::{By, NewFederation};
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app, spawn_app_with, test_config};

const TAXII: &str = "application/taxii+json;version=2.1";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const TLP1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";

fn root(app: &TestApp) -> String {
    app.url("/taxii2/ciphub")
}

fn objects_url(app: &TestApp, collection: &str) -> String {
    format!("{}/collections/{collection}/objects/", root(app))
}

/// An indicator with `n` in its id and value, marked `marking` (none when empty).
fn indicator(n: u32, modified: &str, marking: &str) -> Value {
    let mut o = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": format!("C2 address {n}"),
        "pattern": format!("[ipv4-addr:value = '198.51.{}.{}']", n / 250, n % 250),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    });
    if !marking.is_empty() {
        o["object_marking_refs"] = json!([marking]);
    }
    o
}

/// A TAXII request as `user` with basic credentials (user name and API token).
async fn taxii(
    app: &TestApp,
    user: &str,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, url)
        .basic_auth(user, Some(&app.tokens[user]))
        .header("Accept", TAXII);
    if let Some(b) = body {
        req = req.header("Content-Type", TAXII).body(b.to_string());
    }
    req.send().await.expect("request")
}

async fn post(app: &TestApp, user: &str, collection: &str, objects: Vec<Value>) -> Value {
    let resp = taxii(
        app,
        user,
        Method::POST,
        &objects_url(app, collection),
        Some(json!({ "objects": objects })),
    )
    .await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["content-type"], TAXII);
    let first: Value = resp.json().await.expect("status");
    wait_complete(app, user, first).await
}

/// The status resource `status` names, read again as `user`.
async fn status_of(app: &TestApp, user: &str, status: &Value) -> Value {
    let id = status["id"].as_str().expect("status id");
    let resp = taxii(
        app,
        user,
        Method::GET,
        &format!("{}/status/{id}/", root(app)),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("status")
}

/// The status a POST answered, polled until it is complete.
async fn wait_complete(app: &TestApp, user: &str, first: Value) -> Value {
    let id = first["id"].as_str().expect("status id").to_owned();
    let total = first["total_count"].as_u64().expect("total");
    let counted = ["success_count", "failure_count", "pending_count"]
        .iter()
        .map(|k| first[k].as_u64().expect("count"))
        .sum::<u64>();
    assert_eq!(counted, total, "{first}");
    let mut status = first;
    for _ in 0..2_000 {
        if status["status"] == "complete" {
            assert_eq!(status["id"], id.as_str());
            assert_eq!(status["pending_count"], 0, "{status}");
            return status;
        }
        assert_eq!(status["status"], "pending", "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        status = status_of(app, user, &status).await;
    }
    panic!("status {id} still pending after 10 s: {status}");
}

/// Every object a query gives, following `next`, with the number of pages.
pub(super) async fn read_all(
    app: &TestApp,
    user: &str,
    collection: &str,
    query: &str,
) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}?{query}", objects_url(app, collection));
        if let Some(n) = &next {
            url.push_str(&format!("&next={n}"));
        }
        let resp = taxii(app, user, Method::GET, &url, None).await;
        assert_eq!(resp.status(), 200);
        let page: Value = resp.json().await.expect("envelope");
        pages += 1;
        if let Some(objects) = page["objects"].as_array() {
            out.extend(objects.iter().cloned());
        }
        if page["more"] == true {
            next = Some(page["next"].as_str().expect("next").to_owned());
        } else {
            return (out, pages);
        }
    }
}

fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn discovery_collections_and_errors_are_taxii_resources() {
    let mut config = test_config();
    config.taxii = TaxiiLimits {
        max_content_length: 4_000,
        max_page: 1_000,
        requests_per_minute: 40,
        burst: 40,
        // Room for one envelope: each POST waits until the one before it is written.
        queue_bytes: 1,
        ..TaxiiLimits::default()
    };
    let app = spawn_app_with(config).await;
    let resp = taxii(&app, "admin", Method::GET, &app.url("/taxii2/"), None).await;
    assert_eq!(resp.status(), 200);
    let discovery: Value = resp.json().await.expect("json");
    // Relative without public_url, so a TLS proxy in front shows the right scheme and host.
    assert_eq!(discovery["api_roots"][0], "/taxii2/ciphub/");
    assert_eq!(discovery["default"], "/taxii2/ciphub/");
    // Unknown API roots and paths answer a TAXII error resource.
    for path in [
        "/taxii2/nope/",
        "/taxii2/ciphub/nope/",
        "/taxii2/ciphub/collections/community/nope/",
    ] {
        let resp = taxii(&app, "admin", Method::GET, &app.url(path), None).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], TAXII, "{path}");
        let e: Value = resp.json().await.expect("error resource");
        assert_eq!(e["http_status"], "404", "{path}");
    }
    let api_root: Value = taxii(
        &app,
        "admin",
        Method::GET,
        &format!("{}/", root(&app)),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(api_root["versions"][0], TAXII);
    assert_eq!(api_root["max_content_length"], 4_000);
    let collections: Value = taxii(
        &app,
        "water-exec",
        Method::GET,
        &format!("{}/collections/", root(&app)),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let community = &collections["collections"][0];
    assert_eq!(community["id"], COMMUNITY);
    // An executive reads; only sharers write.
    assert_eq!(community["can_write"], false);
    assert_eq!(collections["collections"][1]["can_write"], false);

    // Every refusal is a TAXII error resource with the status as a string.
    async fn error(resp: reqwest::Response, status: u16) -> Value {
        assert_eq!(resp.status(), status);
        assert_eq!(resp.headers()["content-type"], TAXII);
        let e: Value = resp.json().await.expect("error resource");
        assert_eq!(e["http_status"], status.to_string());
        assert!(e["description"].as_str().is_some_and(|d| !d.is_empty()));
        e
    }
    let url = objects_url(&app, "community");
    let wrong_accept = app
        .client
        .get(&url)
        .basic_auth("admin", Some(&app.tokens["admin"]))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request");
    error(wrong_accept, 406).await;
    let nobody = app
        .client
        .get(&url)
        .header("Accept", TAXII)
        .send()
        .await
        .expect("request");
    assert_eq!(
        nobody.headers()["www-authenticate"],
        "Basic realm=\"ciphub TAXII\""
    );
    error(nobody, 401).await;
    // A token works only with the name of the user it belongs to.
    let borrowed = app
        .client
        .get(&url)
        .basic_auth("admin", Some(&app.tokens["reporter"]))
        .header("Accept", TAXII)
        .send()
        .await
        .expect("request");
    error(borrowed, 401).await;
    let bearer = app
        .client
        .get(&url)
        .bearer_auth(&app.tokens["admin"])
        .header("Accept", TAXII)
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), 200);
    let wrong_type = app
        .client
        .post(&url)
        .basic_auth("admin", Some(&app.tokens["admin"]))
        .header("Accept", TAXII)
        .header("Content-Type", "application/json")
        .body(json!({"objects": []}).to_string())
        .send()
        .await
        .expect("request");
    error(wrong_type, 415).await;
    // Only the size limits an envelope: twelve small objects within max_content_length go in,
    // and a complete status sends no empty list.
    let twelve: Vec<Value> = (0..12)
        .map(|n| {
            json!({"type": "identity", "spec_version": "2.1", "id": format!("identity--00000000-0000-4000-8000-{n:012}"),
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "x"})
        })
        .collect();
    assert!(json!({ "objects": twelve }).to_string().len() < 4_000);
    let resp = taxii(
        &app,
        "admin",
        Method::POST,
        &url,
        Some(json!({ "objects": twelve })),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let status = wait_complete(&app, "admin", resp.json().await.expect("status")).await;
    assert_eq!(status["success_count"], 12);
    assert!(
        status.get("failures").is_none() && status.get("pendings").is_none(),
        "{status}"
    );
    let mut big = indicator(1, "2026-01-01T00:00:00.000Z", GREEN);
    big["description"] = json!("x".repeat(5_000));
    error(
        taxii(
            &app,
            "admin",
            Method::POST,
            &url,
            Some(json!({ "objects": [big] })),
        )
        .await,
        413,
    )
    .await;
    error(
        taxii(
            &app,
            "water-exec",
            Method::POST,
            &url,
            Some(json!({ "objects": [] })),
        )
        .await,
        403,
    )
    .await;
    error(
        taxii(
            &app,
            "admin",
            Method::POST,
            &objects_url(&app, ALERTS),
            Some(json!({ "objects": [] })),
        )
        .await,
        403,
    )
    .await;
    error(
        taxii(&app, "admin", Method::GET, &objects_url(&app, "nope"), None).await,
        404,
    )
    .await;
    error(
        taxii(
            &app,
            "admin",
            Method::GET,
            &format!("{url}?added_after=yesterday"),
            None,
        )
        .await,
        400,
    )
    .await;
    error(
        taxii(
            &app,
            "admin",
            Method::GET,
            &format!("{url}?next=bogus"),
            None,
        )
        .await,
        400,
    )
    .await;
    // Invalid objects are named in the status; the valid ones of the envelope are kept.
    let mut bad = indicator(2, "2026-01-01T00:00:00.000Z", GREEN);
    bad.as_object_mut().expect("object").remove("pattern");
    let status = post(
        &app,
        "admin",
        "community",
        vec![indicator(1, "2026-01-01T00:00:00.000Z", GREEN), bad],
    )
    .await;
    assert_eq!(status["success_count"], 1);
    assert_eq!(status["failure_count"], 1);
    assert!(
        status["failures"][0]["message"]
            .as_str()
            .expect("message")
            .contains("objects[1].pattern")
    );
    let polled = status_of(&app, "admin", &status).await;
    assert_eq!(polled["status"], "complete");
    assert_eq!(polled["total_count"], 2);
    // Another organization cannot read the status.
    error(
        taxii(
            &app,
            "reporter",
            Method::GET,
            &format!(
                "{}/status/{}/",
                root(&app),
                status["id"].as_str().expect("id")
            ),
            None,
        )
        .await,
        404,
    )
    .await;
    // The rate limit: requests so far plus the rest of the minute's allowance, then 429.
    let mut limited = None;
    for _ in 0..40 {
        let r = taxii(
            &app,
            "admin",
            Method::GET,
            &format!("{}/collections/", root(&app)),
            None,
        )
        .await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the limit was reached");
    assert!(r.headers().contains_key("retry-after"));
    error(r, 429).await;
    // Another credential has its own allowance.
    assert_eq!(
        taxii(
            &app,
            "reporter",
            Method::GET,
            &format!("{}/collections/", root(&app)),
            None
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn paging_never_skips_or_repeats_objects_added_at_the_same_time() {
    let app = spawn_app().await;
    // The test clock stands still: all 250 objects share one date_added.
    for batch in 0..3u32 {
        let objects: Vec<Value> = (batch * 100..(batch * 100 + 100).min(250))
            .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", GREEN))
            .collect();
        post(&app, "reporter", "community", objects).await;
    }
    let (all, pages) = read_all(&app, "mhlw-analyst", "community", "limit=7").await;
    assert_eq!(all.len(), 250);
    assert_eq!(pages, 36);
    let unique: BTreeSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), 250);
    // In the order they were added.
    assert_eq!(ids(&all)[0], indicator(0, "", "")["id"]);
    assert_eq!(ids(&all)[249], indicator(249, "", "")["id"]);

    // added_after is strictly after: only what came later.
    let first = taxii(
        &app,
        "reporter",
        Method::GET,
        &format!("{}?limit=1", objects_url(&app, "community")),
        None,
    )
    .await;
    let stamp = first.headers()["x-taxii-date-added-last"]
        .to_str()
        .expect("header")
        .to_owned();
    app.clock.advance(TimeDelta::seconds(1));
    post(
        &app,
        "reporter",
        "community",
        (300..305)
            .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", GREEN))
            .collect(),
    )
    .await;
    let (later, _) = read_all(
        &app,
        "reporter",
        "community",
        &format!("added_after={stamp}"),
    )
    .await;
    assert_eq!(later.len(), 5);
    let (none, _) = read_all(
        &app,
        "reporter",
        "community",
        "added_after=2099-01-01T00:00:00Z",
    )
    .await;
    assert!(none.is_empty());
}

/// The `next` cursor tells a reader nothing it was not shown: not the store's sequence, which
/// counts every object stored, the TLP:AMBER ones of other organizations included; a changed
/// cursor is refused.
#[tokio::test]
async fn cursors_count_nothing_and_cannot_be_forged() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let objects_at = |range: std::ops::Range<u32>, marking: &'static str| {
        range
            .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", marking))
            .collect::<Vec<_>>()
    };
    post(&app, "reporter", "community", objects_at(0..1, GREEN)).await;
    // Objects the reporter's organization may not see, stored between its two.
    post(&app, "mhlw-analyst", "community", objects_at(10..15, AMBER)).await;
    post(&app, "reporter", "community", objects_at(1..2, GREEN)).await;
    let page_url = format!("{}?limit=1", objects_url(&app, "community"));
    let resp = taxii(&app, "water-admin", Method::GET, &page_url, None).await;
    let page: Value = resp.json().await.expect("envelope");
    let next = page["next"].as_str().expect("next").to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&next)
        .expect("base64");
    // Not "date.sequence" as text, nor the sequence as a number anywhere in it.
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.split('.').all(|part| part.parse::<i64>().is_ok()),
        "the cursor is {text:?}"
    );
    for seq in 1i64..=10 {
        assert!(
            !raw.windows(8).any(|w| w == seq.to_be_bytes()),
            "the cursor holds {seq}"
        );
    }
    // The cursor still pages: the second object comes next, and nothing else.
    let resp = taxii(
        &app,
        "water-admin",
        Method::GET,
        &format!("{page_url}&next={next}"),
        None,
    )
    .await;
    let page: Value = resp.json().await.expect("envelope");
    assert_eq!(
        ids(page["objects"].as_array().expect("objects")),
        [indicator(1, "", "")["id"].as_str().expect("id")]
    );
    assert_eq!(page["more"], false);
    let mut forged = raw;
    forged[10] ^= 0x40;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
    let resp = taxii(
        &app,
        "water-admin",
        Method::GET,
        &format!("{page_url}&next={forged}"),
        None,
    )
    .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn posts_answer_pending_and_concurrent_ones_are_written_in_order() {
    // A server that does not wait for the write answers pending: the answer lists what waits
    // to be written, and the status turns complete once it is.
    let mut config = test_config();
    config.taxii.complete_within = Duration::ZERO;
    let app = spawn_app_with(config).await;
    let resp = taxii(
        &app,
        "reporter",
        Method::POST,
        &objects_url(&app, "community"),
        Some(json!({ "objects": [indicator(900, "2026-01-01T00:00:00.000Z", GREEN)] })),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let first: Value = resp.json().await.expect("status");
    assert_eq!(first["status"], "pending", "{first}");
    assert_eq!(first["pending_count"], 1);
    assert_eq!(
        first["pendings"][0]["id"],
        "indicator--00000000-0000-4000-8000-000000000900"
    );
    assert_eq!(first["pendings"][0]["version"], "2026-01-01T00:00:00.000Z");
    // Waiting for the queue (as the server does when it stops) leaves nothing pending.
    app.state.taxii_intake.flush().await;
    let done = status_of(&app, "reporter", &first).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["success_count"], 1);
    assert_eq!(done["request_timestamp"], first["request_timestamp"]);

    // Twenty clients at once, each with its own object and a version of a shared one: the
    // writer groups them into few transactions, and every version and flag is right.
    let posts = (0..20u32).map(|n| {
        let app = &app;
        async move {
            let shared = indicator(1, &format!("2026-01-01T00:00:{n:02}.000Z"), GREEN);
            post(
                app,
                "reporter",
                "community",
                vec![
                    indicator(100 + n, "2026-01-01T00:00:00.000Z", GREEN),
                    shared,
                ],
            )
            .await
        }
    });
    for status in futures_util::future::join_all(posts).await {
        assert_eq!(status["success_count"], 2, "{status}");
    }
    let id = "indicator--00000000-0000-4000-8000-000000000001";
    let (all, _) = read_all(
        &app,
        "mhlw-admin",
        "community",
        &format!("match[id]={id}&match[version]=all"),
    )
    .await;
    assert_eq!(all.len(), 20);
    for (which, expected) in [
        ("last", "2026-01-01T00:00:19.000Z"),
        ("first", "2026-01-01T00:00:00.000Z"),
    ] {
        let (one, _) = read_all(
            &app,
            "mhlw-admin",
            "community",
            &format!("match[id]={id}&match[version]={which}"),
        )
        .await;
        assert_eq!(one.len(), 1, "{which}");
        assert_eq!(one[0]["modified"], expected, "{which}");
    }
    let (mine, _) = read_all(&app, "mhlw-admin", "community", "match[type]=indicator").await;
    assert_eq!(mine.len(), 22, "the newest version of each object");
}

/// A POST whose objects are written within `complete_within` (the default, an idle queue)
/// answers `complete` at once, so a client at its defaults does not sleep before polling.
#[tokio::test]
async fn posts_written_in_time_answer_complete() {
    let app = spawn_app().await;
    let resp = taxii(
        &app,
        "reporter",
        Method::POST,
        &objects_url(&app, "community"),
        Some(json!({ "objects": [indicator(901, "2026-01-01T00:00:00.000Z", GREEN), {"type": "bogus"}] })),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let status: Value = resp.json().await.expect("status");
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(
        (
            &status["total_count"],
            &status["success_count"],
            &status["failure_count"],
            &status["pending_count"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0))
    );
    assert!(status.get("pendings").is_none(), "{status}");
    // The object is there for the next read, and the status reads the same afterwards.
    let (all, _) = read_all(&app, "mhlw-analyst", "community", "").await;
    assert_eq!(
        ids(&all),
        [indicator(901, "", "")["id"].as_str().expect("id")]
    );
    assert_eq!(status_of(&app, "reporter", &status).await, status);
    // A client that asks not to wait is answered pending.
    let resp = app
        .client
        .post(objects_url(&app, "community"))
        .basic_auth("reporter", Some(&app.tokens["reporter"]))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .header("Prefer", "respond-async")
        .body(json!({ "objects": [indicator(902, "2026-01-01T00:00:00.000Z", GREEN)] }).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 202);
    let status: Value = resp.json().await.expect("status");
    assert_eq!(status["status"], "pending", "{status}");
    wait_complete(&app, "reporter", status).await;
}

#[tokio::test]
async fn filters_versions_manifest_and_delete() {
    let app = spawn_app().await;
    // Written three ways: TAXII gives each version back exactly as it was posted.
    let versions = [
        "2026-01-01T00:00:00.000Z",
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00.1Z",
    ];
    for v in versions {
        let status = post(&app, "reporter", "community", vec![indicator(1, v, GREEN)]).await;
        assert_eq!(status["successes"][0]["version"], v, "{status}");
        app.clock.advance(TimeDelta::seconds(1));
    }
    let malware = json!({
        "type": "malware", "spec_version": "2.1",
        "id": "malware--00000000-0000-4000-8000-000000000009",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "Pumpkiller", "is_family": true,
        "object_marking_refs": [GREEN],
    });
    post(&app, "reporter", "community", vec![malware.clone()]).await;
    let id = indicator(1, "", "")["id"].as_str().expect("id").to_owned();
    let modified = |objects: &[Value]| -> Vec<String> {
        objects
            .iter()
            .map(|o| o["modified"].as_str().expect("modified").to_owned())
            .collect()
    };
    let (last, _) = read_all(&app, "reporter", "community", "match[type]=indicator").await;
    assert_eq!(modified(&last), ["2026-03-01T00:00:00.1Z"]);
    let (first, _) = read_all(
        &app,
        "reporter",
        "community",
        "match[type]=indicator&match[version]=first",
    )
    .await;
    assert_eq!(modified(&first), ["2026-01-01T00:00:00.000Z"]);
    let (all, _) = read_all(
        &app,
        "reporter",
        "community",
        &format!("match[id]={id}&match[version]=all"),
    )
    .await;
    assert_eq!(modified(&all), versions);
    let (at, _) = read_all(
        &app,
        "reporter",
        "community",
        "match[version]=2026-02-01T00:00:00.000Z",
    )
    .await;
    assert_eq!(modified(&at), ["2026-02-01T00:00:00Z"]);
    let (both, _) = read_all(
        &app,
        "reporter",
        "community",
        "match[type]=malware,indicator&match[spec_version]=2.1",
    )
    .await;
    assert_eq!(both.len(), 2);
    let (old_spec, _) = read_all(&app, "reporter", "community", "match[spec_version]=2.0").await;
    assert!(old_spec.is_empty());

    let one: Value = taxii(
        &app,
        "mhlw-analyst",
        Method::GET,
        &format!("{}{id}/", objects_url(&app, "community")),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        modified(one["objects"].as_array().expect("objects")),
        ["2026-03-01T00:00:00.1Z"]
    );
    let listed: Value = taxii(
        &app,
        "mhlw-analyst",
        Method::GET,
        &format!("{}{id}/versions/", objects_url(&app, "community")),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(listed["versions"], json!(versions));
    let manifest: Value = taxii(
        &app,
        "mhlw-analyst",
        Method::GET,
        &format!(
            "{}/collections/{COMMUNITY}/manifest/?match[version]=all",
            root(&app)
        ),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let records = manifest["objects"].as_array().expect("records");
    assert_eq!(records.len(), 4);
    let listed: Vec<&Value> = records[..3].iter().map(|r| &r["version"]).collect();
    assert_eq!(
        listed,
        versions.map(|v| json!(v)).iter().collect::<Vec<_>>()
    );
    assert_eq!(records[3]["id"], malware["id"]);
    assert_eq!(
        records[0]["media_type"],
        "application/stix+json;version=2.1"
    );
    assert!(
        records[0]["date_added"]
            .as_str()
            .expect("date")
            .ends_with('Z')
    );

    // Only the organization that shared an object deletes it; versions one by one, or all.
    let url = format!("{}{id}/", objects_url(&app, "community"));
    // Another organization reads it but may not delete it: 403, not 404.
    assert_eq!(
        taxii(&app, "mhlw-analyst", Method::DELETE, &url, None)
            .await
            .status(),
        403
    );
    // A version the object does not have: an empty envelope, not 404.
    let none = taxii(
        &app,
        "mhlw-analyst",
        Method::GET,
        &format!("{url}?match[version]=2001-01-01T00:00:00.000Z"),
        None,
    )
    .await;
    assert_eq!(none.status(), 200);
    let none: Value = none.json().await.expect("envelope");
    assert_eq!(none, json!({"more": false}));
    let first_only = format!("{url}?match[version]=first");
    let deleted = taxii(&app, "reporter", Method::DELETE, &first_only, None).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.headers()["content-type"], TAXII);
    let (after, _) = read_all(
        &app,
        "reporter",
        "community",
        "match[type]=indicator&match[version]=first",
    )
    .await;
    assert_eq!(modified(&after), ["2026-02-01T00:00:00Z"]);
    assert_eq!(
        taxii(&app, "reporter", Method::DELETE, &url, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        taxii(&app, "reporter", Method::GET, &url, None)
            .await
            .status(),
        404
    );
    assert_eq!(
        taxii(
            &app,
            "reporter",
            Method::GET,
            &format!("{url}versions/"),
            None
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn collections_show_each_organization_what_tlp_allows() {
    let app = spawn_app().await;
    post(
        &app,
        "reporter",
        "community",
        vec![
            indicator(1, "2026-01-01T00:00:00.000Z", GREEN),
            indicator(2, "2026-01-01T00:00:00.000Z", AMBER),
            indicator(3, "2026-01-01T00:00:00.000Z", ""),
            indicator(4, "2026-01-01T00:00:00.000Z", TLP1_WHITE),
        ],
    )
    .await;
    let seen = |objects: Vec<Value>| -> BTreeSet<String> { ids(&objects).into_iter().collect() };
    let want = |ns: &[u32]| -> BTreeSet<String> {
        ns.iter()
            .map(|n| indicator(*n, "", "")["id"].as_str().expect("id").to_owned())
            .collect()
    };
    // The sharer's organization sees all it shared, any of its users.
    assert_eq!(
        seen(read_all(&app, "water-exec", "community", "").await.0),
        want(&[1, 2, 3, 4])
    );
    // Others see GREEN and CLEAR (TLP 1.0 WHITE) only; the coordinator is no exception.
    assert_eq!(
        seen(read_all(&app, "mhlw-analyst", "community", "").await.0),
        want(&[1, 4])
    );
    assert_eq!(
        seen(read_all(&app, "coordinator", "community", "").await.0),
        want(&[1, 4])
    );
    let amber = format!(
        "{}{}/",
        objects_url(&app, "community"),
        indicator(2, "", "")["id"].as_str().expect("id")
    );
    assert_eq!(
        taxii(&app, "coordinator", Method::GET, &amber, None)
            .await
            .status(),
        404
    );
    let manifest: Value = taxii(
        &app,
        "coordinator",
        Method::GET,
        &format!("{}/collections/community/manifest/", root(&app)),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(manifest["objects"].as_array().expect("records").len(), 2);
}

#[tokio::test]
async fn the_alerts_collection_follows_each_alerts_audience() {
    let app = spawn_app().await;
    let send = |body: Value| app.send(Method::POST, "coordinator", "/api/v1/alerts", body);
    let to_water = send(json!({
        "title": "Pump controller exploit", "body": "Patch **now**.", "tlp": "TLP:AMBER",
        "audience": {"kind": "organizations", "values": ["tokyo-water"]},
    }))
    .await;
    assert_eq!(to_water.status(), 201);
    let for_execs = send(json!({
        "title": "Board briefing", "body": "For executives.", "tlp": "TLP:GREEN",
        "audience": {"kind": "organizations", "values": ["tokyo-water"], "roles": ["executive"]},
    }))
    .await;
    assert_eq!(
        for_execs.status(),
        201,
        "{}",
        for_execs.text().await.unwrap_or_default()
    );
    let names = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .filter(|o| o["type"] == "report")
            .map(|o| o["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let (exec, _) = read_all(&app, "water-exec", "alerts", "").await;
    assert_eq!(
        names(&exec),
        BTreeSet::from([
            "Pump controller exploit".to_owned(),
            "Board briefing".to_owned()
        ])
    );
    assert_eq!(exec.len(), 4, "a report and a note per alert");
    let (reporter, _) = read_all(&app, "reporter", "alerts", "").await;
    assert_eq!(
        names(&reporter),
        BTreeSet::from(["Pump controller exploit".to_owned()])
    );
    let (other, _) = read_all(&app, "mhlw-analyst", "alerts", "").await;
    assert!(other.is_empty());
    let (sender, _) = read_all(&app, "coordinator", "alerts", "").await;
    assert_eq!(sender.len(), 4);
    let report = exec
        .iter()
        .find(|o| o["name"] == "Pump controller exploit")
        .expect("report");
    assert_eq!(report["object_marking_refs"], json!([AMBER]));
    // Read again: nothing is exported twice.
    assert_eq!(
        read_all(&app, "water-exec", "alerts", "match[version]=all")
            .await
            .0
            .len(),
        4
    );
}

#[tokio::test]
async fn the_alerts_collection_pages_past_alerts_a_role_may_not_see() {
    let app = spawn_app().await;
    // Four alerts to the water operator, the second and the last for its executives only.
    for (title, roles) in [
        ("Alert one", json!([])),
        ("Board alert two", json!(["executive"])),
        ("Alert three", json!([])),
        ("Board alert four", json!(["executive"])),
    ] {
        let resp = app
            .send(
                Method::POST,
                "coordinator",
                "/api/v1/alerts",
                json!({
                    "title": title, "body": "Details.", "tlp": "TLP:GREEN",
                    "audience": {"kind": "organizations", "values": ["tokyo-water"], "roles": roles},
                }),
            )
            .await;
        assert_eq!(resp.status(), 201, "{title}");
    }
    // The reporter pages one object at a time: every page is full until the last, which says
    // there is no more, and nothing tells of the executives' alerts.
    for what in ["objects", "manifest"] {
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..10 {
            let mut url = format!("{}/collections/alerts/{what}/?limit=1", root(&app));
            if let Some(n) = &next {
                url.push_str(&format!("&next={n}"));
            }
            let resp = taxii(&app, "reporter", Method::GET, &url, None).await;
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.expect("page");
            let items = body["objects"].as_array().cloned().unwrap_or_default();
            seen.extend(items.iter().cloned());
            if body["more"] == true {
                assert_eq!(items.len(), 1, "a page with more to come is full: {body}");
                next = Some(body["next"].as_str().expect("next with more").to_owned());
            } else {
                assert!(body.get("next").is_none(), "{body}");
                next = None;
                break;
            }
        }
        assert!(next.is_none(), "{what}: paging did not end");
        assert_eq!(
            seen.len(),
            4,
            "{what}: a report and a note for each of two alerts"
        );
        let text = Value::Array(seen).to_string();
        assert!(!text.contains("Board alert"), "{what}: {text}");
    }
    let names: BTreeSet<String> = read_all(&app, "reporter", "alerts", "limit=1")
        .await
        .0
        .iter()
        .filter_map(|o| o["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["Alert one".to_owned(), "Alert three".to_owned()])
    );
    // The executive pages through all four, and the last page says so.
    let (all, pages) = read_all(&app, "water-exec", "alerts", "limit=2").await;
    assert_eq!(all.len(), 8);
    assert_eq!(pages, 4);
}

/// The TLP:RED marking definition (TLP 2.0).
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
/// The TLP:RED marking definition of TLP 1.0.
const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/// Everything the published MISP feed holds, as one text.
async fn misp_feed_text(app: &TestApp) -> String {
    let manifest: Value = app
        .get("reporter", "/misp/feed/manifest.json")
        .await
        .json()
        .await
        .expect("manifest");
    let mut text = manifest.to_string();
    for uuid in manifest.as_object().expect("object").keys() {
        let event: Value = app
            .get("reporter", &format!("/misp/feed/{uuid}.json"))
            .await
            .json()
            .await
            .expect("event");
        text.push_str(&event.to_string());
    }
    text
}

#[tokio::test]
async fn field_level_and_differently_written_markings_decide_who_reads_and_what_leaves() {
    let app = spawn_app().await;
    let at = "2026-01-01T00:00:00.000Z";
    // GREEN, with its name and description TLP:RED.
    let mut granular = indicator(61, at, GREEN);
    granular["description"] = json!("Seen inside our plant network");
    granular["granular_markings"] =
        json!([{"selectors": ["name", "description"], "marking_ref": RED}]);
    // RED written with upper-case hex digits beside GREEN, at the object and (TLP 1.0) at a
    // field.
    let upper = |id: &str| {
        let (kind, uuid) = id.split_once("--").expect("id");
        format!("{kind}--{}", uuid.to_uppercase())
    };
    let mut shouted = indicator(62, at, GREEN);
    shouted["object_marking_refs"] = json!([GREEN, upper(RED)]);
    let mut shouted_field = indicator(63, at, GREEN);
    shouted_field["granular_markings"] =
        json!([{"selectors": ["pattern"], "marking_ref": upper(TLP1_RED)}]);
    // GREEN with a marking that is not TLP: the TLP one decides, as before.
    let mut other = indicator(64, at, GREEN);
    other["object_marking_refs"] = json!([
        GREEN,
        "marking-definition--00000000-0000-4000-8000-000000000064"
    ]);
    let plain = indicator(65, at, GREEN);
    let status = post(
        &app,
        "reporter",
        "community",
        vec![granular, shouted, shouted_field, other, plain],
    )
    .await;
    assert_eq!(status["success_count"], 5, "{status}");
    let want = |ns: &[u32]| -> BTreeSet<String> {
        ns.iter()
            .map(|n| indicator(*n, "", "")["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let seen = |objects: Vec<Value>| -> BTreeSet<String> { ids(&objects).into_iter().collect() };
    assert_eq!(
        seen(read_all(&app, "mhlw-analyst", "community", "").await.0),
        want(&[64, 65])
    );
    assert_eq!(
        seen(read_all(&app, "water-exec", "community", "").await.0),
        want(&[61, 62, 63, 64, 65])
    );
    let feed = misp_feed_text(&app).await;
    for n in [64, 65] {
        assert!(feed.contains(&format!("\"198.51.0.{n}\"")), "{n}: {feed}");
    }
    for n in [61, 62, 63] {
        assert!(!feed.contains(&format!("198.51.0.{n}")), "{n}: {feed}");
    }
    assert!(!feed.contains("plant network"), "{feed}");
}

#[tokio::test]
async fn only_the_organization_that_added_an_object_adds_its_versions() {
    let app = spawn_app().await;
    let v1 = "2026-01-01T00:00:00.000Z";
    let v2 = "2026-02-01T00:00:00.000Z";
    let status = post(
        &app,
        "reporter",
        "community",
        vec![indicator(1, v1, GREEN), indicator(2, v1, RED)],
    )
    .await;
    assert_eq!(status["success_count"], 2, "{status}");
    // Another organization revokes the first, writes over the second (which it cannot read)
    // and shares one of its own: its own is taken, the others refused alike.
    let mut revoked = indicator(1, v2, GREEN);
    revoked["revoked"] = json!(true);
    let status = post(
        &app,
        "mhlw-analyst",
        "community",
        vec![revoked, indicator(2, v2, GREEN), indicator(3, v1, GREEN)],
    )
    .await;
    assert_eq!(status["total_count"], 3, "{status}");
    assert_eq!(status["success_count"], 1, "{status}");
    assert_eq!(
        status["successes"][0]["id"],
        indicator(3, v1, "")["id"],
        "{status}"
    );
    let failures = status["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 2, "{status}");
    assert_eq!(
        failures[0]["message"], failures[1]["message"],
        "a readable and an unreadable object are refused alike"
    );
    let message = failures[0]["message"].as_str().expect("message");
    assert!(message.contains("another organization"), "{message}");
    assert!(
        !message.contains("tokyo-water") && !message.contains("RED"),
        "{message}"
    );
    // Everyone still reads the owner's version; the owner adds its own newer one.
    let one = indicator(1, v1, "")["id"].as_str().expect("id").to_owned();
    let latest = |user: &'static str| {
        let app = &app;
        let one = one.clone();
        async move {
            let (objects, _) = read_all(app, user, "community", &format!("match[id]={one}")).await;
            assert_eq!(objects.len(), 1, "{user}");
            objects[0].clone()
        }
    };
    let seen = latest("mhlw-analyst").await;
    assert_eq!(seen["modified"], v1);
    assert!(seen.get("revoked").is_none(), "{seen}");
    let mut own = indicator(1, v2, GREEN);
    own["revoked"] = json!(true);
    let status = post(&app, "reporter", "community", vec![own]).await;
    assert_eq!(status["success_count"], 1, "{status}");
    assert_eq!(latest("mhlw-analyst").await["revoked"], true);
    // The owner's other object kept only its own version.
    let (versions, _) = read_all(
        &app,
        "water-exec",
        "community",
        &format!(
            "match[id]={}&match[version]=all",
            indicator(2, v1, "")["id"].as_str().expect("id")
        ),
    )
    .await;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["modified"], v1);
}

/// The OASIS example files that the PyPI package stix2-validator ships, or `None` (skipped)
/// when it is not installed.
fn validator_examples() -> Option<Vec<PathBuf>> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import stix2validator, os; print(os.path.dirname(stix2validator.__file__))",
        ])
        .output();
    let dir = match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("schemas-2.1/examples")
        }
        _ => {
            ciphub_store::testkit::skip(
                "every_validator_example_round_trips: skipped: needs the PyPI package stix2-validator (pip install stix2-validator==3.3.2)",
            );
            return None;
        }
    };
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("examples directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    Some(files)
}

#[tokio::test]
async fn every_validator_example_round_trips() {
    let Some(files) = validator_examples() else {
        return;
    };
    assert!(files.len() >= 8, "{files:?}");
    let app = spawn_app().await;
    for file in files {
        let name = file.display().to_string();
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        // The domain reads and writes the file itself back equal.
        let parsed = ciphub_domain::stix::Bundle::parse(original.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let objects: Vec<Value> = match original["type"].as_str() {
            Some("bundle") => {
                assert_eq!(parsed.to_value(), original, "{name}");
                original["objects"].as_array().expect("objects").clone()
            }
            _ => {
                assert_eq!(parsed.objects[0].value, original, "{name}");
                vec![original.clone()]
            }
        };
        // The rstix crate's full check agrees that every object is valid.
        for o in &objects {
            ciphub_domain::stix::reference_check(o)
                .unwrap_or_else(|e| panic!("{name}: {} {e}", o["id"]));
        }
        // Through TAXII: in, then out, each object equal as a JSON value.
        let status = post(&app, "admin", "community", objects.clone()).await;
        assert_eq!(status["failure_count"], 0, "{name}: {status}");
        let wanted: Vec<String> = ids(&objects);
        let (back, _) = read_all(
            &app,
            "admin",
            "community",
            &format!("match[id]={}&match[version]=all", wanted.join(",")),
        )
        .await;
        let by_id: BTreeMap<String, Value> = back
            .into_iter()
            .map(|o| (o["id"].as_str().expect("id").to_owned(), o))
            .collect();
        let exported: Vec<Value> = wanted
            .iter()
            .map(|id| by_id.get(id).cloned().unwrap_or(Value::Null))
            .collect();
        assert_eq!(exported, objects, "{name}");
        if original["type"] == "bundle" {
            let bundle = json!({"type": "bundle", "id": original["id"], "objects": exported});
            assert_eq!(bundle, original, "{name}");
        }
    }
}

#[tokio::test]
async fn stix_exports_keep_the_anonymity_rule() {
    let app = spawn_app().await;
    let filed = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": "Chlorination PLC stopped", "description": "Tokyo Water plant 3 PLC halted",
                "cause": "cyberattack", "sectors": ["water"], "services": ["water-supply"],
                "scope": ["ot"], "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": "ceptoar-anonymous", "tlp": "TLP:AMBER",
            }),
        )
        .await;
    assert_eq!(
        filed.status(),
        201,
        "{}",
        filed.text().await.unwrap_or_default()
    );
    let id = filed.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let own: Value = app
        .get("reporter", &format!("/api/v1/reports/{id}/stix"))
        .await
        .json()
        .await
        .expect("json");
    ciphub_domain::stix::Bundle::parse(own.clone()).expect("valid STIX");
    let identity = own["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["type"] == "identity")
        .expect("identity");
    assert_eq!(identity["identity_class"], "organization");
    // The secretariat relays it; the coordinator's export names only the sector's placeholder.
    let relay = app
        .send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/reports/{id}/relay"),
            json!({"title": "PLC stopped at a water operator", "description": "A PLC halted"}),
        )
        .await;
    assert!(
        relay.status().is_success(),
        "{}",
        relay.text().await.unwrap_or_default()
    );
    let copy = relay.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("copy id");
    let seen: Value = app
        .get("coordinator", &format!("/api/v1/reports/{copy}/stix"))
        .await
        .json()
        .await
        .expect("json");
    ciphub_domain::stix::Bundle::parse(seen.clone()).expect("valid STIX");
    let text = seen.to_string();
    assert!(
        !text.contains("tokyo-water") && !text.contains("Tokyo Water"),
        "{text}"
    );
    // The copy stands for the anonymous operator: the reporter is the sector's placeholder.
    let identity = seen["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["type"] == "identity")
        .expect("identity");
    assert_eq!(identity["identity_class"], "class", "{seen}");
    assert_eq!(identity["name"], "an operator in the Water sector");
    // The coordinator sees the original's summary: the reporter is the sector's placeholder.
    let original = app
        .get("coordinator", &format!("/api/v1/reports/{id}/stix"))
        .await;
    if original.status() == 200 {
        let b: Value = original.json().await.expect("json");
        let identity = b["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .find(|o| o["type"] == "identity")
            .expect("identity");
        assert_eq!(identity["identity_class"], "class", "{b}");
        assert!(
            !b.to_string().contains("tokyo-water") && !b.to_string().contains("Tokyo Water"),
            "{b}"
        );
    } else {
        assert_eq!(original.status(), 404);
    }
    assert!(
        seen["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|o| o["id"] == AMBER)
    );
    // What the API would not show, the export does not either.
    assert_eq!(
        app.get("mhlw-analyst", &format!("/api/v1/reports/{id}/stix"))
            .await
            .status(),
        404
    );
}

/// Objects of the community collection of `app` as `user` sees them, by id.
async fn community_ids(app: &TestApp, user: &str) -> BTreeSet<String> {
    ids(&read_all(app, user, "community", "").await.0)
        .into_iter()
        .collect()
}

#[tokio::test]
async fn federations_call_public_addresses_only_unless_allowed() {
    let here = spawn_app_with(ciphub_server::ServerConfig {
        webhook_private_targets: false,
        ..test_config()
    })
    .await;
    let there = spawn_app().await;
    post(
        &there,
        "reporter",
        "community",
        vec![indicator(1, "2026-01-01T00:00:00.000Z", GREEN)],
    )
    .await;
    // A federation stored while private targets were allowed is refused when it runs: the
    // partner listens on loopback.
    let new = NewFederation {
        url: format!("{}/", root(&there)),
        remote_collection: COMMUNITY.to_owned(),
        direction: "pull".to_owned(),
        local_collection: "community".to_owned(),
        every_us: 300_000_000,
        org: ciphub_domain::Slug::parse("nisc").expect("slug"),
        username: Some("admin".to_owned()),
        secret: Some(there.tokens["admin"].clone()),
    };
    let pull = here
        .db
        .store
        .add_federation(&new, &By::system())
        .await
        .expect("federation");
    let out = federation::run_one(&here.state, &pull).await.expect("run");
    assert_eq!(out.moved, 0, "{out:?}");
    let why = out.error.expect("refused");
    assert!(why.contains("not a public address"), "{why}");
    assert!(community_ids(&here, "mhlw-analyst").await.is_empty());
    // With the operator's leave, the same federation runs.
    let allowed = spawn_app().await;
    let pull = allowed
        .db
        .store
        .add_federation(&new, &By::system())
        .await
        .expect("federation");
    let out = federation::run_one(&allowed.state, &pull)
        .await
        .expect("run");
    assert_eq!((out.moved, out.error), (1, None));
}

#[tokio::test]
async fn two_instances_federate_both_ways_and_survive_a_restart() {
    let here = spawn_app().await;
    let there = spawn_app().await;
    let pull = here
        .db
        .store
        .add_federation(
            &NewFederation {
                url: format!("{}/", root(&there)),
                remote_collection: COMMUNITY.to_owned(),
                direction: "pull".to_owned(),
                local_collection: "community".to_owned(),
                every_us: 300_000_000,
                org: ciphub_domain::Slug::parse("nisc").expect("slug"),
                username: Some("admin".to_owned()),
                secret: Some(there.tokens["admin"].clone()),
            },
            &By::system(),
        )
        .await
        .expect("federation");
    post(
        &there,
        "reporter",
        "community",
        (1..=3)
            .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", GREEN))
            .collect(),
    )
    .await;
    let out = federation::run_one(&here.state, &pull).await.expect("run");
    assert_eq!((out.moved, out.error), (3, None));
    assert_eq!(community_ids(&here, "mhlw-analyst").await.len(), 3);
    // Only what changed moves next time; a restarted server carries on from the stored cursor.
    there.clock.advance(TimeDelta::seconds(5));
    post(
        &there,
        "reporter",
        "community",
        vec![
            indicator(4, "2026-01-01T00:00:00.000Z", GREEN),
            indicator(1, "2026-02-01T00:00:00.000Z", GREEN),
        ],
    )
    .await;
    let restarted = ciphub_server::AppState::new(here.db.store.clone(), test_config());
    let pull = here.db.store.federation(pull.id).await.expect("stored");
    let out = federation::run_one(&restarted, &pull).await.expect("run");
    assert_eq!((out.moved, out.error), (2, None));
    let pull = here.db.store.federation(pull.id).await.expect("stored");
    assert_eq!(
        federation::run_one(&restarted, &pull)
            .await
            .expect("run")
            .moved,
        0
    );
    assert_eq!(
        here.db
            .store
            .federation(pull.id)
            .await
            .expect("stored")
            .moved,
        5
    );
    // Where each object came from is recorded.
    let (all, _) = read_all(&here, "admin", "community", "match[version]=all").await;
    assert_eq!(all.len(), 5);
    let page = here
        .db
        .store
        .stix_outgoing("community", 0, &[], 100)
        .await
        .expect("rows");
    assert!(
        page.iter()
            .all(|r| r.origin == format!("federation:{}", pull.id))
    );

    // Push: GREEN leaves, AMBER and what came from there do not.
    let push = here
        .db
        .store
        .add_federation(
            &NewFederation {
                url: format!("{}/", root(&there)),
                remote_collection: COMMUNITY.to_owned(),
                direction: "push".to_owned(),
                local_collection: "community".to_owned(),
                every_us: 300_000_000,
                org: ciphub_domain::Slug::parse("nisc").expect("slug"),
                username: None,
                secret: Some(there.tokens["mhlw-analyst"].clone()),
            },
            &By::system(),
        )
        .await
        .expect("federation");
    post(
        &here,
        "reporter",
        "community",
        vec![
            indicator(50, "2026-01-01T00:00:00.000Z", GREEN),
            indicator(51, "2026-01-01T00:00:00.000Z", AMBER),
        ],
    )
    .await;
    let out = federation::run_one(&here.state, &push).await.expect("run");
    assert_eq!((out.moved, out.error), (1, None));
    // The remote answered `pending`; its queue is written before it is read.
    there.state.taxii_intake.flush().await;
    let remote = community_ids(&there, "coordinator").await;
    assert!(remote.contains(indicator(50, "", "")["id"].as_str().expect("id")));
    assert!(!remote.contains(indicator(51, "", "")["id"].as_str().expect("id")));
    // The pushed object belongs there to the organization whose token pushed it.
    assert!(
        community_ids(&there, "mhlw-admin")
            .await
            .contains(indicator(50, "", "")["id"].as_str().expect("id"))
    );
    let push = here.db.store.federation(push.id).await.expect("stored");
    assert_eq!(
        federation::run_one(&here.state, &push)
            .await
            .expect("run")
            .moved,
        0
    );
}

/// A medallion 3.0.0 server (the OASIS TAXII 2.1 reference, from PyPI) on a loopback port,
/// stopped when dropped.
struct Medallion {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MEDALLION_COLLECTION: &str = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4";

async fn medallion() -> Option<Medallion> {
    let found = std::process::Command::new("medallion")
        .arg("--help")
        .output();
    if !found.is_ok_and(|o| o.status.success()) {
        ciphub_store::testkit::skip(
            "federation_with_medallion: skipped: needs medallion on PATH (pip install medallion==3.0.0)",
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let data = json!({
        "/discovery": {"title": "medallion", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 104857600},
            "status": [],
            "collections": [{
                "id": MEDALLION_COLLECTION, "title": "shared", "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []
            }]
        }
    });
    std::fs::write(dir.path().join("data.json"), data.to_string()).expect("data");
    let config = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": dir.path().join("data.json")},
        "users": {"partner": "partner-secret"},
        "taxii": {"max_page_size": 100},
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
    let child = std::process::Command::new("medallion")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(dir.path().join("config.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("medallion starts");
    let m = Medallion {
        child,
        url: format!("{base}/api1/"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let ok = client
            .get(format!("{base}/taxii2/"))
            .basic_auth("partner", Some("partner-secret"))
            .header("Accept", TAXII)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("medallion did not start on {base}");
}

#[tokio::test]
async fn federation_with_medallion() {
    let Some(m) = medallion().await else { return };
    let app = spawn_app().await;
    let add = |direction: &str| NewFederation {
        url: m.url.clone(),
        remote_collection: MEDALLION_COLLECTION.to_owned(),
        direction: direction.to_owned(),
        local_collection: "community".to_owned(),
        every_us: 60_000_000,
        org: ciphub_domain::Slug::parse("nisc").expect("slug"),
        username: Some("partner".to_owned()),
        secret: Some("partner-secret".to_owned()),
    };
    let push = app
        .db
        .store
        .add_federation(&add("push"), &By::system())
        .await
        .expect("push");
    let pull = app
        .db
        .store
        .add_federation(&add("pull"), &By::system())
        .await
        .expect("pull");
    post(
        &app,
        "reporter",
        "community",
        (1..=150)
            .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", GREEN))
            .collect(),
    )
    .await;
    let out = federation::run_one(&app.state, &push).await.expect("push");
    assert_eq!((out.moved, out.error), (150, None));
    // What medallion holds (pages of 100 there) comes back unchanged, and nothing twice.
    let direct: Value = reqwest::Client::new()
        .get(format!(
            "{}collections/{MEDALLION_COLLECTION}/manifest/",
            m.url
        ))
        .basic_auth("partner", Some("partner-secret"))
        .header("Accept", TAXII)
        .send()
        .await
        .expect("manifest")
        .json()
        .await
        .expect("json");
    assert_eq!(direct["objects"].as_array().expect("records").len(), 100);
    // Objects another medallion client added are pulled in.
    let extra = json!({"objects": [indicator(900, "2026-01-01T00:00:00.000Z", GREEN)]});
    let added = reqwest::Client::new()
        .post(format!(
            "{}collections/{MEDALLION_COLLECTION}/objects/",
            m.url
        ))
        .basic_auth("partner", Some("partner-secret"))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(extra.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(added.status(), 202);
    let out = federation::run_one(&app.state, &pull).await.expect("pull");
    assert_eq!(out.error, None);
    assert_eq!(out.moved, 151);
    let here = community_ids(&app, "mhlw-analyst").await;
    assert_eq!(here.len(), 151);
    assert!(here.contains(indicator(900, "", "")["id"].as_str().expect("id")));
    let pull = app.db.store.federation(pull.id).await.expect("stored");
    let again = federation::run_one(&app.state, &pull).await.expect("pull");
    assert_eq!((again.moved, again.error), (0, None));
}

#[tokio::test]
async fn misp_feeds_import_and_publish_under_tlp() {
    let app = spawn_app().await;
    let event = json!({"Event": {
        "uuid": "5b2f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "info": "Phishing wave against utilities",
        "date": "2026-03-01", "timestamp": "1772323200", "publish_timestamp": "1772323200",
        "analysis": "2", "threat_level_id": "2",
        "Orgc": {"name": "Partner CERT", "uuid": "6c3f4b5e-2d3e-4f60-9bac-1d2e3f4a5b6c"},
        "Tag": [{"name": "tlp:white"}],
        "Attribute": [
            {"uuid": "7d405c6f-3e4f-4071-8cbd-2e3f4a5b6c7d", "type": "domain", "category": "Network activity",
             "value": "login-water.example", "to_ids": true, "timestamp": "1772323200"},
            {"uuid": "8e516d70-4f50-4182-9dce-3f4a5b6c7d8e", "type": "ip-dst", "category": "Network activity",
             "value": "203.0.113.7", "to_ids": true, "timestamp": "1772323200", "Tag": [{"name": "tlp:amber"}]}
        ]
    }});
    let nisc = ciphub_domain::Slug::parse("nisc").expect("slug");
    let done = ciphub_server::misp::import_event(&app.db.store, &event, &nisc, &By::system())
        .await
        .expect("import");
    assert!(done.objects >= 3);
    // TLP 1.0 white reads as CLEAR: every organization sees the domain, not the AMBER address.
    let (objects, _) = read_all(&app, "reporter", "community", "match[type]=indicator").await;
    let patterns: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    assert_eq!(patterns, ["[domain-name:value = 'login-water.example']"]);
    // The published feed carries only what may leave: the domain, tagged tlp:clear.
    let manifest: Value = app
        .get("reporter", "/misp/feed/manifest.json")
        .await
        .json()
        .await
        .expect("manifest");
    let (uuid, entry) = manifest
        .as_object()
        .expect("object")
        .iter()
        .next()
        .expect("one event");
    assert!(entry["Tag"].to_string().contains("tlp:clear"), "{entry}");
    let feed_event: Value = app
        .get("reporter", &format!("/misp/feed/{uuid}.json"))
        .await
        .json()
        .await
        .expect("event");
    let text = feed_event.to_string();
    assert!(text.contains("login-water.example"));
    assert!(!text.contains("203.0.113.7"), "{text}");
    // Published again, the event keeps its date, threat level and creating organization.
    let e = &feed_event["Event"];
    assert_eq!(e["date"], "2026-03-01");
    assert_eq!(e["threat_level_id"], "2");
    assert_eq!(
        e["Orgc"],
        json!({"name": "Partner CERT", "uuid": "6c3f4b5e-2d3e-4f60-9bac-1d2e3f4a5b6c"})
    );
    // Another event of the same organization adds no version of its identity.
    let mut later = event.clone();
    later["Event"]["uuid"] = json!("9f627e81-5061-4293-8eef-405b6c7d8e9f");
    later["Event"]["timestamp"] = json!("1772409600");
    later["Event"]["Attribute"][0]["uuid"] = json!("a0738f92-6172-43a4-9f00-516c7d8e9fa0");
    ciphub_server::misp::import_event(&app.db.store, &later, &nisc, &By::system())
        .await
        .expect("import");
    let (versions, _) = read_all(
        &app,
        "reporter",
        "community",
        "match[id]=identity--6c3f4b5e-2d3e-4f60-9bac-1d2e3f4a5b6c&match[version]=all",
    )
    .await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    // A bad event names where it is wrong and stores nothing.
    let mut bad = event.clone();
    bad["Event"]["Attribute"][1]["type"] = json!(5);
    let e = ciphub_server::misp::import_event(&app.db.store, &bad, &nisc, &By::system())
        .await
        .expect_err("bad");
    assert!(e.to_string().contains("Attribute[1].type"), "{e}");
    assert_eq!(
        app.get("reporter", "/misp/feed/none.json").await.status(),
        404
    );
}

/// Files a named report as `reporter` and answers its STIX bundle.
async fn named_report_bundle(app: &TestApp) -> Value {
    let filed = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": "Pump station outage", "cause": "cyberattack", "sectors": ["water"],
                "services": ["water-supply"], "scope": ["ot"], "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": "ministry", "tlp": "TLP:GREEN",
            }),
        )
        .await;
    assert_eq!(filed.status(), 201);
    let id = filed.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    app.get("reporter", &format!("/api/v1/reports/{id}/stix"))
        .await
        .json()
        .await
        .expect("json")
}

fn of_type<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["type"] == kind)
        .collect()
}

#[tokio::test]
async fn ids_are_each_instances_own_and_identities_keep_one_version() {
    // The same report on two fresh instances: two different incidents, not one id.
    let one = spawn_app().await;
    let two = spawn_app().await;
    let a = named_report_bundle(&one).await;
    let b = named_report_bundle(&two).await;
    assert_ne!(
        of_type(&a, "incident")[0]["id"],
        of_type(&b, "incident")[0]["id"]
    );
    assert_ne!(
        of_type(&a, "report")[0]["id"],
        of_type(&b, "report")[0]["id"]
    );
    // An instance keeps its namespace: the same report exported again has the same ids.
    let id = of_type(&a, "incident")[0]["external_references"][0]["external_id"]
        .as_str()
        .expect("external id")
        .trim_start_matches("report-")
        .to_owned();
    let again: Value = one
        .get("reporter", &format!("/api/v1/reports/{id}/stix"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        of_type(&a, "incident")[0]["id"],
        of_type(&again, "incident")[0]["id"]
    );

    // The sender's identity is one version (id, created, name) in every alert bundle, however
    // far apart the alerts, and so is the reporter's in every report bundle.
    let mut identities = BTreeSet::new();
    for n in 0..3 {
        let sent = one
            .send(
                Method::POST,
                "coordinator",
                "/api/v1/alerts",
                json!({
                    "title": format!("Advisory {n}"), "body": "Patch.", "tlp": "TLP:GREEN",
                    "audience": {"kind": "sectors", "values": ["water"]},
                    "acknowledge_within": "4h",
                }),
            )
            .await;
        assert_eq!(sent.status(), 201);
        let alert = sent.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id");
        let bundle: Value = one
            .get("coordinator", &format!("/api/v1/alerts/{alert}/stix"))
            .await
            .json()
            .await
            .expect("json");
        let identity = of_type(&bundle, "identity")[0];
        assert_ne!(
            identity["name"], "nisc",
            "the name, not the slug: {identity}"
        );
        identities.insert(identity.to_string());
        one.clock.advance(TimeDelta::days(2));
    }
    assert_eq!(identities.len(), 1, "{identities:?}");
    let later = named_report_bundle(&one).await;
    assert_eq!(of_type(&a, "identity")[0], of_type(&later, "identity")[0]);
}

/// An envelope answered `pending` by a process that then died is held in the store: any
/// process answers its status (`pending`, the objects listed), and the job worker of a live
/// one takes it over and writes it.
#[tokio::test]
async fn envelopes_held_by_a_process_that_died_are_taken_over_and_written() {
    let app = spawn_app().await;
    let objects = vec![
        indicator(950, "2026-01-01T00:00:00.000Z", GREEN),
        indicator(951, "2026-01-01T00:00:00.000Z", GREEN),
        json!({"type": "bogus"}),
    ];
    let envelope = json!({ "objects": objects }).to_string();
    let (accepted, failures) = ciphub_server::taxii::recheck(envelope.as_bytes()).expect("checked");
    let status = ciphub_store::StatusRecord {
        id: "5b0c7a4e-8f3d-4c2a-9e1b-6d5f4a3c2b10".into(),
        collection: "community".into(),
        owner: ciphub_domain::Slug::parse("tokyo-water").expect("slug"),
        created_us: 1_767_225_600_000_000,
        total: 3,
        successes: Vec::new(),
        failures,
        pendings: accepted
            .iter()
            .map(|o| ciphub_store::StatusDetail {
                id: o.object_id.clone(),
                version: o.version_text.clone().expect("version"),
                message: None,
            })
            .collect(),
    };
    let by = By {
        user: Some("reporter".into()),
        org: Some("tokyo-water".into()),
    };
    // The process that answered it: its worker never beats again.
    app.db
        .store
        .hold_envelope(
            &status,
            &by,
            envelope.as_bytes(),
            &ciphub_store::WorkerId::random(),
        )
        .await
        .expect("hold");
    let held = status_of(&app, "reporter", &json!({"id": status.id})).await;
    assert_eq!(held["status"], "pending", "{held}");
    assert_eq!(
        (
            &held["total_count"],
            &held["success_count"],
            &held["failure_count"],
            &held["pending_count"]
        ),
        (&json!(3), &json!(0), &json!(1), &json!(2))
    );
    assert_eq!(held["request_timestamp"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(held["pendings"][0]["id"], objects[0]["id"]);
    // Nobody else reads it: the same answer as for a status that does not exist.
    let other = taxii(
        &app,
        "mhlw-admin",
        Method::GET,
        &format!("{}/status/{}/", root(&app), status.id),
        None,
    )
    .await;
    assert_eq!(other.status(), 404);
    let taken = app
        .state
        .taxii_intake
        .resume(ciphub_server::taxii::recheck)
        .await
        .expect("resume");
    assert_eq!(taken, 1);
    let done = wait_complete(&app, "reporter", held).await;
    assert_eq!(
        (&done["success_count"], &done["failure_count"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(done["request_timestamp"], "2026-01-01T00:00:00.000000Z");
    let (all, _) = read_all(&app, "mhlw-analyst", "community", "").await;
    assert_eq!(ids(&all), ids(&objects[..2]));
    // Written once: nothing is left to take over.
    let again = app
        .state
        .taxii_intake
        .resume(ciphub_server::taxii::recheck)
        .await
        .expect("resume");
    assert_eq!(again, 0);
    assert_eq!(app.db.store.held_envelopes().await.expect("count"), 0);
}
