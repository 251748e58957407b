//! Reading and verifying the audit chain.

use ciphub_domain::audit::{AuditEntry, ChainBreak, ChainVerifier};
use ciphub_domain::policy::AuditScope;

use crate::{Backend, Store, StoreError};

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
    restricted: i64,
    subject_org: Option<String>,
    salt: Option<String>,
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
            restricted: r.restricted != 0,
            subject_org: r.subject_org,
            salt: r.salt,
        }
    }
}

/// Entries per page when verifying.
const VERIFY_PAGE: i64 = 5_000;

/// An audit row as one element of a JSON page.
#[derive(serde::Deserialize)]
struct PageRow(
    i64,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
);

impl From<PageRow> for AuditEntry {
    fn from(r: PageRow) -> Self {
        AuditEntry {
            seq: r.0,
            at_us: r.1,
            actor_user: r.2,
            actor_org: r.3,
            action: r.4,
            object_type: r.5,
            object_id: r.6,
            detail: r.7,
            prev_hash: r.8,
            hash: r.9,
            restricted: r.10 != 0,
            subject_org: r.11,
            salt: r.12,
        }
    }
}

const AUDIT_COLUMNS: &str = "seq, at_us, actor_user, actor_org, action, object_type, object_id, detail, prev_hash, hash, \
     restricted, subject_org, salt";

/// The SQL form of `policy::audit::in_scope` for `AuditScope::Community`, with the reader's
/// organization as `$3`. A store test checks that the two agree on every kind of entry.
pub const COMMUNITY_SCOPE: &str = "(actor_org = $3 OR subject_org = $3 OR actor_org IS NULL \
     OR (restricted = 0 AND action IN ('alert.create', 'alert.escalate', 'report.relay', \
     'report.triage', 'report.note', 'incident.create', 'organization.create', \
     'organization.update', 'federation.add', 'federation.remove')))";

/// The SQL form of `in_scope` for `AuditScope::Org`, with the organization as `$3`.
pub const ORG_SCOPE: &str = "(actor_org = $3 OR subject_org = $3)";

/// The SQL form of `in_scope` for `AuditScope::OwnUser`, with the user's id as `$3`.
pub const OWN_USER_SCOPE: &str = "actor_user = (SELECT name FROM users WHERE id = $3)";

/// The SQL of `scope` (its parameter, when it has one, is `$3`).
fn scope_filter(scope: &AuditScope) -> &'static str {
    match scope {
        AuditScope::Everything => "TRUE",
        AuditScope::Community(_) => COMMUNITY_SCOPE,
        AuditScope::Org(_) => ORG_SCOPE,
        AuditScope::OwnUser(_) => OWN_USER_SCOPE,
    }
}

/// Binds `scope`'s parameter, when it has one, as the next (`$3`).
fn bind_scope<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, AuditRow, sqlx::any::AnyArguments>,
    scope: &AuditScope,
) -> sqlx::query::QueryAs<'q, sqlx::Any, AuditRow, sqlx::any::AnyArguments> {
    match scope {
        AuditScope::Everything => q,
        AuditScope::Community(org) | AuditScope::Org(org) => q.bind(org.to_string()),
        AuditScope::OwnUser(id) => q.bind(*id),
    }
}

/// Entries one filtered page of the newest-first audit trail searches at most.
pub const AUDIT_WINDOW: i64 = 20_000;

impl Store {
    /// Audit entries after `after` (a sequence number) within `scope`, oldest first.
    pub async fn audit_page(
        &self,
        scope: &AuditScope,
        after: i64,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        let filter = scope_filter(scope);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND {filter} ORDER BY seq LIMIT $2"
        );
        let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit));
        q = bind_scope(q, scope);
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

    /// Audit entries before `before` (a sequence number; none for the newest) within `scope`,
    /// newest first, with an action starting with `action` and an acting user or organization
    /// containing `actor` (any case), when given. `next_after` holds the `before` of the next
    /// page. The filters read only what the entries in scope show their reader.
    pub async fn audit_newest(
        &self,
        scope: &AuditScope,
        before: Option<i64>,
        action: Option<&str>,
        actor: Option<&str>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        let filter = scope_filter(scope);
        // The scope's own parameter is $3 when it has one; the filters come after it.
        let first = if matches!(scope, AuditScope::Everything) {
            3
        } else {
            4
        };
        let action_prefix = action.map(str::trim).unwrap_or("");
        let action_pattern = if action_prefix.is_empty() {
            String::new()
        } else {
            let mut p = crate::registry::like_pattern(action_prefix);
            p.remove(0);
            p
        };
        let actor_pattern = crate::registry::like_pattern(actor.unwrap_or(""));
        // With filters, one page searches at most AUDIT_WINDOW entries, so a filter that
        // matches little costs the same as one that matches much; the next page goes on from
        // where this one stopped.
        let filtered = !action_pattern.is_empty() || !actor_pattern.is_empty();
        let start = match before {
            Some(b) => b,
            None => {
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM audit_log")
                    .fetch_one(&self.pool)
                    .await?;
                max.unwrap_or(0) + 1
            }
        };
        let floor = if filtered {
            start.saturating_sub(AUDIT_WINDOW)
        } else {
            0
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq < $1 AND seq >= {floor} AND {filter} \
             AND (${a} = '' OR lower(action) LIKE ${a} ESCAPE '\\') \
             AND (${b} = '' OR lower(coalesce(actor_user, '')) LIKE ${b} ESCAPE '\\' \
                  OR lower(coalesce(actor_org, '')) LIKE ${b} ESCAPE '\\') \
             ORDER BY seq DESC LIMIT $2",
            a = first,
            b = first + 1
        );
        let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(i64::from(limit));
        q = bind_scope(q, scope);
        let entries: Vec<AuditEntry> = q
            .bind(action_pattern)
            .bind(actor_pattern)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let next_after = if entries.len() as u32 == limit {
            entries.last().map(|e| e.seq)
        } else {
            (floor > 1).then_some(floor)
        };
        Ok(AuditPage {
            entries,
            next_after,
        })
    }

    /// Walks the whole chain from the first entry and checks it against the recorded head.
    /// Returns the number of entries, or where the chain is broken.
    pub async fn audit_verify(&self) -> Result<Result<i64, ChainBreak>, StoreError> {
        // One transaction with one snapshot, so the head and the entries agree even while
        // others write. SQLite's read transaction keeps its snapshot from the first read;
        // PostgreSQL needs REPEATABLE READ for that.
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        let broken = loop {
            let rows = self.verify_page(&mut tx, after).await?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break None;
            };
            let mut failed = None;
            for r in &rows {
                if let Err(b) = verifier.push(r) {
                    failed = Some(b);
                    break;
                }
            }
            if failed.is_some() {
                break failed;
            }
            after = last;
        };
        tx.rollback().await?;
        Ok(match broken {
            Some(b) => Err(b),
            None => verifier.finish(head_seq, &head_hash),
        })
    }

    /// The entries after `after`, one page of them, oldest first.
    async fn verify_page(
        &self,
        tx: &mut sqlx::AnyConnection,
        after: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        match self.backend {
            // SQLite's driver hands rows over one at a time from a worker thread, which costs
            // more than hashing them; one JSON array per page halves the time (BENCHMARKS.md).
            Backend::Sqlite => {
                let page: Option<String> = sqlx::query_scalar(
                    "SELECT json_group_array(json_array(seq, at_us, actor_user, actor_org, action, \
                     object_type, object_id, detail, prev_hash, hash, restricted, subject_org, salt) ORDER BY seq) FROM \
                     (SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2)",
                )
                .bind(after)
                .bind(VERIFY_PAGE)
                .fetch_one(&mut *tx)
                .await?;
                let rows: Vec<PageRow> = match page {
                    None => Vec::new(),
                    Some(json) => serde_json::from_str(&json).map_err(|e| {
                        StoreError::Corrupt(format!("audit page after {after}: {e}"))
                    })?,
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }
            Backend::Postgres => {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
                );
                let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(VERIFY_PAGE)
                    .fetch_all(&mut *tx)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
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
