//! The job worker: sends alert e-mail over SMTP, calls signed webhooks, and takes escalation
//! steps, from the store's job queue. Every `ciphub serve` runs one; jobs are leased, so
//! several processes on one PostgreSQL database share the work without doing any job twice
//! at the same time. What each channel may carry of an alert is the domain's `disclosure`.
//!
//! Webhook calls are signed: `Ciphub-Signature: v1=HEX` where HEX is
//! HMAC-SHA256(secret, `{Ciphub-Timestamp}.{body}`).
//!
//! A crash can repeat what was in flight: an e-mail or webhook call cut short is tried again
//! once the worker is known gone. Each carries an id derived from its job, the same on every
//! try (`Message-ID`, `Ciphub-Delivery`), so the receiver can drop the second copy.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use ciphub_domain::alert::EscalationStep;
use ciphub_domain::policy::sharing::{Channel, Disclosure, disclosure};
use ciphub_domain::redact::mask_url;
use ciphub_store::{AlertRecord, JobKind, JobRecord};
use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;

use crate::{AppState, MailConfig};

/// How long a webhook call may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a worker holds a job before another may take it over, even when it still beats:
/// the last resort, for a worker that is alive but stuck.
const LEASE: TimeDelta = TimeDelta::minutes(2);

/// How long one SMTP transaction may take in all. lettre's own timeout bounds only the
/// connection; a server that stalls mid-transaction must not hold a job past its lease, or
/// another worker would send it again while this one still waits.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Jobs taken per round.
const BATCH: u32 = 64;

/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// An SMTP client.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A client for `config`; says what is wrong with the URL or the sender.
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| format!("mail.smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = config
            .from
            .parse()
            .map_err(|e| format!("mail.from: {:?} is not an address: {e}", config.from))?;
        Ok(Self { transport, from })
    }
}

/// Runs jobs as they fall due until the task is dropped: woken by new jobs, or every `every`.
/// Beats all the while, so that other workers know this one is alive, and takes over, every
/// `every`, the TAXII envelopes that a stopped process accepted but did not write (apart from
/// the jobs, which may take a minute each).
pub async fn work(state: AppState, every: Duration) {
    tokio::select! {
        () = heartbeat(&state) => {}
        () = work_loop(&state, every) => {}
        () = resume_envelopes(&state, every) => {}
    }
}

async fn resume_envelopes(state: &AppState, every: Duration) {
    loop {
        if let Err(e) = state.taxii_intake.resume(crate::taxii::recheck).await {
            tracing::error!(error = %e, "taking over held TAXII envelopes");
        }
        tokio::time::sleep(every).await;
    }
}

/// Tells the store every `HEARTBEAT` that this process's worker is alive, even while its jobs
/// run.
async fn heartbeat(state: &AppState) {
    loop {
        if let Err(e) = state.store.heartbeat(&state.worker).await {
            tracing::error!(error = %e, "job worker heartbeat");
        }
        tokio::time::sleep(ciphub_store::HEARTBEAT).await;
    }
}

async fn work_loop(state: &AppState, every: Duration) {
    let mut events = state.store.subscribe();
    loop {
        match run_due(state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "job worker"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            e = events.recv() => {
                if matches!(e, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    tokio::time::sleep(every).await;
                }
            }
        }
    }
}

/// Runs every job that is due now; returns how many ran.
pub async fn run_due(state: &AppState) -> Result<usize, ciphub_store::StoreError> {
    let mut ran = 0;
    loop {
        // A read first: an idle server does not write every time it looks.
        let now = state.store.clock().now();
        if state
            .store
            .next_job_due()
            .await?
            .is_none_or(|due| due > now)
        {
            return Ok(ran);
        }
        let jobs = state.store.claim_jobs(&state.worker, BATCH, LEASE).await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        ran += jobs.len();
        let runs = jobs.iter().map(|j| run_one(state, j));
        for (job, result) in jobs.iter().zip(futures_util::future::join_all(runs).await) {
            if let Err(e) = result {
                let retry_at = retry_at(state, job);
                tracing::warn!(job = job.id, kind = job.kind.as_str(), attempts = job.attempts,
                    error = %e, dead = retry_at.is_none(), "job failed");
                state.store.job_failed(job.id, &e, retry_at).await?;
            }
        }
    }
}

/// When a failed job runs again, or `None` when it has had its tries.
fn retry_at(state: &AppState, job: &JobRecord) -> Option<chrono::DateTime<Utc>> {
    let attempts = u32::try_from(job.attempts.max(1)).unwrap_or(u32::MAX);
    if job.kind == JobKind::Escalate {
        // Escalation fails only on the database; it keeps trying.
        return Some(state.store.clock().now() + TimeDelta::seconds(30));
    }
    if attempts >= state.config.delivery_attempts {
        return None;
    }
    let wait = state
        .config
        .retry_backoff
        .saturating_mul(2u32.saturating_pow(attempts - 1))
        .min(MAX_BACKOFF);
    Some(state.store.clock().now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(6)))
}

/// Runs one job; an `Err` is the reason it failed, to retry.
async fn run_one(state: &AppState, job: &JobRecord) -> Result<(), String> {
    let done = match job.kind {
        JobKind::Escalate => {
            let step = EscalationStep::from_number(job.step)
                .ok_or_else(|| format!("unknown escalation step {}", job.step))?;
            state
                .store
                .escalate(job, step, state.mailer.is_some())
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        JobKind::Email => send_email(state, job).await?,
        JobKind::Webhook => call_webhook(state, job).await?,
    };
    if done {
        state
            .store
            .job_done(job.id)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn link(state: &AppState, alert: i64) -> String {
    match &state.config.public_url {
        Some(base) => format!("{}/alerts/{alert}", base.trim_end_matches('/')),
        None => format!("alert {alert} in ciphub"),
    }
}

/// The label line every message starts with, and an exercise marker.
fn heading(a: &AlertRecord) -> String {
    if a.exercise {
        format!("[EXERCISE] {}", a.tlp)
    } else {
        a.tlp.to_string()
    }
}

/// Composes and sends one e-mail job. `Ok(true)`: sent (or nobody left to send to).
async fn send_email(state: &AppState, job: &JobRecord) -> Result<bool, String> {
    let Some(mailer) = &state.mailer else {
        return Err("mail is not configured on this server".into());
    };
    let org = job
        .org
        .clone()
        .ok_or("an e-mail job names no organization")?;
    let store = &state.store;
    let a = store.alert(job.alert).await.map_err(|e| e.to_string())?;
    let to: Vec<_> = store
        .contacts(&org)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.rank == job.target)
        .collect();
    if to.is_empty() {
        return Ok(true);
    }
    let head = heading(&a);
    let full = disclosure(Channel::Email, a.tlp, &a.audience) == Disclosure::Full;
    let deadline = a
        .ack_within
        .map(|d| format!("Acknowledge by {}.\n", (a.created + d).to_rfc3339()))
        .unwrap_or_default();
    let (subject, body) = match EscalationStep::from_number(job.step) {
        None => {
            let subject = if full {
                format!("[ciphub] {head} alert {}: {}", a.id, a.title)
            } else {
                format!("[ciphub] {head} alert {} from {}", a.id, a.sender_org)
            };
            let text = if full {
                format!("{}\n\n{}\n", a.title, a.body)
            } else {
                format!(
                    "This alert's label keeps its content out of e-mail. Sign in to read it: {}\n",
                    link(state, a.id)
                )
            };
            (
                subject,
                format!(
                    "{head}\nFrom: {}\n{deadline}\n{text}\n{}\n",
                    a.sender_org,
                    link(state, a.id)
                ),
            )
        }
        Some(EscalationStep::Reminder) => (
            format!(
                "[ciphub] Reminder: {head} alert {} is not acknowledged",
                a.id
            ),
            format!(
                "{head}\n{org} has not yet acknowledged alert {} from {}.\n{deadline}\nSign in to read and acknowledge it: {}\n",
                a.id,
                a.sender_org,
                link(state, a.id)
            ),
        ),
        Some(EscalationStep::SecondContact) => (
            format!(
                "[ciphub] Second contact: {head} alert {} is not acknowledged by {org}",
                a.id
            ),
            format!(
                "{head}\nYou are {org}'s second contact. Alert {} from {} has not been acknowledged \
                 by {org}, and the first contacts were reminded.\n{deadline}\nSign in to read and \
                 acknowledge it: {}\n",
                a.id,
                a.sender_org,
                link(state, a.id)
            ),
        ),
        Some(EscalationStep::Oversight) => {
            let late = store
                .overseen_unacknowledged(a.id, &org)
                .await
                .map_err(|e| e.to_string())?;
            let list: Vec<String> = late.iter().map(|s| format!("- {s}")).collect();
            (
                format!(
                    "[ciphub] Escalation: {} organizations have not acknowledged {head} alert {}",
                    late.len(),
                    a.id
                ),
                format!(
                    "{head}\nThese organizations that {org} oversees have not acknowledged alert {} \
                     from {} after twice the time given:\n{}\n\nThe alert's content is for its \
                     recipients; contact them directly. {}\n",
                    a.id,
                    a.sender_org,
                    list.join("\n"),
                    link(state, a.id)
                ),
            )
        }
    };
    // The same on every try of this job, so a recipient's mail system can drop a second copy
    // sent after a crash.
    let public = store
        .public_mail_id(job.id)
        .await
        .map_err(|e| e.to_string())?;
    let mut builder = Message::builder()
        .message_id(Some(message_id(public, &mailer.from)))
        .from(mailer.from.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for c in &to {
        let mailbox: Mailbox = format!("{} <{}>", c.name.replace(['<', '>', '"'], ""), c.email)
            .parse()
            .or_else(|_| c.email.parse())
            .map_err(|e| format!("contact address {:?}: {e}", c.email))?;
        builder = builder.to(mailbox);
    }
    let message = builder.body(body).map_err(|e| e.to_string())?;
    tokio::time::timeout(SMTP_TIMEOUT, mailer.transport.send(message))
        .await
        .map_err(|_| format!("SMTP: no answer within {} s", SMTP_TIMEOUT.as_secs()))?
        .map_err(|e| format!("SMTP: {e}"))?;
    Ok(true)
}

/// The `Message-ID` of the e-mail job whose public id is `public`, in the sender's domain.
fn message_id(public: i64, from: &Mailbox) -> String {
    format!("<ciphub.job.{public}@{}>", from.email.domain())
}

/// The signature of a webhook body: hex HMAC-SHA256 over `{timestamp}.{body}`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Calls one webhook. `Ok(true)`: answered 2xx (or the webhook is gone).
async fn call_webhook(state: &AppState, job: &JobRecord) -> Result<bool, String> {
    let store = &state.store;
    let Some((org, url, secret)) = store
        .webhook_target(job.target)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(true);
    };
    if !state.config.webhook_private_targets {
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("{}: {e}", mask_url(&url)))?;
        crate::egress::check_literal(&parsed)?;
    }
    let a = store.alert(job.alert).await.map_err(|e| e.to_string())?;
    let event = match EscalationStep::from_number(job.step) {
        None => "alert.created",
        Some(_) => "alert.reminder",
    };
    let full = disclosure(Channel::Webhook, a.tlp, &a.audience) == Disclosure::Full;
    let mut alert = json!({
        "id": a.id,
        "sender_org": a.sender_org,
        "tlp": a.tlp,
        "exercise": a.exercise,
        "created_at": a.created.to_rfc3339(),
        "acknowledge_by": a.ack_within.map(|d| (a.created + d).to_rfc3339()),
        "relay_of": a.relay_of,
    });
    if full {
        alert["title"] = json!(a.title);
        alert["body"] = json!(a.body);
    }
    // The receiver sees the call's public id, the one the owner's list of calls shows.
    let delivery = state
        .store
        .public_call_id(job.id)
        .await
        .map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&json!({
        "event": event,
        "delivery": delivery,
        "org": org,
        "disclosure": if full { "full" } else { "notice" },
        "alert": alert,
    }))
    .map_err(|e| e.to_string())?;
    let timestamp = Utc::now().timestamp();
    let resp = state
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("ciphub-event", event)
        .header("ciphub-delivery", delivery.to_string())
        .header("ciphub-timestamp", timestamp.to_string())
        .header(
            "ciphub-signature",
            format!("v1={}", sign(&secret, timestamp, &body)),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // The innermost cause says why (refused, timed out, no public address); reqwest's
            // own words would quote the URL, with any token in its query.
            let e = e.without_url();
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = s.to_string();
                source = s.source();
            }
            format!("POST {}: {why}", mask_url(&url))
        })?;
    if resp.status().is_success() {
        Ok(true)
    } else {
        Err(format!(
            "POST {}: HTTP {}",
            mask_url(&url),
            resp.status().as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_gives_up_before_its_lease_runs_out() {
        let lease = LEASE.to_std().expect("positive");
        assert!(SMTP_TIMEOUT < lease && WEBHOOK_TIMEOUT < lease);
        // Taking over a stopped worker's jobs is meant to be much quicker than the lease.
        assert!(ciphub_store::GONE_AFTER * 4 < lease);
    }
}
