//! Workload controllers as pure decisions: kube-controller-manager's sync functions (job,
//! cronjob, replicaset, deployment, daemonset) without the I/O. Each `sync` takes the object
//! (its spec and the status last persisted), what it owns as the node sees it now (pods with
//! their current status, child objects), the clock and a name-suffix source, and returns a
//! [`Sync`]: the actions to carry out in order, the object's new status, events, and when to
//! look again. The engine's `workloads` module is the thin shell that reads the store, calls
//! these, writes pods and objects, and persists the status.
//!
//! Rules every controller keeps (so a shell can run them after a crash at any point):
//! - A decision depends only on its inputs: calling `sync` again with the effects of its
//!   actions applied must not repeat them (no pod created twice, no schedule fired twice).
//!   Anything that must be remembered across syncs is in the returned status.
//! - Pods and child objects carry `ownerReferences` with `controller: true` and the owner's
//!   UID; a controller only counts what it owns, and adopts orphans whose labels match its
//!   selector (kube-controller-manager's `ClaimPods`), releasing owned pods whose labels no
//!   longer match.
//! - Names are final in the actions (`<job>-<suffix>`, `<rs>-<suffix>`, `<cronjob>-<minutes>`,
//!   `<deployment>-<pod-template-hash>`): the shell does not rename.

pub mod claim;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod job;
pub mod pods;
pub mod replicaset;
pub mod template;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::events::EventType;

/// A child object a controller creates or updates (CronJob → Job, Deployment → ReplicaSet,
/// DaemonSet → ControllerRevision).
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    Job(Box<k8s_openapi::api::batch::v1::Job>),
    ReplicaSet(Box<k8s_openapi::api::apps::v1::ReplicaSet>),
    /// A DaemonSet's revision.
    ControllerRevision(Box<k8s_openapi::api::apps::v1::ControllerRevision>),
}

/// Which kind of child object an action is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildKind {
    Job,
    ReplicaSet,
    ControllerRevision,
}

/// One thing a controller asks the node to do, in the object's namespace.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create this pod: name, labels, annotations, `ownerReferences` and spec are final.
    CreatePod(Box<Pod>),
    /// Delete the pod `name`, with `grace` if given (else the pod's own grace period).
    DeletePod {
        name: String,
        grace: Option<Duration>,
    },
    /// Replace the pod's labels and owner references (adoption, release, a DaemonSet's or a
    /// ReplicaSet's bookkeeping); everything else of the pod stays.
    SetPodMetadata {
        name: String,
        labels: std::collections::BTreeMap<String, String>,
        owner_references: Vec<OwnerReference>,
    },
    /// Create a child object (name final, owner reference set).
    CreateChild(Child),
    /// Replace a child object's spec and metadata (scaling a ReplicaSet, annotations).
    UpdateChild(Child),
    /// Delete a child object and, in the background, what it owns (propagation policy
    /// `Background`, as the controllers use).
    DeleteChild { kind: ChildKind, name: String },
    /// Remove one finalizer from the pod's `metadata.finalizers` (the Job controller's
    /// `batch.kubernetes.io/job-tracking`, once the pod is accounted for in the status);
    /// a pod that is gone counts as done.
    RemovePodFinalizer { name: String, finalizer: String },
    /// Delete the synced object itself and what it owns (propagation policy `Foreground`, as
    /// the TTL-after-finished controller deletes a finished Job).
    DeleteSelf,
    /// Set these annotations on the object being synced, keeping its others (a Deployment's
    /// `deployment.kubernetes.io/revision`, which the controller writes with the status).
    /// Always first, so the shell can persist it with the status.
    SetOwnAnnotations(std::collections::BTreeMap<String, String>),
}

/// Why a controller recorded an event: kube-controller-manager's reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControllerReason {
    /// A pod (or a job) was created: `Created pod: web-abcde`, `Created job hello-2901`.
    SuccessfulCreate,
    /// Creating a pod failed.
    FailedCreate,
    /// A pod (or a job) was deleted: `Deleted pod: web-abcde`, `Deleted job hello-2901`.
    SuccessfulDelete,
    /// A Job finished: `Job completed`.
    Completed,
    /// A Job failed: `Job has reached the specified backoff limit`.
    BackoffLimitExceeded,
    /// A Job ran past `activeDeadlineSeconds`: `Job was active longer than specified deadline`.
    DeadlineExceeded,
    /// A pod failure matched a `podFailurePolicy` rule with action FailJob.
    PodFailurePolicy,
    /// A Job's pods were deleted because it was suspended: `Job suspended`.
    Suspended,
    /// A suspended Job was resumed: `Job resumed`.
    Resumed,
    /// A CronJob saw one of its jobs finish: `Saw completed job: hello-2901, status: Complete`.
    SawCompletedJob,
    /// A CronJob skipped a run because one is active (concurrencyPolicy Forbid).
    JobAlreadyActive,
    /// A CronJob missed a scheduled start (`startingDeadlineSeconds`).
    MissSchedule,
    /// A CronJob missed too many starts (more than 100): `too many missed start times`.
    TooManyMissedTimes,
    /// A CronJob's schedule cannot be used.
    InvalidSchedule,
    /// A CronJob's schedule cannot be parsed: `unparseable schedule: "x" : ...`.
    UnparseableSchedule,
    /// A CronJob's `timeZone` is not known: `invalid timeZone: "Mars/Olympus": ...`.
    UnknownTimeZone,
    /// A Job in a CronJob's active list is gone: `Active job went missing: hello-2901`.
    MissingJob,
    /// A CronJob found an active job it does not know.
    UnexpectedJob,
    /// A Deployment scaled a ReplicaSet: `Scaled up replica set web-7d4b9 from 0 to 3`.
    ScalingReplicaSet,
    /// A Deployment was rolled back to a revision.
    DeploymentRollback,
    /// A Deployment's or DaemonSet's selector is empty (it would select every pod):
    /// `This deployment is selecting all pods. A non-empty selector is required.`
    SelectingAll,
    /// An Indexed Job with `backoffLimitPerIndex` failed more indexes than `maxFailedIndexes`.
    MaxFailedIndexesExceeded,
    /// An Indexed Job with `backoffLimitPerIndex` ended with failed indexes.
    FailedIndexes,
    /// A DaemonSet found its pod Failed and deletes it (with back-off):
    /// `Found failed daemon pod default/ds-x on node n, will try to kill it`.
    FailedDaemonPod,
}

impl ControllerReason {
    /// The reason as kube-controller-manager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerReason::SuccessfulCreate => "SuccessfulCreate",
            ControllerReason::FailedCreate => "FailedCreate",
            ControllerReason::SuccessfulDelete => "SuccessfulDelete",
            ControllerReason::Completed => "Completed",
            ControllerReason::BackoffLimitExceeded => "BackoffLimitExceeded",
            ControllerReason::DeadlineExceeded => "DeadlineExceeded",
            ControllerReason::PodFailurePolicy => "PodFailurePolicy",
            ControllerReason::Suspended => "Suspended",
            ControllerReason::Resumed => "Resumed",
            ControllerReason::SawCompletedJob => "SawCompletedJob",
            ControllerReason::JobAlreadyActive => "JobAlreadyActive",
            ControllerReason::MissSchedule => "MissSchedule",
            ControllerReason::TooManyMissedTimes => "TooManyMissedTimes",
            ControllerReason::InvalidSchedule => "InvalidSchedule",
            ControllerReason::UnparseableSchedule => "UnparseableSchedule",
            ControllerReason::UnknownTimeZone => "UnknownTimeZone",
            ControllerReason::MissingJob => "MissingJob",
            ControllerReason::UnexpectedJob => "UnexpectedJob",
            ControllerReason::ScalingReplicaSet => "ScalingReplicaSet",
            ControllerReason::DeploymentRollback => "DeploymentRollback",
            ControllerReason::SelectingAll => "SelectingAll",
            ControllerReason::FailedDaemonPod => "FailedDaemonPod",
            ControllerReason::MaxFailedIndexesExceeded => "MaxFailedIndexesExceeded",
            ControllerReason::FailedIndexes => "FailedIndexes",
        }
    }

    /// Normal or Warning, as the controllers record it.
    pub fn event_type(self) -> EventType {
        match self {
            ControllerReason::FailedCreate
            | ControllerReason::BackoffLimitExceeded
            | ControllerReason::DeadlineExceeded
            | ControllerReason::PodFailurePolicy
            | ControllerReason::MissSchedule
            | ControllerReason::TooManyMissedTimes
            | ControllerReason::InvalidSchedule
            | ControllerReason::UnparseableSchedule
            | ControllerReason::UnknownTimeZone
            | ControllerReason::UnexpectedJob
            | ControllerReason::SelectingAll
            | ControllerReason::FailedDaemonPod
            | ControllerReason::MaxFailedIndexesExceeded
            | ControllerReason::FailedIndexes => EventType::Warning,
            ControllerReason::SuccessfulCreate
            | ControllerReason::SuccessfulDelete
            | ControllerReason::Completed
            | ControllerReason::Suspended
            | ControllerReason::Resumed
            | ControllerReason::SawCompletedJob
            | ControllerReason::MissingJob
            | ControllerReason::JobAlreadyActive
            | ControllerReason::ScalingReplicaSet
            | ControllerReason::DeploymentRollback => EventType::Normal,
        }
    }
}

/// An event about the object being synced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerEvent {
    pub reason: ControllerReason,
    pub message: String,
}

/// What one sync decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Sync<S> {
    /// In order; the shell stops at the first that fails and syncs again later.
    pub actions: Vec<Action>,
    /// The object's status after the actions (persisted by the shell before it acts, so a
    /// crash between the two never repeats what the status already records).
    pub status: S,
    pub events: Vec<ControllerEvent>,
    /// Sync again after this long even if nothing changes (back-off delays, deadlines, the
    /// next cron time, minReadySeconds); `None`: only when something changes.
    pub requeue_after: Option<Duration>,
}

/// The node as a controller sees it (DaemonSet placement).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A source of random name suffixes (5 characters from the API server's alphabet
/// `bcdfghjklmnpqrstvwxz2456789` in production; a counter in tests).
pub trait Suffixes {
    fn next_suffix(&mut self) -> String;
}

impl<F: FnMut() -> String> Suffixes for F {
    fn next_suffix(&mut self) -> String {
        self()
    }
}

/// The owner reference a controller puts on what it creates.
pub fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The UID of the object's controller, if it has one.
pub fn controller_uid(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}
