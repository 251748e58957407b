//! MISP feeds and STIX 2.1: a MISP feed event becomes STIX indicators and a report, and STIX
//! reports and indicators become MISP feed events and the feed's `manifest.json`.
//!
//! A MISP feed directory is `manifest.json` plus one `<event-uuid>.json` per event, each
//! `{"Event": {...}}`. This module only converts JSON values; reading and writing the files is
//! the caller's job. Only the simple, unambiguous observables are converted (addresses, domains,
//! URLs, file names and hashes, e-mail addresses); everything else is reported as skipped.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::report::Tlp;
use crate::stix::{marking_id, parse_timestamp, stricter};

/// How paths in errors and in [`Imported::skipped`] begin, whether or not the event came
/// wrapped in `{"Event": ...}`.
const ROOT: &str = "Event";

/// The namespace of the UUID v5 that names the event gathering one day's loose indicators.
const LOOSE_DAY_NAMESPACE: Uuid = Uuid::from_u128(0x54fa_1892_2719_4320_a86a_abdf_8d06_0231);

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

/// What [`event_to_stix`] made of one MISP event.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The STIX 2.1 objects: the Orgc identity (when there is one), the indicators, the report.
    pub objects: Vec<Value>,
    /// The event's label: its strictest TLP tag.
    pub tlp: Option<Tlp>,
    /// The attributes left out, as `Event.Attribute[i] (type T)`.
    pub skipped: Vec<String>,
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
    let published = opt_timestamp(ev, ROOT, "publish_timestamp")?
        .filter(|t| t.timestamp() != 0)
        .or(midnight)
        .unwrap_or(modified);

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
            let mut identity = common("identity", &id, modified);
            identity.insert("name".into(), json!(name));
            identity.insert("identity_class".into(), json!("organization"));
            // The organization is named with the event, so it is shared no further.
            mark(&mut identity, tlp);
            Some((id, Value::Object(identity)))
        }
    };
    let creator_id = creator.as_ref().map(|(id, _)| id.as_str());

    let ctx = Context {
        tlp,
        modified,
        creator: creator_id,
    };
    let mut indicators = Vec::new();
    let mut skipped = Vec::new();
    for (path, attr) in attributes(ev)? {
        match attribute_to_indicator(attr, &path, &ctx)? {
            Converted::Indicator(indicator) => indicators.push(indicator),
            Converted::Skipped(why) => skipped.push(format!("{path} ({why})")),
        }
    }

    let mut refs: Vec<Value> = indicators
        .iter()
        .filter_map(|i| i.get("id").cloned())
        .collect();
    if refs.is_empty() {
        match creator_id {
            Some(id) => refs.push(json!(id)),
            None => return Err(MispError::NothingToReport { path: ROOT.into() }),
        }
    }
    let mut report = common("report", &format!("report--{uuid}"), modified);
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
    mark(&mut report, tlp);

    let mut objects = Vec::with_capacity(indicators.len() + 2);
    if let Some((_, identity)) = creator {
        objects.push(identity);
    }
    objects.extend(indicators);
    objects.push(Value::Object(report));
    Ok(Imported {
        objects,
        tlp,
        skipped,
    })
}

/// Converts STIX reports and indicators into MISP feed events, for publishing a feed.
///
/// Each report becomes one event holding the indicators it references; indicators no report
/// references are gathered into one event per UTC day of their `created`. `org` is the
/// publishing organization's (name, uuid); `tlp_of` gives an object's label. Indicators whose
/// pattern is not one of the simple forms [`event_to_stix`] writes are left out.
pub fn stix_to_events(
    objects: &[Value],
    org: (&str, &str),
    tlp_of: impl Fn(&Value) -> Option<Tlp>,
) -> Vec<Value> {
    // Of several versions of one indicator, the latest is the one to publish.
    let mut indicators: HashMap<&str, (i64, &Value)> = HashMap::new();
    for o in objects.iter().filter(|o| type_of(o) == Some("indicator")) {
        let (Some(id), Some(version)) = (str_of(o, "id"), version_of(o)) else {
            continue;
        };
        let entry = indicators.entry(id).or_insert((version, o));
        if version > entry.0 {
            *entry = (version, o);
        }
    }

    let mut events = Vec::new();
    let mut referenced: HashSet<&str> = HashSet::new();
    for report in objects.iter().filter(|o| type_of(o) == Some("report")) {
        let Some(event) = report_to_event(report, &indicators, org, &tlp_of) else {
            continue;
        };
        events.push(event);
        if let Some(refs) = report.get("object_refs").and_then(Value::as_array) {
            referenced.extend(refs.iter().filter_map(Value::as_str));
        }
    }

    let mut days: BTreeMap<NaiveDate, Vec<&Value>> = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for o in objects.iter().filter(|o| type_of(o) == Some("indicator")) {
        let Some(id) = str_of(o, "id") else { continue };
        if referenced.contains(id) || !seen.insert(id) {
            continue;
        }
        let Some(&(_, latest)) = indicators.get(id) else {
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
            .filter_map(|o| indicator_to_attribute(o, tlp, &tlp_of))
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
            tags: tlp.map(|t| tag_value(tag_for(t))).into_iter().collect(),
            attributes,
            org,
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
struct Context<'a> {
    tlp: Option<Tlp>,
    modified: DateTime<Utc>,
    creator: Option<&'a str>,
}

/// One attribute's fate.
enum Converted {
    Indicator(Value),
    Skipped(String),
}

/// An attribute and its path.
type Located<'a> = (String, &'a Map<String, Value>);

/// The event's attributes with their paths: the top-level ones, then those of each object.
fn attributes(ev: &Map<String, Value>) -> Result<Vec<Located<'_>>, MispError> {
    let mut out = Vec::new();
    for (i, a) in opt_array(ev, ROOT, "Attribute")?.iter().enumerate() {
        let path = format!("{ROOT}.Attribute[{i}]");
        out.push((path.clone(), as_object(a, &path)?));
    }
    for (j, o) in opt_array(ev, ROOT, "Object")?.iter().enumerate() {
        let object_path = format!("{ROOT}.Object[{j}]");
        let object = as_object(o, &object_path)?;
        for (k, a) in opt_array(object, &object_path, "Attribute")?
            .iter()
            .enumerate()
        {
            let path = format!("{object_path}.Attribute[{k}]");
            out.push((path.clone(), as_object(a, &path)?));
        }
    }
    Ok(out)
}

fn attribute_to_indicator(
    attr: &Map<String, Value>,
    path: &str,
    ctx: &Context<'_>,
) -> Result<Converted, MispError> {
    let kind = req_str(attr, path, "type")?;
    if opt_bool(attr, path, "deleted")? == Some(true) {
        return Ok(Converted::Skipped(format!("type {kind}, deleted")));
    }
    let value = req_str(attr, path, "value")?;
    let pattern = match pattern_for(kind, value) {
        Ok(Some(pattern)) => pattern,
        Ok(None) => return Ok(Converted::Skipped(format!("type {kind}"))),
        Err(reason) => return Err(invalid(path, "value", reason)),
    };
    let uuid = uuid_field(attr, path, "uuid")?;
    let time = opt_timestamp(attr, path, "timestamp")?.unwrap_or(ctx.modified);
    let attr_tlp = strictest(tags(attr, path)?.iter().filter_map(|t| tlp_from_tag(t)));
    let tlp = match (ctx.tlp, attr_tlp) {
        (Some(a), Some(b)) => Some(stricter(a, b)),
        (a, b) => a.or(b),
    };
    let to_ids = opt_bool(attr, path, "to_ids")?.unwrap_or(false);

    let mut indicator = common("indicator", &format!("indicator--{uuid}"), time);
    indicator.insert("name".into(), json!(format!("{kind}: {value}")));
    if let Some(comment) = opt_str(attr, path, "comment")?.filter(|c| !c.trim().is_empty()) {
        indicator.insert("description".into(), json!(comment));
    }
    let indicator_type = if to_ids {
        "malicious-activity"
    } else {
        "anomalous-activity"
    };
    indicator.insert("indicator_types".into(), json!([indicator_type]));
    indicator.insert("pattern".into(), json!(pattern));
    indicator.insert("pattern_type".into(), json!("stix"));
    indicator.insert("valid_from".into(), json!(stix_time(time)));
    if let Some(category) = opt_str(attr, path, "category")?.filter(|c| !c.trim().is_empty()) {
        indicator.insert("labels".into(), json!([category]));
    }
    if let Some(id) = ctx.creator {
        indicator.insert("created_by_ref".into(), json!(id));
    }
    mark(&mut indicator, tlp);
    Ok(Converted::Indicator(Value::Object(indicator)))
}

/// The STIX name of a hash for a MISP hash type.
fn hash_name(kind: &str) -> Option<&'static str> {
    match kind {
        "md5" => Some("MD5"),
        "sha1" => Some("SHA-1"),
        "sha256" => Some("SHA-256"),
        "sha512" => Some("SHA-512"),
        _ => None,
    }
}

/// The STIX pattern for a MISP attribute; `Ok(None)` for types with no simple pattern, `Err`
/// (the reason) for a value that does not fit its type.
fn pattern_for(kind: &str, value: &str) -> Result<Option<String>, String> {
    if let Some(hash) = kind.strip_prefix("filename|") {
        let Some(hash) = hash_name(hash) else {
            return Ok(None);
        };
        let (name, digest) = value
            .split_once('|')
            .filter(|(n, d)| !n.is_empty() && !d.is_empty())
            .ok_or_else(|| format!("a {kind} value must be 'name|hash'"))?;
        return Ok(Some(format!(
            "[file:name = '{}' AND file:hashes.'{hash}' = '{}']",
            escape(name),
            escape(digest)
        )));
    }
    let property = match kind {
        "ip-src" | "ip-dst" if value.contains(':') => "ipv6-addr:value".to_owned(),
        "ip-src" | "ip-dst" => "ipv4-addr:value".to_owned(),
        "domain" | "hostname" => "domain-name:value".to_owned(),
        "url" => "url:value".to_owned(),
        "filename" => "file:name".to_owned(),
        "email-src" | "email-dst" => "email-addr:value".to_owned(),
        _ => match hash_name(kind) {
            Some(hash) => format!("file:hashes.'{hash}'"),
            None => return Ok(None),
        },
    };
    if value.trim().is_empty() {
        return Err("is empty".into());
    }
    Ok(Some(format!("[{property} = '{}']", escape(value))))
}

/// A value as the inside of a STIX pattern string literal.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
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
    tags: Vec<Value>,
    attributes: Vec<Value>,
    org: (&'a str, &'a str),
}

fn event_value(parts: EventParts<'_>) -> Value {
    let (org_name, org_uuid) = parts.org;
    json!({
        "Event": {
            "uuid": parts.uuid,
            "info": parts.info,
            "date": parts.date,
            "timestamp": parts.timestamp.to_string(),
            "publish_timestamp": parts.published.to_string(),
            "published": true,
            "analysis": "2",
            "threat_level_id": "4",
            "Orgc": {"name": org_name, "uuid": org_uuid},
            "Tag": parts.tags,
            "Attribute": parts.attributes,
        }
    })
}

fn report_to_event(
    report: &Value,
    indicators: &HashMap<&str, (i64, &Value)>,
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
    let attributes = report
        .get("object_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|id| indicators.get(id))
        .filter_map(|(_, o)| indicator_to_attribute(o, tlp, tlp_of))
        .collect();
    Some(event_value(EventParts {
        uuid,
        info: info.to_owned(),
        date: date.format("%Y-%m-%d").to_string(),
        timestamp: modified.div_euclid(1_000_000),
        published: published.div_euclid(1_000_000),
        tags,
        attributes,
        org,
    }))
}

fn indicator_to_attribute(
    indicator: &Value,
    event_tlp: Option<Tlp>,
    tlp_of: &impl Fn(&Value) -> Option<Tlp>,
) -> Option<Value> {
    let uuid = uuid_of(str_of(indicator, "id")?, "indicator")?;
    if str_of(indicator, "pattern_type").is_some_and(|t| t != "stix") {
        return None;
    }
    let (kind, value) =
        attribute_from_pattern(str_of(indicator, "pattern")?, str_of(indicator, "name"))?;
    let timestamp = version_of(indicator)?.div_euclid(1_000_000);
    let labels: Vec<&str> = indicator
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
    // Only an indicator this module marked as not for detection goes back as to_ids false.
    let types = indicator.get("indicator_types").and_then(Value::as_array);
    let to_ids = !types.is_some_and(|t| {
        !t.is_empty() && t.iter().all(|v| v.as_str() == Some("anomalous-activity"))
    });
    let mut attribute = json!({
        "uuid": uuid,
        "type": kind,
        "category": category,
        "value": value,
        "to_ids": to_ids,
        "timestamp": timestamp.to_string(),
        "comment": str_of(indicator, "description").unwrap_or_default(),
    });
    // An indicator stricter than its event keeps its own label as an attribute tag.
    if let Some(own) = tlp_of(indicator)
        && event_tlp.is_none_or(|e| e != own && stricter(e, own) == own)
    {
        attribute["Tag"] = json!([tag_value(tag_for(own))]);
    }
    Some(attribute)
}

fn default_category(kind: &str) -> &'static str {
    match kind {
        "ip-src" | "ip-dst" | "domain" | "hostname" | "url" => "Network activity",
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

/// The MISP (type, value) of one of the simple patterns [`pattern_for`] writes. The
/// indicator's name (`<type>: <value>`) tells ip-src from ip-dst, domain from hostname and
/// email-src from email-dst.
fn attribute_from_pattern(pattern: &str, name: Option<&str>) -> Option<(String, String)> {
    let comparisons = parse_simple_pattern(pattern)?;
    match comparisons.as_slice() {
        [(path, value)] => {
            let (default, alternatives): (&str, &[&str]) = match path.as_str() {
                "ipv4-addr:value" | "ipv6-addr:value" => ("ip-dst", &["ip-src"]),
                "domain-name:value" => ("domain", &["hostname"]),
                "email-addr:value" => ("email-src", &["email-dst"]),
                "url:value" => ("url", &[]),
                "file:name" => ("filename", &[]),
                other => (hash_kind(other)?, &[]),
            };
            let hinted = name
                .and_then(|n| n.split_once(": "))
                .filter(|(t, v)| v == value && alternatives.contains(t))
                .map(|(t, _)| t);
            Some((hinted.unwrap_or(default).to_owned(), value.clone()))
        }
        [(a, av), (b, bv)] => {
            let ((_, file), (hash, digest)) = if a == "file:name" {
                ((a, av), (b, bv))
            } else if b == "file:name" {
                ((b, bv), (a, av))
            } else {
                return None;
            };
            let kind = hash_kind(hash)?;
            Some((format!("filename|{kind}"), format!("{file}|{digest}")))
        }
        _ => None,
    }
}

/// The MISP hash type of a `file:hashes.X` property path.
fn hash_kind(path: &str) -> Option<&'static str> {
    let key = path.strip_prefix("file:hashes.")?.trim_matches('\'');
    match key.to_ascii_uppercase().replace('-', "").as_str() {
        "MD5" => Some("md5"),
        "SHA1" => Some("sha1"),
        "SHA256" => Some("sha256"),
        "SHA512" => Some("sha512"),
        _ => None,
    }
}

/// The comparisons of a pattern of one observation, `[p = 'v' AND p = 'v' ...]`, with no other
/// operator, qualifier or observation; `None` for anything else.
fn parse_simple_pattern(pattern: &str) -> Option<Vec<(String, String)>> {
    let mut rest = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    loop {
        let (path, after) = rest.split_once('=')?;
        let path = path.trim();
        if path.is_empty() || path.contains(char::is_whitespace) {
            return None;
        }
        let (value, after) = parse_quoted(after.trim_start())?;
        out.push((path.to_owned(), value));
        let after = after.trim_start();
        if after.is_empty() {
            return Some(out);
        }
        let after = after.strip_prefix("AND")?;
        if !after.starts_with(char::is_whitespace) {
            return None;
        }
        rest = after;
    }
}

/// A single-quoted STIX string at the start of `s`, unescaped, and what follows it.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '\'' => return Some((out, &body[i + 1..])),
            _ => out.push(c),
        }
    }
    None
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
    use proptest::prelude::*;

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
        assert_eq!(
            imported.skipped,
            [
                "Event.Attribute[5] (type text)",
                "Event.Object[0].Attribute[1] (type port)"
            ]
        );
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
        assert_eq!(report["published"], "2024-05-01T11:40:00.000Z");
        assert_eq!(report["modified"], "2024-05-01T10:40:00.000Z");
        assert_eq!(report["labels"], json!(["sector:water"]));
        assert_eq!(
            report["object_marking_refs"],
            json!([marking_id(Tlp::Green)])
        );
        assert_eq!(report["object_refs"].as_array().map(Vec::len), Some(6));
        let identity = by_id(objs, &format!("identity--{ORG_UUID}"));
        assert_eq!(identity["name"], "Water-ISAC");
        assert_eq!(identity["identity_class"], "organization");
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
            "Attribute": [attr("11111111-0000-4000-8000-000000000006", "text", "hi")]});
        let imported = event_to_stix(&event).expect("converts");
        assert_eq!(imported.tlp, None);
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
        assert_eq!(back["Orgc"], json!({"name": "ciphub", "uuid": ORG_UUID}));
        assert_eq!(
            back["Tag"],
            json!([{"name": "tlp:green", "colour": "#339900"}, {"name": "sector:water"}])
        );

        let mut flat = original.clone();
        let nested = flat["Event"]["Object"][0]["Attribute"].clone();
        let attrs = flat["Event"]["Attribute"].as_array_mut().expect("list");
        attrs.extend(nested.as_array().expect("list").iter().cloned());
        attrs.retain(|a| !matches!(a["type"].as_str(), Some("text" | "port")));
        assert_eq!(attribute_triples(&events[0]), attribute_triples(&flat));

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
                .filter(|o| o["type"] == "indicator")
                .map(|o| {
                    let mut o = o.clone();
                    o.as_object_mut().map(|m| m.remove("created_by_ref"));
                    o
                })
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

    #[test]
    fn only_simple_patterns_are_read_back() {
        for pattern in [
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '1.2.3.5']",
            "[ipv4-addr:value = '1.2.3.4'] AND [url:value = 'x']",
            "[url:value MATCHES 'a=b']",
            "[file:name = 'a' AND file:name = 'b']",
            "[process:name = 'x']",
            "[url:value = 'unterminated]",
        ] {
            assert_eq!(attribute_from_pattern(pattern, None), None, "{pattern}");
        }
        assert_eq!(
            attribute_from_pattern("[file:hashes.'SHA-1' = 'aa' AND file:name = 'b c']", None),
            Some(("filename|sha1".into(), "b c|aa".into()))
        );
        assert_eq!(
            attribute_from_pattern(
                "[domain-name:value = 'h.example']",
                Some("hostname: h.example")
            ),
            Some(("hostname".into(), "h.example".into()))
        );
    }

    proptest! {
        #[test]
        fn any_value_survives_a_pattern(value in "\\PC{1,40}", kind in "(url|filename|ip-src|domain|email-dst|sha512)") {
            prop_assume!(!value.trim().is_empty());
            let pattern = pattern_for(&kind, &value).expect("fits").expect("mapped");
            let back = attribute_from_pattern(&pattern, Some(&format!("{kind}: {value}")));
            prop_assert_eq!(back, Some((kind, value)));
        }
    }
}
