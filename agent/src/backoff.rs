//! CrashLoopBackOff as the kubelet computes it (`flowcontrol.Backoff` keyed per container):
//! a container that exits is restarted at once the first time; after that each restart waits
//! `initial` (10 s), doubling up to `max` (300 s), counted from the container's finish time.
//! A container that ran cleanly for more than `reset` (the kubelet's 2 × max = 10 minutes)
//! since the last failure starts again from no back-off.
//!
//! A container's [`Entry`] is also kept in its pod's `state.json` (`ContainerSlot::backoff`)
//! and [`Backoff::restore`]d when a restarted agent adopts the pod, so restarting nodelet
//! never cuts a back-off short.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

/// One container's back-off: the current period and when it last advanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub delay: Duration,
    pub last_update: Timestamp,
}

/// Back-off state for every container of the node, keyed by a stable container key
/// (pod UID + container name).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    reset: Duration,
    entries: HashMap<String, Entry>,
}

/// What to do about a container that exited at `finished_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart now.
    RestartNow,
    /// Still backing off: restart at `until`; `delay` is the current back-off period
    /// (shown as "back-off 20s restarting failed container=...").
    Wait { until: Timestamp, delay: Duration },
}

impl Backoff {
    /// `reset`: clean running time after which the back-off starts over.
    pub fn new(initial: Duration, max: Duration, reset: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            reset,
            entries: HashMap::new(),
        }
    }

    fn expired(&self, event: Timestamp, e: &Entry) -> bool {
        let since = event.duration_since(e.last_update);
        since.unsigned_abs() > self.reset && since.is_positive()
    }

    /// Ask at `now` about a container that finished at `finished_at`. When the answer is
    /// `RestartNow` the back-off advances (the restart is committed).
    pub fn decide(&mut self, key: &str, finished_at: Timestamp, now: Timestamp) -> Decision {
        let d = self.peek(key, finished_at, now);
        if d == Decision::RestartNow {
            self.advance(key, finished_at);
        }
        d
    }

    /// What [`decide`](Self::decide) would answer, without committing a restart (for the
    /// pod plan, which decides; the worker commits when it starts the container).
    pub fn peek(&self, key: &str, finished_at: Timestamp, now: Timestamp) -> Decision {
        if let Some(e) = self.entries.get(key)
            && !self.expired(finished_at, e)
        {
            let until = finished_at + e.delay;
            if now < until {
                return Decision::Wait {
                    until,
                    delay: e.delay,
                };
            }
        }
        Decision::RestartNow
    }

    fn advance(&mut self, key: &str, event: Timestamp) {
        let delay = match self.entries.get(key) {
            Some(e) if !self.expired(event, e) => (e.delay * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: event,
            },
        );
    }

    /// The container's current back-off, if it has one (to be persisted).
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).copied()
    }

    /// Restores a persisted back-off (a restarted agent adopting a pod); one this agent
    /// already has is newer and kept.
    pub fn restore(&mut self, key: &str, e: Entry) {
        self.entries.entry(key.to_string()).or_insert(Entry {
            delay: e.delay.min(self.max),
            ..e
        });
    }

    /// Forget a container (its pod was removed).
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forget every key with this prefix (all containers of a pod).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }
}

/// The stable back-off key of a container.
pub fn key(pod_uid: &str, container: &str) -> String {
    format!("{pod_uid}/{container}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_back_off_still_waits() {
        let new = || {
            Backoff::new(
                Duration::from_secs(10),
                Duration::from_secs(300),
                Duration::from_secs(600),
            )
        };
        let k = key("uid", "app");
        let mut b = new();
        assert_eq!(b.decide(&k, t(0), t(0)), Decision::RestartNow);
        assert_eq!(
            b.decide(&k, t(1), t(1)),
            Decision::Wait {
                until: t(11),
                delay: Duration::from_secs(10)
            }
        );
        assert_eq!(b.decide(&k, t(1), t(11)), Decision::RestartNow);
        let saved = b.entry(&k).unwrap();
        // A new agent: without the saved entry it would restart at once.
        let mut fresh = new();
        fresh.restore(&k, saved);
        assert_eq!(
            fresh.decide(&k, t(12), t(12)),
            Decision::Wait {
                until: t(32),
                delay: Duration::from_secs(20)
            }
        );
        assert_eq!(new().decide(&k, t(12), t(12)), Decision::RestartNow);
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn first_restart_is_immediate_then_doubles_to_the_cap() {
        let mut b = Backoff::new(
            Duration::from_secs(10),
            Duration::from_secs(300),
            Duration::from_secs(600),
        );
        let k = key("uid", "app");
        // crash 1 at t=0: restart now
        assert_eq!(b.decide(&k, t(0), t(0)), Decision::RestartNow);
        // crash 2 at t=1: wait 10s from finish
        let mut now = 1;
        let mut expected = vec![10, 20, 40, 80, 160, 300, 300];
        let mut seen = vec![];
        while !expected.is_empty() {
            let finished = now;
            match b.decide(&k, t(finished), t(now)) {
                Decision::Wait { until, delay } => {
                    seen.push(delay.as_secs());
                    assert_eq!(until, t(finished) + delay);
                    assert_eq!(
                        b.decide(&k, t(finished), t(now) + delay - Duration::from_secs(1)),
                        Decision::Wait { until, delay }
                    );
                    assert_eq!(b.decide(&k, t(finished), until), Decision::RestartNow);
                    now = finished + delay.as_secs() as i64 + 1; // runs 1s, crashes again
                    expected.remove(0);
                }
                Decision::RestartNow => panic!("should back off at {now}"),
            }
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn ten_minutes_of_clean_running_resets() {
        let mut b = Backoff::new(
            Duration::from_secs(10),
            Duration::from_secs(300),
            Duration::from_secs(600),
        );
        let k = key("uid", "app");
        assert_eq!(b.decide(&k, t(0), t(0)), Decision::RestartNow);
        assert!(matches!(b.decide(&k, t(1), t(1)), Decision::Wait { .. }));
        assert_eq!(b.decide(&k, t(1), t(11)), Decision::RestartNow);
        // runs for 11 minutes, then crashes: restart at once, back-off starts over
        let late = 11 + 660;
        assert_eq!(b.decide(&k, t(late), t(late)), Decision::RestartNow);
        assert_eq!(
            b.decide(&k, t(late + 1), t(late + 1)),
            Decision::Wait {
                until: t(late + 11),
                delay: Duration::from_secs(10)
            }
        );
        b.forget_prefix("uid/");
        assert_eq!(b.decide(&k, t(late + 2), t(late + 2)), Decision::RestartNow);
    }

    #[test]
    fn a_configured_reset_is_honoured() {
        let mut b = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(4),
            Duration::from_secs(30),
        );
        let k = key("uid", "app");
        assert_eq!(b.decide(&k, t(0), t(0)), Decision::RestartNow);
        assert_eq!(b.decide(&k, t(1), t(2)), Decision::RestartNow);
        // 20 s of running is more than 2 × max but less than reset: still backing off (2 s).
        assert_eq!(
            b.decide(&k, t(22), t(22)),
            Decision::Wait {
                until: t(24),
                delay: Duration::from_secs(2)
            }
        );
        assert_eq!(b.decide(&k, t(22), t(24)), Decision::RestartNow);
        // 31 s later: forgotten.
        assert_eq!(b.decide(&k, t(55), t(55)), Decision::RestartNow);
    }
}
