//! Tests on real MISP events: CIRCL OSINT events from PyMISP's test data, kept outside the
//! repository (`../shared/misp-events` beside the workspace).

use super::*;
use crate::stix::{parse_object, reference_check, tlp_of_marking};
use std::collections::BTreeSet;

/// The real events, by file name; `None` (with a SKIPPED line) where the directory is
/// absent. It is outside data rather than a service, so this skips even under
/// CIPHUB_REQUIRE_ALL.
fn events() -> Option<Vec<(String, Value)>> {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/misp-events"
    ));
    let Ok(entries) = std::fs::read_dir(dir) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED misp real events: no directory {}",
            dir.display()
        );
        return None;
    };
    let mut out: Vec<(String, Value)> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).expect("JSON"))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

fn tlp_of(o: &Value) -> Option<Tlp> {
    o.get("object_marking_refs")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter_map(tlp_of_marking)
        .reduce(stricter)
}

#[test]
fn under_five_percent_of_real_attributes_are_left_out() {
    let Some(events) = events() else { return };
    assert_eq!(events.len(), 11, "the 11 CIRCL events");
    let (mut total, mut left) = (0, BTreeMap::<String, usize>::new());
    for (name, event) in &events {
        let imported = event_to_stix(event).unwrap_or_else(|e| panic!("{name}: {e}"));
        for o in &imported.objects {
            parse_object(o.clone(), "$").unwrap_or_else(|e| panic!("{name}: {e}: {o}"));
            // rstix 0.23's pattern type check does not know a PE section's `hashes`,
            // which STIX 2.1 defines (windows-pe-section-type); everything else must pass.
            if let Err(e) = reference_check(o)
                && !e.contains("sections[*].hashes")
            {
                panic!("{name}: {e}: {o}");
            }
        }
        total += imported.attributes;
        for (kind, n) in imported.left_out_by_type() {
            *left.entry(kind).or_default() += n;
        }
    }
    let left_out: usize = left.values().sum();
    assert_eq!(total, 1035);
    assert!(
        left_out * 100 < total * 5,
        "{left_out} of {total} attributes left out: {left:?}"
    );
}

/// A MISP scalar (`"1"`, `1`, `true`) as text, for comparing what came back.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The attributes of an event, those of its objects included, as comparable rows:
/// (uuid, type, value, category, to_ids, comment, object relation), skipping `paths`.
fn attribute_rows(ev: &Value, skip: &HashSet<String>) -> BTreeSet<[String; 7]> {
    let row = |a: &Value| {
        let to_ids = matches!(text(&a["to_ids"]).as_str(), "true" | "1");
        [
            text(&a["uuid"]),
            text(&a["type"]),
            text(&a["value"]),
            text(&a["category"]),
            to_ids.to_string(),
            text(&a["comment"]),
            text(&a["object_relation"]),
        ]
    };
    let mut out = BTreeSet::new();
    for (i, a) in ev["Attribute"].as_array().into_iter().flatten().enumerate() {
        if !skip.contains(&format!("Event.Attribute[{i}]")) {
            out.insert(row(a));
        }
    }
    for (j, o) in ev["Object"].as_array().into_iter().flatten().enumerate() {
        for (k, a) in o["Attribute"].as_array().into_iter().flatten().enumerate() {
            if !skip.contains(&format!("Event.Object[{j}].Attribute[{k}]")) {
                out.insert(row(a));
            }
        }
    }
    out
}

#[test]
fn real_events_come_back_from_the_feed_as_they_were() {
    let Some(events) = events() else { return };
    let publisher = ("ciphub", "00000000-0000-4000-8000-000000000000");
    for (name, event) in &events {
        let imported = event_to_stix(event).expect("converts");
        let back = stix_to_events(&imported.objects, publisher, tlp_of);
        assert_eq!(back.len(), 1, "{name}");
        let (was, now) = (event.get("Event").unwrap_or(event), &back[0]["Event"]);
        for key in ["uuid", "info", "date", "threat_level_id", "analysis"] {
            assert_eq!(text(&was[key]), text(&now[key]), "{name}: {key}");
        }
        assert_eq!(was["Orgc"]["name"], now["Orgc"]["name"], "{name}");
        assert_eq!(was["Orgc"]["uuid"], now["Orgc"]["uuid"], "{name}");
        let skip: HashSet<String> = imported.left_out.iter().map(|l| l.path.clone()).collect();
        assert_eq!(
            attribute_rows(now, &HashSet::new()),
            attribute_rows(was, &skip),
            "{name}"
        );
        let objects = |ev: &Value| -> BTreeSet<(String, String)> {
            ev["Object"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| (text(&o["uuid"]), text(&o["name"])))
                .collect()
        };
        assert_eq!(objects(now), objects(was), "{name}");
        let clusters = |ev: &Value| -> BTreeSet<String> {
            ev["Galaxy"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["GalaxyCluster"].as_array().into_iter().flatten())
                .map(|c| text(&c["value"]))
                .collect()
        };
        assert_eq!(clusters(now), clusters(was), "{name}");
        let tags = |ev: &Value| -> BTreeSet<String> {
            ev["Tag"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| text(&t["name"]).replace("tlp:white", "tlp:clear"))
                .collect()
        };
        assert_eq!(tags(now), tags(was), "{name}");
    }
}

#[test]
fn one_orgc_is_one_identity_version_however_many_events_name_it() {
    let Some(events) = events() else { return };
    let mut circl = Vec::new();
    for (_, event) in &events {
        let imported = event_to_stix(event).expect("converts");
        circl.extend(
            imported
                .objects
                .into_iter()
                .filter(|o| o["id"] == "identity--55f6ea5e-2c60-40e5-964f-47a8950d210f"),
        );
    }
    assert_eq!(circl.len(), 10, "CIRCL made ten of the events");
    assert!(circl.iter().all(|i| *i == circl[0]), "{circl:?}");
    assert_eq!(circl[0]["created"], "1970-01-01T00:00:00.000Z");
    assert_eq!(circl[0]["modified"], circl[0]["created"]);
}
