//! `ciphub exercise`: the scenario library, checking files, and the dry run.

use std::io::Write;

use ciphub_store::testkit::TestDb;

use super::helpers::{ciphub, err, out};

/// Runs ciphub with no store named anywhere (no flag, no CIPHUB_* variable).
fn alone(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ciphub"))
        .args(args)
        .env_remove("CIPHUB_DATABASE_URL")
        .env_remove("CIPHUB_DATA_DIR")
        .env_remove("CIPHUB_CONFIG")
        .output()
        .expect("ciphub runs")
}

#[test]
fn the_library_is_listed_and_every_scenario_checks() {
    let o = alone(&["exercise", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    let ids = [
        "power-outage-cascade",
        "hospital-ransomware",
        "finance-ddos-major-event",
        "water-ot-intrusion",
    ];
    for id in ids {
        assert!(out(&o).contains(id), "{}", out(&o));
    }
    // By id and by the file in the repository alike.
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../exercises/water-ot-intrusion.toml"
    );
    let mut args = vec!["exercise", "check", file];
    args.extend(ids);
    let o = alone(&args);
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    assert_eq!(out(&o).matches(": ok: ").count(), 5, "{}", out(&o));
}

/// A mistake is named with its file and line, and the command fails.
#[test]
fn a_bad_scenario_is_named_by_file_and_line() {
    let good = include_str!("../../../../exercises/hospital-ransomware.toml");
    let bad = good.replacen("to = [\"hospitals\"]", "to = [\"clinics\"]", 1);
    let line = bad
        .lines()
        .position(|l| l.contains("id = \"indicators\""))
        .expect("inject")
        + 1;
    let mut file = tempfile::NamedTempFile::new().expect("file");
    file.write_all(bad.as_bytes()).expect("write");
    let path = file.path().to_str().expect("path");
    let o = alone(&["exercise", "check", path]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let said = out(&o);
    assert!(
        said.contains("team clinics, which is not defined"),
        "{said}"
    );
    // The error is on the inject's table, which starts just before its id.
    let at: usize = said
        .split(':')
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a line number: {said}"));
    assert!(
        at <= line && line - at <= 2,
        "line {at} for the inject on line {line}: {said}"
    );
    let o = alone(&["exercise", "check", "no-such-scenario"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("give a file, or one of the shipped ones"),
        "{}",
        out(&o)
    );
}

/// The dry run lists every inject at the speed asked, and resolves teams against the registry.
#[tokio::test]
async fn the_dry_run_lists_injects_and_resolves_teams() {
    let db = TestDb::new().await.expect("db");
    let init = ciphub(&db.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    let entries = || {
        let audit = ciphub(&db.url, &["audit", "verify"], None);
        assert!(audit.status.success(), "{}", err(&audit));
        out(&audit)
    };
    let before = entries();
    let o = ciphub(
        &db.url,
        &[
            "exercise",
            "plan",
            "power-outage-cascade",
            "--speed",
            "60",
            "--lang",
            "ja",
        ],
        None,
    );
    assert!(o.status.success(), "{}", err(&o));
    let said = out(&o);
    assert!(said.contains("広域停電から水道・通信への波及"), "{said}");
    // Six hours at speed 60: six minutes.
    assert!(said.contains("0:06:00 in real time"), "{said}");
    // 20 minutes of exercise time at speed 60: 20 seconds.
    assert!(said.contains("0:00:20   substation-report"), "{said}");
    assert!(
        said.contains("after power-operators acknowledges grid-alert"),
        "{said}"
    );
    assert!(
        said.contains("1 organization (electric-power-ceptoar)"),
        "{said}"
    );
    assert!(said.contains("expectations (60 points)"), "{said}");
    // Nothing was sent or written: the audit trail is as long as before.
    assert_eq!(entries(), before);
}

/// Simulated participants play a scenario in memory: the same seed gives the same scores, and
/// with a store the teams are the registry's organizations.
#[tokio::test]
async fn a_simulated_run_repeats_and_uses_the_registry() {
    let args = [
        "exercise",
        "simulate",
        "hospital-ransomware",
        "--seed",
        "11",
    ];
    let first = alone(&args);
    assert!(first.status.success(), "{}", err(&first));
    let again = alone(&args);
    assert_eq!(out(&first), out(&again));
    assert!(out(&first).contains("overall: "), "{}", out(&first));
    assert!(out(&first).contains("hospitals-4"), "{}", out(&first));
    let db = TestDb::new().await.expect("db");
    let init = ciphub(&db.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    let o = ciphub(&db.url, &args, None);
    assert!(o.status.success(), "{}", err(&o));
    // The medical CEPTOAR by its id in the registry; no made-up organizations.
    assert!(out(&o).contains("  medical-ceptoar "), "{}", out(&o));
    assert!(!out(&o).contains("hospitals-1"), "{}", out(&o));
}

/// The scoring benchmark runs every library scenario (here with few participants).
#[test]
fn the_scoring_benchmark_covers_the_library() {
    let o = ciphub(
        "sqlite://unused",
        &["bench", "exercise", "--participants", "20", "--rounds", "1"],
        None,
    );
    assert!(o.status.success(), "{}", err(&o));
    for id in [
        "power-outage-cascade",
        "hospital-ransomware",
        "finance-ddos-major-event",
        "water-ot-intrusion",
    ] {
        assert!(out(&o).contains(id), "{}", out(&o));
    }
    // The part over a scratch store: one inject to the 20, all acknowledge, all are scored.
    assert!(
        out(&o).contains("one inject to 20: ") && out(&o).contains("(earned 10/10)"),
        "{}",
        out(&o)
    );
}

/// With a store, a check also names what the scenario uses that the registry lacks: an
/// organization misspelt, and a team that finds no organization there.
#[tokio::test]
async fn a_check_against_the_registry_names_what_it_lacks() {
    let db = TestDb::new().await.expect("db");
    let init = ciphub(&db.url, &["init"], None);
    assert!(init.status.success(), "{}", err(&init));
    // The profile has CEPTOARs but no operators until they are registered.
    let o = ciphub(&db.url, &["exercise", "check", "hospital-ransomware"], None);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("team hospitals chooses no organization of the registry"),
        "{}",
        out(&o)
    );
    assert!(!out(&o).contains("medical-ceptoar"), "{}", out(&o));
    let good = include_str!("../../../../exercises/hospital-ransomware.toml");
    let typo = good.replacen(
        "organizations = [\"medical-ceptoar\"]",
        "organizations = [\"medical-ceptor\"]",
        1,
    );
    let mut file = tempfile::NamedTempFile::new().expect("file");
    file.write_all(typo.as_bytes()).expect("write");
    let path = file.path().to_str().expect("path");
    let o = ciphub(&db.url, &["exercise", "check", path], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains(
            "team medical-ceptoar names organization medical-ceptor, which the registry lacks"
        ),
        "{}",
        out(&o)
    );
}

/// What the seeded rule says each organization does on each expectation, worked out here from
/// `behaviour` alone (not from the simulation or the scorer): each expectation's outcome per
/// organization, and the points the run earns.
fn expected_outcomes(
    s: &ciphub_domain::exercise::Scenario,
    teams: &std::collections::BTreeMap<ciphub_domain::Slug, Vec<ciphub_domain::Slug>>,
    seed: u64,
) -> (Vec<Vec<&'static str>>, u32) {
    use ciphub_domain::exercise::simulate::{Behaviour, Mix, behaviour};
    use ciphub_domain::exercise::{Expectation, LevelRule, Rule};
    use std::collections::BTreeMap;
    use std::time::Duration;
    let mix = Mix::default();
    let act_at = |e: &Expectation, org: &ciphub_domain::Slug, t0: Duration| {
        let asks_level = !matches!(e.level, LevelRule::Any);
        let at = match behaviour(seed, org, &e.id, mix) {
            Behaviour::Correct => Some(t0 + e.within / 2),
            Behaviour::Late => Some(t0 + e.within * 3 / 2),
            Behaviour::Wrong if asks_level => Some(t0 + e.within / 2),
            Behaviour::Wrong | Behaviour::Silent => None,
        };
        at.filter(|t| *t < s.duration)
    };
    let mut arrived: BTreeMap<&ciphub_domain::Slug, Duration> = s
        .injects
        .iter()
        .filter(|i| i.after.is_none() && i.at < s.duration)
        .map(|i| (&i.id, i.at))
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
                .flat_map(|e| teams[&e.team].iter().filter_map(move |o| act_at(e, o, t0)))
                .min();
            if let Some(t) = first.filter(|t| *t + i.at < s.duration) {
                arrived.insert(&i.id, t + i.at);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut points = 0;
    let mut all = Vec::new();
    for e in &s.expectations {
        let outcomes: Vec<&'static str> = teams[&e.team]
            .iter()
            .map(|org| {
                let Some(&t0) = arrived.get(&e.inject) else {
                    return "missing";
                };
                match (behaviour(seed, org, &e.id, mix), act_at(e, org, t0)) {
                    (_, None) => "missing",
                    (Behaviour::Correct, Some(_)) => "met",
                    (Behaviour::Late, Some(_)) => "late",
                    (_, Some(_)) => "wrong",
                }
            })
            .collect();
        let met = !outcomes.is_empty()
            && match e.rule {
                Rule::All => outcomes.iter().all(|o| *o == "met"),
                Rule::Any => outcomes.contains(&"met"),
            };
        if met {
            points += e.points;
        }
        all.push(outcomes);
    }
    (all, points)
}

/// Every library scenario runs end to end over the real channels of one store at speed 600,
/// four at once, with simulated participants acting through the store as the API does; each
/// run's scores, read back from what the store holds, are what the seeded behaviour implies.
#[tokio::test]
async fn every_library_scenario_runs_over_the_real_channels_and_scores_as_seeded() {
    let db = TestDb::new().await.expect("db");
    // The demo registry: operators in every sector, CEPTOARs, ministries, the coordinator.
    drop(super::serve::start(&db.url, &["--demo"]));
    let runs: Vec<(&str, u64)> = vec![
        ("power-outage-cascade", 3),
        ("hospital-ransomware", 5),
        ("finance-ddos-major-event", 8),
        ("water-ot-intrusion", 13),
    ];
    let handles: Vec<_> = runs
        .iter()
        .map(|&(id, seed)| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let seed = seed.to_string();
                ciphub(
                    &url,
                    &[
                        "exercise",
                        "run",
                        id,
                        "--speed",
                        "600",
                        "--simulate",
                        "--seed",
                        &seed,
                        "--json",
                    ],
                    None,
                )
            })
        })
        .collect();
    let mut partial = 0;
    for ((id, seed), h) in runs.iter().zip(handles) {
        let o = h.join().expect("the run's thread");
        assert!(o.status.success(), "{id}: {}", err(&o));
        let said: serde_json::Value = serde_json::from_str(&out(&o)).expect("JSON");
        assert_eq!(said["state"], "finished", "{id}");
        let s = ciphub_domain::exercise::Scenario::shipped(id)
            .unwrap()
            .unwrap();
        let mut teams: std::collections::BTreeMap<ciphub_domain::Slug, Vec<ciphub_domain::Slug>> =
            serde_json::from_value(said["members"].clone()).expect("members");
        // In the order the scores list them.
        teams.values_mut().for_each(|m| m.sort());
        assert!(teams.values().all(|m| !m.is_empty()), "{id}: {teams:?}");
        let (outcomes, points) = expected_outcomes(&s, &teams, *seed);
        let got = said["scores"]["expectations"].as_array().expect("results");
        for ((e, want), got) in s.expectations.iter().zip(&outcomes).zip(got) {
            let got: Vec<&str> = got["outcomes"]
                .as_object()
                .expect("outcomes")
                .values()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(&got, want, "{id} seed {seed}: {}", e.id);
        }
        assert_eq!(said["scores"]["overall"]["earned"], points, "{id}");
        assert_eq!(
            said["scores"]["overall"]["possible"],
            s.total_points(),
            "{id}"
        );
        if points > 0 && points < s.total_points() {
            partial += 1;
        }
    }
    // The seeds were chosen so that runs neither earn everything nor nothing.
    assert!(
        partial >= 2,
        "only {partial} runs scored between nothing and everything"
    );
    // Every inject, every relay, report and acknowledgement is in the audit chain, intact.
    let audit = ciphub(&db.url, &["audit", "verify"], None);
    assert!(audit.status.success(), "{}", err(&audit));
}
