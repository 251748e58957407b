//! TAXII and feeds as users run them: the OASIS Python client (PyPI taxii2-client) against
//! `ciphub serve --demo`, and the `federate` and `misp` commands.

use std::process::Command;

use ciphub_store::testkit::TestDb;
use serde_json::{Value, json};

use super::helpers::{ciphub, err, out};
use super::serve::start;

/// Whether python3 can import `module`; otherwise prints why `test` is skipped (or panics
/// under CIPHUB_REQUIRE_ALL=1).
fn python_has(module: &str, test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = format!(
            "{test}: skipped: needs python3 with the PyPI package for {module} (pip install taxii2-client==2.3.0)"
        );
        if std::env::var("CIPHUB_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("{why}; CIPHUB_REQUIRE_ALL=1 forbids skipping");
        }
        eprintln!("{why}");
    }
    ok
}

fn demo_token(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.strip_prefix("API token:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the demo prints a token")
        .to_owned()
}

#[tokio::test]
async fn taxii2_client_drives_ciphub() {
    if !python_has("taxii2client", "taxii2_client_drives_ciphub") {
        return;
    }
    let db = TestDb::new().await.expect("db");
    let (_server, base, printed) = start(&db.url, &["--demo"]);
    let admin = demo_token(&printed);
    let issued = ciphub(
        &db.url,
        &["token", "issue", "--user", "demo-reporter"],
        None,
    );
    assert!(issued.status.success(), "{}", err(&issued));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/taxii2_client_test.py"
    );
    let run = Command::new("python3")
        .arg(script)
        .env("CIPHUB_TAXII_URL", format!("{base}/taxii2/"))
        .env("CIPHUB_TAXII_USER", "demo-admin")
        .env("CIPHUB_TAXII_TOKEN", &admin)
        .env("CIPHUB_TAXII_OTHER_USER", "demo-reporter")
        .env("CIPHUB_TAXII_OTHER_TOKEN", out(&issued).trim())
        .output()
        .expect("python3 runs");
    let report = format!("{}{}", out(&run), err(&run));
    assert!(
        run.status.success(),
        "the taxii2-client test failed:\n{report}"
    );
    assert!(report.contains("Ran 9 tests"), "{report}");
}

#[tokio::test]
async fn federate_and_misp_commands() {
    // A partner instance with one GREEN indicator in its community collection.
    let partner = TestDb::new().await.expect("db");
    let (_partner, partner_base, printed) = start(&partner.url, &["--demo"]);
    let partner_token = demo_token(&printed);
    let indicator = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--4f0e2a55-0b6d-4a59-8d1b-9b0c1d2e3f40",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'bad.example']", "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    });
    let posted = reqwest::Client::new()
        .post(format!(
            "{partner_base}/taxii2/ciphub/collections/community/objects/"
        ))
        .basic_auth("demo-admin", Some(&partner_token))
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .body(json!({ "objects": [indicator] }).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 202);
    // The partner answers `pending`; the object is there once the status is complete.
    let status: Value = posted.json().await.expect("status");
    let status_url = format!(
        "{partner_base}/taxii2/ciphub/status/{}/",
        status["id"].as_str().expect("status id")
    );
    let mut complete = false;
    for _ in 0..1_000 {
        let now: Value = reqwest::Client::new()
            .get(&status_url)
            .basic_auth("demo-admin", Some(&partner_token))
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json");
        if now["status"] == "complete" {
            assert_eq!(now["success_count"], 1, "{now}");
            complete = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(complete, "the partner's status stayed pending for 10 s");

    let here = TestDb::new().await.expect("db");
    let init = ciphub(&here.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    let bad = ciphub(
        &here.url,
        &[
            "federate",
            "add",
            "--url",
            "ftp://x",
            "--collection",
            "c",
            "--direction",
            "pull",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(err(&bad).contains("--url"), "{}", err(&bad));
    let add = ciphub(
        &here.url,
        &[
            "federate",
            "add",
            "--url",
            &format!("{partner_base}/taxii2/ciphub/"),
            "--collection",
            "community",
            "--direction",
            "pull",
            "--every",
            "5m",
            "--user",
            "demo-admin",
            "--secret",
            &partner_token,
        ],
        None,
    );
    assert!(add.status.success(), "{}", err(&add));
    assert!(out(&add).contains("federation 1: pull"), "{}", out(&add));
    let run = ciphub(&here.url, &["federate", "run"], None);
    assert!(run.status.success(), "{}", err(&run));
    assert!(
        out(&run).contains("federation 1: 1 objects moved"),
        "{}",
        out(&run)
    );
    let list = ciphub(&here.url, &["federate", "list"], None);
    assert!(out(&list).contains(&partner_base), "{}", out(&list));
    // The secret is stored to call the partner, but never listed.
    assert!(!out(&list).contains(&partner_token));

    // A MISP feed in, and the feed of what may leave out.
    let feed = tempfile::tempdir().expect("dir");
    let event = json!({"Event": {
        "uuid": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "info": "Scanning of SCADA ports",
        "date": "2026-03-02", "timestamp": "1772409600", "publish_timestamp": "1772409600",
        "analysis": "2", "threat_level_id": "3",
        "Orgc": {"name": "Partner", "uuid": "1c2d3e4f-5061-4728-93a4-b5c6d7e8f90a"},
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [{"uuid": "2d3e4f50-6172-4839-a4b5-c6d7e8f90a1b", "type": "ip-src",
            "category": "Network activity", "value": "198.51.100.23", "to_ids": true,
            "timestamp": "1772409600"}]
    }});
    std::fs::write(
        feed.path().join("manifest.json"),
        json!({"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9": {}}).to_string(),
    )
    .expect("manifest");
    std::fs::write(
        feed.path()
            .join("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9.json"),
        event.to_string(),
    )
    .expect("event");
    let import = ciphub(
        &here.url,
        &["misp", "import", feed.path().to_str().expect("path")],
        None,
    );
    assert!(import.status.success(), "{}", err(&import));
    assert!(
        out(&import).contains("imported 1 events"),
        "{}",
        out(&import)
    );
    let published = tempfile::tempdir().expect("dir");
    let export = ciphub(
        &here.url,
        &["misp", "export", published.path().to_str().expect("path")],
        None,
    );
    assert!(export.status.success(), "{}", err(&export));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(published.path().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let manifest = manifest.as_object().expect("object");
    assert!(
        manifest.contains_key("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        "{manifest:?}"
    );
    let text = std::fs::read_to_string(
        published
            .path()
            .join("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9.json"),
    )
    .expect("event");
    assert!(
        text.contains("198.51.100.23") && text.contains("tlp:green"),
        "{text}"
    );
    // The federated indicator (GREEN, no report) is published too, in a day event.
    assert_eq!(manifest.len(), 2, "{manifest:?}");
    // A file that is not a MISP event is named.
    std::fs::write(
        feed.path()
            .join("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9.json"),
        "{\"Event\": {\"info\": \"x\"}}",
    )
    .expect("write");
    let broken = ciphub(
        &here.url,
        &["misp", "import", feed.path().to_str().expect("path")],
        None,
    );
    assert!(!broken.status.success());
    assert!(err(&broken).contains("Event.uuid"), "{}", err(&broken));
}
