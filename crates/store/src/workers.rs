//! Job workers' identities and heartbeats, so that a job held by a process that has stopped
//! is taken over within seconds instead of when its lease runs out.
//!
//! Each worker picks a random id when its process starts and beats every `HEARTBEAT`. A
//! worker silent for `GONE_AFTER` is taken to be gone: `claim_jobs` hands its jobs to
//! another. The lease stays as the last resort, for a worker that beats but never finishes.
//! Heartbeats are bookkeeping, written outside `WriteTx` and not audited.

use std::time::Duration;

use rand::RngCore;

use crate::clock::to_us;
use crate::{Store, StoreError};

/// How often a worker beats.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a worker may be silent before its jobs are taken over: three beats.
pub const GONE_AFTER: Duration = Duration::from_secs(15);

/// How long the row of a silent worker is kept (to explain the jobs it held) before it goes.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// One worker's identity: random, new for every process start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId(String);

impl WorkerId {
    /// A fresh id (128 random bits in hex).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

/// Records that `worker` is alive now (inserting it on its first beat).
pub(crate) async fn beat(
    tx: &mut sqlx::AnyConnection,
    worker: &WorkerId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workers (id, started_us, heartbeat_us) VALUES ($1, $2, $2) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_us = excluded.heartbeat_us",
    )
    .bind(worker.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The oldest heartbeat, in microseconds, of a worker still taken to be alive at `now`.
pub(crate) fn alive_since(now: i64) -> i64 {
    now - micros(GONE_AFTER)
}

impl Store {
    /// Records that `worker` is alive, and forgets workers silent for a week.
    pub async fn heartbeat(&self, worker: &WorkerId) -> Result<(), StoreError> {
        let now = to_us(self.clock.now());
        let mut tx = self.begin_plain().await?;
        beat(&mut tx, worker, now).await?;
        sqlx::query("DELETE FROM workers WHERE heartbeat_us < $1")
            .bind(now - micros(FORGET_AFTER))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
