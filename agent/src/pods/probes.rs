//! Startup, liveness and readiness probes of a pod's running app containers, driven from the
//! pod's sync loop with [`crate::probe`]'s workers: until a startup probe succeeds only it
//! runs; a liveness or startup failure kills the container with its grace period (SIGTERM,
//! then SIGKILL) so that the restart policy takes over; readiness sets the container's
//! `ready`. Exec probes run through the pod's shim with the container's own process settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use nodelet_objects::events::EventReason;
use nodelet_shim_protocol::protocol::{Request, Response};

use crate::probe::{self, ExecFn, Kind, Outcome, ProbeResult, ProbeSpec};

use super::shim;

struct One {
    w: probe::Worker,
    next: Instant,
}

/// The probes of one container instance.
pub struct Probes {
    /// The instance they belong to.
    pub id: String,
    started: Instant,
    startup: Option<One>,
    liveness: Option<One>,
    readiness: Option<One>,
    exec: Arc<ExecFn>,
}

/// What one round of probing decided.
#[derive(Debug, Default)]
pub struct Round {
    /// Events: (type, reason, message).
    pub events: Vec<(EventReason, String)>,
    /// Kill the container (liveness/startup failed).
    pub kill: bool,
    /// The failed probe's own terminationGracePeriodSeconds, which overrides the pod's.
    pub kill_grace: Option<Duration>,
    /// Each probe run: kubelet probe type (`Liveness`, `Readiness`, `Startup`), whether it
    /// passed, how long it took (for the metrics).
    pub runs: Vec<(&'static str, bool, Duration)>,
}

pub(super) fn exec_fn(sock: PathBuf, id: String, bundle: &Path) -> Arc<ExecFn> {
    let base = oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .ok()
        .and_then(|s| s.process().clone())
        .unwrap_or_default();
    Arc::new(move |cmd: Vec<String>, timeout: Duration| {
        let (sock, id) = (sock.clone(), id.clone());
        let mut p = base.clone();
        p.set_args(Some(cmd));
        p.set_terminal(Some(false));
        Box::pin(async move {
            let process = match serde_json::to_value(&p) {
                Ok(v) => v,
                Err(e) => return Outcome::Failure(format!("exec process: {e}")),
            };
            let req = Request::Exec {
                id,
                process,
                timeout_ms: timeout.as_millis() as u64,
            };
            match shim::call(&sock, req).await {
                Ok(Response::Exec(r)) if r.timed_out => {
                    Outcome::Failure(format!("command timed out after {timeout:?}"))
                }
                Ok(Response::Exec(r)) if r.exit_code == 0 => Outcome::Success,
                Ok(Response::Exec(r)) => Outcome::Failure(
                    format!(
                        "command exited with {}: {}{}",
                        r.exit_code, r.stdout, r.stderr
                    )
                    .trim()
                    .to_string(),
                ),
                Ok(other) => Outcome::Failure(format!("unexpected shim answer {other:?}")),
                Err(e) => Outcome::Failure(e.to_string()),
            }
        })
    })
}

impl Probes {
    /// The probes of container `c` (`field` is `spec.containers[i]`); errors name the probe.
    pub fn new(
        c: &Container,
        field: &str,
        pod_ip: &str,
        id: &str,
        sock: &Path,
        bundle: &Path,
    ) -> Result<Probes, String> {
        let now = Instant::now();
        let one = |p: &Option<Probe>, kind: Kind, name: &str| -> Result<Option<One>, String> {
            p.as_ref()
                .map(|p| {
                    ProbeSpec::from_k8s(p, c, pod_ip, &format!("{field}.{name}")).map(|spec| One {
                        w: probe::Worker::new(kind, spec),
                        next: now,
                    })
                })
                .transpose()
        };
        Ok(Probes {
            id: id.to_string(),
            started: now,
            startup: one(&c.startup_probe, Kind::Startup, "startupProbe")?,
            liveness: one(&c.liveness_probe, Kind::Liveness, "livenessProbe")?,
            readiness: one(&c.readiness_probe, Kind::Readiness, "readinessProbe")?,
            exec: exec_fn(sock.to_path_buf(), id.to_string(), bundle),
        })
    }

    /// The startup probe passed (or there is none).
    pub fn started(&self) -> bool {
        self.startup
            .as_ref()
            .is_none_or(|s| s.w.result() == ProbeResult::Success)
    }

    /// Started and the readiness probe passes (or there is none).
    pub fn ready(&self) -> bool {
        self.started()
            && self
                .readiness
                .as_ref()
                .is_none_or(|r| r.w.result() == ProbeResult::Success)
    }

    /// When the next probe is due (`None`: none will run again for this instance).
    pub fn next_due(&self) -> Option<Instant> {
        let active: Vec<&One> = if self.started() {
            [self.liveness.as_ref(), self.readiness.as_ref()]
                .into_iter()
                .flatten()
                .collect()
        } else {
            self.startup.iter().collect()
        };
        active
            .into_iter()
            .filter(|one| !one.w.on_hold())
            .map(|one| one.next.max(self.started + one.w.initial_delay()))
            .min()
    }

    /// Runs the probes that are due for container `name`.
    pub async fn round(&mut self, name: &str) -> Round {
        let mut out = Round::default();
        let now = Instant::now();
        let started = self.started;
        let exec = self.exec.clone();
        let startup_done = self.started();
        let slots: Vec<&mut One> = if startup_done {
            [self.liveness.as_mut(), self.readiness.as_mut()]
                .into_iter()
                .flatten()
                .collect()
        } else {
            self.startup.as_mut().into_iter().collect()
        };
        for one in slots {
            if !one.w.due(started, now) || now < one.next {
                continue;
            }
            one.next = now + one.w.period();
            let t0 = Instant::now();
            let outcome =
                probe::run_once(&one.w.spec.handler, one.w.spec.timeout, Some(&*exec)).await;
            let probe_type = match one.w.kind {
                Kind::Liveness => "Liveness",
                Kind::Readiness => "Readiness",
                Kind::Startup => "Startup",
            };
            out.runs.push((
                probe_type,
                matches!(outcome, Outcome::Success),
                t0.elapsed(),
            ));
            if let Outcome::Failure(msg) = &outcome {
                out.events.push((
                    EventReason::Unhealthy,
                    format!("{} probe failed: {msg}", one.w.kind.as_str()),
                ));
            }
            if one.w.record(&outcome) == Some(ProbeResult::Failure)
                && matches!(one.w.kind, Kind::Liveness | Kind::Startup)
            {
                let what = if one.w.kind == Kind::Liveness {
                    "liveness"
                } else {
                    "startup"
                };
                out.events.push((
                    EventReason::Killing,
                    format!("Container {name} failed {what} probe, will be restarted"),
                ));
                out.kill = true;
                out.kill_grace = one
                    .w
                    .spec
                    .termination_grace
                    .map(|s| Duration::from_secs(s.max(0) as u64));
            }
        }
        out
    }
}

/// Kills container `id`: its stop signal (`signal`, SIGTERM unless the image or the
/// container names another) now, SIGKILL after `grace` if it still runs (in the background;
/// the sync loop sees the exit).
pub fn kill_with_grace(sock: PathBuf, id: String, grace: Duration, signal: i32) {
    tokio::spawn(async move {
        let _ = shim::call(
            &sock,
            Request::Kill {
                id: id.clone(),
                signal,
                all: false,
            },
        )
        .await;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            match shim::call(&sock, Request::State { id: id.clone() }).await {
                Ok(Response::Container(i)) if i.exit.is_none() => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = shim::call(
            &sock,
            Request::Kill {
                id,
                signal: libc::SIGKILL,
                all: true,
            },
        )
        .await;
    });
}
