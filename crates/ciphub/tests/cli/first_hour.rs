//! What a new user meets in the first hour at the command line: help that names every role and
//! logs without colour codes in a file.

use std::process::{Command, Stdio};

use ciphub_domain::identity::Role;
use ciphub_store::testkit::TestDb;

use super::helpers::{ciphub, err, out};

#[test]
fn user_add_help_names_every_role() {
    let help = ciphub("sqlite::memory:", &["user", "add", "--help"], None);
    assert!(help.status.success(), "{}", err(&help));
    let text = out(&help);
    for role in Role::ALL {
        assert!(text.contains(role.as_str()), "{role} missing from:\n{text}");
    }
}

#[tokio::test]
async fn text_logs_to_a_file_have_no_colour_codes() {
    let db = TestDb::new().await.expect("db");
    let o = Command::new(env!("CARGO_BIN_EXE_ciphub"))
        .args(["--log-format", "text", "init"])
        .env("CIPHUB_DATABASE_URL", &db.url)
        .env("CIPHUB_LOG", "debug")
        .env_remove("CIPHUB_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("ciphub runs");
    assert!(o.status.success(), "{}", err(&o));
    let logs = err(&o);
    assert!(logs.contains("DEBUG"), "no log lines to check:\n{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in:\n{logs}");
}
