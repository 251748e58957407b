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
