//! The TAXII intake: checked envelopes wait in a bounded queue and one task writes them,
//! several requests to a transaction (group commit), in the order they came.
//!
//! A POST waits up to `TaxiiLimits::complete_within` for its objects to be written (the
//! writer tells it through the channel `submit` returns) and answers the `complete` status;
//! past that it answers `pending` (TAXII 2.1 section 5.4), and the status turns `complete` when
//! the transaction holding the objects commits.
//! Until then the status is answered from memory, afterwards from the store. The queue holds
//! at most `TaxiiLimits::queue_bytes` of envelopes: a POST that finds it full waits.
//! When the server stops, the queue is written out before `serve` returns; objects of a
//! pending status are lost only if the process dies before its transaction commits, and the
//! status is then unknown (404), which tells the client to send them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ciphub_domain::Slug;
use ciphub_store::{NewStixObject, StatusDetail, StatusRecord, StixAdd, Store};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Requests written in one transaction at most, counted in objects.
const GROUP_OBJECTS: usize = 10_000;
/// How long a status whose objects could not be stored at all is kept in memory.
const FAILED_KEPT: Duration = Duration::from_secs(3600);

/// A status the store does not hold yet.
#[derive(Clone, Debug)]
pub enum Held {
    /// Waiting for its transaction: the objects still to be written.
    Pending(StatusRecord, Vec<StatusDetail>),
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
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    room: Arc<Semaphore>,
    room_bytes: usize,
    held: Arc<Mutex<HashMap<String, Arc<Held>>>>,
}

impl Intake {
    /// An intake writing to `store` that holds at most `queue_bytes` of envelopes.
    pub fn new(store: Store, queue_bytes: usize) -> Self {
        let room_bytes = queue_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            store,
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

    /// Queues a request's checked objects (`bytes`: the size of its envelope, for the room
    /// the queue has left); returns its pending status, and a receiver told when the request
    /// has been written (or has failed for good). Waits while the queue is full.
    pub async fn submit(
        &self,
        add: StixAdd,
        bytes: usize,
    ) -> Result<(Arc<Held>, oneshot::Receiver<()>), String> {
        let permits = u32::try_from(bytes.clamp(1, self.room_bytes)).unwrap_or(u32::MAX);
        let permit = self
            .room
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        let pendings = add.objects.iter().map(|o| detail(o, None)).collect();
        let status = unwritten(&add, add.failures.clone());
        let held = Arc::new(Held::Pending(status.clone(), pendings));
        lock(&self.held).insert(status.id.clone(), held.clone());
        let (tell, written) = oneshot::channel();
        if self
            .queue()
            .send(Job::Add(Box::new(add), permit, tell))
            .is_err()
        {
            lock(&self.held).remove(&status.id);
            return Err("the writer has stopped".to_owned());
        }
        Ok((held, written))
    }

    /// A status not yet in the store, for the organization that posted it.
    pub fn held(&self, id: &str, viewer: &Slug) -> Option<Arc<Held>> {
        lock(&self.held)
            .get(id)
            .filter(|h| match h.as_ref() {
                Held::Pending(s, _) | Held::Failed(s, _) => &s.owner == viewer,
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

/// The status of a request none of whose objects is written yet: `failures` so far, and no
/// successes.
fn unwritten(add: &StixAdd, failures: Vec<StatusDetail>) -> StatusRecord {
    StatusRecord {
        id: add.batch.status_id.clone().unwrap_or_default(),
        collection: add.batch.collection.clone(),
        owner: add.batch.owner.clone(),
        created_us: add.requested_us.unwrap_or_default(),
        total: (add.objects.len() + add.failures.len()) as i64,
        successes: Vec::new(),
        failures,
    }
}

impl Intake {
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
/// trouble does not fail the others.
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
    match store.add_stix_batches(adds).await {
        Ok(_) => return done(adds),
        Err(e) if adds.len() > 1 => {
            tracing::warn!(error = %e, requests = adds.len(), "TAXII group write failed; writing each request alone");
        }
        Err(_) => {}
    }
    for add in adds {
        let one = std::slice::from_ref(add);
        let error = match store.add_stix_batches(one).await {
            Ok(_) => {
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
        match store.add_stix_batches(std::slice::from_ref(&failed)).await {
            Ok(_) => done(one),
            Err(_) => {
                let status = unwritten(add, failed.failures);
                lock(held).insert(
                    status.id.clone(),
                    Arc::new(Held::Failed(status, Instant::now())),
                );
            }
        }
    }
}
