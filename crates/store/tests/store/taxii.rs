//! STIX objects in TAXII collections: the sharing policy in SQL agrees with the domain's
//! rule, version flags stay right whatever order versions arrive in, the cursor never skips
//! or repeats, only what may leave is offered to federation, and only the organization that
//! added an object first adds its versions.

use std::collections::BTreeSet;

use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Scope};
use ciphub_domain::policy::sharing::community_readable;
use ciphub_domain::report::Tlp;
use ciphub_store::testkit::TestDb;
use ciphub_store::{By, NewAlert, NewStixObject, StixAdd, StixBatch, StixQuery, VersionFilter};

use super::helpers::jp_db;

const C: &str = "community";

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

fn object(id: u32, version_us: i64, tlp: Option<Tlp>) -> NewStixObject {
    NewStixObject {
        object_id: format!("indicator--00000000-0000-4000-8000-{id:012}"),
        object_type: "indicator".into(),
        spec_version: "2.1".into(),
        version_us: Some(version_us),
        version_text: None,
        tlp,
        body: format!("{{\"n\":{id},\"v\":{version_us}}}"),
    }
}

fn batch(owner: &str, origin: &str) -> StixBatch {
    StixBatch {
        collection: C.into(),
        owner: slug(owner),
        origin: origin.into(),
        alert_id: None,
        status_id: None,
    }
}

/// A query for the chosen versions of every object, 10 a page.
fn versions(first: bool, last: bool, all: bool) -> StixQuery {
    StixQuery {
        versions: VersionFilter {
            first,
            last,
            all,
            ..VersionFilter::default()
        },
        limit: 10,
        ..StixQuery::default()
    }
}

fn all(limit: u32) -> StixQuery {
    StixQuery {
        versions: VersionFilter::last(),
        limit,
        ..StixQuery::default()
    }
}

#[tokio::test]
async fn visibility_matches_the_domain_rule() {
    let db = jp_db().await;
    let labels = [
        None,
        Some(Tlp::Clear),
        Some(Tlp::Green),
        Some(Tlp::Amber),
        Some(Tlp::AmberStrict),
        Some(Tlp::Red),
    ];
    let owners = ["nisc", "mhlw"];
    let mut n = 0;
    let mut expected = Vec::new();
    for owner in owners {
        for tlp in labels {
            n += 1;
            db.store
                .add_stix_objects(
                    &batch(owner, "taxii"),
                    vec![object(n, 1, tlp)],
                    vec![],
                    &By::system(),
                )
                .await
                .expect("add");
            expected.push((n, owner, tlp));
        }
    }
    for viewer in ["nisc", "mhlw", "jpcert-cc"] {
        let page = db
            .store
            .stix_page(C, &slug(viewer), &all(100), true)
            .await
            .expect("page");
        let seen: BTreeSet<String> = page.rows.iter().map(|r| r.object_id.clone()).collect();
        for (n, owner, tlp) in &expected {
            let id = object(*n, 1, None).object_id;
            let should = community_readable(*tlp) || *owner == viewer;
            assert_eq!(
                seen.contains(&id),
                should,
                "{viewer} viewing {owner}'s {tlp:?}"
            );
        }
    }
    // Objects made from an alert follow its audience, whatever their label.
    let alert = db
        .store
        .create_alert(
            &slug("nisc"),
            "sender",
            &By::system(),
            &NewAlert {
                title: "t".into(),
                body: "b".into(),
                tlp: Tlp::Green,
                audience: Audience {
                    scope: Scope::Organizations(vec![slug("mhlw")]),
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
            &[slug("mhlw")].into(),
        )
        .await
        .expect("alert");
    assert_eq!(
        db.store.alerts_to_export("alerts", 10).await.expect("new"),
        vec![alert.id]
    );
    let mut b = batch("nisc", &format!("alert:{}", alert.id));
    b.collection = "alerts".into();
    b.alert_id = Some(alert.id);
    db.store
        .add_stix_objects(
            &b,
            vec![object(100, 1, Some(Tlp::Green))],
            vec![],
            &By::system(),
        )
        .await
        .expect("add");
    for (viewer, sees) in [("nisc", 1), ("mhlw", 1), ("jpcert-cc", 0), ("meti", 0)] {
        let page = db
            .store
            .stix_page("alerts", &slug(viewer), &all(10), false)
            .await
            .expect("page");
        assert_eq!(page.rows.len(), sees, "{viewer}");
    }
    assert!(
        db.store
            .alerts_to_export("alerts", 10)
            .await
            .expect("new")
            .is_empty()
    );
    // Nothing from an alert, nothing AMBER or stricter, nothing unmarked may leave.
    let out = db
        .store
        .stix_outgoing(C, 0, &[], 100)
        .await
        .expect("outgoing");
    assert_eq!(out.len(), 4);
    assert!(
        out.iter()
            .all(|r| r.tlp == "TLP:CLEAR" || r.tlp == "TLP:GREEN")
    );
    db.store
        .add_stix_objects(
            &batch("nisc", "federation:7"),
            vec![object(200, 1, Some(Tlp::Green))],
            vec![],
            &By::system(),
        )
        .await
        .expect("add");
    assert_eq!(
        db.store
            .stix_outgoing(C, 0, &["federation:7".into()], 100)
            .await
            .expect("outgoing")
            .len(),
        4
    );
    assert_eq!(
        db.store
            .stix_outgoing(C, 0, &[], 100)
            .await
            .expect("outgoing")
            .len(),
        5
    );
}

#[tokio::test]
async fn version_flags_hold_in_any_order_and_after_deletes() {
    let db = jp_db().await;
    let s = &db.store;
    let add = |objects: Vec<NewStixObject>| async move {
        s.add_stix_objects(&batch("nisc", "taxii"), objects, vec![], &By::system())
            .await
            .expect("add")
    };
    add(vec![object(1, 20, Some(Tlp::Green))]).await;
    add(vec![
        object(1, 10, Some(Tlp::Green)),
        object(1, 30, Some(Tlp::Green)),
    ])
    .await;
    // A version held already is a success, and not stored twice.
    let status = add(vec![object(1, 20, Some(Tlp::Green))]).await;
    assert_eq!(status.successes.len(), 1);
    let of = |q: StixQuery| async move {
        s.stix_page(C, &slug("mhlw"), &q, false)
            .await
            .expect("page")
            .rows
            .iter()
            .map(|r| r.version_us)
            .collect::<Vec<_>>()
    };
    assert_eq!(of(versions(false, true, false)).await, [30]);
    assert_eq!(of(versions(true, false, false)).await, [10]);
    let every = versions(false, false, true);
    assert_eq!(of(every.clone()).await.len(), 3);
    let id = object(1, 0, None).object_id;
    // Only the holder deletes.
    assert_eq!(
        s.delete_stix_object(C, &id, &VersionFilter::last(), &slug("mhlw"), &By::system())
            .await
            .expect("delete"),
        None
    );
    assert_eq!(
        s.delete_stix_object(C, &id, &VersionFilter::last(), &slug("nisc"), &By::system())
            .await
            .expect("delete"),
        Some(1)
    );
    assert_eq!(of(versions(false, true, false)).await, [20]);
    assert_eq!(of(versions(true, false, false)).await, [10]);
}

#[tokio::test]
async fn requests_written_together_keep_their_own_statuses_and_order() {
    let db = jp_db().await;
    let s = &db.store;
    let request = |owner: &str, status: &str, objects: Vec<NewStixObject>| StixAdd {
        batch: StixBatch {
            status_id: Some(status.to_owned()),
            ..batch(owner, "taxii")
        },
        objects,
        failures: vec![],
        by: By::system(),
        requested_us: Some(5),
    };
    // Three requests in one transaction: the second adds a newer version of the first's
    // object and repeats one version, the third is another organization's.
    let statuses = s
        .add_stix_batches(&[
            request("nisc", "s1", vec![object(1, 10, Some(Tlp::Green))]),
            request(
                "nisc",
                "s2",
                vec![
                    object(1, 20, Some(Tlp::Green)),
                    object(1, 10, Some(Tlp::Green)),
                ],
            ),
            request("mhlw", "s3", vec![object(2, 10, Some(Tlp::Amber))]),
        ])
        .await
        .expect("add");
    assert_eq!(
        statuses
            .iter()
            .map(|st| st.successes.len())
            .collect::<Vec<_>>(),
        [1, 2, 1]
    );
    assert_eq!(statuses[1].created_us, 5);
    for (id, owner, n) in [("s1", "nisc", 1), ("s2", "nisc", 2), ("s3", "mhlw", 1)] {
        let st = s
            .stix_status(id, &slug(owner))
            .await
            .expect("read")
            .expect("held");
        assert_eq!(st.successes.len(), n, "{id}");
        assert_eq!(st.created_us, 5);
    }
    assert!(
        s.stix_status("s3", &slug("nisc"))
            .await
            .expect("read")
            .is_none()
    );
    let of = |q: StixQuery| async move {
        s.stix_page(C, &slug("nisc"), &q, false)
            .await
            .expect("page")
            .rows
            .iter()
            .map(|r| (r.object_id.clone(), r.version_us))
            .collect::<Vec<_>>()
    };
    let one = object(1, 0, None).object_id;
    assert_eq!(of(versions(false, true, false)).await, [(one.clone(), 20)]);
    assert_eq!(of(versions(true, false, false)).await, [(one.clone(), 10)]);
    assert_eq!(of(versions(false, false, true)).await.len(), 2);
    // An empty group is nothing to do.
    assert!(s.add_stix_batches(&[]).await.expect("empty").is_empty());
}

#[tokio::test]
async fn the_cursor_never_skips_or_repeats_at_one_timestamp() {
    let db = jp_db().await;
    // The system clock may give several batches the same microsecond; one batch certainly
    // shares one.
    db.store
        .add_stix_objects(
            &batch("nisc", "taxii"),
            (0..30).map(|n| object(n, 1, Some(Tlp::Green))).collect(),
            vec![],
            &By::system(),
        )
        .await
        .expect("add");
    let mut seen = Vec::new();
    let mut q = all(4);
    loop {
        let page = db
            .store
            .stix_page(C, &slug("mhlw"), &q, false)
            .await
            .expect("page");
        seen.extend(page.rows.iter().map(|r| r.object_id.clone()));
        let Some(last) = page.rows.last() else { break };
        if !page.more {
            break;
        }
        q.after = Some((last.added_us, last.seq));
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 30);
}

#[tokio::test]
async fn only_the_organization_that_first_added_an_object_adds_its_versions() {
    let db = jp_db().await;
    let s = &db.store;
    let request = |owner: &str, status: &str, objects: Vec<NewStixObject>| StixAdd {
        batch: StixBatch {
            status_id: Some(status.to_owned()),
            ..batch(owner, "taxii")
        },
        objects,
        failures: vec![],
        by: By::system(),
        requested_us: None,
    };
    // Two organizations add the same new object in one group commit: the first written owns
    // it, and the other's version is refused while the rest of its request is taken.
    let statuses = s
        .add_stix_batches(&[
            request("nisc", "s1", vec![object(1, 10, Some(Tlp::Red))]),
            request(
                "mhlw",
                "s2",
                vec![
                    object(1, 20, Some(Tlp::Green)),
                    object(2, 10, Some(Tlp::Green)),
                ],
            ),
            request("nisc", "s3", vec![object(1, 30, Some(Tlp::Red))]),
        ])
        .await
        .expect("add");
    let counts = |st: &ciphub_store::StatusRecord| (st.successes.len(), st.failures.len());
    assert_eq!(
        statuses.iter().map(counts).collect::<Vec<_>>(),
        [(1, 0), (1, 1), (1, 0)]
    );
    let one = object(1, 0, None).object_id;
    assert_eq!(statuses[1].successes[0].id, object(2, 0, None).object_id);
    assert_eq!(statuses[1].failures[0].id, one);
    assert_eq!(statuses[1].total, 2);
    let stored = s
        .stix_status("s2", &slug("mhlw"))
        .await
        .expect("read")
        .expect("held");
    assert_eq!(stored.failures, statuses[1].failures);
    // In a later transaction the same: a version the owner holds already is refused to others
    // too, so the answer does not depend on what the owner holds.
    let later = s
        .add_stix_objects(
            &batch("mhlw", "taxii"),
            vec![
                object(1, 10, Some(Tlp::Green)),
                object(1, 40, Some(Tlp::Green)),
                object(2, 20, Some(Tlp::Green)),
            ],
            vec![],
            &By::system(),
        )
        .await
        .expect("add");
    assert_eq!(counts(&later), (1, 2));
    assert_eq!(later.failures[0].message, later.failures[1].message);
    let versions_of = |viewer: &'static str, n: u32| async move {
        s.stix_page(C, &slug(viewer), &versions(false, false, true), false)
            .await
            .expect("page")
            .rows
            .iter()
            .filter(|r| r.object_id == object(n, 0, None).object_id)
            .map(|r| r.version_us)
            .collect::<Vec<_>>()
    };
    assert_eq!(versions_of("nisc", 1).await, [10, 30]);
    assert_eq!(versions_of("mhlw", 1).await, Vec::<i64>::new());
    assert_eq!(versions_of("nisc", 2).await, [10, 20]);
}

#[tokio::test]
async fn the_audit_trail_keeps_no_credentials_from_urls() {
    let db = jp_db().await;
    db.store
        .add_federation(
            &ciphub_store::NewFederation {
                url: "https://partner:hunter2@partner.example/taxii2/?token=s3cret".into(),
                remote_collection: C.into(),
                direction: "pull".into(),
                local_collection: C.into(),
                every_us: 300_000_000,
                org: slug("nisc"),
                username: Some("partner".into()),
                secret: Some("t0ken".into()),
            },
            &By::system(),
        )
        .await
        .expect("federation");
    db.store
        .add_webhook(
            &slug("nisc"),
            "https://hooks.example.org/in?key=s3cret",
            "whsec_x",
            &By::system(),
        )
        .await
        .expect("webhook");
    let page = db
        .store
        .audit_page(&ciphub_domain::policy::AuditScope::Everything, 0, 10_000)
        .await
        .expect("audit");
    for action in ["federation.add", "webhook.add"] {
        let entry = page
            .entries
            .iter()
            .find(|e| e.action == action)
            .expect("entry");
        for secret in ["hunter2", "s3cret", "t0ken", "whsec_x"] {
            assert!(!entry.detail.contains(secret), "{action}: {}", entry.detail);
        }
        assert!(entry.detail.contains(".example"), "{}", entry.detail);
    }
}

/// An instance secret is made once and then read back the same by every process on the
/// database (a second connection stands for another process); each name has its own.
#[tokio::test]
async fn instance_secrets_are_made_once_and_shared() {
    let db = TestDb::new().await.expect("database");
    let first = db
        .store
        .instance_secret("taxii-cursor")
        .await
        .expect("secret");
    let other = ciphub_store::Store::connect(&db.url)
        .await
        .expect("second process");
    assert_eq!(
        other.instance_secret("taxii-cursor").await.expect("secret"),
        first
    );
    assert_ne!(
        db.store.instance_secret("another").await.expect("secret"),
        first
    );
    assert_ne!(first, [0u8; 32]);
}

/// An envelope answered before its objects are written is held: its status reads `pending` for
/// the organization that posted it (and no other), one worker at a time takes it over once
/// its holder is silent, and the write records the status and lets it go, even twice.
#[tokio::test]
async fn held_envelopes_answer_pending_until_written_and_go_to_one_worker() {
    use ciphub_store::{StatusDetail, StatusRecord, WorkerId};
    let db = jp_db().await;
    let s = &db.store;
    let o = object(7, 1_700_000_000_000_000, Some(Tlp::Green));
    let status = StatusRecord {
        id: "0a6f1c5e-5a51-4d8e-9b1e-2f7d1c3b4a01".into(),
        collection: C.into(),
        owner: slug("nisc"),
        created_us: 1_700_000_000_000_001,
        total: 2,
        successes: Vec::new(),
        failures: vec![StatusDetail {
            id: "bogus".into(),
            version: String::new(),
            message: Some("objects[1]: not a STIX object".into()),
        }],
        pendings: vec![StatusDetail {
            id: o.object_id.clone(),
            version: "2023-11-14T22:13:20.000Z".into(),
            message: None,
        }],
    };
    let envelope = br#"{"objects": [{"type": "indicator"}, {"type": "bogus"}]}"#;
    // Held by a worker that never beat: a process that died at once.
    s.hold_envelope(&status, &By::system(), envelope, &WorkerId::random())
        .await
        .expect("hold");
    assert_eq!(s.held_envelopes().await.expect("count"), 1);
    assert_eq!(
        s.stix_status(&status.id, &slug("nisc"))
            .await
            .expect("status"),
        Some(status.clone())
    );
    assert_eq!(
        s.stix_status(&status.id, &slug("mhlw"))
            .await
            .expect("status"),
        None,
        "another organization's status is not there for it"
    );
    // Two workers look at once: one of them takes it.
    let (a, b) = (WorkerId::random(), WorkerId::random());
    let (x, y) = tokio::join!(s.claim_envelopes(&a, 10), s.claim_envelopes(&b, 10));
    let claimed: Vec<_> = x
        .expect("claim")
        .into_iter()
        .chain(y.expect("claim"))
        .collect();
    assert_eq!(claimed.len(), 1, "one worker takes the envelope");
    assert_eq!(claimed[0].status, status);
    assert_eq!(claimed[0].envelope, envelope);
    assert_eq!(claimed[0].by, By::system());
    // Its new worker is alive (claiming beats), so a third finds nothing.
    assert!(
        s.claim_envelopes(&WorkerId::random(), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let add = StixAdd {
        batch: StixBatch {
            status_id: Some(status.id.clone()),
            ..batch("nisc", "taxii")
        },
        objects: vec![o],
        failures: status.failures.clone(),
        by: By::system(),
        requested_us: Some(status.created_us),
    };
    // Written (twice, as by a worker that was only slow and the one that took over): one
    // status, complete; one version; nothing held.
    for _ in 0..2 {
        s.add_stix_batches(std::slice::from_ref(&add))
            .await
            .expect("write");
        let done = s
            .stix_status(&status.id, &slug("nisc"))
            .await
            .expect("status")
            .expect("recorded");
        assert_eq!(done.pendings, Vec::new());
        assert_eq!((done.successes.len(), done.failures.len()), (1, 1));
        assert_eq!(done.created_us, status.created_us);
        assert_eq!(s.held_envelopes().await.expect("count"), 0);
    }
    let page = s
        .stix_page(C, &slug("nisc"), &versions(false, false, true), false)
        .await
        .expect("page");
    assert_eq!(page.rows.len(), 1);
}
