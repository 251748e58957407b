//! Rate limits kept in memory: failed logins per user name, and token buckets of requests per
//! credential and per client address for the API and TAXII.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::AppState;
use crate::error::AppError;

/// Counts failed logins per user name in a sliding window.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Entries kept before old ones are swept, so the map cannot grow without bound.
const SWEEP_AT: usize = 10_000;

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user` may try to log in now.
    pub fn allows(&self, user: &str) -> bool {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(user).is_none_or(|times| {
            times
                .iter()
                .filter(|t| now.duration_since(**t) < self.window)
                .count()
                < self.max_failures as usize
        })
    }

    /// Records a failed login for `user`.
    pub fn failed(&self, user: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < self.window));
        }
        let times = map.entry(user.to_owned()).or_default();
        times.retain(|t| now.duration_since(*t) < self.window);
        times.push(now);
    }

    /// Forgets failures after a successful login.
    pub fn succeeded(&self, user: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }
}

/// A token bucket's shape: `per_minute` requests refill it evenly, and it holds at most `burst`
/// of them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute in the long run.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    /// No limit worth the name, for benchmarks and tests that are not about limits.
    pub const UNLIMITED: Rate = Rate {
        per_minute: u32::MAX,
        burst: u32::MAX,
    };

    fn quota(self) -> Quota {
        // The configuration refuses 0; a rate built in code with 0 still limits, to 1.
        let per_minute = NonZeroU32::new(self.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(per_minute).allow_burst(burst)
    }
}

/// The request limits of the REST API (`/api/v1/*`, `/metrics`, the MISP feed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    /// Per credential: an API token, a user name and token (basic), or a session.
    pub per_credential: Rate,
    /// Per client address, whatever the credential (or none); counted apart for TAXII.
    pub per_address: Rate,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            per_credential: Rate {
                per_minute: 600,
                burst: 100,
            },
            per_address: Rate {
                per_minute: 1_200,
                burst: 200,
            },
        }
    }
}

/// How often buckets that have filled up again are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Token buckets per key. Memory stays bounded: every `SWEEP_EVERY`, a request sweeps away the
/// buckets that are full again (governor's `retain_recent`), so the map holds only keys seen
/// within the last `burst / rate` plus `SWEEP_EVERY`.
pub(crate) struct Buckets<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    swept: Mutex<Instant>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(rate.quota()),
            swept: Mutex::new(Instant::now()),
        }
    }

    /// Takes one request from `key`'s bucket; `Err(seconds)` until the next one is there,
    /// rounded up so a client that waits that long is let in.
    pub(crate) fn take(&self, key: &K) -> Result<(), u64> {
        self.sweep();
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    fn sweep(&self) {
        // Another request sweeping now is as good as this one doing it.
        let Ok(mut swept) = self.swept.try_lock() else {
            return;
        };
        if swept.elapsed() >= SWEEP_EVERY {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            *swept = Instant::now();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Every request limiter, per interface.
pub(crate) struct RequestLimiters {
    pub(crate) api_credential: Buckets<String>,
    pub(crate) api_address: Buckets<IpAddr>,
    pub(crate) taxii_credential: Buckets<String>,
    pub(crate) taxii_address: Buckets<IpAddr>,
}

impl RequestLimiters {
    pub(crate) fn new(api: ApiLimits, taxii: Rate) -> Self {
        Self {
            api_credential: Buckets::new(api.per_credential),
            api_address: Buckets::new(api.per_address),
            taxii_credential: Buckets::new(taxii),
            taxii_address: Buckets::new(api.per_address),
        }
    }
}

/// Which limit a request ran into, for the answer's words.
pub(crate) enum Exceeded {
    Credential(u64),
    Address(u64),
}

impl Exceeded {
    pub(crate) fn wait(&self) -> u64 {
        match self {
            Exceeded::Credential(s) | Exceeded::Address(s) => *s,
        }
    }

    pub(crate) fn message(&self, rate: Rate) -> String {
        let what = match self {
            Exceeded::Credential(_) => "credential",
            Exceeded::Address(_) => "client address",
        };
        format!(
            "more than {} requests a minute (or {} at once) from this {what}; retry after {} s",
            rate.per_minute,
            rate.burst,
            self.wait()
        )
    }
}

/// The key of a client address: IPv4 as it is, IPv6 by its /64, which one host or site holds
/// whole, so walking through its addresses does not escape the limit.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The peer address of a request served over a socket (none under `oneshot`). A proxy in front
/// of ciphub is the peer: no header is trusted to name another client.
pub(crate) fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| address_key(addr.ip()))
}

/// Checks a request against an address bucket and then a credential bucket.
pub(crate) fn check(
    req: &Request,
    address: &Buckets<IpAddr>,
    credential: &Buckets<String>,
) -> Result<(), Exceeded> {
    if let Some(ip) = peer(req) {
        address.take(&ip).map_err(Exceeded::Address)?;
    }
    if let Some(key) = crate::auth::credential_key(req.headers()) {
        credential.take(&key).map_err(Exceeded::Credential)?;
    }
    Ok(())
}

/// A 429 that leaves the connection usable: it says when to retry, and reads the request body
/// (up to `body_limit`) first, because a server that answers without reading it closes the
/// connection under a keep-alive client, whose next request then fails. A longer body is not
/// read; the answer then says the connection closes.
pub(crate) async fn refuse(
    body: Body,
    body_limit: usize,
    mut resp: Response,
    wait: u64,
) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    if axum::body::to_bytes(body, body_limit).await.is_err() {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Middleware for the REST API: the per-address and per-credential buckets, checked before
/// the credential is looked up, so a flood costs the store nothing.
pub async fn limit_api(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limits = &state.limiters;
    match check(&req, &limits.api_address, &limits.api_credential) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let api = state.config.api_limits;
            let rate = match &e {
                Exceeded::Credential(_) => api.per_credential,
                Exceeded::Address(_) => api.per_address,
            };
            let resp = AppError::TooMany(e.message(rate)).into_response();
            refuse(req.into_body(), state.config.body_limit, resp, e.wait()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_resets_on_success() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.allows("a"));
            l.failed("a");
        }
        assert!(!l.allows("a"));
        assert!(l.allows("b"));
        l.succeeded("a");
        assert!(l.allows("a"));
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_waits_per_key() {
        let b = Buckets::new(Rate {
            per_minute: 1,
            burst: 3,
        });
        for _ in 0..3 {
            assert!(b.take(&"a".to_owned()).is_ok());
        }
        let wait = b.take(&"a".to_owned()).expect_err("empty");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(b.take(&"b".to_owned()).is_ok());
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }
}
