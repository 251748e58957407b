//! `ciphub bench`: measurements on this machine, with bounded loads (see BENCHMARKS.md).

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use ciphub_store::{AuditEvent, By, Store, StoreOptions, SystemClock, sqlite_url_for_dir};
use serde_json::json;

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
