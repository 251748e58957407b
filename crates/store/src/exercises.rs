//! Exercise runs: creating and controlling them, sending their injects over the real channels
//! (an alert to the team's inboxes, or a simulated operator's report to a CEPTOAR), and reading
//! back what participants did through the ordinary API and pages (acknowledgements, reports,
//! relays, replies) as events in exercise time, for scoring.
//!
//! Alerts and reports of a run carry its id (`exercise_run_id`): real dashboards, counts,
//! correlations and feeds leave them out, and every channel marks them as an exercise.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, Scope};
use ciphub_domain::exercise::Act;
use ciphub_domain::exercise::run::{Clock, Control, RunState, Span};
use ciphub_domain::exercise::score::Event;
use ciphub_domain::policy::exercises::AnonymousAct;
use ciphub_domain::report::{NewReport, StageDeadlines};
use serde_json::json;

use crate::clock::{from_us, to_us};
use crate::{By, NewAlert, Store, StoreError};

/// Which traffic a list holds: everything, real work only, or exercises only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Traffic {
    #[default]
    All,
    Real,
    Exercise,
}

impl Traffic {
    /// From an API's `exercise` filter: absent, everything; false, real only; true, exercises.
    pub fn from_filter(exercise: Option<bool>) -> Self {
        match exercise {
            None => Traffic::All,
            Some(false) => Traffic::Real,
            Some(true) => Traffic::Exercise,
        }
    }

    /// The SQL condition on a row alias's `exercise_run_id`.
    pub(crate) fn condition(self, alias: &str) -> String {
        match self {
            Traffic::All => "1 = 1".to_owned(),
            Traffic::Real => format!("{alias}.exercise_run_id IS NULL"),
            Traffic::Exercise => format!("{alias}.exercise_run_id IS NOT NULL"),
        }
    }
}

/// A run as its controller creates it.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub scenario_id: Slug,
    /// The scenario file's text, already checked.
    pub scenario: String,
    pub owner: Slug,
    pub created_by: String,
    pub speed: u32,
    pub starts: DateTime<Utc>,
    /// For simulated participants.
    pub seed: Option<u64>,
    /// Each team's organizations, resolved from the registry.
    pub members: BTreeMap<Slug, Vec<Slug>>,
}

/// A stored run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub scenario_id: Slug,
    pub scenario: String,
    pub owner: Slug,
    pub created_by: String,
    pub state: RunState,
    pub starts: DateTime<Utc>,
    pub seed: Option<u64>,
    pub ended: Option<DateTime<Utc>>,
    /// The scores as JSON, once finished.
    pub scores: Option<serde_json::Value>,
    pub created: DateTime<Utc>,
    pub clock: Clock,
}

impl RunRecord {
    /// The run's exercise time now (zero before it starts).
    pub fn exercise_now(&self, now: DateTime<Utc>) -> Duration {
        self.clock.exercise_at(to_us(now)).unwrap_or_default()
    }
}

/// An inject about to be sent.
#[derive(Clone, Debug)]
pub struct SendInject {
    pub inject: Slug,
    /// The exercise time it arrives at.
    pub at: Duration,
    pub alert: Option<NewAlert>,
    /// A simulated operator's report, filed through its `via` (a CEPTOAR of the team) when
    /// it has one.
    pub report: Option<NewReport>,
    pub recipients: BTreeSet<Slug>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    scenario_id: String,
    scenario: String,
    owner: String,
    created_by: String,
    state: String,
    speed: i64,
    starts_us: i64,
    seed: Option<i64>,
    ended_us: Option<i64>,
    scores: Option<String>,
    created_us: i64,
}

const RUN_SELECT: &str = "SELECT r.id, r.scenario_id, r.scenario, o.slug AS owner, r.created_by, \
     r.state, r.speed, r.starts_us, r.seed, r.ended_us, r.scores, r.created_us \
     FROM exercise_runs r JOIN organizations o ON o.id = r.owner_org_id";

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)
}

fn duration(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// A run's spans, oldest first.
async fn load_spans(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Vec<Span>, StoreError> {
    let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT real_start_us, real_end_us, exercise_start_us FROM exercise_spans \
         WHERE run_id = $1 ORDER BY real_start_us",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, e, x)| Span {
            real_start_us: s,
            real_end_us: e,
            exercise_start: duration(x),
        })
        .collect())
}

impl RunRow {
    fn into_record(self, spans: Vec<Span>) -> Result<RunRecord, StoreError> {
        Ok(RunRecord {
            id: self.id,
            scenario_id: Slug::parse(&self.scenario_id).map_err(corrupt)?,
            scenario: self.scenario,
            owner: Slug::parse(&self.owner).map_err(corrupt)?,
            created_by: self.created_by,
            state: RunState::parse(&self.state)
                .ok_or_else(|| corrupt(format!("run state {:?}", self.state)))?,
            starts: from_us(self.starts_us),
            seed: self.seed.map(|s| s as u64),
            ended: self.ended_us.map(from_us),
            scores: self
                .scores
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(corrupt)?,
            created: from_us(self.created_us),
            clock: Clock {
                speed: u32::try_from(self.speed).map_err(corrupt)?,
                spans,
            },
        })
    }
}

impl Store {
    /// Creates a scheduled run with its teams' organizations.
    pub async fn create_run(&self, new: &NewRun, by: &By) -> Result<RunRecord, StoreError> {
        let ids: BTreeMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT slug, id FROM organizations")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let id_of = |s: &Slug| {
            ids.get(s.as_str())
                .copied()
                .ok_or_else(|| StoreError::not_found("organization", s))
        };
        let owner = id_of(&new.owner)?;
        let mut w = self.begin_write(by).await?;
        let id = w.fresh_id(crate::ids::Table::ExerciseRuns).await?;
        sqlx::query(
            "INSERT INTO exercise_runs (id, scenario_id, scenario, owner_org_id, created_by, state, \
             speed, starts_us, seed, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(new.scenario_id.as_str())
        .bind(&new.scenario)
        .bind(owner)
        .bind(&new.created_by)
        .bind(RunState::Scheduled.as_str())
        .bind(i64::from(new.speed))
        .bind(to_us(new.starts))
        .bind(new.seed.map(|s| s as i64))
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        let mut count = 0;
        for (team, orgs) in &new.members {
            for org in orgs {
                sqlx::query(
                    "INSERT INTO exercise_members (run_id, team, org_id) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(team.as_str())
                .bind(id_of(org)?)
                .execute(&mut *w.tx)
                .await?;
                count += 1;
            }
        }
        w.audit(
            "exercise.create",
            "exercise_run",
            &id.to_string(),
            json!({"scenario": new.scenario_id, "speed": new.speed, "members": count,
                   "simulated": new.seed.is_some()}),
        )
        .await?;
        w.commit().await?;
        self.run(id).await
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<RunRecord, StoreError> {
        let row: Option<RunRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN_SELECT} WHERE r.id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let row = row.ok_or_else(|| StoreError::not_found("exercise run", id))?;
        let spans = self.spans(id).await?;
        row.into_record(spans)
    }

    async fn spans(&self, id: i64) -> Result<Vec<Span>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_spans(&mut conn, id).await
    }

    /// The runs an organization owns or takes part in, newest first.
    pub async fn runs_of(&self, org: &Slug) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{RUN_SELECT} WHERE o.slug = $1 OR r.id IN (SELECT m.run_id FROM exercise_members m \
             JOIN organizations mo ON mo.id = m.org_id WHERE mo.slug = $1) \
             ORDER BY r.created_us DESC, r.id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let spans = self.spans(row.id).await?;
            out.push(row.into_record(spans)?);
        }
        Ok(out)
    }

    /// The runs the engine plays now: running ones, and scheduled ones whose start has come.
    pub async fn runs_to_play(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM exercise_runs WHERE state = 'running' \
             OR (state = 'scheduled' AND starts_us <= $1) ORDER BY id",
        )
        .bind(to_us(self.clock.now()))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The soonest start of a scheduled run.
    pub async fn next_run_start(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(starts_us) FROM exercise_runs WHERE state = 'scheduled'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(from_us))
    }

    /// Moves a run as `control` says (see `RunState::apply`); `scores` are kept when it
    /// finishes. Refused, naming the state, when the run cannot move so.
    pub async fn control_run(
        &self,
        id: i64,
        control: Control,
        scores: Option<&serde_json::Value>,
        by: &By,
    ) -> Result<RunRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let now = w.now_us;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM exercise_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *w.tx)
                .await?;
        let state = state.ok_or_else(|| StoreError::not_found("exercise run", id))?;
        let from = RunState::parse(&state).ok_or_else(|| corrupt(format!("run state {state}")))?;
        let to = from
            .apply(control)
            .map_err(|m| StoreError::invalid("state", m))?;
        // The running span, if any, ends now; a start or a resume opens one at the exercise
        // time the run had reached.
        sqlx::query(
            "UPDATE exercise_spans SET real_end_us = $2 WHERE run_id = $1 AND real_end_us IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if to == RunState::Running {
            let speed: i64 = sqlx::query_scalar("SELECT speed FROM exercise_runs WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *w.tx)
                .await?;
            let clock = Clock {
                speed: u32::try_from(speed).map_err(corrupt)?,
                spans: load_spans(&mut w.tx, id).await?,
            };
            let reached = clock.exercise_at(now).unwrap_or_default();
            sqlx::query(
                "INSERT INTO exercise_spans (run_id, real_start_us, exercise_start_us) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(now)
            .bind(micros(reached))
            .execute(&mut *w.tx)
            .await?;
        }
        sqlx::query(
            "UPDATE exercise_runs SET state = $2, ended_us = CASE WHEN $3 = 1 THEN $4 ELSE ended_us END, \
             scores = COALESCE($5, scores) WHERE id = $1",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(i64::from(to.is_over()))
        .bind(now)
        .bind(scores.map(|s| s.to_string()))
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            &format!("exercise.{}", control.as_str()),
            "exercise_run",
            &id.to_string(),
            json!({"from": from.as_str(), "to": to.as_str()}),
        )
        .await?;
        w.emit(crate::Event::Exercise { run: id });
        w.commit().await?;
        self.run(id).await
    }

    /// Each team's organizations in a run.
    pub async fn run_members(&self, id: i64) -> Result<BTreeMap<Slug, Vec<Slug>>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.team, o.slug FROM exercise_members m JOIN organizations o ON o.id = m.org_id \
             WHERE m.run_id = $1 ORDER BY m.team, o.slug",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<Slug, Vec<Slug>> = BTreeMap::new();
        for (team, org) in rows {
            out.entry(Slug::parse(&team).map_err(corrupt)?)
                .or_default()
                .push(Slug::parse(&org).map_err(corrupt)?);
        }
        Ok(out)
    }

    /// The teams of a run an organization is in (none when it does not take part).
    pub async fn run_teams_of(&self, id: i64, org: &Slug) -> Result<Vec<Slug>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.team FROM exercise_members m JOIN organizations o ON o.id = m.org_id \
             WHERE m.run_id = $1 AND o.slug = $2 ORDER BY m.team",
        )
        .bind(id)
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|t| Slug::parse(t).map_err(corrupt))
            .collect()
    }

    /// The injects a run has sent and the exercise time each arrived at.
    pub async fn run_sent(&self, id: i64) -> Result<BTreeMap<Slug, Duration>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT inject, exercise_us FROM exercise_sent WHERE run_id = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(i, us)| Ok((Slug::parse(&i).map_err(corrupt)?, duration(us))))
            .collect()
    }

    /// The alert or report each sent inject became.
    pub async fn run_sent_items(
        &self,
        id: i64,
    ) -> Result<BTreeMap<Slug, (Option<i64>, Option<i64>)>, StoreError> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT inject, alert_id, report_id FROM exercise_sent WHERE run_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(i, a, r)| Ok((Slug::parse(&i).map_err(corrupt)?, (a, r))))
            .collect()
    }

    /// Sends an inject once: the alert (or the simulated report) and the record that it was
    /// sent commit together, so a restart or a second server never sends it twice. `None`
    /// when it had been sent already.
    pub async fn send_inject(
        &self,
        run: &RunRecord,
        send: &SendInject,
    ) -> Result<Option<i64>, StoreError> {
        let ids: BTreeMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT slug, id FROM organizations")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let recipient_ids: Vec<i64> = send
            .recipients
            .iter()
            .map(|r| {
                ids.get(r.as_str())
                    .copied()
                    .ok_or_else(|| StoreError::not_found("organization", r))
            })
            .collect::<Result<_, _>>()?;
        let owner = *ids
            .get(run.owner.as_str())
            .ok_or_else(|| StoreError::not_found("organization", &run.owner))?;
        let filing = match &send.report {
            Some(report) => Some(
                self.prepare_filing(&run.owner, report, report.via.clone())
                    .await?,
            ),
            None => None,
        };
        let mut w = self.begin_write(&By::system()).await?;
        let claimed = sqlx::query(
            "INSERT INTO exercise_sent (run_id, inject, exercise_us, real_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id, inject) DO NOTHING",
        )
        .bind(run.id)
        .bind(send.inject.as_str())
        .bind(micros(send.at))
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        let (alert_id, report_id) = match (&send.alert, &send.report, &filing) {
            (Some(alert), _, _) => {
                let id = crate::alerts::insert_alert(
                    &mut w,
                    owner,
                    &run.created_by,
                    alert,
                    &recipient_ids,
                )
                .await?;
                sqlx::query(
                    "UPDATE alerts SET exercise_run_id = $2, exercise_inject = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(run.id)
                .bind(send.inject.as_str())
                .execute(&mut *w.tx)
                .await?;
                (Some(id), None)
            }
            (None, Some(report), Some(filing)) => {
                let id = crate::reports::insert_filing(
                    &mut w,
                    filing,
                    SIMULATED_REPORTER,
                    report,
                    StageDeadlines::default(),
                )
                .await?;
                crate::reports::mark_exercise_report(&mut w, id, run.id, &send.inject).await?;
                (None, Some(id))
            }
            _ => {
                return Err(StoreError::invalid(
                    "inject",
                    format!("inject {} is neither an alert nor a report", send.inject),
                ));
            }
        };
        sqlx::query(
            "UPDATE exercise_sent SET alert_id = $3, report_id = $4 WHERE run_id = $1 AND inject = $2",
        )
        .bind(run.id)
        .bind(send.inject.as_str())
        .bind(alert_id)
        .bind(report_id)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            "exercise.inject",
            "exercise_run",
            &run.id.to_string(),
            json!({"inject": send.inject, "recipients": recipient_ids.len()}),
        )
        .await?;
        w.emit(crate::Event::Exercise { run: run.id });
        w.commit().await?;
        if alert_id.is_some() {
            self.grew("alert_deliveries", recipient_ids.len());
        }
        Ok(alert_id.or(report_id))
    }

    /// Records an organization's answer to a request for information of a run.
    pub async fn reply_to_inject(
        &self,
        run: i64,
        inject: &Slug,
        org: &Slug,
        user: &str,
        body: &str,
        by: &By,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let org_id = crate::reports::org_id(&mut w.tx, org).await?;
        sqlx::query(
            "INSERT INTO exercise_replies (run_id, inject, org_id, user_name, body, real_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run)
        .bind(inject.as_str())
        .bind(org_id)
        .bind(user)
        .bind(body)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            "exercise.reply",
            "exercise_run",
            &run.to_string(),
            json!({"inject": inject}),
        )
        .await?;
        w.emit(crate::Event::Exercise { run });
        w.commit().await?;
        Ok(())
    }

    /// The reports of a run filed anonymously through a CEPTOAR: by whom, on which inject,
    /// through which CEPTOAR (for keeping the reporter out of everyone else's scores).
    pub async fn run_anonymous(&self, id: i64) -> Result<Vec<AnonymousAct>, StoreError> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT o.slug, r.exercise_inject, v.slug FROM reports r \
             JOIN organizations o ON o.id = r.reporter_org_id \
             LEFT JOIN organizations v ON v.id = r.via_org_id \
             WHERE r.exercise_run_id = $1 AND r.formation = 'ceptoar-anonymous' AND r.relay_of IS NULL \
             AND NOT EXISTS (SELECT 1 FROM exercise_sent s WHERE s.run_id = $1 AND s.report_id = r.id)",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(org, inject, via)| {
                Ok(AnonymousAct {
                    org: Slug::parse(&org).map_err(corrupt)?,
                    inject: Slug::parse(&inject).map_err(corrupt)?,
                    via: via.map(|v| Slug::parse(&v)).transpose().map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// What the organizations of a run did, in exercise time: acknowledgements of its alerts,
    /// reports filed about its injects (with the level assessed), relays of its reports (with
    /// the level relayed), and replies. A simulated operator's report is the run's own, not an
    /// act. Acts from before the run started, or after it, are left out.
    pub async fn run_events(&self, run: &RunRecord) -> Result<Vec<Event>, StoreError> {
        let mut raw: Vec<(String, Act, String, i64, Option<i64>)> = Vec::new();
        let acks: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT o.slug, a.exercise_inject, d.acked_us FROM alert_deliveries d \
             JOIN alerts a ON a.id = d.alert_id JOIN organizations o ON o.id = d.org_id \
             WHERE a.exercise_run_id = $1 AND d.acked_us IS NOT NULL",
        )
        .bind(run.id)
        .fetch_all(&self.pool)
        .await?;
        raw.extend(
            acks.into_iter()
                .map(|(o, i, t)| (o, Act::Acknowledge, i, t, None)),
        );
        let reports: Vec<(String, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT o.slug, r.exercise_inject, r.created_us, r.level, r.relay_of FROM reports r \
             JOIN organizations o ON o.id = r.reporter_org_id WHERE r.exercise_run_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM exercise_sent s WHERE s.run_id = $1 AND s.report_id = r.id)",
        )
        .bind(run.id)
        .fetch_all(&self.pool)
        .await?;
        raw.extend(reports.into_iter().map(|(o, i, t, level, relay_of)| {
            let act = if relay_of.is_some() {
                Act::Relay
            } else {
                Act::Report
            };
            (o, act, i, t, Some(level))
        }));
        let replies: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT o.slug, x.inject, x.real_us FROM exercise_replies x \
             JOIN organizations o ON o.id = x.org_id WHERE x.run_id = $1",
        )
        .bind(run.id)
        .fetch_all(&self.pool)
        .await?;
        raw.extend(
            replies
                .into_iter()
                .map(|(o, i, t)| (o, Act::Reply, i, t, None)),
        );
        let end = run.ended.map(to_us);
        let mut out = Vec::with_capacity(raw.len());
        for (org, act, inject, real_us, level) in raw {
            if end.is_some_and(|e| real_us > e) {
                continue;
            }
            let Some(at) = run.clock.exercise_at(real_us) else {
                continue;
            };
            out.push(Event {
                org: Slug::parse(&org).map_err(corrupt)?,
                act,
                inject: Slug::parse(&inject).map_err(corrupt)?,
                at,
                level: level.and_then(|l| u8::try_from(l).ok()),
            });
        }
        out.sort_by(|a, b| (a.at, &a.org).cmp(&(b.at, &b.org)));
        Ok(out)
    }
}

/// The name a simulated operator's report is filed under.
pub const SIMULATED_REPORTER: &str = "simulated-operator";

/// An alert's audience for an inject: the named organizations.
pub fn inject_audience(recipients: &BTreeSet<Slug>) -> Audience {
    Audience {
        scope: Scope::Organizations(recipients.iter().cloned().collect()),
        roles: Default::default(),
    }
}

/// A corrective action of a run's improvement plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRecord {
    pub id: i64,
    pub run: i64,
    /// The organization that owns it.
    pub org: Slug,
    pub title: String,
    /// Who in that organization sees it through.
    pub assignee: String,
    /// The due date, YYYY-MM-DD.
    pub due: String,
    pub closed: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created: DateTime<Utc>,
}

/// A link to a run's after-action report that needs no account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    pub id: i64,
    pub run: i64,
    pub created_by: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub revoked: Option<DateTime<Utc>>,
}

type ActionRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
);

const ACTION_SELECT: &str = "SELECT x.id, x.run_id, o.slug, x.title, x.assignee, x.due, x.closed_us, \
     x.created_by, x.created_us FROM exercise_actions x JOIN organizations o ON o.id = x.org_id";

fn action_of(row: ActionRow) -> Result<ActionRecord, StoreError> {
    let (id, run, org, title, assignee, due, closed, created_by, created) = row;
    Ok(ActionRecord {
        id,
        run,
        org: Slug::parse(&org).map_err(corrupt)?,
        title,
        assignee,
        due,
        closed: closed.map(from_us),
        created_by,
        created: from_us(created),
    })
}

impl Store {
    /// Records an organization's answers to the lessons-learned questionnaire of a run;
    /// an answer to a question answered before replaces it.
    pub async fn set_lessons(
        &self,
        run: i64,
        org: &Slug,
        user: &str,
        answers: &BTreeMap<String, String>,
        by: &By,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let org_id = crate::reports::org_id(&mut w.tx, org).await?;
        for (question, answer) in answers {
            sqlx::query(
                "DELETE FROM exercise_lessons WHERE run_id = $1 AND org_id = $2 AND question = $3",
            )
            .bind(run)
            .bind(org_id)
            .bind(question)
            .execute(&mut *w.tx)
            .await?;
            sqlx::query(
                "INSERT INTO exercise_lessons (run_id, org_id, question, answer, user_name, real_us) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(run)
            .bind(org_id)
            .bind(question)
            .bind(answer)
            .bind(user)
            .bind(w.now_us)
            .execute(&mut *w.tx)
            .await?;
        }
        w.audit(
            "exercise.lessons",
            "exercise_run",
            &run.to_string(),
            json!({"questions": answers.keys().collect::<Vec<_>>()}),
        )
        .await?;
        w.emit(crate::Event::Exercise { run });
        w.commit().await?;
        Ok(())
    }

    /// Every answer to a run's lessons-learned questionnaire: (organization, question,
    /// answer), by question then organization.
    pub async fn lessons(&self, run: i64) -> Result<Vec<(Slug, String, String)>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT o.slug, l.question, l.answer FROM exercise_lessons l \
             JOIN organizations o ON o.id = l.org_id WHERE l.run_id = $1 ORDER BY l.question, o.slug",
        )
        .bind(run)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(o, q, a)| Ok((Slug::parse(&o).map_err(corrupt)?, q, a)))
            .collect()
    }

    /// Adds a corrective action for `org` to a run's improvement plan.
    pub async fn add_action(
        &self,
        run: i64,
        org: &Slug,
        title: &str,
        assignee: &str,
        due: &str,
        by: &By,
    ) -> Result<ActionRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let org_id = crate::reports::org_id(&mut w.tx, org).await?;
        let id = w.fresh_id(crate::ids::Table::ExerciseActions).await?;
        sqlx::query(
            "INSERT INTO exercise_actions (id, run_id, org_id, title, assignee, due, created_by, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(run)
        .bind(org_id)
        .bind(title)
        .bind(assignee)
        .bind(due)
        .bind(by.user.clone().unwrap_or_else(|| "system".into()))
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            "exercise.action.add",
            "exercise_action",
            &id.to_string(),
            json!({"run": run, "org": org, "due": due}),
        )
        .await?;
        w.commit().await?;
        self.action(id).await
    }

    /// One corrective action.
    pub async fn action(&self, id: i64) -> Result<ActionRecord, StoreError> {
        let row: Option<ActionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ACTION_SELECT} WHERE x.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        action_of(row.ok_or_else(|| StoreError::not_found("corrective action", id))?)
    }

    /// A run's corrective actions, by due date.
    pub async fn actions_of_run(&self, run: i64) -> Result<Vec<ActionRecord>, StoreError> {
        let rows: Vec<ActionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ACTION_SELECT} WHERE x.run_id = $1 ORDER BY x.due, x.id"
        )))
        .bind(run)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(action_of).collect()
    }

    /// An organization's open corrective actions from every run, by due date.
    pub async fn open_actions_of(&self, org: &Slug) -> Result<Vec<ActionRecord>, StoreError> {
        let rows: Vec<ActionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ACTION_SELECT} WHERE o.slug = $1 AND x.closed_us IS NULL ORDER BY x.due, x.id LIMIT 200"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(action_of).collect()
    }

    /// Closes a corrective action (or opens it again).
    pub async fn set_action_closed(
        &self,
        id: i64,
        closed: bool,
        by: &By,
    ) -> Result<ActionRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query(
            "UPDATE exercise_actions SET closed_us = CASE WHEN $2 = 1 THEN COALESCE(closed_us, $3) ELSE NULL END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(closed))
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("corrective action", id));
        }
        w.audit(
            if closed {
                "exercise.action.close"
            } else {
                "exercise.action.reopen"
            },
            "exercise_action",
            &id.to_string(),
            json!({}),
        )
        .await?;
        w.commit().await?;
        self.action(id).await
    }

    /// Keeps a link to a run's after-action report: the token's SHA-256, until `expires`.
    pub async fn create_share(
        &self,
        run: i64,
        token_sha256: &str,
        expires: DateTime<Utc>,
        by: &By,
    ) -> Result<ShareRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let id = w.fresh_id(crate::ids::Table::ExerciseShares).await?;
        sqlx::query(
            "INSERT INTO exercise_shares (id, run_id, token_sha256, created_by, created_us, expires_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(run)
        .bind(token_sha256)
        .bind(by.user.clone().unwrap_or_else(|| "system".into()))
        .bind(w.now_us)
        .bind(to_us(expires))
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            "exercise.share",
            "exercise_run",
            &run.to_string(),
            json!({"share": id, "expires": expires.to_rfc3339()}),
        )
        .await?;
        w.commit().await?;
        self.shares_of(run)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| StoreError::not_found("share", id))
    }

    /// A run's links, newest first.
    pub async fn shares_of(&self, run: i64) -> Result<Vec<ShareRecord>, StoreError> {
        let rows: Vec<(i64, i64, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, run_id, created_by, created_us, expires_us, revoked_us FROM exercise_shares \
             WHERE run_id = $1 ORDER BY created_us DESC, id",
        )
        .bind(run)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, run, created_by, c, e, r)| ShareRecord {
                id,
                run,
                created_by,
                created: from_us(c),
                expires: from_us(e),
                revoked: r.map(from_us),
            })
            .collect())
    }

    /// The run a link's token opens now: not revoked and not expired.
    pub async fn shared_run(&self, token_sha256: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT run_id FROM exercise_shares WHERE token_sha256 = $1 AND revoked_us IS NULL \
             AND expires_us > $2",
        )
        .bind(token_sha256)
        .bind(to_us(self.clock.now()))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes a link of a run.
    pub async fn revoke_share(&self, run: i64, id: i64, by: &By) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query(
            "UPDATE exercise_shares SET revoked_us = COALESCE(revoked_us, $3) WHERE id = $1 AND run_id = $2",
        )
        .bind(id)
        .bind(run)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("share", id));
        }
        w.audit(
            "exercise.share.revoke",
            "exercise_run",
            &run.to_string(),
            json!({"share": id}),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }
}
