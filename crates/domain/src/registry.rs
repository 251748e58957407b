//! The community registry: sectors, services, organizations and who is responsible for whom,
//! and jurisdiction profiles that ship them as data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::slug::Slug;

/// What an organization is in the CIP community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// The national coordinator (NISC in Japan).
    Coordinator,
    /// A ministry or authority responsible for one or more sectors.
    Ministry,
    /// A sector sharing body (CEPTOAR, ISAC) with a secretariat.
    Ceptoar,
    /// A council of sharing bodies.
    Council,
    /// A cybersecurity-related agency (NICT, IPA, JPCERT/CC, a CSIRT).
    Agency,
    /// An operator of critical infrastructure.
    Operator,
    /// Anyone else the community shares with.
    External,
}

impl OrgKind {
    /// Every kind, in display order.
    pub const ALL: [OrgKind; 7] = [
        OrgKind::Coordinator,
        OrgKind::Ministry,
        OrgKind::Ceptoar,
        OrgKind::Council,
        OrgKind::Agency,
        OrgKind::Operator,
        OrgKind::External,
    ];

    /// The kind's name as used in URLs, files and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Coordinator => "coordinator",
            OrgKind::Ministry => "ministry",
            OrgKind::Ceptoar => "ceptoar",
            OrgKind::Council => "council",
            OrgKind::Agency => "agency",
            OrgKind::Operator => "operator",
            OrgKind::External => "external",
        }
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no organization kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown organization kind {0:?}; expected one of coordinator, ministry, ceptoar, council, agency, operator, external"
)]
pub struct UnknownOrgKind(pub String);

impl FromStr for OrgKind {
    type Err = UnknownOrgKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownOrgKind(s.to_owned()))
    }
}

/// A service a sector provides (banking, railway, water supply...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub slug: Slug,
    pub name_en: String,
    pub name_ja: Option<String>,
}

/// A critical-infrastructure sector and its services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    pub slug: Slug,
    pub name_en: String,
    pub name_ja: Option<String>,
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
}

/// An organization as a profile or an administrator declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub slug: Slug,
    pub kind: OrgKind,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    /// A short name (NISC, MHLW, JPCERT/CC).
    #[serde(default)]
    pub abbrev: Option<String>,
    /// Sectors the organization works in (an operator's sectors, a CEPTOAR's sector).
    #[serde(default)]
    pub sectors: Vec<Slug>,
    /// Services, each of one of `sectors`.
    #[serde(default)]
    pub services: Vec<Slug>,
    /// Sectors this ministry or authority is responsible for.
    #[serde(default)]
    pub responsible_for: Vec<Slug>,
    /// Groups this organization is a member of (an operator's CEPTOARs, a CEPTOAR's councils).
    #[serde(default)]
    pub member_of: Vec<Slug>,
    /// The membership as published, in words ("1,352 companies").
    #[serde(default)]
    pub members_published: Option<String>,
    /// The published membership as a number, for planning and demo data.
    #[serde(default)]
    pub members_count: Option<u32>,
}

impl Organization {
    /// The Japanese name where there is one, else the English.
    pub fn name_for(&self, lang: &str) -> &str {
        match (&self.name_ja, lang) {
            (Some(ja), "ja") => ja,
            _ => &self.name_en,
        }
    }
}

/// A jurisdiction profile: the registry of one country's (or union's) CIP system, as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: Slug,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    /// The date the figures are as of.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Where the facts come from.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, rename = "sector")]
    pub sectors: Vec<Sector>,
    #[serde(default, rename = "organization")]
    pub organizations: Vec<Organization>,
}

/// What is wrong with a profile or an organization, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("profile is not valid TOML: {0}")]
    Syntax(String),
    #[error("{what} {slug:?} is declared twice")]
    Duplicate { what: &'static str, slug: String },
    #[error("organization {org:?}: {field} names unknown {what} {slug:?}")]
    UnknownRef {
        org: String,
        field: &'static str,
        what: &'static str,
        slug: String,
    },
    #[error("organization {org:?}: {problem}")]
    Invalid { org: String, problem: String },
}

impl Profile {
    /// Parses and checks a profile from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let profile: Profile =
            toml::from_str(text).map_err(|e| RegistryError::Syntax(e.to_string()))?;
        profile.check()?;
        Ok(profile)
    }

    /// Checks that every name is unique and every reference resolves.
    pub fn check(&self) -> Result<(), RegistryError> {
        let mut sector_of_service: BTreeMap<&Slug, &Slug> = BTreeMap::new();
        let mut sectors = BTreeSet::new();
        for sector in &self.sectors {
            if !sectors.insert(&sector.slug) {
                return Err(RegistryError::Duplicate {
                    what: "sector",
                    slug: sector.slug.to_string(),
                });
            }
            for service in &sector.services {
                if sector_of_service
                    .insert(&service.slug, &sector.slug)
                    .is_some()
                {
                    return Err(RegistryError::Duplicate {
                        what: "service",
                        slug: service.slug.to_string(),
                    });
                }
            }
        }
        let mut kinds: BTreeMap<&Slug, OrgKind> = BTreeMap::new();
        for org in &self.organizations {
            if kinds.insert(&org.slug, org.kind).is_some() {
                return Err(RegistryError::Duplicate {
                    what: "organization",
                    slug: org.slug.to_string(),
                });
            }
        }
        let known = RegistryView {
            sectors: &sectors,
            sector_of_service: &sector_of_service,
            kinds: &kinds,
        };
        for org in &self.organizations {
            known.check_organization(org)?;
        }
        Ok(())
    }

    /// Every (group, member) pair the profile declares.
    pub fn memberships(&self) -> Vec<(Slug, Slug)> {
        self.organizations
            .iter()
            .flat_map(|o| o.member_of.iter().map(|g| (g.clone(), o.slug.clone())))
            .collect()
    }
}

/// What a new organization may refer to: the sectors, services and organizations already known.
pub struct RegistryView<'a> {
    pub sectors: &'a BTreeSet<&'a Slug>,
    pub sector_of_service: &'a BTreeMap<&'a Slug, &'a Slug>,
    pub kinds: &'a BTreeMap<&'a Slug, OrgKind>,
}

impl RegistryView<'_> {
    /// Checks one organization's references and the rules of its kind.
    pub fn check_organization(&self, org: &Organization) -> Result<(), RegistryError> {
        let name = || org.slug.to_string();
        let invalid = |problem: String| RegistryError::Invalid {
            org: name(),
            problem,
        };
        if org.name_en.trim().is_empty() {
            return Err(invalid("name_en is empty".into()));
        }
        for (field, list) in [
            ("sectors", &org.sectors),
            ("responsible_for", &org.responsible_for),
        ] {
            for s in list {
                if !self.sectors.contains(s) {
                    return Err(RegistryError::UnknownRef {
                        org: name(),
                        field,
                        what: "sector",
                        slug: s.to_string(),
                    });
                }
            }
        }
        for s in &org.services {
            let Some(sector) = self.sector_of_service.get(s) else {
                return Err(RegistryError::UnknownRef {
                    org: name(),
                    field: "services",
                    what: "service",
                    slug: s.to_string(),
                });
            };
            if !org.sectors.contains(sector) {
                return Err(invalid(format!(
                    "service {s:?} belongs to sector {sector:?}, which is not in its sectors"
                )));
            }
        }
        for group in &org.member_of {
            let Some(kind) = self.kinds.get(group) else {
                return Err(RegistryError::UnknownRef {
                    org: name(),
                    field: "member_of",
                    what: "organization",
                    slug: group.to_string(),
                });
            };
            if !matches!(kind, OrgKind::Ceptoar | OrgKind::Council) {
                return Err(invalid(format!(
                    "member_of names {group:?}, a {kind}; only a ceptoar or a council has members"
                )));
            }
            if group == &org.slug {
                return Err(invalid(
                    "an organization cannot be a member of itself".into(),
                ));
            }
        }
        if !org.responsible_for.is_empty() && org.kind != OrgKind::Ministry {
            return Err(invalid(format!(
                "responsible_for is only for ministries, and this is a {}",
                org.kind
            )));
        }
        if matches!(org.kind, OrgKind::Operator | OrgKind::Ceptoar) && org.sectors.is_empty() {
            return Err(invalid(format!("a {} needs at least one sector", org.kind)));
        }
        Ok(())
    }
}

/// The profiles shipped with ciphub, by id.
pub const SHIPPED_PROFILES: [(&str, &str); 2] = [
    ("jp-cip-4", include_str!("../../../profiles/jp-cip-4.toml")),
    ("eu-nis2", include_str!("../../../profiles/eu-nis2.toml")),
];

/// Loads a shipped profile by id.
pub fn shipped_profile(id: &str) -> Option<Result<Profile, RegistryError>> {
    SHIPPED_PROFILES
        .iter()
        .find(|(name, _)| *name == id)
        .map(|(_, text)| Profile::from_toml(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp() -> Profile {
        shipped_profile("jp-cip-4")
            .expect("shipped")
            .expect("valid")
    }

    fn orgs_of(p: &Profile, kind: OrgKind) -> Vec<&Organization> {
        p.organizations.iter().filter(|o| o.kind == kind).collect()
    }

    #[test]
    fn japan_has_14_sectors_5_ministries_19_ceptoars() {
        let p = jp();
        assert_eq!(p.sectors.len(), 14);
        let responsible = orgs_of(&p, OrgKind::Ministry)
            .into_iter()
            .filter(|o| !o.responsible_for.is_empty())
            .count();
        assert_eq!(responsible, 5);
        assert_eq!(orgs_of(&p, OrgKind::Ceptoar).len(), 19);
        assert_eq!(orgs_of(&p, OrgKind::Coordinator).len(), 1);
        let agencies: BTreeSet<_> = orgs_of(&p, OrgKind::Agency)
            .iter()
            .map(|o| o.slug.to_string())
            .collect();
        for a in ["nict", "ipa", "jpcert-cc"] {
            assert!(agencies.contains(a), "{a} missing");
        }
    }

    #[test]
    fn japan_ministries_are_responsible_for_their_sectors() {
        let p = jp();
        let resp = |slug: &str| -> Vec<String> {
            let o = p
                .organizations
                .iter()
                .find(|o| o.slug.as_str() == slug)
                .expect("ministry");
            o.responsible_for.iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(resp("mhlw"), ["medical", "water"]);
        assert_eq!(resp("fsa"), ["finance"]);
        assert_eq!(resp("mic"), ["info-comm", "government"]);
        assert_eq!(
            resp("mlit"),
            ["aviation", "airport", "railway", "logistics"]
        );
        assert_eq!(
            resp("meti"),
            [
                "electric-power",
                "gas",
                "chemical",
                "credit-card",
                "petroleum"
            ]
        );
        // Every sector has exactly one responsible ministry.
        for sector in &p.sectors {
            let n = p
                .organizations
                .iter()
                .filter(|o| o.responsible_for.contains(&sector.slug))
                .count();
            assert_eq!(n, 1, "sector {}", sector.slug);
        }
    }

    #[test]
    fn japan_councils_hold_their_ceptoars() {
        let p = jp();
        let members = |group: &str| -> Vec<String> {
            p.memberships()
                .into_iter()
                .filter(|(g, _)| g.as_str() == group)
                .map(|(_, m)| m.to_string())
                .collect()
        };
        assert_eq!(members("financial-ceptoar-liaison-council").len(), 4);
        assert_eq!(members("ceptoar-council").len(), 19);
        let total: u32 = orgs_of(&p, OrgKind::Ceptoar)
            .iter()
            .filter_map(|o| o.members_count)
            .sum();
        assert!(
            (4_000..4_600).contains(&total),
            "about 4,300 members, got {total}"
        );
    }

    #[test]
    fn eu_profile_is_valid_and_not_japan() {
        let p = shipped_profile("eu-nis2").expect("shipped").expect("valid");
        assert!(p.sectors.len() >= 18, "NIS2 Annexes I and II");
        assert!(!orgs_of(&p, OrgKind::Agency).is_empty(), "a CSIRT");
        assert!(!orgs_of(&p, OrgKind::Ministry).is_empty(), "an authority");
    }

    #[test]
    fn bad_references_are_named() {
        let text = r#"
            id = "t"
            name_en = "T"
            [[sector]]
            slug = "water"
            name_en = "Water"
            [[organization]]
            slug = "op"
            kind = "operator"
            name_en = "Op"
            sectors = ["wter"]
        "#;
        let err = Profile::from_toml(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"organization "op": sectors names unknown sector "wter""#
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let text = "id = \"t\"\nname_en = \"T\"\ncolour = \"red\"\n";
        assert!(matches!(
            Profile::from_toml(text),
            Err(RegistryError::Syntax(m)) if m.contains("colour")
        ));
        let text = "id = \"t\"\nname_en = \"T\"\n[[organization]]\nslug=\"x\"\nkind=\"bank\"\nname_en=\"X\"\n";
        assert!(
            matches!(Profile::from_toml(text), Err(RegistryError::Syntax(m)) if m.contains("bank"))
        );
    }

    #[test]
    fn only_ministries_are_responsible() {
        let text = r#"
            id = "t"
            name_en = "T"
            [[sector]]
            slug = "water"
            name_en = "Water"
            [[organization]]
            slug = "op"
            kind = "agency"
            name_en = "Op"
            responsible_for = ["water"]
        "#;
        assert!(matches!(
            Profile::from_toml(text),
            Err(RegistryError::Invalid { .. })
        ));
    }
}
