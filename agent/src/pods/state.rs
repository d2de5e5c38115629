//! A pod's durable record, `<rootDir>/pods/<uid>/state.json`, written atomically (temp file,
//! fsync, rename): the static pod it runs, where its shim and sandbox are, and every
//! container's restart count, current runtime id and last termination. A restarted agent
//! rebuilds its view of the pod from this file plus the shim's answers; a pod whose
//! `terminating` marker exists was being torn down and is not adopted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::sandbox::paths;
use nodelet_objects::manifest::StaticPod;
use nodelet_objects::status;

use super::error::Error;

/// How a container ended (the serialisable form of [`status::Terminated`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: Option<String>,
}

impl Ended {
    pub fn to_status(&self) -> status::Terminated {
        status::Terminated {
            exit_code: self.exit_code,
            signal: self.signal,
            reason: self.reason.clone(),
            message: self.message.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            container_id: self.container_id.clone(),
        }
    }
}

/// One init or app container of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSlot {
    pub name: String,
    pub image: String,
    /// The image ID (config digest) once pulled.
    #[serde(default)]
    pub image_id: String,
    /// Runtime id of the current instance (created in the shim), if any.
    pub id: Option<String>,
    /// How many times the container was restarted; also the number of its next instance.
    pub restart_count: i32,
    /// When the current instance started running.
    pub started_at: Option<Timestamp>,
    /// The current instance ended (and has not been replaced yet).
    pub ended: Option<Ended>,
    /// The previous instance's termination (`lastState`).
    pub last: Option<Ended>,
    /// Why it is waiting (ContainerCreating, CrashLoopBackOff, ErrImagePull, ...).
    pub waiting: Option<(String, Option<String>)>,
    /// Readiness of the running instance (`None`: no readiness or startup probe).
    #[serde(default)]
    pub ready: Option<bool>,
    /// Whether its startup probe passed (`None`: no startup probe).
    #[serde(default)]
    pub probe_started: Option<bool>,
    /// Its CrashLoopBackOff as of its last restart, restored by a restarted agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<crate::backoff::Entry>,
}

impl ContainerSlot {
    pub fn new(name: &str, image: &str) -> ContainerSlot {
        ContainerSlot {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            id: None,
            restart_count: 0,
            started_at: None,
            ended: None,
            last: None,
            waiting: Some(("ContainerCreating".to_string(), None)),
            ready: None,
            probe_started: None,
            backoff: None,
        }
    }

    /// The status record of this container.
    pub fn record(&self) -> status::ContainerRecord {
        let state = if let Some(e) = &self.ended {
            status::State::Terminated(e.to_status())
        } else if let (Some(_), Some(t), None) = (&self.id, self.started_at, &self.waiting) {
            status::State::Running { started_at: t }
        } else {
            let (reason, message) = self
                .waiting
                .clone()
                .unwrap_or_else(|| ("ContainerCreating".to_string(), None));
            status::State::Waiting { reason, message }
        };
        let running = matches!(state, status::State::Running { .. });
        status::ContainerRecord {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone(),
            // Between instances the kubelet shows the last one's ID.
            container_id: self
                .id
                .as_ref()
                .map(|id| format!("nodelet://{id}"))
                .or_else(|| self.last.as_ref().and_then(|l| l.container_id.clone())),
            state,
            last_state: self.last.as_ref().map(Ended::to_status),
            restart_count: self.restart_count,
            ready: running && self.ready.unwrap_or(true),
            started: running && self.probe_started.unwrap_or(true),
        }
    }
}

/// Everything about one pod that must survive an agent restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodState {
    /// Shared with the static pod source's snapshot (serialized as the pod itself).
    pub pod: Arc<StaticPod>,
    /// The sandbox (pause) container's runtime id.
    pub sandbox_id: String,
    /// The pod cgroup (OCI cgroupsPath syntax: relative = below the agent's and shim's own).
    pub cgroup_parent: String,
    /// The shim's directory (socket `shim.sock`, exit records).
    pub shim_dir: PathBuf,
    pub shim_pid: Option<i32>,
    pub pause_pid: Option<i32>,
    pub pod_ip: Option<String>,
    /// The sandbox and network are set up.
    pub sandbox_ready: bool,
    pub start_time: Option<Timestamp>,
    pub init: Vec<ContainerSlot>,
    pub containers: Vec<ContainerSlot>,
    /// A fatal pod-level reason (failed init container with restartPolicy Never).
    pub failed: Option<(String, String)>,
    /// Deleted through the API while finalizers keep its manifest: the containers were
    /// stopped and none starts again; the phase is terminal (Succeeded if every app
    /// container succeeded, else Failed), as the kubelet makes a deleted pod's.
    #[serde(default)]
    pub deleted: bool,
    /// The pod is terminal (Succeeded or Failed) and its sandbox was released as the kubelet
    /// kills a terminal pod: pause, shim, network (the IP goes back to the pool), container
    /// instances and cgroup are gone; the state, status, logs and volumes stay until the pod
    /// is deleted.
    #[serde(default)]
    pub released: bool,
}

/// `<rootDir>/pods/<uid>/state.json`.
pub fn path(root_dir: &Path, uid: &str) -> PathBuf {
    paths::pod_dir(root_dir, uid).join("state.json")
}

/// `<rootDir>/pods/<uid>/terminating`: present once the pod's teardown began. A restarted
/// agent finishes that teardown instead of adopting the pod.
pub fn terminating_marker(root_dir: &Path, uid: &str) -> PathBuf {
    paths::pod_dir(root_dir, uid).join("terminating")
}

impl PodState {
    pub fn save(&self, root_dir: &Path) -> Result<(), Error> {
        let p = path(root_dir, self.pod.uid());
        let data = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(format!("encode {}", p.display()), e))?;
        crate::disk::write_atomic(&p, &data, 0o600)
            .map_err(|e| Error::new(format!("save {}", p.display()), e))
    }

    pub fn load(root_dir: &Path, uid: &str) -> Result<PodState, Error> {
        let p = path(root_dir, uid);
        let data = std::fs::read(&p).map_err(|e| Error::new(format!("read {}", p.display()), e))?;
        nodelet_objects::decode::from_slice(&data)
            .map_err(|e| Error::new(format!("parse {}", p.display()), e))
    }

    pub fn shim_socket(&self) -> PathBuf {
        self.shim_dir.join("shim.sock")
    }

    pub fn slots(&self) -> impl Iterator<Item = &ContainerSlot> {
        self.init.iter().chain(self.containers.iter())
    }

    /// Hands the containers' persisted back-offs to `b` (an adopted pod).
    pub fn restore_backoff(&self, b: &mut crate::backoff::Backoff) {
        for s in self.slots() {
            if let Some(e) = s.backoff {
                b.restore(&crate::backoff::key(self.pod.uid(), &s.name), e);
            }
        }
    }
}

/// The pod's termination grace period.
pub fn grace_period(st: &PodState) -> Duration {
    let s = st
        .pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    Duration::from_secs(s.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// state.json stays what older agents wrote and read: the shared pod is serialized as
    /// the pod itself.
    #[test]
    fn the_shared_pod_is_written_inline() {
        let pod: StaticPod = serde_json::from_value(serde_json::json!({
            "pod": {"metadata": {"name": "p-node", "namespace": "default", "uid": "u1"}},
            "manifest": "/etc/kubernetes/manifests/p.yaml",
            "document": 0
        }))
        .unwrap();
        let st = PodState {
            pod: Arc::new(pod.clone()),
            sandbox_id: "u1-pause".into(),
            cgroup_parent: "podu1".into(),
            shim_dir: "/run/nodelet/pods/u1/shim".into(),
            shim_pid: Some(7),
            pause_pid: None,
            pod_ip: None,
            sandbox_ready: true,
            start_time: None,
            init: vec![],
            containers: vec![ContainerSlot::new("app", "busybox")],
            failed: None,
            deleted: false,
            released: false,
        };
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["pod"], serde_json::to_value(&pod).unwrap());
        let back: PodState = serde_json::from_value(json).unwrap();
        assert_eq!(*back.pod, pod);
    }

    #[test]
    fn slot_states() {
        let mut s = ContainerSlot::new("app", "busybox");
        assert!(
            matches!(s.record().state, status::State::Waiting { ref reason, .. } if reason == "ContainerCreating")
        );
        s.id = Some("x-app-0".into());
        s.started_at = Some(Timestamp::UNIX_EPOCH);
        s.waiting = None;
        let r = s.record();
        assert!(matches!(r.state, status::State::Running { .. }));
        assert!(r.ready);
        s.ended = Some(Ended {
            exit_code: 1,
            signal: None,
            reason: "Error".into(),
            message: None,
            started_at: None,
            finished_at: Timestamp::UNIX_EPOCH,
            container_id: None,
        });
        assert!(matches!(s.record().state, status::State::Terminated(ref t) if t.exit_code == 1));
    }
}
