//! TAXII envelopes accepted before their objects are written.
//!
//! A POST is answered only once its envelope is durable: written (its objects stored) or held
//! here, as it came, with the status it has meanwhile. The transaction that stores the
//! objects deletes the row. Each row names the worker (process) writing it; one whose worker
//! has been silent for `GONE_AFTER` (a crash, a stop that did not finish the queue) is taken
//! over by another worker, or by the same instance when it starts again, and written then.
//! Rows are bookkeeping, written outside `WriteTx` and not audited: the audit entry is the
//! write of the objects.

use ciphub_domain::Slug;

use crate::clock::to_us;
use crate::workers::{WorkerId, alive_since, beat};
use crate::{Backend, By, StatusDetail, StatusRecord, Store, StoreError};

/// An envelope accepted but not yet written, as a worker takes it over.
#[derive(Clone, Debug)]
pub struct HeldEnvelope {
    /// Its status meanwhile: no successes, the objects refused at once, those waiting.
    pub status: StatusRecord,
    /// Who posted it.
    pub by: By,
    /// The envelope as it came.
    pub envelope: Vec<u8>,
}

/// A held envelope's row as read back.
type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    String,
    String,
    Vec<u8>,
);

fn details(text: &str) -> Result<Vec<StatusDetail>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn json(details: &[StatusDetail]) -> String {
    serde_json::to_string(details).unwrap_or_else(|_| "[]".to_owned())
}

impl Store {
    /// Holds an accepted envelope for `worker` to write: `status` as it stands (its
    /// `pendings` are the objects to write), and the envelope as it came. Committed when this
    /// returns.
    pub async fn hold_envelope(
        &self,
        status: &StatusRecord,
        by: &By,
        envelope: &[u8],
        worker: &WorkerId,
    ) -> Result<(), StoreError> {
        let owner = self.org_id(&status.owner).await?;
        let mut tx = self.begin_plain().await?;
        sqlx::query(
            "INSERT INTO taxii_intake (status_id, collection, owner_org_id, by_user, by_org, \
             requested_us, total, failures, pendings, envelope, worker) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&status.id)
        .bind(&status.collection)
        .bind(owner)
        .bind(by.user.as_deref())
        .bind(by.org.as_deref())
        .bind(status.created_us)
        .bind(status.total)
        .bind(json(&status.failures))
        .bind(json(&status.pendings))
        .bind(envelope)
        .bind(worker.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Takes over, for `worker`, up to `limit` held envelopes whose workers have been silent
    /// for `GONE_AFTER`, oldest first, and records that `worker` is alive. Several processes
    /// may call this at once: each envelope goes to one of them. An idle store is only read.
    pub async fn claim_envelopes(
        &self,
        worker: &WorkerId,
        limit: u32,
    ) -> Result<Vec<HeldEnvelope>, StoreError> {
        let now = to_us(self.clock.now());
        let free = "(taxii_intake.worker <> $1 AND NOT EXISTS (SELECT 1 FROM workers k \
                    WHERE k.id = taxii_intake.worker AND k.heartbeat_us >= $2))";
        let any: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT seq FROM taxii_intake WHERE {free} LIMIT 1"
        )))
        .bind(worker.as_str())
        .bind(alive_since(now))
        .fetch_optional(&self.pool)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_plain().await?;
        beat(&mut tx, worker, now).await?;
        let mut seqs: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE taxii_intake SET worker = $1 WHERE seq IN (SELECT seq FROM taxii_intake \
             WHERE {free} ORDER BY seq LIMIT $3{lock}) AND {free} RETURNING seq"
        )))
        .bind(worker.as_str())
        .bind(alive_since(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        seqs.sort_unstable();
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let row: Option<Row> = sqlx::query_as(
                "SELECT h.status_id, h.collection, o.slug, h.by_user, h.by_org, h.requested_us, \
                 h.total, h.failures, h.pendings, h.envelope \
                 FROM taxii_intake h JOIN organizations o ON o.id = h.owner_org_id WHERE h.seq = $1",
            )
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
            // Written meanwhile by the worker that was only slow: nothing to do.
            let Some((
                id,
                collection,
                owner,
                user,
                org,
                requested_us,
                total,
                failed,
                pending,
                envelope,
            )) = row
            else {
                continue;
            };
            out.push(HeldEnvelope {
                status: StatusRecord {
                    id,
                    collection,
                    owner: Slug::parse(&owner).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_us: requested_us,
                    total,
                    successes: Vec::new(),
                    failures: details(&failed)?,
                    pendings: details(&pending)?,
                },
                by: By { user, org },
                envelope,
            });
        }
        Ok(out)
    }

    /// How many accepted envelopes wait to be written, in all.
    pub async fn held_envelopes(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM taxii_intake")
            .fetch_one(&self.pool)
            .await?)
    }
}
