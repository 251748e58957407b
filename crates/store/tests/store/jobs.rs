//! The job queue's workers: a job held by a worker that has stopped beating is taken over
//! within seconds, and every attempt is written before the job runs.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Scope};
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_domain::report::Tlp;
use ciphub_store::testkit::TestDb;
use ciphub_store::{By, JobKind, ManualClock, NewAlert, WorkerId};

use super::helpers::with_jp_profile;

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

/// A database on a manual clock holding one alert to an operator, to be acknowledged within
/// an hour, so that one escalation job falls due after it.
async fn one_job_due_in_an_hour() -> (TestDb, Arc<ManualClock>) {
    let start = Utc
        .with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
        .single()
        .expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let db = with_jp_profile(TestDb::with_clock(clock.clone()).await.expect("db")).await;
    let op = Organization {
        slug: slug("op-0"),
        kind: OrgKind::Operator,
        name_en: "Operator 0".into(),
        name_ja: None,
        abbrev: None,
        sectors: vec![slug("water")],
        services: vec![],
        responsible_for: vec![],
        member_of: vec![],
        members_published: None,
        members_count: None,
    };
    db.store
        .add_organizations(&[op], &By::system())
        .await
        .expect("org");
    db.store
        .create_alert(
            &slug("nisc"),
            "sender",
            &By::system(),
            &NewAlert {
                title: "t".into(),
                body: "b".into(),
                tlp: Tlp::Green,
                audience: Audience {
                    scope: Scope::Organizations(vec![slug("op-0")]),
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
            &[slug("op-0")].into(),
        )
        .await
        .expect("alert");
    clock.advance(TimeDelta::minutes(61));
    (db, clock)
}

#[tokio::test]
async fn a_job_held_by_a_worker_that_stopped_is_taken_over_within_seconds() {
    let (db, clock) = one_job_due_in_an_hour().await;
    let store = &db.store;
    let lease = TimeDelta::minutes(2);
    let (gone, next) = (WorkerId::random(), WorkerId::random());
    let taken = store.claim_jobs(&gone, 10, lease).await.expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].kind, JobKind::Escalate);
    // While its worker beats, the job stays with it.
    assert!(
        store
            .claim_jobs(&next, 10, lease)
            .await
            .expect("claim")
            .is_empty()
    );
    clock.advance(TimeDelta::seconds(10));
    store.heartbeat(&gone).await.expect("beat");
    clock.advance(TimeDelta::seconds(10));
    assert!(
        store
            .claim_jobs(&next, 10, lease)
            .await
            .expect("claim")
            .is_empty(),
        "silent for 10 s is not gone"
    );
    // Silent for 20 s, well within its two-minute lease, the worker is taken to be gone.
    clock.advance(TimeDelta::seconds(10));
    let again = store.claim_jobs(&next, 10, lease).await.expect("claim");
    assert_eq!(again.len(), 1, "taken over in seconds, not after the lease");
    assert_eq!(again[0].id, taken[0].id);
    assert_eq!(again[0].attempts, 2);
    assert!(
        again[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("attempt 1 was cut short")),
        "{:?}",
        again[0].last_error
    );
    // The stopped worker, back, does not get it while the new one holds it.
    assert!(
        store
            .claim_jobs(&gone, 10, lease)
            .await
            .expect("claim")
            .is_empty()
    );
}

#[tokio::test]
async fn a_worker_that_beats_keeps_its_job_until_the_lease_runs_out() {
    let (db, clock) = one_job_due_in_an_hour().await;
    let store = &db.store;
    let lease = TimeDelta::minutes(2);
    let (stuck, next) = (WorkerId::random(), WorkerId::random());
    assert_eq!(
        store
            .claim_jobs(&stuck, 10, lease)
            .await
            .expect("claim")
            .len(),
        1
    );
    for _ in 0..23 {
        clock.advance(TimeDelta::seconds(5));
        store.heartbeat(&stuck).await.expect("beat");
        assert!(
            store
                .claim_jobs(&next, 10, lease)
                .await
                .expect("claim")
                .is_empty()
        );
    }
    // The lease is the last resort for a worker that beats but never finishes.
    clock.advance(TimeDelta::seconds(10));
    store.heartbeat(&stuck).await.expect("beat");
    assert_eq!(
        store
            .claim_jobs(&next, 10, lease)
            .await
            .expect("claim")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_attempt_is_written_before_the_job_runs() {
    let (db, clock) = one_job_due_in_an_hour().await;
    let store = &db.store;
    let claimed_at = clock_now(&clock);
    let taken = store
        .claim_jobs(&WorkerId::random(), 10, TimeDelta::minutes(2))
        .await
        .expect("claim");
    // What another reader sees while the job runs: the attempt counted and its start.
    let seen = store.job(taken[0].id).await.expect("job");
    assert_eq!(seen.attempts, 1);
    assert_eq!(seen.attempted, Some(claimed_at));
    clock.advance(TimeDelta::seconds(3));
    store
        .job_failed(seen.id, "SMTP: refused", Some(clock_now(&clock)))
        .await
        .expect("failed");
    let failed = store.job(seen.id).await.expect("job");
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.attempted, Some(claimed_at));
    assert_eq!(failed.last_error.as_deref(), Some("SMTP: refused"));
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<Utc> {
    ciphub_store::Clock::now(clock)
}
