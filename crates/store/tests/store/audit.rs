//! The audit chain on both backends: every change is recorded, and tampering is found.

use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::policy::AuditScope;
use ciphub_store::{By, NewUser};

use super::helpers::{jp_db, raw};

async fn with_users(db: &ciphub_store::testkit::TestDb) {
    for (org, name, role) in [
        ("nisc", "admin", Role::Admin),
        ("mhlw", "mhlw-admin", Role::Admin),
        ("water-ceptoar", "sec", Role::Secretariat),
    ] {
        let user = NewUser {
            org: Slug::parse(org).expect("slug"),
            name: UserName::parse(name).expect("name"),
            display_name: name.into(),
            roles: [role].into(),
            password_hash: None,
        };
        db.store
            .create_user(&user, &By::system())
            .await
            .expect("user");
    }
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let db = jp_db().await;
    with_users(&db).await;
    let n = db.store.audit_len().await.expect("len");
    assert!(n > 50);
    assert_eq!(db.store.audit_verify().await.expect("verify"), Ok(n));
}

#[tokio::test]
async fn an_edited_row_is_named() {
    let db = jp_db().await;
    with_users(&db).await;
    let pool = raw(&db).await;
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_log WHERE object_id = 'sec'")
        .fetch_one(&pool)
        .await
        .expect("entry");
    sqlx::query("UPDATE audit_log SET actor_user = 'mallory' WHERE seq = $1")
        .bind(seq)
        .execute(&pool)
        .await
        .expect("tamper");
    let broken = db.store.audit_verify().await.expect("verify").unwrap_err();
    assert_eq!(broken.seq, seq);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
}

#[tokio::test]
async fn a_deleted_row_is_found() {
    let db = jp_db().await;
    with_users(&db).await;
    let pool = raw(&db).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 10")
        .execute(&pool)
        .await
        .expect("tamper");
    let broken = db.store.audit_verify().await.expect("verify").unwrap_err();
    assert_eq!(broken.seq, 10);
    let len = db.store.audit_len().await.expect("len");
    sqlx::query("DELETE FROM audit_log WHERE seq >= 10")
        .execute(&pool)
        .await
        .expect("tamper");
    let broken = db.store.audit_verify().await.expect("verify").unwrap_err();
    assert_eq!(broken.seq, 10);
    assert!(
        broken.reason.contains(&format!("records {len} entries")),
        "{}",
        broken.reason
    );
}

#[tokio::test]
async fn scopes_limit_what_is_read() {
    let db = jp_db().await;
    with_users(&db).await;
    let mhlw_admin = db.store.get_user("mhlw-admin").await.expect("user").actor();
    let by = By::actor(&mhlw_admin);
    let target = UserName::parse("mhlw-admin").expect("name");
    db.store
        .create_token(&target, "h", "mine", None, &by)
        .await
        .expect("token");
    let all = db
        .store
        .audit_page(&AuditScope::Everything, 0, 10_000)
        .await
        .expect("all");
    let org = db
        .store
        .audit_page(&AuditScope::Org(Slug::parse("mhlw").expect("slug")), 0, 100)
        .await
        .expect("org");
    // The organization reads its own acts and what the system did to its people.
    assert_eq!(org.entries.len(), 2);
    assert_eq!(org.entries[0].action, "user.create");
    assert_eq!(org.entries[0].subject_org.as_deref(), Some("mhlw"));
    assert_eq!(org.entries[1].action, "token.issue");
    assert!(all.entries.len() > org.entries.len());
    let own = db
        .store
        .audit_page(&AuditScope::OwnUser(mhlw_admin.user_id), 0, 100)
        .await
        .expect("own");
    assert_eq!(own.entries, org.entries[1..]);
    // Paging walks forward without gaps.
    let first = db
        .store
        .audit_page(&AuditScope::Everything, 0, 5)
        .await
        .expect("page");
    assert_eq!(first.next_after, Some(5));
    let second = db
        .store
        .audit_page(&AuditScope::Everything, 5, 5)
        .await
        .expect("page");
    assert_eq!(second.entries[0].seq, 6);
}

#[tokio::test]
async fn long_chains_verify_across_pages() {
    let db = ciphub_store::testkit::TestDb::new().await.expect("db");
    let events: Vec<ciphub_store::AuditEvent> = (0..12_000)
        .map(|i| ciphub_store::AuditEvent {
            action: "report.update".into(),
            object_type: "report".into(),
            object_id: format!("R-{i}"),
            detail: serde_json::json!({"n": i, "text": "「重要インフラ」 \"quoted\" \\ back"}),
        })
        .collect();
    db.store
        .record_events(&By::system(), &events)
        .await
        .expect("events");
    assert_eq!(db.store.audit_verify().await.expect("verify"), Ok(12_000));
    let pool = raw(&db).await;
    sqlx::query("UPDATE audit_log SET object_id = 'R-x' WHERE seq = 7001")
        .execute(&pool)
        .await
        .expect("tamper");
    let broken = db.store.audit_verify().await.expect("verify").unwrap_err();
    assert_eq!(broken.seq, 7001);
}

#[tokio::test]
async fn each_scope_in_sql_matches_the_domain_rule() {
    use ciphub_domain::policy::audit::{COMMUNITY_ACTIONS, in_scope};
    let db = ciphub_store::testkit::TestDb::new().await.expect("db");
    let pool = raw(&db).await;
    let orgs = [None, Some("nisc"), Some("water-co"), Some("bank")];
    let mut actions: Vec<&str> = COMMUNITY_ACTIONS.to_vec();
    actions.extend([
        "session.login",
        "token.issue",
        "report.file",
        "alert.ack",
        "user.create",
    ]);
    let mut seq = 0i64;
    for actor in orgs {
        for subject in orgs {
            for action in &actions {
                for restricted in [0i64, 1] {
                    seq += 1;
                    sqlx::query(
                        "INSERT INTO audit_log (seq, at_us, actor_user, actor_org, action, object_type, \
                         object_id, detail, prev_hash, hash, restricted, subject_org, salt) \
                         VALUES ($1, 0, $2, $3, $4, 'x', '1', '{}', '', '', $5, $6, NULL)",
                    )
                    .bind(seq)
                    .bind(actor.map(|o| format!("{o}-user")))
                    .bind(actor)
                    .bind(*action)
                    .bind(restricted)
                    .bind(subject)
                    .execute(&pool)
                    .await
                    .expect("insert");
                }
            }
        }
    }
    let everything = db
        .store
        .audit_page(&AuditScope::Everything, 0, 10_000)
        .await
        .expect("all")
        .entries;
    assert_eq!(everything.len() as i64, seq);
    let mut scopes = vec![AuditScope::Everything];
    for org in ["nisc", "water-co", "bank"] {
        let slug = Slug::parse(org).expect("slug");
        scopes.push(AuditScope::Community(slug.clone()));
        scopes.push(AuditScope::Org(slug));
    }
    for scope in scopes {
        let from_sql = db
            .store
            .audit_page(&scope, 0, 10_000)
            .await
            .expect("page")
            .entries;
        let by_rule: Vec<_> = everything
            .iter()
            .filter(|e| in_scope(&scope, None, e))
            .cloned()
            .collect();
        assert_eq!(from_sql, by_rule, "{scope:?}");
    }
}
