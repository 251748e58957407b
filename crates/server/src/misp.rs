//! MISP feeds: importing a feed's events into the community collection, and publishing what
//! may leave this instance (TLP:CLEAR and TLP:GREEN community objects) as a feed a MISP
//! instance can subscribe to, at `/misp/feed/manifest.json` and `/misp/feed/{uuid}.json`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ciphub_domain::Slug;
use ciphub_domain::misp;
use ciphub_domain::stix;
use ciphub_store::{By, StixBatch, Store, StoreError};
use serde_json::Value;

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::path::ApiPath;
use crate::taxii::{COMMUNITY_ALIAS, to_new_object};

/// The most objects a published feed is built from.
const FEED_OBJECTS: u32 = 200_000;

/// What an import did with one event.
#[derive(Clone, Debug)]
pub struct EventImport {
    pub uuid: String,
    pub objects: usize,
    /// How many attributes the event has, those inside its objects included.
    pub attributes: usize,
    /// The attributes left out, with their type and why.
    pub left_out: Vec<misp::LeftOut>,
}

/// Imports one MISP event (`{"Event": {...}}`) into the community collection for `org`.
/// `source` names where it came from (a file), for errors.
pub async fn import_event(
    store: &Store,
    event: &Value,
    org: &Slug,
    by: &By,
) -> Result<EventImport, AppError> {
    let imported = misp::event_to_stix(event)
        .map_err(|e| AppError::invalid(e.path().to_owned(), e.to_string()))?;
    let uuid = event
        .get("Event")
        .unwrap_or(event)
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (attributes, left_out) = (imported.attributes, imported.left_out);
    let objects = imported
        .objects
        .into_iter()
        .enumerate()
        .map(|(i, o)| to_new_object(o, &format!("objects[{i}]")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::invalid(e.path.clone(), e.message.clone()))?;
    let n = objects.len();
    store
        .add_stix_objects(
            &StixBatch {
                collection: COMMUNITY_ALIAS.to_owned(),
                owner: org.clone(),
                origin: format!("misp:{uuid}"),
                alert_id: None,
                status_id: None,
            },
            objects,
            Vec::new(),
            by,
        )
        .await?;
    Ok(EventImport {
        uuid,
        objects: n,
        attributes,
        left_out,
    })
}

/// The feed: its manifest and its events, from what may leave this instance.
pub async fn feed(store: &Store, instance: &str) -> Result<(Value, Vec<Value>), StoreError> {
    let rows = store
        .stix_outgoing(COMMUNITY_ALIAS, 0, &[], FEED_OBJECTS)
        .await?;
    let objects: Vec<Value> = rows
        .iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect();
    // The instance's own organization in MISP: a uuid in the instance's namespace, so two
    // instances of the same name are two organizations.
    let org_uuid = store
        .stix_id_space()
        .await?
        .uuid(&format!("misp-org:{instance}"))
        .to_string();
    let events = misp::stix_to_events(&objects, (instance, &org_uuid), |o| {
        // Only CLEAR and GREEN objects are here; an object's own marking decides its tag.
        stix::parse_object(o.clone(), "$").ok().and_then(|p| p.tlp)
    });
    Ok((misp::manifest(&events), events))
}

/// `GET /misp/feed/manifest.json`.
pub async fn get_manifest(
    State(state): State<AppState>,
    _authed: Authed,
) -> Result<Response, AppError> {
    let (manifest, _) = feed(&state.store, &state.config.instance_name).await?;
    Ok(axum::Json(manifest).into_response())
}

/// `GET /misp/feed/{uuid}.json`.
pub async fn get_event(
    State(state): State<AppState>,
    _authed: Authed,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, AppError> {
    let uuid = file.strip_suffix(".json").unwrap_or(&file);
    let (_, events) = feed(&state.store, &state.config.instance_name).await?;
    events
        .into_iter()
        .find(|e| e["Event"]["uuid"].as_str() == Some(uuid))
        .map(|e| axum::Json(e).into_response())
        .ok_or_else(|| AppError::NotFound(format!("the feed has no event {uuid:?}")))
}
