//! `/api/v1/exercises`: the scenario library, runs (create, list, read, control), their live
//! scores and the controller's live view (streamed), and participants' answers to requests
//! for information. Participants acknowledge an exercise's alerts, file reports in it and
//! relay them through the ordinary endpoints; what each viewer sees of a run and its scores
//! is `ciphub_domain::policy::exercises`'s to decide.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::exercise::run::{Control, MAX_SPEED, RunState};
use ciphub_domain::exercise::score::Scores;
use ciphub_domain::exercise::{SHIPPED_SCENARIOS, Scenario, format_duration};
use ciphub_domain::policy::Actor;
use ciphub_domain::policy::exercises::{RunView, may_control, may_run, run_view, scores_for};
use ciphub_store::{By, Event, NewRun, RunRecord};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::rfc3339;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// The longest scenario file accepted, in bytes.
pub const MAX_SCENARIO_BYTES: usize = 256 * 1024;

/// A scenario of the library.
#[derive(Serialize, ToSchema)]
pub struct ScenarioJson {
    pub id: String,
    pub title_en: String,
    pub title_ja: Option<String>,
    /// Exercise time, such as "6h".
    pub duration: String,
    pub injects: usize,
    pub expectations: usize,
    pub points: u32,
}

impl ScenarioJson {
    fn of(s: &Scenario) -> Self {
        Self {
            id: s.id.to_string(),
            title_en: s.title.en.clone(),
            title_ja: s.title.ja.clone(),
            duration: format_duration(s.duration),
            injects: s.injects.len(),
            expectations: s.expectations.len(),
            points: s.total_points(),
        }
    }
}

/// A new run: a scenario (the file's text, or a shipped scenario's id), its speed and start.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRunJson {
    /// The scenario file's text (TOML; format: exercises/README.md).
    pub scenario: Option<String>,
    /// Or the id of a shipped scenario.
    pub shipped: Option<String>,
    /// Exercise time per real time, 1 to 1000 (default 1: real time).
    pub speed: Option<u32>,
    /// When it starts (RFC 3339; default now).
    pub starts_at: Option<String>,
}

/// A team of a run, as the viewer may see it.
#[derive(Serialize, ToSchema)]
pub struct TeamJson {
    pub id: String,
    pub name_en: String,
    pub name_ja: Option<String>,
    /// Its organizations (the controller sees them all; a participant, only its own).
    pub members: Vec<String>,
    pub size: usize,
}

/// An inject of a run, as the viewer may see it.
#[derive(Serialize, ToSchema)]
pub struct InjectJson {
    pub id: String,
    pub kind: String,
    pub title_en: String,
    pub title_ja: Option<String>,
    pub teams: Vec<String>,
    /// Exercise time it arrived at, in seconds; null while not sent.
    pub sent_at: Option<f64>,
    /// The alert it became, where the viewer received it (or controls the run).
    pub alert: Option<i64>,
    /// The simulated report it became, where the viewer received it (or controls the run).
    pub report: Option<i64>,
}

/// A run as the viewer may see it.
#[derive(Serialize, ToSchema)]
pub struct RunJson {
    pub id: i64,
    pub scenario: ScenarioJson,
    pub owner: String,
    /// scheduled, running, paused, cancelled or finished.
    pub state: String,
    pub speed: u32,
    pub starts_at: String,
    pub ended_at: Option<String>,
    /// Exercise time reached, in seconds.
    pub exercise_time: f64,
    /// controller or participant.
    pub view: String,
    pub simulated: bool,
    pub teams: Vec<TeamJson>,
    pub injects: Vec<InjectJson>,
}

/// A controller's action on a run.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlJson {
    /// start, pause, resume or cancel.
    pub action: String,
}

/// An answer to a request for information.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyJson {
    #[schema(min_length = 1, max_length = 10000)]
    pub body: String,
}

/// Lists the scenarios shipped with ciphub.
#[utoipa::path(get, path = "/api/v1/exercises/scenarios", tag = "exercises",
    responses((status = 200, body = [ScenarioJson])))]
pub async fn list_scenarios(_authed: Authed) -> Result<Json<Vec<ScenarioJson>>, AppError> {
    let mut out = Vec::new();
    for (id, _) in SHIPPED_SCENARIOS {
        if let Some(Ok(s)) = Scenario::shipped(id) {
            out.push(ScenarioJson::of(&s));
        }
    }
    Ok(Json(out))
}

/// A run and the caller's view of it; not found when it is not the caller's to know of.
pub async fn visible_run(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(RunRecord, RunView, BTreeMap<Slug, Vec<Slug>>), AppError> {
    let not_found = || AppError::NotFound(format!("exercise run {id} does not exist"));
    let run = match state.store.run(id).await {
        Ok(r) => r,
        Err(ciphub_store::StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let members = state.store.run_members(id).await?;
    let all: BTreeSet<Slug> = members.values().flatten().cloned().collect();
    let view = run_view(actor, &run.owner, &all).ok_or_else(not_found)?;
    Ok((run, view, members))
}

fn scenario_of(run: &RunRecord) -> Result<Scenario, AppError> {
    Scenario::from_toml(&run.scenario)
        .map_err(|e| AppError::Internal(format!("run {}'s scenario: {e}", run.id)))
}

/// The run as `actor` sees it through `view`.
pub async fn run_json(
    state: &AppState,
    actor: &Actor,
    run: &RunRecord,
    view: RunView,
    members: &BTreeMap<Slug, Vec<Slug>>,
) -> Result<RunJson, AppError> {
    let s = scenario_of(run)?;
    let sent = state.store.run_sent(run.id).await?;
    let items = state.store.run_sent_items(run.id).await?;
    let mine: BTreeSet<&Slug> = members
        .iter()
        .filter(|(_, orgs)| orgs.contains(&actor.org))
        .map(|(t, _)| t)
        .collect();
    let controller = view == RunView::Controller;
    let teams = s
        .teams
        .iter()
        .filter(|t| controller || mine.contains(&t.id))
        .map(|t| {
            let orgs = members.get(&t.id).cloned().unwrap_or_default();
            TeamJson {
                id: t.id.to_string(),
                name_en: t.name.en.clone(),
                name_ja: t.name.ja.clone(),
                size: orgs.len(),
                members: orgs
                    .iter()
                    .filter(|o| controller || **o == actor.org)
                    .map(ToString::to_string)
                    .collect(),
            }
        })
        .collect();
    let injects = s
        .injects
        .iter()
        .filter(|i| controller || i.to.iter().any(|t| mine.contains(t)))
        .map(|i| {
            let (alert, report) = items.get(&i.id).copied().unwrap_or((None, None));
            InjectJson {
                id: i.id.to_string(),
                kind: i.kind.as_str().to_owned(),
                title_en: i.title.en.clone(),
                title_ja: i.title.ja.clone(),
                teams: i.to.iter().map(ToString::to_string).collect(),
                sent_at: sent.get(&i.id).map(Duration::as_secs_f64),
                alert,
                report,
            }
        })
        .collect();
    let now = state.store.clock().now();
    Ok(RunJson {
        id: run.id,
        scenario: ScenarioJson::of(&s),
        owner: run.owner.to_string(),
        state: run.state.as_str().to_owned(),
        speed: run.clock.speed,
        starts_at: rfc3339(run.starts),
        ended_at: run.ended.map(rfc3339),
        exercise_time: run.exercise_now(now).min(s.duration).as_secs_f64(),
        view: match view {
            RunView::Controller => "controller",
            RunView::Participant => "participant",
        }
        .to_owned(),
        simulated: run.seed.is_some(),
        teams,
        injects,
    })
}

/// Creates a run of a scenario over the registry's organizations. It starts at `starts_at`
/// and a server plays it; the caller's organization owns it and sends its injects.
#[utoipa::path(post, path = "/api/v1/exercises/runs", tag = "exercises", request_body = NewRunJson,
    responses((status = 201, body = RunJson), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_run(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<NewRunJson>,
) -> Result<(StatusCode, Json<RunJson>), AppError> {
    let actor = authed.actor();
    let text = match (&body.scenario, &body.shipped) {
        (Some(text), None) => {
            if text.len() > MAX_SCENARIO_BYTES {
                return Err(AppError::invalid(
                    "scenario",
                    format!("a scenario file is at most {MAX_SCENARIO_BYTES} bytes"),
                ));
            }
            text.clone()
        }
        (None, Some(id)) => SHIPPED_SCENARIOS
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, t)| (*t).to_owned())
            .ok_or_else(|| {
                let ids: Vec<&str> = SHIPPED_SCENARIOS.iter().map(|(i, _)| *i).collect();
                AppError::invalid(
                    "shipped",
                    format!("no shipped scenario {id:?}: one of {}", ids.join(", ")),
                )
            })?,
        _ => {
            return Err(AppError::invalid(
                "scenario",
                "give either scenario (the file's text) or shipped (a shipped scenario's id)",
            ));
        }
    };
    let speed = body.speed.unwrap_or(1);
    if !(1..=MAX_SPEED).contains(&speed) {
        return Err(AppError::invalid(
            "speed",
            format!("speed is from 1 to {MAX_SPEED}"),
        ));
    }
    let now = state.store.clock().now();
    let starts = match &body.starts_at {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                AppError::invalid(
                    "starts_at",
                    format!("{t:?} is not an RFC 3339 time such as 2026-04-01T09:00:00+09:00: {e}"),
                )
            })?,
        None => now,
    };
    if starts > now + chrono::TimeDelta::days(366) {
        return Err(AppError::invalid("starts_at", "a run starts within a year"));
    }
    let s = Scenario::from_toml(&text)
        .map_err(|e| AppError::invalid("scenario", format!("line {}: {}", e.line, e.message)))?;
    let (sectors, orgs) = state.store.community().await?;
    if let Some(e) = s.unknown_in(&sectors, &orgs).first() {
        return Err(AppError::invalid(
            "scenario",
            format!("line {}: {}", e.line, e.message),
        ));
    }
    let members: BTreeMap<Slug, Vec<Slug>> = s
        .teams
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                t.members(&orgs).into_iter().cloned().collect(),
            )
        })
        .collect();
    let everyone: BTreeSet<Slug> = members.values().flatten().cloned().collect();
    may_run(&actor, &everyone).map_err(AppError::Forbidden)?;
    let run = state
        .store
        .create_run(
            &NewRun {
                scenario_id: s.id.clone(),
                scenario: text,
                owner: actor.org.clone(),
                created_by: actor.user.to_string(),
                speed,
                starts,
                seed: None,
                members: members.clone(),
            },
            &By::actor(&actor),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(run_json(&state, &actor, &run, RunView::Controller, &members).await?),
    ))
}

/// Lists the runs the caller's organization owns or takes part in, newest first.
#[utoipa::path(get, path = "/api/v1/exercises/runs", tag = "exercises",
    responses((status = 200, body = [RunJson])))]
pub async fn list_runs(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<RunJson>>, AppError> {
    let actor = authed.actor();
    let mut out = Vec::new();
    for run in state.store.runs_of(&actor.org).await?.into_iter().take(100) {
        let members = state.store.run_members(run.id).await?;
        let all: BTreeSet<Slug> = members.values().flatten().cloned().collect();
        if let Some(view) = run_view(&actor, &run.owner, &all) {
            out.push(run_json(&state, &actor, &run, view, &members).await?);
        }
    }
    Ok(Json(out))
}

/// One run, as the caller may see it.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = RunJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RunJson>, AppError> {
    let actor = authed.actor();
    let (run, view, members) = visible_run(&state, &actor, id).await?;
    Ok(Json(run_json(&state, &actor, &run, view, &members).await?))
}

/// Starts, pauses, resumes or cancels a run (its owner's controllers).
#[utoipa::path(post, path = "/api/v1/exercises/runs/{id}/control", tag = "exercises",
    request_body = ControlJson, params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = RunJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn control_run(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ControlJson>,
) -> Result<Json<RunJson>, AppError> {
    let actor = authed.actor();
    let (run, _, members) = visible_run(&state, &actor, id).await?;
    if !may_control(&actor, &run.owner) {
        return Err(AppError::Forbidden(
            "only the controllers of the organization that runs the exercise control it".into(),
        ));
    }
    let control = match Control::parse(&body.action) {
        Some(c @ (Control::Start | Control::Pause | Control::Resume | Control::Cancel)) => c,
        _ => {
            return Err(AppError::invalid(
                "action",
                format!(
                    "{:?} is not an action: start, pause, resume or cancel",
                    body.action
                ),
            ));
        }
    };
    let run = match state
        .store
        .control_run(id, control, None, &By::actor(&actor))
        .await
    {
        Ok(r) => r,
        Err(ciphub_store::StoreError::Invalid { message, .. }) => {
            return Err(AppError::invalid("action", message));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(
        run_json(&state, &actor, &run, RunView::Controller, &members).await?,
    ))
}

/// A run's scores so far (final once it has finished), as the caller may see them.
pub async fn scores_of(
    state: &AppState,
    actor: &Actor,
    run: &RunRecord,
    view: RunView,
    members: &BTreeMap<Slug, Vec<Slug>>,
) -> Result<Scores, AppError> {
    let s = scenario_of(run)?;
    let full: Scores = match (&run.scores, run.state) {
        (Some(v), RunState::Finished) => serde_json::from_value(v.clone())
            .map_err(|e| AppError::Internal(format!("run {}'s scores: {e}", run.id)))?,
        _ => {
            let sent = state.store.run_sent(run.id).await?;
            let events = state.store.run_events(run).await?;
            ciphub_domain::exercise::score::score(&s, members, &sent, &events)
        }
    };
    let anonymous = state.store.run_anonymous(run.id).await?;
    let teams: BTreeSet<Slug> = members
        .iter()
        .filter(|(_, orgs)| orgs.contains(&actor.org))
        .map(|(t, _)| t.clone())
        .collect();
    Ok(scores_for(&full, &s, &anonymous, &actor.org, view, &teams))
}

/// A run's scores: per expectation (each organization's outcome: met, late, wrong or
/// missing), per team, per organization and overall. A participant sees its own
/// organization's and its teams'; nobody but the reporter and its secretariat learns which
/// organization reported anonymously.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/scores", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "The scores", body = Object),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_scores(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Scores>, AppError> {
    let actor = authed.actor();
    let (run, view, members) = visible_run(&state, &actor, id).await?;
    Ok(Json(scores_of(&state, &actor, &run, view, &members).await?))
}

/// Answers a request for information of a run, for the caller's organization (a team the
/// request went to, while the run is running or paused).
#[utoipa::path(post, path = "/api/v1/exercises/runs/{id}/injects/{inject}/reply", tag = "exercises",
    request_body = ReplyJson,
    params(("id" = i64, Path, description = "The run's id"), ("inject" = String, Path, description = "The request's inject id")),
    responses((status = 204, description = "Recorded"), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((id, inject)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<ReplyJson>,
) -> Result<StatusCode, AppError> {
    let actor = authed.actor();
    let inject = check_participation(&state, &actor, id, &inject).await?;
    let text = body.body.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(AppError::invalid(
            "body",
            "an answer has 1 to 10000 characters",
        ));
    }
    state
        .store
        .reply_to_inject(
            id,
            &inject,
            &actor.org,
            actor.user.as_str(),
            text,
            &By::actor(&actor),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks that the caller's organization may act in run `id` on `inject`: it takes part in a
/// team the inject went to, the inject has been sent, and the run is running or paused.
/// The same answer for a run that does not exist and one the caller is not in.
pub async fn check_participation(
    state: &AppState,
    actor: &Actor,
    id: i64,
    inject: &str,
) -> Result<Slug, AppError> {
    let no_run = || {
        AppError::invalid(
            "exercise.run",
            format!("your organization takes part in no exercise run {id}"),
        )
    };
    let run = match state.store.run(id).await {
        Ok(r) => r,
        Err(ciphub_store::StoreError::NotFound { .. }) => return Err(no_run()),
        Err(e) => return Err(e.into()),
    };
    let teams = state.store.run_teams_of(id, &actor.org).await?;
    if teams.is_empty() {
        return Err(no_run());
    }
    if !matches!(run.state, RunState::Running | RunState::Paused) {
        return Err(AppError::invalid(
            "exercise.run",
            format!("run {id} is {}: it takes no answers", run.state.as_str()),
        ));
    }
    let s = scenario_of(&run)?;
    let sent = state.store.run_sent(id).await?;
    let found = Slug::parse(inject)
        .ok()
        .and_then(|slug| s.inject(&slug).cloned())
        .filter(|i| sent.contains_key(&i.id) && i.to.iter().any(|t| teams.contains(t)));
    found.map(|i| i.id).ok_or_else(|| {
        AppError::invalid(
            "exercise.inject",
            format!("no inject {inject:?} of run {id} has reached your organization"),
        )
    })
}

/// The controller's live view, streamed: a `run` event with the run and its scores as the
/// caller may see them, at once and whenever the run moves, sends an inject or takes an
/// answer (at most twice a second). The stream ends after 15 minutes or when the server
/// stops; clients reconnect.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/live", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "text/event-stream"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn live(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    let actor = authed.actor();
    // Checked once here: a stream of a run that is not the caller's is never opened.
    visible_run(&state, &actor, id).await?;
    let rx = state.store.subscribe();
    let until = tokio::time::Instant::now() + crate::api::channels::STREAM_LIFETIME;
    let closing = state.closing.subscribe();
    let alerts = state
        .store
        .run_sent_items(id)
        .await?
        .values()
        .filter_map(|(a, _)| *a)
        .collect::<BTreeSet<i64>>();
    let live = LiveRun {
        state,
        actor,
        id,
        rx,
        until,
        closing,
        first: true,
        alerts,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|e| (Ok(e), live))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct LiveRun {
    state: AppState,
    actor: Actor,
    id: i64,
    rx: tokio::sync::broadcast::Receiver<Event>,
    until: tokio::time::Instant,
    closing: tokio::sync::watch::Receiver<bool>,
    first: bool,
    /// The run's alerts: their acknowledgements move the scores.
    alerts: BTreeSet<i64>,
}

impl LiveRun {
    async fn next(&mut self) -> Option<SseEvent> {
        if !std::mem::take(&mut self.first) {
            self.wait().await?;
            // Changes that come together are shown together.
            tokio::time::sleep(Duration::from_millis(500)).await;
            while self.rx.try_recv().is_ok() {}
        }
        let (run, view, members) = visible_run(&self.state, &self.actor, self.id).await.ok()?;
        self.alerts.extend(
            self.state
                .store
                .run_sent_items(self.id)
                .await
                .ok()?
                .values()
                .filter_map(|(a, _)| *a),
        );
        let json = run_json(&self.state, &self.actor, &run, view, &members)
            .await
            .ok()?;
        let scores = scores_of(&self.state, &self.actor, &run, view, &members)
            .await
            .ok()?;
        SseEvent::default()
            .event("run")
            .json_data(serde_json::json!({"run": json, "scores": scores}))
            .ok()
    }

    /// Waits for a change of this run; `None` when the stream should end.
    async fn wait(&mut self) -> Option<()> {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(self.until) => return None,
                _ = self.closing.changed() => return None,
                e = self.rx.recv() => match e {
                    Ok(Event::Exercise { run }) if run == self.id => return Some(()),
                    Ok(Event::Ack { alert, .. }) if self.alerts.contains(&alert) => return Some(()),
                    Ok(Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return Some(()),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    }
}

/// Who reads an after-action report: a controller or a participant with an account, or anyone
/// with a shared link (who sees each team's points, never an organization's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader<'a> {
    Member(&'a Actor, RunView),
    Link,
}

/// `h:mm` of exercise time.
fn clock(d: Duration) -> String {
    let m = d.as_secs() / 60;
    format!("{}:{:02}", m / 60, m % 60)
}

/// The after-action report of a run as `reader` may see it, in `lang`.
pub async fn after_action(
    state: &AppState,
    reader: Reader<'_>,
    run: &RunRecord,
    lang: crate::web::i18n::Lang,
) -> Result<crate::exercise::report::AfterAction, AppError> {
    use crate::exercise::report::{ActionRow, AfterAction, ExpectationRow, TeamRow, TimelineRow};
    use crate::web::i18n::Lang;
    use ciphub_domain::exercise::lessons::QUESTIONS;
    use ciphub_domain::exercise::score::Outcome;
    let ja = lang == Lang::Ja;
    let s = scenario_of(run)?;
    let members = state.store.run_members(run.id).await?;
    let sent = state.store.run_sent(run.id).await?;
    let tz = state.config.time_zone;
    let scores = match reader {
        Reader::Member(actor, view) => scores_of(state, actor, run, view, &members).await?,
        Reader::Link => {
            // Each team's points and each expectation's result, no organization's.
            let owner = Actor {
                user_id: 0,
                user: ciphub_domain::identity::UserName::parse("shared-link")
                    .map_err(|e| AppError::Internal(e.to_string()))?,
                org: run.owner.clone(),
                org_kind: ciphub_domain::registry::OrgKind::Coordinator,
                roles: [ciphub_domain::identity::Role::Coordinator].into(),
            };
            let mut full = scores_of(state, &owner, run, RunView::Controller, &members).await?;
            full.organizations.clear();
            for e in &mut full.expectations {
                e.outcomes.clear();
            }
            full
        }
    };
    let text = |t: &ciphub_domain::exercise::Text| t.get(lang.tag()).to_owned();
    let team_name = |id: &Slug| s.team(id).map_or_else(|| id.to_string(), |t| text(&t.name));
    let expectations = scores
        .expectations
        .iter()
        .filter_map(|r| {
            let e = s.expectations.iter().find(|e| e.id == r.id)?;
            let count = |o: Outcome| r.outcomes.values().filter(|x| **x == o).count();
            Some(ExpectationRow {
                text: text(&e.text),
                team: team_name(&e.team),
                met: r.met,
                points: r.points,
                counts: (!r.outcomes.is_empty()).then(|| {
                    [
                        count(Outcome::Met),
                        count(Outcome::Late),
                        count(Outcome::Wrong),
                        count(Outcome::Missing),
                    ]
                }),
            })
        })
        .collect();
    let own_org = match reader {
        Reader::Member(actor, RunView::Participant) => Some(actor.org.clone()),
        _ => None,
    };
    let all_lessons = state.store.lessons(run.id).await?;
    let lessons = QUESTIONS
        .iter()
        .map(|q| {
            let answers = all_lessons
                .iter()
                .filter(|(org, question, _)| {
                    question == q.id && own_org.as_ref().is_none_or(|o| o == org)
                })
                .map(|(_, _, a)| a.clone())
                .collect();
            ((if ja { q.ja } else { q.en }).to_owned(), answers)
        })
        .collect();
    let actions = state
        .store
        .actions_of_run(run.id)
        .await?
        .into_iter()
        .filter(|a| own_org.as_ref().is_none_or(|o| o == &a.org))
        .map(|a| ActionRow {
            title: a.title,
            org: a.org.to_string(),
            assignee: a.assignee,
            due: a.due,
            closed: a.closed.is_some(),
        })
        .collect();
    let local = |t| crate::web::time::local(t, tz, lang);
    Ok(AfterAction {
        lang,
        scenario: text(&s.title),
        run: run.id,
        owner: run.owner.to_string(),
        state: run.state.as_str().to_owned(),
        period: format!(
            "{} – {}",
            local(run.starts),
            run.ended.map_or_else(String::new, local)
        ),
        speed: run.clock.speed,
        participants: members.values().flatten().collect::<BTreeSet<_>>().len(),
        objectives: s.objectives.iter().map(text).collect(),
        timeline: s
            .injects
            .iter()
            .map(|i| TimelineRow {
                at: sent.get(&i.id).map_or_else(|| "-".into(), |d| clock(*d)),
                title: text(&i.title),
                kind: i.kind.as_str().to_owned(),
                sent: sent.contains_key(&i.id),
            })
            .collect(),
        earned: scores.overall.earned,
        possible: scores.overall.possible,
        teams: scores
            .teams
            .iter()
            .map(|(id, t)| TeamRow {
                name: team_name(id),
                earned: t.earned,
                possible: t.possible,
            })
            .collect(),
        expectations,
        lessons,
        actions,
        generated: local(state.store.clock().now()),
    })
}

/// The report's language and format.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The language (default en).
    #[param(value_type = Option<ReportLang>)]
    pub lang: Option<String>,
    /// The format (default html).
    #[param(value_type = Option<ReportFormat>)]
    pub format: Option<String>,
}

/// A report's language.
// Only documents the values the query takes (`report_format` reads them, naming the field).
#[allow(dead_code)]
#[derive(Clone, Copy, ToSchema, PartialEq, Eq)]
#[schema(rename_all = "lowercase")]
pub enum ReportLang {
    En,
    Ja,
}

/// A report's format.
// Only documents the values the query takes (`report_format` reads them, naming the field).
#[allow(dead_code)]
#[derive(Clone, Copy, ToSchema, PartialEq, Eq)]
#[schema(rename_all = "lowercase")]
pub enum ReportFormat {
    Html,
    Pdf,
}

/// The report as a response: HTML, or a PDF to download.
pub fn report_response(
    state: &AppState,
    r: &crate::exercise::report::AfterAction,
    pdf: bool,
) -> Result<axum::response::Response, AppError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    if pdf {
        let bytes = crate::exercise::report::pdf(r, state.config.pdf_font.as_deref()).map_err(
            |e| match e {
                crate::exercise::report::PdfError::NoFont => AppError::BadRequest {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "no_font",
                    message: e.to_string(),
                    field: None,
                },
                other => AppError::Internal(other.to_string()),
            },
        )?;
        let name = format!("after-action-{}-{}.pdf", r.run, r.lang.tag());
        return Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response());
    }
    let page = crate::exercise::report::html(r).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(axum::response::Html(page).into_response())
}

fn report_format(q: &ReportQuery) -> Result<(crate::web::i18n::Lang, bool), AppError> {
    use crate::web::i18n::Lang;
    let bad = |field: &str, what: &str, value: &str| {
        AppError::malformed(
            "invalid_query",
            format!("{field} must be {what}, not {value:?}"),
            Some(field.into()),
        )
    };
    let lang = match q.lang.as_deref() {
        None | Some("en") => Lang::En,
        Some("ja") => Lang::Ja,
        Some(other) => return Err(bad("lang", "en or ja", other)),
    };
    let pdf = match q.format.as_deref() {
        None | Some("html") => false,
        Some("pdf") => true,
        Some(other) => return Err(bad("format", "html or pdf", other)),
    };
    Ok((lang, pdf))
}

/// The after-action report and improvement plan, as HTML or PDF, in English or Japanese: what
/// happened, the timeline, the scores with a chart, strengths, areas to improve, the lessons
/// learned and the corrective actions. A participant's shows its own organization's part.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/report", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id"), ReportQuery),
    responses((status = 200, description = "text/html or application/pdf"),
        (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    query: Result<axum::extract::Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let axum::extract::Query(q) =
        query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let (lang, pdf) = report_format(&q)?;
    let actor = authed.actor();
    let (run, view, _) = visible_run(&state, &actor, id).await?;
    let r = after_action(&state, Reader::Member(&actor, view), &run, lang).await?;
    report_response(&state, &r, pdf)
}

/// Answers to the lessons-learned questionnaire.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonsJson {
    /// Question id to answer: strengths, improve, changes (text) and realism (1 to 5).
    pub answers: BTreeMap<String, String>,
}

/// The questionnaire and the caller organization's answers (the controller: everyone's, each
/// with its organization).
#[derive(Serialize, ToSchema)]
pub struct LessonsViewJson {
    pub questions: Vec<QuestionJson>,
    pub answers: Vec<LessonAnswerJson>,
}

#[derive(Serialize, ToSchema)]
pub struct QuestionJson {
    pub id: String,
    pub en: String,
    pub ja: String,
    pub scale: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LessonAnswerJson {
    pub org: String,
    pub question: String,
    pub answer: String,
}

/// The lessons-learned questionnaire of a run and the answers the caller may read.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/lessons", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = LessonsViewJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_lessons(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<LessonsViewJson>, AppError> {
    let actor = authed.actor();
    let (run, view, _) = visible_run(&state, &actor, id).await?;
    let answers = state
        .store
        .lessons(run.id)
        .await?
        .into_iter()
        .filter(|(org, _, _)| view == RunView::Controller || org == &actor.org)
        .map(|(org, question, answer)| LessonAnswerJson {
            org: org.to_string(),
            question,
            answer,
        })
        .collect();
    Ok(Json(LessonsViewJson {
        questions: ciphub_domain::exercise::lessons::QUESTIONS
            .iter()
            .map(|q| QuestionJson {
                id: q.id.into(),
                en: q.en.into(),
                ja: q.ja.into(),
                scale: q.scale,
            })
            .collect(),
        answers,
    }))
}

/// Answers the lessons-learned questionnaire for the caller's organization (a participant,
/// once the run has started); answering a question again replaces the answer.
#[utoipa::path(put, path = "/api/v1/exercises/runs/{id}/lessons", tag = "exercises",
    request_body = LessonsJson, params(("id" = i64, Path, description = "The run's id")),
    responses((status = 204, description = "Recorded"), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn put_lessons(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<LessonsJson>,
) -> Result<StatusCode, AppError> {
    let actor = authed.actor();
    let (run, _, members) = visible_run(&state, &actor, id).await?;
    if !members.values().flatten().any(|o| o == &actor.org) {
        return Err(AppError::Forbidden(
            "only participant organizations answer the questionnaire".into(),
        ));
    }
    if run.state == RunState::Scheduled || run.state == RunState::Cancelled {
        return Err(AppError::invalid(
            "answers",
            format!("run {id} is {}: it takes no answers", run.state.as_str()),
        ));
    }
    if body.answers.is_empty() {
        return Err(AppError::invalid("answers", "answer at least one question"));
    }
    let mut clean = BTreeMap::new();
    for (q, a) in &body.answers {
        ciphub_domain::exercise::lessons::check_answer(q, a)
            .map_err(|m| AppError::invalid(format!("answers.{q}"), m))?;
        clean.insert(q.clone(), a.trim().to_owned());
    }
    state
        .store
        .set_lessons(
            id,
            &actor.org,
            actor.user.as_str(),
            &clean,
            &By::actor(&actor),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new corrective action.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActionJson {
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    /// The organization that sees it through (a participant, or the run's owner).
    pub org: String,
    /// Who there owns it.
    #[schema(min_length = 1, max_length = 200)]
    pub assignee: String,
    /// The due date, YYYY-MM-DD.
    pub due: String,
}

/// A corrective action.
#[derive(Serialize, ToSchema)]
pub struct ActionJson {
    pub id: i64,
    pub run: i64,
    pub org: String,
    pub title: String,
    pub assignee: String,
    pub due: String,
    pub closed_at: Option<String>,
    pub created_by: String,
}

impl From<ciphub_store::ActionRecord> for ActionJson {
    fn from(a: ciphub_store::ActionRecord) -> Self {
        Self {
            id: a.id,
            run: a.run,
            org: a.org.to_string(),
            title: a.title,
            assignee: a.assignee,
            due: a.due,
            closed_at: a.closed.map(rfc3339),
            created_by: a.created_by,
        }
    }
}

/// A change of a corrective action.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatchJson {
    pub closed: bool,
}

/// A run's corrective actions (a participant: its own organization's).
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/actions", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = [ActionJson]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_actions(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ActionJson>>, AppError> {
    let actor = authed.actor();
    let (run, view, _) = visible_run(&state, &actor, id).await?;
    Ok(Json(
        state
            .store
            .actions_of_run(run.id)
            .await?
            .into_iter()
            .filter(|a| view == RunView::Controller || a.org == actor.org)
            .map(ActionJson::from)
            .collect(),
    ))
}

/// Adds a corrective action to a run's improvement plan (its controllers).
#[utoipa::path(post, path = "/api/v1/exercises/runs/{id}/actions", tag = "exercises",
    request_body = NewActionJson, params(("id" = i64, Path, description = "The run's id")),
    responses((status = 201, body = ActionJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_action(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewActionJson>,
) -> Result<(StatusCode, Json<ActionJson>), AppError> {
    let actor = authed.actor();
    let (run, view, members) = visible_run(&state, &actor, id).await?;
    if view != RunView::Controller {
        return Err(AppError::Forbidden(
            "only the run's controllers add corrective actions".into(),
        ));
    }
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 300 {
        return Err(AppError::invalid(
            "title",
            "a title has 1 to 300 characters",
        ));
    }
    let assignee = body.assignee.trim();
    if assignee.is_empty() || assignee.chars().count() > 200 {
        return Err(AppError::invalid(
            "assignee",
            "an owner has 1 to 200 characters",
        ));
    }
    if chrono::NaiveDate::parse_from_str(&body.due, "%Y-%m-%d").is_err() {
        return Err(AppError::invalid(
            "due",
            format!("{:?} is not a date such as 2027-03-31", body.due),
        ));
    }
    let org = Slug::parse(&body.org)
        .ok()
        .filter(|o| o == &run.owner || members.values().flatten().any(|m| m == o));
    let Some(org) = org else {
        return Err(AppError::invalid(
            "org",
            format!("{:?} is not the run's owner or a participant", body.org),
        ));
    };
    let a = state
        .store
        .add_action(id, &org, title, assignee, &body.due, &By::actor(&actor))
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// Closes a corrective action, or opens it again (the run's controllers, or the organization
/// that owns it).
#[utoipa::path(patch, path = "/api/v1/exercise-actions/{id}", tag = "exercises",
    request_body = ActionPatchJson, params(("id" = i64, Path, description = "The action's id")),
    responses((status = 200, body = ActionJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_action(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ActionPatchJson>,
) -> Result<Json<ActionJson>, AppError> {
    let actor = authed.actor();
    let not_found = || AppError::NotFound(format!("corrective action {id} does not exist"));
    let a = match state.store.action(id).await {
        Ok(a) => a,
        Err(ciphub_store::StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let run = state.store.run(a.run).await?;
    let own = a.org == actor.org
        && (actor.has(ciphub_domain::identity::Role::Admin)
            || actor.has(ciphub_domain::identity::Role::Coordinator)
            || may_control(&actor, &a.org));
    if !(may_control(&actor, &run.owner) || own) {
        return Err(not_found());
    }
    let a = state
        .store
        .set_action_closed(id, body.closed, &By::actor(&actor))
        .await?;
    Ok(Json(a.into()))
}

/// The caller organization's open corrective actions from every exercise, by due date.
#[utoipa::path(get, path = "/api/v1/exercise-actions", tag = "exercises",
    responses((status = 200, body = [ActionJson])))]
pub async fn list_my_actions(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<ActionJson>>, AppError> {
    let actor = authed.actor();
    Ok(Json(
        state
            .store
            .open_actions_of(&actor.org)
            .await?
            .into_iter()
            .map(ActionJson::from)
            .collect(),
    ))
}

/// A new link to the report.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShareJson {
    /// Days until it stops working, 1 to 90.
    pub days: u32,
}

/// A link to the report that needs no account.
#[derive(Serialize, ToSchema)]
pub struct ShareJson {
    pub id: i64,
    /// The link, shown once: only a hash of its token is kept.
    pub url: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

impl ShareJson {
    fn of(s: ciphub_store::ShareRecord, url: Option<String>) -> Self {
        Self {
            id: s.id,
            url,
            created_by: s.created_by,
            created_at: rfc3339(s.created),
            expires_at: rfc3339(s.expires),
            revoked_at: s.revoked.map(rfc3339),
        }
    }
}

/// The SHA-256 of a link's token, as stored.
pub fn share_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

async fn controlled(state: &AppState, actor: &Actor, id: i64) -> Result<RunRecord, AppError> {
    let (run, view, _) = visible_run(state, actor, id).await?;
    if view != RunView::Controller {
        return Err(AppError::Forbidden(
            "only the run's controllers share its report".into(),
        ));
    }
    Ok(run)
}

/// Creates a link to the run's after-action report that opens without an account, until it
/// expires or is revoked (the run's controllers). The link shows each team's points and each
/// expectation's result, never an organization's.
#[utoipa::path(post, path = "/api/v1/exercises/runs/{id}/shares", tag = "exercises",
    request_body = NewShareJson, params(("id" = i64, Path, description = "The run's id")),
    responses((status = 201, body = ShareJson), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_share(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewShareJson>,
) -> Result<(StatusCode, Json<ShareJson>), AppError> {
    use rand::RngCore;
    let actor = authed.actor();
    let run = controlled(&state, &actor, id).await?;
    if !(1..=90).contains(&body.days) {
        return Err(AppError::invalid("days", "a link lasts 1 to 90 days"));
    }
    let mut raw = [0_u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let expires = state.store.clock().now() + chrono::TimeDelta::days(i64::from(body.days));
    let share = state
        .store
        .create_share(run.id, &share_hash(&token), expires, &By::actor(&actor))
        .await?;
    let path = format!("/shared/exercise-reports/{token}");
    let url = match &state.config.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    };
    Ok((StatusCode::CREATED, Json(ShareJson::of(share, Some(url)))))
}

/// The run's links (the run's controllers); their tokens are never shown again.
#[utoipa::path(get, path = "/api/v1/exercises/runs/{id}/shares", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = [ShareJson]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_shares(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ShareJson>>, AppError> {
    let actor = authed.actor();
    let run = controlled(&state, &actor, id).await?;
    Ok(Json(
        state
            .store
            .shares_of(run.id)
            .await?
            .into_iter()
            .map(|s| ShareJson::of(s, None))
            .collect(),
    ))
}

/// Revokes a link: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/exercises/runs/{id}/shares/{share}", tag = "exercises",
    params(("id" = i64, Path, description = "The run's id"), ("share" = i64, Path, description = "The link's id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_share(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((id, share)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let actor = authed.actor();
    let run = controlled(&state, &actor, id).await?;
    state
        .store
        .revoke_share(run.id, share, &By::actor(&actor))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The report a link opens, without an account; a link that is unknown, expired or revoked
/// answers 404, the same for each.
pub async fn shared_report(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    query: Result<axum::extract::Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let gone = || {
        (
            StatusCode::NOT_FOUND,
            axum::response::Html(
                "<!doctype html><title>Not found</title><p>This link does not exist, has expired or was revoked. / このリンクは存在しないか、期限切れか、取り消されました。</p>",
            ),
        )
            .into_response()
    };
    let q = match query {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let Ok((lang, pdf)) = report_format(&q) else {
        return (
            StatusCode::BAD_REQUEST,
            "lang is en or ja; format is html or pdf",
        )
            .into_response();
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return gone();
    }
    let run = match state.store.shared_run(&share_hash(&token)).await {
        Ok(Some(run)) => run,
        Ok(None) => return gone(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let result = async {
        let run = state.store.run(run).await?;
        let r = after_action(&state, Reader::Link, &run, lang).await?;
        report_response(&state, &r, pdf)
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
