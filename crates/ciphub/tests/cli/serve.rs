//! `ciphub serve --demo` as a new user runs it: it prints how to log in, and the API answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ciphub_store::testkit::TestDb;
use serde_json::Value;

pub struct Server(Child);

impl Server {
    /// Asks the server to stop (SIGTERM) and waits for it to exit, for up to `within`;
    /// returns how long it took, or `None` if it had not exited by then (it is then killed).
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let asked = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM could not be sent");
        while asked.elapsed() < within {
            if self.0.try_wait().expect("wait").is_some() {
                return Some(asked.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ciphub serve ARGS` on `url` at a free port; returns it with its base URL and what
/// it printed up to serving.
pub fn start(url: &str, args: &[&str]) -> (Server, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_ciphub"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("CIPHUB_DATABASE_URL", url)
        .env_remove("CIPHUB_CONFIG")
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
    let mut printed = String::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("serve did not start; it printed:\n{printed}"));
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("ciphub is serving on ") {
            let base = rest.split_whitespace().next().expect("url").to_owned();
            return (server, base, printed);
        }
    }
}

#[tokio::test]
async fn demo_serves_the_registry_and_prints_logins() {
    let db = TestDb::new().await.expect("db");
    let (_server, base, printed) = start(&db.url, &["--demo"]);
    let token = printed
        .lines()
        .find_map(|l| l.strip_prefix("API token:"))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
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
    let token = token.expect("token");
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
    // Detected in April, filed now: the server says the initial report is late, and the
    // command says so, with the stage and by how much.
    let warned = super::helpers::err(&submit);
    assert!(
        warned.contains("warning: the initial report is late by ") && warned.contains(" days"),
        "{warned}"
    );
    // A report detected just now is on time and draws no warning.
    let now = chrono::Utc::now().to_rfc3339();
    let on_time = super::helpers::ciphub(
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
        Some(&format!(
            r#"{{"title": "x", "sectors": ["water"], "cause": "other", "scope": ["it"], "detected_at": "{now}", "formation": "ministry", "answers": {{"people-society": "none", "systems": "none"}}}}"#
        )),
    );
    assert!(
        on_time.status.success(),
        "{}",
        super::helpers::err(&on_time)
    );
    assert!(
        !super::helpers::err(&on_time).contains("warning"),
        "{}",
        super::helpers::err(&on_time)
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

/// Two `ciphub serve` processes on one PostgreSQL database: an alert sent through either one
/// reaches the live streams of both.
#[tokio::test]
async fn two_servers_on_one_postgres_database_stream_each_others_alerts() {
    let Some(db) = TestDb::postgres_or_skip("two_servers_on_one_postgres_database").await else {
        return;
    };
    let (_a, base_a, printed) = start(&db.url, &["--demo"]);
    let (_b, base_b, _) = start(&db.url, &[]);
    let token = printed
        .lines()
        .find_map(|l| l.strip_prefix("API token:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("admin token")
        .to_owned();
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for base in [&base_a, &base_b] {
        let mut resp = client
            .get(format!("{base}/api/v1/stream"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), 200);
        let first = next_event(&mut resp, &mut String::new()).await;
        assert_eq!(first.0, "ready");
        streams.push((resp, String::new()));
    }
    // One alert through each server; both streams see both.
    let mut sent = Vec::new();
    for base in [&base_a, &base_b] {
        let resp = client
            .post(format!("{base}/api/v1/alerts"))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({"title": format!("via {base}"), "body": "b", "tlp": "TLP:GREEN",
                "audience": {"kind": "sectors", "values": ["water"]}}),
            )
            .send()
            .await
            .expect("alert");
        assert_eq!(resp.status(), 201);
        sent.push(
            resp.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id"),
        );
    }
    // Ids are random: compare as sets.
    sent.sort_unstable();
    for (resp, buf) in &mut streams {
        let mut seen = Vec::new();
        while seen.len() < sent.len() {
            let (event, data) = next_event(resp, buf).await;
            if event == "alert" {
                seen.push(data["id"].as_i64().expect("id"));
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, sent);
    }
}

/// The next server-sent event with data, within 20 s.
async fn next_event(resp: &mut reqwest::Response, buf: &mut String) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .unwrap_or("message")
                .trim()
                .to_owned();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if !data.is_empty() {
                return (event, serde_json::from_str(&data).expect("json"));
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("an event within 20 s")
            .expect("read")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}
