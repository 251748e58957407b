//! Report pages: the list (a recipient's queue), the wizard with the severity level shown as
//! answers change, one report, and a secretariat's anonymize-and-relay step.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ciphub_domain::report::{Cause, Formation, TechScope, TriageStatus};
use ciphub_domain::severity::shipped_schema;

use super::{Ctx, Posted, WebUser, app_error, render};
use crate::AppState;
use crate::api::reports::{
    FlagJson, NewReportJson, NoteJson, NoteViewJson, RelayJson, ReportJson, ReportQuery, StageJson,
    TriageJson, create_consent, create_note, create_relay, create_report, create_stage, get_report,
    list_notes, list_reports, relay_check, update_triage,
};
use crate::path::ApiPath;

#[derive(Template)]
#[template(path = "web/reports.html")]
struct ListPage {
    ctx: Ctx,
    reports: Vec<ReportJson>,
    filter: ListFilter,
    statuses: Vec<&'static str>,
    /// The `before` of the next (older) page, when there may be more.
    next: Option<i64>,
}

impl ListPage {
    /// `/reports` with the list's filters and one more pair.
    fn url_with(&self, key: &str, value: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", self.filter.q.trim()),
            ("status", self.filter.status.as_str()),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if self.filter.overdue.is_some() {
            q.append_pair("overdue", "on");
        }
        q.append_pair(key, value);
        format!("/reports?{}", q.finish())
    }

    /// Every matching report as CSV, with the list's filters.
    fn csv_url(&self) -> String {
        self.url_with("format", "csv")
    }

    /// The URL of the older reports, same filters.
    fn older_url(&self, before: &i64) -> String {
        self.url_with("before", &before.to_string())
    }
}

/// The list's filters and place, as the form and the older link send them.
#[derive(serde::Deserialize, Default)]
pub struct ListFilter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub overdue: Option<String>,
    /// Reports older than this one (text: a bad value starts from the newest).
    #[serde(default)]
    pub before: String,
    /// `csv` for every matching report (up to `table::CSV_MAX_ROWS` read) as CSV.
    #[serde(default)]
    pub format: String,
}

/// Reports a list page shows, and reports one page reads at most while filtering.
const LIST_PAGE: usize = 50;
const LIST_SCAN: usize = 2_000;

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Query(filter): Query<ListFilter>,
) -> Response {
    let ctx = user.ctx();
    // The filters read the reports as the API gives them to this user: a title the user may
    // not read is not there to match.
    let needle = filter.q.trim().to_lowercase();
    let keep = |r: &ReportJson| {
        (filter.overdue.is_none() || r.overdue)
            && (filter.status.is_empty()
                || r.my_triage
                    .as_ref()
                    .is_some_and(|t| t.status == filter.status))
            && (needle.is_empty()
                || r.title
                    .as_deref()
                    .is_some_and(|t| t.to_lowercase().contains(&needle))
                || r.description
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(&needle)))
    };
    // A page shows 50, reading at most 2,000; the CSV holds every match among the newest
    // 100,000 from where the list stands.
    let csv = filter.format == "csv";
    let (page_size, scan) = if csv {
        (super::table::CSV_MAX_ROWS, super::table::CSV_MAX_ROWS)
    } else {
        (LIST_PAGE, LIST_SCAN)
    };
    let scanned = super::table::scan_newest(
        filter.before.trim().parse::<i64>().ok(),
        (page_size, scan),
        |before| {
            let state = state.clone();
            let authed = user.authed();
            async move {
                let q = ReportQuery {
                    before,
                    limit: Some(super::table::SCAN_BATCH as u32),
                    overdue: None,
                    status: None,
                    q: None,
                    exercise: None,
                };
                list_reports(State(state), authed, Ok(Query(q)))
                    .await
                    .map(|r| r.0)
            }
        },
        |r: &ReportJson| r.id,
        keep,
    )
    .await;
    let (reports, next) = match scanned {
        Ok(found) => found,
        Err(e) => return app_error(&ctx, &e),
    };
    let mut ctx = ctx;
    ctx.name_reporters(&state, &reports).await;
    if csv {
        let header = [
            ctx.t("report-id"),
            ctx.t("report-title"),
            ctx.t("report-level"),
            ctx.t("report-formation"),
            ctx.t("report-reporter"),
            ctx.t("report-detected"),
            "TLP".to_owned(),
            ctx.t("report-status"),
        ];
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.title.clone().unwrap_or_default(),
                    ctx.level(&r.severity.schema, r.severity.level, &r.severity.name_en),
                    ctx.formation(&r.formation),
                    ctx.reporter(r),
                    chrono::DateTime::parse_from_rfc3339(&r.detected_at)
                        .map(|t| ctx.exact_time(t.with_timezone(&chrono::Utc)))
                        .unwrap_or_else(|_| r.detected_at.clone()),
                    r.tlp.clone(),
                    r.my_triage
                        .as_ref()
                        .map(|t| ctx.term("status", &t.status))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        return super::table::csv("reports", &header, &rows);
    }
    render(&ListPage {
        ctx,
        reports,
        filter,
        statuses: triage_statuses(),
        next,
    })
}

/// One impact question of the severity schema, as the wizard asks it.
pub struct Question {
    pub id: String,
    pub text: String,
    pub options: Vec<(String, String)>,
}

/// The triage statuses, as stored.
fn triage_statuses() -> Vec<&'static str> {
    TriageStatus::ALL.iter().map(|s| s.as_str()).collect()
}

/// A schema's questions in the page's language.
fn questions_of(schema: &ciphub_domain::severity::Schema, ja: bool) -> Vec<Question> {
    let pick = |en: &String, jp: &Option<String>| match (jp, ja) {
        (Some(j), true) => j.clone(),
        _ => en.clone(),
    };
    schema
        .questions
        .iter()
        .map(|q| Question {
            id: q.id.clone(),
            text: pick(&q.name_en, &q.name_ja),
            options: q
                .options
                .iter()
                .map(|o| (o.id.clone(), pick(&o.label_en, &o.label_ja)))
                .collect(),
        })
        .collect()
}

/// The wizard's fields, kept when the page is shown again.
#[derive(Default)]
pub struct Draft {
    pub title: String,
    pub description: String,
    pub detected_at: String,
    pub cause: String,
    pub scope: Vec<String>,
    pub sectors: Vec<String>,
    pub services: Vec<String>,
    pub occurred_at: String,
    pub answers: BTreeMap<String, String>,
    pub formation: String,
    pub via: String,
    pub consent: bool,
    pub tlp: String,
    /// The severity schema the questions come from.
    pub schema: String,
    /// Filing in an exercise: the run and the inject the report is about (empty otherwise).
    pub exercise_run: String,
    pub exercise_inject: String,
}

impl Draft {
    /// Whether a checkbox of `list` with `value` is ticked.
    pub fn ticked(&self, list: &[String], value: &str) -> bool {
        list.iter().any(|v| v == value)
    }

    /// Whether an answer is chosen.
    pub fn answered(&self, question: &str, option: &str) -> bool {
        self.answers.get(question).is_some_and(|a| a == option)
    }
}

#[derive(Template)]
#[template(path = "web/wizard.html")]
struct WizardPage {
    ctx: Ctx,
    draft: Draft,
    questions: Vec<Question>,
    sectors: Vec<(String, String)>,
    /// Services by sector: (sector name, [(slug, name)]).
    services: Vec<(String, Vec<(String, String)>)>,
    causes: Vec<&'static str>,
    scopes: Vec<&'static str>,
    formations: Vec<&'static str>,
    labels: Vec<&'static str>,
    schemas: Vec<&'static str>,
}

/// The shipped severity schemas a reporter may answer.
fn schema_ids() -> Vec<&'static str> {
    ciphub_domain::severity::SHIPPED_SCHEMAS
        .iter()
        .map(|(id, _)| *id)
        .collect()
}

async fn wizard_page(state: &AppState, ctx: Ctx, draft: Draft) -> Response {
    let schema = match shipped_schema(&draft.schema) {
        Ok(s) => s,
        Err(e) => return app_error(&ctx, &crate::error::AppError::Internal(e.to_string())),
    };
    let ja = ctx.lang == super::i18n::Lang::Ja;
    let questions = questions_of(&schema, ja);
    let records = match state.store.list_sectors().await {
        Ok(s) => s,
        Err(e) => return app_error(&ctx, &e.into()),
    };
    let pick = |en: &String, jp: &Option<String>| match (jp, ja) {
        (Some(j), true) => j.clone(),
        _ => en.clone(),
    };
    let sectors = records
        .iter()
        .map(|s| {
            (
                s.sector.slug.to_string(),
                pick(&s.sector.name_en, &s.sector.name_ja),
            )
        })
        .collect();
    let services = records
        .iter()
        .map(|s| {
            (
                pick(&s.sector.name_en, &s.sector.name_ja),
                s.sector
                    .services
                    .iter()
                    .map(|v| (v.slug.to_string(), pick(&v.name_en, &v.name_ja)))
                    .collect(),
            )
        })
        .collect();
    render(&WizardPage {
        ctx,
        draft,
        questions,
        sectors,
        services,
        causes: Cause::ALL.iter().map(|c| c.as_str()).collect(),
        scopes: TechScope::ALL.iter().map(|c| c.as_str()).collect(),
        formations: Formation::ALL.iter().map(|c| c.as_str()).collect(),
        labels: super::tlp_labels(),
        schemas: schema_ids(),
    })
}

/// Which severity schema the wizard asks with.
#[derive(serde::Deserialize)]
pub struct SchemaChoice {
    #[serde(default)]
    schema: Option<String>,
    /// A report in an exercise run, about one of its injects (the run's page links here).
    #[serde(default)]
    exercise_run: Option<i64>,
    #[serde(default)]
    exercise_inject: Option<String>,
}

pub async fn wizard(
    State(state): State<AppState>,
    user: WebUser,
    Query(choice): Query<SchemaChoice>,
) -> Response {
    let schema = choice
        .schema
        .filter(|s| schema_ids().contains(&s.as_str()))
        .unwrap_or_else(|| "seed-draft".into());
    let draft = Draft {
        schema,
        detected_at: super::time::input_value(chrono::Utc::now(), user.tz),
        cause: "unknown".into(),
        formation: "ceptoar-anonymous".into(),
        tlp: "TLP:AMBER".into(),
        exercise_run: choice
            .exercise_run
            .map(|r| r.to_string())
            .unwrap_or_default(),
        exercise_inject: choice.exercise_inject.unwrap_or_default(),
        ..Draft::default()
    };
    wizard_page(&state, user.ctx(), draft).await
}

pub async fn file(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let draft = Draft {
        title: form.get("title"),
        description: form.get("description"),
        detected_at: form.get("detected_at"),
        cause: form.get("cause"),
        scope: form.all("scope"),
        sectors: form.all("sectors"),
        services: form.all("services"),
        occurred_at: form.get("occurred_at"),
        answers: form.with_prefix("answer-").into_iter().collect(),
        formation: form.get("formation"),
        via: form.get("via"),
        consent: form.has("consent"),
        tlp: form.get("tlp"),
        schema: Some(form.get("schema"))
            .filter(|s| schema_ids().contains(&s.as_str()))
            .unwrap_or_else(|| "seed-draft".into()),
        exercise_run: form.get("exercise_run"),
        exercise_inject: form.get("exercise_inject"),
    };
    // Another severity schema: the same form again, every field kept but the answers, which
    // belong to the schema's own questions.
    let switch = form.get("switch_schema");
    if !switch.is_empty() {
        let mut draft = draft;
        if schema_ids().contains(&switch.as_str()) {
            draft.schema = switch;
            draft.answers.clear();
        }
        return wizard_page(&state, user.ctx(), draft).await;
    }
    // The browser's datetime-local has no zone: the form is in the user's zone, and says so.
    let (detected, occurred) = match (
        super::time::from_input(&draft.detected_at, user.tz),
        super::time::from_input(&draft.occurred_at, user.tz),
    ) {
        (Ok(d), Ok(o)) => (d, Some(o).filter(|t| !t.is_empty())),
        (Err(_), _) | (_, Err(_)) => {
            let mut ctx = user.ctx();
            ctx.error = Some(ctx.t1("time-invalid", "zone", user.tz.name()));
            return wizard_page(&state, ctx, draft).await;
        }
    };
    // Every impact question answered, said in the page's language beside the kept answers
    // (the API would name the first one missing, in its own words).
    if let Ok(schema) = shipped_schema(&draft.schema)
        && schema
            .questions
            .iter()
            .any(|q| !draft.answers.contains_key(&q.id))
    {
        let mut ctx = user.ctx();
        ctx.error = Some(ctx.t("wizard-answer-all"));
        let mut page = wizard_page(&state, ctx, draft).await;
        *page.status_mut() = StatusCode::BAD_REQUEST;
        return page;
    }
    let answers = match serde_json::from_value(serde_json::json!(draft.answers)) {
        Ok(a) => a,
        Err(e) => {
            let mut ctx = user.ctx();
            ctx.error = Some(e.to_string());
            return wizard_page(&state, ctx, draft).await;
        }
    };
    let body = NewReportJson {
        title: draft.title.clone(),
        description: draft.description.clone(),
        sectors: draft.sectors.clone(),
        services: draft.services.clone(),
        cause: draft.cause.clone(),
        scope: draft.scope.clone(),
        detected_at: detected,
        occurred_at: occurred,
        schema: Some(draft.schema.clone()),
        answers,
        tlp: Some(draft.tlp.clone()),
        formation: draft.formation.clone(),
        via: (!draft.via.is_empty()).then(|| draft.via.clone()),
        consent_named: draft.consent,
        exercise: draft.exercise_run.trim().parse().ok().map(|run| {
            crate::api::reports::ExerciseInJson {
                run,
                inject: draft.exercise_inject.clone(),
            }
        }),
    };
    match create_report(
        State(state.clone()),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok((_, r)) => Redirect::to(&format!("/reports/{}?filed=1", r.0.id)).into_response(),
        Err(e) => {
            let mut ctx = user.ctx();
            ctx.error = Some(ctx.describe(&e));
            wizard_page(&state, ctx, draft).await
        }
    }
}

#[derive(Template)]
#[template(path = "web/report.html")]
struct ReportPage {
    ctx: Ctx,
    report: ReportJson,
    /// For a secretariat that may relay it: the flagged text.
    flags: Option<Vec<FlagJson>>,
    /// For a recipient: its own notes.
    notes: Option<Vec<NoteViewJson>>,
    /// The caller's organization filed it.
    own: bool,
    /// For its reporter: the schema's questions, to file a changed severity with a stage.
    questions: Vec<Question>,
    statuses: Vec<&'static str>,
    /// Values it shares with other items the caller may read.
    related: Vec<crate::api::correlations::ClusterJson>,
    /// The relay form as the secretariat left it, after a refusal or a replacement.
    relay_draft: Option<RelayDraft>,
    /// For the relaying secretariat, once relayed: the copy that was sent.
    sent: Option<ReportJson>,
    /// For the relaying secretariat: the other CEPTOARs it may also relay to (id, name).
    ceptoars: Vec<(String, String)>,
}

/// What a secretariat typed into the relay form.
pub struct RelayDraft {
    pub title: String,
    pub description: String,
    pub also_to: Vec<String>,
    pub accepted: Vec<String>,
}

impl ReportPage {
    /// The relay form's title: as typed, else the report's.
    fn relay_title(&self) -> String {
        match &self.relay_draft {
            Some(d) => d.title.clone(),
            None => self.report.title.clone().unwrap_or_default(),
        }
    }

    fn relay_description(&self) -> String {
        match &self.relay_draft {
            Some(d) => d.description.clone(),
            None => self.report.description.clone().unwrap_or_default(),
        }
    }

    /// The CEPTOARs the relay also goes to, as ticked boxes with their names.
    fn also_to_picker(&self) -> String {
        let chosen = self
            .relay_draft
            .as_ref()
            .map(|d| d.also_to.clone())
            .unwrap_or_default();
        super::picker::Picker::short(
            "also-to",
            "also_to",
            self.ctx.t("relay-also-to"),
            self.ceptoars.iter().cloned(),
            &chosen,
        )
        .html(&self.ctx)
    }

    fn relay_accepted(&self, text: &str) -> bool {
        self.relay_draft
            .as_ref()
            .is_some_and(|d| d.accepted.iter().any(|a| a == text))
    }

    /// The flags whose text is still in the form's title or description: a passage replaced
    /// or edited out is gone from the list.
    fn flags_left(&self) -> Vec<&FlagJson> {
        let (title, description) = (self.relay_title(), self.relay_description());
        let mut seen: Vec<&str> = Vec::new();
        self.flags
            .iter()
            .flatten()
            .filter(|f| title.contains(&f.text) || description.contains(&f.text))
            .filter(|f| {
                let new = !seen.contains(&f.text.as_str());
                seen.push(&f.text);
                new
            })
            .collect()
    }

    /// `text` as safe HTML with every flagged passage marked and its kind named beside it.
    fn highlighted(&self, text: &str) -> String {
        let flags = self.flags_left();
        let mut out = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest flagged passage, the longest where two start together.
            let next = flags
                .iter()
                .filter_map(|f| rest.find(&f.text).map(|at| (at, f)))
                .min_by_key(|(at, f)| (*at, std::cmp::Reverse(f.text.len())));
            let Some((at, f)) = next.filter(|(_, f)| !f.text.is_empty()) else {
                out.push_str(&escape(rest));
                break;
            };
            out.push_str(&escape(&rest[..at]));
            out.push_str(&format!(
                "<mark class=\"flag\">{}<small> {}</small></mark>",
                escape(&f.text),
                escape(&self.ctx.term("flagkind", &f.kind))
            ));
            rest = &rest[at + f.text.len()..];
        }
        out
    }

    /// What a replaced passage of `kind` reads as.
    fn placeholder(&self, kind: &str) -> String {
        placeholder(&self.ctx, kind)
    }
}

/// What a replaced passage of `kind` reads as, in the page's language.
fn placeholder(ctx: &Ctx, kind: &str) -> String {
    ctx.t1("relay-placeholder", "kind", ctx.term("flagkind", kind))
}

fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Whether the page follows the report's filing.
#[derive(serde::Deserialize)]
pub struct Filed {
    #[serde(default)]
    filed: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(filed): Query<Filed>,
) -> Response {
    let mut ctx = user.ctx();
    if filed.filed.is_some() {
        ctx.flash = Some(ctx.t1("report-filed-next", "id", id));
    }
    report_page(&state, &user, id, ctx, None).await
}

/// A report's page; after a refused relay, with the form as it was left and the reason.
async fn report_page(
    state: &AppState,
    user: &WebUser,
    id: i64,
    ctx: Ctx,
    relay_draft: Option<RelayDraft>,
) -> Response {
    let state = state.clone();
    let report = match get_report(State(state.clone()), user.authed(), ApiPath(id)).await {
        Ok(r) => r.0,
        Err(e) => return app_error(&ctx, &e),
    };
    let flags = if report.may_relay && report.content_visible {
        relay_check(State(state.clone()), user.authed(), ApiPath(id))
            .await
            .ok()
            .map(|f| f.0.flags)
    } else {
        None
    };
    // The other CEPTOARs, by name, for the relay's "also to".
    let ceptoars = if flags.is_some() {
        let lang = ctx.lang.tag();
        super::picker::ceptoars(&state, lang)
            .await
            .into_iter()
            .filter(|r| r.org.slug.as_str() != ctx.org)
            .map(|r| (r.org.slug.to_string(), r.org.name_for(lang).to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    // Relayed: the secretariat sees the copy it sent (the newest), the form folded away.
    let sent = match (&flags, report.relays.as_deref()) {
        (Some(_), Some([.., last])) => {
            get_report(State(state.clone()), user.authed(), ApiPath(*last))
                .await
                .ok()
                .map(|r| r.0)
        }
        _ => None,
    };
    let related = if report.content_visible {
        match crate::api::correlations::get_report_correlations(
            State(state.clone()),
            user.authed(),
            crate::path::ApiPath(id),
        )
        .await
        {
            Ok(c) => c.0.clusters,
            Err(e) => return app_error(&ctx, &e),
        }
    } else {
        Vec::new()
    };
    let notes = if report.my_triage.is_some() {
        match list_notes(State(state.clone()), user.authed(), ApiPath(id)).await {
            Ok(n) => Some(n.0),
            // Notes on an anonymous report are the relaying secretariat's alone.
            Err(crate::error::AppError::Forbidden(_)) => None,
            Err(e) => return app_error(&ctx, &e),
        }
    } else {
        None
    };
    let own = report.reporter.as_ref().is_some_and(|r| r.org == ctx.org);
    let mut ctx = ctx;
    ctx.name_reporters(&state, std::slice::from_ref(&report))
        .await;
    if own {
        ctx.name_orgs(&state, report.recipients.iter().map(|r| r.org.as_str()))
            .await;
    }
    let questions = if own {
        shipped_schema(&report.severity.schema)
            .map(|s| questions_of(&s, ctx.lang == super::i18n::Lang::Ja))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    render(&ReportPage {
        questions,
        ctx,
        report,
        flags,
        notes,
        own,
        statuses: triage_statuses(),
        related,
        relay_draft,
        sent,
        ceptoars,
    })
}

/// After a change to a report: back to it, or the error on its own page.
fn back_to(ctx: &Ctx, id: i64, result: Result<(), crate::error::AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/reports/{id}")).into_response(),
        Err(e) => app_error(ctx, &e),
    }
}

/// The reporter files an update or the final report.
pub async fn stage(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, form): Posted,
) -> Response {
    // New answers only when the reporter gave some (the severity changed).
    let given: BTreeMap<String, String> = form.with_prefix("answer-").into_iter().collect();
    let answers = if given.is_empty() {
        None
    } else {
        match serde_json::from_value(serde_json::json!(given)) {
            Ok(a) => Some(a),
            Err(e) => {
                return app_error(
                    &user.ctx(),
                    &crate::error::AppError::invalid("answers", e.to_string()),
                );
            }
        }
    };
    let body = StageJson {
        stage: form.get("stage"),
        summary: form.get("summary"),
        answers,
    };
    let result = create_stage(
        State(state),
        user.authed(),
        ApiPath(id),
        crate::json::ApiJson(body),
    )
    .await
    .map(|_| ());
    back_to(&user.ctx(), id, result)
}

/// The reporter agrees to be named.
pub async fn consent(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, _): Posted,
) -> Response {
    let result = create_consent(State(state), user.authed(), ApiPath(id))
        .await
        .map(|_| ());
    back_to(&user.ctx(), id, result)
}

/// A recipient moves the report along its own queue.
pub async fn triage(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, form): Posted,
) -> Response {
    let assignee = form.get("assignee");
    let body = TriageJson {
        status: Some(form.get("status")),
        assignee: Some((!assignee.is_empty()).then_some(assignee)),
    };
    let result = update_triage(
        State(state),
        user.authed(),
        ApiPath(id),
        crate::json::ApiJson(body),
    )
    .await
    .map(|_| ());
    back_to(&user.ctx(), id, result)
}

/// A recipient adds a note only its own organization sees.
pub async fn note(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, form): Posted,
) -> Response {
    let body = NoteJson {
        body: form.get("body"),
    };
    let result = create_note(
        State(state),
        user.authed(),
        ApiPath(id),
        crate::json::ApiJson(body),
    )
    .await
    .map(|_| ());
    back_to(&user.ctx(), id, result)
}

pub async fn relay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, form): Posted,
) -> Response {
    let body = RelayJson {
        title: form.get("title"),
        description: form.get("description"),
        // Ticked in the CEPTOAR picker (or typed as "a, b").
        also_to: form
            .all("also_to")
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        accept: form.all("accept"),
        answers: None,
    };
    let mut draft = RelayDraft {
        title: body.title.clone(),
        description: body.description.clone(),
        also_to: body.also_to.clone(),
        accepted: body.accept.clone(),
    };
    let mut ctx = user.ctx();
    // Replacing the ticked passages changes the form, not the report: the secretariat reads
    // the result and relays it with the other button.
    if form.get("action") == "redact" {
        // Only who may relay may see the flags: anyone else is refused as the relay would be.
        let flags = match relay_check(State(state.clone()), user.authed(), ApiPath(id)).await {
            Ok(f) => f.0.flags,
            Err(e) => return app_error(&ctx, &e),
        };
        let mut replaced = 0;
        for text in form.all("redact") {
            let Some(flag) = flags.iter().find(|f| f.text == text) else {
                continue;
            };
            let with = placeholder(&ctx, &flag.kind);
            for field in [&mut draft.title, &mut draft.description] {
                replaced += field.matches(text.as_str()).count();
                *field = field.replace(text.as_str(), &with);
            }
        }
        ctx.flash = Some(ctx.t1("relay-replaced", "count", replaced));
        return report_page(&state, &user, id, ctx, Some(draft)).await;
    }
    // A refusal shows on the report's page, beside the form, with what was typed kept.
    let refused = |ctx: &Ctx, status: StatusCode, message: String| {
        if status.is_server_error() {
            tracing::error!(status = %status, "relay failed");
            ctx.t("error-server")
        } else {
            message
        }
    };
    match create_relay(
        State(state.clone()),
        user.authed(),
        ApiPath(id),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok(resp) if resp.status().is_success() => {
            Redirect::to(&format!("/reports/{id}")).into_response()
        }
        Ok(resp) => {
            let status = resp.status();
            let text = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let value = serde_json::from_str::<serde_json::Value>(&text).ok();
            let left = value
                .as_ref()
                .and_then(|v| v["flags"].as_array().map(Vec::len))
                .or_else(|| {
                    value
                        .as_ref()
                        .and_then(|v| v["error"]["flags"].as_array().map(Vec::len))
                });
            let message = match left {
                Some(n) => ctx.t1("relay-flags-left", "count", n),
                None => value
                    .as_ref()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or(text),
            };
            ctx.error = Some(refused(&ctx, status, message));
            let mut page = report_page(&state, &user, id, ctx, Some(draft)).await;
            *page.status_mut() = status;
            page
        }
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            let status = match &e {
                crate::error::AppError::Forbidden(_) => StatusCode::FORBIDDEN,
                crate::error::AppError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut page = report_page(&state, &user, id, ctx, Some(draft)).await;
            *page.status_mut() = status;
            page
        }
    }
}

#[derive(Template)]
#[template(path = "web/incident.html")]
struct IncidentPage {
    ctx: Ctx,
    incident: crate::api::incidents::IncidentJson,
    /// Its reports the caller may read, in the incident's order.
    reports: Vec<ReportJson>,
}

/// Incidents a page of the list shows.
const INCIDENTS_PAGE: usize = 50;

#[derive(Template)]
#[template(path = "web/incidents.html")]
struct IncidentsPage {
    ctx: Ctx,
    incidents: Vec<ciphub_store::IncidentSummary>,
    table: super::table::Table,
}

/// The incidents the user's organization grouped its received reports into, newest first.
pub async fn incidents(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<super::table::TableQuery>,
) -> Response {
    let ctx = user.ctx();
    let mut table = super::table::Table::new(
        "/incidents",
        "#incidents",
        query,
        INCIDENTS_PAGE,
        ("created", true),
    );
    let page = |offset: usize| {
        state.store.incidents_page(
            &user.user.org,
            u32::try_from(offset).unwrap_or(u32::MAX),
            INCIDENTS_PAGE as u32,
        )
    };
    // Every incident as CSV (an organization has far fewer than the CSV bound).
    if table.query.csv() {
        let all = state
            .store
            .incidents_page(&user.user.org, 0, super::table::CSV_MAX_ROWS as u32)
            .await;
        let all = match all {
            Ok((rows, _)) => rows,
            Err(e) => return app_error(&ctx, &e.into()),
        };
        let header = [
            ctx.t("report-id"),
            ctx.t("report-title"),
            ctx.t("incident-count"),
            ctx.t("incident-created"),
        ];
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|i| {
                vec![
                    i.id.to_string(),
                    i.title.clone(),
                    i.reports.to_string(),
                    ctx.exact_time(i.created),
                ]
            })
            .collect();
        return super::table::csv("incidents", &header, &rows);
    }
    let (mut rows, total) = match page(table.asked_offset()).await {
        Ok(p) => p,
        Err(e) => return app_error(&ctx, &e.into()),
    };
    table.matching = usize::try_from(total).unwrap_or(usize::MAX);
    // Past the last page: the last page.
    if table.offset() != table.asked_offset() {
        match page(table.offset()).await {
            Ok((r, _)) => rows = r,
            Err(e) => return app_error(&ctx, &e.into()),
        }
    }
    render(&IncidentsPage {
        ctx,
        incidents: rows,
        table,
    })
}

/// A recipient groups reports in its queue into an incident of its own.
pub async fn new_incident(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let body = crate::api::incidents::NewIncidentJson {
        title: form.get("title"),
        reports: form
            .get("reports")
            .split(',')
            .filter_map(|t| t.trim().trim_start_matches('#').parse().ok())
            .collect(),
    };
    match crate::api::incidents::create_incident(
        State(state),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok((_, i)) => Redirect::to(&format!("/incidents/{}", i.0.id)).into_response(),
        Err(e) => app_error(&user.ctx(), &e),
    }
}

pub async fn incident(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Response {
    let mut ctx = user.ctx();
    let incident =
        match crate::api::incidents::get_incident(State(state.clone()), user.authed(), ApiPath(id))
            .await
        {
            Ok(i) => i.0,
            Err(e) => return app_error(&ctx, &e),
        };
    let mut reports = Vec::new();
    for r in &incident.reports {
        if let Ok(report) = get_report(State(state.clone()), user.authed(), ApiPath(*r)).await {
            reports.push(report.0);
        }
    }
    ctx.name_reporters(&state, &reports).await;
    render(&IncidentPage {
        ctx,
        incident,
        reports,
    })
}
