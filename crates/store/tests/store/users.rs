//! Users, tokens and sessions on both backends.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_store::testkit::TestDb;
use ciphub_store::{
    By, ManualClock, NewUser, StoreError, TokenLookup, TokenRecord, UserPatch, UserRecord,
};

use super::helpers::{jp_db, with_jp_profile};

fn new_user(org: &str, name: &str, roles: &[Role]) -> NewUser {
    NewUser {
        org: Slug::parse(org).expect("slug"),
        name: UserName::parse(name).expect("name"),
        display_name: name.to_uppercase(),
        roles: roles.iter().copied().collect(),
        password_hash: Some("$argon2id$fake".into()),
    }
}

/// A new analyst of `org` and a token of theirs whose hash is `hash`.
async fn analyst_with_token(
    db: &TestDb,
    org: &str,
    user: &str,
    hash: &str,
) -> (UserName, TokenRecord) {
    db.store
        .create_user(&new_user(org, user, &[Role::Analyst]), &By::system())
        .await
        .expect("created");
    let name = UserName::parse(user).expect("name");
    let token = db
        .store
        .create_token(&name, hash, "cli", None, &By::system())
        .await
        .expect("token");
    (name, token)
}

/// What the store says of the token whose hash is `hash`.
async fn lookup(db: &TestDb, hash: &str) -> TokenLookup {
    db.store.lookup_token(hash).await.expect("lookup")
}

/// Changes a user's record as the system would.
async fn patch_user(db: &TestDb, name: &UserName, patch: UserPatch, what: &str) -> UserRecord {
    db.store
        .update_user(name, &patch, &By::system())
        .await
        .expect(what)
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
async fn every_user_name_of_an_organization_is_listed_disabled_ones_too() {
    let db = jp_db().await;
    for (org, name) in [
        ("mhlw", "tanaka"),
        ("mhlw", "abe"),
        ("water-ceptoar", "sato"),
    ] {
        db.store
            .create_user(&new_user(org, name, &[Role::Viewer]), &By::system())
            .await
            .expect("created");
    }
    let abe = UserName::parse("abe").expect("name");
    let disabled = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    patch_user(&db, &abe, disabled, "disabled").await;
    let mhlw = Slug::parse("mhlw").expect("slug");
    assert_eq!(
        db.store.user_names(&mhlw).await.expect("names"),
        [
            ("abe".to_owned(), "ABE".to_owned()),
            ("tanaka".to_owned(), "TANAKA".to_owned())
        ]
    );
}

#[tokio::test]
async fn roles_change_and_disabling_blocks_tokens() {
    let db = jp_db().await;
    let (name, rec) = analyst_with_token(&db, "nisc", "ito", "hash-1").await;
    assert!(matches!(lookup(&db, "hash-1").await, TokenLookup::Valid(_)));
    let patched = patch_user(
        &db,
        &name,
        UserPatch {
            roles: Some([Role::Coordinator, Role::Admin].into()),
            ..UserPatch::default()
        },
        "patched",
    )
    .await;
    assert!(patched.actor().is_instance_admin());
    patch_user(
        &db,
        &name,
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
        "disabled",
    )
    .await;
    assert_eq!(lookup(&db, "hash-1").await, TokenLookup::UserDisabled);
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
    let db = with_jp_profile(TestDb::with_clock(clock.clone()).await.expect("db")).await;
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
    assert!(matches!(lookup(&db, "h-exp").await, TokenLookup::Valid(_)));
    clock.advance(TimeDelta::days(1));
    assert_eq!(lookup(&db, "h-exp").await, TokenLookup::Expired);
    let revoked = db
        .store
        .revoke_token(keep.id, &By::system())
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked, Some(start + TimeDelta::days(1)));
    assert_eq!(lookup(&db, "h-rev").await, TokenLookup::Revoked);
    assert_eq!(lookup(&db, "nope").await, TokenLookup::Unknown);

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

/// A token found valid is cached for a moment; a change in this process ends that at once.
#[tokio::test]
async fn changes_to_credentials_take_effect_at_once_despite_the_token_cache() {
    let db = jp_db().await;
    let (name, token) = analyst_with_token(&db, "ipa", "mori", "h-mori").await;
    let roles = |l: TokenLookup| match l {
        TokenLookup::Valid(u) => u.roles.iter().copied().collect::<Vec<_>>(),
        other => panic!("not valid: {other:?}"),
    };
    // Twice: the second answer comes from the cache.
    for _ in 0..2 {
        let l = lookup(&db, "h-mori").await;
        assert_eq!(roles(l), vec![Role::Analyst]);
    }
    patch_user(
        &db,
        &name,
        UserPatch {
            roles: Some([Role::Analyst, Role::Admin].into()),
            ..UserPatch::default()
        },
        "roles",
    )
    .await;
    let l = lookup(&db, "h-mori").await;
    assert_eq!(roles(l).len(), 2, "a role change is seen at once");
    patch_user(
        &db,
        &name,
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
        "disable",
    )
    .await;
    assert_eq!(lookup(&db, "h-mori").await, TokenLookup::UserDisabled);
    patch_user(
        &db,
        &name,
        UserPatch {
            disabled: Some(false),
            ..UserPatch::default()
        },
        "enable",
    )
    .await;
    assert!(matches!(lookup(&db, "h-mori").await, TokenLookup::Valid(_)));
    db.store
        .revoke_token(token.id, &By::system())
        .await
        .expect("revoke");
    assert_eq!(lookup(&db, "h-mori").await, TokenLookup::Revoked);
}

/// Another process (a second store on the same database) revokes a token this one has
/// cached: on PostgreSQL the `credentials` event drops the cache as soon as it arrives; on
/// SQLite, which has no events between processes, the cache lives at most a second.
#[tokio::test]
async fn a_revocation_by_another_process_ends_the_cached_token() {
    let db = jp_db().await;
    let other = ciphub_store::Store::connect(&db.url)
        .await
        .expect("second store");
    let (_, token) = analyst_with_token(&db, "ipa", "ueda", "h-ueda").await;
    let listener = {
        let store = db.store.clone();
        tokio::spawn(async move { store.listen().await })
    };
    db.store.wait_listening().await;
    let mut events = db.store.subscribe();
    assert!(matches!(lookup(&db, "h-ueda").await, TokenLookup::Valid(_)));
    other
        .revoke_token(token.id, &By::system())
        .await
        .expect("revoke elsewhere");
    match db.store.backend() {
        ciphub_store::Backend::Postgres => loop {
            let e = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
                .await
                .expect("the event arrives")
                .expect("event");
            if e == ciphub_store::Event::Credentials {
                break;
            }
        },
        ciphub_store::Backend::Sqlite => {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
    }
    assert_eq!(lookup(&db, "h-ueda").await, TokenLookup::Revoked);
    listener.abort();
    other.close().await;
}
