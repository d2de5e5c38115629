//! A pod's Kubernetes status computed from what the node knows about its containers: container
//! statuses (state, lastState, restartCount, ready, started), the pod phase with the kubelet's
//! rules (`getPhase`), the conditions PodReadyToStartContainers / Initialized / Ready /
//! ContainersReady / PodScheduled (the kubelet's order) with stable transition times, and the STATUS column text `kubectl get pods` prints.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState as KState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::restart::{RestartPolicy, is_sidecar_named, pod_policy};

/// One container's current state as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
    },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: Option<String>,
}

/// The kubelet's terminated reason: OOMKilled, Completed (exit 0) or Error.
pub fn terminated_reason(exit_code: i32, oom_killed: bool) -> &'static str {
    if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
    pub state: State,
    pub last_state: Option<Terminated>,
    pub restart_count: i32,
    pub ready: bool,
    /// Started (startup probe passed, or no startup probe and running).
    pub started: bool,
}

impl ContainerRecord {
    /// A container not created yet.
    pub fn new(name: &str, image: &str, reason: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            container_id: None,
            state: State::Waiting {
                reason: reason.to_string(),
                message: None,
            },
            last_state: None,
            restart_count: 0,
            ready: false,
            started: false,
        }
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }
}

/// Everything the status is computed from.
#[derive(Debug, Clone, Default)]
pub struct PodRuntime {
    pub init: Vec<ContainerRecord>,
    pub containers: Vec<ContainerRecord>,
    pub pod_ip: Option<String>,
    pub host_ip: Option<String>,
    pub start_time: Option<Timestamp>,
    /// The sandbox exists with its network set up (`PodReadyToStartContainers`).
    pub sandbox_ready: bool,
    /// A fatal pod-level reason (e.g. a failed init container with restartPolicy Never).
    pub reason: Option<String>,
    pub message: Option<String>,
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn k8s_terminated(t: &Terminated) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: t.exit_code,
        signal: t.signal,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: t.container_id.clone(),
    }
}

fn k8s_state(s: &State) -> KState {
    match s {
        State::Waiting { reason, message } => KState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: message.clone(),
            }),
            ..Default::default()
        },
        State::Running { started_at } => KState {
            running: Some(ContainerStateRunning {
                started_at: Some(time(*started_at)),
            }),
            ..Default::default()
        },
        State::Terminated(t) => KState {
            terminated: Some(k8s_terminated(t)),
            ..Default::default()
        },
    }
}

fn container_status(c: &ContainerRecord) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        container_id: c.container_id.clone(),
        state: Some(k8s_state(&c.state)),
        last_state: Some(
            c.last_state
                .as_ref()
                .map(|t| KState {
                    terminated: Some(k8s_terminated(t)),
                    ..Default::default()
                })
                .unwrap_or_default(),
        ),
        restart_count: c.restart_count,
        ready: c.ready,
        started: Some(c.started),
        ..Default::default()
    }
}

/// All init containers done: regular ones exited 0, sidecars started.
pub fn initialized(pod: &Pod, rt: &PodRuntime) -> bool {
    rt.init.iter().all(|c| {
        if is_sidecar_named(pod, &c.name) {
            c.started
        } else {
            c.succeeded()
        }
    })
}

/// The kubelet's pod phase.
pub fn phase(pod: &Pod, rt: &PodRuntime) -> &'static str {
    let policy = pod_policy(pod);
    if !initialized(pod, rt) {
        let failed = rt.init.iter().any(|c| {
            !is_sidecar_named(pod, &c.name)
                && matches!(&c.state, State::Terminated(t) if t.exit_code != 0)
        });
        return if failed && policy == RestartPolicy::Never {
            "Failed"
        } else {
            "Pending"
        };
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in &rt.containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            // Waiting after having run once: it is being restarted.
            State::Waiting { .. } if c.last_state.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        match policy {
            RestartPolicy::Always => "Running",
            RestartPolicy::OnFailure if stopped == succeeded => "Succeeded",
            RestartPolicy::OnFailure => "Running",
            RestartPolicy::Never if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
        }
    } else {
        "Pending"
    }
}

fn condition(
    previous: Option<&PodStatus>,
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let last = previous
        .and_then(|p| p.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone());
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        last_transition_time: Some(last.unwrap_or(time(now))),
        reason: reason.map(String::from),
        message,
        ..Default::default()
    }
}

/// `containers with <what> status: [a b]`, as the kubelet formats a Go string slice.
fn names_message(what: &str, names: &[&str]) -> String {
    format!("containers with {what} status: [{}]", names.join(" "))
}

/// The kubelet's `Initialized`: every init container done (sidecars started), or any app
/// container running or exited already (restarting sidecars do not undo it).
fn initialized_condition(
    pod: &Pod,
    rt: &PodRuntime,
    phase: &str,
) -> (bool, Option<&'static str>, Option<String>) {
    if phase == "Succeeded" {
        return (true, Some("PodCompleted"), None);
    }
    let app_started = rt
        .containers
        .iter()
        .any(|c| matches!(c.state, State::Running { .. } | State::Terminated(_)));
    if app_started {
        return (true, None, None);
    }
    let incomplete: Vec<&str> = rt
        .init
        .iter()
        .filter(|c| {
            if is_sidecar_named(pod, &c.name) {
                !c.started
            } else {
                !c.succeeded()
            }
        })
        .map(|c| c.name.as_str())
        .collect();
    if incomplete.is_empty() {
        (true, None, None)
    } else {
        (
            false,
            Some("ContainersNotInitialized"),
            Some(names_message("incomplete", &incomplete)),
        )
    }
}

/// The kubelet's `ContainersReady`: sidecars and app containers ready; `PodCompleted` /
/// `PodFailed` once the pod is terminal.
fn containers_ready_condition(
    pod: &Pod,
    rt: &PodRuntime,
    phase: &str,
) -> (bool, Option<&'static str>, Option<String>) {
    match phase {
        "Succeeded" => return (false, Some("PodCompleted"), None),
        "Failed" => return (false, Some("PodFailed"), None),
        _ => {}
    }
    let unready: Vec<&str> = rt
        .init
        .iter()
        .filter(|c| is_sidecar_named(pod, &c.name))
        .chain(rt.containers.iter())
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    if unready.is_empty() {
        (true, None, None)
    } else {
        (
            false,
            Some("ContainersNotReady"),
            Some(names_message("unready", &unready)),
        )
    }
}

/// The full v1 PodStatus. `previous` keeps condition transition times stable. Conditions are
/// the kubelet's, in its order: PodReadyToStartContainers, Initialized, Ready,
/// ContainersReady, PodScheduled.
pub fn pod_status(
    pod: &Pod,
    rt: &PodRuntime,
    previous: Option<&PodStatus>,
    now: Timestamp,
) -> PodStatus {
    let phase = phase(pod, rt);
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let (init_ok, init_reason, init_message) = initialized_condition(pod, rt, phase);
    let (ready, ready_reason, ready_message) = containers_ready_condition(pod, rt, phase);
    // Ready needs the containers and every readiness gate: a gate's condition is set through
    // the API by a controller, and nothing sets one here, so a gate keeps the pod unready.
    let gates: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.readiness_gates.iter().flatten())
        .map(|g| {
            format!(
                "corresponding condition of pod readiness gate {:?} does not exist.",
                g.condition_type
            )
        })
        .collect();
    let (pod_ready, pod_ready_reason, pod_ready_message) = if !ready || gates.is_empty() {
        (ready, ready_reason, ready_message.clone())
    } else {
        (
            false,
            Some("ReadinessGatesNotReady"),
            Some(gates.join(", ")),
        )
    };
    let conditions = vec![
        condition(
            previous,
            "PodReadyToStartContainers",
            rt.sandbox_ready && !terminal,
            None,
            None,
            now,
        ),
        condition(
            previous,
            "Initialized",
            init_ok,
            init_reason,
            init_message,
            now,
        ),
        condition(
            previous,
            "Ready",
            pod_ready,
            pod_ready_reason,
            pod_ready_message,
            now,
        ),
        condition(
            previous,
            "ContainersReady",
            ready,
            ready_reason,
            ready_message,
            now,
        ),
        condition(previous, "PodScheduled", true, None, None, now),
    ];
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: rt.host_ip.clone(),
        host_ips: rt
            .host_ip
            .as_ref()
            .map(|ip| vec![k8s_openapi::api::core::v1::HostIP { ip: ip.clone() }]),
        pod_ip: rt.pod_ip.clone(),
        pod_ips: rt.pod_ip.as_ref().map(|ip| vec![PodIP { ip: ip.clone() }]),
        start_time: rt.start_time.map(time),
        init_container_statuses: (!rt.init.is_empty())
            .then(|| rt.init.iter().map(container_status).collect()),
        container_statuses: Some(rt.containers.iter().map(container_status).collect()),
        reason: rt.reason.clone(),
        message: rt.message.clone(),
        qos_class: None,
        ..Default::default()
    }
}

/// What kubectl's pod printer counts: ready and total containers (app containers and
/// sidecars: a started, ready sidecar counts as ready), restarts and the last restart's time.
/// While the pod initializes, restarts are every init container's; once initialized, the
/// sidecars' and the app containers'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterCounts {
    pub ready: usize,
    pub total: usize,
    pub restarts: i32,
    pub last_restart: Option<Timestamp>,
}

pub fn printer_counts(pod: &Pod) -> PrinterCounts {
    let spec = pod.spec.as_ref();
    let sidecars = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|ics| ics.iter().filter(|c| crate::restart::is_sidecar(c)).count())
        .unwrap_or(0);
    let mut out = PrinterCounts {
        ready: 0,
        total: spec.map(|s| s.containers.len()).unwrap_or(0) + sidecars,
        restarts: 0,
        last_restart: None,
    };
    let Some(st) = pod.status.as_ref() else {
        return out;
    };
    let finished = |c: &ContainerStatus| {
        c.last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
            .map(|t| t.0)
    };
    let (mut sidecar_restarts, mut sidecar_last) = (0, None);
    let mut initializing = false;
    for c in st.init_container_statuses.iter().flatten() {
        out.restarts += c.restart_count;
        out.last_restart = out.last_restart.max(finished(c));
        let sidecar = is_sidecar_named(pod, &c.name);
        if sidecar {
            sidecar_restarts += c.restart_count;
            sidecar_last = sidecar_last.max(finished(c));
        }
        let state = c.state.as_ref();
        if state
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
        {
            continue;
        }
        if sidecar && c.started == Some(true) {
            if c.ready {
                out.ready += 1;
            }
            continue;
        }
        initializing = true;
        break;
    }
    let initialized = st
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        out.restarts = sidecar_restarts;
        out.last_restart = sidecar_last;
        for c in st.container_statuses.iter().flatten() {
            out.restarts += c.restart_count;
            out.last_restart = out.last_restart.max(finished(c));
            let state = c.state.as_ref();
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref().is_some_and(|r| !r.is_empty()));
            let terminated = state.and_then(|s| s.terminated.as_ref()).is_some();
            if !waiting
                && !terminated
                && c.ready
                && state.and_then(|s| s.running.as_ref()).is_some()
            {
                out.ready += 1;
            }
        }
    }
    out
}

/// READY column: ready / total containers, as kubectl counts them (sidecars included).
pub fn ready_column(pod: &Pod) -> String {
    let c = printer_counts(pod);
    format!("{}/{}", c.ready, c.total)
}

/// STATUS column, following kubectl's pod printer.
pub fn status_column(pod: &Pod) -> String {
    let Some(st) = pod.status.as_ref() else {
        return "Pending".into();
    };
    // An evicted pod shows `Evicted`, as kubectl showed it with kubelets that left the killed
    // containers' states alone; today's printer would let the killed containers' `Error`
    // hide why the pod failed.
    if st.phase.as_deref() == Some("Failed") && st.reason.as_deref() == Some("Evicted") {
        return "Evicted".into();
    }
    let mut reason = st
        .reason
        .clone()
        .unwrap_or_else(|| st.phase.clone().unwrap_or_else(|| "Pending".into()));
    let inits = st.init_container_statuses.as_deref().unwrap_or(&[]);
    let n_init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|v| v.len())
        .unwrap_or(0);
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        let state = c.state.as_ref();
        let term = state.and_then(|s| s.terminated.as_ref());
        let wait = state.and_then(|s| s.waiting.as_ref());
        if term.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if is_sidecar_named(pod, &c.name) && c.started == Some(true) {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = term {
            match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match t.signal.filter(|s| *s != 0) {
                    Some(s) => format!("Init:Signal:{s}"),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                },
            }
        } else if let Some(r) = wait
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{n_init}")
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in st.container_statuses.as_deref().unwrap_or(&[]).iter().rev() {
            let state = c.state.as_ref();
            if let Some(r) = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(s) => format!("Signal:{s}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if c.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            let ready = st
                .conditions
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let terminal = matches!(st.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".into();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn pod(policy: &str, inits: &[&str], apps: &[&str]) -> Pod {
        let c = |n: &&str| Container {
            name: n.to_string(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                init_containers: (!inits.is_empty()).then(|| inits.iter().map(c).collect()),
                containers: apps.iter().map(c).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running(name: &str, ready: bool) -> ContainerRecord {
        let mut c = ContainerRecord::new(name, "busybox", "");
        c.state = State::Running { started_at: ts(0) };
        c.ready = ready;
        c.started = true;
        c
    }

    fn exited(name: &str, code: i32, oom: bool) -> ContainerRecord {
        let mut c = ContainerRecord::new(name, "busybox", "");
        c.state = State::Terminated(Terminated {
            exit_code: code,
            signal: None,
            reason: terminated_reason(code, oom).into(),
            message: None,
            started_at: Some(ts(0)),
            finished_at: ts(5),
            container_id: None,
        });
        c
    }

    fn with_status(mut p: Pod, rt: &PodRuntime) -> Pod {
        p.status = Some(pod_status(&p, rt, None, ts(10)));
        p
    }

    #[test]
    fn phases_follow_the_kubelet() {
        let p = pod("Always", &[], &["a"]);
        let rt = PodRuntime {
            containers: vec![ContainerRecord::new("a", "busybox", "ContainerCreating")],
            ..Default::default()
        };
        assert_eq!(phase(&p, &rt), "Pending");
        assert_eq!(
            status_column(&with_status(p.clone(), &rt)),
            "ContainerCreating"
        );
        let rt = PodRuntime {
            containers: vec![running("a", true)],
            ..Default::default()
        };
        assert_eq!(phase(&p, &rt), "Running");
        let pw = with_status(p.clone(), &rt);
        assert_eq!(
            (status_column(&pw), ready_column(&pw)),
            ("Running".to_string(), "1/1".to_string())
        );
        // crashed and waiting to restart: still Running, STATUS CrashLoopBackOff
        let mut c = ContainerRecord::new("a", "busybox", "CrashLoopBackOff");
        c.last_state = Some(Terminated {
            exit_code: 1,
            signal: None,
            reason: "Error".into(),
            message: None,
            started_at: None,
            finished_at: ts(3),
            container_id: None,
        });
        c.restart_count = 3;
        let rt = PodRuntime {
            containers: vec![c],
            ..Default::default()
        };
        assert_eq!(phase(&p, &rt), "Running");
        assert_eq!(
            status_column(&with_status(p.clone(), &rt)),
            "CrashLoopBackOff"
        );

        let never = pod("Never", &[], &["a", "b"]);
        let rt = PodRuntime {
            containers: vec![exited("a", 0, false), exited("b", 0, false)],
            ..Default::default()
        };
        assert_eq!(phase(&never, &rt), "Succeeded");
        assert_eq!(status_column(&with_status(never.clone(), &rt)), "Completed");
        // kubectl walks containers last to first, so the first container's reason shows
        let rt = PodRuntime {
            containers: vec![exited("a", 137, true), exited("b", 0, false)],
            ..Default::default()
        };
        assert_eq!(phase(&never, &rt), "Failed");
        assert_eq!(status_column(&with_status(never.clone(), &rt)), "OOMKilled");
        let rt = PodRuntime {
            containers: vec![exited("a", 2, false), running("b", false)],
            ..Default::default()
        };
        assert_eq!(phase(&never, &rt), "Running");
        let onf = pod("OnFailure", &[], &["a"]);
        let rt = PodRuntime {
            containers: vec![exited("a", 1, false)],
            ..Default::default()
        };
        assert_eq!(phase(&onf, &rt), "Running");
    }

    #[test]
    fn init_containers_and_conditions() {
        let p = pod("Always", &["i1", "i2"], &["a"]);
        let rt = PodRuntime {
            init: vec![exited("i1", 0, false), running("i2", false)],
            containers: vec![ContainerRecord::new("a", "busybox", "PodInitializing")],
            ..Default::default()
        };
        assert_eq!(phase(&p, &rt), "Pending");
        let pw = with_status(p.clone(), &rt);
        assert_eq!(status_column(&pw), "Init:1/2");
        let conds = pw.status.as_ref().unwrap().conditions.clone().unwrap();
        let get = |t: &str| conds.iter().find(|c| c.type_ == t).unwrap().status.clone();
        assert_eq!(
            (get("PodScheduled"), get("Initialized"), get("Ready")),
            ("True".into(), "False".into(), "False".into())
        );

        let mut failing = ContainerRecord::new("i2", "busybox", "CrashLoopBackOff");
        failing.last_state = Some(Terminated {
            exit_code: 1,
            signal: None,
            reason: "Error".into(),
            message: None,
            started_at: None,
            finished_at: ts(1),
            container_id: None,
        });
        let rt2 = PodRuntime {
            init: vec![exited("i1", 0, false), failing],
            containers: rt.containers.clone(),
            ..Default::default()
        };
        assert_eq!(
            status_column(&with_status(p.clone(), &rt2)),
            "Init:CrashLoopBackOff"
        );
        let rt3 = PodRuntime {
            init: vec![exited("i1", 3, false)],
            containers: rt.containers.clone(),
            ..Default::default()
        };
        assert_eq!(status_column(&with_status(p.clone(), &rt3)), "Init:Error");
        let never = pod("Never", &["i1"], &["a"]);
        assert_eq!(phase(&never, &rt3), "Failed");

        // transition times are kept while a condition does not change
        let rt4 = PodRuntime {
            init: vec![exited("i1", 0, false), exited("i2", 0, false)],
            containers: vec![running("a", true)],
            sandbox_ready: true,
            ..Default::default()
        };
        let first = pod_status(&p, &rt4, None, ts(20));
        let again = pod_status(&p, &rt4, Some(&first), ts(99));
        assert_eq!(first.conditions, again.conditions);
        let conds = first.conditions.unwrap();
        assert!(conds.iter().all(|c| c.status == "True"));
        // In the kubelet's order.
        let types: Vec<&str> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        // No sandbox (not yet, or released once terminal): PodReadyToStartContainers False,
        // without a reason.
        let gone = pod_status(
            &p,
            &PodRuntime {
                sandbox_ready: false,
                ..rt4
            },
            None,
            ts(30),
        );
        let c = &gone.conditions.unwrap()[0];
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", None));
    }

    /// (type, status, reason, message) of each condition, in order.
    fn conds(st: &PodStatus) -> Vec<(String, String, String, String)> {
        st.conditions
            .iter()
            .flatten()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn c4(t: &str, s: &str, r: &str, m: &str) -> (String, String, String, String) {
        (t.into(), s.into(), r.into(), m.into())
    }

    #[test]
    fn conditions_are_the_kubelets() {
        // Init containers running: the kubelet's order, reasons and messages.
        let mut p = pod("Always", &["init-1"], &["a", "b"]);
        let rt = PodRuntime {
            init: vec![running("init-1", false)],
            containers: vec![
                ContainerRecord::new("a", "busybox", "PodInitializing"),
                ContainerRecord::new("b", "busybox", "PodInitializing"),
            ],
            sandbox_ready: true,
            ..Default::default()
        };
        assert_eq!(
            conds(&pod_status(&p, &rt, None, ts(1))),
            vec![
                c4("PodReadyToStartContainers", "True", "", ""),
                c4(
                    "Initialized",
                    "False",
                    "ContainersNotInitialized",
                    "containers with incomplete status: [init-1]"
                ),
                c4(
                    "Ready",
                    "False",
                    "ContainersNotReady",
                    "containers with unready status: [a b]"
                ),
                c4(
                    "ContainersReady",
                    "False",
                    "ContainersNotReady",
                    "containers with unready status: [a b]"
                ),
                c4("PodScheduled", "True", "", ""),
            ]
        );
        // A sidecar's readiness counts; a readiness gate nobody sets keeps the pod unready.
        let spec = p.spec.as_mut().unwrap();
        spec.init_containers.as_mut().unwrap()[0].restart_policy = Some("Always".into());
        spec.readiness_gates = Some(vec![k8s_openapi::api::core::v1::PodReadinessGate {
            condition_type: "www.example.com/feature-1".into(),
        }]);
        let rt = PodRuntime {
            init: vec![running("init-1", false)],
            containers: vec![running("a", true), running("b", true)],
            sandbox_ready: true,
            ..Default::default()
        };
        let got = conds(&pod_status(&p, &rt, None, ts(1)));
        assert_eq!(got[1], c4("Initialized", "True", "", ""));
        assert_eq!(
            got[3],
            c4(
                "ContainersReady",
                "False",
                "ContainersNotReady",
                "containers with unready status: [init-1]"
            )
        );
        let rt = PodRuntime {
            init: vec![running("init-1", true)],
            ..rt
        };
        let got = conds(&pod_status(&p, &rt, None, ts(1)));
        assert_eq!(
            got[2],
            c4(
                "Ready",
                "False",
                "ReadinessGatesNotReady",
                "corresponding condition of pod readiness gate \"www.example.com/feature-1\" does not exist."
            )
        );
        assert_eq!(got[3], c4("ContainersReady", "True", "", ""));
        // Terminal pods: PodCompleted / PodFailed, no sandbox to start containers in.
        let never = pod("Never", &[], &["a"]);
        let done = PodRuntime {
            containers: vec![exited("a", 0, false)],
            sandbox_ready: true,
            ..Default::default()
        };
        let got = conds(&pod_status(&never, &done, None, ts(1)));
        assert_eq!(got[0], c4("PodReadyToStartContainers", "False", "", ""));
        assert_eq!(got[1], c4("Initialized", "True", "PodCompleted", ""));
        assert_eq!(got[3], c4("ContainersReady", "False", "PodCompleted", ""));
        let failed = PodRuntime {
            containers: vec![exited("a", 1, false)],
            ..done
        };
        let got = conds(&pod_status(&never, &failed, None, ts(1)));
        assert_eq!(got[2], c4("Ready", "False", "PodFailed", ""));
    }

    #[test]
    fn printer_counts_sidecars_as_kubectl() {
        // docs' adapter.yaml: a sidecar and an app container, the sidecar restarted twice.
        let mut p = pod("Always", &["adapter"], &["main-app"]);
        p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].restart_policy =
            Some("Always".into());
        let mut sidecar = running("adapter", true);
        sidecar.restart_count = 2;
        sidecar.last_state = Some(Terminated {
            exit_code: 1,
            signal: None,
            reason: "Error".into(),
            message: None,
            started_at: Some(ts(0)),
            finished_at: ts(7),
            container_id: None,
        });
        let rt = PodRuntime {
            init: vec![sidecar],
            containers: vec![running("main-app", true)],
            sandbox_ready: true,
            ..Default::default()
        };
        let pw = with_status(p.clone(), &rt);
        assert_eq!(ready_column(&pw), "2/2");
        assert_eq!(
            printer_counts(&pw),
            PrinterCounts {
                ready: 2,
                total: 2,
                restarts: 2,
                last_restart: Some(ts(7)),
            }
        );
        assert_eq!(status_column(&pw), "Running");
        // The sidecar not started yet: initializing, 0/2.
        let rt = PodRuntime {
            init: vec![ContainerRecord::new(
                "adapter",
                "busybox",
                "ContainerCreating",
            )],
            containers: vec![ContainerRecord::new(
                "main-app",
                "busybox",
                "PodInitializing",
            )],
            ..Default::default()
        };
        let pw = with_status(p, &rt);
        assert_eq!(ready_column(&pw), "0/2");
        assert_eq!(status_column(&pw), "Init:ContainerCreating");
    }
}
