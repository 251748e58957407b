//! MISP galaxy clusters as STIX 2.1 objects (attack patterns, malware, tools, threat actors,
//! intrusion sets, courses of action, with MITRE ATT&CK ids as external references), and back.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Context, MispError, ROOT, STABLE_TIME, as_object, common, mark, opt_array, opt_str, str_of,
};

/// The namespace of galaxy clusters named only by their tag: the same in every instance, since
/// a cluster is shared knowledge (every instance importing it names the same object).
const GALAXY_IDS: crate::stix::IdSpace =
    crate::stix::IdSpace::from_u128(0x0b7e_52d1_6a3c_4f08_9d41_e2c6_57a9_13f0);

/// The STIX type a galaxy's clusters become; `None` for galaxies STIX has no object for (their
/// tags stay as the report's labels).
fn stix_type(galaxy: &str) -> Option<&'static str> {
    let galaxy = galaxy
        .strip_prefix("mitre-enterprise-attack-")
        .unwrap_or(galaxy);
    let galaxy = galaxy.strip_prefix("mitre-").unwrap_or(galaxy);
    match galaxy {
        "attack-pattern" | "pre-attack-attack-pattern" | "mobile-attack-attack-pattern" => {
            Some("attack-pattern")
        }
        "course-of-action" => Some("course-of-action"),
        "intrusion-set" | "microsoft-activity-group" => Some("intrusion-set"),
        "threat-actor" => Some("threat-actor"),
        "tool" | "exploit-kit" => Some("tool"),
        "malware" | "malpedia" | "banker" | "ransomware" | "rat" | "stealer" | "backdoor"
        | "botnet" | "android" => Some("malware"),
        _ => None,
    }
}

/// The galaxy type a STIX object without MISP's own note of it is read back as.
fn galaxy_type(stix: &str) -> Option<&'static str> {
    match stix {
        "attack-pattern" => Some("mitre-attack-pattern"),
        "course-of-action" => Some("mitre-course-of-action"),
        "intrusion-set" => Some("mitre-intrusion-set"),
        "threat-actor" => Some("threat-actor"),
        "tool" => Some("mitre-tool"),
        "malware" => Some("mitre-malware"),
        _ => None,
    }
}

/// Whether `id` is a MITRE ATT&CK id (T1441, T1055.001, S0002, G0007, M1036, TA0001).
fn is_attack_id(id: &str) -> bool {
    let digits = id
        .strip_prefix("TA")
        .or_else(|| id.strip_prefix(['T', 'S', 'G', 'M', 'C']));
    digits.is_some_and(|d| {
        let (main, sub) = d.split_once('.').unwrap_or((d, "000"));
        main.len() == 4
            && sub.len() == 3
            && main.bytes().chain(sub.bytes()).all(|b| b.is_ascii_digit())
    })
}

/// The STIX objects of the event's galaxy clusters.
pub(super) fn clusters_to_stix(
    ev: &Map<String, Value>,
    ctx: &Context<'_>,
) -> Result<Vec<Value>, MispError> {
    // Older exports give every cluster of a galaxy the galaxy's uuid: a uuid that more than
    // one cluster carries names none of them.
    let mut uuids: HashMap<&str, usize> = HashMap::new();
    for galaxy in opt_array(ev, ROOT, "Galaxy")? {
        for cluster in galaxy
            .get("GalaxyCluster")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(u) = str_of(cluster, "uuid") {
                *uuids.entry(u).or_default() += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (g, galaxy) in opt_array(ev, ROOT, "Galaxy")?.iter().enumerate() {
        let path = format!("{ROOT}.Galaxy[{g}]");
        let galaxy = as_object(galaxy, &path)?;
        let galaxy_kind = opt_str(galaxy, &path, "type")?.unwrap_or_default();
        let galaxy_name = opt_str(galaxy, &path, "name")?;
        for (c, cluster) in opt_array(galaxy, &path, "GalaxyCluster")?
            .iter()
            .enumerate()
        {
            let path = format!("{path}.GalaxyCluster[{c}]");
            let cluster = as_object(cluster, &path)?;
            let kind = opt_str(cluster, &path, "type")?.unwrap_or(galaxy_kind);
            let (Some(stix), Some(value)) = (stix_type(kind), opt_str(cluster, &path, "value")?)
            else {
                continue;
            };
            let own_uuid = opt_str(cluster, &path, "uuid")?.filter(|u| uuids.get(u) == Some(&1));
            let named = Named {
                stix,
                kind,
                value,
                galaxy_name,
                own_uuid,
            };
            let o = cluster_to_stix(cluster, &path, &named, ctx)?;
            // A cluster named by two galaxies of the event is one object.
            if !out.iter().any(|x: &Value| x.get("id") == o.get("id")) {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// What names a cluster: its STIX type, galaxy type, value, galaxy name and own uuid.
struct Named<'a> {
    stix: &'a str,
    kind: &'a str,
    value: &'a str,
    galaxy_name: Option<&'a str>,
    own_uuid: Option<&'a str>,
}

fn cluster_to_stix(
    cluster: &Map<String, Value>,
    path: &str,
    named: &Named<'_>,
    ctx: &Context<'_>,
) -> Result<Value, MispError> {
    let &Named {
        stix,
        kind,
        value,
        galaxy_name,
        own_uuid,
    } = named;
    let tag_name = opt_str(cluster, path, "tag_name")?
        .map(str::to_owned)
        .unwrap_or_else(|| format!("misp-galaxy:{kind}=\"{value}\""));
    // Some exports leave a cluster's uuid empty or shared: its tag names it as well.
    let id = match own_uuid.and_then(|u| Uuid::parse_str(u.trim()).ok()) {
        Some(uuid) => format!("{stix}--{}", uuid.hyphenated()),
        None => GALAXY_IDS.id(stix, &tag_name),
    };
    // A cluster is shared knowledge, the same in every event that names it: one version.
    let mut o = common(stix, &id, STABLE_TIME);
    o.insert("name".into(), json!(value));
    if let Some(d) = opt_str(cluster, path, "description")?.filter(|d| !d.trim().is_empty()) {
        o.insert("description".into(), json!(d));
    }
    if stix == "malware" {
        o.insert("is_family".into(), json!(true));
    }
    let meta = cluster.get("meta").and_then(Value::as_object);
    let strings = |key: &str| -> Vec<String> {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let synonyms = strings("synonyms");
    if !synonyms.is_empty() && stix != "course-of-action" {
        o.insert("aliases".into(), json!(synonyms));
    }
    let mut ids = strings("external_id");
    // ATT&CK clusters name their technique in their value too: "... - T1441".
    if ids.is_empty()
        && let Some((_, id)) = value.rsplit_once(" - ")
        && is_attack_id(id)
    {
        ids.push(id.to_owned());
    }
    let refs = strings("refs");
    let mut references: Vec<Value> = ids
        .iter()
        .map(|id| {
            let source = if is_attack_id(id) {
                "mitre-attack"
            } else {
                kind
            };
            let mut r = json!({"source_name": source, "external_id": id});
            if let Some(url) = refs.iter().find(|u| u.contains("attack.mitre.org")) {
                r["url"] = json!(url);
            }
            r
        })
        .collect();
    references.extend(refs.iter().map(|u| json!({"source_name": "url", "url": u})));
    if !references.is_empty() {
        o.insert("external_references".into(), Value::Array(references));
    }
    o.insert("x_misp_galaxy_type".into(), json!(kind));
    if let Some(name) = galaxy_name {
        o.insert("x_misp_galaxy_name".into(), json!(name));
    }
    o.insert("x_misp_tag_name".into(), json!(tag_name));
    mark(&mut o, ctx.tlp);
    Ok(Value::Object(o))
}

/// Whether a STIX object is one a galaxy cluster is read back from.
pub(super) fn is_cluster(o: &Value) -> bool {
    str_of(o, "x_misp_galaxy_type").is_some() || str_of(o, "type").and_then(galaxy_type).is_some()
}

/// The event's `Galaxy` list from the cluster objects its report references, one galaxy per
/// type in the order first met.
pub(super) fn galaxies_from(clusters: &[&Value]) -> Vec<Value> {
    let mut galaxies: Vec<(String, Option<String>, Vec<Value>)> = Vec::new();
    for o in clusters {
        let Some(stix) = str_of(o, "type") else {
            continue;
        };
        let Some(kind) = str_of(o, "x_misp_galaxy_type").or(galaxy_type(stix)) else {
            continue;
        };
        let Some(name) = str_of(o, "name") else {
            continue;
        };
        let uuid = str_of(o, "id")
            .and_then(|id| id.split_once("--"))
            .map(|(_, u)| u)
            .unwrap_or_default();
        let mut meta = Map::new();
        if let Some(aliases) = o.get("aliases").filter(|a| a.is_array()) {
            meta.insert("synonyms".into(), aliases.clone());
        }
        let references = o
            .get("external_references")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let ids: Vec<&str> = references
            .iter()
            .filter(|r| str_of(r, "source_name") != Some("url"))
            .filter_map(|r| str_of(r, "external_id"))
            .collect();
        if !ids.is_empty() {
            meta.insert("external_id".into(), json!(ids));
        }
        let urls: Vec<&str> = references
            .iter()
            .filter(|r| str_of(r, "source_name") == Some("url"))
            .filter_map(|r| str_of(r, "url"))
            .collect();
        if !urls.is_empty() {
            meta.insert("refs".into(), json!(urls));
        }
        let tag_name = str_of(o, "x_misp_tag_name")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("misp-galaxy:{kind}=\"{name}\""));
        let cluster = json!({
            "type": kind,
            "value": name,
            "uuid": uuid,
            "tag_name": tag_name,
            "description": str_of(o, "description").unwrap_or_default(),
            "meta": meta,
        });
        let galaxy_name = str_of(o, "x_misp_galaxy_name").map(str::to_owned);
        match galaxies.iter_mut().find(|(k, _, _)| k == kind) {
            Some((_, _, list)) => list.push(cluster),
            None => galaxies.push((kind.to_owned(), galaxy_name, vec![cluster])),
        }
    }
    galaxies
        .into_iter()
        .map(|(kind, name, clusters)| {
            json!({"type": kind, "name": name.unwrap_or_else(|| kind.clone()), "GalaxyCluster": clusters})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_ids_are_told_from_other_ids() {
        for id in ["T1441", "T1055.001", "S0002", "G0007", "M1036", "TA0001"] {
            assert!(is_attack_id(id), "{id}");
        }
        for id in ["", "T14", "CVE-2015-1770", "T1441a", "X1234", "T1055.01"] {
            assert!(!is_attack_id(id), "{id}");
        }
    }

    #[test]
    fn galaxies_map_to_stix_types() {
        assert_eq!(stix_type("mitre-attack-pattern"), Some("attack-pattern"));
        assert_eq!(stix_type("threat-actor"), Some("threat-actor"));
        assert_eq!(stix_type("banker"), Some("malware"));
        assert_eq!(stix_type("mitre-malware"), Some("malware"));
        assert_eq!(stix_type("exploit-kit"), Some("tool"));
        assert_eq!(stix_type("sector"), None);
    }
}
