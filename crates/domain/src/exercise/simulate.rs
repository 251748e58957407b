//! Simulated participants, for self-study and tests: each organization of a team answers each
//! expectation correctly, late, wrongly or not at all, by a rule seeded so that a run can be
//! repeated and its scores computed independently.
//!
//! A correct participant acts half-way to the deadline at the level asked (the official level,
//! or the least level accepted); a late one acts half the allowed time after the deadline; a
//! wrong one acts in time at a level the expectation does not accept (one below the level
//! asked, or one off the official level), or, where no level is asked, does nothing; a silent
//! one does nothing. Injects arrive at their time, or `at` after the first organization of the
//! team they wait for has done what they wait for; nothing arrives or happens after the end of
//! the exercise.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::score::Event;
use super::{Act, Expectation, LevelRule, Scenario};
use crate::slug::Slug;

/// What a simulated organization does about one expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Correct,
    Late,
    Wrong,
    Silent,
}

/// The shares of behaviours, in percent; the rest are silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub correct: u8,
    pub late: u8,
    pub wrong: u8,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            correct: 60,
            late: 15,
            wrong: 15,
        }
    }
}

/// The behaviour of `org` on `expectation` under `seed`: the same every time.
pub fn behaviour(seed: u64, org: &Slug, expectation: &Slug, mix: Mix) -> Behaviour {
    let mut h = Sha256::new();
    h.update(seed.to_be_bytes());
    h.update(org.as_str().as_bytes());
    h.update([0]);
    h.update(expectation.as_str().as_bytes());
    let digest = h.finalize();
    let roll = u16::from_be_bytes([digest[0], digest[1]]) % 100;
    let (c, l, w) = (
        u16::from(mix.correct),
        u16::from(mix.late),
        u16::from(mix.wrong),
    );
    if roll < c {
        Behaviour::Correct
    } else if roll < c + l {
        Behaviour::Late
    } else if roll < c + l + w {
        Behaviour::Wrong
    } else {
        Behaviour::Silent
    }
}

/// What a simulated run did: when each inject arrived, and every act.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simulation {
    pub arrived: BTreeMap<Slug, Duration>,
    pub events: Vec<Event>,
}

/// The level a correct act has, and a wrong one (none where no level is asked).
fn levels(rule: LevelRule, official: Option<u8>, act: Act) -> (Option<u8>, Option<u8>) {
    let leveled = matches!(act, Act::Report | Act::Relay);
    match rule {
        LevelRule::Official => {
            let o = official.unwrap_or(1);
            (Some(o), Some(if o > 1 { o - 1 } else { o + 1 }))
        }
        LevelRule::AtLeast(n) => (Some(n), Some(n.saturating_sub(1))),
        LevelRule::Any if leveled => (Some(official.unwrap_or(1)), None),
        LevelRule::Any => (None, None),
    }
}

/// What simulated `org` does about expectation `e` of `s`, whose inject arrived at `arrived`:
/// when it acts (exercise time) and at which level, or `None` when it does nothing (silent, or
/// wrong where no level is asked, or too late for the exercise).
pub fn plan(
    s: &Scenario,
    e: &Expectation,
    org: &Slug,
    arrived: Duration,
    seed: u64,
    mix: Mix,
) -> Option<(Duration, Option<u8>)> {
    let official = s
        .inject(&e.inject)
        .and_then(|i| i.official.as_ref())
        .map(|o| o.level);
    let (right, wrong) = levels(e.level, official, e.act);
    let (at, level) = match behaviour(seed, org, &e.id, mix) {
        Behaviour::Correct => (arrived + e.within / 2, right),
        Behaviour::Late => (arrived + e.within + e.within / 2, right),
        Behaviour::Wrong => (arrived + e.within / 2, Some(wrong?)),
        Behaviour::Silent => return None,
    };
    (at < s.duration).then_some((at, level))
}

/// Runs `s` with simulated participants: `members` gives each team's organizations.
pub fn simulate(
    s: &Scenario,
    members: &BTreeMap<Slug, Vec<Slug>>,
    seed: u64,
    mix: Mix,
) -> Simulation {
    let mut sim = Simulation::default();
    for i in s.injects.iter().filter(|i| i.after.is_none()) {
        if i.at < s.duration {
            sim.arrived.insert(i.id.clone(), i.at);
        }
    }
    let mut done: Vec<bool> = vec![false; s.expectations.len()];
    // Each pass acts on the expectations whose inject has arrived, then lets waiting injects
    // arrive; a scenario's chain of waits is at most as long as its injects.
    for _ in 0..=s.injects.len() {
        for (k, e) in s.expectations.iter().enumerate() {
            let Some(&arrived) = sim.arrived.get(&e.inject) else {
                continue;
            };
            if std::mem::replace(&mut done[k], true) {
                continue;
            }
            for org in members.get(&e.team).into_iter().flatten() {
                if let Some((at, level)) = plan(s, e, org, arrived, seed, mix) {
                    sim.events.push(Event {
                        org: org.clone(),
                        act: e.act,
                        inject: e.inject.clone(),
                        at,
                        level,
                    });
                }
            }
        }
        for i in &s.injects {
            let Some(a) = &i.after else { continue };
            if sim.arrived.contains_key(&i.id) {
                continue;
            }
            let team: HashSet<&Slug> = members.get(&a.team).into_iter().flatten().collect();
            let first = sim
                .events
                .iter()
                .filter(|ev| ev.act == a.act && ev.inject == a.inject && team.contains(&ev.org))
                .map(|ev| ev.at)
                .min();
            if let Some(t) = first
                && t + i.at < s.duration
            {
                sim.arrived.insert(i.id.clone(), t + i.at);
            }
        }
    }
    sim.events
        .sort_by(|a, b| (a.at, &a.org).cmp(&(b.at, &b.org)));
    sim
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::score::{Outcome, score};
    use crate::exercise::{SHIPPED_SCENARIOS, Scenario};

    /// Four organizations a team (one for a team of one named organization).
    fn members(s: &Scenario) -> BTreeMap<Slug, Vec<Slug>> {
        s.teams
            .iter()
            .map(|t| {
                let n = if t.organizations.len() == 1 { 1 } else { 4 };
                let orgs = (0..n)
                    .map(|k| Slug::parse(&format!("{}-{k}", t.id.as_str())).unwrap())
                    .collect();
                (t.id.clone(), orgs)
            })
            .collect()
    }

    /// Every shipped scenario, simulated under several seeds, scores what the behaviours
    /// imply, computed here without the simulation's events or the scorer.
    #[test]
    fn simulated_runs_score_what_their_behaviour_implies() {
        let mix = Mix::default();
        // What the runs covered: waiting injects that came and that did not, and scores
        // between nothing and everything.
        let (mut waited, mut never, mut partial) = (0, 0, 0);
        for (id, _) in SHIPPED_SCENARIOS {
            let s = Scenario::shipped(id).unwrap().unwrap();
            let teams = members(&s);
            for seed in [1_u64, 7, 2026] {
                // When each act of a correct, late or wrong participant happens, if it does.
                let act_at = |e: &crate::exercise::Expectation, org: &Slug, t0: Duration| {
                    let asks_level = !matches!(e.level, LevelRule::Any);
                    let at = match behaviour(seed, org, &e.id, mix) {
                        Behaviour::Correct => Some(t0 + e.within / 2),
                        Behaviour::Late => Some(t0 + e.within * 3 / 2),
                        Behaviour::Wrong if asks_level => Some(t0 + e.within / 2),
                        Behaviour::Wrong | Behaviour::Silent => None,
                    };
                    at.filter(|t| *t < s.duration)
                };
                // Arrivals: fixed times, then waits resolved until nothing changes.
                let mut arrived: BTreeMap<Slug, Duration> = s
                    .injects
                    .iter()
                    .filter(|i| i.after.is_none() && i.at < s.duration)
                    .map(|i| (i.id.clone(), i.at))
                    .collect();
                loop {
                    let mut changed = false;
                    for i in &s.injects {
                        let Some(a) = &i.after else { continue };
                        if arrived.contains_key(&i.id) {
                            continue;
                        }
                        let Some(&t0) = arrived.get(&a.inject) else {
                            continue;
                        };
                        let first = s
                            .expectations
                            .iter()
                            .filter(|e| e.team == a.team && e.act == a.act && e.inject == a.inject)
                            .flat_map(|e| {
                                teams[&e.team].iter().filter_map(move |o| act_at(e, o, t0))
                            })
                            .min();
                        if let Some(t) = first.filter(|t| *t + i.at < s.duration) {
                            arrived.insert(i.id.clone(), t + i.at);
                            changed = true;
                        }
                    }
                    if !changed {
                        break;
                    }
                }
                let mut expected_points = 0;
                let sim = simulate(&s, &teams, seed, mix);
                assert_eq!(sim.arrived, arrived, "{id} seed {seed}: arrivals");
                let scores = score(&s, &teams, &sim.arrived, &sim.events);
                for (e, got) in s.expectations.iter().zip(&scores.expectations) {
                    let outcomes: Vec<Outcome> = teams[&e.team]
                        .iter()
                        .map(|org| {
                            let Some(&t0) = arrived.get(&e.inject) else {
                                return Outcome::Missing;
                            };
                            match (behaviour(seed, org, &e.id, mix), act_at(e, org, t0)) {
                                (_, None) => Outcome::Missing,
                                (Behaviour::Correct, Some(_)) => Outcome::Met,
                                (Behaviour::Late, Some(_)) => Outcome::Late,
                                (_, Some(_)) => Outcome::Wrong,
                            }
                        })
                        .collect();
                    let met = match e.rule {
                        crate::exercise::Rule::All => outcomes.iter().all(|o| *o == Outcome::Met),
                        crate::exercise::Rule::Any => outcomes.contains(&Outcome::Met),
                    };
                    assert_eq!(
                        got.outcomes.values().copied().collect::<Vec<_>>(),
                        outcomes,
                        "{id} seed {seed}: {}",
                        e.id
                    );
                    assert_eq!(got.met, met, "{id} seed {seed}: {}", e.id);
                    if met {
                        expected_points += e.points;
                    }
                }
                assert_eq!(scores.overall.earned, expected_points, "{id} seed {seed}");
                assert_eq!(scores.overall.possible, s.total_points());
                for i in s.injects.iter().filter(|i| i.after.is_some()) {
                    if arrived.contains_key(&i.id) {
                        waited += 1;
                    } else {
                        never += 1;
                    }
                }
                if expected_points > 0 && expected_points < s.total_points() {
                    partial += 1;
                }
            }
        }
        assert!(
            waited > 0 && never > 0,
            "waits that came {waited}, that did not {never}"
        );
        assert!(partial > 0, "no run scored between nothing and everything");
    }

    /// Every behaviour occurs in the default mix, in the share it is given.
    #[test]
    fn behaviours_follow_the_mix() {
        let e = Slug::parse("ack").unwrap();
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for k in 0..10_000 {
            let org = Slug::parse(&format!("op-{k}")).unwrap();
            let b = match behaviour(42, &org, &e, Mix::default()) {
                Behaviour::Correct => "correct",
                Behaviour::Late => "late",
                Behaviour::Wrong => "wrong",
                Behaviour::Silent => "silent",
            };
            *counts.entry(b).or_default() += 1;
        }
        for (b, share) in [("correct", 60), ("late", 15), ("wrong", 15), ("silent", 10)] {
            let got = counts[b] / 100;
            assert!(got.abs_diff(share) <= 2, "{b}: {got}% for {share}%");
        }
    }
}
