//! Exercise scenarios: what a cross-sectoral exercise is made of, read from a TOML file and
//! checked before anything runs.
//!
//! A scenario has objectives; teams, chosen from the registry by organization, kind and sector
//! (and within them by role); injects on a timeline relative to the start, some waiting for a
//! team to act on an earlier inject; and expectations, each a rule (all or any of a team) an
//! action must meet by a deadline, worth points. Official answers (a severity schema's answers
//! and the level they give) are the key reports are scored against. Every error names the
//! line of the file it is about. The format is documented in `exercises/README.md`; the
//! scenarios shipped with ciphub are `SHIPPED_SCENARIOS`.

pub mod lessons;
pub mod run;
pub mod score;
pub mod simulate;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::alert::OrgFacts;
use crate::identity::{Role, Roles};
use crate::registry::OrgKind;
use crate::report::Tlp;
use crate::severity::{Answers, shipped_schema};
use crate::slug::Slug;

/// The scenario library shipped with ciphub: (id, TOML text).
pub const SHIPPED_SCENARIOS: [(&str, &str); 4] = [
    (
        "power-outage-cascade",
        include_str!("../../../exercises/power-outage-cascade.toml"),
    ),
    (
        "hospital-ransomware",
        include_str!("../../../exercises/hospital-ransomware.toml"),
    ),
    (
        "finance-ddos-major-event",
        include_str!("../../../exercises/finance-ddos-major-event.toml"),
    ),
    (
        "water-ot-intrusion",
        include_str!("../../../exercises/water-ot-intrusion.toml"),
    ),
];

/// The longest scenario: a week of exercise time.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most teams, injects and expectations a scenario may have, each.
pub const MAX_ITEMS: usize = 500;

/// A scenario that cannot be used, and the line of the file where the problem is (1 when it
/// concerns the whole file).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScenarioError {
    pub line: usize,
    pub message: String,
}

/// Text in English and, where given, Japanese.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub en: String,
    pub ja: Option<String>,
}

impl Text {
    /// The text in `lang` ("ja" or "en"), English where there is no Japanese.
    pub fn get(&self, lang: &str) -> &str {
        match (&self.ja, lang) {
            (Some(ja), "ja") => ja,
            _ => &self.en,
        }
    }
}

/// A checked scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub id: Slug,
    pub title: Text,
    /// The severity schema the official answers are given in.
    pub schema: String,
    /// How long the exercise lasts, in exercise time.
    pub duration: Duration,
    pub objectives: Vec<Text>,
    pub teams: Vec<Team>,
    pub injects: Vec<Inject>,
    pub expectations: Vec<Expectation>,
}

/// Who takes part as one team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    pub id: Slug,
    pub name: Text,
    /// Organizations by name; any when empty.
    pub organizations: Vec<Slug>,
    /// Kinds of organization; any when empty.
    pub kinds: Vec<OrgKind>,
    /// Organizations working in any of these sectors; any when empty.
    pub sectors: Vec<Slug>,
    /// Within each organization, the users with one of these roles; all when empty.
    pub roles: Roles,
    /// The line of the file the team is defined on.
    pub line: usize,
}

impl Team {
    /// Whether an organization of the registry is in the team.
    pub fn includes(&self, org: &OrgFacts) -> bool {
        (self.organizations.is_empty() || self.organizations.contains(&org.slug))
            && (self.kinds.is_empty() || self.kinds.contains(&org.kind))
            && (self.sectors.is_empty() || org.sectors.iter().any(|s| self.sectors.contains(s)))
    }

    /// The team's organizations among `orgs`.
    pub fn members<'a>(&self, orgs: &'a [OrgFacts]) -> Vec<&'a Slug> {
        orgs.iter()
            .filter(|o| self.includes(o))
            .map(|o| &o.slug)
            .collect()
    }
}

/// What an inject is, and so the channel it travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InjectKind {
    /// An alert to the teams, as the coordinator or a ministry would send it.
    Alert,
    /// A report filed by a simulated operator, with official answers to assess it by.
    Report,
    /// A news item the teams read (no action asked).
    News,
    /// A request for information the teams answer.
    Request,
    /// A note of a phone call (what the caller said).
    Call,
}

impl InjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InjectKind::Alert => "alert",
            InjectKind::Report => "report",
            InjectKind::News => "news",
            InjectKind::Request => "request",
            InjectKind::Call => "call",
        }
    }
}

/// What a team does that an inject or an expectation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Act {
    /// Acknowledges an alert or a request.
    Acknowledge,
    /// Files a report about the inject.
    Report,
    /// Relays (a CEPTOAR secretariat) a report about the inject.
    Relay,
    /// Answers a request for information.
    Reply,
}

impl Act {
    pub fn as_str(self) -> &'static str {
        match self {
            Act::Acknowledge => "acknowledge",
            Act::Report => "report",
            Act::Relay => "relay",
            Act::Reply => "reply",
        }
    }
}

/// An inject that waits: sent `at` after the first organization of `team` has done `act` on
/// `inject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    pub team: Slug,
    pub act: Act,
    pub inject: Slug,
}

/// The key a report is scored against: a schema's answers and the level they give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Official {
    pub answers: Answers,
    pub level: u8,
}

/// One message of the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Inject {
    pub id: Slug,
    pub kind: InjectKind,
    /// From the start, or from the event it waits for.
    pub at: Duration,
    pub after: Option<After>,
    /// The teams it goes to.
    pub to: Vec<Slug>,
    pub title: Text,
    pub body: Text,
    pub tlp: Tlp,
    /// For a simulated report: the sectors it concerns.
    pub sectors: Vec<Slug>,
    pub official: Option<Official>,
    /// The line of the file the inject is defined on.
    pub line: usize,
}

/// Whether all of a team's organizations must meet an expectation, or any one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    All,
    Any,
}

/// What the level of a report or relay must be to meet an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelRule {
    /// Any level.
    Any,
    /// The inject's official level exactly.
    Official,
    /// At least this level.
    AtLeast(u8),
}

/// What a team is expected to do, by when, for how many points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub id: Slug,
    pub team: Slug,
    pub rule: Rule,
    pub act: Act,
    pub inject: Slug,
    /// From the inject's arrival.
    pub within: Duration,
    pub level: LevelRule,
    pub points: u32,
    pub text: Text,
}

/// When an inject is sent, as the dry run lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// This long after the start (in real time, at the run's speed).
    At(Duration),
    /// This long after an event of the run.
    After(After, Duration),
}

impl Scenario {
    /// Reads and checks a scenario file's text.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ScenarioError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        Checker { text }.check(raw)
    }

    /// A shipped scenario by id.
    pub fn shipped(id: &str) -> Option<Result<Self, ScenarioError>> {
        SHIPPED_SCENARIOS
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, text)| Self::from_toml(text))
    }

    pub fn team(&self, id: &Slug) -> Option<&Team> {
        self.teams.iter().find(|t| &t.id == id)
    }

    pub fn inject(&self, id: &Slug) -> Option<&Inject> {
        self.injects.iter().find(|i| &i.id == id)
    }

    /// What the scenario names that a registry lacks: each team's organizations and sectors
    /// and each simulated report's sectors that are not in it, and teams that choose no
    /// organization of it; each with the line of its team or inject.
    pub fn unknown_in(&self, sectors: &BTreeSet<Slug>, orgs: &[OrgFacts]) -> Vec<ScenarioError> {
        let mut out = Vec::new();
        for t in &self.teams {
            let mut said = false;
            for o in &t.organizations {
                if !orgs.iter().any(|f| &f.slug == o) {
                    said = true;
                    out.push(ScenarioError {
                        line: t.line,
                        message: format!(
                            "team {} names organization {o}, which the registry lacks",
                            t.id
                        ),
                    });
                }
            }
            for sec in &t.sectors {
                if !sectors.contains(sec) {
                    said = true;
                    out.push(ScenarioError {
                        line: t.line,
                        message: format!(
                            "team {} names sector {sec}, which the registry lacks",
                            t.id
                        ),
                    });
                }
            }
            if !said && t.members(orgs).is_empty() {
                out.push(ScenarioError {
                    line: t.line,
                    message: format!("team {} chooses no organization of the registry", t.id),
                });
            }
        }
        for i in &self.injects {
            for sec in i.sectors.iter().filter(|s| !sectors.contains(*s)) {
                out.push(ScenarioError {
                    line: i.line,
                    message: format!(
                        "inject {} names sector {sec}, which the registry lacks",
                        i.id
                    ),
                });
            }
        }
        out.sort_by_key(|e| e.line);
        out
    }

    /// The points all expectations are worth.
    pub fn total_points(&self) -> u32 {
        self.expectations.iter().map(|e| e.points).sum()
    }

    /// Every inject and when it goes, at `speed` (60: an hour of exercise in a minute), in
    /// the order of the file: the dry run.
    pub fn timeline(&self, speed: u32) -> Vec<(&Inject, When)> {
        let speed = speed.max(1);
        self.injects
            .iter()
            .map(|i| {
                let at = i.at / speed;
                let when = match &i.after {
                    None => When::At(at),
                    Some(a) => When::After(a.clone(), at),
                };
                (i, when)
            })
            .collect()
    }
}

/// The line (from 1) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.matches('\n').count() + 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    exercise: Spanned<RawExercise>,
    #[serde(default)]
    team: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    inject: Vec<Spanned<RawInject>>,
    #[serde(default)]
    expectation: Vec<Spanned<RawExpectation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExercise {
    id: String,
    title_en: String,
    title_ja: Option<String>,
    #[serde(default = "default_schema")]
    schema: String,
    duration: String,
    #[serde(default)]
    objective: Vec<RawText>,
}

fn default_schema() -> String {
    crate::severity::DEFAULT_SCHEMA.to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    en: String,
    ja: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    id: String,
    name_en: String,
    name_ja: Option<String>,
    #[serde(default)]
    organizations: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAfter {
    team: String,
    act: Act,
    inject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInject {
    id: String,
    kind: InjectKind,
    #[serde(default = "zero")]
    at: String,
    after: Option<RawAfter>,
    to: Vec<String>,
    title_en: String,
    title_ja: Option<String>,
    body_en: String,
    body_ja: Option<String>,
    #[serde(default = "green")]
    tlp: String,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    official: Option<Answers>,
}

fn zero() -> String {
    "0s".to_owned()
}

fn green() -> String {
    "TLP:GREEN".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    id: String,
    team: String,
    rule: Rule,
    act: Act,
    inject: String,
    within: String,
    /// "official", or a number: at least that level.
    level: Option<toml::Value>,
    points: u32,
    text_en: String,
    text_ja: Option<String>,
}

/// Turns the raw file into a scenario, naming the line of each problem.
struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, ScenarioError> {
        Err(ScenarioError {
            line: line_of(self.text, at),
            message: message.into(),
        })
    }

    fn slug(&self, at: usize, what: &str, value: &str) -> Result<Slug, ScenarioError> {
        Slug::parse(value).or_else(|e| self.err(at, format!("{what} {value:?}: {e}")))
    }

    fn duration(&self, at: usize, what: &str, value: &str) -> Result<Duration, ScenarioError> {
        let d = parse_duration(value).or_else(|e| self.err(at, format!("{what}: {e}")))?;
        if d > MAX_DURATION {
            return self.err(at, format!("{what} {value:?} is longer than a week"));
        }
        Ok(d)
    }

    fn check(&self, raw: RawFile) -> Result<Scenario, ScenarioError> {
        let at = raw.exercise.span().start;
        let ex = raw.exercise.into_inner();
        let id = self.slug(at, "the exercise id", &ex.id)?;
        let schema = shipped_schema(&ex.schema)
            .or_else(|e| self.err(at, format!("schema {:?}: {e}", ex.schema)))?;
        let duration = self.duration(at, "duration", &ex.duration)?;
        if duration.is_zero() {
            return self.err(at, "duration must be more than zero");
        }
        if ex.objective.is_empty() {
            return self.err(at, "name at least one objective ([[exercise.objective]])");
        }
        for (what, n) in [
            ("teams", raw.team.len()),
            ("injects", raw.inject.len()),
            ("expectations", raw.expectation.len()),
        ] {
            if n == 0 {
                return self.err(at, format!("the scenario has no {what}"));
            }
            if n > MAX_ITEMS {
                return self.err(at, format!("more than {MAX_ITEMS} {what}"));
            }
        }
        let teams = self.teams(raw.team)?;
        let team_ids: BTreeSet<&Slug> = teams.iter().map(|t| &t.id).collect();
        let injects = self.injects(raw.inject, &team_ids, &schema, duration)?;
        let expectations = self.expectations(raw.expectation, &team_ids, &injects, &schema)?;
        Ok(Scenario {
            id,
            title: Text {
                en: ex.title_en,
                ja: ex.title_ja,
            },
            schema: ex.schema,
            duration,
            objectives: ex
                .objective
                .into_iter()
                .map(|o| Text { en: o.en, ja: o.ja })
                .collect(),
            teams,
            injects,
            expectations,
        })
    }

    fn teams(&self, raw: Vec<Spanned<RawTeam>>) -> Result<Vec<Team>, ScenarioError> {
        let mut teams: Vec<Team> = Vec::new();
        for t in raw {
            let at = t.span().start;
            let t = t.into_inner();
            let id = self.slug(at, "team id", &t.id)?;
            if teams.iter().any(|o| o.id == id) {
                return self.err(at, format!("team {id} is defined twice"));
            }
            if t.organizations.is_empty() && t.kinds.is_empty() && t.sectors.is_empty() {
                return self.err(
                    at,
                    format!("team {id} chooses no one: give organizations, kinds or sectors"),
                );
            }
            let organizations = t
                .organizations
                .iter()
                .map(|o| self.slug(at, "organization", o))
                .collect::<Result<_, _>>()?;
            let kinds = t
                .kinds
                .iter()
                .map(|k| {
                    k.parse::<OrgKind>()
                        .or_else(|e| self.err(at, format!("team {id}: {e}")))
                })
                .collect::<Result<_, _>>()?;
            let sectors = t
                .sectors
                .iter()
                .map(|s| self.slug(at, "sector", s))
                .collect::<Result<_, _>>()?;
            let roles = t
                .roles
                .iter()
                .map(|r| {
                    r.parse::<Role>()
                        .or_else(|e| self.err(at, format!("team {id}: {e}")))
                })
                .collect::<Result<_, _>>()?;
            teams.push(Team {
                line: line_of(self.text, at),
                id,
                name: Text {
                    en: t.name_en,
                    ja: t.name_ja,
                },
                organizations,
                kinds,
                sectors,
                roles,
            });
        }
        Ok(teams)
    }

    fn injects(
        &self,
        raw: Vec<Spanned<RawInject>>,
        teams: &BTreeSet<&Slug>,
        schema: &crate::severity::Schema,
        duration: Duration,
    ) -> Result<Vec<Inject>, ScenarioError> {
        let mut injects: Vec<Inject> = Vec::new();
        // The line of each inject, for errors found once all are read.
        let mut lines: BTreeMap<Slug, usize> = BTreeMap::new();
        let mut waits: Vec<(usize, Slug, RawAfter)> = Vec::new();
        for i in raw {
            let at = i.span().start;
            let i = i.into_inner();
            let id = self.slug(at, "inject id", &i.id)?;
            if lines.contains_key(&id) {
                return self.err(at, format!("inject {id} is defined twice"));
            }
            if id.as_str() == lessons::INJECT {
                return self.err(
                    at,
                    format!("inject id {id} is kept for the lessons-learned questionnaire"),
                );
            }
            lines.insert(id.clone(), at);
            let offset = self.duration(at, &format!("inject {id}: at"), &i.at)?;
            if offset >= duration {
                return self.err(
                    at,
                    format!(
                        "inject {id} is at {} but the exercise lasts {}",
                        i.at,
                        format_duration(duration)
                    ),
                );
            }
            if i.to.is_empty() {
                return self.err(at, format!("inject {id} goes to no team (to = [...])"));
            }
            let mut to = Vec::new();
            for t in &i.to {
                let t = self.slug(at, "team", t)?;
                if !teams.contains(&t) {
                    return self.err(
                        at,
                        format!("inject {id} goes to team {t}, which is not defined"),
                    );
                }
                to.push(t);
            }
            let tlp: Tlp = i
                .tlp
                .parse()
                .or_else(|e: String| self.err(at, format!("inject {id}: {e}")))?;
            let sectors = i
                .sectors
                .iter()
                .map(|s| self.slug(at, "sector", s))
                .collect::<Result<Vec<_>, _>>()?;
            let official = match i.official {
                None if i.kind == InjectKind::Report => {
                    return self.err(
                        at,
                        format!(
                            "inject {id} is a report: give its official answers ([inject.official])"
                        ),
                    );
                }
                None => None,
                Some(answers) => {
                    let level = schema
                        .assess(&answers)
                        .or_else(|e| self.err(at, format!("inject {id}: official answers: {e}")))?
                        .level;
                    Some(Official { answers, level })
                }
            };
            if i.kind == InjectKind::Report && sectors.is_empty() {
                return self.err(at, format!("inject {id} is a report: name its sectors"));
            }
            if let Some(a) = i.after {
                waits.push((at, id.clone(), a));
            }
            injects.push(Inject {
                line: line_of(self.text, at),
                id,
                kind: i.kind,
                at: offset,
                after: None,
                to,
                title: Text {
                    en: i.title_en,
                    ja: i.title_ja,
                },
                body: Text {
                    en: i.body_en,
                    ja: i.body_ja,
                },
                tlp,
                sectors,
                official,
            });
        }
        for (at, id, a) in waits {
            let team = self.slug(at, "team", &a.team)?;
            if !teams.contains(&team) {
                return self.err(
                    at,
                    format!("inject {id} waits for team {team}, which is not defined"),
                );
            }
            let inject = self.slug(at, "inject", &a.inject)?;
            if !lines.contains_key(&inject) {
                return self.err(
                    at,
                    format!("inject {id} waits for inject {inject}, which is not defined"),
                );
            }
            let after = After {
                team,
                act: a.act,
                inject,
            };
            if let Some(i) = injects.iter_mut().find(|i| i.id == id) {
                i.after = Some(after);
            }
        }
        // An inject that waits, directly or not, for itself would never be sent.
        for i in &injects {
            let mut seen = BTreeSet::new();
            let mut next = i.after.as_ref().map(|a| &a.inject);
            while let Some(n) = next {
                if n == &i.id {
                    return self.err(
                        lines[&i.id],
                        format!("inject {} waits, through others, for itself", i.id),
                    );
                }
                if !seen.insert(n) {
                    break;
                }
                next = injects
                    .iter()
                    .find(|o| &o.id == n)
                    .and_then(|o| o.after.as_ref().map(|a| &a.inject));
            }
        }
        Ok(injects)
    }

    fn expectations(
        &self,
        raw: Vec<Spanned<RawExpectation>>,
        teams: &BTreeSet<&Slug>,
        injects: &[Inject],
        schema: &crate::severity::Schema,
    ) -> Result<Vec<Expectation>, ScenarioError> {
        let top = schema.levels.iter().map(|l| l.number).max().unwrap_or(0);
        let mut out: Vec<Expectation> = Vec::new();
        for e in raw {
            let at = e.span().start;
            let e = e.into_inner();
            let id = self.slug(at, "expectation id", &e.id)?;
            if out.iter().any(|o| o.id == id) {
                return self.err(at, format!("expectation {id} is defined twice"));
            }
            let team = self.slug(at, "team", &e.team)?;
            if !teams.contains(&team) {
                return self.err(
                    at,
                    format!("expectation {id} is for team {team}, which is not defined"),
                );
            }
            let inject_id = self.slug(at, "inject", &e.inject)?;
            let Some(inject) = injects.iter().find(|i| i.id == inject_id) else {
                return self.err(
                    at,
                    format!("expectation {id} is about inject {inject_id}, which is not defined"),
                );
            };
            if !inject.to.contains(&team) && e.act != Act::Relay {
                return self.err(
                    at,
                    format!("expectation {id}: inject {inject_id} does not go to team {team}"),
                );
            }
            let allowed = match inject.kind {
                InjectKind::Alert => &[Act::Acknowledge, Act::Report, Act::Relay][..],
                InjectKind::Report => &[Act::Acknowledge, Act::Report, Act::Relay][..],
                InjectKind::Request => &[Act::Acknowledge, Act::Reply][..],
                InjectKind::News | InjectKind::Call => &[Act::Report][..],
            };
            if !allowed.contains(&e.act) {
                return self.err(
                    at,
                    format!(
                        "expectation {id}: a {} inject cannot be met by {} (it can by {})",
                        inject.kind.as_str(),
                        e.act.as_str(),
                        allowed
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            let within = self.duration(at, &format!("expectation {id}: within"), &e.within)?;
            if within.is_zero() {
                return self.err(
                    at,
                    format!("expectation {id}: within must be more than zero"),
                );
            }
            let level = match &e.level {
                None => LevelRule::Any,
                Some(toml::Value::String(s)) if s == "official" => {
                    if inject.official.is_none() {
                        return self.err(
                            at,
                            format!("expectation {id}: inject {inject_id} has no official answers to compare with"),
                        );
                    }
                    LevelRule::Official
                }
                Some(toml::Value::Integer(n)) => match u8::try_from(*n) {
                    Ok(n) if (1..=top).contains(&n) => LevelRule::AtLeast(n),
                    _ => {
                        return self.err(
                            at,
                            format!("expectation {id}: level {n} is not a level of schema {} (1 to {top})", schema.id),
                        );
                    }
                },
                Some(other) => {
                    return self.err(
                        at,
                        format!(
                            "expectation {id}: level must be \"official\" or a number, not {other}"
                        ),
                    );
                }
            };
            if level != LevelRule::Any && !matches!(e.act, Act::Report | Act::Relay) {
                return self.err(
                    at,
                    format!("expectation {id}: a level applies to reports and relays only"),
                );
            }
            if e.points == 0 || e.points > 1000 {
                return self.err(at, format!("expectation {id}: points must be 1 to 1000"));
            }
            out.push(Expectation {
                id,
                team,
                rule: e.rule,
                act: e.act,
                inject: inject_id,
                within,
                level,
                points: e.points,
                text: Text {
                    en: e.text_en,
                    ja: e.text_ja,
                },
            });
        }
        Ok(out)
    }
}

/// A duration as scenarios write it: `90s`, `30m`, `4h`, `2d`, or combined (`1h 30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("a duration is empty; write it as 30m, 4h or 1h 30m".into());
    }
    let mut total: u64 = 0;
    for part in t.split_whitespace() {
        let split = part
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{part:?} has no unit; write 30m, 4h, 90s or 2d"))?;
        let (n, unit) = part.split_at(split);
        let n: u64 = n
            .parse()
            .map_err(|_| format!("{part:?} does not start with a whole number"))?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("{part:?}: the unit is one of s, m, h and d")),
        };
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
    }
    Ok(Duration::from_secs(total))
}

/// A duration as scenarios write it (`1h 30m`).
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= n {
            parts.push(format!("{}{unit}", s / n));
            s %= n;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[exercise]
id = "small"
title_en = "A small exercise"
duration = "2h"

[[exercise.objective]]
en = "Acknowledge alerts in time"

[[team]]
id = "water-ops"
name_en = "Water operators"
kinds = ["operator"]
sectors = ["water"]

[[team]]
id = "water-ceptoar"
name_en = "The water CEPTOAR"
organizations = ["water-ceptoar"]
roles = ["secretariat"]

[[inject]]
id = "advisory"
kind = "alert"
at = "10m"
to = ["water-ops"]
title_en = "Patch the PLCs"
body_en = "A vendor advisory."

[[inject]]
id = "pump-report"
kind = "report"
after = { team = "water-ops", act = "acknowledge", inject = "advisory" }
at = "5m"
to = ["water-ceptoar"]
sectors = ["water"]
title_en = "Pumps stopped"
body_en = "An operator's pumps stopped."
official = { people-society = "may-affect", systems = "provision-degraded" }

[[expectation]]
id = "ack"
team = "water-ops"
rule = "all"
act = "acknowledge"
inject = "advisory"
within = "30m"
points = 10
text_en = "Every water operator acknowledges the advisory within 30 minutes."

[[expectation]]
id = "relay"
team = "water-ceptoar"
rule = "any"
act = "relay"
inject = "pump-report"
within = "1h"
level = "official"
points = 20
text_en = "The CEPTOAR relays the report at the official level."
"#;

    #[test]
    fn a_scenario_is_read_with_its_timeline_and_points() {
        let s = Scenario::from_toml(SMALL).expect("valid");
        assert_eq!(s.teams.len(), 2);
        assert_eq!(s.total_points(), 30);
        let report = s.inject(&Slug::parse("pump-report").unwrap()).unwrap();
        let official = report.official.as_ref().expect("official");
        // The seed draft takes the highest level an answer gives.
        let expected = shipped_schema("seed-draft")
            .unwrap()
            .assess(&official.answers)
            .unwrap()
            .level;
        assert_eq!(official.level, expected);
        let plan = s.timeline(60);
        assert_eq!(plan[0].1, When::At(Duration::from_secs(10)));
        assert!(
            matches!(&plan[1].1, When::After(a, d) if a.inject.as_str() == "advisory" && *d == Duration::from_secs(5))
        );
    }

    /// Each mistake is named with the line it is on.
    #[test]
    fn mistakes_name_their_line() {
        let line_of_text =
            |needle: &str| SMALL.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let cases = [
            // (replace, with, words in the message, line of this text)
            (
                "to = [\"water-ops\"]\ntitle_en = \"Patch",
                "to = [\"nobody\"]\ntitle_en = \"Patch",
                "team nobody, which is not defined",
                "id = \"advisory\"",
            ),
            (
                "within = \"30m\"",
                "within = \"30 minutes\"",
                "has no unit",
                "id = \"ack\"",
            ),
            (
                "level = \"official\"",
                "level = 9",
                "level 9 is not a level",
                "id = \"relay\"",
            ),
            (
                "at = \"10m\"",
                "at = \"3h\"",
                "the exercise lasts 2h",
                "id = \"advisory\"",
            ),
            (
                "inject = \"advisory\" }",
                "inject = \"pump-report\" }",
                "waits, through others, for itself",
                "id = \"pump-report\"",
            ),
            (
                "systems = \"provision-degraded\"",
                "systems = \"melted\"",
                "official answers",
                "id = \"pump-report\"",
            ),
            (
                "act = \"acknowledge\"\ninject = \"advisory\"\nwithin",
                "act = \"reply\"\ninject = \"advisory\"\nwithin",
                "cannot be met by reply",
                "id = \"ack\"",
            ),
        ];
        for (from, to, words, anchor) in cases {
            assert!(SMALL.contains(from), "{from}");
            let text = SMALL.replacen(from, to, 1);
            let e = Scenario::from_toml(&text).expect_err(words);
            assert!(e.message.contains(words), "{words}: {e}");
            // The table the mistake is in starts at most a few lines before its id.
            let id_line = line_of_text(anchor);
            assert!(
                e.line <= id_line && id_line - e.line <= 2,
                "{words}: line {} for a table whose id is on line {id_line}",
                e.line
            );
        }
        // A syntax error names its own line.
        let broken = SMALL.replacen("points = 10", "points = ", 1);
        let e = Scenario::from_toml(&broken).expect_err("syntax");
        assert_eq!(e.line, line_of_text("points = 10"), "{e}");
        // An unknown field is named.
        let e = Scenario::from_toml(&SMALL.replacen("points = 10", "points = 10\nscore = 3", 1))
            .expect_err("unknown field");
        assert!(e.message.contains("score"), "{e}");
    }

    #[test]
    fn durations_read_and_write_alike() {
        for (text, secs) in [
            ("90s", 90),
            ("30m", 1800),
            ("4h", 14_400),
            ("1h 30m", 5400),
            ("2d", 172_800),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        for bad in ["", "30", "m", "3.5h", "1w", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn teams_choose_organizations_by_every_selector() {
        let s = Scenario::from_toml(SMALL).unwrap();
        let org = |slug: &str, kind: OrgKind, sectors: &[&str]| OrgFacts {
            slug: Slug::parse(slug).unwrap(),
            kind,
            sectors: sectors.iter().map(|s| Slug::parse(s).unwrap()).collect(),
            member_of: vec![],
        };
        let orgs = [
            org("op-a", OrgKind::Operator, &["water"]),
            org("op-b", OrgKind::Operator, &["electric-power"]),
            org("water-ceptoar", OrgKind::Ceptoar, &["water"]),
        ];
        let ops = s.team(&Slug::parse("water-ops").unwrap()).unwrap();
        assert_eq!(ops.members(&orgs), vec![&orgs[0].slug]);
        let ceptoar = s.team(&Slug::parse("water-ceptoar").unwrap()).unwrap();
        assert_eq!(ceptoar.members(&orgs), vec![&orgs[2].slug]);
    }

    /// The library names only organizations and sectors of the Japanese profile, and each
    /// of its teams of named organizations finds them there; a typo is named with its line.
    #[test]
    fn the_library_fits_the_japanese_profile() {
        let p = crate::registry::shipped_profile("jp-cip-4")
            .unwrap()
            .unwrap();
        let sectors: BTreeSet<Slug> = p.sectors.iter().map(|s| s.slug.clone()).collect();
        let orgs: Vec<OrgFacts> = p
            .organizations
            .iter()
            .map(|o| OrgFacts {
                slug: o.slug.clone(),
                kind: o.kind,
                sectors: o.sectors.clone(),
                member_of: o.member_of.clone(),
            })
            .collect();
        for (id, text) in SHIPPED_SCENARIOS {
            let s = Scenario::from_toml(text).unwrap();
            // The profile has no operators (they come from the demo or the registry), so
            // operator teams choose none of it: only names are checked for them.
            let named: Vec<ScenarioError> = s
                .unknown_in(&sectors, &orgs)
                .into_iter()
                .filter(|e| !e.message.contains("chooses no organization"))
                .collect();
            assert!(named.is_empty(), "{id}: {named:?}");
            let typo = text.replace("\"medical\"", "\"medicine\"");
            if typo != *text {
                let s = Scenario::from_toml(&typo).unwrap();
                let e = s.unknown_in(&sectors, &orgs);
                let line = typo
                    .lines()
                    .position(|l| l.contains("\"medicine\""))
                    .unwrap()
                    + 1;
                assert!(
                    e.iter().any(|e| e.message.contains("sector medicine")
                        && e.line < line
                        && line - e.line <= 6),
                    "{id}: {e:?}"
                );
                assert!(
                    e.iter().any(|e| e
                        .message
                        .starts_with("inject ehr-down names sector medicine")),
                    "{id}: {e:?}"
                );
            }
        }
    }

    /// Every scenario of the library is valid, in both languages, and worth points.
    #[test]
    fn the_shipped_scenarios_are_valid() {
        for (id, _) in SHIPPED_SCENARIOS {
            let s = Scenario::shipped(id)
                .unwrap()
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(s.id.as_str(), id);
            assert!(s.title.ja.is_some(), "{id}: a Japanese title");
            assert!(
                s.injects
                    .iter()
                    .all(|i| i.title.ja.is_some() && i.body.ja.is_some()),
                "{id}: Japanese injects"
            );
            assert!(
                s.expectations.iter().all(|e| e.text.ja.is_some()),
                "{id}: Japanese expectations"
            );
            assert!(
                s.injects.iter().any(|i| i.official.is_some()),
                "{id}: an official answer"
            );
            assert!(s.total_points() > 0);
        }
    }
}
