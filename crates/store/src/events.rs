//! Live events: what changed, for the server's streams and job workers. On SQLite (one
//! process) they go straight to this process's subscribers after commit; on PostgreSQL they
//! are sent with `pg_notify` inside the transaction and every `ciphub serve` on the database,
//! this one included, receives them through `LISTEN` (see `Store::listen`). What streams show
//! is also kept in the `stream_events` log, so a stream that missed notifications (it
//! reconnected, or the `LISTEN` connection dropped) reads them from the database.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ciphub_domain::Slug;

use crate::{Backend, Store, StoreError};

/// The PostgreSQL notification channel.
pub(crate) const CHANNEL: &str = "ciphub_events";

/// Events kept for a slow subscriber before it starts missing some.
pub(crate) const CAPACITY: usize = 4096;

/// The `application_name` of the `LISTEN` connection.
pub const LISTENER_NAME: &str = "ciphub-events";

/// The first wait before the listener tries to connect again, and the longest.
const LISTEN_BACKOFF_MIN: Duration = Duration::from_millis(100);
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a connection must hold for the backoff to start again from the first wait.
const LISTEN_STEADY: Duration = Duration::from_secs(10);

/// The oldest id the log still holds everything after, at `now_us`.
pub(crate) fn stream_horizon(now_us: i64) -> i64 {
    let keep = i64::try_from(STREAM_RETENTION.as_micros()).unwrap_or(i64::MAX);
    now_us.saturating_sub(keep)
}

/// Something a live stream or a worker may want to know about. Events carry ids only: what a
/// subscriber may see of them is decided when it reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new alert was delivered.
    Alert { id: i64 },
    /// An organization received a notice about an alert (a reminder or an escalation).
    Notice { alert: i64, org: Slug },
    /// A recipient organization acknowledged an alert the sender organization sent.
    Ack { alert: i64, sender: Slug, org: Slug },
    /// New jobs are waiting.
    Jobs,
    /// Users, roles, tokens or organization kinds changed: cached credentials are dropped.
    Credentials,
    /// An exercise run changed: it moved, sent an inject, or took an answer (for the
    /// controller's live view).
    Exercise { run: i64 },
    /// This process may have missed events (its `LISTEN` connection was re-established):
    /// streams read the log again and check their credentials. Never sent to other processes.
    Resync,
}

impl Event {
    /// Whether live streams show the event, so that it is kept in the `stream_events` log.
    pub(crate) fn streamed(&self) -> bool {
        matches!(
            self,
            Event::Alert { .. } | Event::Notice { .. } | Event::Ack { .. }
        )
    }
}

/// How long the `stream_events` log keeps an event: a stream that reconnects with an older id
/// is told it may have missed some (`Store::stream_horizon`).
pub const STREAM_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Events read from the log at most at once.
const PAGE: i64 = 500;

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Alert { id } => write!(f, "alert {id}"),
            Event::Notice { alert, org } => write!(f, "notice {alert} {org}"),
            Event::Ack { alert, sender, org } => write!(f, "ack {alert} {sender} {org}"),
            Event::Jobs => f.write_str("jobs"),
            Event::Credentials => f.write_str("credentials"),
            Event::Exercise { run } => write!(f, "exercise {run}"),
            Event::Resync => f.write_str("resync"),
        }
    }
}

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(' ').collect();
        let id = |i: usize| -> Result<i64, String> {
            parts
                .get(i)
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("event {s:?} lacks an id"))
        };
        let slug = |i: usize| -> Result<Slug, String> {
            parts
                .get(i)
                .and_then(|p| Slug::parse(p).ok())
                .ok_or_else(|| format!("event {s:?} lacks an organization"))
        };
        match parts.first().copied() {
            Some("alert") if parts.len() == 2 => Ok(Event::Alert { id: id(1)? }),
            Some("notice") if parts.len() == 3 => Ok(Event::Notice {
                alert: id(1)?,
                org: slug(2)?,
            }),
            Some("ack") if parts.len() == 4 => Ok(Event::Ack {
                alert: id(1)?,
                sender: slug(2)?,
                org: slug(3)?,
            }),
            Some("jobs") if parts.len() == 1 => Ok(Event::Jobs),
            Some("credentials") if parts.len() == 1 => Ok(Event::Credentials),
            Some("exercise") if parts.len() == 2 => Ok(Event::Exercise { run: id(1)? }),
            Some("resync") if parts.len() == 1 => Ok(Event::Resync),
            _ => Err(format!("unknown event {s:?}")),
        }
    }
}

impl Store {
    /// Events from now on. A subscriber that falls more than a few thousand events behind
    /// misses the oldest (and is told so by the receiver).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// On PostgreSQL, receives the events every process on the database sends and passes them
    /// to this process's subscribers. When the connection drops it is made again, after a
    /// backoff that grows while it keeps failing, and each time it is listening again the
    /// subscribers get `Event::Resync`: notifications sent while it was down are lost, so
    /// streams read what they missed from the `stream_events` log. Returns at once on SQLite,
    /// where events never leave the process. Runs until the task is dropped.
    pub async fn listen(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut backoff = LISTEN_BACKOFF_MIN;
        loop {
            let started = tokio::time::Instant::now();
            let listened = self.listen_once().await;
            self.listening.send_replace(false);
            if let Err(e) = &listened {
                tracing::warn!(error = %e, retry_in = ?backoff, "event listener could not listen");
            }
            // A connection that held for a while starts the backoff afresh; one that fails or
            // drops at once makes the next wait longer, so a sick server is not hammered.
            if listened.is_ok() && started.elapsed() >= LISTEN_STEADY {
                backoff = LISTEN_BACKOFF_MIN;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
        }
    }

    /// Connects, listens, and passes events on until the connection drops (`Ok`) or cannot be
    /// made (`Err`).
    async fn listen_once(&self) -> Result<(), StoreError> {
        use std::str::FromStr as _;
        let connect = |e| StoreError::Connect(crate::redact_url(&self.url), e);
        // A name of its own, so that operators (and tests) can tell the listener apart.
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .map_err(connect)?
            .application_name(LISTENER_NAME);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options)
            .await
            .map_err(connect)?;
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
            .await
            .map_err(connect)?;
        // A lost connection ends this call, so that the loop above makes a new one and says so.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        // `send` fails while nobody waits (the channel's first receiver is dropped at once),
        // and the value must stick for whoever waits later.
        self.listening.send_replace(true);
        // Whatever was sent before this point and not received (a previous connection's loss,
        // or credentials changed meanwhile) is read again from the database.
        self.tokens.forget();
        let _ = self.events.send(Event::Resync);
        loop {
            let n = match listener.try_recv().await {
                Ok(Some(n)) => n,
                Ok(None) => {
                    tracing::warn!("event listener lost its connection; reconnecting");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                    return Ok(());
                }
            };
            match n.payload().parse::<Event>() {
                Ok(Event::Resync) => {}
                Ok(e) => {
                    if e == Event::Credentials {
                        // Another process changed who may do what: this one asks the
                        // database again.
                        self.tokens.forget();
                    }
                    let _ = self.events.send(e);
                }
                Err(e) => tracing::warn!(error = %e, "ignored an event"),
            }
        }
    }

    /// The id of the latest event in the `stream_events` log, or 0: a stream that starts
    /// without a last event id shows what comes after it.
    pub async fn stream_cursor(&self) -> Result<i64, StoreError> {
        let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM stream_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Up to 500 logged events after `after`, oldest first, with their ids. Every event with
    /// a smaller id than the last one returned has committed, so reading on from there misses
    /// nothing (writers are serialized and take their ids in commit order).
    pub async fn stream_events_after(&self, after: i64) -> Result<Vec<(i64, Event)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, event FROM stream_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, text)| match text.parse::<Event>() {
                Ok(e) => Some((id, e)),
                Err(e) => {
                    tracing::warn!(error = %e, id, "ignored a logged event");
                    None
                }
            })
            .collect())
    }

    /// The oldest id the log still holds everything after: a stream asked to resume from an
    /// older one may have missed events.
    pub fn stream_horizon(&self) -> i64 {
        stream_horizon(crate::clock::to_us(self.clock.now()))
    }

    /// Waits until this process receives other processes' events (at once on SQLite).
    pub async fn wait_listening(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let mut rx = self.listening.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_as_written() {
        let s = |x: &str| Slug::parse(x).expect("slug");
        for e in [
            Event::Alert { id: 7 },
            Event::Notice {
                alert: 7,
                org: s("water-ceptoar"),
            },
            Event::Ack {
                alert: 7,
                sender: s("nisc"),
                org: s("tokyo-water"),
            },
            Event::Jobs,
            Event::Credentials,
            Event::Resync,
        ] {
            assert_eq!(e.to_string().parse::<Event>(), Ok(e));
        }
        assert!("alert x".parse::<Event>().is_err());
        assert!("nothing".parse::<Event>().is_err());
    }
}
