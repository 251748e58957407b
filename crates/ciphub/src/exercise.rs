//! `ciphub exercise`: checking scenario files, listing the shipped library, and the dry run.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use std::collections::BTreeMap;

use ciphub_domain::Slug;
use ciphub_domain::exercise::score::{Outcome, Scores, score};
use ciphub_domain::exercise::simulate::{Mix, simulate as play};
use ciphub_domain::exercise::{
    Act, InjectKind, LevelRule, Rule, SHIPPED_SCENARIOS, Scenario, ScenarioError, When,
    format_duration,
};
use ciphub_domain::registry::OrgKind;
use ciphub_server::exercise::{Engine, participants};
use ciphub_store::{By, NewRun, Store};

/// A scenario's text, by shipped id or by path.
fn text_of(name: &str) -> anyhow::Result<String> {
    if let Some((_, text)) = SHIPPED_SCENARIOS.iter().find(|(id, _)| *id == name) {
        return Ok((*text).to_owned());
    }
    let path = Path::new(name);
    if !path.exists() {
        let ids: Vec<&str> = SHIPPED_SCENARIOS.iter().map(|(id, _)| *id).collect();
        return Err(anyhow!(
            "no scenario {name:?}: give a file, or one of the shipped ones ({})",
            ids.join(", ")
        ));
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A scenario by shipped id or by path.
fn load(name: &str) -> anyhow::Result<Result<Scenario, ScenarioError>> {
    Ok(Scenario::from_toml(&text_of(name)?))
}

/// Prints the shipped scenarios.
pub fn list() {
    for (id, _) in SHIPPED_SCENARIOS {
        match Scenario::shipped(id) {
            Some(Ok(s)) => println!(
                "{id:<28} {} ({}, {} injects, {} points)",
                s.title.en,
                format_duration(s.duration),
                s.injects.len(),
                s.total_points()
            ),
            Some(Err(e)) => println!("{id:<28} invalid: {e}"),
            None => {}
        }
    }
}

/// Checks each file (against the store's registry too, when there is one); prints a summary or
/// `FILE:LINE: problem`. False if any is invalid.
pub async fn check(files: &[String], store: Option<&Store>) -> anyhow::Result<bool> {
    let registry = match store {
        Some(store) => Some(store.community().await?),
        None => None,
    };
    let mut all_good = true;
    for name in files {
        let loaded = load(name);
        let unknown = match (&registry, &loaded) {
            (Some((sectors, orgs)), Ok(Ok(s))) => s.unknown_in(sectors, orgs),
            _ => Vec::new(),
        };
        if !unknown.is_empty() {
            all_good = false;
            for e in unknown {
                println!("{name}:{}: {}", e.line, e.message);
            }
            continue;
        }
        match loaded {
            Ok(Ok(s)) => println!(
                "{name}: ok: {} ({}; {} teams, {} injects, {} expectations worth {} points)",
                s.title.en,
                format_duration(s.duration),
                s.teams.len(),
                s.injects.len(),
                s.expectations.len(),
                s.total_points()
            ),
            Ok(Err(e)) => {
                all_good = false;
                println!("{name}:{}: {}", e.line, e.message);
            }
            Err(e) => {
                all_good = false;
                println!("{name}: {e:#}");
            }
        }
    }
    Ok(all_good)
}

/// `h:mm:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Prints the dry run of a scenario at `speed`; with a store, how many organizations each
/// team reaches.
pub async fn plan(name: &str, speed: u32, lang: &str, store: Option<&Store>) -> anyhow::Result<()> {
    let s = load(name)?.map_err(|e| anyhow!("{name}:{}: {}", e.line, e.message))?;
    println!("{}", s.title.get(lang));
    println!(
        "lasts {} of exercise time; at speed {speed}, {} in real time",
        format_duration(s.duration),
        clock(s.duration / speed)
    );
    let orgs = match store {
        Some(store) => Some(store.community().await?.1),
        None => None,
    };
    println!("\nteams:");
    for t in &s.teams {
        let reach = orgs.as_ref().map_or_else(String::new, |orgs| {
            let members = t.members(orgs);
            let first: Vec<&str> = members.iter().take(3).map(|m| m.as_str()).collect();
            format!(
                ": {} organization{}{}",
                members.len(),
                if members.len() == 1 { "" } else { "s" },
                if first.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({}{})",
                        first.join(", "),
                        if members.len() > 3 { ", ..." } else { "" }
                    )
                }
            )
        });
        println!("  {:<22} {}{reach}", t.id.as_str(), t.name.get(lang));
    }
    println!("\ninjects (a dry run: nothing is sent):");
    for (i, when) in s.timeline(speed) {
        let (time, wait) = match when {
            When::At(d) => (clock(d), None),
            When::After(a, d) => (
                format!("+{}", clock(d)),
                Some(format!(
                    "after {} {} {}",
                    a.team.as_str(),
                    match a.act {
                        Act::Acknowledge => "acknowledges",
                        Act::Report => "reports on",
                        Act::Relay => "relays",
                        Act::Reply => "answers",
                    },
                    a.inject.as_str()
                )),
            ),
        };
        let channel = match i.kind {
            InjectKind::Alert => "alert (inbox, e-mail, webhooks, stream)",
            InjectKind::Report => "report from a simulated operator",
            InjectKind::News => "news item",
            InjectKind::Request => "request for information",
            InjectKind::Call => "phone-call note",
        };
        let to: Vec<&str> = i.to.iter().map(|t| t.as_str()).collect();
        println!(
            "  {time:<9} {:<20} {} [{}] {channel} to {}",
            i.id.as_str(),
            i.title.get(lang),
            i.tlp.as_str(),
            to.join(", ")
        );
        if let Some(w) = wait {
            println!("            {w}");
        }
        if let Some(o) = &i.official {
            println!("            official level {} ({})", o.level, s.schema);
        }
    }
    println!("\nexpectations ({} points):", s.total_points());
    for e in &s.expectations {
        let level = match e.level {
            LevelRule::Any => String::new(),
            LevelRule::Official => ", at the official level".into(),
            LevelRule::AtLeast(n) => format!(", level {n} or more"),
        };
        println!(
            "  {:<18} {} of {} {} {} within {} ({} real){level}: {} points",
            e.id.as_str(),
            match e.rule {
                Rule::All => "all",
                Rule::Any => "any",
            },
            e.team.as_str(),
            e.act.as_str(),
            e.inject.as_str(),
            format_duration(e.within),
            clock(e.within / speed),
            e.points
        );
    }
    Ok(())
}

/// Each team's organizations: from the store's registry, or made up.
async fn members(s: &Scenario, store: Option<&Store>) -> anyhow::Result<BTreeMap<Slug, Vec<Slug>>> {
    let orgs = match store {
        Some(store) => Some(store.community().await?.1),
        None => None,
    };
    s.teams
        .iter()
        .map(|t| {
            let list = match &orgs {
                Some(orgs) => t.members(orgs).into_iter().cloned().collect(),
                None => {
                    let n = if t.organizations.len() == 1 { 1 } else { 4 };
                    (1..=n)
                        .map(|k| Slug::parse(&format!("{}-{k}", t.id.as_str())))
                        .collect::<Result<_, _>>()
                        .map_err(|e| anyhow!("team {}: {e}", t.id.as_str()))?
                }
            };
            Ok((t.id.clone(), list))
        })
        .collect()
}

/// Plays `name` with simulated participants and prints the scores.
pub async fn simulate(name: &str, seed: u64, store: Option<&Store>) -> anyhow::Result<()> {
    let s = load(name)?.map_err(|e| anyhow!("{name}:{}: {}", e.line, e.message))?;
    let teams = members(&s, store).await?;
    let mix = Mix::default();
    let run = play(&s, &teams, seed, mix);
    let scores = score(&s, &teams, &run.arrived, &run.events);
    println!(
        "{} (seed {seed}; participants {}% correct, {}% late, {}% wrong, the rest silent)",
        s.title.en, mix.correct, mix.late, mix.wrong
    );
    println!("nothing was sent: the run happened in memory\n");
    print_scores(&s, &run.arrived, &scores);
    Ok(())
}

/// Prints when each inject arrived, and the scores.
fn print_scores(s: &Scenario, arrived: &BTreeMap<Slug, Duration>, scores: &Scores) {
    for i in &s.injects {
        match arrived.get(&i.id) {
            Some(t) => println!("  {:<9} {}", clock(*t), i.id.as_str()),
            None => println!(
                "  {:<9} {} (never sent: what it waits for did not happen)",
                "-",
                i.id.as_str()
            ),
        }
    }
    println!("\nexpectations:");
    for r in &scores.expectations {
        let count = |o: Outcome| r.outcomes.values().filter(|x| **x == o).count();
        println!(
            "  {:<18} {:<4} {:>3}/{:<3} met {}, late {}, wrong {}, missing {}",
            r.id.as_str(),
            if r.met { "met" } else { "not" },
            if r.met { r.points } else { 0 },
            r.points,
            count(Outcome::Met),
            count(Outcome::Late),
            count(Outcome::Wrong),
            count(Outcome::Missing)
        );
    }
    println!("\nteams:");
    for (team, t) in &scores.teams {
        println!("  {:<22} {}/{}", team.as_str(), t.earned, t.possible);
    }
    println!("\norganizations:");
    for (org, t) in &scores.organizations {
        println!("  {:<34} {}/{}", org.as_str(), t.earned, t.possible);
    }
    println!(
        "\noverall: {}/{} points",
        scores.overall.earned, scores.overall.possible
    );
}

/// How `ciphub exercise run` runs.
pub struct RunOptions {
    pub speed: u32,
    pub simulate: bool,
    pub seed: u64,
    pub start_in: Option<Duration>,
    pub owner: Option<String>,
    pub json: bool,
    /// Whether the configuration sends e-mail (injects then go by e-mail too).
    pub email: bool,
}

/// Creates a run of `name` on `store`; with `simulate`, plays it to its end and prints the
/// scores.
pub async fn run(name: &str, store: &Store, o: &RunOptions) -> anyhow::Result<()> {
    let text = text_of(name)?;
    let s = Scenario::from_toml(&text).map_err(|e| anyhow!("{name}:{}: {}", e.line, e.message))?;
    let (sectors, orgs) = store.community().await?;
    let unknown = s.unknown_in(&sectors, &orgs);
    if !unknown.is_empty() {
        let lines: Vec<String> = unknown
            .iter()
            .map(|e| format!("{name}:{}: {}", e.line, e.message))
            .collect();
        bail!(
            "the scenario does not fit this store's registry:\n{}",
            lines.join("\n")
        );
    }
    let owner = match &o.owner {
        Some(slug) => {
            let slug = Slug::parse(slug).map_err(|e| anyhow!("--owner: {e}"))?;
            if !orgs.iter().any(|f| f.slug == slug) {
                bail!("--owner: no organization {slug} in this store's registry");
            }
            slug
        }
        None => orgs
            .iter()
            .find(|f| f.kind == OrgKind::Coordinator)
            .map(|f| f.slug.clone())
            .ok_or_else(|| {
                anyhow!("this store has no coordinator: name the exercise's owner with --owner")
            })?,
    };
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
    let new = NewRun {
        scenario_id: s.id.clone(),
        scenario: text,
        owner,
        created_by: "exercise-cli".into(),
        speed: o.speed,
        starts: chrono::Utc::now()
            + chrono::TimeDelta::from_std(o.start_in.unwrap_or_default())
                .map_err(|e| anyhow!("--start-in: {e}"))?,
        seed: o.simulate.then_some(o.seed),
        members: members.clone(),
    };
    let created = store.create_run(&new, &By::system()).await?;
    if !o.simulate {
        if o.json {
            println!(
                "{}",
                serde_json::json!({"run": created.id, "state": created.state.as_str()})
            );
        } else {
            println!(
                "run {} of {} scheduled to start at {} at speed {}; a running `ciphub serve` on this store plays it",
                created.id,
                s.id,
                created.starts.to_rfc3339(),
                o.speed
            );
        }
        return Ok(());
    }
    if !o.json {
        println!(
            "run {} of {}: playing with simulated participants at speed {} ({} in real time)",
            created.id,
            s.id,
            o.speed,
            clock(s.duration / o.speed)
        );
    }
    let engine = Engine::default();
    let done = participants::play(store, &engine, created.id, Mix::default(), o.email).await?;
    let scores: Scores = match &done.scores {
        Some(v) => serde_json::from_value(v.clone()).context("the run's stored scores")?,
        None => bail!(
            "run {} ended {} without scores",
            done.id,
            done.state.as_str()
        ),
    };
    let arrived = store.run_sent(done.id).await?;
    if o.json {
        let arrived_secs: BTreeMap<&str, f64> = arrived
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_secs_f64()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "run": done.id,
                "state": done.state.as_str(),
                "seed": o.seed,
                "members": members,
                "arrived": arrived_secs,
                "scores": scores,
            })
        );
    } else {
        println!("injects sent over the real channels, marked EXERCISE:\n");
        print_scores(&s, &arrived, &scores);
    }
    Ok(())
}
