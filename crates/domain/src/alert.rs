//! Alerts (information provision): who an alert reaches, and what its TLP label allows.
//!
//! The audience picks organizations (everyone, sectors, CEPTOARs' members, named
//! organizations), optionally narrowed to roles; the TLP 2.0 label then limits both the
//! audience and what recipients may pass on. Delivery, channels and escalation build on this.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::identity::Roles;
use crate::registry::OrgKind;
use crate::report::Tlp;
use crate::slug::Slug;

/// Which organizations an alert is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "values", rename_all = "kebab-case")]
pub enum Scope {
    /// Every organization of the community.
    All,
    /// Organizations working in any of these sectors.
    Sectors(Vec<Slug>),
    /// The members of these CEPTOARs (and the CEPTOARs themselves).
    Ceptoars(Vec<Slug>),
    /// These organizations by name.
    Organizations(Vec<Slug>),
}

/// An alert's audience: organizations, optionally only some roles within them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    pub scope: Scope,
    /// Only users with one of these roles; everyone in the organization when empty.
    #[serde(default)]
    pub roles: Roles,
}

/// What the registry says about one organization, for resolving audiences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgFacts {
    pub slug: Slug,
    pub kind: OrgKind,
    pub sectors: Vec<Slug>,
    pub member_of: Vec<Slug>,
}

/// Why an audience or a relay is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("TLP:RED goes only to named recipients: choose named organizations as the audience")]
    RedNeedsNamedRecipients,
    #[error("the audience names unknown {what} {slug:?}")]
    Unknown { what: &'static str, slug: String },
    #[error("the audience reaches no organization")]
    Empty,
    #[error("{0} may not be passed on beyond the recipient organization")]
    NoRelay(&'static str),
    #[error(
        "TLP:AMBER may be passed on to clients only with the sender's permission, which this alert does not give"
    )]
    AmberNeedsPermission,
}

/// The registry as audiences see it.
#[derive(Clone, Copy, Debug)]
pub struct Community<'a> {
    pub sectors: &'a BTreeSet<Slug>,
    pub orgs: &'a [OrgFacts],
}

impl Community<'_> {
    fn check(&self, what: &'static str, slug: &Slug, ok: bool) -> Result<(), AlertError> {
        if ok {
            Ok(())
        } else {
            Err(AlertError::Unknown {
                what,
                slug: slug.to_string(),
            })
        }
    }

    fn is_ceptoar(&self, slug: &Slug) -> bool {
        self.orgs
            .iter()
            .any(|o| &o.slug == slug && o.kind == OrgKind::Ceptoar)
    }

    fn is_org(&self, slug: &Slug) -> bool {
        self.orgs.iter().any(|o| &o.slug == slug)
    }
}

/// The organizations an audience reaches. The sender's own organization is never among them.
pub fn resolve_audience(
    audience: &Audience,
    tlp: Tlp,
    sender: &Slug,
    community: Community<'_>,
) -> Result<BTreeSet<Slug>, AlertError> {
    if tlp == Tlp::Red && !matches!(audience.scope, Scope::Organizations(_)) {
        return Err(AlertError::RedNeedsNamedRecipients);
    }
    let orgs = community.orgs;
    let picked: BTreeSet<Slug> = match &audience.scope {
        Scope::All => orgs.iter().map(|o| o.slug.clone()).collect(),
        Scope::Sectors(sectors) => {
            for s in sectors {
                community.check("sector", s, community.sectors.contains(s))?;
            }
            orgs.iter()
                .filter(|o| o.sectors.iter().any(|s| sectors.contains(s)))
                .map(|o| o.slug.clone())
                .collect()
        }
        Scope::Ceptoars(ceptoars) => {
            for c in ceptoars {
                community.check("CEPTOAR", c, community.is_ceptoar(c))?;
            }
            orgs.iter()
                .filter(|o| {
                    ceptoars.contains(&o.slug) || o.member_of.iter().any(|g| ceptoars.contains(g))
                })
                .map(|o| o.slug.clone())
                .collect()
        }
        Scope::Organizations(named) => {
            for n in named {
                community.check("organization", n, community.is_org(n))?;
            }
            named.iter().cloned().collect()
        }
    };
    let picked: BTreeSet<Slug> = picked.into_iter().filter(|s| s != sender).collect();
    if picked.is_empty() {
        return Err(AlertError::Empty);
    }
    Ok(picked)
}

/// The steps taken for a recipient organization that has not acknowledged an alert in time
/// ("Ensuring").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EscalationStep {
    /// At the deadline: a reminder in the inbox, to the first contacts and to webhooks.
    Reminder = 1,
    /// Half the acknowledgement time later: the organization's second contacts.
    SecondContact = 2,
    /// At twice the acknowledgement time: the organization's CEPTOAR secretariats and the
    /// ministries responsible for its sectors.
    Oversight = 3,
}

impl EscalationStep {
    /// Every step, in order.
    pub const ALL: [EscalationStep; 3] = [
        EscalationStep::Reminder,
        EscalationStep::SecondContact,
        EscalationStep::Oversight,
    ];

    /// The step's number as stored.
    pub fn number(self) -> i64 {
        self as i64
    }

    /// The step with this number.
    pub fn from_number(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.number() == n)
    }

    /// The step after this one.
    pub fn next(self) -> Option<Self> {
        Self::from_number(self.number() + 1)
    }

    /// The step's name, as in notices and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStep::Reminder => "reminder",
            EscalationStep::SecondContact => "second-contact",
            EscalationStep::Oversight => "oversight",
        }
    }

    /// How long after the alert was sent this step is due, for an alert to acknowledge within
    /// `ack_within`.
    pub fn due_after(self, ack_within: chrono::TimeDelta) -> chrono::TimeDelta {
        match self {
            EscalationStep::Reminder => ack_within,
            EscalationStep::SecondContact => ack_within + ack_within / 2,
            EscalationStep::Oversight => ack_within * 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Slug {
        Slug::parse(x).expect("slug")
    }

    fn org(slug: &str, kind: OrgKind, sectors: &[&str], member_of: &[&str]) -> OrgFacts {
        OrgFacts {
            slug: s(slug),
            kind,
            sectors: sectors.iter().map(|x| s(x)).collect(),
            member_of: member_of.iter().map(|x| s(x)).collect(),
        }
    }

    fn community() -> Vec<OrgFacts> {
        vec![
            org("nisc", OrgKind::Coordinator, &[], &[]),
            org("mhlw", OrgKind::Ministry, &[], &[]),
            org(
                "water-ceptoar",
                OrgKind::Ceptoar,
                &["water"],
                &["ceptoar-council"],
            ),
            org(
                "medical-ceptoar",
                OrgKind::Ceptoar,
                &["medical"],
                &["ceptoar-council"],
            ),
            org(
                "tokyo-water",
                OrgKind::Operator,
                &["water"],
                &["water-ceptoar"],
            ),
            org(
                "osaka-water",
                OrgKind::Operator,
                &["water"],
                &["water-ceptoar"],
            ),
            org(
                "kyoto-hospital",
                OrgKind::Operator,
                &["medical"],
                &["medical-ceptoar"],
            ),
        ]
    }

    #[test]
    fn escalation_steps_follow_the_acknowledgement_time() {
        let d = chrono::TimeDelta::hours(4);
        let due: Vec<_> = EscalationStep::ALL
            .iter()
            .map(|s| s.due_after(d).num_minutes())
            .collect();
        assert_eq!(due, [240, 360, 480]);
        assert_eq!(
            EscalationStep::Reminder.next(),
            Some(EscalationStep::SecondContact)
        );
        assert_eq!(EscalationStep::Oversight.next(), None);
        assert_eq!(EscalationStep::from_number(0), None);
    }

    fn sectors() -> BTreeSet<Slug> {
        ["water", "medical", "space"].iter().map(|x| s(x)).collect()
    }

    fn names(set: &BTreeSet<Slug>) -> Vec<&str> {
        set.iter().map(Slug::as_str).collect()
    }

    fn audience(scope: Scope) -> Audience {
        Audience {
            scope,
            roles: Roles::new(),
        }
    }

    #[test]
    fn every_scope_resolves() {
        let (orgs, sectors) = (community(), sectors());
        let c = Community {
            sectors: &sectors,
            orgs: &orgs,
        };
        let nisc = s("nisc");
        let all = resolve_audience(&audience(Scope::All), Tlp::Green, &nisc, c).expect("all");
        assert_eq!(all.len(), 6, "everyone but the sender");
        let water = resolve_audience(
            &audience(Scope::Sectors(vec![s("water")])),
            Tlp::Green,
            &nisc,
            c,
        )
        .expect("sector");
        assert_eq!(
            names(&water),
            ["osaka-water", "tokyo-water", "water-ceptoar"]
        );
        let members = resolve_audience(
            &audience(Scope::Ceptoars(vec![s("medical-ceptoar")])),
            Tlp::Amber,
            &nisc,
            c,
        )
        .expect("ceptoar");
        assert_eq!(names(&members), ["kyoto-hospital", "medical-ceptoar"]);
        let named = resolve_audience(
            &audience(Scope::Organizations(vec![s("tokyo-water")])),
            Tlp::Red,
            &nisc,
            c,
        )
        .expect("named");
        assert_eq!(names(&named), ["tokyo-water"]);
    }

    #[test]
    fn red_needs_named_recipients_and_unknown_names_are_refused() {
        let (orgs, sectors) = (community(), sectors());
        let c = Community {
            sectors: &sectors,
            orgs: &orgs,
        };
        let nisc = s("nisc");
        assert_eq!(
            resolve_audience(
                &audience(Scope::Sectors(vec![s("water")])),
                Tlp::Red,
                &nisc,
                c
            ),
            Err(AlertError::RedNeedsNamedRecipients)
        );
        assert!(matches!(
            resolve_audience(
                &audience(Scope::Ceptoars(vec![s("tokyo-water")])),
                Tlp::Green,
                &nisc,
                c
            ),
            Err(AlertError::Unknown {
                what: "CEPTOAR",
                ..
            })
        ));
        assert!(matches!(
            resolve_audience(
                &audience(Scope::Sectors(vec![s("mining")])),
                Tlp::Green,
                &nisc,
                c
            ),
            Err(AlertError::Unknown { what: "sector", .. })
        ));
        // A known sector with no organization in it reaches no one.
        assert_eq!(
            resolve_audience(
                &audience(Scope::Sectors(vec![s("space")])),
                Tlp::Green,
                &nisc,
                c
            ),
            Err(AlertError::Empty)
        );
        assert_eq!(
            resolve_audience(
                &audience(Scope::Organizations(vec![s("nisc")])),
                Tlp::Green,
                &nisc,
                c
            ),
            Err(AlertError::Empty)
        );
    }
}
