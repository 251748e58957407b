//! Writing transactions. Each one takes the audit chain's head, which serializes writers on
//! both backends, appends one audit entry per change, and commits. Most take the head first;
//! one that writes much before it has anything to audit (a TAXII group commit) takes it when
//! it appends its first entry, so other writers wait for it only that long.

use ciphub_domain::audit::{AuditEntry, entry_hash};
use ciphub_domain::policy::Actor;

use crate::clock::to_us;
use crate::{Backend, Store, StoreError};

/// Who makes a change, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct By {
    pub user: Option<String>,
    pub org: Option<String>,
}

impl By {
    /// The system itself: a command-line tool, a profile load, a background job.
    pub fn system() -> Self {
        Self {
            user: None,
            org: None,
        }
    }

    /// An authenticated user.
    pub fn actor(actor: &Actor) -> Self {
        Self {
            user: Some(actor.user.to_string()),
            org: Some(actor.org.to_string()),
        }
    }
}

/// One event for the audit trail, for `Store::record_events`.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: serde_json::Value,
}

/// An open writing transaction with the audit head in hand.
pub(crate) struct WriteTx {
    pub(crate) tx: crate::txn::WriteConn,
    /// The audit head: `None` until it is taken.
    head: Option<(i64, String)>,
    /// When the transaction began: the time of the rows it writes.
    pub(crate) now_us: i64,
    /// The time of its audit entries and stream events: when it took the head, so that the
    /// chain's times grow with its order.
    head_us: i64,
    clock: std::sync::Arc<dyn crate::Clock>,
    by: By,
    backend: Backend,
    /// Events to publish once the transaction commits.
    events: Vec<crate::Event>,
    publish: tokio::sync::broadcast::Sender<crate::Event>,
    /// This process's cached credentials, dropped when the transaction changes some.
    tokens: std::sync::Arc<crate::users::TokenCache>,
}

impl Store {
    /// Opens a writing transaction on behalf of `by`.
    pub(crate) async fn begin_write(&self, by: &By) -> Result<WriteTx, StoreError> {
        let mut w = self.begin_write_late(by, None).await?;
        w.take_head().await?;
        Ok(w)
    }

    /// Opens a writing transaction on behalf of `by` that takes the audit head only when it
    /// appends its first entry (or commits). Writers of one kind that must not interleave
    /// name a `serial` lock: on PostgreSQL a transaction-scoped advisory lock, taken before
    /// anything else, which only writers naming the same lock wait for (on SQLite every writer
    /// is serialized already). Such a writer must not take it after the head, or two of them
    /// could wait for each other.
    pub(crate) async fn begin_write_late(
        &self,
        by: &By,
        serial: Option<i64>,
    ) -> Result<WriteTx, StoreError> {
        let mut tx = self.begin_plain().await?;
        if let (Some(key), Backend::Postgres) = (serial, self.backend) {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        let now_us = to_us(self.clock.now());
        Ok(WriteTx {
            tx,
            head: None,
            now_us,
            head_us: now_us,
            clock: self.clock.clone(),
            by: by.clone(),
            backend: self.backend,
            events: Vec::new(),
            publish: self.events.clone(),
            tokens: self.tokens.clone(),
        })
    }
}

impl Store {
    /// Opens a transaction on the write pool that records no audit entry (bookkeeping).
    pub(crate) async fn begin_plain(&self) -> Result<crate::txn::WriteConn, StoreError> {
        let gate = self.queue_for_write().await;
        crate::txn::WriteConn::begin(&self.write_pool, self.backend, &self.fault, gate).await
    }

    /// On SQLite, waits for this process's other writers (held until dropped), rather than
    /// in SQLite's busy handler, which sleeps and retries; on PostgreSQL, nothing.
    pub(crate) async fn queue_for_write(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// Why the store could not write the last time it tried, if no write succeeded since.
    pub fn write_fault(&self) -> Option<String> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    /// Whether the store can write: after a failed write, a real write of 64 KiB (committed,
    /// then deleted), since a write that needs no new space may succeed on a full disk.
    /// Answers why not.
    pub async fn check_writable(&self) -> Result<(), String> {
        if self.write_fault().is_none() {
            return Ok(());
        }
        let probe = async {
            let mut tx = self.begin_plain().await?;
            sqlx::query("INSERT INTO health_probe (id, filler) VALUES (1, $1)")
                .bind("x".repeat(64 * 1024))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut tx = self.begin_plain().await?;
            sqlx::query("DELETE FROM health_probe")
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        match probe.await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.write_fault().unwrap_or_else(|| e.to_string())),
        }
    }

    /// Appends events that change no other table (a bulk import recorded elsewhere, a
    /// benchmark's synthetic load) to the audit trail, in one transaction.
    pub async fn record_events(&self, by: &By, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        for e in events {
            w.audit(&e.action, &e.object_type, &e.object_id, e.detail.clone())
                .await?;
        }
        w.commit().await
    }
}

impl WriteTx {
    /// Takes the audit head (the lock every writer waits for), if not yet taken.
    async fn take_head(&mut self) -> Result<(i64, String), StoreError> {
        if let Some(head) = &self.head {
            return Ok(head.clone());
        }
        let head: (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *self.tx)
                .await?;
        self.head_us = self.now_us.max(to_us(self.clock.now()));
        self.head = Some(head.clone());
        Ok(head)
    }

    /// Who makes the change.
    pub(crate) fn by(&self) -> &By {
        &self.by
    }

    /// Appends an audit entry for a change made in this transaction.
    pub(crate) async fn audit(
        &mut self,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.audit_entry(action, object_type, object_id, detail, false, None)
            .await
    }

    /// Appends an audit entry for a change to something of `subject` (another organization's
    /// user, say), which reads the entry as its own.
    pub(crate) async fn audit_about(
        &mut self,
        subject: &str,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let subject = (self.by.org.as_deref() != Some(subject)).then_some(subject);
        self.audit_entry(action, object_type, object_id, detail, false, subject)
            .await
    }

    /// Appends an audit entry for a change made in this transaction on behalf of `by` (a
    /// transaction that writes several users' changes at once).
    pub(crate) async fn audit_by(
        &mut self,
        by: &By,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let own = std::mem::replace(&mut self.by, by.clone());
        let result = self
            .audit_entry(action, object_type, object_id, detail, false, None)
            .await;
        self.by = own;
        result
    }

    /// Appends an audit entry whose actor only the actor's own organization may see.
    pub(crate) async fn audit_restricted(
        &mut self,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.audit_entry(action, object_type, object_id, detail, true, None)
            .await
    }

    async fn audit_entry(
        &mut self,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
        restricted: bool,
        subject_org: Option<&str>,
    ) -> Result<(), StoreError> {
        // 256 random bits: a hash over them cannot be reproduced by guessing the rest.
        let salt = restricted.then(|| {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            hex::encode(bytes)
        });
        let (seq, prev_hash) = self.take_head().await?;
        let mut entry = AuditEntry {
            seq: seq + 1,
            at_us: self.head_us,
            actor_user: self.by.user.clone(),
            actor_org: self.by.org.clone(),
            action: action.to_owned(),
            object_type: object_type.to_owned(),
            object_id: object_id.to_owned(),
            detail: detail.to_string(),
            prev_hash,
            hash: String::new(),
            restricted,
            subject_org: subject_org.map(str::to_owned),
            salt,
        };
        entry.hash = entry_hash(&entry, &entry.prev_hash);
        sqlx::query(
            "INSERT INTO audit_log (seq, at_us, actor_user, actor_org, action, object_type, \
             object_id, detail, prev_hash, hash, restricted, subject_org, salt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(entry.seq)
        .bind(entry.at_us)
        .bind(&entry.actor_user)
        .bind(&entry.actor_org)
        .bind(&entry.action)
        .bind(&entry.object_type)
        .bind(&entry.object_id)
        .bind(&entry.detail)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .bind(i64::from(entry.restricted))
        .bind(&entry.subject_org)
        .bind(&entry.salt)
        .execute(&mut *self.tx)
        .await?;
        self.head = Some((entry.seq, entry.hash));
        Ok(())
    }

    /// Publishes `event` to every process's subscribers once this transaction commits.
    pub(crate) fn emit(&mut self, event: crate::Event) {
        self.events.push(event);
    }

    /// Writes the events streams show to the `stream_events` log. Ids are not a sequence
    /// number, which would count every organization's events for whoever sees a few of them:
    /// each is the transaction's time in microseconds, or one more than the latest id when that
    /// is not smaller. Writers hold the audit head until they commit, so ids grow in commit
    /// order and a reader that has seen an id has seen every smaller one.
    async fn log_stream_events(&mut self) -> Result<(), StoreError> {
        for e in self.events.iter().filter(|e| e.streamed()) {
            sqlx::query(
                "INSERT INTO stream_events (id, event) \
                 SELECT CASE WHEN COALESCE(MAX(id), 0) >= $1 THEN MAX(id) + 1 ELSE $1 END, $2 \
                 FROM stream_events",
            )
            .bind(self.head_us)
            .bind(e.to_string())
            .execute(&mut *self.tx)
            .await?;
        }
        sqlx::query("DELETE FROM stream_events WHERE id < $1")
            .bind(crate::events::stream_horizon(self.head_us))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Moves the audit head to the last entry appended and commits.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let (seq, hash) = self.take_head().await?;
        if self.events.iter().any(crate::Event::streamed) {
            self.log_stream_events().await?;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .execute(&mut *self.tx)
            .await?;
        if self.backend == Backend::Postgres {
            // Delivered to every listening process (this one included) at commit, never before.
            for e in &self.events {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::events::CHANNEL)
                    .bind(e.to_string())
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        self.tx.commit().await?;
        if self.events.contains(&crate::Event::Credentials) {
            // At once in this process; other processes on PostgreSQL when the event reaches
            // them, and on SQLite (a command-line tool beside the server) within the cache's
            // lifetime.
            self.tokens.forget();
        }
        if self.backend == Backend::Sqlite {
            // SQLite has one process: tell this one's subscribers directly.
            for e in self.events.drain(..) {
                let _ = self.publish.send(e);
            }
        }
        Ok(())
    }
}
