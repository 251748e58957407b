//! Rate limits kept in memory: failed logins per user name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
