//! `ciphub bench taxii`: ciphub's TAXII 2.1 server against medallion 3.0.0 (the OASIS
//! reference server, memory backend) in one run on this machine, over loopback, with the same
//! client and the same bytes; then 100-object pages from a collection of a million objects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, UserName};
use ciphub_store::{By, NewStixObject, NewUser, StixBatch};
use serde_json::{Value, json};

use super::{InProcess, scratch_store};

const TAXII: &str = "application/taxii+json;version=2.1";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

/// What to run.
#[derive(Clone, Debug)]
pub struct TaxiiLoad {
    pub objects: usize,
    pub envelope: usize,
    pub page: u32,
    /// Timed adds on each server, each on a fresh instance (the last one is also read).
    pub rounds: usize,
    pub big: usize,
    pub samples: usize,
    pub medallion: String,
    /// The Python with taxii2-client, or "none".
    pub python: String,
    pub database_url: Option<String>,
}

/// The script that adds with taxii2-client at its defaults.
const TAXII2_ADD: &str = include_str!("taxii2_add.py");

/// Seconds taxii2-client at its defaults takes to add `envelopes` to the collection whose
/// objects are at `t.objects_url`.
fn taxii2_client_add(python: &str, t: &Target, envelopes: &[Value]) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("taxii2_add.py");
    std::fs::write(&script, TAXII2_ADD)?;
    let data = dir.path().join("envelopes.json");
    std::fs::write(&data, serde_json::to_vec(envelopes)?)?;
    // taxii2-client wants the collection's URL to end in its id, not an alias.
    let collection = t
        .objects_url
        .strip_suffix("objects/")
        .unwrap_or(&t.objects_url)
        .replace(
            "/collections/community/",
            &format!("/collections/{}/", ciphub_server::taxii::COMMUNITY),
        );
    let out = std::process::Command::new(python)
        .arg(&script)
        .args([collection.as_str(), &t.user, &t.password])
        .arg(&data)
        .output()
        .with_context(|| {
            format!(
                "cannot run {python:?}: pip install taxii2-client==2.3.0, or give --python none"
            )
        })?;
    if !out.status.success() {
        bail!(
            "taxii2-client against {} failed: {}",
            t.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("taxii2-client printed {text:?}"))
}

fn indicator(run: &str, n: usize) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{run}-{n}").as_bytes())),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("C2 address {n}"),
        "description": "Command-and-control server seen in a campaign against water utilities.",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", n / 65536 % 256, n / 256 % 256, n % 256),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [GREEN],
    })
}

/// A TAXII server under test: where its collection is and how to authenticate.
struct Target {
    name: &'static str,
    objects_url: String,
    /// The status resource's address, with `{id}` for its id.
    status_url: String,
    user: String,
    password: String,
}

/// Posts every envelope, then (given a `page` size) reads everything back a page at a time;
/// returns the seconds of each phase and the objects read (0 and 0 when not reading).
async fn add_then_read(
    client: &reqwest::Client,
    t: &Target,
    envelopes: &[axum::body::Bytes],
    page: Option<u32>,
) -> anyhow::Result<(f64, f64, usize)> {
    /// What the client reads of a status (the rest is skipped, not built).
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
        status: String,
        failure_count: u64,
    }
    let started = Instant::now();
    let mut pending = Vec::new();
    for body in envelopes {
        let resp = client
            .post(&t.objects_url)
            .basic_auth(&t.user, Some(&t.password))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            // This client polls the statuses itself, at the end: it asks not to wait for the
            // write (RFC 7240), as a client that sends many envelopes does.
            .header("Prefer", "respond-async")
            .body(body.clone())
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.as_u16() != 202 {
            bail!("{}: POST answered {status}: {text}", t.name);
        }
        let s: Head = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a status: {text}", t.name))?;
        if s.failure_count != 0 {
            bail!("{}: objects refused: {text}", t.name);
        }
        match s.status.as_str() {
            "complete" => {}
            "pending" => pending.push(s.id),
            _ => bail!("{}: not a status: {text}", t.name),
        }
    }
    // A server that answers `pending` has added the objects when the status says complete.
    // Its writer keeps the order requests came in, so the last status is waited for, then
    // (after the clock stops) every status is checked.
    if std::env::var_os("CIPHUB_BENCH_PHASES").is_some() {
        eprintln!(
            "  {}: every POST answered after {:.3} s",
            t.name,
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(last) = pending.last() {
        while status_of(client, t, last).await?["status"] != "complete" {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let add = started.elapsed().as_secs_f64();
    for id in &pending {
        let s = status_of(client, t, id).await?;
        if s["status"] != "complete"
            || s["failure_count"] != 0
            || s["success_count"] != s["total_count"]
        {
            bail!("{}: status {id} after the last was complete: {s}", t.name);
        }
    }
    let Some(page) = page else {
        return Ok((add, 0.0, 0));
    };
    let started = Instant::now();
    let mut read = 0;
    let mut next: Option<String> = None;
    loop {
        let mut req = client
            .get(&t.objects_url)
            .basic_auth(&t.user, Some(&t.password))
            .header("Accept", TAXII)
            .query(&[("limit", page.to_string())]);
        if let Some(n) = &next {
            req = req.query(&[("next", n)]);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("{}: GET answered {status}: {}", t.name, resp.text().await?);
        }
        let envelope: Value = resp.json().await?;
        read += envelope["objects"].as_array().map_or(0, Vec::len);
        match (envelope["more"].as_bool(), envelope["next"].as_str()) {
            (Some(true), Some(n)) => next = Some(n.to_owned()),
            (Some(true), None) => bail!("{}: more objects but no next", t.name),
            _ => break,
        }
    }
    Ok((add, started.elapsed().as_secs_f64(), read))
}

/// Files a report every 25 ms until `stop`; returns the seconds each took.
async fn file_reports(
    client: reqwest::Client,
    base: String,
    token: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Vec<f64>> {
    let mut took = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    for i in 0.. {
        tick.tick().await;
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let resp = client
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&token)
            .json(&json!({
                "title": format!("Filed during a TAXII add {i}"), "description": "Pumps stopped.",
                "sectors": ["water"], "cause": "system-failure", "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z", "formation": "ministry",
                "answers": {"people-society": "none", "systems": "none"},
            }))
            .send()
            .await?;
        if resp.status() != 201 {
            bail!(
                "filing a report answered {}: {}",
                resp.status(),
                resp.text().await?
            );
        }
        took.push(started.elapsed().as_secs_f64());
    }
    Ok(took)
}

/// A status resource of `t`.
async fn status_of(client: &reqwest::Client, t: &Target, id: &str) -> anyhow::Result<Value> {
    let url = t.status_url.replace("{id}", id);
    let resp = client
        .get(&url)
        .basic_auth(&t.user, Some(&t.password))
        .header("Accept", TAXII)
        .send()
        .await?;
    let status = resp.status();
    if !status.is_success() {
        bail!(
            "{}: GET {url} answered {status}: {}",
            t.name,
            resp.text().await?
        );
    }
    Ok(resp.json().await?)
}

/// medallion on a free loopback port with a fresh memory backend; killed when dropped.
struct Medallion {
    child: std::process::Child,
    objects_url: String,
    status_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_medallion(command: &str, page: u32) -> anyhow::Result<Medallion> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir()?;
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    let data = json!({
        "/discovery": {"title": "medallion", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 104857600},
            "status": [],
            "collections": [{"id": collection, "title": "bench", "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]
        }
    });
    std::fs::write(dir.path().join("data.json"), data.to_string())?;
    let config = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": dir.path().join("data.json")},
        "users": {"bench": "bench-password"},
        "taxii": {"max_page_size": page},
    });
    std::fs::write(dir.path().join("config.json"), config.to_string())?;
    let child = std::process::Command::new(command)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(dir.path().join("config.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {command:?}: pip install medallion==3.0.0, or give --medallion PATH"
            )
        })?;
    let m = Medallion {
        child,
        objects_url: format!("{base}/api1/collections/{collection}/objects/"),
        status_url: format!("{base}/api1/status/{{id}}/"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client
            .get(format!("{base}/taxii2/"))
            .basic_auth("bench", Some("bench-password"))
            .header("Accept", TAXII)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("medallion did not answer on {base}")
}

/// ciphub in this process on a scratch store (or `database_url`), with a user and token.
async fn start_ciphub(
    database_url: Option<String>,
    load: &TaxiiLoad,
) -> anyhow::Result<(ciphub_store::Store, tempfile::TempDir, InProcess, Target)> {
    let (store, _profile, scratch) = scratch_store(database_url).await?;
    let nisc = Slug::parse("nisc")?;
    let user = UserName::parse("bench-analyst")?;
    store
        .create_user(
            &NewUser {
                org: nisc.clone(),
                name: user.clone(),
                display_name: "bench".into(),
                roles: [Role::Analyst].into(),
                password_hash: None,
            },
            &By::system(),
        )
        .await?;
    let token = ciphub_server::issue_token(
        &store,
        &user,
        "bench",
        Duration::from_secs(3600),
        &By::system(),
    )
    .await?;
    let mut config = super::bench_config();
    config.taxii.requests_per_minute = u32::MAX;
    config.taxii.burst = u32::MAX;
    config.taxii.max_page = load.page.max(100);
    let server = InProcess::start_with(&store, config).await?;
    let target = Target {
        name: "ciphub",
        objects_url: format!(
            "{}/taxii2/ciphub/collections/community/objects/",
            server.base
        ),
        status_url: format!("{}/taxii2/ciphub/status/{{id}}/", server.base),
        user: user.to_string(),
        password: token,
    };
    Ok((store, scratch, server, target))
}

/// The middle of `xs` (the mean of the two middle ones for an even count).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fold(xs: &[f64], f: fn(f64, f64) -> f64) -> f64 {
    xs.iter().copied().reduce(f).unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Runs the comparison, then the large-collection pages.
pub async fn run(load: TaxiiLoad) -> anyhow::Result<()> {
    if load.envelope == 0
        || load.objects == 0
        || load.page == 0
        || load.samples == 0
        || load.rounds == 0
    {
        bail!("--objects, --envelope, --page, --rounds and --samples must be at least 1");
    }
    let (store, _scratch, server, ours) = start_ciphub(load.database_url.clone(), &load).await?;
    let medallion = if load.medallion == "none" {
        None
    } else {
        Some(start_medallion(&load.medallion, load.page).await?)
    };

    let run = uuid::Uuid::new_v4().to_string();
    let objects: Vec<Value> = (0..load.objects).map(|n| indicator(&run, n)).collect();
    let envelopes: Vec<axum::body::Bytes> = objects
        .chunks(load.envelope)
        .map(|c| json!({ "objects": c }).to_string().into())
        .collect();
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    println!(
        "{} indicators in {} envelopes of {}, then read back with limit {}; one client, sequential requests, loopback",
        load.objects,
        envelopes.len(),
        load.envelope,
        load.page
    );
    let medallion_target = |m: &Medallion| Target {
        name: "medallion",
        objects_url: m.objects_url.clone(),
        status_url: m.status_url.clone(),
        user: "bench".into(),
        password: "bench-password".into(),
    };
    // Each server: one untimed add on a throwaway instance (warm-up), then `rounds` timed
    // adds, each on a fresh instance; the last instance is also read back.
    let peer = match &medallion {
        Some(m) => {
            let mut adds = Vec::with_capacity(load.rounds);
            for round in 0..load.rounds {
                let fresh = start_medallion(&load.medallion, load.page).await?;
                let (t, _, _) =
                    add_then_read(&client, &medallion_target(&fresh), &envelopes, None).await?;
                if round > 0 {
                    adds.push(t);
                }
            }
            let (t, read, n) =
                add_then_read(&client, &medallion_target(m), &envelopes, Some(load.page)).await?;
            if n != load.objects {
                bail!("medallion read back {n} of {}", load.objects);
            }
            adds.push(t);
            Some((adds, read))
        }
        None => None,
    };
    // medallion stops before ciphub runs, so the two never share the machine.
    drop(medallion);
    let mut ours_adds = Vec::with_capacity(load.rounds);
    for round in 0..load.rounds {
        // Each throwaway instance has its own scratch database, and it is gone (server
        // stopped, files deleted) before the next starts.
        let (store, dir, fresh, target) = start_ciphub(None, &load).await?;
        let (t, _, _) = add_then_read(&client, &target, &envelopes, None).await?;
        if round > 0 {
            ours_adds.push(t);
        }
        fresh.stop().await?;
        store.close().await;
        drop(dir);
    }
    // Meanwhile an operator files a report every 25 ms: how long other writers wait while
    // the TAXII writer drains.
    let org = super::load::water_operator(&store, "bench-taxii").await?;
    let reporter = super::load::user(&store, &org, &format!("{org}-rep"), Role::Reporter).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let filing = tokio::spawn(file_reports(
        client.clone(),
        server.base.clone(),
        reporter,
        stop.clone(),
    ));
    let (c_add, c_read, c_n) = add_then_read(&client, &ours, &envelopes, Some(load.page)).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut filed = filing.await??;
    if c_n != load.objects {
        bail!("ciphub read back {c_n} of {}", load.objects);
    }
    // The throwaway instances are on scratch SQLite files; with --database-url the last one
    // is on that database, and is shown apart.
    let on_database = load.database_url.is_some().then_some(c_add);
    if on_database.is_none() {
        ours_adds.push(c_add);
    }
    let show = |name: &str, adds: &[f64], read: f64| {
        let each: Vec<String> = adds.iter().map(|t| format!("{t:.3}")).collect();
        println!(
            "  {name:<10} {:>9.3}s {read:>9.3}s   (adds: {} s)",
            median(adds),
            each.join(", ")
        );
    };
    println!(
        "  {:<10} {:>10} {:>10}   (median of {} adds, each on a fresh instance after a warm-up)",
        "", "add", "read all", load.rounds
    );
    if let Some((m_adds, m_read)) = &peer {
        show("medallion", m_adds, *m_read);
        show("ciphub", &ours_adds, c_read);
        println!(
            "  ciphub is {:.0}x medallion adding (median; {:.0}x to {:.0}x round by round) and {:.0}x reading (goal: at least 50x on both)",
            median(m_adds) / median(&ours_adds),
            fold(m_adds, f64::min) / fold(&ours_adds, f64::max),
            fold(m_adds, f64::max) / fold(&ours_adds, f64::min),
            m_read / c_read
        );
    } else if let Some(add) = on_database {
        if !ours_adds.is_empty() {
            show("ciphub, SQLite", &ours_adds, f64::NAN);
        }
        println!(
            "  ciphub, --database-url: add {add:.3}s ({:.0} objects/s), read all {c_read:.3}s",
            load.objects as f64 / add
        );
    } else {
        show("ciphub", &ours_adds, c_read);
    }

    filed.sort_by(f64::total_cmp);
    if !filed.is_empty() {
        println!(
            "  reports filed every 25 ms meanwhile: {}, median {:.1} ms, p99 {:.1} ms, worst {:.1} ms",
            filed.len(),
            percentile(&filed, 0.5) * 1e3,
            percentile(&filed, 0.99) * 1e3,
            filed.last().copied().unwrap_or_default() * 1e3
        );
    }

    // The client users run, at its defaults (it sleeps a second before polling a pending
    // status), on a fresh instance of each server with the same objects.
    if load.python != "none" {
        let bodies: Vec<Value> = objects
            .chunks(load.envelope)
            .map(|c| json!({ "objects": c }))
            .collect();
        let peer = match load.medallion.as_str() {
            "none" => None,
            command => {
                let fresh = start_medallion(command, load.page).await?;
                Some(taxii2_client_add(
                    &load.python,
                    &medallion_target(&fresh),
                    &bodies,
                )?)
            }
        };
        let (store, dir, fresh, target) = start_ciphub(None, &load).await?;
        let python = load.python.clone();
        let ours_t =
            tokio::task::spawn_blocking(move || taxii2_client_add(&python, &target, &bodies))
                .await??;
        fresh.stop().await?;
        store.close().await;
        drop(dir);
        match peer {
            Some(m) => println!(
                "  taxii2-client at its defaults, adding: medallion {m:.3} s, ciphub {ours_t:.3} s: ciphub is {:.1}x medallion (goal: at least 5x)",
                m / ours_t
            ),
            None => println!("  taxii2-client at its defaults, adding: ciphub {ours_t:.3} s"),
        }
    }

    // A million objects, loaded through the store in batches (their checking is not what is
    // measured here), then pages of 100 from places spread over the collection.
    println!(
        "loading {} objects into the community collection...",
        load.big
    );
    let started = Instant::now();
    let mut first_added = None;
    let batch = 10_000;
    let mut n = 0;
    while n < load.big {
        let rows: Vec<NewStixObject> = (n..(n + batch).min(load.big))
            .map(|i| {
                let o = indicator("big", i);
                NewStixObject {
                    object_id: o["id"].as_str().unwrap_or_default().to_owned(),
                    object_type: "indicator".into(),
                    spec_version: "2.1".into(),
                    version_us: Some(1_767_225_600_000_000),
                    version_text: o["modified"].as_str().map(str::to_owned),
                    tlp: Some(ciphub_domain::report::Tlp::Green),
                    body: o.to_string(),
                }
            })
            .collect();
        let status = store
            .add_stix_objects(
                &StixBatch {
                    collection: ciphub_server::taxii::COMMUNITY_ALIAS.into(),
                    owner: Slug::parse("nisc")?,
                    origin: "bench".into(),
                    alert_id: None,
                    status_id: None,
                },
                rows,
                Vec::new(),
                &By::system(),
            )
            .await?;
        first_added.get_or_insert(status.created_us);
        n += batch;
    }
    let loaded = started.elapsed().as_secs_f64();
    let first = first_added.unwrap_or_default();
    let last = store.clock().now().timestamp_micros();
    println!(
        "  loaded in {loaded:.1} s ({:.0} objects/s)",
        load.big as f64 / loaded
    );
    let mut ms = Vec::with_capacity(load.samples);
    let mut rng_state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..load.samples {
        // A spread of starting points: added_after at evenly spaced times, in shuffled order.
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let at = first + ((last - first) as f64 * ((rng_state % 10_000) as f64 / 10_000.0)) as i64;
        let stamp = ciphub_domain::stix::format_timestamp(at);
        let t = Instant::now();
        let resp = client
            .get(&ours.objects_url)
            .basic_auth(&ours.user, Some(&ours.password))
            .header("Accept", TAXII)
            .query(&[("limit", "100"), ("added_after", stamp.as_str())])
            .send()
            .await?;
        let body = resp.bytes().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let envelope: Value = serde_json::from_slice(&body)?;
        let got = envelope["objects"].as_array().map_or(0, Vec::len);
        if got != 100 && envelope["more"] == true {
            bail!("page {i}: {got} objects but more");
        }
    }
    // Then a walk with `next` from the middle of the collection.
    let mut next = None;
    let mid = ciphub_domain::stix::format_timestamp(first + (last - first) / 2);
    for _ in 0..load.samples {
        let mut req = client
            .get(&ours.objects_url)
            .basic_auth(&ours.user, Some(&ours.password))
            .header("Accept", TAXII)
            .query(&[("limit", "100"), ("added_after", mid.as_str())]);
        if let Some(n) = &next {
            req = req.query(&[("next", n)]);
        }
        let t = Instant::now();
        let resp = req.send().await?;
        let body = resp.bytes().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let envelope: Value = serde_json::from_slice(&body)?;
        next = envelope["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "  {} pages of 100 from {} objects: median {:.1} ms, p95 {:.1} ms, worst {:.1} ms (goal: p95 under 50 ms)",
        ms.len(),
        load.big,
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms[ms.len() - 1]
    );
    server.stop().await?;
    store.close().await;
    Ok(())
}
