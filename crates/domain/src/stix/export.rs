//! ciphub's own records as STIX 2.1: alerts as a report with a note, incident reports as an
//! incident with the reporter's identity (or the sector's placeholder, when the reporter is
//! anonymous to the reader), stage notes and a report that ties them together.
//!
//! The builders take only what the reader may see: the caller passes the view the access
//! policy produced, so the anonymity rule holds here because nothing else reaches them.

use serde_json::{Value, json};

use super::{IdSpace, format_timestamp, marking_id};
use crate::report::Tlp;

/// The `created`/`modified` of an object that never changes after it is made.
fn times(created_us: i64, modified_us: i64) -> (String, String) {
    (
        format_timestamp(created_us),
        format_timestamp(modified_us.max(created_us)),
    )
}

/// When the placeholder identities of anonymous reporters were first described: the date of
/// the policy whose contact formations make reporters anonymous (the 4th edition, 2017-04-18).
/// A constant, so a placeholder is one version in every bundle.
const PLACEHOLDER_CREATED_US: i64 = 1_492_473_600_000_000;

/// An organization as a STIX identity: a stable id per organization, and the time it was
/// registered as `created`, so every bundle carries the same version of it.
pub fn organization_identity(ids: IdSpace, slug: &str, name: &str, registered_us: i64) -> Value {
    let (created, modified) = times(registered_us, registered_us);
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": ids.id("identity", &format!("org:{slug}")),
        "created": created,
        "modified": modified,
        "name": name,
        "identity_class": "organization",
    })
}

/// What an alert says, as its recipient sees it.
#[derive(Clone, Debug)]
pub struct AlertFacts<'a> {
    /// The instance's id namespace.
    pub ids: IdSpace,
    pub id: i64,
    pub instance: &'a str,
    pub sender_slug: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub tlp: Tlp,
    pub created_us: i64,
    pub exercise: bool,
}

/// An alert as a STIX report and a note carrying its text.
pub fn alert_objects(a: &AlertFacts<'_>) -> Vec<Value> {
    let (created, modified) = times(a.created_us, a.created_us);
    let report_id = a
        .ids
        .id("report", &format!("{}:alert:{}", a.instance, a.id));
    let note_id = a
        .ids
        .id("note", &format!("{}:alert:{}:text", a.instance, a.id));
    let creator = a.ids.id("identity", &format!("org:{}", a.sender_slug));
    let marking = [marking_id(a.tlp)];
    let mut labels = vec!["ciphub-alert"];
    if a.exercise {
        labels.push("exercise");
    }
    let reference = json!([{
        "source_name": "ciphub",
        "external_id": format!("alert-{}", a.id),
    }]);
    vec![
        json!({
            "type": "report",
            "spec_version": "2.1",
            "id": report_id,
            "created": created,
            "modified": modified,
            "created_by_ref": creator,
            "name": a.title,
            "description": a.body,
            "published": created,
            "report_types": ["threat-report"],
            "labels": labels,
            "object_refs": [note_id],
            "object_marking_refs": marking,
            "external_references": reference,
        }),
        json!({
            "type": "note",
            "spec_version": "2.1",
            "id": note_id,
            "created": created,
            "modified": modified,
            "created_by_ref": creator,
            "abstract": a.title,
            "content": a.body,
            "object_refs": [report_id],
            "object_marking_refs": marking,
        }),
    ]
}

/// Who filed a report, as the reader may know it.
#[derive(Clone, Debug)]
pub enum Reporter<'a> {
    /// The reader may know the reporter.
    Named {
        slug: &'a str,
        name: &'a str,
        /// When the organization was registered: its identity's `created`.
        registered_us: i64,
    },
    /// The reporter is anonymous to the reader: only the sector's placeholder appears.
    Anonymous {
        label: &'a str,
        sectors: &'a [String],
    },
}

/// One stage of a report as the reader sees it.
#[derive(Clone, Debug)]
pub struct StageFacts<'a> {
    pub stage: &'a str,
    pub filed_us: i64,
    pub summary: Option<&'a str>,
    pub level: u8,
}

/// An incident report as the reader sees it.
#[derive(Clone, Debug)]
pub struct ReportFacts<'a> {
    /// The instance's id namespace.
    pub ids: IdSpace,
    pub id: i64,
    pub instance: &'a str,
    pub reporter: Reporter<'a>,
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub cause: &'a str,
    pub scope: &'a [String],
    pub sectors: &'a [String],
    pub detected_us: i64,
    pub created_us: i64,
    pub updated_us: i64,
    pub tlp: Tlp,
    pub level: u8,
    pub stages: Vec<StageFacts<'a>>,
    /// Part of an exercise: labelled `exercise`.
    pub exercise: bool,
}

/// The reporter's identity: the organization, or a placeholder for its sectors that says
/// nothing more about who it is.
fn reporter_identity(r: &ReportFacts<'_>) -> Value {
    let (created, modified) = times(PLACEHOLDER_CREATED_US, PLACEHOLDER_CREATED_US);
    match &r.reporter {
        Reporter::Named {
            slug,
            name,
            registered_us,
        } => organization_identity(r.ids, slug, name, *registered_us),
        Reporter::Anonymous { label, sectors } => json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": r.ids.id("identity", &format!("placeholder:{}", sectors.join(","))),
            "created": created,
            "modified": modified,
            "name": label,
            "identity_class": "class",
            "sectors": sectors,
        }),
    }
}

/// An incident report as STIX: identity, incident, one note per stage and the report.
pub fn report_objects(r: &ReportFacts<'_>) -> Vec<Value> {
    let (created, modified) = times(r.created_us, r.updated_us);
    let key = format!("{}:report:{}", r.instance, r.id);
    let identity = reporter_identity(r);
    let identity_id = identity["id"].clone();
    let incident_id = r.ids.id("incident", &key);
    let marking = [marking_id(r.tlp)];
    let name = r
        .title
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Report {}", r.id));
    let mut labels = vec![
        format!("cause:{}", r.cause),
        format!("severity-level:{}", r.level),
    ];
    labels.extend(r.scope.iter().map(|s| format!("scope:{s}")));
    labels.extend(r.sectors.iter().map(|s| format!("sector:{s}")));
    if r.exercise {
        labels.push("exercise".to_owned());
    }
    let mut incident = json!({
        "type": "incident",
        "spec_version": "2.1",
        "id": incident_id,
        "created": created,
        "modified": modified,
        "created_by_ref": identity_id,
        "name": name,
        "labels": labels,
        "object_marking_refs": marking,
        "external_references": [{
            "source_name": "ciphub",
            "external_id": format!("report-{}", r.id),
            "description": format!("detected {}", format_timestamp(r.detected_us)),
        }],
    });
    if let Some(d) = r.description {
        incident["description"] = json!(d);
    }
    let mut objects = vec![identity];
    let mut refs = vec![json!(incident_id)];
    objects.push(incident);
    for (i, s) in r.stages.iter().enumerate() {
        let Some(summary) = s.summary else { continue };
        let (c, m) = times(s.filed_us, s.filed_us);
        let note_id = r.ids.id("note", &format!("{key}:stage:{i}"));
        refs.push(json!(note_id));
        objects.push(json!({
            "type": "note",
            "spec_version": "2.1",
            "id": note_id,
            "created": c,
            "modified": m,
            "created_by_ref": identity_id,
            "abstract": format!("{} report (severity level {})", s.stage, s.level),
            "content": summary,
            "object_refs": [incident_id],
            "object_marking_refs": marking,
        }));
    }
    objects.push(json!({
        "type": "report",
        "spec_version": "2.1",
        "id": r.ids.id("report", &key),
        "created": created,
        "modified": modified,
        "created_by_ref": identity_id,
        "name": name,
        "published": modified,
        "report_types": ["threat-report"],
        "object_refs": refs,
        "object_marking_refs": marking,
    }));
    objects
}

/// A bundle of `objects` with the TLP 2.0 marking definitions they use.
pub fn bundle(objects: Vec<Value>, tlps: &[Tlp]) -> Value {
    let mut all: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for t in tlps {
        if seen.insert(t.as_str()) {
            all.push(super::marking_definition(*t));
        }
    }
    // One copy of each version (reports of one incident share a reporter's identity).
    let mut versions = std::collections::BTreeSet::new();
    for o in objects {
        let key = (o["id"].to_string(), o["modified"].to_string());
        if versions.insert(key) {
            all.push(o);
        }
    }
    json!({ "type": "bundle", "id": super::new_id("bundle"), "objects": all })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::Bundle;

    fn report(reporter: Reporter<'_>) -> Vec<Value> {
        report_at(7, 1_700_000_100_000_000, reporter)
    }

    fn report_at(id: i64, created_us: i64, reporter: Reporter<'_>) -> Vec<Value> {
        report_objects(&ReportFacts {
            ids: IdSpace::LEGACY,
            id,
            instance: "test",
            reporter,
            title: Some("Water plant outage"),
            description: Some("Pumps stopped"),
            cause: "cyberattack",
            scope: &["ot".to_owned()],
            sectors: &["water".to_owned()],
            detected_us: 1_700_000_000_000_000,
            created_us,
            updated_us: created_us + 100_000_000,
            tlp: Tlp::Amber,
            level: 3,
            exercise: false,
            stages: vec![StageFacts {
                stage: "initial",
                filed_us: 1_700_000_100_000_000,
                summary: Some("first look"),
                level: 3,
            }],
        })
    }

    #[test]
    fn exports_are_valid_stix() {
        let objects = report(Reporter::Named {
            slug: "op-1",
            name: "Operator One",
            registered_us: 1_600_000_000_000_000,
        });
        let b = bundle(objects, &[Tlp::Amber]);
        let parsed = Bundle::parse(b).expect("valid bundle");
        assert_eq!(parsed.objects.len(), 5);
        let alert = alert_objects(&AlertFacts {
            ids: IdSpace::LEGACY,
            id: 3,
            instance: "test",
            sender_slug: "nisc",
            title: "Patch now",
            body: "**now**",
            tlp: Tlp::Green,
            created_us: 1_700_000_000_000_000,
            exercise: true,
        });
        Bundle::parse(bundle(alert, &[Tlp::Green])).expect("valid alert bundle");
    }

    #[test]
    fn an_anonymous_reporter_becomes_the_sector_placeholder() {
        let objects = report(Reporter::Anonymous {
            label: "an operator in the Water sector",
            sectors: &["water".to_owned()],
        });
        let text = serde_json::to_string(&objects).expect("json");
        assert!(text.contains("an operator in the Water sector"));
        assert!(!text.contains("op-1") && !text.contains("Operator One"));
        assert_eq!(objects[0]["identity_class"], "class");
        // The same sector always gives the same placeholder, whoever reported.
        let again = report(Reporter::Anonymous {
            label: "an operator in the Water sector",
            sectors: &["water".to_owned()],
        });
        assert_eq!(objects[0]["id"], again[0]["id"]);
    }

    #[test]
    fn identities_are_one_version_in_every_bundle() {
        let named = || Reporter::Named {
            slug: "op-1",
            name: "Operator One",
            registered_us: 1_600_000_000_000_000,
        };
        static WATER: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["water".to_owned()]);
        let anonymous = || Reporter::Anonymous {
            label: "an operator in the Water sector",
            sectors: &WATER,
        };
        for who in [named as fn() -> Reporter<'static>, anonymous] {
            let first = report_at(7, 1_700_000_100_000_000, who());
            let later = report_at(8, 1_800_000_100_000_000, who());
            assert_eq!(first[0]["type"], "identity");
            assert_eq!(first[0]["id"], later[0]["id"]);
            assert_eq!(first[0]["created"], later[0]["created"]);
            assert_eq!(first[0]["modified"], later[0]["modified"]);
        }
        assert_eq!(
            report_at(7, 1_700_000_100_000_000, named())[0]["created"],
            "2020-09-13T12:26:40.000000Z"
        );
    }
}
