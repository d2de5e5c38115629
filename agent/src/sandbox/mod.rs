//! The pod sandbox: the pause process that holds a pod's shared namespaces, the pin that keeps
//! its network namespace reachable after any crash, the pod network set up by CNI plugins, and
//! the pod's managed `/etc/hosts` and `/etc/resolv.conf`.
//!
//! The pod manager drives it in this order (the shim runs the bundle; nothing here forks into
//! a container):
//!
//! 1. [`bundle::write`] the pause bundle under `<rootDir>/pods/<uid>/sandbox/`;
//! 2. the shim `Create`s and `Start`s it; with the pause pid, [`netns::pin`] the network
//!    namespace at `<runDir>/netns/<uid>` and [`netns::loopback_up`] inside it;
//! 3. [`cni::Cni::add`] (skipped for hostNetwork pods) → the pod IP;
//! 4. [`dns::write_files`] the pod's hosts and resolv.conf; [`netns::container_namespaces`]
//!    tells the app containers which namespaces to join.
//!
//! Teardown: kill the pause, [`cni::Cni::del`] (works with the namespace gone), [`netns::unpin`],
//! [`bundle::remove`].

pub mod bundle;
pub mod cni;
pub mod dns;
pub mod error;
pub mod netns;
pub mod paths;

pub use error::Error;

/// Which of the host's namespaces a pod shares (`spec.hostNetwork`, `hostPID`, `hostIPC`) and
/// whether its containers share one pid namespace (`spec.shareProcessNamespace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceOptions {
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub share_process_namespace: bool,
}

impl NamespaceOptions {
    /// The options a Pod spec asks for.
    pub fn from_pod_spec(spec: &k8s_openapi::api::core::v1::PodSpec) -> NamespaceOptions {
        NamespaceOptions {
            host_network: spec.host_network.unwrap_or(false),
            host_pid: spec.host_pid.unwrap_or(false),
            host_ipc: spec.host_ipc.unwrap_or(false),
            share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        }
    }

    /// Whether the pod gets its own network (and so a CNI ADD/DEL and a netns pin).
    pub fn needs_network(&self) -> bool {
        !self.host_network
    }
}
