//! MISP feeds and STIX 2.1: a MISP feed event becomes STIX objects under a report, and STIX
//! reports become MISP feed events again, with the feed's `manifest.json`.
//!
//! A MISP feed directory is `manifest.json` plus one `<event-uuid>.json` per event, each
//! `{"Event": {...}}`. This module only converts JSON values; reading and writing the files is
//! the caller's job. An event becomes a report (published on the event's date, with its threat
//! level and analysis as `x_misp_` properties) created by an identity for its Orgc; observables
//! become indicators (`attributes.rs`), descriptive values notes, `link`s external references,
//! MISP objects groupings with relationships (`objects.rs`), and galaxy clusters attack
//! patterns, malware, tools, threat actors and the like (`galaxies.rs`). What has no STIX form
//! is left out and named in [`Imported::left_out`].

mod attributes;
mod galaxies;
mod objects;
#[cfg(test)]
mod real_events;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::report::Tlp;
use crate::stix::{marking_id, parse_timestamp, stricter};
use attributes::{Form, Place};

/// How paths in errors and in [`Imported::left_out`] begin, whether or not the event came
/// wrapped in `{"Event": ...}`.
const ROOT: &str = "Event";

/// The namespace of the UUID v5 that names the event gathering one day's loose indicators.
const LOOSE_DAY_NAMESPACE: Uuid = Uuid::from_u128(0x54fa_1892_2719_4320_a86a_abdf_8d06_0231);

/// The namespace of the UUID v5 that names a link attribute read from a reference without one.
const LINK_NAMESPACE: Uuid = Uuid::from_u128(0x1f0e_5a7c_93d2_4b8e_a6f1_0c2d_3e4f_5a6b);

/// The category of a link attribute unless its container says otherwise.
const LINK_CATEGORY: &str = "External analysis";

/// The `created` and `modified` of what many events share and no event dates (an Orgc's
/// identity, a galaxy cluster): fixed, so that importing another event adds no version.
const STABLE_TIME: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// MISP's attribute categories, so that a STIX label naming one can be given back as the
/// category.
const MISP_CATEGORIES: [&str; 16] = [
    "Internal reference",
    "Targeting data",
    "Antivirus detection",
    "Payload delivery",
    "Artifacts dropped",
    "Payload installation",
    "Persistence mechanism",
    "Network activity",
    "Payload type",
    "Attribution",
    "External analysis",
    "Financial fraud",
    "Support Tool",
    "Social network",
    "Person",
    "Other",
];

/// What is wrong with a MISP event, and where (a JSON path such as `Event.Attribute[3].type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MispError {
    /// A property the conversion needs is absent.
    #[error("{path} is missing")]
    Missing { path: String },
    /// A property has the wrong JSON type.
    #[error("{path} must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    /// A property has the right type but an unusable value.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    /// STIX needs a report to reference at least one object, and the event gives none.
    #[error(
        "{path}: no attribute converts to an indicator and there is no Orgc to reference, \
         so no valid STIX report can be made"
    )]
    NothingToReport { path: String },
}

impl MispError {
    /// The JSON path of what is wrong.
    pub fn path(&self) -> &str {
        match self {
            MispError::Missing { path }
            | MispError::WrongType { path, .. }
            | MispError::Invalid { path, .. }
            | MispError::NothingToReport { path } => path,
        }
    }
}

/// An attribute [`event_to_stix`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Where it is: `Event.Attribute[3]`, `Event.Object[2].Attribute[0]`.
    pub path: String,
    /// Its MISP type.
    pub kind: String,
    /// Why it has no STIX form (`deleted`, `no STIX pattern for type btc`).
    pub reason: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (type {}: {})", self.path, self.kind, self.reason)
    }
}

/// What [`event_to_stix`] made of one MISP event.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The STIX 2.1 objects: the Orgc identity (when there is one), the galaxy clusters, what
    /// the attributes and objects became, the report.
    pub objects: Vec<Value>,
    /// The event's label: its strictest TLP tag.
    pub tlp: Option<Tlp>,
    /// How many attributes the event has, those inside its objects included.
    pub attributes: usize,
    /// The attributes left out.
    pub left_out: Vec<LeftOut>,
}

impl Imported {
    /// How many attributes were left out, by MISP type.
    pub fn left_out_by_type(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for l in &self.left_out {
            *out.entry(l.kind.clone()).or_default() += 1;
        }
        out
    }
}

/// The TLP label a MISP tag stands for (`tlp:white`, TLP 1.0, reads as CLEAR).
pub fn tlp_from_tag(tag: &str) -> Option<Tlp> {
    match tag.trim().to_ascii_lowercase().as_str() {
        "tlp:clear" | "tlp:white" => Some(Tlp::Clear),
        "tlp:green" => Some(Tlp::Green),
        "tlp:amber" => Some(Tlp::Amber),
        "tlp:amber+strict" => Some(Tlp::AmberStrict),
        "tlp:red" => Some(Tlp::Red),
        _ => None,
    }
}

/// The MISP tag for a TLP label (TLP 2.0 names).
pub fn tag_for(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "tlp:clear",
        Tlp::Green => "tlp:green",
        Tlp::Amber => "tlp:amber",
        Tlp::AmberStrict => "tlp:amber+strict",
        Tlp::Red => "tlp:red",
    }
}

/// The colour MISP's `tlp` taxonomy gives a label's tag.
fn colour_for(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "#ffffff",
        Tlp::Green => "#339900",
        Tlp::Amber | Tlp::AmberStrict => "#FFC000",
        Tlp::Red => "#CC0033",
    }
}

/// Converts one MISP feed event (`{"Event": {...}}` or the bare event) into STIX 2.1 objects.
pub fn event_to_stix(event: &Value) -> Result<Imported, MispError> {
    let event = event.get("Event").unwrap_or(event);
    let ev = as_object(event, ROOT)?;
    let uuid = uuid_field(ev, ROOT, "uuid")?;
    let info = req_str(ev, ROOT, "info")?;
    if info.trim().is_empty() {
        return Err(invalid(
            ROOT,
            "info",
            "is empty; it becomes the report's name",
        ));
    }
    let midnight = match opt_str(ev, ROOT, "date")? {
        Some(d) => Some(parse_date(d, &format!("{ROOT}.date"))?),
        None => None,
    }
    .and_then(|d| d.and_hms_opt(0, 0, 0))
    .map(|t| t.and_utc());
    let modified = opt_timestamp(ev, ROOT, "timestamp")?
        .or(midnight)
        .ok_or_else(|| missing(ROOT, "timestamp"))?;
    // MISP writes "0" for an event never published.
    let publish_timestamp =
        opt_timestamp(ev, ROOT, "publish_timestamp")?.filter(|t| t.timestamp() != 0);
    // The report is published on the event's date, at midnight UTC, so that the date comes back
    // unchanged; when MISP published it is kept beside.
    let published = midnight.or(publish_timestamp).unwrap_or(modified);

    let event_tags = tags(ev, ROOT)?;
    let tlp = strictest(event_tags.iter().filter_map(|t| tlp_from_tag(t)));
    let labels: Vec<&str> = event_tags
        .iter()
        .copied()
        .filter(|t| tlp_from_tag(t).is_none())
        .collect();

    let creator = match ev.get("Orgc") {
        None | Some(Value::Null) => None,
        Some(orgc) => {
            let path = format!("{ROOT}.Orgc");
            let o = as_object(orgc, &path)?;
            let id = format!("identity--{}", uuid_field(o, &path, "uuid")?);
            let name = req_str(o, &path, "name")?;
            // One version however many events name it: an import is not a change of the
            // organization.
            let mut identity = common("identity", &id, STABLE_TIME);
            identity.insert("name".into(), json!(name));
            identity.insert("identity_class".into(), json!("organization"));
            // The organization is named with the event, so it is shared no further.
            mark(&mut identity, tlp);
            Some((id, Value::Object(identity)))
        }
    };
    let creator_id = creator.as_ref().map(|(id, _)| id.as_str());
    let report_id = format!("report--{uuid}");

    let ctx = Context {
        tlp,
        modified,
        creator: creator_id,
        report_id: &report_id,
    };
    let mut made = Made::default();
    for (i, a) in opt_array(ev, ROOT, "Attribute")?.iter().enumerate() {
        let path = format!("{ROOT}.Attribute[{i}]");
        made.attribute(as_object(a, &path)?, &path, &ctx, None)?;
    }
    let mut converted = std::mem::take(&mut made.objects);
    let mut grouped = objects::objects_to_stix(ev, &ctx, &converted)?;
    let clusters = galaxies::clusters_to_stix(ev, &ctx)?;

    let mut refs: Vec<Value> = clusters
        .iter()
        .chain(&converted)
        .chain(&grouped.objects)
        .filter_map(|i| i.get("id").cloned())
        .collect();
    if refs.is_empty() {
        match creator_id {
            Some(id) => refs.push(json!(id)),
            None => return Err(MispError::NothingToReport { path: ROOT.into() }),
        }
    }
    // Versions of one report keep one `created`: the event's date, unless it is later.
    let created = midnight.filter(|m| *m <= modified).unwrap_or(modified);
    let mut report = common("report", &report_id, created);
    report.insert("modified".into(), json!(stix_time(modified)));
    report.insert("name".into(), json!(info));
    report.insert("published".into(), json!(stix_time(published)));
    report.insert("report_types".into(), json!(["threat-report"]));
    report.insert("object_refs".into(), Value::Array(refs));
    if let Some(id) = creator_id {
        report.insert("created_by_ref".into(), json!(id));
    }
    if !labels.is_empty() {
        report.insert("labels".into(), json!(labels));
    }
    made.put_links(&mut report);
    for key in ["threat_level_id", "analysis"] {
        if let Some(v) = opt_text(ev, ROOT, key)? {
            report.insert(format!("x_misp_{key}"), json!(v));
        }
    }
    if let Some(t) = publish_timestamp {
        report.insert("x_misp_publish_timestamp".into(), json!(stix_time(t)));
    }
    mark(&mut report, tlp);

    let mut objects = Vec::with_capacity(converted.len() + grouped.objects.len() + 2);
    if let Some((_, identity)) = creator {
        objects.push(identity);
    }
    objects.extend(clusters);
    objects.append(&mut converted);
    objects.append(&mut grouped.objects);
    objects.push(Value::Object(report));
    let mut left_out = made.left_out;
    left_out.append(&mut grouped.left_out);
    Ok(Imported {
        objects,
        tlp,
        attributes: made.attributes + grouped.attributes,
        left_out,
    })
}

/// Converts STIX reports and indicators into MISP feed events, for publishing a feed.
///
/// Each report becomes one event holding what it references: indicators, notes and
/// vulnerabilities as attributes, groupings as MISP objects, galaxy-like objects as galaxies,
/// its external references as links; its creator, when that identity is among `objects`, is the
/// Orgc. Indicators no report references are gathered into one event per UTC day of their
/// `created`. `org` is the publishing organization's (name, uuid), the Orgc otherwise; `tlp_of`
/// gives an object's label. Indicators whose pattern is not one of the simple forms
/// [`event_to_stix`] writes are left out.
pub fn stix_to_events(
    objects: &[Value],
    org: (&str, &str),
    tlp_of: impl Fn(&Value) -> Option<Tlp>,
) -> Vec<Value> {
    // Of several versions of one object, the latest is the one to publish.
    let mut latest: Latest<'_> = HashMap::new();
    for o in objects {
        let Some(id) = str_of(o, "id") else { continue };
        let version = version_of(o).unwrap_or_default();
        let entry = latest.entry(id).or_insert((version, o));
        if version > entry.0 {
            *entry = (version, o);
        }
    }

    let mut events = Vec::new();
    let mut referenced: HashSet<&str> = HashSet::new();
    let mut reports_seen: HashSet<&str> = HashSet::new();
    for report in objects.iter().filter(|o| type_of(o) == Some("report")) {
        let Some(id) = str_of(report, "id") else {
            continue;
        };
        if !reports_seen.insert(id) {
            continue;
        }
        let Some(&(_, report)) = latest.get(id) else {
            continue;
        };
        let Some(event) = report_to_event(report, &latest, org, &tlp_of) else {
            continue;
        };
        events.push(event);
        referenced.extend(ids_in(report, "object_refs"));
    }

    let mut days: BTreeMap<NaiveDate, Vec<&Value>> = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for o in objects.iter().filter(|o| type_of(o) == Some("indicator")) {
        let Some(id) = str_of(o, "id") else { continue };
        if referenced.contains(id) || !seen.insert(id) {
            continue;
        }
        let Some(&(_, latest)) = latest.get(id) else {
            continue;
        };
        let Some(created) = str_of(latest, "created").and_then(micros) else {
            continue;
        };
        if let Some(day) = DateTime::from_timestamp_micros(created) {
            days.entry(day.date_naive()).or_default().push(latest);
        }
    }
    for (day, group) in days {
        let tlp = strictest(group.iter().filter_map(|o| tlp_of(o)));
        let attributes: Vec<Value> = group
            .iter()
            .filter_map(|o| object_to_attribute(o, None, tlp, &tlp_of))
            .collect();
        if attributes.is_empty() {
            continue;
        }
        let timestamp = group
            .iter()
            .filter_map(|o| version_of(o))
            .max()
            .unwrap_or_default()
            .div_euclid(1_000_000);
        let day_text = day.format("%Y-%m-%d").to_string();
        events.push(event_value(EventParts {
            uuid: Uuid::new_v5(&LOOSE_DAY_NAMESPACE, day_text.as_bytes()).to_string(),
            info: format!("ciphub indicators {day_text}"),
            date: day_text,
            timestamp,
            published: timestamp,
            threat_level: "4",
            analysis: "2",
            tags: tlp.map(|t| tag_value(tag_for(t))).into_iter().collect(),
            attributes,
            objects: Vec::new(),
            galaxies: Vec::new(),
            orgc: org,
        }));
    }
    events
}

/// The MISP feed's `manifest.json` for `events`: an object keyed by event uuid.
pub fn manifest(events: &[Value]) -> Value {
    let mut out = Map::new();
    for event in events {
        let ev = event.get("Event").unwrap_or(event);
        let Some(uuid) = str_of(ev, "uuid") else {
            continue;
        };
        let mut entry = Map::new();
        for key in [
            "info",
            "date",
            "analysis",
            "threat_level_id",
            "timestamp",
            "publish_timestamp",
            "Orgc",
        ] {
            if let Some(v) = ev.get(key) {
                entry.insert(key.into(), v.clone());
            }
        }
        let tags: Vec<Value> = ev
            .get("Tag")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let mut tag = Map::new();
                tag.insert("name".into(), json!(str_of(t, "name")?));
                if let Some(colour) = str_of(t, "colour") {
                    tag.insert("colour".into(), json!(colour));
                }
                Some(Value::Object(tag))
            })
            .collect();
        entry.insert("Tag".into(), Value::Array(tags));
        out.insert(uuid.to_owned(), Value::Object(entry));
    }
    Value::Object(out)
}

// ---- MISP to STIX ----

/// What the attributes of one event share.
pub(crate) struct Context<'a> {
    tlp: Option<Tlp>,
    modified: DateTime<Utc>,
    creator: Option<&'a str>,
    report_id: &'a str,
}

/// The MISP object an attribute belongs to: its name and its grouping's id.
pub(crate) struct Within<'a> {
    name: &'a str,
    id: &'a str,
}

/// What a list of attributes became.
#[derive(Default)]
pub(crate) struct Made {
    /// Indicators, notes and vulnerabilities.
    objects: Vec<Value>,
    /// External references, from `link` attributes.
    links: Vec<Value>,
    /// The categories of links not in `External analysis`, by attribute uuid: a reference has
    /// no slot for one.
    link_categories: Map<String, Value>,
    left_out: Vec<LeftOut>,
    /// How many attributes were read.
    attributes: usize,
}

impl Made {
    /// Puts the links on the report or grouping that holds them.
    fn put_links(&mut self, container: &mut Map<String, Value>) {
        if !self.links.is_empty() {
            let links = std::mem::take(&mut self.links);
            container.insert("external_references".into(), Value::Array(links));
        }
        if !self.link_categories.is_empty() {
            let categories = std::mem::take(&mut self.link_categories);
            container.insert("x_misp_link_categories".into(), Value::Object(categories));
        }
    }

    /// Converts one attribute, keeping what it became.
    fn attribute(
        &mut self,
        attr: &Map<String, Value>,
        path: &str,
        ctx: &Context<'_>,
        within: Option<&Within<'_>>,
    ) -> Result<(), MispError> {
        self.attributes += 1;
        let kind = req_str(attr, path, "type")?;
        let leave = |reason: &str| LeftOut {
            path: path.to_owned(),
            kind: kind.to_owned(),
            reason: reason.to_owned(),
        };
        if opt_bool(attr, path, "deleted")? == Some(true) {
            self.left_out.push(leave("deleted"));
            return Ok(());
        }
        let value = req_str(attr, path, "value")?;
        let relation = opt_str(attr, path, "object_relation")?;
        let place = Place {
            object: within.map(|w| w.name),
            relation,
        };
        let form = attributes::form_for(kind, value, place)
            .map_err(|reason| invalid(path, "value", reason))?;
        if let Form::None(reason) = &form {
            self.left_out.push(leave(reason));
            return Ok(());
        }
        let uuid = uuid_field(attr, path, "uuid")?;
        let time = opt_timestamp(attr, path, "timestamp")?.unwrap_or(ctx.modified);
        let attr_tags = tags(attr, path)?;
        let attr_tlp = strictest(attr_tags.iter().filter_map(|t| tlp_from_tag(t)));
        let tlp = match (ctx.tlp, attr_tlp) {
            (Some(a), Some(b)) => Some(stricter(a, b)),
            (a, b) => a.or(b),
        };
        let comment = opt_str(attr, path, "comment")?.filter(|c| !c.trim().is_empty());
        if form == Form::Link {
            // Inside an object the source names the link's relation there (`permalink`).
            let source = relation.unwrap_or("link");
            let mut link = json!({"source_name": source, "url": value, "external_id": uuid});
            if let Some(c) = comment {
                link["description"] = json!(c);
            }
            self.links.push(link);
            if let Some(c) = opt_str(attr, path, "category")?.filter(|c| *c != LINK_CATEGORY) {
                self.link_categories.insert(uuid, json!(c));
            }
            return Ok(());
        }
        // The category first, then the attribute's other tags.
        let labels: Vec<&str> = opt_str(attr, path, "category")?
            .filter(|c| !c.trim().is_empty())
            .into_iter()
            .chain(
                attr_tags
                    .iter()
                    .copied()
                    .filter(|t| tlp_from_tag(t).is_none()),
            )
            .collect();
        let to_ids = opt_bool(attr, path, "to_ids")?.unwrap_or(false);
        let mut o = match form {
            Form::Pattern(_) | Form::Rule(_) => {
                let mut o = common("indicator", &format!("indicator--{uuid}"), time);
                // A rule's first line names it; the whole rule is the pattern.
                let shown = match form {
                    Form::Rule(_) => value.lines().next().unwrap_or_default(),
                    _ => value,
                };
                o.insert("name".into(), json!(format!("{kind}: {shown}")));
                if let Some(c) = comment {
                    o.insert("description".into(), json!(c));
                }
                let indicator_type = if to_ids {
                    "malicious-activity"
                } else {
                    "anomalous-activity"
                };
                o.insert("indicator_types".into(), json!([indicator_type]));
                let (pattern, language) = match &form {
                    Form::Pattern(p) => (p.as_str(), "stix"),
                    Form::Rule(language) => (value, *language),
                    _ => (value, "stix"),
                };
                o.insert("pattern".into(), json!(pattern));
                o.insert("pattern_type".into(), json!(language));
                o.insert("valid_from".into(), json!(stix_time(time)));
                o
            }
            Form::Vulnerability => {
                let mut o = common("vulnerability", &format!("vulnerability--{uuid}"), time);
                o.insert("name".into(), json!(value));
                if let Some(c) = comment {
                    o.insert("description".into(), json!(c));
                }
                if value.starts_with("CVE-") {
                    o.insert(
                        "external_references".into(),
                        json!([{"source_name": "cve", "external_id": value}]),
                    );
                }
                o
            }
            _ => {
                let mut o = common("note", &format!("note--{uuid}"), time);
                if let Some(c) = comment {
                    o.insert("abstract".into(), json!(c));
                }
                o.insert("content".into(), json!(value));
                let about = within.map_or(ctx.report_id, |w| w.id);
                o.insert("object_refs".into(), json!([about]));
                o.insert("x_misp_type".into(), json!(kind));
                o
            }
        };
        if !labels.is_empty() {
            o.insert("labels".into(), json!(labels));
        }
        if let Some(id) = ctx.creator {
            o.insert("created_by_ref".into(), json!(id));
        }
        if let Some(r) = relation {
            o.insert("x_misp_object_relation".into(), json!(r));
        }
        mark(&mut o, tlp);
        self.objects.push(Value::Object(o));
        Ok(())
    }
}

/// The common properties of a STIX domain object, created and modified at `time`.
fn common(kind: &str, id: &str, time: DateTime<Utc>) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("type".into(), json!(kind));
    o.insert("spec_version".into(), json!("2.1"));
    o.insert("id".into(), json!(id));
    o.insert("created".into(), json!(stix_time(time)));
    o.insert("modified".into(), json!(stix_time(time)));
    o
}

fn mark(object: &mut Map<String, Value>, tlp: Option<Tlp>) {
    if let Some(tlp) = tlp {
        object.insert("object_marking_refs".into(), json!([marking_id(tlp)]));
    }
}

/// A time as STIX writes it here: `YYYY-MM-DDTHH:MM:SS.000Z`.
fn stix_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn strictest(labels: impl Iterator<Item = Tlp>) -> Option<Tlp> {
    labels.reduce(stricter)
}

// ---- Reading MISP JSON, with paths ----

fn missing(path: &str, key: &str) -> MispError {
    MispError::Missing {
        path: format!("{path}.{key}"),
    }
}

fn wrong(path: &str, key: &str, expected: &'static str) -> MispError {
    MispError::WrongType {
        path: format!("{path}.{key}"),
        expected,
    }
}

fn invalid(path: &str, key: &str, reason: impl Into<String>) -> MispError {
    MispError::Invalid {
        path: format!("{path}.{key}"),
        reason: reason.into(),
    }
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, MispError> {
    v.as_object().ok_or_else(|| MispError::WrongType {
        path: path.into(),
        expected: "an object",
    })
}

/// A property, treating `null` as absent.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'a str>, MispError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(path, key, "a string")),
    }
}

fn req_str<'a>(obj: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a str, MispError> {
    opt_str(obj, path, key)?.ok_or_else(|| missing(path, key))
}

fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a [Value], MispError> {
    match get(obj, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(wrong(path, key, "a list")),
    }
}

/// A property MISP writes as a string or a number (`"3"` or `3`), as text.
fn opt_text(obj: &Map<String, Value>, path: &str, key: &str) -> Result<Option<String>, MispError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(wrong(path, key, "a string or a number")),
    }
}

/// A MISP boolean: `true`/`false`, or the `1`/`0` older exports write.
fn opt_bool(obj: &Map<String, Value>, path: &str, key: &str) -> Result<Option<bool>, MispError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => match v.as_str().map(str::trim).or(v.as_u64().map(|n| match n {
            0 => "0",
            1 => "1",
            _ => "",
        })) {
            Some("1" | "true") => Ok(Some(true)),
            Some("0" | "false") => Ok(Some(false)),
            _ => Err(wrong(path, key, "a boolean")),
        },
    }
}

/// A lowercase hyphenated UUID, as STIX identifiers need.
fn uuid_field(obj: &Map<String, Value>, path: &str, key: &str) -> Result<String, MispError> {
    let s = req_str(obj, path, key)?;
    Uuid::parse_str(s.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|e| invalid(path, key, format!("{s:?} is not a UUID: {e}")))
}

/// Unix seconds, as MISP writes them (a string, sometimes a number).
fn opt_timestamp(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<DateTime<Utc>>, MispError> {
    let seconds = match get(obj, key) {
        None => return Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(path, key, format!("{s:?} is not unix seconds")))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(path, key, format!("{n} is not whole unix seconds")))?,
        Some(_) => return Err(wrong(path, key, "unix seconds (a string or a number)")),
    };
    DateTime::from_timestamp(seconds, 0)
        .map(Some)
        .ok_or_else(|| invalid(path, key, format!("{seconds} is out of range")))
}

fn parse_date(s: &str, path: &str) -> Result<NaiveDate, MispError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| MispError::Invalid {
        path: path.into(),
        reason: format!("{s:?} is not a date (YYYY-MM-DD)"),
    })
}

/// The names of an event's or attribute's `Tag` list.
fn tags<'a>(obj: &'a Map<String, Value>, path: &str) -> Result<Vec<&'a str>, MispError> {
    opt_array(obj, path, "Tag")?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let tag_path = format!("{path}.Tag[{i}]");
            req_str(as_object(t, &tag_path)?, &tag_path, "name")
        })
        .collect()
}

// ---- STIX to MISP ----

/// What an event of the feed is made of.
struct EventParts<'a> {
    uuid: String,
    info: String,
    date: String,
    timestamp: i64,
    published: i64,
    threat_level: &'a str,
    analysis: &'a str,
    tags: Vec<Value>,
    attributes: Vec<Value>,
    objects: Vec<Value>,
    galaxies: Vec<Value>,
    orgc: (&'a str, &'a str),
}

fn event_value(parts: EventParts<'_>) -> Value {
    let (org_name, org_uuid) = parts.orgc;
    let mut event = json!({
        "uuid": parts.uuid,
        "info": parts.info,
        "date": parts.date,
        "timestamp": parts.timestamp.to_string(),
        "publish_timestamp": parts.published.to_string(),
        "published": true,
        "analysis": parts.analysis,
        "threat_level_id": parts.threat_level,
        "Orgc": {"name": org_name, "uuid": org_uuid},
        "Tag": parts.tags,
        "Attribute": parts.attributes,
    });
    if !parts.objects.is_empty() {
        event["Object"] = Value::Array(parts.objects);
    }
    if !parts.galaxies.is_empty() {
        event["Galaxy"] = Value::Array(parts.galaxies);
    }
    json!({ "Event": event })
}

/// The newest version of each object, by id.
type Latest<'a> = HashMap<&'a str, (i64, &'a Value)>;

fn report_to_event(
    report: &Value,
    latest: &Latest<'_>,
    org: (&str, &str),
    tlp_of: &impl Fn(&Value) -> Option<Tlp>,
) -> Option<Value> {
    let uuid = uuid_of(str_of(report, "id")?, "report")?;
    let info = str_of(report, "name")?;
    let modified = version_of(report)?;
    let published = str_of(report, "published")
        .and_then(micros)
        .unwrap_or(modified);
    let date = DateTime::from_timestamp_micros(published)?.date_naive();
    let publish_timestamp = str_of(report, "x_misp_publish_timestamp")
        .and_then(micros)
        .unwrap_or(published);
    let tlp = tlp_of(report);
    let labels = report
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        // A label that looks like a TLP tag would contradict the marking.
        .filter(|l| tlp_from_tag(l).is_none());
    let tags = tlp
        .map(tag_for)
        .into_iter()
        .chain(labels)
        .map(tag_value)
        .collect();
    let refs: Vec<&Value> = report
        .get("object_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|id| latest.get(id).map(|(_, o)| *o))
        .collect();

    // What a MISP object holds is given back inside it, not beside it.
    let groupings: Vec<&Value> = refs
        .iter()
        .copied()
        .filter(|o| type_of(o) == Some("grouping") && str_of(o, "name").is_some())
        .collect();
    let claimed: HashSet<&str> = groupings
        .iter()
        .flat_map(|g| ids_in(g, "object_refs"))
        .collect();
    let mut attributes: Vec<Value> = refs
        .iter()
        .filter(|o| str_of(o, "id").is_some_and(|id| !claimed.contains(id)))
        .filter_map(|o| object_to_attribute(o, None, tlp, tlp_of))
        .collect();
    attributes.extend(links_of(report, false));
    let objects = groupings
        .iter()
        .filter_map(|g| {
            let name = str_of(g, "name");
            let mut attrs: Vec<Value> = ids_in(g, "object_refs")
                .filter_map(|id| latest.get(id).map(|(_, o)| *o))
                .filter_map(|o| object_to_attribute(o, name, tlp, tlp_of))
                .collect();
            attrs.extend(links_of(g, true));
            let id = str_of(g, "id");
            let relationships: Vec<&Value> = refs
                .iter()
                .copied()
                .filter(|r| type_of(r) == Some("relationship") && str_of(r, "source_ref") == id)
                .collect();
            objects::grouping_to_object(g, attrs, &relationships)
        })
        .collect();
    let clusters: Vec<&Value> = refs
        .iter()
        .copied()
        .filter(|o| galaxies::is_cluster(o))
        .collect();
    // The creating organization is kept when its identity may be published with the report.
    let creator = str_of(report, "created_by_ref")
        .and_then(|id| latest.get(id))
        .and_then(|(_, o)| Some((str_of(o, "name")?, str_of(o, "id")?.split_once("--")?.1)));
    Some(event_value(EventParts {
        uuid,
        info: info.to_owned(),
        date: date.format("%Y-%m-%d").to_string(),
        timestamp: modified.div_euclid(1_000_000),
        published: publish_timestamp.div_euclid(1_000_000),
        threat_level: str_of(report, "x_misp_threat_level_id").unwrap_or("4"),
        analysis: str_of(report, "x_misp_analysis").unwrap_or("2"),
        tags,
        attributes,
        objects,
        galaxies: galaxies::galaxies_from(&clusters),
        orgc: creator.unwrap_or(org),
    }))
}

/// The identifiers listed in `key` of `o`.
fn ids_in<'a>(o: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    o.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The `link` attributes of a report's or grouping's external references with a URL. Inside an
/// object the source names the link's relation.
fn links_of(container: &Value, in_object: bool) -> Vec<Value> {
    let Some(id) = str_of(container, "id") else {
        return Vec::new();
    };
    let categories = container.get("x_misp_link_categories");
    let timestamp = version_of(container)
        .unwrap_or_default()
        .div_euclid(1_000_000)
        .to_string();
    container
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let url = str_of(r, "url")?;
            let uuid = str_of(r, "external_id")
                .and_then(|u| Uuid::parse_str(u).ok())
                .unwrap_or_else(|| Uuid::new_v5(&LINK_NAMESPACE, format!("{id} {url}").as_bytes()))
                .hyphenated()
                .to_string();
            let mut link = json!({
                "uuid": uuid,
                "type": "link",
                "category": categories
                    .and_then(|c| c.get(&uuid))
                    .and_then(Value::as_str)
                    .unwrap_or(LINK_CATEGORY),
                "value": url,
                "to_ids": false,
                "timestamp": timestamp,
                "comment": str_of(r, "description").unwrap_or_default(),
            });
            if in_object && let Some(source) = str_of(r, "source_name") {
                link["object_relation"] = json!(source);
            }
            Some(link)
        })
        .collect()
}

/// The MISP attribute an indicator, note or vulnerability stands for; `object` names the MISP
/// object it is read back into.
fn object_to_attribute(
    o: &Value,
    object: Option<&str>,
    event_tlp: Option<Tlp>,
    tlp_of: &impl Fn(&Value) -> Option<Tlp>,
) -> Option<Value> {
    let kind_of_object = type_of(o)?;
    let uuid = uuid_of(str_of(o, "id")?, kind_of_object)?;
    let relation = str_of(o, "x_misp_object_relation");
    let place = Place { object, relation };
    let (kind, value, comment, to_ids) = match kind_of_object {
        "indicator" => {
            let pattern = str_of(o, "pattern")?;
            let (kind, value) = match str_of(o, "pattern_type").unwrap_or("stix") {
                "stix" => {
                    let hint = str_of(o, "name")
                        .and_then(|n| n.split_once(": "))
                        .map(|(t, _)| t);
                    attributes::attribute_from_pattern(pattern, hint, place)?
                }
                other => (attributes::rule_kind(other)?.to_owned(), pattern.to_owned()),
            };
            // Only an indicator this module marked as not for detection goes back as to_ids
            // false.
            let types = o.get("indicator_types").and_then(Value::as_array);
            let to_ids = !types.is_some_and(|t| {
                !t.is_empty() && t.iter().all(|v| v.as_str() == Some("anomalous-activity"))
            });
            (kind, value, str_of(o, "description"), to_ids)
        }
        "note" => (
            str_of(o, "x_misp_type").unwrap_or("text").to_owned(),
            str_of(o, "content")?.to_owned(),
            str_of(o, "abstract"),
            false,
        ),
        "vulnerability" => (
            "vulnerability".to_owned(),
            str_of(o, "name")?.to_owned(),
            str_of(o, "description"),
            false,
        ),
        _ => return None,
    };
    let timestamp = version_of(o)?.div_euclid(1_000_000);
    let labels: Vec<&str> = o
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let category = labels
        .iter()
        .copied()
        .find(|l| MISP_CATEGORIES.contains(l))
        .unwrap_or(default_category(&kind));
    let mut attribute = json!({
        "uuid": uuid,
        "type": kind,
        "category": category,
        "value": value,
        "to_ids": to_ids,
        "timestamp": timestamp.to_string(),
        "comment": comment.unwrap_or_default(),
    });
    if let Some(r) = relation {
        attribute["object_relation"] = json!(r);
    }
    // An object stricter than its event keeps its own label as an attribute tag; its other
    // labels (not the category) are its tags.
    let mut attr_tags: Vec<Value> = Vec::new();
    if let Some(own) = tlp_of(o)
        && event_tlp.is_none_or(|e| e != own && stricter(e, own) == own)
    {
        attr_tags.push(tag_value(tag_for(own)));
    }
    attr_tags.extend(
        labels
            .iter()
            .filter(|l| **l != category && tlp_from_tag(l).is_none())
            .map(|l| tag_value(l)),
    );
    if !attr_tags.is_empty() {
        attribute["Tag"] = Value::Array(attr_tags);
    }
    Some(attribute)
}

fn default_category(kind: &str) -> &'static str {
    match kind {
        "ip-src" | "ip-dst" | "domain" | "hostname" | "url" | "port" | "ip-dst|port"
        | "ip-src|port" | "domain|ip" | "snort" | "suricata" => "Network activity",
        "link" | "vulnerability" => "External analysis",
        "text" | "comment" | "other" | "datetime" | "float" | "counter" => "Other",
        "regkey" | "regkey|value" => "Persistence mechanism",
        _ => "Payload delivery",
    }
}

/// A MISP tag object; TLP tags get their taxonomy colour.
fn tag_value(name: &str) -> Value {
    match tlp_from_tag(name) {
        Some(tlp) => json!({"name": name, "colour": colour_for(tlp)}),
        None => json!({"name": name}),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn type_of(v: &Value) -> Option<&str> {
    str_of(v, "type")
}

fn micros(s: &str) -> Option<i64> {
    parse_timestamp(s).ok()
}

/// An object's version (`modified`, else `created`) in microseconds.
fn version_of(v: &Value) -> Option<i64> {
    str_of(v, "modified")
        .and_then(micros)
        .or_else(|| str_of(v, "created").and_then(micros))
}

/// The UUID part of a STIX identifier of `kind`.
fn uuid_of(id: &str, kind: &str) -> Option<String> {
    let (t, uuid) = id.split_once("--")?;
    (t == kind)
        .then(|| Uuid::parse_str(uuid).ok())
        .flatten()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::{parse_object, tlp_of_marking};

    const EVENT_UUID: &str = "5e6b8a3c-1f2d-4b7a-9c0e-3d4f5a6b7c8d";
    const ORG_UUID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn attr(uuid: &str, kind: &str, value: &str) -> Value {
        json!({
            "uuid": uuid, "type": kind, "category": "Network activity", "value": value,
            "to_ids": true, "timestamp": "1714557600", "comment": "",
        })
    }

    fn sample_event() -> Value {
        let mut amber = attr(
            "11111111-0000-4000-8000-000000000002",
            "domain",
            "evil.example",
        );
        amber["Tag"] = json!([{"name": "tlp:amber"}]);
        let mut hash = attr(
            "11111111-0000-4000-8000-000000000004",
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        hash["category"] = json!("Payload delivery");
        hash["to_ids"] = json!(false);
        hash["comment"] = json!("dropper");
        json!({"Event": {
            "uuid": EVENT_UUID,
            "info": "Phishing wave against water utilities",
            "date": "2024-05-01",
            "timestamp": "1714560000",
            "publish_timestamp": 1714563600,
            "analysis": "2",
            "threat_level_id": "2",
            "Orgc": {"name": "Water-ISAC", "uuid": ORG_UUID},
            "Tag": [{"name": "tlp:green"}, {"name": "sector:water"}],
            "Attribute": [
                attr("11111111-0000-4000-8000-000000000001", "ip-dst", "198.51.100.7"),
                amber,
                attr("11111111-0000-4000-8000-000000000003", "url", "http://evil.example/a'b\\c"),
                hash,
                attr("11111111-0000-4000-8000-000000000005", "filename|md5",
                    "invoice.exe|d41d8cd98f00b204e9800998ecf8427e"),
                attr("11111111-0000-4000-8000-000000000006", "text", "just a note"),
            ],
            "Object": [{
                "name": "ip-port",
                "uuid": "22222222-0000-4000-8000-000000000000",
                "Attribute": [
                    attr("11111111-0000-4000-8000-000000000007", "ip-src", "2001:db8::/32"),
                    attr("11111111-0000-4000-8000-000000000008", "port", "443"),
                ],
            }],
        }})
    }

    fn by_id<'a>(objects: &'a [Value], id: &str) -> &'a Value {
        objects
            .iter()
            .find(|o| o["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    }

    fn tlp_of(o: &Value) -> Option<Tlp> {
        o.get("object_marking_refs")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .filter_map(tlp_of_marking)
            .reduce(stricter)
    }

    fn attribute_triples(event: &Value) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = event["Event"]["Attribute"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|a| {
                (
                    a["uuid"].as_str().expect("uuid").to_owned(),
                    a["type"].as_str().expect("type").to_owned(),
                    a["value"].as_str().expect("value").to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn indicator(uuid: &str, created: &str, pattern: &str) -> Value {
        json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{uuid}"),
            "created": created, "modified": created, "valid_from": created,
            "pattern": pattern, "pattern_type": "stix",
            "object_marking_refs": [marking_id(Tlp::Green)],
        })
    }

    #[test]
    fn tlp_tags_both_ways() {
        for &tlp in Tlp::ALL {
            assert_eq!(tlp_from_tag(tag_for(tlp)), Some(tlp));
        }
        assert_eq!(tlp_from_tag("tlp:white"), Some(Tlp::Clear));
        assert_eq!(tlp_from_tag("  TLP:Amber+Strict "), Some(Tlp::AmberStrict));
        assert_eq!(tlp_from_tag("TLP:RED"), Some(Tlp::Red));
        for other in ["", "tlp:", "tlp:amber-strict", "pap:red", "tlp:ex:chr"] {
            assert_eq!(tlp_from_tag(other), None, "{other}");
        }
    }

    #[test]
    fn an_event_becomes_marked_indicators_and_a_report() {
        let imported = event_to_stix(&sample_event()).expect("converts");
        assert_eq!(imported.tlp, Some(Tlp::Green));
        assert_eq!(imported.attributes, 8);
        assert_eq!(imported.left_out, []);
        for o in &imported.objects {
            parse_object(o.clone(), "$").unwrap_or_else(|e| panic!("invalid STIX {o}: {e}"));
        }
        let objs = &imported.objects;
        let ind = |n: u8| {
            by_id(
                objs,
                &format!("indicator--11111111-0000-4000-8000-00000000000{n}"),
            )
        };
        let expected = [
            (1, "[ipv4-addr:value = '198.51.100.7']"),
            (2, "[domain-name:value = 'evil.example']"),
            (3, r"[url:value = 'http://evil.example/a\'b\\c']"),
            (
                4,
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ),
            (
                5,
                "[file:name = 'invoice.exe' AND file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
            ),
            (7, "[ipv6-addr:value = '2001:db8::/32']"),
        ];
        for (n, pattern) in expected {
            assert_eq!(ind(n)["pattern"], pattern, "attribute {n}");
            let tlp = if n == 2 { Tlp::Amber } else { Tlp::Green };
            assert_eq!(ind(n)["object_marking_refs"], json!([marking_id(tlp)]));
            assert_eq!(ind(n)["created_by_ref"], format!("identity--{ORG_UUID}"));
        }
        assert_eq!(ind(1)["name"], "ip-dst: 198.51.100.7");
        assert_eq!(ind(1)["created"], "2024-05-01T10:00:00.000Z");
        assert_eq!(ind(1)["valid_from"], ind(1)["created"]);
        assert_eq!(ind(1)["indicator_types"], json!(["malicious-activity"]));
        assert_eq!(ind(1)["labels"], json!(["Network activity"]));
        assert!(ind(1).get("description").is_none());
        assert_eq!(ind(4)["indicator_types"], json!(["anomalous-activity"]));
        assert_eq!(ind(4)["description"], "dropper");

        let report = by_id(objs, &format!("report--{EVENT_UUID}"));
        assert_eq!(report["name"], "Phishing wave against water utilities");
        // Published on the event's date, so that the date comes back; MISP's own publishing
        // time and the threat level are kept beside.
        assert_eq!(report["published"], "2024-05-01T00:00:00.000Z");
        assert_eq!(
            report["x_misp_publish_timestamp"],
            "2024-05-01T11:40:00.000Z"
        );
        assert_eq!(report["x_misp_threat_level_id"], "2");
        assert_eq!(report["created"], "2024-05-01T00:00:00.000Z");
        assert_eq!(report["modified"], "2024-05-01T10:40:00.000Z");
        assert_eq!(report["labels"], json!(["sector:water"]));
        assert_eq!(
            report["object_marking_refs"],
            json!([marking_id(Tlp::Green)])
        );
        assert_eq!(report["object_refs"].as_array().map(Vec::len), Some(9));
        let identity = by_id(objs, &format!("identity--{ORG_UUID}"));
        assert_eq!(identity["name"], "Water-ISAC");
        assert_eq!(identity["identity_class"], "organization");
        assert_eq!(identity["created"], "1970-01-01T00:00:00.000Z");

        // The text is a note on the report; the object a grouping of its two indicators.
        let note = by_id(objs, "note--11111111-0000-4000-8000-000000000006");
        assert_eq!(note["content"], "just a note");
        assert_eq!(
            note["object_refs"],
            json!([format!("report--{EVENT_UUID}")])
        );
        assert_eq!(ind(8)["pattern"], "[network-traffic:dst_port = 443]");
        let grouping = by_id(objs, "grouping--22222222-0000-4000-8000-000000000000");
        assert_eq!(grouping["name"], "ip-port");
        assert_eq!(
            grouping["object_refs"],
            json!([
                "indicator--11111111-0000-4000-8000-000000000007",
                "indicator--11111111-0000-4000-8000-000000000008"
            ])
        );
    }

    #[test]
    fn the_strictest_label_wins() {
        let mut event = sample_event();
        event["Event"]["Tag"] = json!([{"name": "tlp:clear"}, {"name": "TLP:RED"}]);
        let imported = event_to_stix(&event["Event"]).expect("bare event converts");
        assert_eq!(imported.tlp, Some(Tlp::Red));
        let amber_attr = by_id(
            &imported.objects,
            "indicator--11111111-0000-4000-8000-000000000002",
        );
        assert_eq!(
            amber_attr["object_marking_refs"],
            json!([marking_id(Tlp::Red)])
        );
    }

    #[test]
    fn an_event_with_nothing_to_index_references_its_creator() {
        let event = json!({"uuid": EVENT_UUID, "info": "notes", "date": "2024-05-02",
            "Orgc": {"name": "Water-ISAC", "uuid": ORG_UUID},
            "Attribute": [attr("11111111-0000-4000-8000-000000000006", "btc", "1Abc")]});
        let imported = event_to_stix(&event).expect("converts");
        assert_eq!(imported.tlp, None);
        assert_eq!(
            imported
                .left_out
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["Event.Attribute[0] (type btc: no STIX pattern for type btc)"]
        );
        assert_eq!(
            imported.left_out_by_type(),
            BTreeMap::from([("btc".into(), 1)])
        );
        let report = by_id(&imported.objects, &format!("report--{EVENT_UUID}"));
        assert_eq!(
            report["object_refs"],
            json!([format!("identity--{ORG_UUID}")])
        );
        assert_eq!(report["published"], "2024-05-02T00:00:00.000Z");
        assert!(report.get("object_marking_refs").is_none());
        for o in &imported.objects {
            parse_object(o.clone(), "$").expect("valid STIX");
        }
        let mut orphan = event;
        orphan["Orgc"] = Value::Null;
        let err = event_to_stix(&orphan).expect_err("no report possible");
        assert!(matches!(err, MispError::NothingToReport { .. }), "{err}");
    }

    #[test]
    fn a_bad_event_names_the_path() {
        let mut event = sample_event();
        event["Event"]["Attribute"][3]
            .as_object_mut()
            .expect("attribute")
            .remove("type");
        let err = event_to_stix(&event).expect_err("no type");
        assert_eq!(err.path(), "Event.Attribute[3].type");
        assert_eq!(err.to_string(), "Event.Attribute[3].type is missing");

        let cases = [
            ("uuid", Value::Null, "Event.uuid"),
            ("uuid", json!("not-a-uuid"), "Event.uuid"),
            ("info", json!(7), "Event.info"),
            ("Attribute", json!({}), "Event.Attribute"),
            ("timestamp", json!("yesterday"), "Event.timestamp"),
            ("Tag", json!([{"colour": "#fff"}]), "Event.Tag[0].name"),
            ("Orgc", json!({"name": "x"}), "Event.Orgc.uuid"),
        ];
        for (key, value, path) in cases {
            let mut event = sample_event();
            let ev = event["Event"].as_object_mut().expect("event");
            if value.is_null() {
                ev.remove(key);
            } else {
                ev.insert(key.into(), value);
            }
            let err = event_to_stix(&event).expect_err(key);
            assert_eq!(err.path(), path, "{err}");
        }

        let mut event = sample_event();
        event["Event"]["Object"][0]["Attribute"][0]["uuid"] = json!(42);
        let err = event_to_stix(&event).expect_err("uuid");
        assert_eq!(err.path(), "Event.Object[0].Attribute[0].uuid");
        let mut event = sample_event();
        event["Event"]["Attribute"][4]["value"] = json!("invoice.exe");
        let err = event_to_stix(&event).expect_err("composite");
        assert_eq!(err.path(), "Event.Attribute[4].value");
        assert_eq!(
            event_to_stix(&json!([])).expect_err("array").path(),
            "Event"
        );
    }

    #[test]
    fn event_stix_event_round_trips() {
        let original = sample_event();
        let imported = event_to_stix(&original).expect("converts");
        let events = stix_to_events(&imported.objects, ("ciphub", ORG_UUID), tlp_of);
        assert_eq!(events.len(), 1, "no loose indicators: {events:?}");
        let back = &events[0]["Event"];
        assert_eq!(back["uuid"], EVENT_UUID);
        assert_eq!(back["info"], original["Event"]["info"]);
        assert_eq!(back["date"], "2024-05-01");
        assert_eq!(back["timestamp"], "1714560000");
        assert_eq!(back["publish_timestamp"], "1714563600");
        assert_eq!(
            back["Orgc"],
            json!({"name": "Water-ISAC", "uuid": ORG_UUID})
        );
        assert_eq!(back["threat_level_id"], "2");
        assert_eq!(
            back["Tag"],
            json!([{"name": "tlp:green", "colour": "#339900"}, {"name": "sector:water"}])
        );

        assert_eq!(attribute_triples(&events[0]), attribute_triples(&original));
        let object = &back["Object"][0];
        assert_eq!(
            (&object["uuid"], &object["name"]),
            (
                &json!("22222222-0000-4000-8000-000000000000"),
                &json!("ip-port")
            )
        );
        assert_eq!(
            attribute_triples(&json!({"Event": object})),
            attribute_triples(&json!({"Event": original["Event"]["Object"][0]}))
        );

        let back_attr = |uuid: &str| {
            back["Attribute"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["uuid"] == uuid))
                .cloned()
                .expect("attribute")
        };
        let domain = back_attr("11111111-0000-4000-8000-000000000002");
        assert_eq!(
            domain["Tag"],
            json!([{"name": "tlp:amber", "colour": "#FFC000"}])
        );
        let ip = back_attr("11111111-0000-4000-8000-000000000001");
        assert!(ip.get("Tag").is_none());
        assert_eq!(ip["timestamp"], "1714557600");
        assert_eq!(ip["category"], "Network activity");
        assert_eq!(ip["to_ids"], true);
        let hash = back_attr("11111111-0000-4000-8000-000000000004");
        assert_eq!(
            (&hash["category"], &hash["to_ids"], &hash["comment"]),
            (&json!("Payload delivery"), &json!(false), &json!("dropper"))
        );

        // And once more: the feed event converts to the same STIX objects.
        let again = event_to_stix(&events[0]).expect("converts again");
        let indicators = |objs: &[Value]| -> Vec<Value> {
            objs.iter()
                .filter(|o| o["type"] == "indicator" || o["type"] == "note")
                .cloned()
                .collect()
        };
        assert_eq!(indicators(&again.objects), indicators(&imported.objects));
    }

    #[test]
    fn loose_indicators_are_grouped_by_day() {
        let report_uuid = "33333333-0000-4000-8000-000000000000";
        let objects = vec![
            indicator(
                "44444444-0000-4000-8000-000000000001",
                "2024-05-01T08:00:00.000Z",
                "[ipv4-addr:value = '203.0.113.1']",
            ),
            indicator(
                "44444444-0000-4000-8000-000000000002",
                "2024-05-01T23:59:59.999Z",
                "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            ),
            indicator(
                "44444444-0000-4000-8000-000000000003",
                "2024-05-02T00:00:00Z",
                "[url:value = 'https://x.example/']",
            ),
            indicator(
                "44444444-0000-4000-8000-000000000004",
                "2024-05-02T01:00:00Z",
                "[ipv4-addr:value = '203.0.113.9'] WITHIN 5 SECONDS",
            ),
            indicator(
                "44444444-0000-4000-8000-000000000005",
                "2024-05-01T09:00:00Z",
                "[domain-name:value = 'in-a-report.example']",
            ),
            json!({"type": "report", "spec_version": "2.1", "id": format!("report--{report_uuid}"),
                "created": "2024-05-01T09:00:00Z", "modified": "2024-05-01T09:00:00Z",
                "published": "2024-05-01T09:30:00Z", "name": "r",
                "object_refs": ["indicator--44444444-0000-4000-8000-000000000005"]}),
        ];
        let events = stix_to_events(&objects, ("ciphub", ORG_UUID), tlp_of);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["Event"]["uuid"], report_uuid);
        assert_eq!(events[0]["Event"]["Tag"], json!([]));
        assert_eq!(attribute_triples(&events[0]).len(), 1);

        let day1 = &events[1]["Event"];
        let day2 = &events[2]["Event"];
        assert_eq!(day1["info"], "ciphub indicators 2024-05-01");
        assert_eq!(day1["date"], "2024-05-01");
        assert_eq!(
            day1["uuid"],
            Uuid::new_v5(&LOOSE_DAY_NAMESPACE, b"2024-05-01").to_string()
        );
        assert_eq!(
            day1["Tag"],
            json!([{"name": "tlp:green", "colour": "#339900"}])
        );
        assert_eq!(
            attribute_triples(&events[1]),
            [
                (
                    "44444444-0000-4000-8000-000000000001".into(),
                    "ip-dst".into(),
                    "203.0.113.1".into()
                ),
                (
                    "44444444-0000-4000-8000-000000000002".into(),
                    "md5".into(),
                    "d41d8cd98f00b204e9800998ecf8427e".into()
                ),
            ]
        );
        assert_eq!(day2["info"], "ciphub indicators 2024-05-02");
        assert_eq!(
            attribute_triples(&events[2]).len(),
            1,
            "the WITHIN one is skipped"
        );
        let again = stix_to_events(&objects, ("ciphub", ORG_UUID), tlp_of);
        assert_eq!(again, events, "the same input gives the same feed");
    }

    #[test]
    fn the_manifest_is_keyed_by_event_uuid() {
        let imported = event_to_stix(&sample_event()).expect("converts");
        let events = stix_to_events(&imported.objects, ("ciphub", ORG_UUID), tlp_of);
        let m = manifest(&events);
        let entry = &m[EVENT_UUID];
        assert_eq!(entry["info"], "Phishing wave against water utilities");
        assert_eq!(entry["date"], "2024-05-01");
        assert_eq!(entry["timestamp"], "1714560000");
        assert_eq!(entry["Orgc"]["uuid"], ORG_UUID);
        assert_eq!(
            entry["Tag"][0],
            json!({"name": "tlp:green", "colour": "#339900"})
        );
        assert_eq!(entry["Tag"][1], json!({"name": "sector:water"}));
        assert_eq!(m.as_object().map(Map::len), Some(1));
    }
}
