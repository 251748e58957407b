//! `ciphub audit verify` finds an edit made directly in the database.

use ciphub_store::testkit::TestDb;

use super::helpers::{ciphub, err, out};

#[tokio::test]
async fn verify_names_the_first_edited_entry() {
    let db = TestDb::new().await.expect("db");
    assert!(ciphub(&db.url, &["init"], None).status.success());
    for name in ["alice", "bob", "carol"] {
        let o = ciphub(
            &db.url,
            &[
                "user", "add", "--org", "ipa", "--name", name, "--role", "analyst",
            ],
            None,
        );
        assert!(o.status.success(), "{}", err(&o));
    }
    let ok = ciphub(&db.url, &["audit", "verify"], None);
    assert!(ok.status.success(), "{}", out(&ok));
    assert!(out(&ok).contains("intact"), "{}", out(&ok));

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("raw");
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_log WHERE object_id = 'bob'")
        .fetch_one(&pool)
        .await
        .expect("bob's entry");
    sqlx::query(
        "UPDATE audit_log SET detail = '{\"org\":\"nisc\",\"roles\":[\"admin\"]}' WHERE seq = $1",
    )
    .bind(seq)
    .execute(&pool)
    .await
    .expect("tamper");
    let broken = ciphub(&db.url, &["audit", "verify"], None);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        out(&broken).contains(&format!("broken at entry {seq}")),
        "{}",
        out(&broken)
    );
}
