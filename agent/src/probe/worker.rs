//! One probe of one container over time, with the kubelet's rules (prober `worker.doProbe`):
//! nothing runs before `initialDelaySeconds` after the container started; the result flips
//! only after `successThreshold` consecutive successes or `failureThreshold` consecutive
//! failures; initial results are Success for liveness, Failure for readiness and Unknown for
//! startup; after a liveness/startup failure the worker holds until the container restarts.

use std::time::{Duration, Instant};

use super::run::Outcome;
use super::spec::ProbeSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub kind: Kind,
    pub spec: ProbeSpec,
    result: ProbeResult,
    last: Option<bool>,
    run: u32,
    on_hold: bool,
}

impl Worker {
    pub fn new(kind: Kind, spec: ProbeSpec) -> Worker {
        let result = match kind {
            Kind::Liveness => ProbeResult::Success,
            Kind::Readiness => ProbeResult::Failure,
            Kind::Startup => ProbeResult::Unknown,
        };
        Worker {
            kind,
            spec,
            result,
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    pub fn result(&self) -> ProbeResult {
        self.result
    }

    /// Whether an attempt may run now for a container that started at `started`.
    pub fn due(&self, started: Instant, now: Instant) -> bool {
        !self.on_hold && now >= started + self.spec.initial_delay
    }

    /// Held after a liveness/startup failure until the container is replaced: no more attempts.
    pub fn on_hold(&self) -> bool {
        self.on_hold
    }

    /// How long after the container's start the first attempt waits.
    pub fn initial_delay(&self) -> Duration {
        self.spec.initial_delay
    }

    /// The period between attempts.
    pub fn period(&self) -> Duration {
        self.spec.period
    }

    /// Record one attempt; returns the new overall result when it changed.
    pub fn record(&mut self, outcome: &Outcome) -> Option<ProbeResult> {
        if self.on_hold {
            return None;
        }
        let ok = *outcome == Outcome::Success;
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        if (!ok && self.run < self.spec.failure_threshold)
            || (ok && self.run < self.spec.success_threshold)
        {
            return None;
        }
        let new = if ok {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        if !ok && matches!(self.kind, Kind::Liveness | Kind::Startup) {
            // The container gets restarted; probe again only once the new one runs.
            self.on_hold = true;
            self.run = 0;
        }
        if new == self.result {
            return None;
        }
        self.result = new;
        Some(new)
    }

    /// The container was restarted: start over as a new worker would.
    pub fn reset(&mut self) {
        *self = Worker::new(self.kind, self.spec.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::spec::Handler;

    fn spec(success: u32, failure: u32, delay: u64) -> ProbeSpec {
        ProbeSpec {
            handler: Handler::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            initial_delay: Duration::from_secs(delay),
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
            termination_grace: None,
        }
    }

    fn fail() -> Outcome {
        Outcome::Failure("x".into())
    }

    #[test]
    fn readiness_thresholds() {
        let mut w = Worker::new(Kind::Readiness, spec(2, 3, 0));
        assert_eq!(w.result(), ProbeResult::Failure);
        assert_eq!(w.record(&Outcome::Success), None, "1 of 2 successes");
        assert_eq!(w.record(&Outcome::Success), Some(ProbeResult::Success));
        assert_eq!(w.record(&fail()), None);
        assert_eq!(
            w.record(&Outcome::Success),
            None,
            "a success resets the failure run"
        );
        assert_eq!(w.record(&fail()), None);
        assert_eq!(w.record(&fail()), None);
        assert_eq!(w.record(&fail()), Some(ProbeResult::Failure));
        assert_eq!(w.record(&fail()), None, "already failing: no change");
    }

    #[test]
    fn liveness_fails_after_threshold_then_holds_until_reset() {
        let mut w = Worker::new(Kind::Liveness, spec(1, 3, 5));
        let t0 = Instant::now();
        assert!(!w.due(t0, t0 + Duration::from_secs(4)), "initial delay");
        assert!(w.due(t0, t0 + Duration::from_secs(5)));
        assert_eq!(w.result(), ProbeResult::Success);
        assert_eq!(w.record(&fail()), None);
        assert_eq!(w.record(&fail()), None);
        assert_eq!(w.record(&fail()), Some(ProbeResult::Failure));
        assert!(
            !w.due(t0, t0 + Duration::from_secs(60)),
            "on hold until the container restarts"
        );
        w.reset();
        assert_eq!(w.result(), ProbeResult::Success);
        assert!(w.due(t0, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn startup_unknown_until_success() {
        let mut w = Worker::new(Kind::Startup, spec(1, 30, 0));
        assert_eq!(w.result(), ProbeResult::Unknown);
        assert_eq!(w.record(&fail()), None);
        assert_eq!(w.record(&Outcome::Success), Some(ProbeResult::Success));
    }
}
