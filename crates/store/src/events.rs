//! Live events: what changed, for the server's streams and job workers. On SQLite (one
//! process) they go straight to this process's subscribers after commit; on PostgreSQL they
//! are sent with `pg_notify` inside the transaction and every `ciphub serve` on the database,
//! this one included, receives them through `LISTEN` (see `Store::listen`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ciphub_domain::Slug;

use crate::{Backend, Store, StoreError};

/// The PostgreSQL notification channel.
pub(crate) const CHANNEL: &str = "ciphub_events";

/// Events kept for a slow subscriber before it starts missing some.
pub(crate) const CAPACITY: usize = 4096;

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
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Alert { id } => write!(f, "alert {id}"),
            Event::Notice { alert, org } => write!(f, "notice {alert} {org}"),
            Event::Ack { alert, sender, org } => write!(f, "ack {alert} {sender} {org}"),
            Event::Jobs => f.write_str("jobs"),
            Event::Credentials => f.write_str("credentials"),
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
    /// to this process's subscribers, reconnecting when the connection drops. Returns at once
    /// on SQLite, where events never leave the process. Runs until the task is dropped.
    pub async fn listen(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        loop {
            match self.listen_once().await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Subscribes and waits until the listener is connected, then keeps passing events on.
    async fn listen_once(&self) -> Result<(), StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(&self.url)
            .await
            .map_err(|e| StoreError::Connect(crate::redact_url(&self.url), e))?;
        listener.listen(CHANNEL).await?;
        // `send` fails while nobody waits (the channel's first receiver is dropped at once),
        // and the value must stick for whoever waits later.
        self.listening.send_replace(true);
        loop {
            let n = listener.recv().await?;
            match n.payload().parse::<Event>() {
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
        ] {
            assert_eq!(e.to_string().parse::<Event>(), Ok(e));
        }
        assert!("alert x".parse::<Event>().is_err());
        assert!("nothing".parse::<Event>().is_err());
    }
}
