//! STIX 2.1 bundles of reports, incidents and alerts, built from exactly what the JSON API
//! shows the caller, so the access policy and the anonymity rule hold here as there.

use axum::Json;
use axum::extract::State;
use ciphub_domain::Slug;
use ciphub_domain::report::Tlp;
use ciphub_domain::stix::export::{self, ReportFacts, Reporter, StageFacts};
use ciphub_domain::stix::parse_timestamp;
use serde_json::Value;

use crate::AppState;
use crate::api::reports::ReportJson;
use crate::auth::Authed;
use crate::error::AppError;
use crate::path::ApiPath;

fn micros(s: &str) -> i64 {
    parse_timestamp(s).unwrap_or_default()
}

fn tlp(s: &str) -> Result<Tlp, AppError> {
    s.parse()
        .map_err(|_| AppError::Internal(format!("stored TLP label {s:?} is unknown")))
}

/// A report view as STIX objects. A copy relayed by a CEPTOAR secretariat stands for an
/// anonymous operator's report: its reporter is the sector's placeholder, whoever reads it.
async fn report_objects(state: &AppState, r: &ReportJson) -> Result<(Vec<Value>, Tlp), AppError> {
    let instance = &state.config.instance_name;
    let ids = state.store.stix_id_space().await?;
    let placeholder = if r.relayed_copy || r.reporter.is_none() {
        let names = state.store.sector_names().await?;
        let sectors: Vec<String> = r
            .sectors
            .iter()
            .map(|s| names.get(s).cloned().unwrap_or_else(|| s.clone()))
            .collect();
        Some(ciphub_domain::report::anonymous_reporter(&sectors))
    } else {
        None
    };
    let registered_us = match (&r.reporter, &placeholder) {
        (Some(who), None) => registered(state, &who.org).await?,
        _ => 0,
    };
    let reporter = match (&r.reporter, &placeholder) {
        (Some(who), None) => Reporter::Named {
            slug: &who.org,
            name: &r.reporter_label,
            registered_us,
        },
        (_, label) => Reporter::Anonymous {
            label: label.as_deref().unwrap_or(&r.reporter_label),
            sectors: &r.sectors,
        },
    };
    let label = tlp(&r.tlp)?;
    let objects = export::report_objects(&ReportFacts {
        ids,
        id: r.id,
        instance,
        reporter,
        title: r.title.as_deref(),
        description: r.description.as_deref(),
        cause: &r.cause,
        scope: &r.scope,
        sectors: &r.sectors,
        detected_us: micros(&r.detected_at),
        created_us: micros(&r.created_at),
        updated_us: micros(&r.updated_at),
        tlp: label,
        level: r.severity.level,
        exercise: r.exercise.is_some(),
        stages: r
            .stages
            .iter()
            .map(|s| StageFacts {
                stage: &s.stage,
                filed_us: micros(&s.filed_at),
                summary: s.summary.as_deref(),
                level: s.level,
            })
            .collect(),
    });
    Ok((objects, label))
}

/// When the organization `slug` was registered: its STIX identity's `created`.
async fn registered(state: &AppState, slug: &str) -> Result<i64, AppError> {
    let slug = Slug::parse(slug)
        .map_err(|_| AppError::Internal(format!("stored organization {slug:?} is not a slug")))?;
    Ok(state.store.organization_identity(&slug).await?.1)
}

/// A report as a STIX bundle: the incident, the reporter's identity (the sector's placeholder
/// where the reporter is anonymous to the caller), stage notes and a report object.
#[utoipa::path(get, path = "/api/v1/reports/{id}/stix", tag = "reports",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, description = "A STIX 2.1 bundle"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_report_stix(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, AppError> {
    let Json(r) =
        crate::api::reports::get_report(State(state.clone()), authed, ApiPath(id)).await?;
    let (objects, label) = report_objects(&state, &r).await?;
    Ok(Json(export::bundle(objects, &[label])))
}

/// An incident of the caller's organization as a STIX bundle: an incident object related to
/// each of its reports, which come as `GET /api/v1/reports/{id}/stix` gives them.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/stix", tag = "reports",
    params(("id" = i64, Path, description = "The incident's id")),
    responses((status = 200, description = "A STIX 2.1 bundle"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_incident_stix(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, AppError> {
    let Json(incident) =
        crate::api::incidents::get_incident(State(state.clone()), authed.clone(), ApiPath(id))
            .await?;
    let instance = &state.config.instance_name;
    let ids = state.store.stix_id_space().await?;
    let now = state.store.clock().now().timestamp_micros();
    let mut objects = Vec::new();
    let mut labels = vec![Tlp::Green];
    let incident_id = ids.id("incident", &format!("{instance}:incident:{id}"));
    let mut created = now;
    for report in &incident.reports {
        let Json(r) =
            crate::api::reports::get_report(State(state.clone()), authed.clone(), ApiPath(*report))
                .await?;
        let (mut objs, label) = report_objects(&state, &r).await?;
        labels.push(label);
        created = created.min(micros(&r.created_at));
        let report_incident = objs
            .iter()
            .find(|o| o["type"] == "incident")
            .map(|o| o["id"].clone())
            .unwrap_or(Value::Null);
        let stamp = ciphub_domain::stix::format_timestamp(micros(&r.created_at));
        objs.push(serde_json::json!({
            "type": "relationship",
            "spec_version": "2.1",
            "id": ids.id("relationship", &format!("{instance}:incident:{id}:report:{report}")),
            "created": stamp,
            "modified": stamp,
            "relationship_type": "related-to",
            "source_ref": incident_id,
            "target_ref": report_incident,
        }));
        objects.extend(objs);
    }
    // The incident groups the reports: as strict as the strictest of them.
    let label = labels
        .iter()
        .copied()
        .reduce(ciphub_domain::stix::stricter)
        .unwrap_or(Tlp::Green);
    let stamp = ciphub_domain::stix::format_timestamp(created);
    objects.insert(
        0,
        serde_json::json!({
            "type": "incident",
            "spec_version": "2.1",
            "id": incident_id,
            "created": stamp,
            "modified": stamp,
            "name": incident.title,
            "object_marking_refs": [ciphub_domain::stix::marking_id(label)],
        }),
    );
    labels.push(label);
    Ok(Json(export::bundle(objects, &labels)))
}

/// An alert as a STIX bundle: a report and a note with its text, under its TLP label.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/stix", tag = "alerts",
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "A STIX 2.1 bundle"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_alert_stix(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, AppError> {
    let Json(a) = crate::api::alerts::get_alert(State(state.clone()), authed, ApiPath(id)).await?;
    let label = tlp(&a.tlp)?;
    let ids = state.store.stix_id_space().await?;
    let sender = Slug::parse(&a.sender_org).map_err(|_| {
        AppError::Internal(format!(
            "stored organization {:?} is not a slug",
            a.sender_org
        ))
    })?;
    let (name, registered_us) = state.store.organization_identity(&sender).await?;
    let mut objects = vec![export::organization_identity(
        ids,
        &a.sender_org,
        &name,
        registered_us,
    )];
    objects.extend(export::alert_objects(&export::AlertFacts {
        ids,
        id: a.id,
        instance: &state.config.instance_name,
        sender_slug: &a.sender_org,
        title: &a.title,
        body: &a.body,
        tlp: label,
        created_us: micros(&a.created_at),
        exercise: a.exercise,
    }));
    Ok(Json(export::bundle(objects, &[label])))
}
