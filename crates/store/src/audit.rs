//! Reading and verifying the audit chain.

use ciphub_domain::audit::{AuditEntry, ChainBreak, ChainVerifier};
use ciphub_domain::policy::AuditScope;
use futures_util::TryStreamExt;

use crate::{Store, StoreError};

/// A page of audit entries and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The `after` to pass for the next page, when there may be more.
    pub next_after: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at_us: i64,
    actor_user: Option<String>,
    actor_org: Option<String>,
    action: String,
    object_type: String,
    object_id: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at_us: r.at_us,
            actor_user: r.actor_user,
            actor_org: r.actor_org,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            detail: r.detail,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

const AUDIT_COLUMNS: &str =
    "seq, at_us, actor_user, actor_org, action, object_type, object_id, detail, prev_hash, hash";

impl Store {
    /// Audit entries after `after` (a sequence number) within `scope`, oldest first.
    pub async fn audit_page(
        &self,
        scope: &AuditScope,
        after: i64,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        let (filter, key): (&str, Option<String>) = match scope {
            AuditScope::All => ("", None),
            AuditScope::Org(org) => (" AND actor_org = $3", Some(org.to_string())),
            AuditScope::OwnUser(id) => (
                " AND actor_user = (SELECT name FROM users WHERE id = $3)",
                Some(id.to_string()),
            ),
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1{filter} ORDER BY seq LIMIT $2"
        );
        let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit));
        q = match (scope, key) {
            (AuditScope::OwnUser(id), _) => q.bind(*id),
            (_, Some(k)) => q.bind(k),
            (_, None) => q,
        };
        let entries: Vec<AuditEntry> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let next_after = (entries.len() as u32 == limit)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok(AuditPage {
            entries,
            next_after,
        })
    }

    /// Walks the whole chain from the first entry and checks it against the recorded head.
    /// Returns the number of entries, or where the chain is broken.
    pub async fn audit_verify(&self) -> Result<Result<i64, ChainBreak>, StoreError> {
        // One transaction, so the head and the entries are one consistent snapshot.
        let mut tx = self.pool.begin().await?;
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let mut verifier = ChainVerifier::default();
        let mut broken = None;
        {
            let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq");
            let mut rows = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                if let Err(b) = verifier.push(&row.into()) {
                    broken = Some(b);
                    break;
                }
            }
        }
        tx.rollback().await?;
        Ok(match broken {
            Some(b) => Err(b),
            None => verifier.finish(head_seq, &head_hash),
        })
    }

    /// Number of entries in the audit chain, by its head.
    pub async fn audit_len(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
