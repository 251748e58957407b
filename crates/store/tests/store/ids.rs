//! Ids in a database made before opaque ids (migration 0008): old reports and alerts keep their
//! sequential ids and their order, and new ones, with random ids, come after them.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Scope};
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_domain::report::{Cause, Formation, NewReport, StageDeadlines, TechScope, Tlp};
use ciphub_store::testkit::TestDb;
use ciphub_store::{By, NewAlert, NewUser};

use super::helpers::{raw, with_jp_profile};

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

fn alert(title: &str) -> NewAlert {
    NewAlert {
        title: title.into(),
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
    }
}

#[tokio::test]
async fn old_ids_are_kept_and_new_rows_with_random_ids_follow_them() {
    let db = with_jp_profile(TestDb::at_version(7).await.expect("database before 0008")).await;
    db.store
        .add_organizations(
            &[Organization {
                slug: slug("tokyo-water"),
                kind: OrgKind::Operator,
                name_en: "Tokyo Water".into(),
                name_ja: None,
                abbrev: None,
                sectors: vec![slug("water")],
                services: vec![],
                responsible_for: vec![],
                member_of: vec![],
                members_published: None,
                members_count: None,
            }],
            &By::system(),
        )
        .await
        .expect("operator");
    // Rows as the store wrote them before 0008: sequential ids, 57 filed after 41.
    let pool = raw(&db).await;
    for id in [41i64, 57] {
        sqlx::query(
            "INSERT INTO reports (id, reporter_org_id, reporter_user, formation, title, description, \
             cause, scope, detected_us, schema_id, answers, level, emergency, tlp, stage, initial_us, \
             initial_due_us, created_us, updated_us) SELECT $1, id, 'old', 'ministry', 'Old', 'Old', \
             'cyberattack', 'it', 0, 'seed-draft', '{}', 0, 0, 'TLP:AMBER', 'initial', $1, $1, $1, $1 \
             FROM organizations WHERE slug = 'tokyo-water'",
        )
        .bind(id)
        .execute(&pool)
        .await
        .expect("old report");
    }
    let everyone = serde_json::to_string(&Audience {
        scope: Scope::All,
        roles: Default::default(),
    })
    .expect("audience");
    for id in [3i64, 9] {
        sqlx::query(
            "INSERT INTO alerts (id, sender_org_id, sender_user, title, body, tlp, audience, \
             clients_permitted, exercise, reports, incidents, created_us) SELECT $1, id, 'old', 'Old', \
             'b', 'TLP:GREEN', $2, 0, 0, '[]', '[]', $1 FROM organizations WHERE slug = 'nisc'",
        )
        .bind(id)
        .bind(&everyone)
        .execute(&pool)
        .await
        .expect("old alert");
    }
    pool.close().await;
    db.store.migrate().await.expect("0008");

    let water = slug("tokyo-water");
    let reporter = db
        .store
        .create_user(
            &NewUser {
                org: water.clone(),
                name: UserName::parse("reporter").expect("name"),
                display_name: "Reporter".into(),
                roles: [Role::Reporter].into(),
                password_hash: None,
            },
            &By::system(),
        )
        .await
        .expect("user");
    let new = NewReport {
        title: "New".into(),
        description: "New".into(),
        sectors: vec![slug("water")],
        services: vec![],
        cause: Cause::Cyberattack,
        scope: BTreeSet::from([TechScope::It]),
        detected: Utc
            .with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
            .single()
            .expect("time"),
        occurred: None,
        schema: "seed-draft".into(),
        answers: Default::default(),
        level: 0,
        emergency: false,
        score: None,
        tlp: Tlp::Amber,
        formation: Formation::Ministry,
        via: None,
        consent_named: false,
    };
    let filed = db
        .store
        .file_report(&reporter, &new, StageDeadlines::default())
        .await
        .expect("new report");
    assert!(filed.id >= 1 << 32, "new report id {}", filed.id);
    let ids = |list: Vec<ciphub_store::ReportRecord>| list.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db
            .store
            .reports_of_org(&water, None, 10)
            .await
            .expect("list")),
        vec![filed.id, 57, 41]
    );
    assert_eq!(
        ids(db
            .store
            .reports_of_org(&water, Some(filed.id), 10)
            .await
            .expect("page")),
        vec![57, 41]
    );
    assert_eq!(
        ids(db
            .store
            .reports_of_org(&water, Some(57), 10)
            .await
            .expect("page")),
        vec![41]
    );
    assert_eq!(db.store.report(41).await.expect("old report").id, 41);

    let sent = db
        .store
        .create_alert(
            &slug("nisc"),
            "sender",
            &By::system(),
            &alert("New"),
            &[slug("mhlw")].into(),
        )
        .await
        .expect("new alert");
    assert!(sent.id >= 1 << 32, "new alert id {}", sent.id);
    let nisc = slug("nisc");
    let alert_ids =
        |list: Vec<ciphub_store::AlertRecord>| list.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        alert_ids(db.store.alerts_of_org(&nisc, None, 10).await.expect("list")),
        vec![sent.id, 9, 3]
    );
    assert_eq!(
        alert_ids(
            db.store
                .alerts_of_org(&nisc, Some(9), 10)
                .await
                .expect("page")
        ),
        vec![3]
    );
    // The TAXII export takes the old alerts first, then the new one.
    assert_eq!(
        db.store
            .alerts_to_export("alerts", 10)
            .await
            .expect("export"),
        vec![3, 9, sent.id]
    );
}
