//! Users, tokens and sessions on both backends.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::shipped_profile;
use ciphub_store::testkit::TestDb;
use ciphub_store::{By, ManualClock, NewUser, StoreError, TokenLookup, UserPatch};

use super::helpers::jp_db;

fn new_user(org: &str, name: &str, roles: &[Role]) -> NewUser {
    NewUser {
        org: Slug::parse(org).expect("slug"),
        name: UserName::parse(name).expect("name"),
        display_name: name.to_uppercase(),
        roles: roles.iter().copied().collect(),
        password_hash: Some("$argon2id$fake".into()),
    }
}

#[tokio::test]
async fn users_are_created_once_with_fitting_roles() {
    let db = jp_db().await;
    let u = db
        .store
        .create_user(
            &new_user("water-ceptoar", "sato", &[Role::Secretariat]),
            &By::system(),
        )
        .await
        .expect("created");
    assert_eq!(u.org.as_str(), "water-ceptoar");
    let before = db.store.audit_len().await.expect("len");

    let dup = db
        .store
        .create_user(&new_user("mhlw", "sato", &[Role::Analyst]), &By::system())
        .await
        .unwrap_err();
    assert!(
        matches!(dup, StoreError::Conflict { what: "user", .. }),
        "{dup}"
    );

    let unfit = db
        .store
        .create_user(
            &new_user("mhlw", "suzuki", &[Role::Secretariat]),
            &By::system(),
        )
        .await
        .unwrap_err();
    assert!(unfit.to_string().contains("secretariat"), "{unfit}");

    let nowhere = db
        .store
        .create_user(
            &new_user("no-such-org", "kato", &[Role::Viewer]),
            &By::system(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        nowhere,
        StoreError::NotFound {
            what: "organization",
            ..
        }
    ));

    assert_eq!(db.store.audit_len().await.expect("len"), before);
    assert_eq!(db.store.list_users(None).await.expect("list").len(), 1);
}

#[tokio::test]
async fn roles_change_and_disabling_blocks_tokens() {
    let db = jp_db().await;
    db.store
        .create_user(&new_user("nisc", "ito", &[Role::Analyst]), &By::system())
        .await
        .expect("created");
    let name = UserName::parse("ito").expect("name");
    let rec = db
        .store
        .create_token(&name, "hash-1", "ci", None, &By::system())
        .await
        .expect("token");
    assert!(matches!(
        db.store.lookup_token("hash-1").await.expect("lookup"),
        TokenLookup::Valid(_)
    ));
    let patched = db
        .store
        .update_user(
            &name,
            &UserPatch {
                roles: Some([Role::Coordinator, Role::Admin].into()),
                ..UserPatch::default()
            },
            &By::system(),
        )
        .await
        .expect("patched");
    assert!(patched.actor().is_instance_admin());
    db.store
        .update_user(
            &name,
            &UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            &By::system(),
        )
        .await
        .expect("disabled");
    assert_eq!(
        db.store.lookup_token("hash-1").await.expect("lookup"),
        TokenLookup::UserDisabled
    );
    assert_eq!(
        db.store.list_tokens(&name).await.expect("tokens")[0].id,
        rec.id
    );
}

#[tokio::test]
async fn tokens_expire_and_revoke() {
    let start = Utc
        .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
        .single()
        .expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let db = TestDb::with_clock(clock.clone()).await.expect("db");
    let profile = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    db.store
        .apply_profile(&profile, &By::system())
        .await
        .expect("profile");
    db.store
        .create_user(&new_user("ipa", "kimura", &[Role::Analyst]), &By::system())
        .await
        .expect("created");
    let name = UserName::parse("kimura").expect("name");
    db.store
        .create_token(
            &name,
            "h-exp",
            "short",
            Some(TimeDelta::days(1)),
            &By::system(),
        )
        .await
        .expect("token");
    let keep = db
        .store
        .create_token(&name, "h-rev", "long", None, &By::system())
        .await
        .expect("token");
    assert!(matches!(
        db.store.lookup_token("h-exp").await.expect("lookup"),
        TokenLookup::Valid(_)
    ));
    clock.advance(TimeDelta::days(1));
    assert_eq!(
        db.store.lookup_token("h-exp").await.expect("lookup"),
        TokenLookup::Expired
    );
    let revoked = db
        .store
        .revoke_token(keep.id, &By::system())
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked, Some(start + TimeDelta::days(1)));
    assert_eq!(
        db.store.lookup_token("h-rev").await.expect("lookup"),
        TokenLookup::Revoked
    );
    assert_eq!(
        db.store.lookup_token("nope").await.expect("lookup"),
        TokenLookup::Unknown
    );

    let user = db.store.get_user("kimura").await.expect("user");
    db.store
        .create_session(&user, "s-1", start + TimeDelta::days(2))
        .await
        .expect("session");
    assert!(matches!(
        db.store.lookup_session("s-1").await.expect("lookup"),
        TokenLookup::Valid(_)
    ));
    clock.advance(TimeDelta::days(1));
    assert_eq!(
        db.store.lookup_session("s-1").await.expect("lookup"),
        TokenLookup::Expired
    );
}
