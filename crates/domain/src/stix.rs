//! STIX 2.1 objects: validation of what comes in, TLP markings both ways (TLP 2.0 and the
//! 1.0 ids feeds still carry), timestamps, and who may see an object shared over TAXII.
//!
//! An object is kept as the JSON value it arrived as, so what goes out is what came in; this
//! module checks that value against the STIX 2.1 rules that matter to sharing (identifiers,
//! versions, references, each type's required properties) and reads the few properties the
//! platform needs (id, type, version, markings).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::report::Tlp;

pub mod export;

/// Properties that are references, and the STIX rule that each is an identifier.
const MAX_DEPTH: usize = 64;

/// The TLP 2.0 marking definitions (FIRST), as STIX 2.1 identifiers.
pub const TLP2_MARKINGS: [(Tlp, &str); 5] = [
    (
        Tlp::Clear,
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        Tlp::Green,
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ),
    (
        Tlp::Amber,
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        Tlp::AmberStrict,
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        Tlp::Red,
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ),
];

/// The TLP 1.0 marking definitions of STIX 2.x (white, green, amber, red), which feeds still
/// carry. WHITE reads as CLEAR.
pub const TLP1_MARKINGS: [(Tlp, &str); 4] = [
    (
        Tlp::Clear,
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    ),
    (
        Tlp::Green,
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    ),
    (
        Tlp::Amber,
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    ),
    (
        Tlp::Red,
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    ),
];

/// The TLP 2.0 extension definition that the TLP 2.0 marking objects use.
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The STIX 2.1 marking-definition id for `tlp` (TLP 2.0).
pub fn marking_id(tlp: Tlp) -> &'static str {
    TLP2_MARKINGS
        .iter()
        .find(|(t, _)| *t == tlp)
        .map(|(_, id)| *id)
        .unwrap_or(TLP2_MARKINGS[4].1)
}

/// The TLP label a marking-definition id stands for (TLP 2.0 or 1.0), if it is one.
///
/// A UUID's hex digits are case-insensitive (RFC 4122), so an id written in upper case, or in
/// any other spelling of the UUID that `valid_identifier` accepts, names the same marking. It
/// is read as that marking rather than refused: a peer's object is not lost over how its
/// producer wrote a UUID, and the label stored is the one the id names, so who reads the
/// object and whether it may leave (`community_readable`, `may_leave`) follow it. Never
/// ignored: an ignored RED would leave a GREEN beside it to decide.
pub fn tlp_of_marking(id: &str) -> Option<Tlp> {
    let known = || TLP2_MARKINGS.iter().chain(TLP1_MARKINGS.iter());
    if let Some((t, _)) = known().find(|(_, m)| *m == id) {
        return Some(*t);
    }
    // Not written as published: compare the UUIDs themselves.
    let uuid_of = |id: &str| -> Option<uuid::Uuid> {
        let (kind, uuid) = id.split_once("--")?;
        if !kind.eq_ignore_ascii_case("marking-definition") {
            return None;
        }
        uuid::Uuid::parse_str(uuid).ok()
    };
    let uuid = uuid_of(id)?;
    known()
        .find(|(_, m)| uuid_of(m) == Some(uuid))
        .map(|(t, _)| *t)
}

/// How strict a label is: RED is the strictest.
fn strictness(tlp: Tlp) -> u8 {
    match tlp {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// The stricter of two labels.
pub fn stricter(a: Tlp, b: Tlp) -> Tlp {
    if strictness(a) >= strictness(b) { a } else { b }
}

/// The TLP 2.0 marking-definition object for `tlp`, as FIRST publishes it for STIX 2.1.
pub fn marking_definition(tlp: Tlp) -> Value {
    let name = tlp.as_str();
    let short = name.trim_start_matches("TLP:").to_ascii_lowercase();
    serde_json::json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id(tlp),
        "created": "2022-10-01T00:00:00.000Z",
        "name": name,
        "extensions": {
            TLP2_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": short,
            }
        }
    })
}

/// A STIX timestamp as microseconds since the epoch. STIX requires UTC with a `Z`.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    if !s.ends_with('Z') {
        return Err(format!("{s:?} is not a UTC timestamp ending in Z"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
        .map_err(|e| format!("{s:?} is not an RFC 3339 timestamp: {e}"))
}

/// Microseconds since the epoch as a STIX/TAXII timestamp, to the microsecond
/// (`2026-01-01T00:00:00.000000Z`). Written digit by digit: a TAXII status names the version
/// of every object it lists, and chrono's general formatter took a tenth of a POST's time.
pub fn format_timestamp(us: i64) -> String {
    use chrono::{Datelike, Timelike};
    let t = DateTime::from_timestamp_micros(us).unwrap_or_default();
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, t.timestamp_subsec_micros());
    out.iter().map(|&b| char::from(b)).collect()
}

/// What is wrong with a STIX object, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StixError {
    /// Where, as a JSON path (`objects[2].pattern`).
    pub path: String,
    pub message: String,
}

impl StixError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A checked STIX object and what the platform reads from it.
#[derive(Debug, Clone, PartialEq)]
pub struct StixObject {
    pub id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `modified`, else `created`, in microseconds; `None` for objects with neither (most
    /// cyber observables), whose version is the time they were added.
    pub version_us: Option<i64>,
    /// The label that decides who reads it: the strictest TLP marking anywhere in it
    /// (`label_of`); `None` when unmarked.
    pub tlp: Option<Tlp>,
    /// The object exactly as it came.
    pub value: Value,
}

/// STIX domain and relationship objects: these need `created` and `modified`.
const SDO_SRO: [&str; 21] = [
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
    "relationship",
    "sighting",
];

/// STIX cyber-observable types.
const SCO: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Properties each type must have (beyond the common ones).
fn required(object_type: &str) -> &'static [&'static str] {
    match object_type {
        "attack-pattern" | "campaign" | "course-of-action" | "identity" | "incident"
        | "infrastructure" | "intrusion-set" | "threat-actor" | "tool" | "vulnerability" => {
            &["name"]
        }
        "grouping" => &["context", "object_refs"],
        "indicator" => &["pattern", "pattern_type", "valid_from"],
        "malware" => &["is_family"],
        "malware-analysis" => &["product"],
        "note" => &["content", "object_refs"],
        "observed-data" => &["first_observed", "last_observed", "number_observed"],
        "opinion" => &["opinion", "object_refs"],
        "report" => &["name", "published", "object_refs"],
        "relationship" => &["relationship_type", "source_ref", "target_ref"],
        "sighting" => &["sighting_of_ref"],
        "language-content" => &["object_ref", "contents"],
        "extension-definition" => &[
            "name",
            "schema",
            "version",
            "extension_types",
            "created_by_ref",
        ],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "email-message" => &["is_multipart"],
        "mutex" | "software" => &["name"],
        "network-traffic" => &["protocols"],
        _ => &[],
    }
}

/// Whether `s` is a STIX type name: 3 to 250 characters of a-z, 0-9 and single hyphens.
fn valid_type(s: &str) -> bool {
    (3..=250).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Whether `s` is a STIX identifier `type--uuid`, and of type `of` when given.
pub fn valid_identifier(s: &str, of: Option<&str>) -> bool {
    let Some((t, uuid)) = s.split_once("--") else {
        return false;
    };
    valid_type(t) && of.is_none_or(|o| o == t) && uuid::Uuid::parse_str(uuid).is_ok()
}

/// Checks one STIX 2.1 object; `path` names it in errors (`objects[3]`).
pub fn parse_object(value: Value, path: &str) -> Result<StixObject, StixError> {
    let Value::Object(map) = &value else {
        return Err(StixError::new(path, "must be a JSON object"));
    };
    let at = |key: &str| format!("{path}.{key}");
    let text = |key: &str| -> Result<Option<&str>, StixError> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(StixError::new(at(key), "must be a string")),
        }
    };
    let object_type = text("type")?
        .ok_or_else(|| StixError::new(at("type"), "missing"))?
        .to_owned();
    if !valid_type(&object_type) {
        return Err(StixError::new(
            at("type"),
            format!("{object_type:?} is not a STIX type name (3-250 of a-z, 0-9, -)"),
        ));
    }
    if object_type == "bundle" {
        return Err(StixError::new(
            at("type"),
            "a bundle cannot be an object of a bundle or envelope",
        ));
    }
    let id = text("id")?
        .ok_or_else(|| StixError::new(at("id"), "missing"))?
        .to_owned();
    if !valid_identifier(&id, Some(&object_type)) {
        return Err(StixError::new(
            at("id"),
            format!("{id:?} is not an identifier of the form {object_type}--<UUID>"),
        ));
    }
    let is_sco = SCO.contains(&object_type.as_str());
    let spec_version = match text("spec_version")? {
        Some("2.1") => "2.1".to_owned(),
        Some(other) => {
            return Err(StixError::new(
                at("spec_version"),
                format!("{other:?} is not supported; send STIX 2.1"),
            ));
        }
        None if is_sco => "2.1".to_owned(),
        None => {
            return Err(StixError::new(
                at("spec_version"),
                "missing; must be \"2.1\"",
            ));
        }
    };
    let created = timestamp_of(map, "created", path)?;
    let modified = timestamp_of(map, "modified", path)?;
    let needs_times = SDO_SRO.contains(&object_type.as_str())
        || object_type == "language-content"
        || object_type == "extension-definition";
    if (needs_times || object_type == "marking-definition") && created.is_none() {
        return Err(StixError::new(at("created"), "missing"));
    }
    if needs_times && modified.is_none() {
        return Err(StixError::new(at("modified"), "missing"));
    }
    if let (Some(c), Some(m)) = (created, modified)
        && m < c
    {
        return Err(StixError::new(
            at("modified"),
            "must not be earlier than created",
        ));
    }
    for key in required(&object_type) {
        if !map.contains_key(*key) {
            return Err(StixError::new(
                at(key),
                format!("missing; a {object_type} needs it"),
            ));
        }
    }
    if let Some(Value::Array(refs)) = map.get("object_refs")
        && refs.is_empty()
        && object_type != "observed-data"
    {
        return Err(StixError::new(at("object_refs"), "must not be empty"));
    }
    check_refs(&value, path, 0)?;
    check_pattern(map, path)?;
    let tlp = label_of(map, path)?;
    Ok(StixObject {
        id,
        object_type,
        spec_version,
        version_us: modified.or(created),
        tlp,
        value,
    })
}

/// The label that decides who reads an object: the strictest TLP marking (2.0 or 1.0) anywhere
/// in it, in `object_marking_refs` and in every `granular_markings` entry's `marking_ref`, so
/// a field marked RED keeps a GREEN object with its holder.
///
/// Marking definitions that are not TLP do not count, as before: beside a TLP marking the TLP
/// one decides, and an object with only such markings is unmarked. Without an object-wide
/// TLP marking, the fields no granular marking covers are unmarked, which reads as
/// AMBER+STRICT (`community_readable`): a GREEN field does not open the whole object, and only
/// a RED field is stricter than that.
fn label_of(map: &Map<String, Value>, path: &str) -> Result<Option<Tlp>, StixError> {
    let strictest = |labels: &mut dyn Iterator<Item = Tlp>| labels.reduce(stricter);
    let object_wide = match map.get("object_marking_refs") {
        None => None,
        Some(Value::Array(refs)) => strictest(
            &mut refs
                .iter()
                .filter_map(Value::as_str)
                .filter_map(tlp_of_marking),
        ),
        Some(_) => {
            return Err(StixError::new(
                format!("{path}.object_marking_refs"),
                "must be a list of identifiers",
            ));
        }
    };
    let fields = match map.get("granular_markings") {
        None => None,
        Some(Value::Array(entries)) => {
            if let Some(i) = entries.iter().position(|e| !e.is_object()) {
                return Err(StixError::new(
                    format!("{path}.granular_markings[{i}]"),
                    "must be an object with selectors and a marking_ref or lang",
                ));
            }
            strictest(
                &mut entries
                    .iter()
                    .filter_map(|e| e.get("marking_ref").and_then(Value::as_str))
                    .filter_map(tlp_of_marking),
            )
        }
        Some(_) => {
            return Err(StixError::new(
                format!("{path}.granular_markings"),
                "must be a list of granular markings",
            ));
        }
    };
    Ok(match (object_wide, fields) {
        (Some(o), Some(f)) => Some(stricter(o, f)),
        (o, None) => o,
        (None, Some(Tlp::Red)) => Some(Tlp::Red),
        (None, Some(_)) => None,
    })
}

/// The `rstix` crate's full check of an object (its typed parse, then its schema, property
/// type and pattern checks): the reference `parse_object` is tested against. Slower.
pub fn reference_check(v: &Value) -> Result<(), String> {
    use rstix::validate::{Severity, ValidationPhase, Validator};
    let object = rstix::parse_object(&v.to_string()).map_err(|e| e.to_string())?;
    let validator = Validator::builder()
        .with_phase(ValidationPhase::Schema)
        .with_phase(ValidationPhase::PropertyTypes)
        .with_phase(ValidationPhase::PatternParse)
        .build();
    match validator
        .validate_object(&object)
        .errors()
        .find(|d| d.severity == Severity::Error)
    {
        Some(d) => Err(format!("{} ({})", d.message, d.code)),
        None => Ok(()),
    }
}

/// An indicator's STIX pattern must parse (with the `rstix` crate's pattern grammar).
///
/// The rest of the object is checked by `parse_object` itself rather than by a full `rstix`
/// typed parse, which costs about 20 µs an object and would alone take more time than a whole
/// TAXII envelope may; the tests `agrees_with_rstix_on_bad_objects` and the OASIS examples'
/// round trip check the two agree (`reference_check`).
fn check_pattern(map: &Map<String, Value>, path: &str) -> Result<(), StixError> {
    if map.get("pattern_type").and_then(Value::as_str) != Some("stix") {
        return Ok(());
    }
    let Some(pattern) = map.get("pattern").and_then(Value::as_str) else {
        return Err(StixError::new(
            format!("{path}.pattern"),
            "must be a string",
        ));
    };
    rstix::Pattern::parse(pattern).map(|_| ()).map_err(|e| {
        StixError::new(
            format!("{path}.pattern"),
            format!("not a STIX pattern: {e}"),
        )
    })
}

fn timestamp_of(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<i64>, StixError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => parse_timestamp(s)
            .map(Some)
            .map_err(|m| StixError::new(format!("{path}.{key}"), m)),
        Some(_) => Err(StixError::new(
            format!("{path}.{key}"),
            "must be a timestamp string",
        )),
    }
}

/// Every `*_ref` property must hold an identifier and every `*_refs` a list of them, at any
/// depth (extensions and embedded objects included).
fn check_refs(value: &Value, path: &str, depth: usize) -> Result<(), StixError> {
    refs_within(value, depth).map_err(|(mut at, message)| {
        at.reverse();
        StixError::new(format!("{path}{}", at.concat()), message)
    })
}

/// The walk of `check_refs`. The path of a problem is built only when there is one: each
/// level adds its segment as the error comes back up (innermost first).
fn refs_within(value: &Value, depth: usize) -> Result<(), (Vec<String>, &'static str)> {
    if depth > MAX_DEPTH {
        return Err((Vec::new(), "nested too deeply"));
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = |(mut at, m): (Vec<String>, &'static str)| {
                    at.push(format!(".{key}"));
                    (at, m)
                };
                if key.ends_with("_ref") {
                    if !v.as_str().is_some_and(|s| valid_identifier(s, None)) {
                        return Err(here((Vec::new(), "must be a STIX identifier (type--UUID)")));
                    }
                } else if key.ends_with("_refs") {
                    let ok = v.as_array().is_some_and(|a| {
                        a.iter()
                            .all(|r| r.as_str().is_some_and(|s| valid_identifier(s, None)))
                    });
                    if !ok {
                        return Err(here((
                            Vec::new(),
                            "must be a list of STIX identifiers (type--UUID)",
                        )));
                    }
                } else {
                    refs_within(v, depth + 1).map_err(here)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs_within(v, depth + 1).map_err(|(mut at, m)| {
                    at.push(format!("[{i}]"));
                    (at, m)
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A STIX bundle: its id and its checked objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub id: String,
    pub objects: Vec<StixObject>,
}

impl Bundle {
    /// Reads a bundle, or a single object as a bundle of one (with a new id).
    pub fn parse(value: Value) -> Result<Self, StixError> {
        if value.get("type").and_then(Value::as_str) != Some("bundle") {
            let object = parse_object(value, "$")?;
            return Ok(Self {
                id: new_id("bundle"),
                objects: vec![object],
            });
        }
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| valid_identifier(id, Some("bundle")))
            .ok_or_else(|| StixError::new("$.id", "missing or not bundle--<UUID>"))?
            .to_owned();
        let Some(Value::Array(items)) = value.get("objects").cloned() else {
            return Err(StixError::new("$.objects", "missing or not a list"));
        };
        let objects = items
            .into_iter()
            .enumerate()
            .map(|(i, o)| parse_object(o, &format!("$.objects[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self { id, objects })
    }

    /// The bundle as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "type": "bundle",
            "id": self.id,
            "objects": self.objects.iter().map(|o| o.value.clone()).collect::<Vec<_>>(),
        })
    }
}

/// A new random identifier of `object_type`.
pub fn new_id(object_type: &str) -> String {
    format!("{object_type}--{}", uuid::Uuid::new_v4())
}

/// The namespace of an instance's deterministic STIX identifiers (UUID v5). Each instance has
/// its own, so report 2 of one instance and report 2 of another are different objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSpace(uuid::Uuid);

impl IdSpace {
    /// The namespace every instance shared before each had its own; kept by instances that
    /// exported STIX then.
    pub const LEGACY: IdSpace = IdSpace(uuid::Uuid::from_u128(
        0x6c1f_5b0e_9a7d_4f3e_8d2c_1b0a_9f8e_7d6c,
    ));

    /// A namespace fixed in the code, for objects that are the same in every instance.
    pub const fn from_u128(n: u128) -> Self {
        IdSpace(uuid::Uuid::from_u128(n))
    }

    /// The namespace in the first 16 bytes of an instance secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&secret[..16]);
        IdSpace(uuid::Uuid::from_bytes(bytes))
    }

    /// A stable UUID for `key`, for names outside STIX (a MISP organization's uuid).
    pub fn uuid(&self, key: &str) -> uuid::Uuid {
        uuid::Uuid::new_v5(&self.0, key.as_bytes())
    }

    /// A stable identifier of `object_type` for `key` (the same key always gives the same id,
    /// so an export made twice describes the same objects).
    pub fn id(&self, object_type: &str, key: &str) -> String {
        format!(
            "{object_type}--{}",
            uuid::Uuid::new_v5(&self.0, key.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::sharing::{community_readable, may_leave};
    use serde_json::json;

    fn indicator() -> Value {
        json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z",
            "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[ipv4-addr:value = '10.0.0.1']",
            "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z",
            "object_marking_refs": [marking_id(Tlp::Green)],
        })
    }

    #[test]
    fn a_valid_indicator_is_read() {
        let o = parse_object(indicator(), "$").expect("valid");
        assert_eq!(o.object_type, "indicator");
        assert_eq!(o.tlp, Some(Tlp::Green));
        assert_eq!(
            o.version_us,
            Some(parse_timestamp("2016-04-06T20:03:48.000Z").expect("ts"))
        );
        assert_eq!(o.value, indicator());
    }

    #[test]
    fn errors_name_the_property() {
        let cases: [(&str, Value, &str); 7] = [
            ("pattern", Value::Null, "$.pattern"),
            ("id", json!("indicator--nope"), "$.id"),
            (
                "id",
                json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
                "$.id",
            ),
            ("spec_version", json!("2.0"), "$.spec_version"),
            ("modified", json!("2015-01-01T00:00:00Z"), "$.modified"),
            ("created", json!("2016-04-06T20:03:48+09:00"), "$.created"),
            ("created_by_ref", json!("someone"), "$.created_by_ref"),
        ];
        for (key, v, path) in cases {
            let mut o = indicator();
            if v.is_null() {
                o.as_object_mut().expect("object").remove(key);
            } else {
                o[key] = v;
            }
            let e = parse_object(o, "$").expect_err(key);
            assert_eq!(e.path, path, "{e}");
        }
        let mut o = indicator();
        o["pattern"] = json!("[ipv4-addr:value = ");
        let e = parse_object(o, "$").expect_err("bad pattern");
        assert!(e.path.starts_with('$'), "{e}");
        let e = parse_object(json!([1]), "objects[2]").expect_err("array");
        assert_eq!(e.path, "objects[2]");
    }

    #[test]
    fn tlp_markings_map_both_versions_and_take_the_strictest() {
        for (tlp, id) in TLP2_MARKINGS {
            assert_eq!(tlp_of_marking(id), Some(tlp));
            assert_eq!(marking_id(tlp), id);
            let def = parse_object(marking_definition(tlp), "$").expect("marking");
            assert_eq!(def.id, id);
        }
        assert_eq!(tlp_of_marking(TLP1_MARKINGS[0].1), Some(Tlp::Clear));
        assert_eq!(tlp_of_marking(TLP1_MARKINGS[3].1), Some(Tlp::Red));
        let mut o = indicator();
        o["object_marking_refs"] = json!([
            marking_id(Tlp::Green),
            TLP1_MARKINGS[2].1,
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec"
        ]);
        assert_eq!(parse_object(o, "$").expect("valid").tlp, Some(Tlp::Amber));
    }

    #[test]
    fn field_markings_and_other_spellings_count_and_other_markings_do_not() {
        let red = marking_id(Tlp::Red);
        let green = marking_id(Tlp::Green);
        let unknown = "marking-definition--00000000-0000-4000-8000-000000000001";
        let respell = |id: &str, f: fn(&str) -> String| {
            let (kind, uuid) = id.split_once("--").expect("id");
            format!("{kind}--{}", f(uuid))
        };
        let upper = |id: &str| respell(id, str::to_uppercase);
        let label = |refs: Value, granular: Option<Value>| {
            let mut o = indicator();
            o["object_marking_refs"] = refs;
            if let Some(g) = granular {
                o["granular_markings"] = g;
            }
            parse_object(o, "$").expect("valid").tlp
        };
        let field = |marking: &str| Some(json!([{"selectors": ["name"], "marking_ref": marking}]));
        // A RED field keeps a GREEN object with its holder, in either TLP version.
        assert_eq!(label(json!([green]), field(red)), Some(Tlp::Red));
        assert_eq!(
            label(json!([green]), field(TLP1_MARKINGS[3].1)),
            Some(Tlp::Red)
        );
        // A GREEN field does not open a stricter object.
        assert_eq!(
            label(json!([marking_id(Tlp::Amber)]), field(green)),
            Some(Tlp::Amber)
        );
        // Ids written in upper case (or without hyphens) are the markings they name.
        assert_eq!(label(json!([green, upper(red)]), None), Some(Tlp::Red));
        assert_eq!(label(json!([green]), field(&upper(red))), Some(Tlp::Red));
        let simple = respell(red, |u| u.replace('-', ""));
        assert_eq!(label(json!([green, simple]), None), Some(Tlp::Red));
        assert_eq!(tlp_of_marking(&upper(TLP1_MARKINGS[0].1)), Some(Tlp::Clear));
        assert_eq!(
            tlp_of_marking(&red.replace("marking-definition", "indicator")),
            None
        );
        // Markings that are not TLP: beside a TLP one it decides; alone, unmarked.
        assert_eq!(
            label(json!([green, unknown]), field(unknown)),
            Some(Tlp::Green)
        );
        assert_eq!(label(json!([unknown]), None), None);
        // Without an object-wide label the rest is unmarked: only RED is stricter.
        assert_eq!(label(json!([]), field(green)), None);
        assert_eq!(label(json!([unknown]), field(red)), Some(Tlp::Red));
        // A language marking has no marking_ref and counts for nothing.
        let lang = Some(json!([{"selectors": ["name"], "lang": "ja"}]));
        assert_eq!(label(json!([green]), lang), Some(Tlp::Green));
        // Malformed granular markings are refused, named by where they are.
        let mut o = indicator();
        o["granular_markings"] = json!({"marking_ref": red});
        let e = parse_object(o, "$").expect_err("not a list");
        assert_eq!(e.path, "$.granular_markings");
        let mut o = indicator();
        o["granular_markings"] = json!([{"selectors": ["name"], "marking_ref": red}, red]);
        let e = parse_object(o, "$").expect_err("not an object");
        assert_eq!(e.path, "$.granular_markings[1]");
        let mut o = indicator();
        o["granular_markings"] = json!([{"selectors": ["name"], "marking_ref": "red"}]);
        let e = parse_object(o, "$").expect_err("not an id");
        assert_eq!(e.path, "$.granular_markings[0].marking_ref");
        assert!(!community_readable(label(json!([green]), field(red))));
        assert!(!may_leave(label(json!([green, upper(red)]), None)));
    }

    #[test]
    fn visibility_follows_the_label() {
        assert!(community_readable(Some(Tlp::Clear)));
        assert!(community_readable(Some(Tlp::Green)));
        for t in [Tlp::Amber, Tlp::AmberStrict, Tlp::Red] {
            assert!(!community_readable(Some(t)));
            assert!(!may_leave(Some(t)));
        }
        assert!(!community_readable(None));
    }

    #[test]
    fn timestamps_format_as_chrono_does() {
        let mut us: i64 = -62_135_596_800_000_000; // 0001-01-01
        let step = 7_777_777_777_777; // about three months, with odd seconds and micros
        while us < 253_402_300_799_000_000 {
            let chrono = DateTime::from_timestamp_micros(us)
                .expect("in range")
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(format_timestamp(us), chrono);
            assert_eq!(parse_timestamp(&format_timestamp(us)), Ok(us));
            us += step;
        }
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_timestamp(1_767_225_600_000_001),
            "2026-01-01T00:00:00.000001Z"
        );
    }

    #[test]
    fn a_bad_reference_is_named_by_its_whole_path() {
        let mut v = indicator();
        v["extensions"] = json!({"x-ext": {"items": [{"a_ref": "malware--x"}]}});
        let e = parse_object(v, "objects[4]").expect_err("bad nested ref");
        assert_eq!(e.path, "objects[4].extensions.x-ext.items[0].a_ref");
        let mut v = indicator();
        v["sighting_of_refs"] = json!(["nope"]);
        let e = parse_object(v, "objects[0]").expect_err("bad refs");
        assert_eq!(e.path, "objects[0].sighting_of_refs");
        assert!(e.message.contains("list of STIX identifiers"), "{e}");
    }

    #[test]
    fn agrees_with_rstix_on_bad_objects() {
        let mut cases: Vec<Value> = Vec::new();
        for (key, v) in [
            ("pattern", Value::Null),
            ("pattern_type", Value::Null),
            ("valid_from", Value::Null),
            ("id", json!("indicator--nope")),
            ("id", json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
            ("spec_version", json!("2.0")),
            ("modified", json!("2015-01-01T00:00:00Z")),
            ("created", json!("yesterday")),
            ("pattern", json!("[ipv4-addr:value = ")),
            ("pattern", json!("ipv4-addr:value = '1.2.3.4'")),
        ] {
            let mut o = indicator();
            if v.is_null() {
                o.as_object_mut().expect("object").remove(key);
            } else {
                o[key] = v;
            }
            cases.push(o);
        }
        assert!(reference_check(&indicator()).is_ok());
        assert!(parse_object(indicator(), "$").is_ok());
        for c in cases {
            assert!(reference_check(&c).is_err(), "rstix accepts {c}");
            assert!(parse_object(c.clone(), "$").is_err(), "ciphub accepts {c}");
        }
    }

    #[test]
    fn observables_need_no_times() {
        let o = parse_object(
            json!({"type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"}),
            "$",
        )
        .expect("sco");
        assert_eq!(o.version_us, None);
        assert_eq!(o.spec_version, "2.1");
    }

    #[test]
    fn bundles_round_trip() {
        let b = json!({"type": "bundle", "id": "bundle--44af6c39-c09b-49c5-9de2-394224b04982", "objects": [indicator()]});
        let parsed = Bundle::parse(b.clone()).expect("bundle");
        assert_eq!(parsed.to_value(), b);
        let e = Bundle::parse(json!({"type": "bundle", "id": "bundle--44af6c39-c09b-49c5-9de2-394224b04982", "objects": [indicator(), {"type": "indicator"}]})).expect_err("bad");
        assert_eq!(e.path, "$.objects[1].id");
    }

    #[test]
    fn each_instance_names_its_objects_in_its_own_namespace() {
        let one = IdSpace::from_secret(&[1; 32]);
        let two = IdSpace::from_secret(&[2; 32]);
        assert_ne!(
            one.id("incident", "report:2"),
            two.id("incident", "report:2")
        );
        assert_eq!(
            one.id("incident", "report:2"),
            one.id("incident", "report:2")
        );
        // Instances that exported STIX before keep their ids.
        let mut legacy = [0u8; 32];
        legacy[..16].copy_from_slice(&0x6c1f_5b0e_9a7d_4f3e_8d2c_1b0a_9f8e_7d6c_u128.to_be_bytes());
        assert_eq!(IdSpace::from_secret(&legacy), IdSpace::LEGACY);
    }

    #[test]
    fn timestamps_keep_microseconds() {
        let us = parse_timestamp("2026-11-28T01:02:03.123456Z").expect("ts");
        assert_eq!(format_timestamp(us), "2026-11-28T01:02:03.123456Z");
        let ids = IdSpace::LEGACY;
        assert!(ids.id("identity", "a") == ids.id("identity", "a"));
        assert!(valid_identifier(&ids.id("identity", "a"), Some("identity")));
    }
}
