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
        ciphub_store::testkit::skip(&why);
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

/// A configuration file that lets the server call loopback and private networks; the
/// directory holding it goes with it.
fn private_targets_allowed() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ciphub.toml");
    std::fs::write(&path, "[delivery]\nwebhook_private_targets = true\n").expect("config");
    let path = path.to_str().expect("path").to_owned();
    (dir, path)
}

#[tokio::test]
async fn federate_refuses_private_targets_and_never_lists_credentials() {
    let db = TestDb::new().await.expect("db");
    let init = ciphub(&db.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    let add = |url: &str, config: Option<&str>| {
        let mut args = Vec::new();
        if let Some(c) = config {
            args.extend(["--config", c]);
        }
        args.extend([
            "federate",
            "add",
            "--url",
            url,
            "--collection",
            "community",
            "--direction",
            "pull",
        ]);
        ciphub(&db.url, &args, None)
    };
    for url in [
        "http://127.0.0.1:8750/taxii2/ciphub/",
        "http://0x7f.1/taxii2/ciphub/",
        "http://2130706433/taxii2/ciphub/",
        "http://[64:ff9b::a9fe:a9fe]/taxii2/",
        "http://10.0.0.5/taxii2/",
    ] {
        let refused = add(url, None);
        assert!(!refused.status.success(), "{url}");
        assert!(
            err(&refused).contains("--url") && err(&refused).contains("not a public address"),
            "{url}: {}",
            err(&refused)
        );
    }
    // Credentials go in --user and --secret, where they are never shown.
    for url in [
        "https://partner:hunter2@partner.example/taxii2/",
        "https://partner.example/taxii2/?token=hunter2",
    ] {
        let refused = add(url, None);
        assert!(!refused.status.success(), "{url}");
        assert!(!err(&refused).contains("hunter2"), "{}", err(&refused));
    }
    let (_dir, config) = private_targets_allowed();
    let allowed = add("http://127.0.0.1:8750/taxii2/ciphub/", Some(&config));
    assert!(allowed.status.success(), "{}", err(&allowed));

    // A federation stored with credentials in its URL (as before they were refused) is listed
    // with them masked.
    db.store
        .add_federation(
            &ciphub_store::NewFederation {
                url: "https://partner:hunter2@partner.example/taxii2/?token=s3cret".to_owned(),
                remote_collection: "community".to_owned(),
                direction: "push".to_owned(),
                local_collection: "community".to_owned(),
                every_us: 300_000_000,
                org: ciphub_domain::Slug::parse("nisc").expect("slug"),
                username: None,
                secret: None,
            },
            &ciphub_store::By::system(),
        )
        .await
        .expect("federation");
    let list = ciphub(&db.url, &["federate", "list"], None);
    assert!(list.status.success(), "{}", err(&list));
    let shown = out(&list);
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(
        shown.contains("https://***@partner.example/taxii2/?token=***"),
        "{shown}"
    );
    // Nor does the audit trail keep them.
    let audit = db
        .store
        .audit_page(&ciphub_domain::policy::AuditScope::Everything, 0, 10_000)
        .await
        .expect("audit");
    let added = audit
        .entries
        .iter()
        .rfind(|e| e.action == "federation.add")
        .expect("federation.add");
    assert!(
        !added.detail.contains("hunter2") && !added.detail.contains("s3cret"),
        "{}",
        added.detail
    );
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
    // The partner listens on loopback, which the operator must allow.
    let (_dir, config) = private_targets_allowed();
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
            "--config",
            &config,
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
    let run = ciphub(&here.url, &["--config", &config, "federate", "run"], None);
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
        out(&import).contains("imported 1 events")
            && out(&import).contains("0 of 1 attributes left out"),
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
