//! `/api/v1/reports`: filing incident and outage reports, later stages, consent, the receiving
//! side's triage and notes, and relaying sanitized copies of anonymous reports.
//!
//! Every answer about a report is shaped by `report_access` from the domain: a report the
//! caller may not read does not exist for it (404, the same as a missing one), and the reporter
//! of an anonymous report appears only as "an operator in sector X" outside its own
//! organization and the relaying secretariat.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::anonymize::{Flag, Identifier, IdentifierKind, find_identifying};
use ciphub_domain::policy::reports::{ReportAccess, ReportFacts, report_access};
use ciphub_domain::policy::{self, Action, Actor};
use ciphub_domain::report::{
    Cause, Formation, NewReport, Stage, TechScope, Tlp, TriageStatus, anonymous_reporter,
    check_text,
};
use ciphub_domain::severity::Answers;
use ciphub_store::{ReportRecord, StageUpdate, TriagePatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::severity::{assess_answers, schema_for};
use crate::api::{parse_slugs, rfc3339};
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// A report as an operator files it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReportJson {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Affected sectors' slugs.
    pub sectors: Vec<String>,
    /// Affected services' slugs, each of one of the sectors.
    #[serde(default)]
    pub services: Vec<String>,
    /// cyberattack, natural-disaster, system-failure, other or unknown.
    #[schema(schema_with = crate::openapi::cause)]
    pub cause: String,
    /// Any of it, ot, iot.
    #[schema(schema_with = crate::openapi::tech_scope)]
    pub scope: Vec<String>,
    /// When the outage was detected (RFC 3339).
    pub detected_at: String,
    /// When it began, if known (RFC 3339).
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// The severity schema (default seed-draft).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::severity_schema_or_null)]
    pub schema: Option<String>,
    /// The impact answers for the schema.
    #[schema(value_type = BTreeMap<String, String>)]
    pub answers: Answers,
    /// TLP 2.0 label (default TLP:AMBER).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::tlp_or_null)]
    pub tlp: Option<String>,
    /// ministry, ceptoar-anonymous or agency.
    #[schema(schema_with = crate::openapi::formation)]
    pub formation: String,
    /// The CEPTOAR (ceptoar-anonymous, when the operator has several) or the agency (agency).
    #[serde(default)]
    pub via: Option<String>,
    /// Agree to be named to every recipient.
    #[serde(default)]
    pub consent_named: bool,
    /// Filing in an exercise: the run and the inject the report is about. The report is then
    /// the exercise's, marked EXERCISE and kept out of real dashboards, counts and feeds.
    #[serde(default)]
    pub exercise: Option<ExerciseInJson>,
}

/// A later stage of a report.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageJson {
    /// update or final.
    #[schema(schema_with = crate::openapi::later_stage)]
    pub stage: String,
    /// What is new.
    pub summary: String,
    /// New impact answers, when the severity changed.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub answers: Option<Answers>,
}

/// A triage change by a recipient.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageJson {
    /// new, acknowledged, investigating, shared or closed.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::triage_status_or_null)]
    pub status: Option<String>,
    /// A user of the caller's organization, or null to clear.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
}

/// Tells a missing `assignee` from an explicit null.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// A note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteJson {
    pub body: String,
}

/// A relay of a sanitized copy.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayJson {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    pub description: String,
    /// Further organizations (other CEPTOARs) to receive the copy, beyond the responsible
    /// ministries and the coordinator.
    #[serde(default)]
    pub also_to: Vec<String>,
    /// Flagged texts the secretariat has judged not to identify the reporter.
    #[serde(default)]
    pub accept: Vec<String>,
    /// The secretariat's own assessment, as answers to the report's severity schema: the
    /// copy then carries the level they come to. Without it the copy keeps the report's.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub answers: Option<ciphub_domain::severity::Answers>,
}

/// Paging and filters for the report list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Reports filed before this one (the previous page's last id; ids are random, so
    /// only the order of filing counts).
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only reports whose next stage is late.
    pub overdue: Option<bool>,
    /// Only reports in the caller's queue with this triage status.
    #[param(schema_with = crate::openapi::triage_status)]
    pub status: Option<String>,
    /// Only reports whose title or description contains this text (among those whose text the caller may read).
    pub q: Option<String>,
    /// Only exercise reports (true) or only real ones (false); both when absent.
    pub exercise: Option<bool>,
}

/// The reporter, where the caller may know it.
#[derive(Serialize, ToSchema)]
pub struct ReporterJson {
    pub org: String,
    pub user: String,
}

/// A report's severity.
#[derive(Serialize, ToSchema)]
pub struct SeverityJson {
    pub schema: String,
    pub level: u8,
    pub name_en: String,
    pub colour: String,
    pub emergency: bool,
    pub score: Option<f64>,
}

/// One filed stage.
#[derive(Serialize, ToSchema)]
pub struct StageViewJson {
    pub stage: String,
    pub filed_at: String,
    /// Absent where the caller sees only a summary.
    pub summary: Option<String>,
    pub level: u8,
}

/// The next stage due.
#[derive(Serialize, ToSchema)]
pub struct DueJson {
    pub stage: String,
    pub by: String,
}

/// The exercise run and inject a report is filed in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExerciseInJson {
    pub run: i64,
    pub inject: String,
}

/// Where an exercise report belongs.
#[derive(Serialize, ToSchema)]
pub struct ExerciseRefJson {
    pub run: i64,
    pub inject: String,
}

/// A recipient organization.
#[derive(Serialize, ToSchema)]
pub struct RecipientJson {
    pub org: String,
    pub reason: String,
    pub urgent: bool,
    pub status: String,
}

/// The caller's own queue entry for the report.
#[derive(Serialize, ToSchema)]
pub struct TriageViewJson {
    pub status: String,
    pub assignee: Option<String>,
    pub reason: String,
    pub urgent: bool,
    pub incident: Option<i64>,
}

/// A report as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct ReportJson {
    pub id: i64,
    pub formation: String,
    /// The relaying CEPTOAR or the chosen agency.
    pub via: Option<String>,
    /// Who reported, where the caller may know; null otherwise.
    pub reporter: Option<ReporterJson>,
    /// How to name the reporter to the caller: its name, or "an operator in the X sector".
    pub reporter_label: String,
    pub consent_named: bool,
    /// Whether this is a sanitized copy relayed by a CEPTOAR secretariat.
    pub relayed_copy: bool,
    /// The exercise run the report belongs to, and the inject it is about; null for a real
    /// report. Exercise reports are marked EXERCISE wherever they are shown and are left out
    /// of dashboards, counts, correlations and feeds.
    pub exercise: Option<ExerciseRefJson>,
    /// Copies relayed from this report (seen by the reporter and the secretariat only).
    pub relays: Option<Vec<i64>>,
    /// False where the caller sees only a summary (an anonymous report not yet relayed to it).
    pub content_visible: bool,
    /// Whether the caller may relay a sanitized copy (the relaying secretariat).
    pub may_relay: bool,
    /// Whether the caller may consent to name the reporter (the reporter's organization).
    pub may_consent: bool,
    pub title: Option<String>,
    pub description: Option<String>,
    pub cause: String,
    pub scope: Vec<String>,
    pub sectors: Vec<String>,
    pub services: Vec<String>,
    pub detected_at: String,
    pub occurred_at: Option<String>,
    pub severity: SeverityJson,
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub answers: Option<Answers>,
    pub tlp: String,
    pub stage: String,
    pub stages: Vec<StageViewJson>,
    pub initial_due: String,
    /// The initial report came after its deadline.
    pub initial_late: bool,
    pub next_due: Option<DueJson>,
    /// The next stage is late.
    pub overdue: bool,
    pub recipients: Vec<RecipientJson>,
    /// The caller organization's own triage, when it is a recipient.
    pub my_triage: Option<TriageViewJson>,
    pub created_at: String,
    pub updated_at: String,
}

/// Text that may identify the reporter.
#[derive(Serialize, ToSchema)]
pub struct FlagJson {
    pub field: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub kind: String,
}

impl From<&Flag> for FlagJson {
    fn from(f: &Flag) -> Self {
        Self {
            field: f.field.clone(),
            start: f.start,
            end: f.end,
            text: f.text.clone(),
            kind: f.kind.as_str().to_owned(),
        }
    }
}

/// Flags found in a text to relay.
#[derive(Serialize, ToSchema)]
pub struct FlagsJson {
    pub flags: Vec<FlagJson>,
}

/// A relay refused because the copy still holds identifying text.
#[derive(Serialize, ToSchema)]
pub struct RelayRefusedJson {
    pub error: crate::error::ErrorJson,
    /// Each text to remove, or to name in `accept` when it does not identify the reporter.
    pub flags: Vec<FlagJson>,
}

/// A recipient's note.
#[derive(Serialize, ToSchema)]
pub struct NoteViewJson {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

/// The most reports one page may hold.
pub const MAX_REPORT_PAGE: u32 = 200;
/// The longest note accepted, in characters.
pub const MAX_NOTE: usize = 10_000;

fn access(actor: &Actor, r: &ReportRecord) -> ReportAccess {
    let recipients = r.recipient_orgs();
    report_access(
        actor,
        &ReportFacts {
            reporter_org: &r.reporter_org,
            formation: r.formation,
            via: r.via.as_ref(),
            recipients: &recipients,
            consent_named: r.consent.is_some(),
        },
    )
}

/// Loads a report the caller may read; any other answers "does not exist".
pub(crate) async fn readable(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(ReportRecord, ReportAccess), AppError> {
    let missing = || AppError::NotFound(format!("report {id} does not exist"));
    let record = state.store.report(id).await.map_err(|e| match e {
        ciphub_store::StoreError::NotFound { .. } => missing(),
        other => other.into(),
    })?;
    let a = access(actor, &record);
    if a.read {
        Ok((record, a))
    } else {
        Err(missing())
    }
}

async fn sector_names(state: &AppState) -> Result<BTreeMap<String, String>, AppError> {
    Ok(state.store.sector_names().await?)
}

/// Shapes a report for a caller with `a` access.
/// What the views of a list of reports need from the store, read once for all of them: the
/// reporters' names and the relayed copies of anonymous reports, for those whose reporter the
/// caller may know.
#[derive(Default)]
struct Known {
    reporters: HashMap<String, (String, Option<String>)>,
    relays: HashMap<i64, Vec<i64>>,
}

impl Known {
    async fn read(
        state: &AppState,
        reports: &[(&ReportRecord, ReportAccess)],
    ) -> Result<Self, AppError> {
        let named: Vec<&str> = reports
            .iter()
            .filter(|(_, a)| a.identity)
            .map(|(r, _)| r.reporter_org.as_str())
            .collect();
        let sources: Vec<i64> = reports
            .iter()
            .filter(|(r, a)| a.identity && r.formation == Formation::CeptoarAnonymous)
            .map(|(r, _)| r.id)
            .collect();
        Ok(Self {
            reporters: if named.is_empty() {
                HashMap::new()
            } else {
                state.store.organization_names(&named).await?
            },
            relays: state.store.relays_of_many(&sources).await?,
        })
    }
}

async fn view(
    state: &AppState,
    actor: &Actor,
    r: ReportRecord,
    a: ReportAccess,
    names: &BTreeMap<String, String>,
) -> Result<ReportJson, AppError> {
    let known = Known::read(state, &[(&r, a)]).await?;
    view_known(state, actor, r, a, names, &known)
}

fn view_known(
    state: &AppState,
    actor: &Actor,
    r: ReportRecord,
    a: ReportAccess,
    names: &BTreeMap<String, String>,
    known: &Known,
) -> Result<ReportJson, AppError> {
    let schema = schema_for("schema", Some(&r.schema))?;
    let level = schema.level(r.level);
    let now = state.store.clock().now();
    let reporter_label = if a.identity {
        known
            .reporters
            .get(r.reporter_org.as_str())
            .map_or_else(|| r.reporter_org.to_string(), |(en, _)| en.clone())
    } else {
        let sector_list: Vec<String> = r
            .sectors
            .iter()
            .map(|s| {
                names
                    .get(s.as_str())
                    .cloned()
                    .unwrap_or_else(|| s.to_string())
            })
            .collect();
        anonymous_reporter(&sector_list)
    };
    let relays = if a.identity && r.formation == Formation::CeptoarAnonymous {
        Some(known.relays.get(&r.id).cloned().unwrap_or_default())
    } else {
        None
    };
    let my_triage = r
        .recipients
        .iter()
        .find(|x| x.org == actor.org)
        .map(|x| TriageViewJson {
            status: x.status.to_string(),
            assignee: x.assignee.clone(),
            reason: x.reason.to_string(),
            urgent: x.urgent,
            incident: x.incident,
        });
    Ok(ReportJson {
        id: r.id,
        formation: r.formation.to_string(),
        via: r.via.as_ref().map(ToString::to_string),
        reporter: a.identity.then(|| ReporterJson {
            org: r.reporter_org.to_string(),
            user: r.reporter_user.clone(),
        }),
        reporter_label,
        consent_named: r.consent.is_some(),
        relayed_copy: r.relay_of.is_some(),
        exercise: r.exercise.as_ref().map(|(run, inject)| ExerciseRefJson {
            run: *run,
            inject: inject.to_string(),
        }),
        relays,
        content_visible: a.content,
        may_relay: a.relay && r.relay_of.is_none(),
        may_consent: a.consent,
        title: a.content.then(|| r.title.clone()),
        description: a.content.then(|| r.description.clone()),
        cause: r.cause.to_string(),
        scope: r.scope.iter().map(ToString::to_string).collect(),
        sectors: r.sectors.iter().map(ToString::to_string).collect(),
        services: r.services.iter().map(ToString::to_string).collect(),
        detected_at: rfc3339(r.detected),
        occurred_at: r.occurred.map(rfc3339),
        severity: SeverityJson {
            schema: r.schema.clone(),
            level: r.level,
            name_en: level.map(|l| l.name_en.clone()).unwrap_or_default(),
            colour: level.map(|l| l.colour.clone()).unwrap_or_default(),
            emergency: r.emergency,
            score: r.score,
        },
        answers: a.content.then(|| r.answers.clone()),
        tlp: r.tlp.to_string(),
        stage: r.stage.to_string(),
        stages: r
            .stages
            .iter()
            .map(|s| StageViewJson {
                stage: s.stage.to_string(),
                filed_at: rfc3339(s.filed),
                summary: a.content.then(|| s.summary.clone()),
                level: s.level,
            })
            .collect(),
        initial_due: rfc3339(r.initial_due),
        initial_late: r.initial_late(),
        next_due: r.next_due.map(|d| DueJson {
            stage: d.stage.to_string(),
            by: rfc3339(d.by),
        }),
        overdue: r.overdue(now),
        recipients: r
            .recipients
            .iter()
            .map(|x| RecipientJson {
                org: x.org.to_string(),
                reason: x.reason.to_string(),
                urgent: x.urgent,
                status: x.status.to_string(),
            })
            .collect(),
        my_triage,
        created_at: rfc3339(r.created),
        updated_at: rfc3339(r.updated),
    })
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            AppError::invalid(
                field,
                format!("{text:?} is not an RFC 3339 time such as 2026-04-01T09:00:00+09:00: {e}"),
            )
        })
}

fn parse_as<T: std::str::FromStr<Err = String>>(field: &str, text: &str) -> Result<T, AppError> {
    text.parse::<T>().map_err(|e| AppError::invalid(field, e))
}

/// Files a report; answers with the report as the reporter sees it, recipients included.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", request_body = NewReportJson,
    responses((status = 201, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewReportJson>,
) -> Result<(StatusCode, Json<ReportJson>), AppError> {
    let actor = authed.actor();
    policy::check(&actor, Action::FileReport)?;
    let body_exercise = body.exercise;
    let schema = schema_for("schema", body.schema.as_deref())?;
    let assessment = assess_answers(&schema, &body.answers)?;
    let scope: BTreeSet<TechScope> = body
        .scope
        .iter()
        .enumerate()
        .map(|(i, s)| parse_as::<TechScope>(&format!("scope[{i}]"), s))
        .collect::<Result<_, _>>()?;
    let new = NewReport {
        title: body.title,
        description: body.description,
        sectors: parse_slugs("sectors", &body.sectors)?,
        services: parse_slugs("services", &body.services)?,
        cause: parse_as::<Cause>("cause", &body.cause)?,
        scope,
        detected: parse_time("detected_at", &body.detected_at)?,
        occurred: body
            .occurred_at
            .as_deref()
            .map(|t| parse_time("occurred_at", t))
            .transpose()?,
        schema: schema.id.clone(),
        answers: body.answers,
        level: assessment.level,
        emergency: assessment.emergency,
        score: assessment.score,
        tlp: parse_as::<Tlp>("tlp", body.tlp.as_deref().unwrap_or("TLP:AMBER"))?,
        formation: parse_as::<Formation>("formation", &body.formation)?,
        via: body
            .via
            .as_deref()
            .map(|v| Slug::parse(v).map_err(|e| AppError::invalid("via", e.to_string())))
            .transpose()?,
        consent_named: body.consent_named,
    };
    new.check(state.store.clock().now())
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let deadlines = state
        .config
        .deadlines
        .for_report(new.formation, new.emergency);
    let exercise = match &body_exercise {
        Some(x) => Some((
            x.run,
            crate::api::exercises::check_participation(&state, &actor, x.run, &x.inject).await?,
        )),
        None => None,
    };
    let record = state
        .store
        .file_report_in(
            &authed.0,
            &new,
            deadlines,
            exercise.as_ref().map(|(run, inject)| (*run, inject)),
        )
        .await?;
    let a = access(&actor, &record);
    let names = sector_names(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &actor, record, a, &names).await?),
    ))
}

/// Lists the reports the caller's organization filed or received, newest first.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ReportQuery),
    responses((status = 200, body = [ReportJson]), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_reports(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ReportJson>>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_REPORT_PAGE).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            format!("limit must be from 1 to {MAX_REPORT_PAGE}"),
            Some("limit".into()),
        ));
    }
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<TriageStatus>()
                .map_err(|e| AppError::malformed("invalid_query", e, Some("status".into())))
        })
        .transpose()?;
    let needle = q.q.as_deref().map(str::to_lowercase);
    let actor = authed.actor();
    let now = state.store.clock().now();
    let names = sector_names(&state).await?;
    let mut kept = Vec::new();
    for r in state
        .store
        .reports_of_org_in(
            &actor.org,
            q.before,
            limit,
            ciphub_store::Traffic::from_filter(q.exercise),
        )
        .await?
    {
        let a = access(&actor, &r);
        if !a.read {
            continue;
        }
        if q.overdue == Some(true) && !r.overdue(now) {
            continue;
        }
        if let Some(want) = status
            && !r
                .recipients
                .iter()
                .any(|x| x.org == actor.org && x.status == want)
        {
            continue;
        }
        // Search only text the caller may read, so a match cannot reveal hidden content.
        if let Some(n) = &needle
            && !(a.content
                && (r.title.to_lowercase().contains(n) || r.description.to_lowercase().contains(n)))
        {
            continue;
        }
        kept.push((r, a));
    }
    let pairs: Vec<(&ReportRecord, ReportAccess)> = kept.iter().map(|(r, a)| (r, *a)).collect();
    let known = Known::read(&state, &pairs).await?;
    let mut out = Vec::with_capacity(kept.len());
    for (r, a) in kept {
        out.push(view_known(&state, &actor, r, a, &names, &known)?);
    }
    Ok(Json(out))
}

/// One report, as the caller may see it.
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = ReportJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReportJson>, AppError> {
    let actor = authed.actor();
    let (r, a) = readable(&state, &actor, id).await?;
    let names = sector_names(&state).await?;
    Ok(Json(view(&state, &actor, r, a, &names).await?))
}

/// Files an update or the final report; new answers re-assess the severity and re-route.
#[utoipa::path(post, path = "/api/v1/reports/{id}/stages", tag = "reports", request_body = StageJson,
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_stage(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StageJson>,
) -> Result<Json<ReportJson>, AppError> {
    let actor = authed.actor();
    let (r, a) = readable(&state, &actor, id).await?;
    if !a.update {
        return Err(AppError::Forbidden(
            "only the reporting organization's reporters may file stages of a report".into(),
        ));
    }
    let stage = parse_as::<Stage>("stage", &body.stage)?;
    if stage == Stage::Initial {
        return Err(AppError::invalid(
            "stage",
            "a report starts with its initial stage; file update or final",
        ));
    }
    check_text("summary", &body.summary).map_err(|e| AppError::invalid("summary", e.message))?;
    let severity = match &body.answers {
        None => None,
        Some(answers) => {
            let schema = schema_for("schema", Some(&r.schema))?;
            let a = assess_answers(&schema, answers)?;
            Some((answers.clone(), a.level, a.emergency, a.score))
        }
    };
    let emergency = severity.as_ref().map_or(r.emergency, |s| s.2);
    let deadlines = state.config.deadlines.for_report(r.formation, emergency);
    let update = StageUpdate {
        stage,
        summary: body.summary,
        severity,
    };
    let record = state
        .store
        .file_stage(id, &authed.0, &update, deadlines)
        .await?;
    let a = access(&actor, &record);
    let names = sector_names(&state).await?;
    Ok(Json(view(&state, &actor, record, a, &names).await?))
}

/// Records the reporter's consent to be named to every recipient.
#[utoipa::path(post, path = "/api/v1/reports/{id}/consent", tag = "reports",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = ReportJson), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create_consent(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReportJson>, AppError> {
    let actor = authed.actor();
    let (_, a) = readable(&state, &actor, id).await?;
    if !a.update {
        return Err(AppError::Forbidden(
            "only the reporting organization may consent to be named".into(),
        ));
    }
    let record = state.store.consent_to_be_named(id, &authed.0).await?;
    let a = access(&actor, &record);
    let names = sector_names(&state).await?;
    Ok(Json(view(&state, &actor, record, a, &names).await?))
}

/// Changes the caller organization's triage of a report in its queue.
#[utoipa::path(patch, path = "/api/v1/reports/{id}/triage", tag = "reports", request_body = TriageJson,
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_triage(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TriageJson>,
) -> Result<Json<ReportJson>, AppError> {
    let actor = authed.actor();
    let (_, a) = readable(&state, &actor, id).await?;
    if !a.triage {
        return Err(AppError::Forbidden(
            "triage is for analysts, secretariats and coordinators of a recipient organization"
                .into(),
        ));
    }
    let status = body
        .status
        .as_deref()
        .map(|s| parse_as::<TriageStatus>("status", s))
        .transpose()?;
    if let Some(Some(user)) = &body.assignee {
        let u =
            state.store.get_user(user).await.map_err(|_| {
                AppError::invalid("assignee", format!("user {user:?} does not exist"))
            })?;
        if u.org != actor.org {
            return Err(AppError::invalid(
                "assignee",
                "the assignee must belong to your organization",
            ));
        }
    }
    let patch = TriagePatch {
        status,
        assignee: body.assignee,
    };
    state
        .store
        .triage(id, &actor.org, &patch, &ciphub_store::By::actor(&actor))
        .await?;
    let (r, a) = readable(&state, &actor, id).await?;
    let names = sector_names(&state).await?;
    Ok(Json(view(&state, &actor, r, a, &names).await?))
}

/// Why notes are refused: the same words whatever the reason, so they tell nothing.
const NOTES_REFUSED: &str = "notes are kept by the staff of a recipient organization that reads the report's text (on an anonymous report, the relaying secretariat)";

/// The caller organization's notes on a report.
#[utoipa::path(get, path = "/api/v1/reports/{id}/notes", tag = "reports",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = [NoteViewJson]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_notes(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<NoteViewJson>>, AppError> {
    let actor = authed.actor();
    let (_, a) = readable(&state, &actor, id).await?;
    if !a.notes {
        return Err(AppError::Forbidden(NOTES_REFUSED.into()));
    }
    let notes = state.store.notes(id, &actor.org).await?;
    Ok(Json(
        notes
            .into_iter()
            .map(|n| NoteViewJson {
                id: n.id,
                author: n.author,
                body: n.body,
                created_at: rfc3339(n.created),
            })
            .collect(),
    ))
}

/// Adds a note, seen only inside the caller's organization.
#[utoipa::path(post, path = "/api/v1/reports/{id}/notes", tag = "reports", request_body = NoteJson,
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 201, body = NoteViewJson), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create_note(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NoteJson>,
) -> Result<(StatusCode, Json<NoteViewJson>), AppError> {
    let actor = authed.actor();
    let (_, a) = readable(&state, &actor, id).await?;
    if !a.triage || !a.notes {
        return Err(AppError::Forbidden(NOTES_REFUSED.into()));
    }
    if body.body.trim().is_empty() || body.body.chars().count() > MAX_NOTE {
        return Err(AppError::invalid(
            "body",
            format!("a note has 1 to {MAX_NOTE} characters"),
        ));
    }
    let n = state
        .store
        .add_note(
            id,
            &actor.org,
            actor.user.as_str(),
            &body.body,
            &ciphub_store::By::actor(&actor),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NoteViewJson {
            id: n.id,
            author: n.author,
            body: n.body,
            created_at: rfc3339(n.created),
        }),
    ))
}

/// Everything that identifies the reporter of `r`: its registered identifiers, its names and
/// slug, and the name and display name of every user of the organization (a colleague's name
/// points to it as surely as the reporter's).
async fn identifiers_of(state: &AppState, r: &ReportRecord) -> Result<Vec<Identifier>, AppError> {
    let mut ids = state.store.identifiers(&r.reporter_org).await?;
    let org = state
        .store
        .get_organization(&r.reporter_org)
        .await?
        .record
        .org;
    let name = |v: &str| Identifier {
        kind: IdentifierKind::Name,
        value: v.to_owned(),
    };
    ids.push(name(&org.name_en));
    ids.push(name(org.slug.as_str()));
    ids.extend(org.name_ja.as_deref().map(name));
    ids.extend(
        org.abbrev
            .as_deref()
            .filter(|a| a.chars().count() >= 2)
            .map(name),
    );
    ids.push(name(&r.reporter_user));
    for (user, display_name) in state.store.user_names(&r.reporter_org).await? {
        ids.push(name(&user));
        ids.push(name(&display_name));
    }
    ids.retain(|i| i.value.chars().count() >= 2);
    Ok(ids)
}

/// Flags text in the report that could identify its reporter, before a relay.
#[utoipa::path(get, path = "/api/v1/reports/{id}/relay-check", tag = "reports",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = FlagsJson), (status = 403, body = crate::error::ErrorBody)))]
pub async fn relay_check(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<FlagsJson>, AppError> {
    let actor = authed.actor();
    let (r, a) = readable(&state, &actor, id).await?;
    if !a.relay {
        return Err(AppError::Forbidden(
            "only the relaying CEPTOAR's secretariat relays a report".into(),
        ));
    }
    let ids = identifiers_of(&state, &r).await?;
    let flags = find_identifying(
        &[("title", &r.title), ("description", &r.description)],
        &ids,
    );
    Ok(Json(FlagsJson {
        flags: flags.iter().map(FlagJson::from).collect(),
    }))
}

/// Relays a sanitized copy onward. Refused (409, with the flags) while the copy still holds
/// text that could identify the reporter and that the secretariat has not accepted.
#[utoipa::path(post, path = "/api/v1/reports/{id}/relay", tag = "reports", request_body = RelayJson,
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 201, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = RelayRefusedJson), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_relay(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RelayJson>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let actor = authed.actor();
    let (r, a) = readable(&state, &actor, id).await?;
    if !a.relay {
        return Err(AppError::Forbidden(
            "only the relaying CEPTOAR's secretariat relays a report".into(),
        ));
    }
    check_text(&body.title, &body.description)
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let also_to = parse_slugs("also_to", &body.also_to)?;
    let assessed = match &body.answers {
        Some(answers) => {
            let schema = crate::api::severity::schema_for("answers", Some(&r.schema))?;
            let a = crate::api::severity::assess_answers(&schema, answers)?;
            Some(ciphub_store::Reassessment {
                answers: answers.clone(),
                level: a.level,
                emergency: a.emergency,
                score: a.score,
            })
        }
        None => None,
    };
    let ids = identifiers_of(&state, &r).await?;
    let accepted: BTreeSet<String> = body.accept.iter().map(|t| t.to_lowercase()).collect();
    let open: Vec<Flag> = find_identifying(
        &[("title", &body.title), ("description", &body.description)],
        &ids,
    )
    .into_iter()
    .filter(|f| !accepted.contains(&f.text.to_lowercase()))
    .collect();
    if !open.is_empty() {
        let body = RelayRefusedJson {
            error: crate::error::ErrorJson {
                code: "identifying_text",
                message: format!(
                    "the copy still holds {} text(s) that could identify the reporter; remove them or list them in accept",
                    open.len()
                ),
                field: Some("description".into()),
            },
            flags: open.iter().map(FlagJson::from).collect(),
        };
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    let copy = state
        .store
        .relay_report(
            &r,
            &authed.0,
            &body.title,
            &body.description,
            &also_to,
            assessed.as_ref(),
        )
        .await?;
    let a = access(&actor, &copy);
    let names = sector_names(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &actor, copy, a, &names).await?),
    )
        .into_response())
}
