//! Container probes as the kubelet runs them: the probe spec with Kubernetes defaults
//! (`spec`), one probe attempt per handler kind — httpGet, tcpSocket, exec, grpc — on the
//! shared tokio runtime with no thread or process per HTTP/TCP/gRPC probe (`run`), and the
//! per-container worker state machine that turns attempts into a liveness / readiness /
//! startup result with thresholds and initial delay (`worker`).

pub mod grpc;
pub mod http;
pub mod run;
pub mod spec;
pub mod worker;

pub use run::{ExecFn, Outcome, run_once};
pub use spec::{Handler, ProbeSpec};
pub use worker::{Kind, ProbeResult, Worker};
