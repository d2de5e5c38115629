//! nodelet: a node agent that runs static pods the way a kubelet does — the engine. Kubernetes
//! object rules are `nodelet-objects`, the local API's server and client `nodelet-api`, the
//! shim's protocol `nodelet-shim-protocol`; this crate does the node's work.
//!
//! Library layout (one job per module):
//! - [`config`]: the agent's configuration (file + flags).
//! - [`source`]: the static pod directory watcher publishing desired-pod snapshots.
//! - [`changes`]: what changed between two snapshots (start, stop, replace, errors).
//! - [`sandbox`]: the pause sandbox bundle, netns pin, managed hosts/resolv.conf.
//! - [`cni`]: the CNI client (ADD/DEL by the standard contract, result cache); knows nothing
//!   of sandboxes or pods beyond a [`cni::PodNetwork`].
//! - [`disk`]: atomic file writes and safe path components (a leaf every writer uses).
//! - [`podspec`]: one container of a pod → its OCI runtime spec (env, volumes, security,
//!   resources), plus the pod's volume set-up and cgroup resources.
//! - [`probe`]: liveness/readiness/startup probes and their worker state machine.
//! - [`backoff`]: CrashLoopBackOff with the kubelet's semantics.
//! - [`logs`]: container log files per instance, pruning old instances, reading and following.
//! - [`node_api`]: this node for the local API (`nodelet_api::NodeState`): pods and events from
//!   the pod manager, container logs, pod metrics ([`top`]) and exec targets ([`exec_target`]).
//! - [`node_ip`]: the node's IP (pods' hostIP).
//! - [`node_config`]: the node's labels and reserved resources (allocatable).
//! - [`admission`]: whether a new pod fits the node (the kubelet's admission predicates).
//! - [`apparmor`]: the host's AppArmor (enabled?, loaded profiles, nodelet's default profile).
//! - [`memory`]: keeping the agent's heap small (malloc arenas, trimming after bursts).
//! - [`shutdown`]: graceful node shutdown: decided (priority groups, grace periods, logind's
//!   inhibit delay) and made real over systemd-logind (`shutdown::logind`).
//! - [`workloads`]: the Job, CronJob, Deployment, ReplicaSet and DaemonSet controllers’
//!   engine side: their files, the controller loop, garbage collection.
//! - [`pods`]: the pod manager (sandbox, init and app containers, restarts, status, crash-safe
//!   state and adoption).

pub mod admission;
pub mod apparmor;
pub mod backoff;
pub mod changes;
pub mod cni;
pub mod config;
pub mod disk;
pub mod eviction;
pub mod exec_target;
pub mod logs;
pub mod memory;
pub mod node_api;
pub mod node_config;
pub mod node_ip;
pub mod pods;
pub mod podspec;
pub mod probe;
pub mod sandbox;
pub mod shutdown;
pub mod source;
pub mod top;
pub mod workloads;
