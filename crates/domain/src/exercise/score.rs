//! Scoring a run: what each organization did (acknowledged, reported, relayed, answered; when,
//! at which level) against the scenario's expectations.
//!
//! An organization meets an expectation when its first act of the kind asked on the inject,
//! at an acceptable level, comes after the inject arrived and by the deadline (`within` after
//! the arrival). It is late when that act comes after the deadline, wrong when it acted only
//! at levels the expectation does not accept, and missing when it did not act. An `all`
//! expectation is met when every organization of its team meets it, an `any` expectation when
//! one does; a team earns the points of the expectations it meets, and so does the run. Each
//! organization earns the points of each expectation of its teams that it met itself, of the
//! points of all of them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Act, Expectation, LevelRule, Rule, Scenario};
use crate::slug::Slug;

/// One thing an organization did in a run, at exercise time from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub org: Slug,
    pub act: Act,
    pub inject: Slug,
    pub at: Duration,
    /// The severity level of a report or relay.
    pub level: Option<u8>,
}

/// How an organization stands on one expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Met,
    Late,
    Wrong,
    Missing,
}

/// One expectation's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationResult {
    pub id: Slug,
    pub team: Slug,
    pub met: bool,
    pub points: u32,
    /// Each organization of the team and how it stands.
    pub outcomes: BTreeMap<Slug, Outcome>,
}

/// Points earned of points possible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub earned: u32,
    pub possible: u32,
}

impl Tally {
    fn add(&mut self, earned: bool, points: u32) {
        self.possible += points;
        if earned {
            self.earned += points;
        }
    }
}

/// A run's scores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scores {
    pub expectations: Vec<ExpectationResult>,
    pub teams: BTreeMap<Slug, Tally>,
    pub organizations: BTreeMap<Slug, Tally>,
    pub overall: Tally,
}

/// Whether a level meets a rule, for an inject whose official level is `official`.
fn level_ok(rule: LevelRule, level: Option<u8>, official: Option<u8>) -> bool {
    match rule {
        LevelRule::Any => true,
        LevelRule::Official => level.is_some() && level == official,
        LevelRule::AtLeast(n) => level.is_some_and(|l| l >= n),
    }
}

/// A run's events by organization, act and inject: each expectation reads only its own.
type Index<'a> = HashMap<(&'a Slug, Act, &'a Slug), Vec<&'a Event>>;

/// How `org` stands on `e`, for an inject that arrived at `arrived` (never, when `None`).
fn outcome(
    e: &Expectation,
    org: &Slug,
    arrived: Option<Duration>,
    official: Option<u8>,
    index: &Index<'_>,
) -> Outcome {
    let Some(arrived) = arrived else {
        return Outcome::Missing;
    };
    let deadline = arrived + e.within;
    let mut acted = false;
    let mut first_ok: Option<Duration> = None;
    for ev in index
        .get(&(org, e.act, &e.inject))
        .into_iter()
        .flatten()
        .filter(|ev| ev.at >= arrived)
    {
        acted = true;
        if level_ok(e.level, ev.level, official) {
            first_ok = Some(first_ok.map_or(ev.at, |t| t.min(ev.at)));
        }
    }
    match first_ok {
        Some(t) if t <= deadline => Outcome::Met,
        Some(_) => Outcome::Late,
        None if acted => Outcome::Wrong,
        None => Outcome::Missing,
    }
}

/// Scores a run: `members` gives each team's organizations, `arrived` when each inject
/// arrived (exercise time; absent when it never did), `events` what organizations did.
pub fn score(
    s: &Scenario,
    members: &BTreeMap<Slug, Vec<Slug>>,
    arrived: &BTreeMap<Slug, Duration>,
    events: &[Event],
) -> Scores {
    let mut teams: BTreeMap<Slug, Tally> = BTreeMap::new();
    let mut organizations: BTreeMap<Slug, Tally> = BTreeMap::new();
    let mut overall = Tally::default();
    let mut results = Vec::new();
    let mut index: Index<'_> = HashMap::new();
    for ev in events {
        index
            .entry((&ev.org, ev.act, &ev.inject))
            .or_default()
            .push(ev);
    }
    for e in &s.expectations {
        let official = s
            .inject(&e.inject)
            .and_then(|i| i.official.as_ref())
            .map(|o| o.level);
        let orgs = members.get(&e.team).map(Vec::as_slice).unwrap_or_default();
        let outcomes: BTreeMap<Slug, Outcome> = orgs
            .iter()
            .map(|o| {
                let at = arrived.get(&e.inject).copied();
                (o.clone(), outcome(e, o, at, official, &index))
            })
            .collect();
        let met = !outcomes.is_empty()
            && match e.rule {
                Rule::All => outcomes.values().all(|o| *o == Outcome::Met),
                Rule::Any => outcomes.values().any(|o| *o == Outcome::Met),
            };
        teams.entry(e.team.clone()).or_default().add(met, e.points);
        overall.add(met, e.points);
        for (org, o) in &outcomes {
            organizations
                .entry(org.clone())
                .or_default()
                .add(*o == Outcome::Met, e.points);
        }
        results.push(ExpectationResult {
            id: e.id.clone(),
            team: e.team.clone(),
            met,
            points: e.points,
            outcomes,
        });
    }
    Scores {
        expectations: results,
        teams,
        organizations,
        overall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    /// Met, late, wrong and missing, for all and any rules, on a hand-built run.
    #[test]
    fn each_outcome_is_told_apart() {
        let s = Scenario::shipped("water-ot-intrusion").unwrap().unwrap();
        let ops = vec![slug("op-a"), slug("op-b"), slug("op-c")];
        let members: BTreeMap<Slug, Vec<Slug>> = [
            (slug("water-operators"), ops.clone()),
            (slug("water-ceptoar"), vec![slug("water-ceptoar")]),
        ]
        .into();
        let m = |n: u64| Duration::from_secs(n * 60);
        let arrived: BTreeMap<Slug, Duration> = [
            (slug("hmi-tampered"), m(0)),
            (slug("ot-report"), m(30)),
            (slug("remote-access-alert"), m(50)),
        ]
        .into();
        let official = s
            .inject(&slug("ot-report"))
            .unwrap()
            .official
            .as_ref()
            .unwrap()
            .level;
        let ev = |org: &str, act: Act, inject: &str, at: Duration, level: Option<u8>| Event {
            org: slug(org),
            act,
            inject: slug(inject),
            at,
            level,
        };
        let events = vec![
            // call-report (any, 1h): op-b reports in time.
            ev("op-b", Act::Report, "hmi-tampered", m(20), Some(2)),
            // relay-official (1h from 30m): a wrong level first, then the official one late.
            ev(
                "water-ceptoar",
                Act::Relay,
                "ot-report",
                m(40),
                Some(official - 1),
            ),
            ev(
                "water-ceptoar",
                Act::Relay,
                "ot-report",
                m(95),
                Some(official),
            ),
            // alert-ack (all, 30m from 50m): a in time, b late, c never; one before arrival.
            ev("op-a", Act::Acknowledge, "remote-access-alert", m(60), None),
            ev("op-b", Act::Acknowledge, "remote-access-alert", m(85), None),
            ev("op-c", Act::Acknowledge, "remote-access-alert", m(45), None),
        ];
        let scores = score(&s, &members, &arrived, &events);
        let outcome = |e: &str, org: &str| {
            scores
                .expectations
                .iter()
                .find(|r| r.id.as_str() == e)
                .unwrap()
                .outcomes[&slug(org)]
        };
        assert_eq!(outcome("call-report", "op-b"), Outcome::Met);
        assert_eq!(outcome("call-report", "op-a"), Outcome::Missing);
        assert_eq!(outcome("relay-official", "water-ceptoar"), Outcome::Late);
        assert_eq!(outcome("alert-ack", "op-a"), Outcome::Met);
        assert_eq!(outcome("alert-ack", "op-b"), Outcome::Late);
        assert_eq!(
            outcome("alert-ack", "op-c"),
            Outcome::Missing,
            "acted before it arrived"
        );
        let met: Vec<bool> = scores.expectations.iter().map(|r| r.met).collect();
        assert_eq!(met, vec![true, false, false]);
        assert_eq!(
            scores.overall,
            Tally {
                earned: 20,
                possible: 50
            }
        );
        assert_eq!(
            scores.teams[&slug("water-operators")],
            Tally {
                earned: 20,
                possible: 30
            }
        );
        // op-b met the report (20) but not the acknowledgement (10).
        assert_eq!(
            scores.organizations[&slug("op-b")],
            Tally {
                earned: 20,
                possible: 30
            }
        );
        // A relay at a wrong level only is wrong, not missing.
        let wrong_only = score(&s, &members, &arrived, &events[1..2]);
        assert_eq!(
            wrong_only.expectations[1].outcomes[&slug("water-ceptoar")],
            Outcome::Wrong
        );
    }
}
