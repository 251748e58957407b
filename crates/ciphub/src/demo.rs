//! Demo data for `serve --demo`: operators under every CEPTOAR, and one user per role and kind
//! of organization, all with one published password. Safe to run again: it adds only what is missing.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_store::{By, NewUser, OrgFilter, Store, StoreError};

use crate::cli::DemoScale;

/// The password of every demo user. Demo data is for trying ciphub on one's own machine.
pub const DEMO_PASSWORD: &str = "ciphub-demo-password";

/// A demo login to print.
pub struct DemoLogin {
    pub user: String,
    pub org: String,
    pub roles: String,
}

/// What `seed` made: the logins, and an API token for the instance administrator.
pub struct DemoLogins {
    pub logins: Vec<DemoLogin>,
    pub admin_token: String,
    pub operators: usize,
}

/// (organization, user, roles) for the demo users, one per role and kind of organization.
const DEMO_USERS: &[(&str, &str, &[Role])] = &[
    ("nisc", "demo-admin", &[Role::Admin]),
    ("nisc", "demo-coordinator", &[Role::Coordinator]),
    ("nisc", "demo-nisc-analyst", &[Role::Analyst]),
    ("nisc", "demo-duty", &[Role::Duty]),
    ("mhlw", "demo-ministry", &[Role::Analyst]),
    ("mhlw", "demo-ministry-admin", &[Role::Admin]),
    ("water-ceptoar", "demo-secretariat", &[Role::Secretariat]),
    ("ceptoar-council", "demo-council", &[Role::Secretariat]),
    ("jpcert-cc", "demo-agency", &[Role::Analyst]),
    ("demo-water-op-0001", "demo-reporter", &[Role::Reporter]),
    ("demo-water-op-0001", "demo-operator-admin", &[Role::Admin]),
    ("demo-water-op-0001", "demo-viewer", &[Role::Viewer]),
    ("demo-water-op-0001", "demo-executive", &[Role::Executive]),
    ("demo-vendor", "demo-external", &[Role::Viewer]),
];

/// Demo operators for each CEPTOAR of the loaded profile.
fn demo_operators(
    ceptoars: &[Organization],
    scale: DemoScale,
) -> anyhow::Result<Vec<Organization>> {
    let mut out = Vec::new();
    for c in ceptoars {
        let n = match scale {
            DemoScale::Small => 3,
            DemoScale::Full => c.members_count.unwrap_or(3).max(1) as usize,
        };
        let base = c.slug.as_str().trim_end_matches("-ceptoar");
        let name = c
            .name_en
            .trim_end_matches(" CEPTOAR")
            .trim_end_matches(" services");
        let name_ja = c
            .name_ja
            .as_deref()
            .map(|j| j.trim_end_matches("CEPTOAR").to_owned());
        for i in 1..=n {
            out.push(Organization {
                slug: Slug::parse(&format!("demo-{base}-op-{i:04}")).context("demo slug")?,
                kind: OrgKind::Operator,
                name_en: format!("Demo {name} operator {i:04}"),
                name_ja: name_ja.as_ref().map(|j| format!("デモ{j}事業者{i:04}")),
                abbrev: None,
                sectors: c.sectors.clone(),
                services: c.services.clone(),
                responsible_for: vec![],
                member_of: vec![c.slug.clone()],
                members_published: None,
                members_count: None,
            });
        }
    }
    Ok(out)
}

/// Whether `slug` is one `demo_operators` makes (`demo-{base}-op-{i:04}`).
fn is_demo_operator(slug: &str) -> bool {
    slug.strip_prefix("demo-")
        .and_then(|rest| rest.rsplit_once("-op-"))
        .is_some_and(|(base, i)| {
            !base.is_empty() && i.len() == 4 && i.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Adds the demo organizations and users that are missing.
pub async fn seed(store: &Store, scale: DemoScale) -> anyhow::Result<DemoLogins> {
    let ceptoars = store
        .list_organizations(&OrgFilter {
            kind: Some(OrgKind::Ceptoar),
            sector: None,
        })
        .await?;
    let ceptoars: Vec<Organization> = ceptoars.into_iter().map(|r| r.org).collect();
    let existing: BTreeSet<String> = store
        .list_organizations(&OrgFilter::default())
        .await?
        .into_iter()
        .map(|r| r.org.slug.to_string())
        .collect();
    let mut wanted = demo_operators(&ceptoars, scale)?;
    wanted.push(Organization {
        slug: Slug::parse("demo-vendor")?,
        kind: OrgKind::External,
        name_en: "Demo security vendor".into(),
        name_ja: Some("デモセキュリティベンダー".into()),
        abbrev: None,
        sectors: vec![],
        services: vec![],
        responsible_for: vec![],
        member_of: vec![],
        members_published: None,
        members_count: None,
    });
    wanted.retain(|o| !existing.contains(o.slug.as_str()));
    if !wanted.is_empty() {
        store.add_organizations(&wanted, &By::system()).await?;
    }
    // Counted in the store, not from `scale`: data seeded earlier at full scale keeps its
    // operators when the demo is started again at the small scale.
    let operators = store
        .list_organizations(&OrgFilter {
            kind: Some(OrgKind::Operator),
            sector: None,
        })
        .await?
        .iter()
        .filter(|r| is_demo_operator(r.org.slug.as_str()))
        .count();

    let password_hash =
        ciphub_server::hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut logins = Vec::new();
    for (org, user, roles) in DEMO_USERS {
        let new = NewUser {
            org: Slug::parse(org)?,
            name: UserName::parse(user)?,
            display_name: (*user).to_owned(),
            roles: roles.iter().copied().collect(),
            password_hash: Some(password_hash.clone()),
        };
        match store.create_user(&new, &By::system()).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            // A profile without this organization (eu-nis2) simply has no such demo user.
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        logins.push(DemoLogin {
            user: (*user).to_owned(),
            org: (*org).to_owned(),
            roles: roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    let admin = UserName::parse("demo-admin")?;
    let admin_token = ciphub_server::issue_token(
        store,
        &admin,
        "demo",
        Duration::from_secs(24 * 3600),
        &By::system(),
    )
    .await?;
    Ok(DemoLogins {
        logins,
        admin_token,
        operators,
    })
}

/// Prints where to go and how to log in.
pub fn print_logins(base: &str, demo: &DemoLogins) {
    println!();
    println!(
        "ciphub demo: {} demo operators; every demo user's password is {DEMO_PASSWORD}",
        demo.operators
    );
    println!("  {:<22} {:<24} roles", "user", "organization");
    for l in &demo.logins {
        println!("  {:<22} {:<24} {}", l.user, l.org, l.roles);
    }
    println!();
    println!("In a browser: {base}/login (any user above, password {DEMO_PASSWORD})");
    println!(
        "Log in:     curl -i -H 'Content-Type: application/json' -d '{{\"user\":\"demo-admin\",\"password\":\"{DEMO_PASSWORD}\"}}' {base}/api/v1/session"
    );
    println!("API token:  {} (demo-admin, valid 24 h)", demo.admin_token);
    println!(
        "Try:        curl -H 'Authorization: Bearer {}' {base}/api/v1/sectors",
        demo.admin_token
    );
    println!("API docs:   {base}/api/v1/openapi.json");
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciphub_domain::registry::shipped_profile;

    fn ceptoars() -> Vec<Organization> {
        let p = shipped_profile("jp-cip-4")
            .expect("shipped")
            .expect("valid");
        p.organizations
            .into_iter()
            .filter(|o| o.kind == OrgKind::Ceptoar)
            .collect()
    }

    #[test]
    fn full_scale_has_one_operator_per_published_member() {
        let full = demo_operators(&ceptoars(), DemoScale::Full).expect("operators");
        assert_eq!(full.len(), 4245);
        let slugs: BTreeSet<_> = full.iter().map(|o| o.slug.clone()).collect();
        assert_eq!(slugs.len(), full.len(), "slugs are unique");
        let banks = full
            .iter()
            .filter(|o| o.member_of[0].as_str() == "banking-ceptoar")
            .count();
        assert_eq!(banks, 1352);
        assert_eq!(
            demo_operators(&ceptoars(), DemoScale::Small)
                .expect("operators")
                .len(),
            57
        );
    }

    #[test]
    fn demo_operators_are_recognized_by_their_slug() {
        for o in demo_operators(&ceptoars(), DemoScale::Small).expect("operators") {
            assert!(is_demo_operator(o.slug.as_str()), "{}", o.slug);
        }
        for other in ["demo-vendor", "tepco", "demo--op-0001", "demo-water-op-1"] {
            assert!(!is_demo_operator(other), "{other}");
        }
    }

    #[test]
    fn every_demo_user_has_an_organization_and_fitting_roles() {
        let p = shipped_profile("jp-cip-4")
            .expect("shipped")
            .expect("valid");
        let mut kinds: std::collections::BTreeMap<String, OrgKind> = p
            .organizations
            .iter()
            .map(|o| (o.slug.to_string(), o.kind))
            .collect();
        kinds.insert("demo-water-op-0001".into(), OrgKind::Operator);
        kinds.insert("demo-vendor".into(), OrgKind::External);
        let mut seen_kinds = BTreeSet::new();
        let mut seen_roles = BTreeSet::new();
        for (org, _, roles) in DEMO_USERS {
            let kind = kinds[*org];
            seen_kinds.insert(kind);
            for r in *roles {
                assert!(r.fits(kind), "{r} at {org}");
                seen_roles.insert(*r);
            }
        }
        assert_eq!(seen_kinds.len(), OrgKind::ALL.len());
        assert_eq!(seen_roles.len(), Role::ALL.len());
    }
}
