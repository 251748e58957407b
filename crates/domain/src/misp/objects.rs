//! MISP objects as STIX 2.1: each object a `grouping` of what its attributes became (its links
//! as the grouping's external references), its object references as `relationship`s; and back.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{
    Context, LeftOut, Made, MispError, ROOT, Within, as_object, common, mark, opt_array, opt_str,
    opt_text, opt_timestamp, req_str, str_of, uuid_field, uuid_of,
};

/// What the event's MISP objects became.
pub(super) struct Grouped {
    /// The objects of their attributes, the groupings and the relationships.
    pub objects: Vec<Value>,
    pub left_out: Vec<LeftOut>,
    pub attributes: usize,
}

/// Whether `s` is a STIX relationship type: lower-case letters, digits and single hyphens.
fn valid_relationship_type(s: &str) -> bool {
    (3..=250).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Converts the event's `Object` list. `top` holds what its top-level attributes became, which
/// object references may point at.
pub(super) fn objects_to_stix(
    ev: &Map<String, Value>,
    ctx: &Context<'_>,
    top: &[Value],
) -> Result<Grouped, MispError> {
    let mut out = Grouped {
        objects: Vec::new(),
        left_out: Vec::new(),
        attributes: 0,
    };
    let mut groupings = Vec::new();
    // (path, grouping id, the object) for the references, read once every id is known.
    let mut sources = Vec::new();
    for (j, o) in opt_array(ev, ROOT, "Object")?.iter().enumerate() {
        let path = format!("{ROOT}.Object[{j}]");
        let object = as_object(o, &path)?;
        let uuid = uuid_field(object, &path, "uuid")?;
        let name = req_str(object, &path, "name")?;
        let id = format!("grouping--{uuid}");
        let within = Within { name, id: &id };
        let mut made = Made::default();
        for (k, a) in opt_array(object, &path, "Attribute")?.iter().enumerate() {
            let attr_path = format!("{path}.Attribute[{k}]");
            made.attribute(as_object(a, &attr_path)?, &attr_path, ctx, Some(&within))?;
        }
        let time = opt_timestamp(object, &path, "timestamp")?.unwrap_or(ctx.modified);
        let mut g = common("grouping", &id, time);
        g.insert("name".into(), json!(name));
        if let Some(c) = opt_str(object, &path, "comment")?.filter(|c| !c.trim().is_empty()) {
            g.insert("description".into(), json!(c));
        }
        g.insert("context".into(), json!("unspecified"));
        let mut refs: Vec<Value> = made
            .objects
            .iter()
            .filter_map(|o| o.get("id").cloned())
            .collect();
        // A grouping must reference something: an object of links only references its report.
        if refs.is_empty() {
            refs.push(json!(ctx.report_id));
        }
        g.insert("object_refs".into(), Value::Array(refs));
        made.put_links(&mut g);
        if let Some(id) = ctx.creator {
            g.insert("created_by_ref".into(), json!(id));
        }
        for (key, custom) in [
            ("meta-category", "x_misp_meta_category"),
            ("template_uuid", "x_misp_template_uuid"),
            ("template_version", "x_misp_template_version"),
        ] {
            if let Some(v) = opt_text(object, &path, key)? {
                g.insert(custom.into(), json!(v));
            }
        }
        mark(&mut g, ctx.tlp);
        out.objects.append(&mut made.objects);
        out.left_out.append(&mut made.left_out);
        out.attributes += made.attributes;
        groupings.push(Value::Object(g));
        sources.push((path, id, object));
    }

    // What each MISP uuid became, for the references' targets.
    let stix_ids: HashMap<&str, &str> = top
        .iter()
        .chain(&out.objects)
        .chain(&groupings)
        .filter_map(|o| str_of(o, "id"))
        .filter_map(|id| Some((id.split_once("--")?.1, id)))
        .collect();
    let mut relationships = Vec::new();
    for (path, source, object) in &sources {
        for (r, reference) in opt_array(object, path, "ObjectReference")?
            .iter()
            .enumerate()
        {
            let path = format!("{path}.ObjectReference[{r}]");
            let reference = as_object(reference, &path)?;
            if super::opt_bool(reference, &path, "deleted")? == Some(true) {
                continue;
            }
            let uuid = uuid_field(reference, &path, "uuid")?;
            let target = uuid_field(reference, &path, "referenced_uuid")?;
            let kind = req_str(reference, &path, "relationship_type")?;
            // A reference to what was left out, or with a type STIX cannot name, has no
            // relationship.
            let (Some(target), true) =
                (stix_ids.get(target.as_str()), valid_relationship_type(kind))
            else {
                continue;
            };
            let time = opt_timestamp(reference, &path, "timestamp")?.unwrap_or(ctx.modified);
            let mut rel = common("relationship", &format!("relationship--{uuid}"), time);
            rel.insert("relationship_type".into(), json!(kind));
            rel.insert("source_ref".into(), json!(source));
            rel.insert("target_ref".into(), json!(target));
            if let Some(c) = opt_str(reference, &path, "comment")?.filter(|c| !c.trim().is_empty())
            {
                rel.insert("description".into(), json!(c));
            }
            if let Some(id) = ctx.creator {
                rel.insert("created_by_ref".into(), json!(id));
            }
            mark(&mut rel, ctx.tlp);
            relationships.push(Value::Object(rel));
        }
    }
    out.objects.append(&mut groupings);
    out.objects.append(&mut relationships);
    Ok(out)
}

/// A grouping made by [`objects_to_stix`] as a MISP object, given its attributes (already
/// converted back) and the relationships whose source it is.
pub(super) fn grouping_to_object(
    grouping: &Value,
    attributes: Vec<Value>,
    relationships: &[&Value],
) -> Option<Value> {
    let uuid = uuid_of(str_of(grouping, "id")?, "grouping")?;
    let name = str_of(grouping, "name")?;
    let timestamp = super::version_of(grouping)?.div_euclid(1_000_000);
    let mut object = json!({
        "uuid": uuid,
        "name": name,
        "meta-category": str_of(grouping, "x_misp_meta_category").unwrap_or("misc"),
        "comment": str_of(grouping, "description").unwrap_or_default(),
        "timestamp": timestamp.to_string(),
        "Attribute": attributes,
    });
    for (custom, key) in [
        ("x_misp_template_uuid", "template_uuid"),
        ("x_misp_template_version", "template_version"),
    ] {
        if let Some(v) = str_of(grouping, custom) {
            object[key] = json!(v);
        }
    }
    let references: Vec<Value> = relationships
        .iter()
        .filter_map(|r| {
            let target = str_of(r, "target_ref")?.split_once("--")?.1;
            Some(json!({
                "uuid": uuid_of(str_of(r, "id")?, "relationship")?,
                "object_uuid": uuid,
                "referenced_uuid": target,
                "relationship_type": str_of(r, "relationship_type")?,
                "timestamp": super::version_of(r)?.div_euclid(1_000_000).to_string(),
                "comment": str_of(r, "description").unwrap_or_default(),
            }))
        })
        .collect();
    if !references.is_empty() {
        object["ObjectReference"] = Value::Array(references);
    }
    Some(object)
}
