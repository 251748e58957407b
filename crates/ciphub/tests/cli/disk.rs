//! The embedded store on a full disk and on a read-only one, as an operator would meet them:
//! `ciphub serve` on a small tmpfs that fills up, then gets room again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ciphub_store::sqlite_url_for_dir;
use serde_json::{Value, json};

use super::serve::start;

const TAXII: &str = "application/taxii+json;version=2.1";
const COMMUNITY: &str = "2f4e3d1c-9b8a-4c7d-8e6f-5a4b3c2d1e01";

/// An envelope of 20 indicators, the `n`th.
fn envelope(n: usize) -> (Vec<String>, String) {
    let objects: Vec<Value> = (0..20)
        .map(|k| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{:012}", n * 100 + k),
                "created": "2026-04-01T00:00:00.000Z", "modified": "2026-04-01T00:00:00.000Z",
                "pattern": format!("[ipv4-addr:value = '203.0.{n}.{k}']"),
                "pattern_type": "stix", "valid_from": "2026-04-01T00:00:00Z",
                "description": "x".repeat(2_000),
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
            })
        })
        .collect();
    let ids = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    (ids, json!({ "objects": objects }).to_string())
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `mib` MiB at `at`; `None` (having said why) where mounting is not allowed.
fn mount_tmpfs(at: &Path, mib: u32) -> Option<Mount> {
    std::fs::create_dir_all(at).expect("mount point");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        ciphub_store::testkit::skip(
            "a_full_disk_loses_nothing_acknowledged_and_recovers: skipped: needs to mount a tmpfs \
             (run as root, or with CAP_SYS_ADMIN)",
        );
        return None;
    }
    Some(Mount(at.to_path_buf()))
}

/// Fills the file system of `dir` with one file until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // Whatever the last partial chunk left, take it too.
    while f.write_all(&[0u8; 512]).is_ok() {}
    // Then leave a little room, so that some writes fit before the disk is full.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.set_len(len.saturating_sub(256 * 1024));
    let _ = f.sync_all();
    path
}

fn report(n: usize) -> Value {
    json!({
        "title": format!("Pump station telemetry lost {n}"),
        "description": "Telemetry from two pump stations stopped.",
        "sectors": ["water"], "cause": "system-failure", "scope": ["ot"],
        "detected_at": "2026-04-01T08:00:00Z", "formation": "ministry",
        "answers": {"people-society": "may-affect", "systems": "provision-may"},
    })
}

#[tokio::test]
async fn a_full_disk_loses_nothing_acknowledged_and_recovers() {
    let scratch = tempfile::tempdir().expect("dir");
    let Some(_mount) = mount_tmpfs(&scratch.path().join("mnt"), 64) else {
        return;
    };
    let data = scratch.path().join("mnt").join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let url = sqlite_url_for_dir(&data);
    let (server, base, _) = start(&url, &["--demo"]);
    let issue = super::helpers::ciphub(&url, &["token", "issue", "--user", "demo-reporter"], None);
    assert!(issue.status.success(), "{}", super::helpers::err(&issue));
    let token = super::helpers::out(&issue).trim().to_owned();
    let client = reqwest::Client::new();
    let post = |n: usize| {
        client
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&token)
            .json(&report(n))
            .send()
    };
    let health = || async {
        let r = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        let code = r.status().as_u16();
        (code, r.json::<Value>().await.expect("json"))
    };
    assert_eq!(health().await.0, 200);

    // The disk fills up: every report and token answered 201 must be kept, and the others
    // refused.
    let filler = fill(&data);
    let mut kept = Vec::new();
    let mut tokens = Vec::new();
    // TAXII envelopes answered 202: their statuses and objects.
    let mut envelopes = Vec::new();
    let mut refused = 0;
    for n in 0..40 {
        // Every other one asks not to wait: answered pending, it must be held before that.
        let (ids, body) = envelope(n);
        let mut req = client
            .post(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/"
            ))
            .basic_auth("demo-reporter", Some(&token))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII);
        if n.is_multiple_of(2) {
            req = req.header("Prefer", "respond-async");
        }
        let r = req.body(body).send().await.expect("taxii post");
        match r.status().as_u16() {
            202 => {
                let status: Value = r.json().await.expect("status");
                envelopes.push((status["id"].as_str().expect("id").to_owned(), ids));
            }
            503 => {
                assert!(
                    r.headers().contains_key("retry-after"),
                    "a refused envelope says when to send it again"
                );
                refused += 1;
            }
            other => panic!(
                "envelope {n} answered {other}: {}",
                r.text().await.unwrap_or_default()
            ),
        }
        let r = post(n).await.expect("post");
        match r.status().as_u16() {
            201 => kept.push(
                r.json::<Value>().await.expect("json")["id"]
                    .as_i64()
                    .expect("id"),
            ),
            500 | 503 | 507 => refused += 1,
            other => panic!(
                "report {n} answered {other}: {}",
                r.text().await.unwrap_or_default()
            ),
        }
        let t = client
            .post(format!("{base}/api/v1/tokens"))
            .bearer_auth(&token)
            .json(&json!({"label": format!("automation {n}")}))
            .send()
            .await
            .expect("token");
        match t.status().as_u16() {
            201 => tokens.push(
                t.json::<Value>().await.expect("json")["token"]
                    .as_str()
                    .expect("token")
                    .to_owned(),
            ),
            500 | 503 | 507 => refused += 1,
            other => panic!("token {n} answered {other}"),
        }
    }
    assert!(
        refused > 0,
        "the disk never filled: {} reports kept",
        kept.len()
    );
    let (code, body) = health().await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "read-only", "{body}");
    assert!(
        body["problem"].as_str().is_some_and(|p| p.contains("full")),
        "{body}"
    );

    // Room again: the server recovers by itself, without a restart.
    std::fs::remove_file(&filler).expect("free space");
    let started = Instant::now();
    loop {
        if health().await.0 == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in 40..45 {
        let r = post(n).await.expect("post");
        assert_eq!(r.status(), 201, "after recovery");
        kept.push(
            r.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id"),
        );
    }

    // After a restart, every report that was answered 201 is there, every envelope answered
    // 202 is written (taken over from the killed process if it had not written it), and the
    // chain holds.
    drop(server);
    let (_server, base, _) = start(&url, &[]);
    let deadline = Instant::now() + ciphub_store::GONE_AFTER + Duration::from_secs(45);
    for (status, ids) in &envelopes {
        super::helpers::until_complete(&base, ("demo-reporter", &token), status, 20, deadline)
            .await;
        let r = client
            .get(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/{}/",
                ids[19]
            ))
            .basic_auth("demo-reporter", Some(&token))
            .header("Accept", TAXII)
            .send()
            .await
            .expect("object");
        assert_eq!(r.status(), 200, "an object of envelope {status} is gone");
    }
    for id in &kept {
        let r = client
            .get(format!("{base}/api/v1/reports/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "report {id} was acknowledged and is gone");
    }
    for t in &tokens {
        let r = client
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(t)
            .send()
            .await
            .expect("me");
        assert_eq!(r.status(), 200, "a token answered 201 does not work");
    }
    let verify = super::helpers::ciphub(&url, &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", super::helpers::err(&verify));
}

#[tokio::test]
async fn a_read_only_data_directory_fails_at_start_naming_it() {
    let scratch = tempfile::tempdir().expect("dir");
    let at = scratch.path().join("ro");
    let Some(_mount) = mount_tmpfs(&at, 8) else {
        return;
    };
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&at)
        .status()
        .expect("remount");
    assert!(remount.success());
    let started = Instant::now();
    let out = super::helpers::ciphub(&sqlite_url_for_dir(&at), &["migrate"], None);
    assert!(!out.status.success());
    let err = super::helpers::err(&out);
    assert!(
        err.contains(&at.display().to_string()) && err.contains("not writable"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for a time-out"
    );
}
