//! Kubernetes objects the way nodelet, nodectl and (later) an API server need them: the rules,
//! not the I/O. Nothing here reads a file, opens a socket or spawns a task; every function is
//! a decision or a rendering, table-tested.
//!
//! - [`quantity`], [`duration`]: Kubernetes quantities and Go durations.
//! - [`names`], [`field`]: name rules and field-path errors (`spec.containers[0].image: ...`).
//! - [`pod_defaults`], [`pod_validation`]: the API server's Pod defaulting and validation.
//! - [`restart`]: restart policies: the pod's, a container's effective one, sidecars.
//! - [`decode`]: one document → a typed object (field-path errors, unknown fields listed).
//! - [`manifest`]: one manifest file's bytes → its static pods (decode, default, validate,
//!   name, hash).
//! - [`selector`], [`field_selector`]: label selectors (kubectl's strings and the workloads'
//!   `LabelSelector`) and the field selectors the API serves (`spec.nodeName=`,
//!   `status.phase!=`, `involvedObject.name=`).
//! - [`node_affinity`]: nodeSelector and required node affinity against a node's labels.
//! - [`status`]: a pod's status from what ran (phase, conditions, container statuses) and
//!   kubectl's STATUS/READY columns.
//! - [`events`]: events about pods with the event recorder's aggregation, and kubectl's
//!   describe table and ages.
//! - [`pod_table`], [`pod_yaml`], [`describe`]: what kubectl prints for pods (`get`/`ps`
//!   table, `-o yaml`, `describe pod`).
//! - [`default_container`]: kubectl's container defaulting for `exec`/`logs`, and no exec into
//!   a completed pod.
//! - [`log_options`]: what `kubectl logs` asks for (instance, tail, since).
//! - [`pod_metrics`]: metrics.k8s.io PodMetrics (what `kubectl top pod` reads).
//! - [`config_sources`]: what a pod takes from ConfigMaps and Secrets: env (`valueFrom`,
//!   `envFrom`) and the files (paths, modes) of configMap, secret and projected volumes.
//! - [`controllers`]: the workload controllers (Job, CronJob, ReplicaSet, Deployment,
//!   DaemonSet) as pure sync decisions.
//! - [`workload`]: the other kinds a manifest may declare (ConfigMap, Secret, Namespace, Job,
//!   CronJob, Deployment, ReplicaSet, DaemonSet): decoding, defaulting, validation, identity.
//! - [`workload_describe`]: `describe` of those kinds in kubectl's layout (Go's tabwriter).
//! - [`workload_table`]: the API server's printers for those kinds (`kubectl get jobs`...).
//! - [`table`]: the API's `meta.k8s.io/v1` Table of pods, events, nodes and namespaces (what
//!   `kubectl get` prints, server-side).

pub mod config_sources;
pub mod controllers;
pub mod decode;
pub mod default_container;
pub mod describe;
pub mod duration;
pub mod events;
pub mod field;
pub mod field_selector;
pub mod log_options;
pub mod manifest;
pub mod names;
pub mod node_affinity;
pub mod pod_defaults;
pub mod pod_metrics;
pub mod pod_table;
pub mod pod_validation;
pub mod pod_yaml;
pub mod quantity;
pub mod restart;
pub mod selector;
pub mod status;
pub mod table;
pub mod workload;
pub mod workload_describe;
pub mod workload_rollout;
pub mod workload_table;
