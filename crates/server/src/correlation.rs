//! The correlation indexer: reads reports, alerts and community STIX objects as they are
//! written (by cursor, so every way they arrive is covered and a restart resumes), finds
//! their observables, drops what the warning lists call noise, and records the rest.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ciphub_domain::anonymize::Identifier;
use ciphub_domain::correlation::{self, Observable, WarningLists};
use ciphub_store::{CorrelationItem, StoreError};

use crate::AppState;
use crate::taxii::COMMUNITY_ALIAS;

/// Items read per source per round.
const BATCH: u32 = 500;

/// Indexes what was written since the last round, every `every`, until the server stops.
pub async fn work(state: AppState, every: Duration) {
    loop {
        if let Err(e) = catch_up(&state).await {
            tracing::warn!(error = %e, "correlating new items failed; retrying");
        }
        tokio::time::sleep(every).await;
    }
}

/// Indexes everything written since the last call; answers how many items it read. Processes
/// sharing one database may both run it: an item's values are replaced whole, so running it
/// twice changes nothing.
pub async fn catch_up(state: &AppState) -> Result<usize, StoreError> {
    let mut done = 0;
    let mut lists: HashMap<i64, WarningLists> = HashMap::new();
    loop {
        let n = reports(state, &mut lists).await?
            + alerts(state, &mut lists).await?
            + stix(state, &mut lists).await?;
        done += n;
        if n == 0 {
            return Ok(done);
        }
    }
}

/// The warning lists for values an organization wrote (its own identifiers included).
async fn lists_for<'a>(
    state: &AppState,
    lists: &'a mut HashMap<i64, WarningLists>,
    org_id: i64,
) -> Result<&'a WarningLists, StoreError> {
    Ok(match lists.entry(org_id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => {
            let own: Vec<Identifier> = state.store.identifiers_by_id(org_id).await?;
            slot.insert(WarningLists::for_organization(&own))
        }
    })
}

async fn reports(
    state: &AppState,
    lists: &mut HashMap<i64, WarningLists>,
) -> Result<usize, StoreError> {
    let cursor = state.store.correlation_cursor("reports").await?;
    let batch = state.store.reports_to_correlate(cursor, BATCH).await?;
    let Some(last) = batch.last().map(|r| (r.updated_us, r.id)) else {
        return Ok(0);
    };
    for r in &batch {
        let mut found = BTreeSet::new();
        correlation::from_text(&r.text, &mut found);
        let kept: Vec<Observable> = lists_for(state, lists, r.org_id)
            .await?
            .keep(found)
            .into_iter()
            .collect();
        let item = CorrelationItem {
            item: format!("report:{}", r.id),
            org_id: r.org_id,
            sectors: r.sectors.clone(),
            exercise: r.exercise,
        };
        state.store.set_correlations(&item, &kept).await?;
    }
    state.store.set_correlation_cursor("reports", last).await?;
    Ok(batch.len())
}

async fn alerts(
    state: &AppState,
    lists: &mut HashMap<i64, WarningLists>,
) -> Result<usize, StoreError> {
    let (cursor, _) = state.store.correlation_cursor("alerts").await?;
    let batch = state.store.alerts_to_correlate(cursor, BATCH).await?;
    let Some(last) = batch.last().map(|a| a.seq) else {
        return Ok(0);
    };
    for a in &batch {
        let mut found = BTreeSet::new();
        correlation::from_text(&a.text, &mut found);
        let kept: Vec<Observable> = lists_for(state, lists, a.org_id)
            .await?
            .keep(found)
            .into_iter()
            .collect();
        let item = CorrelationItem {
            item: format!("alert:{}", a.id),
            org_id: a.org_id,
            sectors: Vec::new(),
            exercise: a.exercise,
        };
        state.store.set_correlations(&item, &kept).await?;
    }
    state
        .store
        .set_correlation_cursor("alerts", (last, 0))
        .await?;
    Ok(batch.len())
}

async fn stix(
    state: &AppState,
    lists: &mut HashMap<i64, WarningLists>,
) -> Result<usize, StoreError> {
    let (cursor, _) = state.store.correlation_cursor("stix").await?;
    let batch = state.store.stix_to_correlate(cursor, BATCH).await?;
    let Some(last) = batch.last().map(|o| o.seq) else {
        return Ok(0);
    };
    let mut sectors: HashMap<i64, Vec<String>> = HashMap::new();
    for o in &batch {
        // The alerts collection holds alerts as STIX: they are indexed as alerts. An older
        // version posted after a newer one does not replace the newer one's values.
        if o.collection != COMMUNITY_ALIAS || o.is_last == 0 {
            continue;
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&o.body) else {
            continue;
        };
        let mut found = BTreeSet::new();
        correlation::from_stix(&value, &mut found);
        let kept: Vec<Observable> = lists_for(state, lists, o.owner_org_id)
            .await?
            .keep(found)
            .into_iter()
            .collect();
        let owner_sectors = match sectors.entry(o.owner_org_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                slot.insert(state.store.org_sectors_by_id(o.owner_org_id).await?)
            }
        };
        let item = CorrelationItem {
            item: format!("stix:{}", o.object_id),
            org_id: o.owner_org_id,
            sectors: owner_sectors.clone(),
            exercise: false,
        };
        state.store.set_correlations(&item, &kept).await?;
    }
    state
        .store
        .set_correlation_cursor("stix", (last, 0))
        .await?;
    Ok(batch.len())
}
