//! Delivery beyond the inbox: organizations' e-mail contacts and webhooks, alert attachments,
//! in-app notices, and the job queue that sends e-mail, calls webhooks and escalates.
//!
//! Jobs are written in the same transaction as what causes them (an outbox), one row per
//! (kind, alert, organization, target, step), so causing one twice changes nothing. A worker
//! leases a job before running it, and the lease names the worker (`workers.rs`); a job whose
//! worker has stopped beating is taken over within seconds, and one whose lease runs out is
//! taken over then. The attempt is counted, and its start written, when the job is leased, so
//! an attempt cut short by a crash still shows. Jobs survive restarts because they are rows.

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::alert::EscalationStep;
use ciphub_domain::redact::mask_url;
use serde_json::json;

use crate::clock::{from_us, to_us};
use crate::public_ids::Kind;
use crate::workers::{WorkerId, alive_since, beat};
use crate::{Backend, By, Event, Store, StoreError};

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// One of an organization's e-mail contacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// 1: told first; 2: the second contact escalation turns to.
    pub rank: i64,
    pub name: String,
    pub email: String,
}

/// A registered webhook, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: i64,
    pub org: Slug,
    pub url: String,
    pub created_by: String,
    pub created: DateTime<Utc>,
    /// Calls waiting or being retried.
    pub pending: i64,
    /// Calls given up on after the last retry.
    pub dead: i64,
}

/// A file as a sender attaches it.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub name: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A stored attachment's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub position: i64,
    pub name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

/// An in-app notice about an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRecord {
    pub id: i64,
    pub alert: i64,
    /// reminder, second-contact or oversight.
    pub kind: String,
    /// The organization that has not acknowledged.
    pub about: Slug,
    pub created: DateTime<Utc>,
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// E-mail an organization's contacts of one rank about an alert.
    Email,
    /// Call one webhook about an alert.
    Webhook,
    /// Take one escalation step for every recipient that has not acknowledged.
    Escalate,
}

impl JobKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Email => "email",
            JobKind::Webhook => "webhook",
            JobKind::Escalate => "escalate",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "email" => Ok(JobKind::Email),
            "webhook" => Ok(JobKind::Webhook),
            "escalate" => Ok(JobKind::Escalate),
            other => Err(corrupt(format!("unknown job kind {other:?}"))),
        }
    }
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Done,
    /// Given up after the last retry (a dead letter).
    Dead,
}

impl JobState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(JobState::Pending),
            "done" => Ok(JobState::Done),
            "dead" => Ok(JobState::Dead),
            other => Err(corrupt(format!("unknown job state {other:?}"))),
        }
    }
}

/// A job as a worker or an owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: JobKind,
    pub alert: i64,
    /// The organization concerned, if any.
    pub org: Option<Slug>,
    /// The contact rank (e-mail) or webhook id.
    pub target: i64,
    /// 0: delivery; otherwise the escalation step.
    pub step: i64,
    pub due: DateTime<Utc>,
    /// Runs started so far, this one included for a leased job.
    pub attempts: i64,
    /// When the latest run started, if one has.
    pub attempted: Option<DateTime<Utc>>,
    pub state: JobState,
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    alert_id: i64,
    org: Option<String>,
    target: i64,
    step: i64,
    due_us: i64,
    attempts: i64,
    attempted_us: Option<i64>,
    state: String,
    last_error: Option<String>,
}

impl JobRow {
    fn into_record(self) -> Result<JobRecord, StoreError> {
        Ok(JobRecord {
            id: self.id,
            kind: JobKind::parse(&self.kind)?,
            alert: self.alert_id,
            org: self
                .org
                .map(|o| Slug::parse(&o).map_err(corrupt))
                .transpose()?,
            target: self.target,
            step: self.step,
            due: from_us(self.due_us),
            attempts: self.attempts,
            attempted: self.attempted_us.map(from_us),
            state: JobState::parse(&self.state)?,
            last_error: self.last_error,
        })
    }
}

const JOB_COLUMNS: &str = "j.id, j.kind, j.alert_id, o.slug AS org, j.target, j.step, j.due_us, \
     j.attempts, j.attempted_us, j.state, j.last_error";

/// Delivery jobs written with a new alert: e-mail to the first contacts (when mail is on) and
/// a call to every webhook of every recipient organization.
pub(crate) async fn enqueue_delivery(
    tx: &mut crate::txn::WriteConn,
    alert: i64,
    step: i64,
    now: i64,
    email: bool,
) -> Result<(), StoreError> {
    if email {
        sqlx::query(
            "INSERT INTO jobs (kind, alert_id, org_id, target, step, due_us, state, updated_us) \
             SELECT 'email', $1, d.org_id, 1, $2, $3, 'pending', $3 FROM alert_deliveries d \
             WHERE d.alert_id = $1 AND d.acked_us IS NULL AND EXISTS (SELECT 1 FROM org_contacts c \
             WHERE c.org_id = d.org_id AND c.rank = 1) ON CONFLICT DO NOTHING",
        )
        .bind(alert)
        .bind(step)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO jobs (kind, alert_id, org_id, target, step, due_us, state, updated_us) \
         SELECT 'webhook', $1, w.org_id, w.id, $2, $3, 'pending', $3 FROM webhooks w \
         JOIN alert_deliveries d ON d.org_id = w.org_id AND d.alert_id = $1 \
         WHERE w.deleted_us IS NULL AND d.acked_us IS NULL ON CONFLICT DO NOTHING",
    )
    .bind(alert)
    .bind(step)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Schedules an escalation step for an alert (once).
pub(crate) async fn enqueue_escalation(
    tx: &mut crate::txn::WriteConn,
    alert: i64,
    step: EscalationStep,
    due_us: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (kind, alert_id, org_id, target, step, due_us, state, updated_us) \
         VALUES ('escalate', $1, 0, 0, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
    )
    .bind(alert)
    .bind(step.number())
    .bind(due_us)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    pub(crate) async fn org_id(&self, org: &Slug) -> Result<i64, StoreError> {
        // Organizations are never deleted and their slugs never change, so an id once read
        // (committed) stays right.
        if let Some(id) = self
            .org_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(org)
        {
            return Ok(*id);
        }
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let id = id.ok_or_else(|| StoreError::not_found("organization", org))?;
        self.org_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.clone(), id);
        Ok(id)
    }

    /// An organization's e-mail contacts, first rank first.
    pub async fn contacts(&self, org: &Slug) -> Result<Vec<Contact>, StoreError> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT c.rank, c.name, c.email FROM org_contacts c JOIN organizations o ON o.id = c.org_id \
             WHERE o.slug = $1 ORDER BY c.rank, c.id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(rank, name, email)| Contact { rank, name, email })
            .collect())
    }

    /// Replaces an organization's contacts.
    pub async fn set_contacts(
        &self,
        org: &Slug,
        contacts: &[Contact],
        by: &By,
    ) -> Result<(), StoreError> {
        let id = self.org_id(org).await?;
        let mut w = self.begin_write(by).await?;
        sqlx::query("DELETE FROM org_contacts WHERE org_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        for c in contacts {
            sqlx::query(
                "INSERT INTO org_contacts (org_id, rank, name, email) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(c.rank)
            .bind(&c.name)
            .bind(&c.email)
            .execute(&mut *w.tx)
            .await?;
        }
        // Addresses are personal data: the trail records how many, not which.
        w.audit(
            "organization.contacts",
            "organization",
            org.as_str(),
            json!({"first": contacts.iter().filter(|c| c.rank == 1).count(),
                   "second": contacts.iter().filter(|c| c.rank == 2).count()}),
        )
        .await?;
        w.commit().await
    }

    /// Registers a webhook for an organization; returns its id.
    pub async fn add_webhook(
        &self,
        org: &Slug,
        url: &str,
        secret: &str,
        by: &By,
    ) -> Result<i64, StoreError> {
        let org_id = self.org_id(org).await?;
        let ids = self.public_ids().await?;
        let mut w = self.begin_write(by).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (org_id, url, secret, created_by, created_us) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(org_id)
        .bind(url)
        .bind(secret)
        .bind(by.user.clone().unwrap_or_else(|| "system".into()))
        .bind(w.now_us)
        .fetch_one(&mut *w.tx)
        .await?;
        let id = ids.hide(Kind::Webhook, id);
        // A token in the URL's query stays out of the audit trail.
        w.audit(
            "webhook.add",
            "webhook",
            &id.to_string(),
            json!({"url": mask_url(url)}),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// An organization's webhooks with their queues.
    pub async fn webhooks(&self, org: &Slug) -> Result<Vec<WebhookRecord>, StoreError> {
        let ids = self.public_ids().await?;
        let rows: Vec<(i64, String, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT w.id, o.slug, w.url, w.created_by, w.created_us, \
             (SELECT COUNT(*) FROM jobs j WHERE j.kind = 'webhook' AND j.target = w.id AND j.state = 'pending'), \
             (SELECT COUNT(*) FROM jobs j WHERE j.kind = 'webhook' AND j.target = w.id AND j.state = 'dead') \
             FROM webhooks w JOIN organizations o ON o.id = w.org_id \
             WHERE o.slug = $1 AND w.deleted_us IS NULL ORDER BY w.id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, org, url, created_by, created_us, pending, dead)| {
                Ok(WebhookRecord {
                    id: ids.hide(Kind::Webhook, id),
                    org: Slug::parse(&org).map_err(corrupt)?,
                    url,
                    created_by,
                    created: from_us(created_us),
                    pending,
                    dead,
                })
            })
            .collect()
    }

    /// A live webhook's owner, address and secret.
    pub async fn webhook_target(
        &self,
        id: i64,
    ) -> Result<Option<(Slug, String, String)>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT o.slug, w.url, w.secret FROM webhooks w JOIN organizations o ON o.id = w.org_id \
             WHERE w.id = $1 AND w.deleted_us IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(org, url, secret)| Ok((Slug::parse(&org).map_err(corrupt)?, url, secret)))
            .transpose()
    }

    /// Removes an organization's webhook; its waiting calls are dropped.
    pub async fn delete_webhook(&self, org: &Slug, id: i64, by: &By) -> Result<(), StoreError> {
        let org_id = self.org_id(org).await?;
        let stored = self
            .public_ids()
            .await?
            .reveal(Kind::Webhook, id)
            .ok_or_else(|| StoreError::not_found("webhook", id))?;
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query(
            "UPDATE webhooks SET deleted_us = $3 WHERE id = $1 AND org_id = $2 AND deleted_us IS NULL",
        )
        .bind(stored)
        .bind(org_id)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::not_found("webhook", id));
        }
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = 'the webhook was removed', updated_us = $2 \
             WHERE kind = 'webhook' AND target = $1 AND state = 'pending'",
        )
        .bind(stored)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        w.audit("webhook.delete", "webhook", &id.to_string(), json!({}))
            .await?;
        w.commit().await
    }

    /// A webhook's calls, newest first (dead letters included), for its owner: by the
    /// webhook's public id, with the calls' public ids.
    pub async fn webhook_jobs(
        &self,
        webhook: i64,
        only_dead: bool,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let ids = self.public_ids().await?;
        let Some(webhook) = ids.reveal(Kind::Webhook, webhook) else {
            return Ok(Vec::new());
        };
        let rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN organizations o ON o.id = j.org_id \
             WHERE j.kind = 'webhook' AND j.target = $1 AND ($2 = 0 OR j.state = 'dead') \
             ORDER BY j.id DESC LIMIT $3"
        )))
        .bind(webhook)
        .bind(i64::from(only_dead))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let mut j = r.into_record()?;
                j.id = ids.hide(Kind::Call, j.id);
                j.target = ids.hide(Kind::Webhook, j.target);
                Ok(j)
            })
            .collect()
    }

    /// Puts a dead webhook call back in the queue, due now, with its tries counted afresh.
    pub async fn retry_webhook_job(
        &self,
        webhook: i64,
        job: i64,
        by: &By,
    ) -> Result<(), StoreError> {
        let ids = self.public_ids().await?;
        let (Some(stored_webhook), Some(stored_job)) = (
            ids.reveal(Kind::Webhook, webhook),
            ids.reveal(Kind::Call, job),
        ) else {
            return Err(StoreError::not_found("dead webhook call", job));
        };
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = 0, due_us = $3, lease_us = NULL, updated_us = $3 \
             WHERE id = $1 AND kind = 'webhook' AND target = $2 AND state = 'dead'",
        )
        .bind(stored_job)
        .bind(stored_webhook)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::not_found("dead webhook call", job));
        }
        w.audit(
            "webhook.retry",
            "webhook",
            &webhook.to_string(),
            json!({"job": job}),
        )
        .await?;
        w.emit(Event::Jobs);
        w.commit().await
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<JobRecord, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN organizations o ON o.id = j.org_id WHERE j.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| StoreError::not_found("job", id))?
            .into_record()
    }

    /// Leases up to `limit` jobs that are due to `worker`, for `lease`, and records that
    /// `worker` is alive. Counts the attempt and writes when it started, committed before the
    /// job runs. A job is free when no worker holds it, its lease has run out, or its worker
    /// has been silent for `GONE_AFTER`; taking over one whose attempt was cut short notes
    /// that in its last error. Several processes may call this at once: each job goes to one
    /// of them.
    pub async fn claim_jobs(
        &self,
        worker: &WorkerId,
        limit: u32,
        lease: chrono::TimeDelta,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let now = to_us(self.clock.now());
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let free = "(jobs.lease_us IS NULL OR jobs.lease_us < $1 OR (jobs.worker IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM workers k WHERE k.id = jobs.worker AND k.heartbeat_us >= $5)))";
        let mut tx = self.begin_plain().await?;
        beat(&mut tx, worker, now).await?;
        // A pending job that still has a lease was being run when its worker stopped.
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET lease_us = $2, worker = $4, attempts = attempts + 1, \
             attempted_us = $1, updated_us = $1, last_error = CASE WHEN lease_us IS NULL \
             THEN last_error ELSE 'attempt ' || CAST(attempts AS TEXT) || \
             ' was cut short (its worker stopped or its lease ran out); it may have been delivered' END \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND due_us <= $1 \
             AND {free} ORDER BY due_us, id LIMIT $3{lock}) AND {free} RETURNING id"
        )))
        .bind(now)
        .bind(now + lease.num_microseconds().unwrap_or(i64::MAX / 4))
        .bind(i64::from(limit))
        .bind(worker.as_str())
        .bind(alive_since(now))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.job(id).await?);
        }
        out.sort_by_key(|j| (j.due, j.id));
        Ok(out)
    }

    /// When the next pending job is due, if any.
    pub async fn next_job_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_us) FROM jobs WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(due.map(from_us))
    }

    /// Marks a leased job done.
    pub async fn job_done(&self, id: i64) -> Result<(), StoreError> {
        let _gate = self.queue_for_write().await;
        sqlx::query(
            "UPDATE jobs SET state = 'done', lease_us = NULL, last_error = NULL, updated_us = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(to_us(self.clock.now()))
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }

    /// Records a failed run: the job is due again at `retry_at`, or dead when that is `None`.
    pub async fn job_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let _gate = self.queue_for_write().await;
        let error: String = error.chars().take(1_000).collect();
        let (state, due) = match retry_at {
            Some(t) => ("pending", Some(to_us(t))),
            None => ("dead", None),
        };
        sqlx::query(
            "UPDATE jobs SET state = $2, due_us = COALESCE($3, due_us), lease_us = NULL, \
             last_error = $4, updated_us = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(due)
        .bind(error)
        .bind(to_us(self.clock.now()))
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }

    /// Takes one escalation step of an alert, in one transaction: notices and e-mail/webhook
    /// jobs for every recipient that has not acknowledged, the next step scheduled, and the job
    /// marked done. Running it twice changes nothing the second time.
    pub async fn escalate(
        &self,
        job: &JobRecord,
        step: EscalationStep,
        email: bool,
    ) -> Result<usize, StoreError> {
        let alert = self.alert(job.alert).await?;
        let mut w = self.begin_write(&By::system()).await?;
        let now = w.now_us;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
            .bind(job.id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if state.as_deref() != Some("pending") {
            return Ok(0);
        }
        let waiting: Vec<i64> = sqlx::query_scalar(
            "SELECT org_id FROM alert_deliveries WHERE alert_id = $1 AND acked_us IS NULL ORDER BY org_id",
        )
        .bind(alert.id)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut told: Vec<i64> = Vec::new();
        if !waiting.is_empty() {
            match step {
                EscalationStep::Reminder | EscalationStep::SecondContact => {
                    sqlx::query(
                        "INSERT INTO alert_notices (org_id, alert_id, kind, about_org_id, created_us) \
                         SELECT org_id, alert_id, $2, org_id, $3 FROM alert_deliveries \
                         WHERE alert_id = $1 AND acked_us IS NULL ON CONFLICT DO NOTHING",
                    )
                    .bind(alert.id)
                    .bind(step.as_str())
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await?;
                    told.extend(&waiting);
                    if step == EscalationStep::Reminder {
                        enqueue_delivery(&mut w.tx, alert.id, step.number(), now, email).await?;
                    } else if email {
                        sqlx::query(
                            "INSERT INTO jobs (kind, alert_id, org_id, target, step, due_us, state, updated_us) \
                             SELECT 'email', $1, d.org_id, 2, $2, $3, 'pending', $3 FROM alert_deliveries d \
                             WHERE d.alert_id = $1 AND d.acked_us IS NULL AND EXISTS (SELECT 1 FROM org_contacts c \
                             WHERE c.org_id = d.org_id AND c.rank = 2) ON CONFLICT DO NOTHING",
                        )
                        .bind(alert.id)
                        .bind(step.number())
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await?;
                    }
                }
                EscalationStep::Oversight => {
                    // The CEPTOARs the organization belongs to and the ministries responsible
                    // for its sectors.
                    let overseers: Vec<(i64, i64)> = sqlx::query_as(
                        "SELECT DISTINCT g.id, d.org_id FROM alert_deliveries d \
                         JOIN memberships m ON m.member_id = d.org_id \
                         JOIN organizations g ON g.id = m.group_id AND g.kind = 'ceptoar' \
                         WHERE d.alert_id = $1 AND d.acked_us IS NULL \
                         UNION SELECT DISTINCT r.org_id, d.org_id FROM alert_deliveries d \
                         JOIN org_sectors s ON s.org_id = d.org_id \
                         JOIN responsibilities r ON r.sector = s.sector \
                         JOIN organizations g ON g.id = r.org_id AND g.kind = 'ministry' \
                         WHERE d.alert_id = $1 AND d.acked_us IS NULL",
                    )
                    .bind(alert.id)
                    .fetch_all(&mut *w.tx)
                    .await?;
                    for (overseer, about) in &overseers {
                        sqlx::query(
                            "INSERT INTO alert_notices (org_id, alert_id, kind, about_org_id, created_us) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(overseer)
                        .bind(alert.id)
                        .bind(step.as_str())
                        .bind(about)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await?;
                        told.push(*overseer);
                    }
                    told.sort_unstable();
                    told.dedup();
                    if email {
                        for overseer in &told {
                            sqlx::query(
                                "INSERT INTO jobs (kind, alert_id, org_id, target, step, due_us, state, updated_us) \
                                 SELECT 'email', $1, $2, 1, $3, $4, 'pending', $4 WHERE EXISTS \
                                 (SELECT 1 FROM org_contacts c WHERE c.org_id = $2 AND c.rank = 1) \
                                 ON CONFLICT DO NOTHING",
                            )
                            .bind(alert.id)
                            .bind(overseer)
                            .bind(step.number())
                            .bind(now)
                            .execute(&mut *w.tx)
                            .await?;
                        }
                    }
                }
            }
            if let (Some(next), Some(within)) = (step.next(), alert.ack_within) {
                let due = to_us(alert.created + next.due_after(within));
                enqueue_escalation(&mut w.tx, alert.id, next, due, now).await?;
            }
        }
        sqlx::query(
            "UPDATE jobs SET state = 'done', lease_us = NULL, updated_us = $2 WHERE id = $1",
        )
        .bind(job.id)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            "alert.escalate",
            "alert",
            &alert.id.to_string(),
            json!({"step": step.as_str(), "unacknowledged": waiting.len(), "told": told.len()}),
        )
        .await?;
        let slugs: Vec<String> = if told.is_empty() {
            Vec::new()
        } else {
            let list = told
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT slug FROM organizations WHERE id IN ({list})"
            )))
            .fetch_all(&mut *w.tx)
            .await?
        };
        for s in &slugs {
            w.emit(Event::Notice {
                alert: alert.id,
                org: Slug::parse(s).map_err(corrupt)?,
            });
        }
        w.emit(Event::Jobs);
        w.commit().await?;
        Ok(waiting.len())
    }

    /// An organization's notices about alerts, newest first.
    pub async fn notices(&self, org: &Slug, limit: u32) -> Result<Vec<NoticeRecord>, StoreError> {
        let ids = self.public_ids().await?;
        let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
            "SELECT n.id, n.alert_id, n.kind, a.slug, n.created_us FROM alert_notices n \
             JOIN organizations o ON o.id = n.org_id JOIN organizations a ON a.id = n.about_org_id \
             WHERE o.slug = $1 ORDER BY n.id DESC LIMIT $2",
        )
        .bind(org.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, alert, kind, about, created_us)| {
                Ok(NoticeRecord {
                    id: ids.hide(Kind::AlertNotice, id),
                    alert,
                    kind,
                    about: Slug::parse(&about).map_err(corrupt)?,
                    created: from_us(created_us),
                })
            })
            .collect()
    }

    /// Organizations one overseer was told about at an escalation step of an alert.
    pub async fn overseen_unacknowledged(
        &self,
        alert: i64,
        overseer: &Slug,
    ) -> Result<Vec<Slug>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT a.slug FROM alert_notices n JOIN organizations o ON o.id = n.org_id \
             JOIN organizations a ON a.id = n.about_org_id \
             WHERE n.alert_id = $1 AND o.slug = $2 AND n.kind = 'oversight' ORDER BY a.slug",
        )
        .bind(alert)
        .bind(overseer.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|s| Slug::parse(s).map_err(corrupt))
            .collect()
    }

    /// The attachments of an alert.
    pub async fn attachments(&self, alert: i64) -> Result<Vec<Attachment>, StoreError> {
        let rows: Vec<(i64, String, String, i64, String)> = sqlx::query_as(
            "SELECT position, name, media_type, size, sha256 FROM alert_attachments \
             WHERE alert_id = $1 ORDER BY position",
        )
        .bind(alert)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(position, name, media_type, size, sha256)| Attachment {
                position,
                name,
                media_type,
                size,
                sha256,
            })
            .collect())
    }

    /// The attachments of each of `alerts` (those without any are left out): one query for a
    /// list.
    pub async fn attachments_of(
        &self,
        alerts: &[i64],
    ) -> Result<std::collections::HashMap<i64, Vec<Attachment>>, StoreError> {
        let mut out: std::collections::HashMap<i64, Vec<Attachment>> = Default::default();
        for chunk in alerts.chunks(500) {
            let sql = format!(
                "SELECT alert_id, position, name, media_type, size, sha256 FROM alert_attachments \
                 WHERE alert_id IN ({}) ORDER BY alert_id, position",
                self.marks(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, String, String, i64, String)>(
                sqlx::AssertSqlSafe(sql),
            );
            for id in chunk {
                q = q.bind(*id);
            }
            for (alert, position, name, media_type, size, sha256) in q.fetch_all(&self.pool).await?
            {
                out.entry(alert).or_default().push(Attachment {
                    position,
                    name,
                    media_type,
                    size,
                    sha256,
                });
            }
        }
        Ok(out)
    }

    /// One attachment's description and content.
    pub async fn attachment(
        &self,
        alert: i64,
        position: i64,
    ) -> Result<Option<(Attachment, Vec<u8>)>, StoreError> {
        let row: Option<(String, String, i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, media_type, size, sha256, content FROM alert_attachments \
             WHERE alert_id = $1 AND position = $2",
        )
        .bind(alert)
        .bind(position)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(name, media_type, size, sha256, content)| {
            (
                Attachment {
                    position,
                    name,
                    media_type,
                    size,
                    sha256,
                },
                content,
            )
        }))
    }
}
