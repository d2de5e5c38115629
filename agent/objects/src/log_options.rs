//! What `kubectl logs` asks of a container's log: which instance (`--previous[=N]`) and which
//! lines (`--tail`, `--since`, `--since-time`). The node reads the files (nodelet's `logs`).

use jiff::Timestamp;

/// Which instance of a container to read, as `kubectl logs` / `--previous[=N]` ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The running instance, or else the newest one that has logs.
    Current,
    /// The N-th most recent terminated instance (N ≥ 1; `--previous` is 1), as the kubelet's
    /// `lastState.terminated` is the first.
    Previous(u32),
}

/// What to read, as `kubectl logs` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only the last N lines (`--tail N`).
    pub tail: Option<usize>,
    /// Only lines at or after this time (`--since`, `--since-time`).
    pub since: Option<Timestamp>,
}
