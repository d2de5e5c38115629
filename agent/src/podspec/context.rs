//! What the translation of a pod's containers takes besides the Pod object: the sandbox's
//! namespaces, the pod's managed files and node facts ([`PodContext`], the same for every
//! container), and the per-container inputs ([`ContainerInput`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nodelet_objects::config_sources::ConfigObjects;

use nodelet_images::manifest::RunConfig;

use super::container_ref::ContainerRef;
use super::resources::NodeResources;

/// Paths of the sandbox's namespaces (`/proc/<pause>/ns/net`, a pinned bind mount, ...).
/// `None` for a namespace the pod doesn't share from the host means "a new one".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// Joined only with `shareProcessNamespace: true`.
    pub pid: Option<PathBuf>,
}

/// The pod's managed files, bind-mounted into every container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodFiles {
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
    /// The pod's shared /dev/shm (a tmpfs the sandbox mounted); `None` = a private tmpfs.
    pub shm: Option<PathBuf>,
}

/// Everything about the pod that the translation needs besides the Pod object; the same for
/// all its containers.
#[derive(Clone, Debug, PartialEq)]
pub struct PodContext {
    pub namespaces: SandboxNamespaces,
    pub files: PodFiles,
    /// The pod's hostname (`HOSTNAME` env, as containerd sets it).
    pub hostname: String,
    /// `status.podIPs` (first is `status.podIP`).
    pub pod_ips: Vec<String>,
    /// `status.hostIPs` (first is `status.hostIP`).
    pub host_ips: Vec<String>,
    /// The pod's cgroup, as noderun takes `cgroupsPath` (relative = below the caller's).
    pub cgroup_parent: String,
    /// Node capacity, the default of unset limits in `resourceFieldRef` and the base of the
    /// Burstable OOM score.
    pub node: NodeResources,
    /// `pids.max` of every container (kubelet `podPidsLimit`); `None` = unlimited.
    pub pids_limit: Option<i64>,
    /// `<rootDir>/seccomp`, where `Localhost` seccomp profiles live.
    pub seccomp_root: PathBuf,
    /// Lowest `oomScoreAdj` to write (containerd's `restrict_oom_score_adj`): without
    /// CAP_SYS_RESOURCE a process cannot go below its own value. See
    /// [`super::resources::oom_score_adj_floor`].
    pub oom_score_adj_floor: Option<i32>,
    /// Keep containers out of swap (memory+swap = memory limit), as the kubelet does where
    /// [`super::resources::swap_controller_available`].
    pub no_swap: bool,
    /// The node's ConfigMaps and Secrets (env `valueFrom`, `envFrom`).
    pub config: Arc<ConfigObjects>,
    /// The host's AppArmor: whether profiles are enforced, nodelet's default profile.
    pub apparmor: crate::apparmor::Host,
}

/// The per-container inputs.
#[derive(Clone, Debug)]
pub struct ContainerInput<'a> {
    pub container: ContainerRef,
    /// The runtime's container ID (also the leaf of its cgroup).
    pub id: &'a str,
    /// The image's config (`None` = an image without one).
    pub image: Option<&'a RunConfig>,
    /// The container's root filesystem (absolute); users are looked up in its /etc/passwd.
    pub rootfs: &'a Path,
    /// Host file bind-mounted at `terminationMessagePath`.
    pub termination_log: Option<&'a Path>,
}
