//! Who may run an exercise, who sees what of a run, and what a run's scores show to whom.
//!
//! Organizations that may send alerts run exercises over the organizations they could alert;
//! any organization's admins and coordinators may run one over their own organization alone
//! (self-study). The owner's controllers see the whole run; a participant sees the run, its
//! own organization's outcomes and its teams' points, never another organization's.
//!
//! Anonymity holds inside exercises: where an organization reported anonymously on an
//! expectation, no one but that organization and the secretariat relaying it learns which
//! organization of the team it was. Such an expectation shows every other viewer only whether
//! the team met it, and it counts in no single organization's points for them.

use std::collections::{BTreeMap, BTreeSet};

use super::Actor;
use super::alerts::may_send;
use crate::exercise::score::{Outcome, Scores, Tally};
use crate::exercise::{Act, Scenario};
use crate::identity::Role;
use crate::slug::Slug;

/// Whether `actor` may create a run whose teams hold `members`; the reason when not.
pub fn may_run(actor: &Actor, members: &BTreeSet<Slug>) -> Result<(), String> {
    if may_send(actor.org_kind, &actor.roles) {
        return Ok(());
    }
    let manager = actor.has(Role::Admin) || actor.has(Role::Coordinator);
    if manager && members.iter().all(|m| m == &actor.org) {
        return Ok(());
    }
    Err(if manager {
        "your organization may run exercises over itself only: choose teams that name your organization alone".into()
    } else {
        "running an exercise takes an analyst, coordinator, secretariat or admin of an organization that sends alerts, or an admin of the organization it is run over".into()
    })
}

/// Whether `actor` controls a run owned by `owner`: starts, pauses, resumes, cancels it and
/// sees all of it.
pub fn may_control(actor: &Actor, owner: &Slug) -> bool {
    &actor.org == owner
        && (may_send(actor.org_kind, &actor.roles)
            || actor.has(Role::Admin)
            || actor.has(Role::Coordinator))
}

/// How one viewer may see a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunView {
    /// The owner's controller: every organization's outcomes (anonymity aside).
    Controller,
    /// A participant organization: its own outcomes and its teams' points.
    Participant,
}

/// The view `actor` has of a run owned by `owner` whose members are `members`; none (the run
/// is not theirs to know of, and is answered as not found).
pub fn run_view(actor: &Actor, owner: &Slug, members: &BTreeSet<Slug>) -> Option<RunView> {
    if may_control(actor, owner) {
        Some(RunView::Controller)
    } else if members.contains(&actor.org) {
        Some(RunView::Participant)
    } else {
        None
    }
}

/// An anonymous report of a run: who filed it, on which inject, through which CEPTOAR.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnonymousAct {
    pub org: Slug,
    pub inject: Slug,
    pub via: Option<Slug>,
}

/// The scores as `viewer` (an organization) may see them through `view`:
/// - a participant sees only its own organization's outcomes and points, and only the teams
///   it is in;
/// - an expectation on which some organization reported anonymously shows its outcomes only
///   to that organization and to the secretariat relaying it; to everyone else it shows no
///   organization's outcome, and it counts in no organization's points.
pub fn scores_for(
    scores: &Scores,
    scenario: &Scenario,
    anonymous: &[AnonymousAct],
    viewer: &Slug,
    view: RunView,
    viewer_teams: &BTreeSet<Slug>,
) -> Scores {
    let mut out = scores.clone();
    // Expectations whose outcomes `viewer` may not see org by org.
    let mut hidden: BTreeSet<Slug> = BTreeSet::new();
    for e in &scores.expectations {
        let Some(x) = scenario.expectations.iter().find(|x| x.id == e.id) else {
            continue;
        };
        if x.act != Act::Report {
            continue;
        }
        let shielded = anonymous.iter().any(|a| {
            a.inject == x.inject
                && e.outcomes.contains_key(&a.org)
                && &a.org != viewer
                && a.via.as_ref() != Some(viewer)
        });
        if shielded {
            hidden.insert(e.id.clone());
        }
    }
    for e in &mut out.expectations {
        if hidden.contains(&e.id) {
            e.outcomes.clear();
        } else if view == RunView::Participant {
            e.outcomes.retain(|org, _| org == viewer);
        }
    }
    if view == RunView::Participant {
        out.expectations.retain(|e| viewer_teams.contains(&e.team));
        out.teams.retain(|t, _| viewer_teams.contains(t));
    }
    // Each organization's points again, without the hidden expectations.
    let mut orgs: BTreeMap<Slug, Tally> = BTreeMap::new();
    for e in &scores.expectations {
        if hidden.contains(&e.id) {
            continue;
        }
        for (org, o) in &e.outcomes {
            let t = orgs.entry(org.clone()).or_default();
            t.possible += e.points;
            if *o == Outcome::Met {
                t.earned += e.points;
            }
        }
    }
    if view == RunView::Participant {
        orgs.retain(|org, _| org == viewer);
    }
    out.organizations = orgs;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::score::Event;
    use crate::exercise::score::score;
    use crate::identity::UserName;
    use crate::registry::OrgKind;
    use std::time::Duration;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    fn actor(org: &str, kind: OrgKind, roles: &[Role]) -> Actor {
        Actor {
            user_id: 1,
            user: UserName::parse("someone").unwrap(),
            org: slug(org),
            org_kind: kind,
            roles: roles.iter().copied().collect(),
        }
    }

    #[test]
    fn senders_run_exercises_over_others_and_anyone_admin_over_itself() {
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Coordinator]);
        let op = actor("op-a", OrgKind::Operator, &[Role::Admin]);
        let reporter = actor("op-a", OrgKind::Operator, &[Role::Reporter]);
        let others: BTreeSet<Slug> = [slug("op-a"), slug("op-b")].into();
        let own: BTreeSet<Slug> = [slug("op-a")].into();
        assert!(may_run(&nisc, &others).is_ok());
        assert!(may_run(&op, &own).is_ok());
        assert!(
            may_run(&op, &others)
                .unwrap_err()
                .contains("over itself only")
        );
        assert!(may_run(&reporter, &own).is_err());
        assert!(may_control(&nisc, &slug("nisc")));
        assert!(!may_control(&nisc, &slug("op-a")));
        assert_eq!(
            run_view(&op, &slug("nisc"), &others),
            Some(RunView::Participant)
        );
        let outsider = actor("op-z", OrgKind::Operator, &[Role::Admin]);
        assert_eq!(run_view(&outsider, &slug("nisc"), &others), None);
    }

    /// A team of three where one operator reported anonymously: the controller and the
    /// other operators cannot tell which, from outcomes, points or elimination; the
    /// reporter and its secretariat can.
    #[test]
    fn an_anonymous_report_names_nobody_in_the_scores() {
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
            (slug("remote-access-alert"), m(60)),
        ]
        .into();
        let events = vec![
            Event {
                org: slug("op-b"),
                act: Act::Report,
                inject: slug("hmi-tampered"),
                at: m(10),
                level: Some(3),
            },
            Event {
                org: slug("op-a"),
                act: Act::Acknowledge,
                inject: slug("remote-access-alert"),
                at: m(70),
                level: None,
            },
        ];
        let full = score(&s, &members, &arrived, &events);
        let anonymous = vec![AnonymousAct {
            org: slug("op-b"),
            inject: slug("hmi-tampered"),
            via: Some(slug("water-ceptoar")),
        }];
        let call = slug("call-report");
        let result = |sc: &Scores| sc.expectations.iter().find(|e| e.id == call).cloned();
        let teams: BTreeSet<Slug> = [slug("water-operators")].into();
        let nisc = scores_for(
            &full,
            &s,
            &anonymous,
            &slug("nisc"),
            RunView::Controller,
            &BTreeSet::new(),
        );
        let r = result(&nisc).unwrap();
        assert!(r.met, "the team's result stays");
        assert!(r.outcomes.is_empty(), "{:?}", r.outcomes);
        // No organization's points differ by the report.
        let points: Vec<u32> = ops.iter().map(|o| nisc.organizations[o].possible).collect();
        assert!(points.iter().all(|p| *p == points[0]), "{points:?}");
        assert_eq!(nisc.organizations[&slug("op-b")].earned, 0);
        // Another operator sees no one's outcome on it either, nor others' elsewhere.
        let a = scores_for(
            &full,
            &s,
            &anonymous,
            &slug("op-a"),
            RunView::Participant,
            &teams,
        );
        assert!(result(&a).unwrap().outcomes.is_empty());
        assert_eq!(
            a.organizations.keys().collect::<Vec<_>>(),
            vec![&slug("op-a")]
        );
        assert!(
            a.expectations
                .iter()
                .all(|e| e.outcomes.keys().all(|o| o == &slug("op-a")))
        );
        assert!(!a.teams.contains_key(&slug("water-ceptoar")));
        // The reporter sees its own; the secretariat sees the team's.
        let b = scores_for(
            &full,
            &s,
            &anonymous,
            &slug("op-b"),
            RunView::Participant,
            &teams,
        );
        assert_eq!(result(&b).unwrap().outcomes[&slug("op-b")], Outcome::Met);
        let c = scores_for(
            &full,
            &s,
            &anonymous,
            &slug("water-ceptoar"),
            RunView::Controller,
            &BTreeSet::new(),
        );
        assert_eq!(result(&c).unwrap().outcomes[&slug("op-b")], Outcome::Met);
    }
}
