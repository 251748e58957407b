//! The anonymity property: for random operators, users, reports and formations, no route
//! reveals an anonymous reporter to anyone outside its own organization and the relaying
//! CEPTOAR's secretariat: not report lists or details, search, notifications, notes, relay
//! checks, audit entries about reports, or error messages.

use std::collections::BTreeMap;
use std::time::Duration;

use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::{OrgKind, Organization, shipped_profile};
use ciphub_server::issue_token;
use ciphub_store::{By, NewUser};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};

/// (CEPTOAR slug, its sector) for the operators the scenarios create.
const CEPTOARS: &[(&str, &str)] = &[
    ("water-ceptoar", "water"),
    ("medical-ceptoar", "medical"),
    ("railway-ceptoar", "railway"),
    ("banking-ceptoar", "finance"),
];

#[derive(Clone, Debug)]
struct OperatorSpec {
    ceptoar: usize,
    /// 0 ministry, 1 anonymous via the CEPTOAR, 2 via an agency.
    formation: u8,
    consent: bool,
}

#[derive(Clone, Debug)]
struct ReportSpec {
    operator: usize,
    /// The seed-draft answer for people and society, 0 to 5.
    people: usize,
    relay: bool,
    update_to: Option<usize>,
}

#[derive(Clone, Debug)]
struct Scenario {
    operators: Vec<OperatorSpec>,
    reports: Vec<ReportSpec>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let op = (0..CEPTOARS.len(), 0u8..3, proptest::bool::weighted(0.2)).prop_map(
        |(ceptoar, formation, consent)| OperatorSpec {
            ceptoar,
            formation,
            consent,
        },
    );
    proptest::collection::vec(op, 2..5).prop_flat_map(|operators| {
        let n = operators.len();
        let report = (
            0..n,
            0usize..6,
            proptest::bool::ANY,
            proptest::option::of(0usize..6),
        )
            .prop_map(|(operator, people, relay, update_to)| ReportSpec {
                operator,
                people,
                relay,
                update_to,
            });
        proptest::collection::vec(report, 1..7).prop_map(move |reports| Scenario {
            operators: operators.clone(),
            reports,
        })
    })
}

const PEOPLE: [&str; 6] = [
    "none",
    "unlikely",
    "may-affect",
    "demonstrable",
    "significant",
    "imminent-wide",
];

struct Operator {
    slug: String,
    name: String,
    reporter: String,
    viewer: String,
    ceptoar: &'static str,
    sector: &'static str,
    spec: OperatorSpec,
}

async fn add_user(
    app: &TestApp,
    tokens: &mut BTreeMap<String, (String, String)>,
    org: &str,
    name: &str,
    role: Role,
) {
    let user = NewUser {
        org: Slug::parse(org).expect("slug"),
        name: UserName::parse(name).expect("name"),
        display_name: format!("{name} display"),
        roles: [role].into(),
        password_hash: None,
    };
    app.db
        .store
        .create_user(&user, &By::system())
        .await
        .expect("user");
    let token = issue_token(
        &app.db.store,
        &user.name,
        "t",
        Duration::from_secs(86400),
        &By::system(),
    )
    .await
    .expect("token");
    tokens.insert(name.to_owned(), (org.to_owned(), token));
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// How many (user, anonymous reporter) pairs were checked, so the test cannot pass vacuously.
static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn run(case: u32, s: Scenario) -> Result<(), TestCaseError> {
    let app = spawn_app().await;
    let mut tokens: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (name, token) in &app.tokens {
        let org = app
            .db
            .store
            .get_user(name)
            .await
            .expect("user")
            .org
            .to_string();
        tokens.insert((*name).to_owned(), (org, token.clone()));
    }
    let mut operators = Vec::new();
    for (i, spec) in s.operators.iter().enumerate() {
        let (ceptoar, sector) = CEPTOARS[spec.ceptoar];
        let tag = format!("q{case}x{i}v{}", 7 * i + 3);
        let op = Operator {
            slug: format!("zz-{tag}"),
            name: format!("Zorgon {tag} Utility"),
            reporter: format!("zrep-{tag}"),
            viewer: format!("zview-{tag}"),
            ceptoar,
            sector,
            spec: spec.clone(),
        };
        app.db
            .store
            .add_organizations(
                &[Organization {
                    slug: Slug::parse(&op.slug).expect("slug"),
                    kind: OrgKind::Operator,
                    name_en: op.name.clone(),
                    name_ja: Some(format!("ゾルゴン{tag}")),
                    abbrev: None,
                    sectors: vec![Slug::parse(sector).expect("slug")],
                    services: vec![],
                    responsible_for: vec![],
                    member_of: vec![Slug::parse(ceptoar).expect("slug")],
                    members_published: None,
                    members_count: None,
                }],
                &By::system(),
            )
            .await
            .expect("operator");
        add_user(&app, &mut tokens, &op.slug, &op.reporter, Role::Reporter).await;
        add_user(&app, &mut tokens, &op.slug, &op.viewer, Role::Viewer).await;
        operators.push(op);
    }
    // Staff of every CEPTOAR and responsible ministry involved, and a CEPTOAR viewer.
    for (ceptoar, _) in CEPTOARS {
        if !tokens.values().any(|(o, _)| o == ceptoar) {
            add_user(
                &app,
                &mut tokens,
                ceptoar,
                &format!("sec-{ceptoar}"),
                Role::Secretariat,
            )
            .await;
        }
        add_user(
            &app,
            &mut tokens,
            ceptoar,
            &format!("view-{ceptoar}"),
            Role::Viewer,
        )
        .await;
    }
    for ministry in ["mlit", "fsa", "mic", "meti"] {
        add_user(
            &app,
            &mut tokens,
            ministry,
            &format!("ana-{ministry}"),
            Role::Analyst,
        )
        .await;
    }
    add_user(&app, &mut tokens, "jpcert-cc", "ana-jpcert", Role::Analyst).await;

    let secretariat_of = |ceptoar: &str| -> String {
        tokens
            .iter()
            .find(|(name, (org, _))| {
                org == ceptoar && (name.starts_with("sec") || *name == "secretariat")
            })
            .map(|(n, _)| n.clone())
            .expect("secretariat")
    };
    // Every report filed or relayed; one more id no report has is asked for too.
    let mut report_ids = Vec::new();
    for r in &s.reports {
        let op = &operators[r.operator];
        let formation = ["ministry", "ceptoar-anonymous", "agency"][usize::from(op.spec.formation)];
        let mut body = json!({
            "title": format!("Outage at {}", op.name),
            "description": format!("{} ({}) lost telemetry; contact {}", op.name, op.slug, op.reporter),
            "sectors": [op.sector],
            "cause": "cyberattack",
            "scope": ["ot"],
            "detected_at": "2026-04-01T08:00:00Z",
            "answers": {"people-society": PEOPLE[r.people], "systems": "none"},
            "formation": formation,
            "consent_named": op.spec.consent,
        });
        if formation == "agency" {
            body["via"] = json!("jpcert-cc");
        }
        let (status, text) = call(
            &app,
            &tokens[&op.reporter].1,
            Method::POST,
            "/api/v1/reports",
            Some(body),
        )
        .await;
        prop_assert_eq!(status, 201, "{}", text);
        let filed: Value = serde_json::from_str(&text).expect("json");
        let id = filed["id"].as_i64().expect("id");
        report_ids.push(id);
        if let Some(level) = r.update_to {
            let body = json!({"stage": "update", "summary": format!("{} update", op.name),
                "answers": {"people-society": PEOPLE[level], "systems": "none"}});
            let (status, text) = call(
                &app,
                &tokens[&op.reporter].1,
                Method::POST,
                &format!("/api/v1/reports/{id}/stages"),
                Some(body),
            )
            .await;
            prop_assert_eq!(status, 200, "{}", text);
        }
        if r.relay && formation == "ceptoar-anonymous" {
            let sec = secretariat_of(op.ceptoar);
            // A careless copy is refused; a sanitized one goes through.
            let careless = json!({"title": "Relay", "description": format!("From {}", op.name)});
            let (status, _) = call(
                &app,
                &tokens[&sec].1,
                Method::POST,
                &format!("/api/v1/reports/{id}/relay"),
                Some(careless),
            )
            .await;
            prop_assert_eq!(status, 409);
            let clean = json!({"title": "Relayed outage", "description": "An operator lost telemetry.",
                "also_to": ["electric-power-ceptoar"]});
            let (status, text) = call(
                &app,
                &tokens[&sec].1,
                Method::POST,
                &format!("/api/v1/reports/{id}/relay"),
                Some(clean),
            )
            .await;
            prop_assert_eq!(status, 201, "{}", text);
            let copy: Value = serde_json::from_str(&text).expect("json");
            report_ids.push(copy["id"].as_i64().expect("id"));
        }
    }

    // Everything each user can fetch about reports.
    for (user, (org, token)) in &tokens {
        let mut seen = String::new();
        let mut paths = vec![
            "/api/v1/reports?limit=200".to_owned(),
            "/api/v1/notifications?limit=500".to_owned(),
        ];
        for op in &operators {
            paths.push(format!("/api/v1/reports?q={}", op.slug));
        }
        for id in report_ids.iter().copied().chain([1]) {
            for suffix in ["", "/notes", "/relay-check"] {
                paths.push(format!("/api/v1/reports/{id}{suffix}"));
            }
        }
        for path in &paths {
            seen.push_str(&call(&app, token, Method::GET, path, None).await.1);
        }
        for &id in &report_ids {
            for (path, body) in [
                (
                    format!("/api/v1/reports/{id}/stages"),
                    json!({"stage": "final", "summary": "x"}),
                ),
                (
                    format!("/api/v1/reports/{id}/triage"),
                    json!({"status": "acknowledged"}),
                ),
            ] {
                let method = if path.ends_with("triage") {
                    Method::PATCH
                } else {
                    Method::POST
                };
                // Only look at refusals: a permitted write is not a read path.
                let (status, text) = call(&app, token, method, &path, Some(body)).await;
                if status >= 400 {
                    seen.push_str(&text);
                }
            }
        }
        let audit: Value = serde_json::from_str(
            &call(&app, token, Method::GET, "/api/v1/audit?limit=1000", None)
                .await
                .1,
        )
        .expect("audit");
        for e in audit["entries"].as_array().into_iter().flatten() {
            if e["object_type"] == "report" || e["object_type"] == "incident" {
                seen.push_str(&e.to_string());
            }
        }

        for op in &operators {
            if op.spec.formation != 1 || op.spec.consent {
                continue;
            }
            let own = org == &op.slug;
            let relaying_secretariat =
                org == op.ceptoar && (user.starts_with("sec") || user == "secretariat");
            if own || relaying_secretariat {
                continue;
            }
            CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for secret in [&op.slug, &op.name, &op.reporter, &op.viewer] {
                prop_assert!(
                    !seen.contains(secret.as_str()),
                    "user {} of {} can see {:?} of an anonymous reporter",
                    user,
                    org,
                    secret
                );
            }
            prop_assert!(
                !seen.contains("ゾルゴン"),
                "user {} sees the Japanese name",
                user
            );
        }
    }
    Ok(())
}

#[test]
fn no_route_reveals_an_anonymous_reporter() {
    let cases = std::env::var("CIPHUB_ANONYMITY_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(6);
    // A fixed seed: the same scenarios every run, which include anonymous reporters (a
    // random seed could draw six scenarios without one, and the test would fail by chance).
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 16,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let counter = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&scenario(), |s| {
        let case = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(run(case, s))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        CHECKED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no anonymous reporter was generated"
    );
    // The profile must still be the one the scenarios assume.
    let p = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    for (c, _) in CEPTOARS {
        assert!(p.organizations.iter().any(|o| o.slug.as_str() == *c));
    }
}
