//! What a new user meets in the first hour at the command line: help that names every role,
//! tokens that can be listed and revoked, logs without colour codes in a file, a MISP export
//! that says what it leaves out, and a restarted demo that counts what is really there.

use std::process::{Command, Stdio};

use ciphub_domain::Slug;
use ciphub_domain::identity::Role;
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_store::By;
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
async fn tokens_are_listed_without_secrets_and_revoked_by_their_listed_id() {
    let db = TestDb::new().await.expect("db");
    assert!(ciphub(&db.url, &["init"], None).status.success());
    for name in ["ops", "auditor"] {
        let add = ciphub(
            &db.url,
            &[
                "user", "add", "--org", "nisc", "--name", name, "--role", "viewer",
            ],
            None,
        );
        assert!(add.status.success(), "{}", err(&add));
    }
    let issue = |user: &str, label: &str| {
        let o = ciphub(
            &db.url,
            &["token", "issue", "--user", user, "--label", label],
            None,
        );
        assert!(o.status.success(), "{}", err(&o));
        out(&o).trim().to_owned()
    };
    let secret = issue("ops", "nightly-sync");
    issue("auditor", "audit-script");

    let list = ciphub(&db.url, &["token", "list"], None);
    assert!(list.status.success(), "{}", err(&list));
    let text = out(&list);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id\tuser\tlabel\tcreated\texpires\tlast_used\tstate")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        !text.contains(&secret),
        "the token itself is listed:\n{text}"
    );
    assert!(!text.contains("chp_"), "{text}");

    // One user's tokens, as `token revoke` wants their id.
    let mine = ciphub(&db.url, &["token", "list", "--user", "ops"], None);
    assert!(mine.status.success(), "{}", err(&mine));
    let mine = out(&mine);
    let row: Vec<&str> = mine.lines().nth(1).expect("a row").split('\t').collect();
    assert_eq!(mine.lines().count(), 2, "{mine}");
    assert_eq!(row[1], "ops");
    assert_eq!(row[2], "nightly-sync");
    assert_eq!(row[5], "-", "never used: {mine}");
    assert_eq!(row[6], "active");
    let id = row[0];
    let revoke = ciphub(&db.url, &["token", "revoke", id], None);
    assert!(revoke.status.success(), "{}", err(&revoke));
    let after = out(&ciphub(&db.url, &["token", "list", "--user", "ops"], None));
    let row: Vec<&str> = after.lines().nth(1).expect("a row").split('\t').collect();
    assert_eq!((row[0], row[6]), (id, "revoked"), "{after}");
    // The other user's token is untouched.
    let theirs = out(&ciphub(
        &db.url,
        &["token", "list", "--user", "auditor"],
        None,
    ));
    assert!(theirs.lines().nth(1).expect("a row").ends_with("\tactive"));

    let ghost = ciphub(&db.url, &["token", "list", "--user", "ghost"], None);
    assert!(!ghost.status.success());
    assert!(
        err(&ghost).contains("user \"ghost\" does not exist"),
        "{}",
        err(&ghost)
    );
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

#[tokio::test]
async fn misp_export_says_alerts_are_left_out() {
    let db = TestDb::new().await.expect("db");
    assert!(ciphub(&db.url, &["init"], None).status.success());
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("path");
    let o = ciphub(&db.url, &["misp", "export", path], None);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("wrote 0 events"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("alerts are not exported: ")),
        "{text}"
    );
}

/// Data seeded earlier with more demo operators than the scale asked for now (here one more
/// than the small scale's 57): the demo counts the operators the store holds.
#[tokio::test]
async fn a_restarted_demo_counts_the_operators_that_are_there() {
    let db = TestDb::new().await.expect("db");
    assert!(ciphub(&db.url, &["init"], None).status.success());
    let slug = |s: &str| Slug::parse(s).expect("slug");
    let extra = Organization {
        slug: slug("demo-water-op-0004"),
        kind: OrgKind::Operator,
        name_en: "Demo Water operator 0004".into(),
        name_ja: None,
        abbrev: None,
        sectors: vec![slug("water")],
        services: vec![],
        responsible_for: vec![],
        member_of: vec![slug("water-ceptoar")],
        members_published: None,
        members_count: None,
    };
    db.store
        .add_organizations(&[extra], &By::system())
        .await
        .expect("extra operator");
    let (_server, _base, printed) = super::serve::start(&db.url, &["--demo"]);
    assert!(
        printed.contains("ciphub demo: 58 demo operators;"),
        "{printed}"
    );
}
