//! `ciphub serve --demo` as a new user runs it: it prints how to log in, and the API answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ciphub_store::testkit::TestDb;
use serde_json::Value;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_serves_the_registry_and_prints_logins() {
    let db = TestDb::new().await.expect("db");
    let child = Command::new(env!("CARGO_BIN_EXE_ciphub"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("CIPHUB_DATABASE_URL", &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut server = Server(child);
    let stdout = server.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let (mut base, mut token, mut printed) = (None, None, String::new());
    while base.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("serve did not start; it printed:\n{printed}"));
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("API token:") {
            token = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("ciphub is serving on ") {
            base = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    for user in [
        "demo-admin",
        "demo-coordinator",
        "demo-secretariat",
        "demo-reporter",
        "demo-executive",
    ] {
        assert!(printed.contains(user), "{user} missing from:\n{printed}");
    }
    assert!(printed.contains("ciphub-demo-password"), "{printed}");
    let (base, token) = (base.expect("url"), token.expect("token"));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let sectors: Vec<Value> = get("/api/v1/sectors")
        .await
        .expect("sectors")
        .json()
        .await
        .expect("json");
    assert_eq!(sectors.len(), 14);
    let ceptoars: Vec<Value> = get("/api/v1/organizations?kind=ceptoar")
        .await
        .expect("orgs")
        .json()
        .await
        .expect("json");
    assert_eq!(ceptoars.len(), 19);
    let operators: Vec<Value> = get("/api/v1/organizations?kind=operator")
        .await
        .expect("orgs")
        .json()
        .await
        .expect("json");
    assert_eq!(operators.len(), 19 * 3);
    // The demo password logs in.
    let login = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"user": "demo-reporter", "password": "ciphub-demo-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);

    // An operator's automation files a report with `ciphub report submit`.
    let issue = super::helpers::ciphub(
        &db.url,
        &["token", "issue", "--user", "demo-reporter"],
        None,
    );
    let reporter_token = super::helpers::out(&issue).trim().to_owned();
    let mut file = tempfile::NamedTempFile::new().expect("file");
    std::io::Write::write_all(
        &mut file,
        br#"title = "Pump station telemetry lost"
description = "Telemetry from two pump stations stopped."
sectors = ["water"]
cause = "system-failure"
scope = ["ot"]
detected_at = "2026-04-01T08:00:00Z"
formation = "ceptoar-anonymous"
[answers]
people-society = "may-affect"
systems = "provision-may"
"#,
    )
    .expect("write");
    let path = file.path().to_str().expect("path").to_owned();
    let submit = super::helpers::ciphub(
        &db.url,
        &[
            "report",
            "submit",
            &path,
            "--url",
            &base,
            "--token",
            &reporter_token,
        ],
        None,
    );
    let printed = super::helpers::out(&submit);
    assert!(submit.status.success(), "{}", super::helpers::err(&submit));
    assert!(printed.contains("filed: level 2 Medium"), "{printed}");
    assert!(
        printed.contains("to water-ceptoar (ceptoar-secretariat)"),
        "{printed}"
    );
    let bad = super::helpers::ciphub(
        &db.url,
        &[
            "report",
            "submit",
            "-",
            "--url",
            &base,
            "--token",
            &reporter_token,
        ],
        Some(
            r#"{"title": "x", "sectors": ["wter"], "cause": "other", "scope": ["it"], "detected_at": "2026-04-01T08:00:00Z", "formation": "ministry", "answers": {"people-society": "none", "systems": "none"}}"#,
        ),
    );
    assert!(!bad.status.success());
    assert!(
        super::helpers::err(&bad).contains("(sectors[0])"),
        "{}",
        super::helpers::err(&bad)
    );
}
