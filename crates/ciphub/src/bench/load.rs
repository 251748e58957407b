//! `ciphub bench load`: mixed load at a fixed rate (open loop: each request leaves at its
//! time, however long earlier ones take) against an in-process server on loopback. Reads and
//! writes of reports, alerts, acknowledgements and TAXII; errors, throughput, p50 and p99.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_domain::registry::{OrgKind, Organization};
use ciphub_store::{By, NewUser, Store};
use serde_json::{Value, json};

use super::{InProcess, scratch_store};

const TAXII: &str = "application/taxii+json;version=2.1";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

/// The requests of the mix, in the order a cycle of ten sends them.
const MIX: [&str; 10] = [
    "list reports",
    "list reports",
    "list reports",
    "file report",
    "list alerts",
    "send alert",
    "acknowledge",
    "read report",
    "TAXII add",
    "TAXII read",
];

pub(super) async fn user(
    store: &Store,
    org: &Slug,
    name: &str,
    role: Role,
) -> anyhow::Result<String> {
    let name = UserName::parse(name)?;
    store
        .create_user(
            &NewUser {
                org: org.clone(),
                name: name.clone(),
                display_name: name.to_string(),
                roles: [role].into(),
                password_hash: None,
            },
            &By::system(),
        )
        .await?;
    Ok(ciphub_server::issue_token(
        store,
        &name,
        "bench",
        Duration::from_secs(7200),
        &By::system(),
    )
    .await?)
}

/// What every request needs.
struct Ctx {
    client: reqwest::Client,
    base: String,
    reporter: String,
    coordinator: String,
    last_alert: Mutex<Option<i64>>,
    last_report: Mutex<Option<i64>>,
}

/// Sends request `i` of the mix; answers its kind and whether it succeeded.
async fn send(ctx: Arc<Ctx>, i: usize) -> (&'static str, bool) {
    let kind = MIX[i % MIX.len()];
    let c = &ctx.client;
    let base = &ctx.base;
    let result = match kind {
        "list reports" => c
            .get(format!("{base}/api/v1/reports?limit=50"))
            .bearer_auth(&ctx.reporter)
            .send()
            .await,
        "file report" => c
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&ctx.reporter)
            .json(&json!({
                "title": format!("Load report {i}"), "description": "Mixed load on loopback.",
                "sectors": ["water"], "cause": "system-failure", "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z", "formation": (["ministry", "ceptoar-anonymous"][i % 2]),
                "answers": {"people-society": "none", "systems": "none"},
            }))
            .send()
            .await,
        "list alerts" => c
            .get(format!("{base}/api/v1/alerts?limit=50"))
            .bearer_auth(&ctx.reporter)
            .send()
            .await,
        "send alert" => c
            .post(format!("{base}/api/v1/alerts"))
            .bearer_auth(&ctx.coordinator)
            .json(&json!({"title": format!("Load advisory {i}"), "body": "Patch now.",
                "tlp": "TLP:GREEN", "audience": {"kind": "sectors", "values": ["water"]}}))
            .send()
            .await,
        "acknowledge" => {
            let last = ctx.last_alert.lock().ok().and_then(|l| *l);
            match last {
                Some(id) => {
                    c.post(format!("{base}/api/v1/alerts/{id}/ack"))
                        .bearer_auth(&ctx.reporter)
                        .send()
                        .await
                }
                None => {
                    c.get(format!("{base}/api/v1/alerts"))
                        .bearer_auth(&ctx.reporter)
                        .send()
                        .await
                }
            }
        }
        "read report" => {
            let last = ctx.last_report.lock().ok().and_then(|l| *l);
            let path = last.map_or_else(|| "/api/v1/me".to_owned(), |id| format!("/api/v1/reports/{id}"));
            c.get(format!("{base}{path}"))
                .bearer_auth(&ctx.reporter)
                .send()
                .await
        }
        "TAXII add" => {
            let objects: Vec<Value> = (0..10)
                .map(|k| {
                    json!({
                        "type": "indicator", "spec_version": "2.1",
                        "id": format!("indicator--00000000-0000-4000-8000-{:012}", i * 10 + k),
                        "created": "2026-04-01T00:00:00.000Z", "modified": "2026-04-01T00:00:00.000Z",
                        "pattern": format!("[ipv4-addr:value = '45.77.{}.{}']", i % 250, k),
                        "pattern_type": "stix", "valid_from": "2026-04-01T00:00:00Z",
                        "object_marking_refs": [GREEN],
                    })
                })
                .collect();
            c.post(format!(
                "{base}/taxii2/ciphub/collections/{}/objects/",
                ciphub_server::taxii::COMMUNITY
            ))
            .bearer_auth(&ctx.reporter)
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .body(json!({ "objects": objects }).to_string())
            .send()
            .await
        }
        _ => c
            .get(format!(
                "{base}/taxii2/ciphub/collections/{}/objects/?limit=100",
                ciphub_server::taxii::COMMUNITY
            ))
            .bearer_auth(&ctx.reporter)
            .header("Accept", TAXII)
            .send()
            .await,
    };
    let Ok(resp) = result else {
        return (kind, false);
    };
    let ok = resp.status().is_success();
    if ok && matches!(kind, "send alert" | "file report") {
        if let Ok(v) = resp.json::<Value>().await
            && let Some(id) = v["id"].as_i64()
        {
            let slot = if kind == "send alert" {
                &ctx.last_alert
            } else {
                &ctx.last_report
            };
            if let Ok(mut s) = slot.lock() {
                *s = Some(id);
            }
        }
    } else {
        let _ = resp.bytes().await;
    }
    (kind, ok)
}

/// Runs `rate` requests a second for `duration` and prints what it measured.
/// A water operator of the water CEPTOAR, new for this run, named after `prefix`.
pub(super) async fn water_operator(store: &Store, prefix: &str) -> anyhow::Result<Slug> {
    let org = Slug::parse(&format!("{prefix}-{}", std::process::id()))?;
    store
        .add_organizations(
            &[Organization {
                slug: org.clone(),
                kind: OrgKind::Operator,
                name_en: "Load operator".into(),
                name_ja: None,
                abbrev: None,
                sectors: vec![Slug::parse("water")?],
                services: vec![],
                responsible_for: vec![],
                member_of: vec![Slug::parse("water-ceptoar")?],
                members_published: None,
                members_count: None,
            }],
            &By::system(),
        )
        .await?;
    Ok(org)
}

pub async fn load(
    rate: u32,
    duration: Duration,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    if rate == 0 || rate > 2_000 || duration.is_zero() || duration > Duration::from_secs(600) {
        bail!("--rate must be 1 to 2,000 requests a second and --duration at most 10m");
    }
    let (store, _profile, _scratch) = scratch_store(database_url).await?;
    let org = water_operator(&store, "bench-load").await?;
    let reporter = user(&store, &org, &format!("{org}-rep"), Role::Reporter).await?;
    let coordinator = user(
        &store,
        &Slug::parse("nisc")?,
        &format!("{org}-coord"),
        Role::Coordinator,
    )
    .await?;
    let server = InProcess::start(&store).await?;
    let ctx = Arc::new(Ctx {
        client: reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?,
        base: server.base.clone(),
        reporter,
        coordinator,
        last_alert: Mutex::new(None),
        last_report: Mutex::new(None),
    });
    println!(
        "backend {}: {rate} requests/s for {} on {} (open loop; mix per 10: {})",
        store.backend().as_str(),
        humantime::format_duration(duration),
        server.base,
        MIX.join(", ")
    );
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let (kind, ok) = send(ctx, i).await;
            (kind, ok, t.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut by_kind: BTreeMap<&str, (Vec<f64>, usize)> = BTreeMap::new();
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (kind, ok, ms) = t.await?;
        let entry = by_kind.entry(kind).or_default();
        entry.0.push(ms);
        all.push(ms);
        if !ok {
            entry.1 += 1;
            errors += 1;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let line = |name: &str, mut ms: Vec<f64>, errors: usize| {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "  {name:<14} {:>6} requests, {errors} errors; ms: p50 {:.1}, p99 {:.1}, max {:.1}",
            ms.len(),
            at(0.5),
            at(0.99),
            ms[ms.len() - 1]
        );
    };
    for (kind, (ms, errs)) in by_kind {
        line(kind, ms, errs);
    }
    println!(
        "all: {} requests in {wall:.1} s ({:.1}/s), {errors} errors",
        all.len(),
        all.len() as f64 / wall
    );
    line("all", all, errors);
    server.stop().await?;
    store.close().await;
    Ok(())
}
