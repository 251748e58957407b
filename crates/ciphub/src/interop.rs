//! The `federate` and `misp` commands: federations with other TAXII servers, and MISP feeds
//! read from and written to directories.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use ciphub_domain::Slug;
use ciphub_domain::redact::{mask_url, mask_urls_in};
use ciphub_server::taxii::{ALERTS, ALERTS_ALIAS, COMMUNITY, COMMUNITY_ALIAS};
use ciphub_server::{AppState, ServerConfig};
use ciphub_store::{By, NewFederation, Store};

use crate::cli::{Direction, FederateCommand, MispCommand};

/// A collection named on the command line: `community`, `alerts` or an id.
fn local_collection(name: &str) -> anyhow::Result<String> {
    match name {
        COMMUNITY_ALIAS | COMMUNITY => Ok(COMMUNITY_ALIAS.to_owned()),
        ALERTS_ALIAS | ALERTS => {
            bail!("--local: the alerts collection is read-only; use community")
        }
        other => bail!("--local: no collection {other:?}; use community"),
    }
}

/// Runs a `federate` command on `store`.
pub async fn federate(
    store: Store,
    config: ServerConfig,
    cmd: FederateCommand,
) -> anyhow::Result<()> {
    match cmd {
        FederateCommand::Add {
            url,
            collection,
            direction,
            every,
            local,
            org,
            user,
            secret,
            ..
        } => {
            // The same check as webhooks get, with the same operator's leave for private
            // targets ([delivery] webhook_private_targets).
            let parsed = ciphub_server::federation::check_url(&url, config.webhook_private_targets)
                .map_err(|e| anyhow!("--url: {e}"))?;
            if every < std::time::Duration::from_secs(1) {
                bail!("--every: at least 1s");
            }
            if collection.trim().is_empty() {
                bail!("--collection: must not be empty");
            }
            let org = Slug::parse(&org).map_err(|e| anyhow!("--org: {e}"))?;
            let f = store
                .add_federation(
                    &NewFederation {
                        url: parsed.as_str().trim_end_matches('/').to_owned() + "/",
                        remote_collection: collection,
                        direction: match direction {
                            Direction::Pull => "pull",
                            Direction::Push => "push",
                        }
                        .to_owned(),
                        local_collection: local_collection(&local)?,
                        every_us: every.as_micros() as i64,
                        org,
                        username: user,
                        secret,
                    },
                    &By::system(),
                )
                .await?;
            println!(
                "federation {}: {} {} collection {} every {}",
                f.id,
                f.direction,
                mask_url(&f.url),
                f.remote_collection,
                humantime::format_duration(every)
            );
        }
        FederateCommand::List { .. } => {
            println!(
                "{:<4} {:<5} {:<8} {:<40} {:<38} {:<28} last error",
                "id", "dir", "moved", "url", "collection", "cursor"
            );
            for f in store.federations().await? {
                println!(
                    "{:<4} {:<5} {:<8} {:<40} {:<38} {:<28} {}",
                    f.id,
                    f.direction,
                    f.moved,
                    // Federations stored before credentials were refused in URLs may hold
                    // some; they are never shown.
                    mask_url(&f.url),
                    f.remote_collection,
                    f.cursor,
                    f.last_error.as_deref().map_or("-".to_owned(), mask_urls_in)
                );
            }
        }
        FederateCommand::Remove { id, .. } => {
            store.remove_federation(id, &By::system()).await?;
            println!("federation {id} removed");
        }
        FederateCommand::Run { .. } => {
            let state = AppState::try_new(store.clone(), config).map_err(|e| anyhow!(e))?;
            for f in store.federations().await? {
                let out = ciphub_server::federation::run_one(&state, &f)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                match out.error {
                    None => println!("federation {}: {} objects moved", f.id, out.moved),
                    Some(e) => println!(
                        "federation {}: {} objects moved, then: {e}",
                        f.id, out.moved
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Runs a `misp` command on `store`.
pub async fn misp(store: Store, config: ServerConfig, cmd: MispCommand) -> anyhow::Result<()> {
    match cmd {
        MispCommand::Import { dir, org, .. } => {
            let org = Slug::parse(&org).map_err(|e| anyhow!("--org: {e}"))?;
            let files = event_files(&dir)?;
            let (mut events, mut objects, mut attributes) = (0, 0, 0);
            let mut left_out: std::collections::BTreeMap<String, usize> = Default::default();
            for path in files {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let event: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                let done = ciphub_server::misp::import_event(&store, &event, &org, &By::system())
                    .await
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                for l in &done.left_out {
                    eprintln!("{}: left out {l}", path.display());
                    *left_out.entry(l.kind.clone()).or_default() += 1;
                }
                events += 1;
                objects += done.objects;
                attributes += done.attributes;
            }
            let by_type: Vec<String> = left_out.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let left: usize = left_out.values().sum();
            println!(
                "imported {events} events as {objects} STIX objects into the community collection; \
                 {left} of {attributes} attributes left out{}",
                if by_type.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", by_type.join(", "))
                }
            );
        }
        MispCommand::Export { dir, .. } => {
            let (manifest, events) =
                ciphub_server::misp::feed(&store, &config.instance_name).await?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for e in &events {
                let uuid = e["Event"]["uuid"].as_str().unwrap_or_default();
                write_json(&dir.join(format!("{uuid}.json")), e)?;
            }
            write_json(&dir.join("manifest.json"), &manifest)?;
            println!(
                "wrote {} events and manifest.json to {}",
                events.len(),
                dir.display()
            );
            // The feed is built from `Store::stix_outgoing`, whose rule (`MAY_LEAVE`, after
            // `policy::sharing::may_leave`) keeps out every object made from an alert.
            println!(
                "alerts are not exported: an alert goes only to the audience its sender chose, so \
                 no alert leaves this instance by a MISP feed or federation, whatever its TLP \
                 (TLP:CLEAR alerts are public at /public/advisories)"
            );
        }
    }
    Ok(())
}

/// The event files of a feed directory: those its manifest lists, or every `<uuid>.json`.
fn event_files(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let manifest = dir.join("manifest.json");
    if manifest.exists() {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", manifest.display()))?;
        let map = value.as_object().ok_or_else(|| {
            anyhow!(
                "{}: must be an object keyed by event uuid",
                manifest.display()
            )
        })?;
        return Ok(map.keys().map(|k| dir.join(format!("{k}.json"))).collect());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
