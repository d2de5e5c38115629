//! nodelet: a node agent that runs static pods the way a kubelet does.
//!
//! Library layout (one job per module):
//! - [`config`]: the agent's configuration (file + flags).
//! - [`quantity`], [`duration`]: Kubernetes quantities and Go durations.
//! - [`field`], [`names`]: Kubernetes field errors and name rules.
//! - [`pod_defaults`], [`pod_validation`]: the API server's Pod defaulting and validation.
//! - [`manifest`]: one manifest file → its static pods (decode, default, validate, name, hash).
//! - [`source`]: the static pod directory watcher publishing desired-pod snapshots.
//! - [`changes`]: what changed between two snapshots (start, stop, replace, errors).
//! - [`sandbox`]: the pause sandbox bundle, netns pin, CNI ADD/DEL, managed hosts/resolv.conf.
//! - [`podspec`]: one container of a pod → its OCI runtime spec (env, volumes, security,
//!   resources), plus the pod's volume set-up and cgroup resources.
//! - [`probe`]: liveness/readiness/startup probes and their worker state machine.
//! - [`backoff`], [`status`]: CrashLoopBackOff and the pod's Kubernetes status.
//! - [`logs`]: container log files per instance, pruning old instances, reading and following.
//! - [`events`]: the node's aggregated Kubernetes events.
//! - [`api`]: the local HTTP API (routes, metrics, Status errors, label selectors) and its client.
//! - [`describe`]: `nodectl describe pod` text; [`pod_table`]: the `ps` table;
//!   [`pod_yaml`]: `-o yaml`.
//! - [`exec_target`]: where `nodectl exec` runs (container defaulting, running instance).
//! - [`top`]: container CPU/memory from cgroups as metrics.k8s.io PodMetrics, `top` table.
//! - [`watch`]: pod watch events for `?watch=true`.
//! - [`node_api`]: the API's view of the node over the pod manager.
//! - [`memory`]: keeping the agent's heap small (malloc arenas, trimming after bursts).
//! - [`pods`]: the pod manager (sandbox, init and app containers, restarts, status, crash-safe
//!   state and adoption).

pub mod api;
pub mod backoff;
pub mod changes;
pub mod config;
pub mod describe;
pub mod duration;
pub mod events;
pub mod exec_target;
pub mod field;
pub mod logs;
pub mod manifest;
pub mod memory;
pub mod names;
pub mod node_api;
pub mod node_ip;
pub mod pod_defaults;
pub mod pod_table;
pub mod pod_validation;
pub mod pod_yaml;
pub mod pods;
pub mod podspec;
pub mod probe;
pub mod quantity;
pub mod sandbox;
pub mod source;
pub mod status;
pub mod top;
pub mod watch;
