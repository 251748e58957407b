//! Profiles and the registry on both backends.

use ciphub_domain::Slug;
use ciphub_domain::registry::{OrgKind, Organization, shipped_profile};
use ciphub_store::{By, OrgFilter, StoreError};

use super::helpers::jp_db;

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

fn operator(s: &str, sector: &str, member_of: &[&str]) -> Organization {
    Organization {
        slug: slug(s),
        kind: OrgKind::Operator,
        name_en: format!("Operator {s}"),
        name_ja: None,
        abbrev: None,
        sectors: vec![slug(sector)],
        services: vec![],
        responsible_for: vec![],
        member_of: member_of.iter().map(|m| slug(m)).collect(),
        members_published: None,
        members_count: None,
    }
}

#[tokio::test]
async fn japan_profile_loads_with_its_structure() {
    let db = jp_db().await;
    let sectors = db.store.list_sectors().await.expect("sectors");
    assert_eq!(sectors.len(), 14);
    let medical = sectors
        .iter()
        .find(|s| s.sector.slug.as_str() == "medical")
        .expect("medical");
    assert_eq!(medical.responsible.len(), 1);
    assert_eq!(medical.responsible[0].org.slug.as_str(), "mhlw");

    let ceptoars = db
        .store
        .list_organizations(&OrgFilter {
            kind: Some(OrgKind::Ceptoar),
            sector: None,
        })
        .await
        .expect("ceptoars");
    assert_eq!(ceptoars.len(), 19);

    let mhlw = db
        .store
        .get_organization(&slug("mhlw"))
        .await
        .expect("mhlw");
    let resp: Vec<&str> = mhlw
        .record
        .org
        .responsible_for
        .iter()
        .map(Slug::as_str)
        .collect();
    assert_eq!(resp, ["medical", "water"]);

    let council = db
        .store
        .get_organization(&slug("financial-ceptoar-liaison-council"))
        .await
        .expect("council");
    let members: Vec<&str> = council
        .members
        .iter()
        .map(|m| m.org.slug.as_str())
        .collect();
    assert_eq!(
        members,
        [
            "banking-ceptoar",
            "general-insurance-ceptoar",
            "life-insurance-ceptoar",
            "securities-ceptoar"
        ]
    );
}

#[tokio::test]
async fn loading_a_profile_twice_changes_nothing() {
    let db = jp_db().await;
    let before = db.store.audit_len().await.expect("len");
    let profile = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    let report = db
        .store
        .apply_profile(&profile, &By::system())
        .await
        .expect("second load");
    assert_eq!(report.added, 0);
    assert_eq!(report.updated, 0);
    assert!(report.unchanged > 50);
    assert_eq!(db.store.audit_len().await.expect("len"), before);
}

#[tokio::test]
async fn a_changed_profile_updates_in_place() {
    let db = jp_db().await;
    let mut profile = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    let water = profile
        .organizations
        .iter_mut()
        .find(|o| o.slug.as_str() == "water-ceptoar")
        .expect("water ceptoar");
    water.members_count = Some(9);
    water.member_of.clear();
    let report = db
        .store
        .apply_profile(&profile, &By::system())
        .await
        .expect("reload");
    assert_eq!((report.added, report.updated), (0, 1));
    let got = db
        .store
        .get_organization(&slug("water-ceptoar"))
        .await
        .expect("water");
    assert_eq!(got.record.org.members_count, Some(9));
    assert!(got.record.org.member_of.is_empty());
    let council = db
        .store
        .get_organization(&slug("ceptoar-council"))
        .await
        .expect("council");
    assert_eq!(council.members.len(), 18);
}

#[tokio::test]
async fn both_shipped_profiles_can_live_in_one_store() {
    let db = jp_db().await;
    let eu = shipped_profile("eu-nis2").expect("shipped").expect("valid");
    let report = db
        .store
        .apply_profile(&eu, &By::system())
        .await
        .expect("eu loads");
    assert!(report.added > 20);
    let sectors = db.store.list_sectors().await.expect("sectors");
    assert_eq!(sectors.len(), 14 + eu.sectors.len());
}

#[tokio::test]
async fn operators_join_sectors_and_ceptoars() {
    let db = jp_db().await;
    db.store
        .add_organizations(
            &[
                operator("tokyo-water", "water", &["water-ceptoar"]),
                operator("osaka-hospital", "medical", &["medical-ceptoar"]),
            ],
            &By::system(),
        )
        .await
        .expect("added");
    let water_ops = db
        .store
        .list_organizations(&OrgFilter {
            kind: Some(OrgKind::Operator),
            sector: Some(slug("water")),
        })
        .await
        .expect("list");
    assert_eq!(water_ops.len(), 1);
    assert_eq!(water_ops[0].org.slug.as_str(), "tokyo-water");
    assert_eq!(water_ops[0].org.member_of, [slug("water-ceptoar")]);
    let in_water = db
        .store
        .list_organizations(&OrgFilter {
            kind: None,
            sector: Some(slug("water")),
        })
        .await
        .expect("list");
    // The operator and the water CEPTOAR.
    assert_eq!(in_water.len(), 2);
    let ceptoar = db
        .store
        .get_organization(&slug("water-ceptoar"))
        .await
        .expect("ceptoar");
    assert_eq!(ceptoar.members.len(), 1);
}

#[tokio::test]
async fn bad_organizations_are_refused_and_nothing_is_written() {
    let db = jp_db().await;
    let before = db.store.audit_len().await.expect("len");
    let err = db
        .store
        .add_organizations(
            &[
                operator("good-op", "water", &[]),
                operator("bad-op", "wter", &[]),
            ],
            &By::system(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"wter\""), "{err}");
    let err = db
        .store
        .add_organizations(&[operator("nisc", "water", &[])], &By::system())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let err = db
        .store
        .add_organizations(&[operator("x-op", "water", &["mhlw"])], &By::system())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only a ceptoar or a council"),
        "{err}"
    );
    assert_eq!(db.store.audit_len().await.expect("len"), before);
    assert!(db.store.get_organization(&slug("good-op")).await.is_err());
}
