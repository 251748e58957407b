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
}
