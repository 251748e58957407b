//! The OpenAPI document against the server it describes: schemathesis (PyPI) runs every check
//! on every operation of `ciphub serve --demo`, with a fixed seed and a bounded number of
//! examples, so a status, body or media type the document does not promise fails the test.

use std::process::Command;

use ciphub_store::testkit::TestDb;

use super::serve::start;

/// The schemathesis release the CI installs (`.ci/run`).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// A fixed seed, so a failure found once is found again.
const SEED: &str = "20260514";

/// Test cases per operation and phase: enough to reach every documented answer, small enough
/// for a minute or two on two cores.
const MAX_EXAMPLES: &str = "50";

fn has_schemathesis() -> bool {
    let ok = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        ciphub_store::testkit::skip(&format!(
            "schemathesis_finds_no_difference_between_document_and_server: skipped: needs \
             python3 with schemathesis (python3 -m pip install {SCHEMATHESIS})"
        ));
    }
    ok
}

#[tokio::test]
async fn schemathesis_finds_no_difference_between_document_and_server() {
    if !has_schemathesis() {
        return;
    }
    let db = TestDb::new().await.expect("db");
    // A few thousand requests with one token in under a minute: the default request limits
    // would answer most of them 429, and the run would test little else.
    let dir = tempfile::tempdir().expect("dir");
    let limits = dir.path().join("ciphub.toml");
    std::fs::write(
        &limits,
        "[limits]\napi_per_minute = 1000000\napi_burst = 1000000\n\
         address_per_minute = 1000000\naddress_burst = 1000000\n",
    )
    .expect("config");
    let limits = limits.to_str().expect("utf-8 path");
    let (_server, base, printed) = start(&db.url, &["--demo", "--config", limits]);
    // demo-admin: the coordinator's admin, who reads the registry, users and audit of the
    // whole community.
    let token = printed
        .lines()
        .find_map(|l| l.strip_prefix("API token:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the demo prints a token")
        .to_owned();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/schemathesis.toml"
    );
    // Schemathesis writes its state where it runs; a directory of its own keeps the tree clean.
    let cwd = tempfile::tempdir().expect("dir");
    let run = Command::new("python3")
        .current_dir(cwd.path())
        .args(["-m", "schemathesis.cli", "--config-file", config, "run"])
        .arg(format!("{base}/api/v1/openapi.json"))
        .args([
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
        ])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        // One worker, and no examples remembered from earlier runs: the same seed then makes
        // the same requests in the same order.
        .args(["--workers", "1", "--generation-database", "none"])
        // The live stream answers for 15 minutes, longer than any client waits for a body.
        .args(["--exclude-path", "/api/v1/stream"])
        // Revoking a token could revoke the one this run uses, and every later request would
        // be answered 401: the run would test nothing more.
        .args(["--exclude-operation-id", "revoke_token"])
        .args(["--no-color", "--output-truncate", "false"])
        .output()
        .expect("python3 runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "schemathesis found differences between the OpenAPI document and the server:\n{report}"
    );
    assert!(report.contains("Tested: "), "{report}");
}
