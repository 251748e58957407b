//! Playing a scenario: a run's states and what moves it, its clock (real time to exercise
//! time, across pauses and at the run's speed), and which injects are due at an instant.
//!
//! A run is scheduled, then running; it can be paused and resumed, cancelled before it ends,
//! and it finishes when its exercise time reaches the scenario's duration. Exercise time
//! moves only while the run is running, `speed` times as fast as real time.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::Scenario;
use super::score::Event;
use crate::slug::Slug;

/// The fastest a run may be played: a week of exercise time in about ten minutes.
pub const MAX_SPEED: u32 = 1000;

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    Scheduled,
    Running,
    Paused,
    Cancelled,
    Finished,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Scheduled => "scheduled",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Cancelled => "cancelled",
            RunState::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RunState::Scheduled,
            RunState::Running,
            RunState::Paused,
            RunState::Cancelled,
            RunState::Finished,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether the run can change no more.
    pub fn is_over(self) -> bool {
        matches!(self, RunState::Cancelled | RunState::Finished)
    }

    /// The state `control` moves the run to, or why it cannot.
    pub fn apply(self, control: Control) -> Result<RunState, String> {
        use Control::*;
        use RunState::*;
        match (self, control) {
            (Scheduled, Start) => Ok(Running),
            (Running, Pause) => Ok(Paused),
            (Paused, Resume) => Ok(Running),
            (Scheduled | Running | Paused, Cancel) => Ok(Cancelled),
            (Running | Paused, Finish) => Ok(Finished),
            (state, control) => Err(format!(
                "a {} run cannot be {}",
                state.as_str(),
                control.past_tense()
            )),
        }
    }
}

/// What the controller (or the end of the scenario) does to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Start,
    Pause,
    Resume,
    Cancel,
    Finish,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Start => "start",
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Cancel => "cancel",
            Control::Finish => "finish",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Control::Start,
            Control::Pause,
            Control::Resume,
            Control::Cancel,
            Control::Finish,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    fn past_tense(self) -> &'static str {
        match self {
            Control::Start => "started",
            Control::Pause => "paused",
            Control::Resume => "resumed",
            Control::Cancel => "cancelled",
            Control::Finish => "finished",
        }
    }
}

/// A span of real time (microseconds since the epoch) the run was running, and the exercise
/// time it began at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub real_start_us: i64,
    /// `None` while the run is running.
    pub real_end_us: Option<i64>,
    pub exercise_start: Duration,
}

/// A run's clock: its speed and the spans it ran, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    pub speed: u32,
    pub spans: Vec<Span>,
}

impl Clock {
    /// The exercise time at a real instant: `None` before the run started; during a pause,
    /// the time it was paused at.
    pub fn exercise_at(&self, real_us: i64) -> Option<Duration> {
        let mut at = None;
        for s in &self.spans {
            if real_us < s.real_start_us {
                break;
            }
            let until = s.real_end_us.map_or(real_us, |e| e.min(real_us));
            let real = u64::try_from(until - s.real_start_us).unwrap_or(0);
            at = Some(s.exercise_start + Duration::from_micros(real) * self.speed.max(1));
        }
        at
    }

    /// The real instant the running span reaches exercise time `t` (`None` when the run is
    /// not running or `t` has passed).
    pub fn real_at(&self, t: Duration) -> Option<i64> {
        let last = self.spans.last()?;
        if last.real_end_us.is_some() || t < last.exercise_start {
            return None;
        }
        let real = (t - last.exercise_start) / self.speed.max(1);
        Some(last.real_start_us + i64::try_from(real.as_micros()).unwrap_or(i64::MAX / 2))
    }
}

/// The injects due at exercise time `now` and not yet sent, each with the exercise time it
/// was due at: those on the timeline whose time has come, and those waiting for a team's act
/// that has happened. `sent` holds when each sent inject arrived; `members` each team's
/// organizations; `events` what they did. Nothing is due at or after the end.
pub fn due(
    s: &Scenario,
    now: Duration,
    sent: &BTreeMap<Slug, Duration>,
    members: &BTreeMap<Slug, Vec<Slug>>,
    events: &[Event],
) -> Vec<(Slug, Duration)> {
    let mut out = Vec::new();
    for i in s.injects.iter().filter(|i| !sent.contains_key(&i.id)) {
        let at = match &i.after {
            None => Some(i.at),
            Some(a) => {
                let Some(&arrived) = sent.get(&a.inject) else {
                    continue;
                };
                let team: HashSet<&Slug> = members.get(&a.team).into_iter().flatten().collect();
                events
                    .iter()
                    .filter(|e| {
                        e.act == a.act
                            && e.inject == a.inject
                            && e.at >= arrived
                            && team.contains(&e.org)
                    })
                    .map(|e| e.at)
                    .min()
                    .map(|t| t + i.at)
            }
        };
        if let Some(at) = at
            && at <= now
            && at < s.duration
        {
            out.push((i.id.clone(), at));
        }
    }
    out
}

/// The soonest exercise time an inject not yet sent falls due without waiting for anyone
/// (`None` when none will).
pub fn next_due(s: &Scenario, sent: &BTreeMap<Slug, Duration>) -> Option<Duration> {
    s.injects
        .iter()
        .filter(|i| i.after.is_none() && !sent.contains_key(&i.id) && i.at < s.duration)
        .map(|i| i.at)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::Act;

    fn clock(spans: &[(i64, Option<i64>, u64)]) -> Clock {
        Clock {
            speed: 60,
            spans: spans
                .iter()
                .map(|&(s, e, x)| Span {
                    real_start_us: s,
                    real_end_us: e,
                    exercise_start: Duration::from_secs(x),
                })
                .collect(),
        }
    }

    #[test]
    fn exercise_time_moves_only_while_running_at_its_speed() {
        let sec = 1_000_000;
        // Ran 10 s (10 min of exercise), paused 100 s, running again since.
        let c = clock(&[(0, Some(10 * sec), 0), (110 * sec, None, 600)]);
        assert_eq!(c.exercise_at(-1), None);
        assert_eq!(c.exercise_at(5 * sec), Some(Duration::from_secs(300)));
        assert_eq!(c.exercise_at(50 * sec), Some(Duration::from_secs(600)));
        assert_eq!(c.exercise_at(111 * sec), Some(Duration::from_secs(660)));
        assert_eq!(c.real_at(Duration::from_secs(720)), Some(112 * sec));
        assert_eq!(c.real_at(Duration::from_secs(60)), None);
        let paused = clock(&[(0, Some(10 * sec), 0)]);
        assert_eq!(paused.real_at(Duration::from_secs(900)), None);
    }

    #[test]
    fn states_move_only_as_a_controller_expects() {
        use Control::*;
        use RunState::*;
        assert_eq!(Scheduled.apply(Start), Ok(Running));
        assert_eq!(Running.apply(Pause), Ok(Paused));
        assert_eq!(Paused.apply(Resume), Ok(Running));
        assert_eq!(Paused.apply(Cancel), Ok(Cancelled));
        assert_eq!(
            Finished.apply(Resume),
            Err("a finished run cannot be resumed".into())
        );
        assert_eq!(
            Running.apply(Start),
            Err("a running run cannot be started".into())
        );
        assert!(Scheduled.apply(Pause).is_err());
        for s in [Scheduled, Running, Paused, Cancelled, Finished] {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_waiting_inject_falls_due_after_the_act_it_waits_for() {
        let s = Scenario::shipped("water-ot-intrusion").unwrap().unwrap();
        let slug = |t: &str| Slug::parse(t).unwrap();
        let members: BTreeMap<Slug, Vec<Slug>> = [
            (slug("water-operators"), vec![slug("w1"), slug("w2")]),
            (slug("water-ceptoar"), vec![slug("water-ceptoar")]),
        ]
        .into();
        let min = |m: u64| Duration::from_secs(m * 60);
        let mut sent = BTreeMap::new();
        let first = due(&s, min(0), &sent, &members, &[]);
        assert_eq!(first, vec![(slug("hmi-tampered"), min(0))]);
        sent.insert(slug("hmi-tampered"), min(0));
        assert_eq!(due(&s, min(29), &sent, &members, &[]), vec![]);
        assert_eq!(next_due(&s, &sent), Some(min(30)));
        sent.insert(slug("ot-report"), min(31));
        // A relay by someone outside the team does not count; the team's does, plus 10 min.
        let mut events = vec![Event {
            org: slug("w1"),
            act: Act::Relay,
            inject: slug("ot-report"),
            at: min(40),
            level: Some(3),
        }];
        assert_eq!(due(&s, min(300), &sent, &members, &events), vec![]);
        events.push(Event {
            org: slug("water-ceptoar"),
            ..events[0].clone()
        });
        assert_eq!(due(&s, min(49), &sent, &members, &events), vec![]);
        assert_eq!(
            due(&s, min(50), &sent, &members, &events),
            vec![(slug("remote-access-alert"), min(50))]
        );
        assert_eq!(next_due(&s, &sent), None);
    }
}
