//! init, user add, token issue: the administrator's first steps.

use ciphub_store::testkit::TestDb;

use super::helpers::{ciphub, err, out};

#[tokio::test]
async fn init_adds_users_and_issues_tokens() {
    let db = TestDb::new().await.expect("db");
    let init = ciphub(&db.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    assert!(out(&init).contains("profile jp-cip-4"), "{}", out(&init));
    // Loading again changes nothing.
    let again = ciphub(&db.url, &["init", "--profile", "jp-cip-4"], None);
    assert!(
        out(&again).contains("0 added, 0 updated"),
        "{}",
        out(&again)
    );

    let add = ciphub(
        &db.url,
        &[
            "user",
            "add",
            "--org",
            "nisc",
            "--name",
            "ops",
            "--role",
            "admin,coordinator",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    assert!(add.status.success(), "{}", err(&add));
    let issue = ciphub(
        &db.url,
        &["token", "issue", "--user", "ops", "--expires", "30d"],
        None,
    );
    assert!(issue.status.success(), "{}", err(&issue));
    let token = out(&issue);
    // Only the token, on one line.
    assert_eq!(token.lines().count(), 1, "{token}");
    assert!(token.starts_with("chp_"), "{token}");
    let user = db.store.get_user("ops").await.expect("user");
    assert!(user.actor().is_instance_admin());
    let tokens = db.store.list_tokens(&user.name).await.expect("tokens");
    assert_eq!(tokens.len(), 1);
    let days = (tokens[0].expires.expect("expiry") - tokens[0].created).num_days();
    assert_eq!(days, 30);
}

#[tokio::test]
async fn bad_arguments_say_what_is_wrong() {
    let db = TestDb::new().await.expect("db");
    assert!(ciphub(&db.url, &["init"], None).status.success());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "user", "add", "--org", "nowhere", "--name", "a1", "--role", "viewer",
            ],
            "organization \"nowhere\" does not exist",
        ),
        (
            &[
                "user", "add", "--org", "nisc", "--name", "a1", "--role", "root",
            ],
            "unknown role \"root\"",
        ),
        (
            &[
                "user", "add", "--org", "tokyo", "--name", "A B", "--role", "viewer",
            ],
            "--name",
        ),
        (
            &["token", "issue", "--user", "ghost"],
            "user \"ghost\" does not exist",
        ),
        (
            &["init", "--profile", "atlantis"],
            "no profile \"atlantis\"",
        ),
    ];
    for (args, want) in cases {
        let o = ciphub(&db.url, args, None);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(err(&o).contains(want), "{args:?}: {}", err(&o));
    }
    let o = ciphub(
        &db.url,
        &["token", "issue", "--user", "ghost", "--expires", "5y"],
        None,
    );
    assert!(err(&o).contains("--expires"), "{}", err(&o));
    let o = ciphub(
        &db.url,
        &[
            "user",
            "add",
            "--org",
            "nisc",
            "--name",
            "shorty",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(err(&o).contains("too short"), "{}", err(&o));
    assert!(db.store.list_users(None).await.expect("users").is_empty());
}
