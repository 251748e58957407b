//! `ciphub bench`: measurements on this machine, with bounded loads (see BENCHMARKS.md).

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use ciphub_store::{AuditEvent, By, Store, StoreOptions, SystemClock, sqlite_url_for_dir};
use serde_json::json;

pub mod load;
pub mod taxii;

/// Builds an audit chain of `entries` and times `audit verify` over it `runs` times.
pub async fn audit(
    entries: usize,
    database_url: Option<String>,
    runs: usize,
) -> anyhow::Result<()> {
    if entries == 0 || entries > 10_000_000 || runs == 0 || runs > 100 {
        bail!("--entries must be 1 to 10,000,000 and --runs 1 to 100");
    }
    let scratch = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| sqlite_url_for_dir(scratch.path()));
    let store = Store::connect_with(&url, StoreOptions::default(), Arc::new(SystemClock)).await?;
    store.migrate().await?;
    let start_len = store.audit_len().await?;
    let by = By {
        user: Some("bench".into()),
        org: Some("nisc".into()),
    };
    let fill = Instant::now();
    let batch = 10_000;
    let mut done = 0;
    while done < entries {
        let n = batch.min(entries - done);
        let events: Vec<AuditEvent> = (done..done + n)
            .map(|i| AuditEvent {
                action: "report.update".into(),
                object_type: "report".into(),
                object_id: format!("R-{i}"),
                detail: json!({"stage": "update", "severity": i % 6, "note": "benchmark entry"}),
            })
            .collect();
        store.record_events(&by, &events).await?;
        done += n;
    }
    let fill_s = fill.elapsed().as_secs_f64();
    let total = store.audit_len().await?;
    println!(
        "backend {}: appended {} entries in {fill_s:.2} s ({:.0} entries/s); chain has {total} entries (had {start_len})",
        store.backend().as_str(),
        entries,
        entries as f64 / fill_s
    );
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let t = Instant::now();
        let result = store.audit_verify().await?;
        let s = t.elapsed().as_secs_f64();
        match result {
            Ok(n) => println!("verify run {run}: {n} entries intact in {s:.3} s"),
            Err(b) => bail!("the chain is broken: {b}"),
        }
        times.push(s);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "verify {total} entries: best {:.3} s, median {:.3} s, worst {:.3} s ({:.0} entries/s at the median)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        total as f64 / times[times.len() / 2]
    );
    store.close().await;
    Ok(())
}

/// The `i`th stored value: an address, a domain or a SHA-256 hash, a third of each.
fn stored_value(i: usize) -> ciphub_domain::correlation::Observable {
    use ciphub_domain::correlation::{Kind, Observable};
    match i % 3 {
        0 => Observable {
            kind: Kind::Ipv4,
            value: format!("45.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        },
        1 => Observable {
            kind: Kind::Domain,
            value: format!("c2-{i}.evil{}.net", i % 997),
        },
        _ => Observable {
            kind: Kind::Sha256,
            value: format!(
                "{:064x}",
                (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            ),
        },
    }
}

/// Stores `values` correlation values, then correlates `objects` new STIX indicators against
/// them as the server does: extract, drop noise, look up the items holding each value.
pub async fn correlation(
    values: usize,
    objects: usize,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    use std::collections::BTreeSet;

    use ciphub_domain::correlation::{WarningLists, from_stix};
    use ciphub_store::CorrelationItem;

    if values == 0 || values > 20_000_000 || objects == 0 || objects > 1_000_000 {
        bail!("--values must be 1 to 20,000,000 and --objects 1 to 1,000,000");
    }
    let scratch = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| sqlite_url_for_dir(scratch.path()));
    let store = Store::connect_with(&url, StoreOptions::default(), Arc::new(SystemClock)).await?;
    store.migrate().await?;
    // Items of 1,000 values each, from 50 organizations.
    let fill = Instant::now();
    let per_item = 1_000;
    let mut n = 0;
    let mut item = 0;
    while n < values {
        let chunk: Vec<_> = (n..(n + per_item).min(values)).map(stored_value).collect();
        store
            .set_correlations(
                &CorrelationItem {
                    item: format!("stix:bench-{item}"),
                    org_id: (item % 50) as i64,
                    sectors: vec!["water".into()],
                    exercise: false,
                },
                &chunk,
            )
            .await?;
        n += chunk.len();
        item += 1;
    }
    let fill_s = fill.elapsed().as_secs_f64();
    let stored = store.correlation_value_count().await?;
    println!(
        "backend {}: stored {values} values in {fill_s:.1} s; the index holds {stored}",
        store.backend().as_str()
    );
    let lists = WarningLists::default();
    let mut micros = Vec::with_capacity(objects);
    let mut linked = 0usize;
    for o in 0..objects {
        // Two values already stored, one new address, and a described C2 domain.
        let a = stored_value((o * 7_919) % values);
        let b = stored_value((o * 104_729 + 1) % values);
        let object = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{o:012}"),
            "created": "2026-11-30T00:00:00.000Z", "modified": "2026-11-30T00:00:00.000Z",
            "pattern": format!("[ipv4-addr:value = '46.1.{}.{}'] OR [x:value = '{}'] OR [x:value = '{}']", (o >> 8) & 255, o & 255, a.value, b.value),
            "pattern_type": "stix", "valid_from": "2026-11-30T00:00:00Z",
            "description": format!("Beacons to update-{o}.example-c2.net"),
        });
        let t = Instant::now();
        let mut found = BTreeSet::new();
        from_stix(&object, &mut found);
        let found: Vec<_> = lists.keep(found).into_iter().collect();
        linked += store
            .items_holding_each(&found, 200)
            .await?
            .iter()
            .map(Vec::len)
            .sum::<usize>();
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "correlate one new object (4 values) against {stored} stored values: median {:.0} µs, p99 {:.0} µs, max {:.0} µs ({objects} objects, {linked} links found)",
        at(0.5),
        at(0.99),
        micros[micros.len() - 1]
    );
    store.close().await;
    Ok(())
}

/// The load of `bench reports`.
pub struct ReportLoad {
    pub reporters: usize,
    pub duration: std::time::Duration,
    pub interval: std::time::Duration,
    pub bursts: usize,
    pub database_url: Option<String>,
}

/// Latency figures of one phase, in milliseconds.
fn summarize(phase: &str, mut ms: Vec<f64>, wall: f64) {
    if ms.is_empty() {
        println!("{phase}: no reports");
        return;
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{phase}: {} reports in {wall:.1} s ({:.0}/s); latency ms: median {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
        ms.len(),
        ms.len() as f64 / wall,
        at(0.5),
        at(0.9),
        at(0.99),
        ms[ms.len() - 1]
    );
}

/// Runs `load` against an in-process server on a loopback port.
pub async fn reports(load: ReportLoad) -> anyhow::Result<()> {
    use ciphub_domain::Slug;
    use ciphub_domain::identity::{Role, UserName};
    use ciphub_domain::registry::{OrgKind, Organization};
    use ciphub_store::NewUser;
    use rand::Rng;
    use std::time::{Duration, Instant};

    if load.reporters == 0
        || load.reporters > 5_000
        || load.bursts > 100
        || load.duration > Duration::from_secs(600)
    {
        bail!("--reporters must be 1 to 5,000, --bursts at most 100, --duration at most 10m");
    }
    let (store, profile, _scratch) = scratch_store(load.database_url.clone()).await?;
    let ceptoars: Vec<&Organization> = profile
        .organizations
        .iter()
        .filter(|o| o.kind == OrgKind::Ceptoar)
        .collect();
    let run_tag = std::process::id();
    let mut orgs = Vec::with_capacity(load.reporters);
    for i in 0..load.reporters {
        let c = ceptoars[i % ceptoars.len()];
        orgs.push(Organization {
            slug: Slug::parse(&format!("bench-{run_tag}-op-{i}"))?,
            kind: OrgKind::Operator,
            name_en: format!("Bench operator {i}"),
            name_ja: None,
            abbrev: None,
            sectors: c.sectors.clone(),
            services: c.services.clone(),
            responsible_for: vec![],
            member_of: vec![c.slug.clone()],
            members_published: None,
            members_count: None,
        });
    }
    store.add_organizations(&orgs, &By::system()).await?;
    let mut tokens = Vec::with_capacity(load.reporters);
    for o in &orgs {
        let name = UserName::parse(&format!("{}-rep", o.slug))?;
        store
            .create_user(
                &NewUser {
                    org: o.slug.clone(),
                    name: name.clone(),
                    display_name: name.to_string(),
                    roles: [Role::Reporter].into(),
                    password_hash: None,
                },
                &By::system(),
            )
            .await?;
        let token = ciphub_server::issue_token(
            &store,
            &name,
            "bench",
            Duration::from_secs(3600),
            &By::system(),
        )
        .await?;
        tokens.push((token, o.sectors[0].to_string()));
    }
    let server = InProcess::start(&store).await?;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(load.reporters)
        .timeout(Duration::from_secs(30))
        .build()?;
    println!(
        "backend {}: {} reporters on {base}; steady {} with a mean interval of {}; {} bursts",
        store.backend().as_str(),
        load.reporters,
        humantime::format_duration(load.duration),
        humantime::format_duration(load.interval),
        load.bursts
    );

    let file = |client: reqwest::Client, base: String, token: String, sector: String, n: usize| async move {
        let formation = ["ministry", "ceptoar-anonymous"][n % 2];
        let people = ["none", "unlikely", "may-affect", "demonstrable"][n % 4];
        let body = json!({
            "title": format!("Bench report {n}"),
            "description": "Benchmark load on loopback.",
            "sectors": [sector],
            "cause": "system-failure",
            "scope": ["it"],
            "detected_at": chrono::Utc::now().to_rfc3339(),
            "answers": {"people-society": people, "systems": "provision-may"},
            "formation": formation,
        });
        let t = Instant::now();
        let resp = client
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if status.as_u16() != 201 || answer["recipients"].as_array().is_none_or(Vec::is_empty) {
            anyhow::bail!("report refused: {status} {answer}");
        }
        Ok::<f64, anyhow::Error>(ms)
    };

    // Warm-up: one report per reporter, unmeasured, so connections and caches are in place.
    let mut warm = Vec::new();
    for (i, (token, sector)) in tokens.iter().enumerate() {
        warm.push(tokio::spawn(file(
            client.clone(),
            base.clone(),
            token.clone(),
            sector.clone(),
            i,
        )));
    }
    for w in warm {
        w.await??;
    }

    // Steady phase: every reporter files, pausing a random 0 to 2x the mean interval between reports.
    let started = Instant::now();
    let until = started + load.duration;
    let mut tasks = Vec::new();
    for (i, (token, sector)) in tokens.iter().enumerate() {
        let (client, base, token, sector) =
            (client.clone(), base.clone(), token.clone(), sector.clone());
        let interval = load.interval;
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut n = i;
            loop {
                let pause = interval.mul_f64(rand::rng().random_range(0.0..2.0));
                tokio::time::sleep(pause).await;
                if Instant::now() >= until {
                    break;
                }
                out.push(
                    file(
                        client.clone(),
                        base.clone(),
                        token.clone(),
                        sector.clone(),
                        n,
                    )
                    .await?,
                );
                n += 3;
            }
            Ok::<Vec<f64>, anyhow::Error>(out)
        }));
    }
    let mut steady = Vec::new();
    for t in tasks {
        steady.extend(t.await??);
    }
    summarize("steady", steady, started.elapsed().as_secs_f64());

    // Burst phase: every reporter files at the same instant.
    let mut burst = Vec::new();
    let started = Instant::now();
    for round in 0..load.bursts {
        let mut tasks = Vec::new();
        for (i, (token, sector)) in tokens.iter().enumerate() {
            tasks.push(tokio::spawn(file(
                client.clone(),
                base.clone(),
                token.clone(),
                sector.clone(),
                round * 7 + i,
            )));
        }
        for t in tasks {
            burst.push(t.await??);
        }
    }
    summarize("burst", burst, started.elapsed().as_secs_f64());
    server.stop().await?;
    store.close().await;
    Ok(())
}

/// Sends one alert to every operator of the full demo and has every operator acknowledge it.
pub async fn alerts(clients: usize, database_url: Option<String>) -> anyhow::Result<()> {
    use ciphub_domain::Slug;
    use ciphub_domain::identity::{Role, UserName};
    use ciphub_domain::registry::OrgKind;
    use ciphub_store::{NewUser, OrgFilter};
    use std::time::{Duration, Instant};

    if clients == 0 || clients > 1_000 {
        bail!("--clients must be 1 to 1,000");
    }
    let (store, profile, _scratch) = scratch_store(database_url).await?;
    crate::demo::seed(&store, crate::cli::DemoScale::Full).await?;
    let operators = store
        .list_organizations(&OrgFilter {
            kind: Some(OrgKind::Operator),
            sector: None,
        })
        .await?;
    // One acknowledging user and token per operator.
    let setup = Instant::now();
    let mut tokens = Vec::with_capacity(operators.len());
    for o in &operators {
        let name = UserName::parse(&format!("ack-{}", o.org.slug))?;
        store
            .create_user(
                &NewUser {
                    org: o.org.slug.clone(),
                    name: name.clone(),
                    display_name: name.to_string(),
                    roles: [Role::Viewer].into(),
                    password_hash: None,
                },
                &By::system(),
            )
            .await?;
        tokens.push(
            ciphub_server::issue_token(
                &store,
                &name,
                "bench",
                Duration::from_secs(3600),
                &By::system(),
            )
            .await?,
        );
    }
    let sender = UserName::parse("bench-sender")?;
    store
        .create_user(
            &NewUser {
                org: Slug::parse("nisc")?,
                name: sender.clone(),
                display_name: "bench".into(),
                roles: [Role::Coordinator].into(),
                password_hash: None,
            },
            &By::system(),
        )
        .await?;
    let sender_token = ciphub_server::issue_token(
        &store,
        &sender,
        "bench",
        Duration::from_secs(3600),
        &By::system(),
    )
    .await?;
    // Every operator's systems take alerts by webhook, at a real HTTP receiver on loopback.
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                if !body.is_empty() {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", hook_listener.local_addr()?);
    let receiver_task = tokio::spawn(async move { axum::serve(hook_listener, receiver).await });
    for o in &operators {
        store
            .add_webhook(&o.org.slug, &hook_url, "bench-secret", &By::system())
            .await?;
    }
    println!(
        "backend {}: {} operators with a user, a token and a webhook each (set-up {:.1} s)",
        store.backend().as_str(),
        operators.len(),
        setup.elapsed().as_secs_f64()
    );

    let server = InProcess::start(&store).await?;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(60))
        .build()?;

    // Fan-out: the 201 comes after the transaction that wrote every recipient's delivery row.
    let body = json!({
        "title": "Benchmark alert to every operator",
        "body": "Apply the vendor patch.",
        "tlp": "TLP:GREEN",
        "audience": {"kind": "sectors", "values": profile.sectors.iter().map(|s| s.slug.to_string()).collect::<Vec<_>>()},
        "acknowledge_within": "4h",
        "exercise": true
    });
    let t = Instant::now();
    let resp = client
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(&sender_token)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let sent: serde_json::Value = resp.json().await?;
    let fan_out = t.elapsed().as_secs_f64();
    if status.as_u16() != 201 {
        bail!("alert refused: {status} {sent}");
    }
    let id = sent["id"].as_i64().unwrap_or_default();
    let deliveries = store.deliveries(id).await?;
    let to_operators = deliveries
        .iter()
        .filter(|d| operators.iter().any(|o| o.org.slug == d.org))
        .count();
    println!(
        "fan-out: one alert to {} organizations ({to_operators} operators) in {:.3} s, inbox entries and webhook jobs written",
        deliveries.len(),
        fan_out
    );
    // The worker calls every webhook; wait until the receiver has them all (at most 2 min).
    let waited = Instant::now();
    while received.load(std::sync::atomic::Ordering::Relaxed) < operators.len() {
        if waited.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {} webhook calls arrived within 2 minutes",
                received.load(std::sync::atomic::Ordering::Relaxed),
                operators.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hooks_s = t.elapsed().as_secs_f64();
    println!(
        "webhooks: {} signed calls received {hooks_s:.2} s after sending ({:.0}/s)",
        operators.len(),
        operators.len() as f64 / hooks_s
    );

    // Acknowledgements: every operator acknowledges, `clients` at a time.
    let queue = Arc::new(tokio::sync::Mutex::new(tokens));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (queue, client, base) = (queue.clone(), client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let Some(token) = queue.lock().await.pop() else {
                    break;
                };
                let resp = client
                    .post(format!("{base}/api/v1/alerts/{id}/ack"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                if resp.status().as_u16() != 200 {
                    anyhow::bail!("acknowledgement refused: {}", resp.status());
                }
                done += 1;
            }
            Ok::<usize, anyhow::Error>(done)
        }));
    }
    let mut acks = 0;
    for task in tasks {
        acks += task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    let acked = store
        .deliveries(id)
        .await?
        .iter()
        .filter(|d| d.acked.is_some())
        .count();
    println!(
        "acknowledgements: {acks} in {secs:.2} s ({:.0}/s) with {clients} clients; {acked} recorded",
        acks as f64 / secs
    );
    server.stop().await?;
    receiver_task.abort();
    store.close().await;
    Ok(())
}

/// Every page and API list as each kind of user sees it, on the full demo with `reports`
/// reports and `alerts` alerts in it: time to the whole page, sequential requests over a
/// kept-alive connection.
pub async fn pages(
    rounds: usize,
    reports: usize,
    alerts: usize,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    use ciphub_domain::Slug;
    use ciphub_domain::identity::{Role, UserName};
    use ciphub_domain::registry::OrgKind;
    use ciphub_store::NewUser;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    if rounds == 0 || rounds > 1_000 {
        bail!("--rounds must be 1 to 1,000");
    }
    if !(10..=1_000_000).contains(&reports) || !(30..=100_000).contains(&alerts) {
        bail!("--reports must be 10 to 1,000,000 and --alerts 30 to 100,000");
    }
    let (store, profile, _scratch) = scratch_store(database_url).await?;
    crate::demo::seed(&store, crate::cli::DemoScale::Full).await?;
    let server = InProcess::start(&store).await?;
    let base = server.base.clone();
    let login = |user: &'static str| {
        let base = base.clone();
        async move {
            let c = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()?;
            let resp = c
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"user": user, "password": crate::demo::DEMO_PASSWORD}))
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("{user} cannot log in: {}", resp.status());
            }
            Ok::<_, anyhow::Error>(c)
        }
    };
    let coordinator = login("demo-coordinator").await?;
    let reporter = login("demo-reporter").await?;
    let secretariat = login("demo-secretariat").await?;
    let executive = login("demo-executive").await?;
    let ministry = login("demo-ministry").await?;
    let admin = login("demo-admin").await?;

    // Reporters: the demo reporter, seven more water operators, and one operator of every
    // other CEPTOAR's sector, each with a token.
    let mut water = vec![bench_token(&store, "demo-reporter", "water").await?];
    let mut others = Vec::new();
    for c in profile
        .organizations
        .iter()
        .filter(|o| o.kind == OrgKind::Ceptoar)
    {
        let base_slug = c.slug.as_str().trim_end_matches("-ceptoar");
        let is_water = c.slug.as_str() == "water-ceptoar";
        for i in 2..=if is_water { 8 } else { 2 } {
            let org = Slug::parse(&format!("demo-{base_slug}-op-{i:04}"))?;
            let name = UserName::parse(&format!("bench-{org}-rep"))?;
            store
                .create_user(
                    &NewUser {
                        org,
                        name: name.clone(),
                        display_name: name.to_string(),
                        roles: [Role::Reporter].into(),
                        password_hash: None,
                    },
                    &By::system(),
                )
                .await?;
            let token = bench_token(&store, name.as_str(), c.sectors[0].as_str()).await?;
            if is_water {
                water.push(token);
            } else {
                others.push(token);
            }
        }
    }
    let water_reporter = water[0].clone();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    // 30% anonymous to the water CEPTOAR (half of them by the demo reporter), 5% by the demo
    // reporter to its ministry, the rest to the ministries of the other sectors.
    let pick = move |n: usize| -> (String, String, &'static str) {
        match n % 20 {
            0..=2 => (
                water_reporter.0.clone(),
                water_reporter.1.clone(),
                "ceptoar-anonymous",
            ),
            6 => (
                water_reporter.0.clone(),
                water_reporter.1.clone(),
                "ministry",
            ),
            3..=5 => {
                let (t, s) = &water[1 + n / 20 % (water.len() - 1)];
                (t.clone(), s.clone(), "ceptoar-anonymous")
            }
            _ => {
                let (t, s) = &others[n / 20 % others.len()];
                (t.clone(), s.clone(), "ministry")
            }
        }
    };
    let pick = Arc::new(pick);
    println!(
        "backend {}: full demo; filing {reports} reports with 16 clients:",
        store.backend().as_str()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let tenth = reports.div_ceil(10);
    let t_all = Instant::now();
    let mut report_ids = Vec::new();
    for part in 0..10 {
        let until = ((part + 1) * tenth).min(reports);
        let t = Instant::now();
        let from = next.load(Ordering::SeqCst);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (client, base, next, pick) =
                (client.clone(), base.clone(), next.clone(), pick.clone());
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= until {
                        next.fetch_min(until, Ordering::SeqCst);
                        break;
                    }
                    let (token, sector, formation) = pick(n);
                    let people = ["none", "unlikely", "may-affect", "demonstrable"][n % 4];
                    let resp = client
                        .post(format!("{base}/api/v1/reports"))
                        .bearer_auth(token)
                        .json(&json!({
                            "title": format!("Telemetry outage {n}"),
                            "description": "Pump telemetry stopped.",
                            "sectors": [sector], "cause": "system-failure", "scope": ["ot"],
                            "detected_at": chrono::Utc::now().to_rfc3339(),
                            "answers": {"people-society": people, "systems": "provision-may"},
                            "formation": formation,
                        }))
                        .send()
                        .await?;
                    if !resp.status().is_success() {
                        bail!("report refused: {}", resp.text().await?);
                    }
                    let id = resp.json::<serde_json::Value>().await?["id"]
                        .as_i64()
                        .unwrap_or(0);
                    ids.push((n, id));
                }
                Ok::<_, anyhow::Error>(ids)
            }));
        }
        for task in tasks {
            report_ids.extend(task.await??);
        }
        let filed = until - from;
        if filed > 0 {
            println!(
                "  reports {:>7} to {:>7}: {:.0} reports/s",
                from + 1,
                until,
                filed as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    report_ids.sort_unstable();
    println!(
        "  {reports} reports in {:.1} s",
        t_all.elapsed().as_secs_f64()
    );
    let sectors: Vec<String> = store
        .list_sectors()
        .await?
        .into_iter()
        .map(|s| s.sector.slug.to_string())
        .collect();
    let (sender, _) = bench_token(&store, "demo-coordinator", "").await?;
    let t = Instant::now();
    let mut alert_ids = Vec::new();
    for n in 0..alerts {
        // The first 30 to every sector, the rest to one sector each.
        let values = if n < 30 {
            sectors.clone()
        } else {
            vec![sectors[n % sectors.len()].clone()]
        };
        let resp = client
            .post(format!("{base}/api/v1/alerts"))
            .bearer_auth(&sender)
            .json(&json!({
                "title": format!("Advisory {n}"), "body": "Apply the **fix**.", "tlp": "TLP:GREEN",
                "audience": {"kind": "sectors", "values": values}, "acknowledge_within": "4h",
            }))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("alert refused: {}", resp.text().await?);
        }
        alert_ids.push(
            resp.json::<serde_json::Value>().await?["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    println!(
        "  {} alerts ({} to all {} sectors) in {:.1} s",
        alert_ids.len(),
        30,
        sectors.len(),
        t.elapsed().as_secs_f64()
    );
    // The demo reporter's newest reports: one to the ministry, one anonymous.
    let newest = |kind: std::ops::RangeInclusive<usize>| {
        report_ids
            .iter()
            .rev()
            .find(|(n, _)| kind.contains(&(n % 20)))
            .map_or(0, |(_, id)| *id)
    };
    let (report, alert) = (newest(6..=6), alert_ids[0]);
    let anonymous = newest(0..=2);
    let pages: Vec<(&str, &reqwest::Client, String)> = vec![
        ("secretariat", &secretariat, "/alerts".into()),
        ("coordinator", &coordinator, "/dashboard".into()),
        ("coordinator", &coordinator, "/reports".into()),
        ("coordinator", &coordinator, "/alerts".into()),
        ("coordinator", &coordinator, "/alerts/new".into()),
        ("coordinator", &coordinator, format!("/alerts/{alert}")),
        (
            "coordinator",
            &coordinator,
            format!("/alerts/{alert}?show=unacknowledged&sector=water&q=op&page=2"),
        ),
        ("reporter", &reporter, "/dashboard".into()),
        ("reporter", &reporter, "/reports".into()),
        ("reporter", &reporter, "/reports/new".into()),
        ("reporter", &reporter, format!("/reports/{report}")),
        ("coordinator", &coordinator, "/registry".into()),
        (
            "coordinator",
            &coordinator,
            "/registry?kind=operator".into(),
        ),
        (
            "coordinator",
            &coordinator,
            "/registry/water-ceptoar".into(),
        ),
        ("coordinator", &coordinator, "/audit".into()),
        ("coordinator", &coordinator, "/audit?action=report.".into()),
        (
            "coordinator",
            &coordinator,
            "/registry?kind=operator&q=water&sort=name&page=3".into(),
        ),
        ("admin", &admin, "/admin/users".into()),
        ("coordinator", &coordinator, "/settings".into()),
        ("secretariat", &secretariat, "/dashboard".into()),
        ("secretariat", &secretariat, "/reports".into()),
        ("secretariat", &secretariat, format!("/reports/{anonymous}")),
        ("ministry", &ministry, "/dashboard".into()),
        ("ministry", &ministry, "/reports".into()),
        ("executive", &executive, "/dashboard".into()),
        ("executive", &executive, "/alerts".into()),
        ("executive", &executive, format!("/alerts/{alert}")),
        ("coordinator", &coordinator, "/api/v1/reports".into()),
        ("coordinator", &coordinator, "/api/v1/alerts".into()),
        (
            "coordinator",
            &coordinator,
            format!("/api/v1/alerts/{alert}/delivery"),
        ),
        ("coordinator", &coordinator, "/api/v1/organizations".into()),
        ("coordinator", &coordinator, "/api/v1/audit".into()),
        (
            "coordinator",
            &coordinator,
            "/api/v1/audit?order=newest&action=report.".into(),
        ),
        ("admin", &admin, "/api/v1/users".into()),
        ("coordinator", &coordinator, "/api/v1/correlations".into()),
        ("reporter", &reporter, "/api/v1/reports".into()),
        ("reporter", &reporter, "/api/v1/notifications".into()),
        ("secretariat", &secretariat, "/api/v1/reports".into()),
        ("ministry", &ministry, "/api/v1/reports".into()),
        ("executive", &executive, "/api/v1/alerts".into()),
        ("executive", &executive, "/api/v1/alert-notices".into()),
    ];
    println!("{rounds} sequential requests per page, time to the whole body:");
    println!(
        "  {:<12} {:<30} {:>9} {:>9} {:>9} {:>8}",
        "user", "page", "median", "p95", "max", "bytes"
    );
    let mut worst: f64 = 0.0;
    for (who, client, path) in &pages {
        let mut ms = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let resp = client.get(format!("{base}{path}")).send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if !status.is_success() {
                bail!("{who} {path}: {status}");
            }
            bytes = body.len();
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        worst = worst.max(at(0.5));
        let label = if path.len() > 30 { &path[..30] } else { path };
        println!(
            "  {who:<12} {label:<30} {:>7.1}ms {:>7.1}ms {:>7.1}ms {bytes:>8}",
            at(0.5),
            at(0.95),
            ms[ms.len() - 1]
        );
    }
    println!("slowest median: {worst:.1} ms (goal: every page and list under 50 ms)");
    server.stop().await?;
    store.close().await;
    Ok(())
}

/// A one-hour API token for the user `name`, with the sector it reports in.
async fn bench_token(store: &Store, name: &str, sector: &str) -> anyhow::Result<(String, String)> {
    use std::time::Duration;
    let name = ciphub_domain::identity::UserName::parse(name)?;
    let token = ciphub_server::issue_token(
        store,
        &name,
        "bench",
        Duration::from_secs(3600),
        &By::system(),
    )
    .await?;
    Ok((token, sector.to_owned()))
}

/// A scratch store (or the one at `database_url`) migrated and holding the Japanese profile;
/// the temporary directory lives as long as the returned guard.
async fn scratch_store(
    database_url: Option<String>,
) -> anyhow::Result<(Store, ciphub_domain::registry::Profile, tempfile::TempDir)> {
    let scratch = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| sqlite_url_for_dir(scratch.path()));
    let store = Store::connect_with(&url, StoreOptions::default(), Arc::new(SystemClock)).await?;
    store.migrate().await?;
    let profile = ciphub_domain::registry::shipped_profile("jp-cip-4")
        .ok_or_else(|| anyhow::anyhow!("no jp-cip-4 profile"))??;
    store.apply_profile(&profile, &By::system()).await?;
    Ok((store, profile, scratch))
}

/// The server running in this process on a loopback port.
struct InProcess {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The server configuration of the benchmarks.
fn bench_config() -> ciphub_server::ServerConfig {
    // The benchmark's webhook receiver is on loopback.
    // Plain HTTP on loopback: session cookies without Secure, so a client keeps them.
    // One client address sends every request of a benchmark: the limits would measure
    // themselves.
    ciphub_server::ServerConfig {
        webhook_private_targets: true,
        secure_cookies: false,
        api_limits: ciphub_server::ApiLimits {
            per_credential: ciphub_server::Rate::UNLIMITED,
            per_address: ciphub_server::Rate::UNLIMITED,
        },
        ..ciphub_server::ServerConfig::default()
    }
}

impl InProcess {
    async fn start(store: &Store) -> anyhow::Result<Self> {
        Self::start_with(store, bench_config()).await
    }

    async fn start_with(
        store: &Store,
        config: ciphub_server::ServerConfig,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = ciphub_server::AppState::new(store.clone(), config);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(ciphub_server::serve(listener, state, async {
            let _ = stop_rx.await;
        }));
        Ok(Self { base, stop, handle })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.handle.await??;
        Ok(())
    }
}

/// Plays and scores each shipped scenario with `participants` simulated organizations a team;
/// prints the median time of the scoring and of the simulation over `rounds` runs.
pub fn exercise(participants: u32, rounds: u32) -> anyhow::Result<()> {
    use std::collections::BTreeMap;

    use ciphub_domain::Slug;
    use ciphub_domain::exercise::score::score;
    use ciphub_domain::exercise::simulate::{Mix, simulate};
    use ciphub_domain::exercise::{SHIPPED_SCENARIOS, Scenario};

    println!(
        "exercise scoring: {participants} participants a team, {rounds} rounds, median (in memory; no channels)"
    );
    println!(
        "  {:<28} {:>8} {:>10} {:>10} {:>12}",
        "scenario", "answers", "simulate", "score", "points"
    );
    for (id, _) in SHIPPED_SCENARIOS {
        let s = Scenario::shipped(id)
            .ok_or_else(|| anyhow::anyhow!("{id} is not shipped"))?
            .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        let members: BTreeMap<Slug, Vec<Slug>> = s
            .teams
            .iter()
            .map(|t| {
                let orgs = (0..participants)
                    .map(|k| Slug::parse(&format!("{}-{k:06}", t.id.as_str())))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((t.id.clone(), orgs))
            })
            .collect::<anyhow::Result<_>>()?;
        let (mut sims, mut scores) = (Vec::new(), Vec::new());
        let mut last = None;
        for round in 0..rounds {
            let t = Instant::now();
            let run = simulate(&s, &members, u64::from(round), Mix::default());
            sims.push(t.elapsed());
            let t = Instant::now();
            let result = score(&s, &members, &run.arrived, &run.events);
            scores.push(t.elapsed());
            last = Some((run.events.len(), result.overall));
        }
        sims.sort();
        scores.sort();
        let median = |v: &[std::time::Duration]| v[v.len() / 2].as_secs_f64() * 1000.0;
        let (answers, overall) = last.unwrap_or_default();
        println!(
            "  {id:<28} {answers:>8} {:>8.1}ms {:>8.1}ms {:>6}/{:<5}",
            median(&sims),
            median(&scores),
            overall.earned,
            overall.possible
        );
    }
    Ok(())
}

/// The scenario `bench exercise` runs over the store: one alert to every water operator, which
/// every one of them acknowledges.
const BENCH_SCENARIO: &str = r#"
[exercise]
id = "bench-one-inject"
title_en = "One inject to every operator"
duration = "1h"

[[exercise.objective]]
en = "Every operator acknowledges."

[[team]]
id = "operators"
name_en = "Operators"
kinds = ["operator"]
sectors = ["water"]

[[inject]]
id = "warning"
kind = "alert"
at = "0m"
to = ["operators"]
tlp = "TLP:AMBER"
title_en = "Bench warning"
body_en = "Acknowledge, please."

[[expectation]]
id = "ack"
team = "operators"
rule = "all"
act = "acknowledge"
inject = "warning"
within = "30m"
points = 10
text_en = "Every operator acknowledges."
"#;

/// One inject to `participants` organizations over the real channels of a store (the alert
/// and its deliveries, committed), their acknowledgements, and the scoring of the run from
/// what the store holds; `rounds` runs, medians printed.
pub async fn exercise_store(
    participants: u32,
    rounds: u32,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    use ciphub_domain::registry::{OrgKind, Organization};
    use ciphub_domain::{Slug, identity::UserName};
    use ciphub_server::exercise::Engine;
    use ciphub_store::{By, NewRun, UserRecord};

    let scratch = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| sqlite_url_for_dir(scratch.path()));
    let store = Store::connect_with(&url, StoreOptions::default(), Arc::new(SystemClock)).await?;
    store.migrate().await?;
    let profile = ciphub_domain::registry::shipped_profile("jp-cip-4")
        .ok_or_else(|| anyhow::anyhow!("the jp-cip-4 profile is not shipped"))??;
    store.apply_profile(&profile, &By::system()).await?;
    let water = Slug::parse("water")?;
    let ceptoar = Slug::parse("water-ceptoar")?;
    let orgs: Vec<Organization> = (0..participants)
        .map(|k| {
            Ok(Organization {
                slug: Slug::parse(&format!("bench-water-{k:06}"))?,
                kind: OrgKind::Operator,
                name_en: format!("Bench water operator {k}"),
                name_ja: None,
                abbrev: None,
                sectors: vec![water.clone()],
                services: vec![],
                responsible_for: vec![],
                member_of: vec![ceptoar.clone()],
                members_published: None,
                members_count: None,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in orgs.chunks(1000) {
        store.add_organizations(chunk, &By::system()).await?;
    }
    let (_, facts) = store.community().await?;
    let scenario = ciphub_domain::exercise::Scenario::from_toml(BENCH_SCENARIO)
        .map_err(|e| anyhow::anyhow!("the bench scenario: {e}"))?;
    let members: std::collections::BTreeMap<Slug, Vec<Slug>> = scenario
        .teams
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                t.members(&facts).into_iter().cloned().collect(),
            )
        })
        .collect();
    let team = members.values().map(Vec::len).sum::<usize>();
    println!(
        "exercise over the store ({}): one inject to {team} participants, their acknowledgements, and the scoring; {rounds} rounds, median",
        store.backend().as_str()
    );
    let coordinator = Slug::parse("nisc")?;
    let (mut sends, mut acks, mut scorings) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..rounds {
        let run = store
            .create_run(
                &NewRun {
                    scenario_id: scenario.id.clone(),
                    scenario: BENCH_SCENARIO.to_owned(),
                    owner: coordinator.clone(),
                    created_by: "bench".into(),
                    speed: 1,
                    starts: chrono::Utc::now(),
                    seed: None,
                    members: members.clone(),
                },
                &By::system(),
            )
            .await?;
        let engine = Engine::default();
        // The first round starts the run and sends the inject: the alert and every delivery
        // are committed when it returns.
        let t = Instant::now();
        engine.play_run(&store, run.id, false).await?;
        sends.push(t.elapsed());
        let alert = store
            .run_sent_items(run.id)
            .await?
            .values()
            .find_map(|(a, _)| *a)
            .ok_or_else(|| anyhow::anyhow!("the inject was not sent"))?;
        // Every participant acknowledges at once, as the API does.
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for f in facts.iter().filter(|f| f.kind == OrgKind::Operator) {
            let store = store.clone();
            let user = UserRecord {
                id: 0,
                name: UserName::parse("bench-participant")?,
                display_name: "Bench participant".into(),
                org: f.slug.clone(),
                org_kind: f.kind,
                roles: [ciphub_domain::identity::Role::Reporter].into(),
                disabled: false,
                created: chrono::Utc::now(),
            };
            tasks.spawn(async move { store.ack_alert(alert, &user).await });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        acks.push(t.elapsed());
        let run = store.run(run.id).await?;
        let t = Instant::now();
        let scores = engine.scores(&store, &run).await?;
        scorings.push(t.elapsed());
        let answered = scores.expectations.first().map_or(0, |e| e.outcomes.len());
        last = Some((answered, scores.overall));
    }
    for v in [&mut sends, &mut acks, &mut scorings] {
        v.sort();
    }
    let median = |v: &[std::time::Duration]| v[v.len() / 2].as_secs_f64() * 1000.0;
    let (answered, overall) = last.unwrap_or_default();
    println!(
        "  one inject to {team}: {:.1} ms; {team} acknowledgements: {:.1} ms; scoring {answered} answers from the store: {:.1} ms (earned {}/{})",
        median(&sends),
        median(&acks),
        median(&scorings),
        overall.earned,
        overall.possible
    );
    Ok(())
}
