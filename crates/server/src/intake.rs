//! The TAXII intake: checked envelopes wait in a bounded queue and one task writes them,
//! several requests to a transaction (group commit), in the order they came.
//!
//! Before it is queued, an envelope is held in the store as it came (`Store::hold_envelope`),
//! committed: nothing is answered 202 that a crash can lose. A store that cannot hold it
//! answers 503 with `Retry-After`, and nothing is taken.
//! A POST waits up to `TaxiiLimits::complete_within` for its objects to be written (the
//! writer tells it through the channel `submit` returns) and answers the `complete` status;
//! past that it answers `pending` (TAXII 2.1 section 5.4), and the status turns `complete` when
//! the transaction holding the objects commits (and deletes the held envelope).
//! Meanwhile this process answers the status from memory, and any process from the store.
//! The queue holds at most `TaxiiLimits::queue_bytes` of envelopes: a POST that finds it full
//! waits.
//! When the server stops, it writes the queue for up to `STOP_WITHIN`; what is left stays
//! held. Envelopes held by a process that stopped or died are taken over (`Intake::resume`,
//! called by the job worker) once it has been silent for `ciphub_store::GONE_AFTER`, by another
//! process or by the same instance started again, and written then; their statuses stay
//! `pending` until they are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ciphub_domain::Slug;
use ciphub_store::{
    HeldEnvelope, NewStixObject, StatusDetail, StatusRecord, StixAdd, StixBatch, Store, WorkerId,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Requests written in one transaction at most, counted in objects: on SQLite every other
/// writer waits for that transaction, so it stays short (about 60 ms here).
const GROUP_OBJECTS: usize = 2_000;
/// How long a stopping server goes on writing the queue; what is left is written at the
/// next start.
pub const STOP_WITHIN: Duration = Duration::from_secs(5);
/// Held envelopes taken over at a time.
const CLAIM_BATCH: u32 = 16;
/// How long a status whose objects could not be stored at all is kept in memory.
const FAILED_KEPT: Duration = Duration::from_secs(3600);

/// A status the store does not hold yet.
#[derive(Clone, Debug)]
pub enum Held {
    /// Waiting for its transaction (its `pendings` are the objects still to be written).
    Pending(StatusRecord),
    /// Neither the objects nor the status could be stored; every object is a failure.
    Failed(StatusRecord, Instant),
}

enum Job {
    /// A request's objects, the room they take in the queue, and whom to tell once written.
    Add(Box<StixAdd>, OwnedSemaphorePermit, oneshot::Sender<()>),
    Flush(oneshot::Sender<()>),
}

/// The queue and the statuses it holds.
pub struct Intake {
    store: Store,
    /// The worker the envelopes this process holds are held for.
    worker: WorkerId,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    room: Arc<Semaphore>,
    room_bytes: usize,
    held: Arc<Mutex<HashMap<String, Arc<Held>>>>,
}

impl Intake {
    /// An intake writing to `store` for `worker` that holds at most `queue_bytes` of
    /// envelopes in memory.
    pub fn new(store: Store, worker: WorkerId, queue_bytes: usize) -> Self {
        let room_bytes = queue_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            store,
            worker,
            queue: OnceLock::new(),
            room: Arc::new(Semaphore::new(room_bytes)),
            room_bytes,
            held: Arc::default(),
        }
    }

    /// The writer task, started with the first request (inside the server's runtime).
    fn queue(&self) -> &mpsc::UnboundedSender<Job> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_loop(self.store.clone(), rx, self.held.clone()));
            tx
        })
    }

    /// Holds a request's checked objects in the store (`envelope`: the body as it came) and
    /// queues them; returns its pending status, and a receiver told when the request has been
    /// written (or has failed for good). Waits while the queue is full. An error means nothing
    /// was taken.
    pub async fn submit(
        &self,
        add: StixAdd,
        envelope: &[u8],
    ) -> Result<(Arc<Held>, oneshot::Receiver<()>), Refused> {
        let permit = self.room(envelope.len()).await?;
        let status = pending_status(&add);
        self.store
            .hold_envelope(&status, &add.by, envelope, &self.worker)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a TAXII envelope could not be held");
                Refused::Store(self.store.write_fault().unwrap_or_else(|| e.to_string()))
            })?;
        self.enqueue(add, status, permit)
    }

    /// Room in the queue for `bytes` of envelope, waited for.
    async fn room(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Refused> {
        let permits = u32::try_from(bytes.clamp(1, self.room_bytes)).unwrap_or(u32::MAX);
        self.room
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| Refused::Stopping)
    }

    fn enqueue(
        &self,
        add: StixAdd,
        status: StatusRecord,
        permit: OwnedSemaphorePermit,
    ) -> Result<(Arc<Held>, oneshot::Receiver<()>), Refused> {
        let held = Arc::new(Held::Pending(status.clone()));
        lock(&self.held).insert(status.id.clone(), held.clone());
        let (tell, written) = oneshot::channel();
        if self
            .queue()
            .send(Job::Add(Box::new(add), permit, tell))
            .is_err()
        {
            lock(&self.held).remove(&status.id);
            return Err(Refused::Stopping);
        }
        Ok((held, written))
    }

    /// Takes over the envelopes held by workers that have gone silent (this instance before a
    /// crash, or another process) and queues them; returns how many. `check` reads an
    /// envelope again as a POST does.
    pub async fn resume(
        &self,
        check: impl Fn(&[u8]) -> Result<(Vec<NewStixObject>, Vec<StatusDetail>), String>,
    ) -> Result<usize, ciphub_store::StoreError> {
        let mut taken = 0;
        loop {
            let claimed = self
                .store
                .claim_envelopes(&self.worker, CLAIM_BATCH)
                .await?;
            if claimed.is_empty() {
                return Ok(taken);
            }
            for held in claimed {
                taken += 1;
                let HeldEnvelope {
                    status,
                    by,
                    envelope,
                } = held;
                tracing::info!(
                    status = status.id,
                    objects = status.pendings.len(),
                    "writing a TAXII envelope held by a worker that stopped"
                );
                let batch = StixBatch {
                    collection: status.collection.clone(),
                    owner: status.owner.clone(),
                    origin: "taxii".to_owned(),
                    alert_id: None,
                    status_id: Some(status.id.clone()),
                };
                let add = match check(&envelope) {
                    Ok((objects, failures)) => StixAdd {
                        batch,
                        objects,
                        failures,
                        by,
                        requested_us: Some(status.created_us),
                    },
                    // It was taken once; if this version reads it otherwise, each object
                    // waiting fails with the reason, and the client knows what to send again.
                    Err(e) => {
                        let mut failures = status.failures.clone();
                        failures.extend(status.pendings.iter().map(|p| StatusDetail {
                            message: Some(format!(
                                "the server could not read the envelope again after a restart: {e}"
                            )),
                            ..p.clone()
                        }));
                        StixAdd {
                            batch,
                            objects: Vec::new(),
                            failures,
                            by,
                            requested_us: Some(status.created_us),
                        }
                    }
                };
                let permit = match self.room(envelope.len()).await {
                    Ok(p) => p,
                    Err(_) => return Ok(taken),
                };
                // The status as it was held: the same that any process answers meanwhile.
                if self.enqueue(add, status, permit).is_err() {
                    return Ok(taken);
                }
            }
        }
    }

    /// A status not yet in the store, for the organization that posted it.
    pub fn held(&self, id: &str, viewer: &Slug) -> Option<Arc<Held>> {
        lock(&self.held)
            .get(id)
            .filter(|h| match h.as_ref() {
                Held::Pending(s) | Held::Failed(s, _) => &s.owner == viewer,
            })
            .cloned()
    }
}

/// What a status says of one object of `add`.
fn detail(o: &NewStixObject, message: Option<String>) -> StatusDetail {
    StatusDetail {
        id: o.object_id.clone(),
        version: o
            .version_text
            .clone()
            .or_else(|| o.version_us.map(ciphub_domain::stix::format_timestamp))
            .unwrap_or_default(),
        message,
    }
}

/// The status of a request none of whose objects is written yet: `failures` so far, no
/// successes, and `pendings`.
fn unwritten(
    add: &StixAdd,
    failures: Vec<StatusDetail>,
    pendings: Vec<StatusDetail>,
) -> StatusRecord {
    StatusRecord {
        id: add.batch.status_id.clone().unwrap_or_default(),
        collection: add.batch.collection.clone(),
        owner: add.batch.owner.clone(),
        created_us: add.requested_us.unwrap_or_default(),
        total: (add.objects.len() + add.failures.len()) as i64,
        successes: Vec::new(),
        failures,
        pendings,
    }
}

/// The status of a request just accepted: every checked object pending.
fn pending_status(add: &StixAdd) -> StatusRecord {
    let pendings = add.objects.iter().map(|o| detail(o, None)).collect();
    unwritten(add, add.failures.clone(), pendings)
}

/// Why an envelope was not taken.
#[derive(Debug)]
pub enum Refused {
    /// The server is stopping.
    Stopping,
    /// The store could not hold it (why).
    Store(String),
}

impl Intake {
    /// Writes the queue for up to `STOP_WITHIN`, as the server stops; what is left stays
    /// held in the store for the next start.
    pub async fn stop(&self) {
        if tokio::time::timeout(STOP_WITHIN, self.flush())
            .await
            .is_err()
        {
            let held = self.store.held_envelopes().await.unwrap_or_default();
            tracing::warn!(
                held,
                "the TAXII queue was not written out in time; the envelopes stay held and are written after the next start"
            );
        }
    }

    /// Waits until everything queued before the call is written.
    pub async fn flush(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if queue.send(Job::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Job>,
    held: Arc<Mutex<HashMap<String, Arc<Held>>>>,
) {
    while let Some(job) = rx.recv().await {
        let mut adds = Vec::new();
        let mut permits = Vec::new();
        let mut acks = Vec::new();
        let mut told = Vec::new();
        let mut objects = 0;
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Add(add, permit, tell) => {
                    objects += add.objects.len();
                    adds.push(*add);
                    permits.push(permit);
                    told.push(tell);
                }
                Job::Flush(ack) => acks.push(ack),
            }
            if objects < GROUP_OBJECTS {
                next = rx.try_recv().ok();
            }
        }
        write(&store, &adds, &held).await;
        drop(permits);
        for tell in told {
            // The request may have answered already (it stopped waiting).
            let _ = tell.send(());
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// Writes a group in one transaction; if that fails, each request alone, so one request's
/// trouble does not fail the others. While the store cannot write (a full disk, a lost
/// database), the group waits and is tried again: its envelopes are held, and their statuses
/// stay `pending`.
async fn write(store: &Store, adds: &[StixAdd], held: &Mutex<HashMap<String, Arc<Held>>>) {
    if adds.is_empty() {
        return;
    }
    let done = |adds: &[StixAdd]| {
        let mut map = lock(held);
        for a in adds {
            if let Some(id) = &a.batch.status_id {
                map.remove(id);
            }
        }
        map.retain(|_, h| !matches!(h.as_ref(), Held::Failed(_, at) if at.elapsed() > FAILED_KEPT));
    };
    match write_while_unavailable(store, adds).await {
        Ok(()) => return done(adds),
        Err(e) if adds.len() > 1 => {
            tracing::warn!(error = %e, requests = adds.len(), "TAXII group write failed; writing each request alone");
        }
        Err(_) => {}
    }
    for add in adds {
        let one = std::slice::from_ref(add);
        let error = match write_while_unavailable(store, one).await {
            Ok(()) => {
                done(one);
                continue;
            }
            Err(e) => e,
        };
        tracing::error!(error = %error, status = add.batch.status_id, "TAXII objects could not be stored");
        // Every object of the request becomes a failure, recorded in the store if it can be.
        let message = "the server could not store the object; send it again".to_owned();
        let mut failures = add.failures.clone();
        failures.extend(add.objects.iter().map(|o| detail(o, Some(message.clone()))));
        let failed = StixAdd {
            objects: Vec::new(),
            failures,
            ..add.clone()
        };
        match write_while_unavailable(store, std::slice::from_ref(&failed)).await {
            Ok(()) => done(one),
            Err(_) => {
                let status = unwritten(add, failed.failures, Vec::new());
                lock(held).insert(
                    status.id.clone(),
                    Arc::new(Held::Failed(status, Instant::now())),
                );
            }
        }
    }
}

/// Writes `adds` in one transaction, trying again for as long as the store cannot write;
/// an error is the write's own.
async fn write_while_unavailable(
    store: &Store,
    adds: &[StixAdd],
) -> Result<(), ciphub_store::StoreError> {
    let mut wait = Duration::from_millis(100);
    loop {
        match store.add_stix_batches(adds).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "the store cannot write TAXII objects now; they stay held");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
