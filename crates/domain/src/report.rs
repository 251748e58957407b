//! Incident and outage reports: contact formations, stages and deadlines, routing to
//! recipients, and the anonymity rule that decides who may know who reported.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::slug::Slug;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's name as used in the API and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {:?}; expected one of {}", $what, s, names.join(", "))
                })
            }
        }
    };
}

string_enum!(
    /// How a report travels: the policy's contact formations.
    Formation, "formation" {
        Ministry = "ministry",
        CeptoarAnonymous = "ceptoar-anonymous",
        Agency = "agency",
    }
);

string_enum!(
    /// What caused the outage.
    Cause, "cause" {
        Cyberattack = "cyberattack",
        NaturalDisaster = "natural-disaster",
        SystemFailure = "system-failure",
        Other = "other",
        Unknown = "unknown",
    }
);

string_enum!(
    /// Which kind of technology is affected.
    TechScope, "scope" {
        It = "it",
        Ot = "ot",
        Iot = "iot",
    }
);

string_enum!(
    /// A report's stages, in order.
    Stage, "stage" {
        Initial = "initial",
        Update = "update",
        Final = "final",
    }
);

string_enum!(
    /// Where a recipient's triage of a report stands.
    TriageStatus, "status" {
        New = "new",
        Acknowledged = "acknowledged",
        Investigating = "investigating",
        Shared = "shared",
        Closed = "closed",
    }
);

string_enum!(
    /// Traffic Light Protocol 2.0 labels; never translated.
    Tlp, "TLP label" {
        Red = "TLP:RED",
        AmberStrict = "TLP:AMBER+STRICT",
        Amber = "TLP:AMBER",
        Green = "TLP:GREEN",
        Clear = "TLP:CLEAR",
    }
);

/// How long each stage may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageDeadlines {
    /// From detection to the initial report.
    pub initial: TimeDelta,
    /// From the initial report to the first update.
    pub update: TimeDelta,
    /// From the initial report to the final report.
    pub final_report: TimeDelta,
}

impl Default for StageDeadlines {
    /// 24 hours, 72 hours, 30 days.
    fn default() -> Self {
        Self {
            initial: TimeDelta::hours(24),
            update: TimeDelta::hours(72),
            final_report: TimeDelta::days(30),
        }
    }
}

/// Deadlines per formation and severity: the first matching override wins, else the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    pub default: StageDeadlines,
    pub overrides: Vec<DeadlineOverride>,
}

/// Deadlines for reports of one formation and/or from one level up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineOverride {
    pub formation: Option<Formation>,
    /// Applies to emergencies only.
    pub emergency_only: bool,
    pub deadlines: StageDeadlines,
}

impl DeadlinePolicy {
    /// The deadlines for a report.
    pub fn for_report(&self, formation: Formation, emergency: bool) -> StageDeadlines {
        self.overrides
            .iter()
            .find(|o| {
                o.formation.is_none_or(|f| f == formation) && (!o.emergency_only || emergency)
            })
            .map_or(self.default, |o| o.deadlines)
    }
}

/// The next stage a report owes, and by when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Due {
    pub stage: Stage,
    pub by: DateTime<Utc>,
}

/// What a report owes next: an update, then the final report; nothing once final.
pub fn next_due(
    deadlines: StageDeadlines,
    initial_at: DateTime<Utc>,
    stages_done: &BTreeSet<Stage>,
) -> Option<Due> {
    if stages_done.contains(&Stage::Final) {
        return None;
    }
    if !stages_done.contains(&Stage::Update) {
        return Some(Due {
            stage: Stage::Update,
            by: initial_at + deadlines.update,
        });
    }
    Some(Due {
        stage: Stage::Final,
        by: initial_at + deadlines.final_report,
    })
}

/// Why a stage cannot be filed now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("the report is final; no further stage can be filed")]
    AlreadyFinal,
    #[error("a report starts with its initial stage; file it with POST /api/v1/reports")]
    InitialTwice,
}

/// Checks that `next` may follow the stages already filed.
pub fn check_next_stage(done: &BTreeSet<Stage>, next: Stage) -> Result<(), StageError> {
    if done.contains(&Stage::Final) {
        return Err(StageError::AlreadyFinal);
    }
    if next == Stage::Initial {
        return Err(StageError::InitialTwice);
    }
    Ok(())
}

/// The longest title accepted, in characters.
pub const MAX_TITLE: usize = 200;
/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 20_000;
/// How far in the future a detection time may lie (clock skew).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A report as an operator files it, after each field has been parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReport {
    pub title: String,
    pub description: String,
    pub sectors: Vec<Slug>,
    pub services: Vec<Slug>,
    pub cause: Cause,
    pub scope: BTreeSet<TechScope>,
    pub detected: DateTime<Utc>,
    pub occurred: Option<DateTime<Utc>>,
    pub schema: String,
    pub answers: crate::severity::Answers,
    pub level: u8,
    pub emergency: bool,
    pub score: Option<f64>,
    pub tlp: Tlp,
    pub formation: Formation,
    /// The CEPTOAR (anonymous formation) or the agency (agency formation).
    pub via: Option<Slug>,
    pub consent_named: bool,
}

/// A field of a report that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a title and description's lengths.
pub fn check_text(title: &str, description: &str) -> Result<(), FieldError> {
    if title.trim().is_empty() {
        return Err(FieldError::new("title", "a report needs a title"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(FieldError::new(
            "title",
            format!("at most {MAX_TITLE} characters"),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(FieldError::new(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(())
}

impl NewReport {
    /// Checks the rules between fields, given the time now.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), FieldError> {
        check_text(&self.title, &self.description)?;
        if self.sectors.is_empty() {
            return Err(FieldError::new(
                "sectors",
                "name at least one affected sector",
            ));
        }
        if self.scope.is_empty() {
            return Err(FieldError::new("scope", "name at least one of it, ot, iot"));
        }
        if self.detected > now + MAX_CLOCK_SKEW {
            return Err(FieldError::new(
                "detected_at",
                "the detection time is in the future",
            ));
        }
        if self.occurred.is_some_and(|o| o > self.detected) {
            return Err(FieldError::new(
                "occurred_at",
                "the outage cannot occur after it was detected",
            ));
        }
        match (self.formation, &self.via) {
            (Formation::Agency, None) => Err(FieldError::new(
                "via",
                "the agency formation needs the agency's slug in via",
            )),
            (Formation::Ministry, Some(_)) => Err(FieldError::new(
                "via",
                "the ministry formation goes to the responsible ministry; leave via out",
            )),
            _ => Ok(()),
        }
    }
}

string_enum!(
    /// Why a report is routed to an organization.
    RouteReason, "route reason" {
        // The ministry responsible for an affected sector.
        ResponsibleMinistry = "responsible-ministry",
        // The coordinator, with whom the ministry formation shares.
        Coordinator = "coordinator",
        // The reporter's CEPTOAR secretariat, which relays it anonymized.
        CeptoarSecretariat = "ceptoar-secretariat",
        // The cybersecurity agency the reporter chose.
        ChosenAgency = "chosen-agency",
        // An emergency level: the coordinator's 24/365 duty desk is told at once.
        EmergencyDuty = "emergency-duty",
        // A sanitized copy relayed by a CEPTOAR secretariat.
        Relay = "relay",
    }
);

/// Everything routing needs to know about a report and the registry around it.
#[derive(Clone, Debug)]
pub struct RoutingFacts {
    pub formation: Formation,
    /// Ministries responsible for the affected sectors.
    pub responsible_ministries: Vec<Slug>,
    /// The coordinator (NISC).
    pub coordinator: Option<Slug>,
    /// The CEPTOAR relaying an anonymous report.
    pub via: Option<Slug>,
    pub emergency: bool,
}

/// One organization a report goes to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Route {
    pub org: Slug,
    pub reason: RouteReason,
    pub urgent: bool,
}

/// Decides who receives a report. An organization appears once, with its strongest reason;
/// at an emergency level the coordinator is always told, urgently.
pub fn route(facts: &RoutingFacts) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    let mut add = |org: &Slug, reason: RouteReason, urgent: bool| {
        if let Some(r) = routes.iter_mut().find(|r| &r.org == org) {
            r.urgent |= urgent;
            if reason == RouteReason::EmergencyDuty {
                r.reason = reason;
            }
        } else {
            routes.push(Route {
                org: org.clone(),
                reason,
                urgent,
            });
        }
    };
    match facts.formation {
        Formation::Ministry => {
            for m in &facts.responsible_ministries {
                add(m, RouteReason::ResponsibleMinistry, facts.emergency);
            }
            if let Some(c) = &facts.coordinator {
                add(c, RouteReason::Coordinator, facts.emergency);
            }
        }
        Formation::CeptoarAnonymous => {
            if let Some(v) = &facts.via {
                add(v, RouteReason::CeptoarSecretariat, facts.emergency);
            }
        }
        Formation::Agency => {
            if let Some(v) = &facts.via {
                add(v, RouteReason::ChosenAgency, facts.emergency);
            }
        }
    }
    if facts.emergency
        && let Some(c) = &facts.coordinator
    {
        add(c, RouteReason::EmergencyDuty, true);
    }
    routes
}

/// The words that stand for the reporter where its identity is hidden.
pub fn anonymous_reporter(sector_names: &[String]) -> String {
    match sector_names {
        [] => "an operator".to_owned(),
        [one] => format!("an operator in the {one} sector"),
        many => format!("an operator in the {} sectors", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Slug {
        Slug::parse(x).expect("slug")
    }

    #[test]
    fn formations_route_to_their_recipients() {
        let facts = |formation, via: Option<&str>, emergency| RoutingFacts {
            formation,
            responsible_ministries: vec![s("mhlw")],
            coordinator: Some(s("nisc")),
            via: via.map(s),
            emergency,
        };
        let orgs = |f: &RoutingFacts| -> Vec<(String, RouteReason, bool)> {
            route(f)
                .into_iter()
                .map(|r| (r.org.to_string(), r.reason, r.urgent))
                .collect()
        };
        assert_eq!(
            orgs(&facts(Formation::Ministry, None, false)),
            [
                ("mhlw".into(), RouteReason::ResponsibleMinistry, false),
                ("nisc".into(), RouteReason::Coordinator, false)
            ]
        );
        assert_eq!(
            orgs(&facts(
                Formation::CeptoarAnonymous,
                Some("water-ceptoar"),
                false
            )),
            [(
                "water-ceptoar".into(),
                RouteReason::CeptoarSecretariat,
                false
            )]
        );
        assert_eq!(
            orgs(&facts(Formation::Agency, Some("jpcert-cc"), false)),
            [("jpcert-cc".into(), RouteReason::ChosenAgency, false)]
        );
        assert_eq!(
            orgs(&facts(
                Formation::CeptoarAnonymous,
                Some("water-ceptoar"),
                true
            )),
            [
                (
                    "water-ceptoar".into(),
                    RouteReason::CeptoarSecretariat,
                    true
                ),
                ("nisc".into(), RouteReason::EmergencyDuty, true)
            ]
        );
        assert_eq!(
            orgs(&facts(Formation::Ministry, None, true))[1],
            ("nisc".into(), RouteReason::EmergencyDuty, true)
        );
    }

    #[test]
    fn stages_and_deadlines() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let d = StageDeadlines::default();
        let mut done: BTreeSet<Stage> = [Stage::Initial].into();
        assert_eq!(
            next_due(d, t0, &done),
            Some(Due {
                stage: Stage::Update,
                by: t0 + TimeDelta::hours(72)
            })
        );
        done.insert(Stage::Update);
        assert_eq!(
            next_due(d, t0, &done),
            Some(Due {
                stage: Stage::Final,
                by: t0 + TimeDelta::days(30)
            })
        );
        assert_eq!(check_next_stage(&done, Stage::Update), Ok(()));
        done.insert(Stage::Final);
        assert_eq!(next_due(d, t0, &done), None);
        assert_eq!(
            check_next_stage(&done, Stage::Update),
            Err(StageError::AlreadyFinal)
        );
        assert_eq!(
            check_next_stage(&[Stage::Initial].into(), Stage::Initial),
            Err(StageError::InitialTwice)
        );
        let policy = DeadlinePolicy {
            default: d,
            overrides: vec![DeadlineOverride {
                formation: None,
                emergency_only: true,
                deadlines: StageDeadlines {
                    initial: TimeDelta::hours(1),
                    update: TimeDelta::hours(6),
                    final_report: TimeDelta::days(14),
                },
            }],
        };
        assert_eq!(policy.for_report(Formation::Ministry, false), d);
        assert_eq!(
            policy.for_report(Formation::Agency, true).initial,
            TimeDelta::hours(1)
        );
    }

    #[test]
    fn names_parse_and_errors_list_the_choices() {
        assert_eq!(
            "ceptoar-anonymous".parse::<Formation>(),
            Ok(Formation::CeptoarAnonymous)
        );
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>(), Ok(Tlp::AmberStrict));
        let err = "carrier-pigeon".parse::<Formation>().unwrap_err();
        assert!(err.contains("ministry, ceptoar-anonymous, agency"), "{err}");
        assert_eq!(
            anonymous_reporter(&["Water".into()]),
            "an operator in the Water sector"
        );
    }
}
