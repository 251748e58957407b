//! Simulated participants playing a stored run over the real channels, for self-study and
//! tests (`ciphub exercise run --simulate`): each organization of a team does what the seeded
//! rule of `ciphub_domain::exercise::simulate::plan` says, when it says, through the same
//! store operations the API and pages use: it acknowledges the alert in its inbox, files a
//! report in the run, relays the simulated report with its own assessment, or answers a
//! request. The run is scored from what the store then holds, as for people.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ciphub_domain::Slug;
use ciphub_domain::alert::OrgFacts;
use ciphub_domain::exercise::Act;
use ciphub_domain::exercise::simulate::{Mix, plan};
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::report::{Cause, Formation, NewReport, StageDeadlines};
use ciphub_domain::severity::shipped_schema;
use ciphub_store::{By, Reassessment, RunRecord, Store, StoreError, UserRecord};

use super::Engine;

/// The user name simulated participants act under.
pub const SIMULATED_USER: &str = "simulated-participant";

/// One act a simulated organization has yet to do.
#[derive(Clone, Debug)]
struct Planned {
    org: Slug,
    act: Act,
    inject: Slug,
    at: Duration,
    level: Option<u8>,
}

/// Plays run `id` to its end with simulated participants (and the engine, so no server is
/// needed), then returns it finished, with its scores.
pub async fn play(
    store: &Store,
    engine: &Engine,
    id: i64,
    mix: Mix,
    email: bool,
) -> Result<RunRecord, StoreError> {
    let run = store.run(id).await?;
    let seed = run.seed.unwrap_or(0);
    let members = store.run_members(id).await?;
    let (_, orgs) = store.community().await?;
    let facts: BTreeMap<&Slug, &OrgFacts> = orgs.iter().map(|o| (&o.slug, o)).collect();
    let mut planned_for: BTreeSet<usize> = BTreeSet::new();
    let mut pending: Vec<Planned> = Vec::new();
    loop {
        let wake = engine.play_run(store, id, email).await?;
        let run = store.run(id).await?;
        if run.state.is_over() {
            return Ok(run);
        }
        let s = engine.scenario(&run)?;
        let sent = store.run_sent(id).await?;
        for (k, e) in s.expectations.iter().enumerate() {
            let Some(&arrived) = sent.get(&e.inject) else {
                continue;
            };
            if !planned_for.insert(k) {
                continue;
            }
            for org in members.get(&e.team).into_iter().flatten() {
                if let Some((at, level)) = plan(&s, e, org, arrived, seed, mix) {
                    pending.push(Planned {
                        org: org.clone(),
                        act: e.act,
                        inject: e.inject.clone(),
                        at,
                        level,
                    });
                }
            }
        }
        pending.sort_by_key(|p| p.at);
        let now_x = run.exercise_now(store.clock().now());
        let ready = pending.iter().take_while(|p| p.at <= now_x).count();
        if ready > 0 {
            let items = store.run_sent_items(id).await?;
            for p in pending.drain(..ready) {
                let Some(org) = facts.get(&p.org) else {
                    continue;
                };
                let sent = items.get(&p.inject).copied().unwrap_or((None, None));
                act(store, &run, &s, org, &p, sent).await?;
            }
        }
        // Sleep until the next act, the engine's next moment, or a short while.
        let mut sleep = super::POLL / 10;
        if let Some(next) = pending.first().and_then(|p| run.clock.real_at(p.at)) {
            let until = ciphub_store::clock::from_us(next) - store.clock().now();
            sleep = sleep.min(until.to_std().unwrap_or_default());
        }
        if let Some(w) = wake {
            sleep = sleep.min((w - store.clock().now()).to_std().unwrap_or_default());
        }
        tokio::time::sleep(sleep).await;
    }
}

/// A participant of `org` as the store sees a user (it is not a stored account).
fn participant(org: &OrgFacts) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: 0,
        name: UserName::parse(SIMULATED_USER)?,
        display_name: "Simulated participant".into(),
        org: org.slug.clone(),
        org_kind: org.kind,
        roles: [Role::Reporter].into(),
        disabled: false,
        created: chrono::Utc::now(),
    })
}

/// Does one planned act.
async fn act(
    store: &Store,
    run: &RunRecord,
    s: &ciphub_domain::exercise::Scenario,
    org: &OrgFacts,
    p: &Planned,
    (alert, report): (Option<i64>, Option<i64>),
) -> Result<(), StoreError> {
    let user = participant(org)?;
    let schema = shipped_schema(&s.schema).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let answers_for = |level: Option<u8>| {
        level.and_then(|l| schema.answers_for(l)).map(|answers| {
            let a = schema.assess(&answers).ok();
            (answers, a)
        })
    };
    match p.act {
        Act::Acknowledge => {
            if let Some(alert) = alert {
                store.ack_alert(alert, &user).await?;
            }
        }
        Act::Reply => {
            store
                .reply_to_inject(
                    run.id,
                    &p.inject,
                    &org.slug,
                    SIMULATED_USER,
                    "Simulated answer.",
                    &By::actor(&user.actor()),
                )
                .await?;
        }
        Act::Report => {
            let Some((answers, Some(a))) = answers_for(p.level.or(Some(1))) else {
                return Ok(());
            };
            let inject = s.inject(&p.inject);
            let sectors = match inject.map(|i| i.sectors.clone()) {
                Some(v) if !v.is_empty() => v,
                _ => org.sectors.iter().take(1).cloned().collect(),
            };
            let new = NewReport {
                title: format!(
                    "Simulated report on {}",
                    inject.map_or(p.inject.as_str(), |i| i.title.en.as_str())
                )
                .chars()
                .take(200)
                .collect(),
                description: "Filed by a simulated participant.".into(),
                sectors,
                services: Vec::new(),
                cause: Cause::Cyberattack,
                scope: BTreeSet::new(),
                detected: store.clock().now(),
                occurred: None,
                schema: s.schema.clone(),
                answers,
                level: a.level,
                emergency: a.emergency,
                score: a.score,
                tlp: ciphub_domain::report::Tlp::Amber,
                formation: Formation::Ministry,
                via: None,
                consent_named: false,
            };
            store
                .file_report_in(
                    &user,
                    &new,
                    StageDeadlines::default(),
                    Some((run.id, &p.inject)),
                )
                .await?;
        }
        Act::Relay => {
            let (Some(source), Some((answers, Some(a)))) = (report, answers_for(p.level)) else {
                return Ok(());
            };
            let source = store.report(source).await?;
            store
                .relay_report(
                    &source,
                    &user,
                    &source.title,
                    "Relayed by a simulated secretariat.",
                    &[],
                    Some(&Reassessment {
                        answers,
                        level: a.level,
                        emergency: a.emergency,
                        score: a.score,
                    }),
                )
                .await?;
        }
    }
    Ok(())
}
