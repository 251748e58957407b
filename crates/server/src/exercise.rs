//! The exercise engine: plays every run whose time has come. It starts scheduled runs, sends
//! each inject when it falls due (an alert to the teams' inboxes, e-mail and webhooks, or a
//! simulated operator's report to a CEPTOAR), and finishes a run at the end of its scenario
//! with its scores. Everything it knows is in the store, so a run goes on after a restart
//! and two servers never send an inject twice; a paused run's clock stands still, so it
//! sends nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::exercise::run::{Control, RunState, due, next_due};
use ciphub_domain::exercise::score::{Scores, score};
use ciphub_domain::exercise::{Inject, InjectKind, Scenario};
use ciphub_domain::registry::OrgKind;
use ciphub_domain::report::{Cause, Formation, NewReport};
use ciphub_domain::severity::shipped_schema;
use ciphub_store::{By, NewAlert, RunRecord, SendInject, Store, StoreError, inject_audience};

pub mod participants;
pub mod report;

/// The longest the engine sleeps when nothing is due: acts that let a waiting inject go are
/// noticed at least this often.
pub const POLL: Duration = Duration::from_millis(500);

/// What the engine keeps between rounds: each run's scenario, read once.
#[derive(Default)]
pub struct Engine {
    scenarios: Mutex<BTreeMap<i64, Arc<Scenario>>>,
}

/// The words an inject's title starts with, by kind, in English and Japanese.
fn kind_label(kind: InjectKind) -> (&'static str, &'static str) {
    match kind {
        InjectKind::Alert => ("Alert", "注意喚起"),
        InjectKind::Report => ("Report", "報告"),
        InjectKind::News => ("News", "ニュース"),
        InjectKind::Request => ("Request for information", "情報提供依頼"),
        InjectKind::Call => ("Phone call", "電話"),
    }
}

impl Engine {
    /// A run's scenario (checked when the run was created).
    pub fn scenario(&self, run: &RunRecord) -> Result<Arc<Scenario>, StoreError> {
        let mut cache = self.scenarios.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache.get(&run.id) {
            return Ok(s.clone());
        }
        let s = Arc::new(
            Scenario::from_toml(&run.scenario)
                .map_err(|e| StoreError::Corrupt(format!("run {}'s scenario: {e}", run.id)))?,
        );
        cache.insert(run.id, s.clone());
        Ok(s)
    }

    /// Plays every run due now, once. Returns when the engine should look again at the latest.
    pub async fn play(
        &self,
        store: &Store,
        email: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut wake: Option<DateTime<Utc>> = store.next_run_start().await?;
        for id in store.runs_to_play().await? {
            let next = self.play_run(store, id, email).await?;
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(wake)
    }

    /// Plays one run: starts it if its time has come, sends what is due, finishes it at the end.
    pub async fn play_run(
        &self,
        store: &Store,
        id: i64,
        email: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut run = store.run(id).await?;
        let now = store.clock().now();
        if run.state == RunState::Scheduled {
            if run.starts > now {
                return Ok(Some(run.starts));
            }
            run = store
                .control_run(id, Control::Start, None, &By::system())
                .await?;
        }
        if run.state != RunState::Running {
            return Ok(None);
        }
        let s = self.scenario(&run)?;
        let members = store.run_members(id).await?;
        let mut sent = store.run_sent(id).await?;
        let waiting = s
            .injects
            .iter()
            .any(|i| i.after.is_some() && !sent.contains_key(&i.id));
        let events = if waiting {
            store.run_events(&run).await?
        } else {
            Vec::new()
        };
        let now_x = run.exercise_now(store.clock().now());
        for (inject_id, _due_at) in due(&s, now_x, &sent, &members, &events) {
            let Some(inject) = s.inject(&inject_id) else {
                continue;
            };
            // The inject arrives now, which may be a moment after it fell due.
            let at = run.exercise_now(store.clock().now()).min(s.duration);
            let send = build(&s, inject, at, &members, email, store).await?;
            if store.send_inject(&run, &send).await?.is_some() {
                tracing::info!(run = id, inject = %inject_id, "exercise inject sent");
            }
            sent.insert(inject_id, at);
        }
        if run.exercise_now(store.clock().now()) >= s.duration {
            // The lessons-learned questionnaire goes to every participant, once.
            let questionnaire = lessons_message(&s, &run, &members, email);
            store.send_inject(&run, &questionnaire).await?;
            let scores = self.scores(store, &run).await?;
            let json =
                serde_json::to_value(&scores).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match store
                .control_run(id, Control::Finish, Some(&json), &By::system())
                .await
            {
                Ok(_) => tracing::info!(run = id, "exercise finished"),
                // Another server finished it first.
                Err(StoreError::Invalid { .. }) => {}
                Err(e) => return Err(e),
            }
            self.scenarios
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Ok(None);
        }
        // The next inject on the timeline, or the end; waiting injects are polled for.
        let next_x = next_due(&s, &sent).map_or(s.duration, |t| t.min(s.duration));
        let next = run.clock.real_at(next_x).map(ciphub_store::clock::from_us);
        Ok(next)
    }

    /// A run's scores from what its participants did so far.
    pub async fn scores(&self, store: &Store, run: &RunRecord) -> Result<Scores, StoreError> {
        let s = self.scenario(run)?;
        let members = store.run_members(run.id).await?;
        let sent = store.run_sent(run.id).await?;
        let events = store.run_events(run).await?;
        Ok(score(&s, &members, &sent, &events))
    }
}

/// Text in both languages: English, then Japanese where the scenario gives it.
fn both(en: &str, ja: Option<&str>, sep: &str) -> String {
    match ja {
        Some(ja) if !ja.is_empty() => format!("{en}{sep}{ja}"),
        _ => en.to_owned(),
    }
}

/// What sending `inject` means: its recipients, and the alert or the simulated report.
async fn build(
    s: &Scenario,
    inject: &Inject,
    at: Duration,
    members: &BTreeMap<Slug, Vec<Slug>>,
    email: bool,
    store: &Store,
) -> Result<SendInject, StoreError> {
    let recipients: BTreeSet<Slug> = inject
        .to
        .iter()
        .flat_map(|t| members.get(t).into_iter().flatten().cloned())
        .collect();
    let (label_en, label_ja) = kind_label(inject.kind);
    let title = both(
        &format!("{label_en}: {}", inject.title.en),
        inject
            .title
            .ja
            .as_deref()
            .map(|ja| format!("{label_ja}：{ja}"))
            .as_deref(),
        " / ",
    );
    let body = both(&inject.body.en, inject.body.ja.as_deref(), "\n\n");
    if inject.kind != InjectKind::Report {
        return Ok(SendInject {
            inject: inject.id.clone(),
            at,
            alert: Some(NewAlert {
                title: truncate(&title, 200),
                body,
                tlp: inject.tlp,
                audience: inject_audience(&recipients),
                clients_permitted: false,
                ack_within: None,
                exercise: true,
                reports: Vec::new(),
                incidents: Vec::new(),
                relay_of: None,
                relay_note: None,
                attachments: Vec::new(),
                email,
            }),
            report: None,
            recipients,
        });
    }
    // A simulated operator's report goes through the team's CEPTOAR, anonymously; to a team
    // without one, to the responsible ministries.
    let (_, orgs) = store.community().await?;
    let ceptoar = recipients.iter().find(|r| {
        orgs.iter()
            .any(|o| &o.slug == *r && o.kind == OrgKind::Ceptoar)
    });
    let official = inject.official.as_ref();
    let schema = shipped_schema(&s.schema).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let answers = official.map(|o| o.answers.clone()).unwrap_or_default();
    let assessed = schema.assess(&answers).ok();
    let now = store.clock().now();
    let report = NewReport {
        title: truncate(&inject.title.en, 200),
        description: body,
        sectors: inject.sectors.clone(),
        services: Vec::new(),
        cause: Cause::Cyberattack,
        scope: BTreeSet::new(),
        detected: now,
        occurred: None,
        schema: s.schema.clone(),
        answers,
        level: assessed.as_ref().map_or(0, |a| a.level),
        emergency: assessed.as_ref().is_some_and(|a| a.emergency),
        score: assessed.as_ref().and_then(|a| a.score),
        tlp: inject.tlp,
        formation: if ceptoar.is_some() {
            Formation::CeptoarAnonymous
        } else {
            Formation::Ministry
        },
        via: ceptoar.cloned(),
        consent_named: false,
    };
    Ok(SendInject {
        inject: inject.id.clone(),
        at,
        alert: None,
        report: Some(report),
        recipients,
    })
}

/// The message that asks every participant the lessons-learned questions, at the end.
fn lessons_message(
    s: &Scenario,
    run: &RunRecord,
    members: &BTreeMap<Slug, Vec<Slug>>,
    email: bool,
) -> SendInject {
    use ciphub_domain::exercise::lessons::{INJECT, QUESTIONS};
    let recipients: BTreeSet<Slug> = members.values().flatten().cloned().collect();
    let mut body = format!(
        "The exercise has ended. Please answer these questions for your organization at /exercises/{id}/lessons (or PUT /api/v1/exercises/runs/{id}/lessons):\n\n",
        id = run.id
    );
    for q in QUESTIONS {
        body.push_str(&format!("- {}\n", q.en));
    }
    body.push_str(&format!(
        "\n演習は終了しました。/exercises/{}/lessons で、貴組織としての回答をお願いします。\n\n",
        run.id
    ));
    for q in QUESTIONS {
        body.push_str(&format!("- {}\n", q.ja));
    }
    let title = both(
        &format!("Lessons learned: {}", s.title.en),
        s.title
            .ja
            .as_deref()
            .map(|ja| format!("振り返り：{ja}"))
            .as_deref(),
        " / ",
    );
    SendInject {
        inject: Slug::parse(INJECT).unwrap_or_else(|_| s.id.clone()),
        at: s.duration,
        alert: Some(NewAlert {
            title: truncate(&title, 200),
            body,
            tlp: ciphub_domain::report::Tlp::Green,
            audience: inject_audience(&recipients),
            clients_permitted: false,
            ack_within: None,
            exercise: true,
            reports: Vec::new(),
            incidents: Vec::new(),
            relay_of: None,
            relay_note: None,
            attachments: Vec::new(),
            email,
        }),
        report: None,
        recipients,
    }
}

/// At most `max` characters.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Waits out the rest of `sleep`, waking only for the events the engine cares about.
async fn continue_quiet(
    events: &mut tokio::sync::broadcast::Receiver<ciphub_store::Event>,
    sleep: Duration,
) {
    let deadline = tokio::time::Instant::now() + sleep;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            e = events.recv() => match e {
                Ok(ciphub_store::Event::Exercise { .. } | ciphub_store::Event::Ack { .. }) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
            }
        }
    }
}

/// Plays runs until the server stops: after each round it sleeps until the next inject or
/// start falls due, at most `POLL`, and wakes early when a run changes.
pub async fn work(store: Store, email: bool) {
    let engine = Engine::default();
    let mut events = store.subscribe();
    loop {
        let wake = match engine.play(&store, email).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "exercise engine");
                None
            }
        };
        let sleep = wake
            .map(|w| (w - store.clock().now()).to_std().unwrap_or_default())
            .unwrap_or(POLL)
            .min(POLL);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            e = events.recv() => match e {
                // An act a waiting inject may be waiting for, or a run that changed.
                Ok(ciphub_store::Event::Exercise { .. } | ciphub_store::Event::Ack { .. }) => {}
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue_quiet(&mut events, sleep).await,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => tokio::time::sleep(POLL).await,
            }
        }
    }
}
