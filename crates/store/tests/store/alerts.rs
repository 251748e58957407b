//! Alerts in the store: acknowledgements written together under load, and jobs shared by
//! workers.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Scope};
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::policy::AuditScope;
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_domain::report::Tlp;
use ciphub_store::{By, NewAlert, NewUser, WorkerId};

use super::helpers::jp_db;

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

#[tokio::test]
async fn concurrent_acknowledgements_are_each_recorded_once_with_their_own_actor() {
    let db = jp_db().await;
    let store = &db.store;
    let n = 60;
    let orgs: Vec<Organization> = (0..n)
        .map(|i| Organization {
            slug: slug(&format!("op-{i}")),
            kind: OrgKind::Operator,
            name_en: format!("Operator {i}"),
            name_ja: None,
            abbrev: None,
            sectors: vec![slug("water")],
            services: vec![],
            responsible_for: vec![],
            member_of: vec![],
            members_published: None,
            members_count: None,
        })
        .collect();
    store
        .add_organizations(&orgs, &By::system())
        .await
        .expect("orgs");
    let mut users = Vec::new();
    for o in &orgs {
        let u = store
            .create_user(
                &NewUser {
                    org: o.slug.clone(),
                    name: UserName::parse(&format!("u-{}", o.slug)).expect("name"),
                    display_name: "u".into(),
                    roles: [Role::Viewer].into(),
                    password_hash: None,
                },
                &By::system(),
            )
            .await
            .expect("user");
        users.push(u);
    }
    // A third of them have a webhook: the alert leaves a job per webhook.
    for o in orgs.iter().take(20) {
        store
            .add_webhook(&o.slug, "http://127.0.0.1:9/hook", "secret", &By::system())
            .await
            .expect("webhook");
    }
    let recipients: BTreeSet<Slug> = orgs.iter().map(|o| o.slug.clone()).collect();
    let alert = store
        .create_alert(
            &slug("nisc"),
            "sender",
            &By::system(),
            &NewAlert {
                title: "t".into(),
                body: "b".into(),
                tlp: Tlp::Green,
                audience: Audience {
                    scope: Scope::Sectors(vec![slug("water")]),
                    roles: Default::default(),
                },
                clients_permitted: false,
                ack_within: Some(TimeDelta::hours(1)),
                exercise: false,
                reports: vec![],
                incidents: vec![],
                relay_of: None,
                relay_note: None,
                attachments: vec![],
                email: false,
            },
            &recipients,
        )
        .await
        .expect("alert");
    let before = store.audit_len().await.expect("len");
    // Every user acknowledges twice, all at once.
    let mut tasks = Vec::new();
    for u in users.iter().chain(users.iter()) {
        let (store, u) = (store.clone(), u.clone());
        tasks.push(tokio::spawn(
            async move { store.ack_alert(alert.id, &u).await },
        ));
    }
    for t in tasks {
        let d = t.await.expect("task").expect("ack").expect("a recipient");
        assert!(d.acked.is_some());
    }
    let deliveries = store.deliveries(alert.id).await.expect("deliveries");
    for d in &deliveries {
        assert_eq!(d.acked_by.as_deref(), Some(format!("u-{}", d.org).as_str()));
    }
    assert_eq!(store.audit_len().await.expect("len"), before + n as i64);
    let page = store
        .audit_page(&AuditScope::Everything, before, 1000)
        .await
        .expect("audit");
    for e in &page.entries {
        assert_eq!(e.action, "alert.ack");
        let user = e.actor_user.as_deref().expect("actor");
        assert_eq!(Some(user.trim_start_matches("u-")), e.actor_org.as_deref());
    }
    assert!(store.audit_verify().await.expect("verify").is_ok());
    // A non-recipient gets no delivery and writes nothing.
    let outsider = store.get_user("u-op-0").await.expect("user");
    let other = store
        .create_alert(
            &slug("nisc"),
            "sender",
            &By::system(),
            &NewAlert {
                title: "t".into(),
                body: "b".into(),
                tlp: Tlp::Green,
                audience: Audience {
                    scope: Scope::Organizations(vec![slug("op-1")]),
                    roles: Default::default(),
                },
                clients_permitted: false,
                ack_within: None,
                exercise: false,
                reports: vec![],
                incidents: vec![],
                relay_of: None,
                relay_note: None,
                attachments: vec![],
                email: false,
            },
            &[slug("op-1")].into(),
        )
        .await
        .expect("alert");
    let len = store.audit_len().await.expect("len");
    assert_eq!(
        store.ack_alert(other.id, &outsider).await.expect("ack"),
        None
    );
    assert_eq!(store.audit_len().await.expect("len"), len);

    // Two workers claiming at once never get the same job.
    let (one, two) = (WorkerId::random(), WorkerId::random());
    let (a, b) = tokio::join!(
        store.claim_jobs(&one, 10, TimeDelta::minutes(1)),
        store.claim_jobs(&two, 10, TimeDelta::minutes(1))
    );
    let (a, b) = (a.expect("claim"), b.expect("claim"));
    assert_eq!((a.len(), b.len()), (10, 10));
    assert!(a.iter().all(|j| b.iter().all(|k| k.id != j.id)));
    // Leased jobs are not handed out again until their lease runs out: what is left is the
    // second alert's one webhook call.
    let rest = store
        .claim_jobs(&one, 10, TimeDelta::minutes(1))
        .await
        .expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].alert, other.id);
}
