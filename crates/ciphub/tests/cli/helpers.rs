//! Running the binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `ciphub ARGS --database-url URL` with `stdin`, and returns what it did.
pub fn ciphub(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ciphub"));
    cmd.args(args)
        .env("CIPHUB_DATABASE_URL", url)
        .env_remove("CIPHUB_DATA_DIR")
        .env_remove("CIPHUB_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("ciphub runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ciphub finishes")
}

/// Standard output as text.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads a TAXII status of `base` as `user` (basic credentials with `token`) until it is
/// `complete`, checking on the way that it counts every one of its `objects` objects and is
/// otherwise `pending`; fails past `deadline`. Answers whether it was still pending when first
/// read.
pub async fn until_complete(
    base: &str,
    (user, token): (&str, &str),
    status_id: &str,
    objects: usize,
    deadline: std::time::Instant,
) -> bool {
    let client = reqwest::Client::new();
    let mut was_pending = false;
    loop {
        let status: serde_json::Value = client
            .get(format!("{base}/taxii2/ciphub/status/{status_id}/"))
            .basic_auth(user, Some(token))
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json");
        let counted = ["success_count", "failure_count", "pending_count"]
            .iter()
            .filter_map(|k| status[k].as_u64())
            .sum::<u64>();
        assert_eq!(counted, objects as u64, "status {status_id}: {status}");
        if status["status"] == "complete" {
            assert_eq!(status["success_count"], objects, "{status}");
            return was_pending;
        }
        assert_eq!(status["status"], "pending", "{status_id}: {status}");
        was_pending = true;
        assert!(
            std::time::Instant::now() < deadline,
            "status {status_id} still pending long after the restart: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
