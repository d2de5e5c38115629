//! The Deployment controller as a pure decision (kube-controller-manager's
//! `pkg/controller/deployment`: `sync.go`, `rolling.go`, `recreate.go`, `progress.go` and
//! `util/deployment_util.go`), with the API server's Deployment defaulting and validation.
//! It claims the namespace's ReplicaSets, finds or creates the new one
//! (`<deployment>-<pod-template-hash>`), scales new and old ones by the strategy (RollingUpdate
//! within maxSurge/maxUnavailable, Recreate), scales proportionally when the deployment is
//! resized mid-rollout or paused, keeps `revisionHistoryLimit` old ReplicaSets, and reports
//! the status `kubectl rollout status` reads. It never touches pods: the ReplicaSet
//! controller does that when the shell syncs the ReplicaSets it updated.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, DeploymentStrategy, ReplicaSet,
    ReplicaSetSpec, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::claim::{self, Claim};
use super::template::{self, JsonValue};
use super::{Action, Child, ChildKind, ControllerEvent, ControllerReason, Sync, pods};
use crate::field::{FieldError, FieldPath};
use crate::selector::{self, Selector};

/// The label that tells a deployment's ReplicaSets (and their pods) apart.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// A ReplicaSet's revision (`kubectl rollout history`).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The revisions a ReplicaSet had before a rollback made it new again.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The deployment's replicas when it last scaled the ReplicaSet.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The deployment's replicas + maxSurge when it last scaled the ReplicaSet.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// The deployment annotation `kubectl rollout history` shows as CHANGE-CAUSE.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// Deployment annotations not copied onto its ReplicaSets.
const SKIPPED_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];
/// Longest `revision-history` annotation kept.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Condition types, reasons and the controller's messages.
const AVAILABLE: &str = "Available";
const PROGRESSING: &str = "Progressing";
const REPLICA_FAILURE: &str = "ReplicaFailure";
const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
const RS_UPDATED: &str = "ReplicaSetUpdated";
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";
const RESUMED: &str = "DeploymentResumed";

/// The API server's defaults (`SetDefaults_Deployment`): one replica, RollingUpdate with
/// 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600, and the pod defaults on
/// the template.
pub fn defaults(d: &mut Deployment) {
    let spec = &mut d.spec;
    spec.replicas.get_or_insert(1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    if strategy.type_.as_deref().is_none_or(str::is_empty) {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        ru.max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
        ru.max_surge
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    template::default_template(&mut spec.template);
}

/// The API server's validation of a (defaulted) Deployment; empty when valid.
pub fn validate(d: &Deployment) -> Vec<FieldError> {
    let mut errs = Vec::new();
    template::validate_name(&mut errs, &d.metadata);
    let spec = &d.spec;
    let p = FieldPath::new("spec");
    template::non_negative(&mut errs, &p.child("replicas"), spec.replicas);
    template::validate_selector_and_template(
        &mut errs,
        "Deployment",
        &spec.selector,
        Some(&spec.template),
    );
    let sp = p.child("strategy");
    let strategy = spec.strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref().unwrap_or("RollingUpdate") {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                &sp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                if let Some(v) = &ru.max_unavailable {
                    template::validate_int_or_percent(
                        &mut errs,
                        &rp.child("maxUnavailable"),
                        v,
                        true,
                    );
                }
                if let Some(v) = &ru.max_surge {
                    template::validate_int_or_percent(&mut errs, &rp.child("maxSurge"), v, false);
                }
                if template::is_zero(ru.max_unavailable.as_ref())
                    && template::is_zero(ru.max_surge.as_ref())
                {
                    errs.push(FieldError::invalid(
                        &rp.child("maxUnavailable"),
                        JsonValue::of(&ru.max_unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    template::non_negative(
        &mut errs,
        &p.child("minReadySeconds"),
        spec.min_ready_seconds,
    );
    template::non_negative(
        &mut errs,
        &p.child("revisionHistoryLimit"),
        spec.revision_history_limit,
    );
    if let Some(pds) = spec.progress_deadline_seconds {
        let path = p.child("progressDeadlineSeconds");
        template::non_negative(&mut errs, &path, Some(pds));
        if pds <= spec.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &path,
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn replicas_of(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Two templates equal but for the `pod-template-hash` label (`EqualIgnoreHash`), with
/// apimachinery's semantic equality: an empty map or list equals an absent one (`kubectl
/// rollout undo` writes back a template with `annotations: {}`, which is the old template).
pub fn equal_ignore_hash(
    a: &k8s_openapi::api::core::v1::PodTemplateSpec,
    b: &k8s_openapi::api::core::v1::PodTemplateSpec,
) -> bool {
    fn semantic(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null => None,
            Value::Object(m) => {
                let m: serde_json::Map<String, Value> = m
                    .into_iter()
                    .filter_map(|(k, v)| semantic(v).map(|v| (k, v)))
                    .collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            Value::Array(a) => {
                let a: Vec<Value> = a
                    .into_iter()
                    .map(|v| semantic(v).unwrap_or(Value::Null))
                    .collect();
                (!a.is_empty()).then_some(Value::Array(a))
            }
            v => Some(v),
        }
    }
    let norm = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        semantic(
            serde_json::to_value(template::without_label(t, POD_TEMPLATE_HASH_LABEL))
                .unwrap_or_default(),
        )
    };
    norm(a) == norm(b)
}

/// What the pods of one ReplicaSet say now.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    replicas: i32,
    ready: i32,
    available: i32,
    /// Not finished but being deleted: still running for Recreate's purposes.
    terminating: i32,
}

/// One sync's working state: the claimed ReplicaSets as they will be after the actions.
struct Run<'a> {
    d: &'a Deployment,
    name: String,
    replicas: i32,
    now: Timestamp,
    rss: Vec<ReplicaSet>,
    counts: Vec<Counts>,
    /// Names of the namespace's other ReplicaSets (a new name must not collide).
    others: Vec<String>,
    /// Index of the ReplicaSet this sync creates.
    created: Option<usize>,
    /// ReplicaSets changed (or created), in the order of their first change.
    order: Vec<usize>,
    deletes: Vec<String>,
    releases: Vec<Action>,
    /// The revision the deployment's own annotation must say (`SetDeploymentRevision`).
    revision: Option<String>,
    events: Vec<ControllerEvent>,
    status: DeploymentStatus,
}

/// One sync of `d` (`syncDeployment`). `rss` is every ReplicaSet of the namespace (with the
/// status last persisted): the deployment claims them like the controller (its own that
/// match its selector, adopting matching orphans, releasing its own that no longer match)
/// and sees name collisions with others. `pods` is every pod of the namespace: the
/// ReplicaSets' replicas, readiness and availability are counted from the pods they own,
/// which is what their status will say once the ReplicaSet controller has synced.
pub fn sync(
    d: &Deployment,
    rss: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> Sync<DeploymentStatus> {
    let mut status = d.status.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let empty = |events: Vec<ControllerEvent>, status: DeploymentStatus| Sync {
        actions: Vec::new(),
        status,
        events,
        requeue_after: None,
    };
    if selector::label_selector_is_empty(&d.spec.selector) {
        status.observed_generation = d.metadata.generation.or(status.observed_generation);
        let event = ControllerEvent {
            reason: ControllerReason::SelectingAll,
            message: "This deployment is selecting all pods. A non-empty selector is required."
                .to_string(),
        };
        return empty(vec![event], status);
    }
    let Ok(selector) = Selector::from_label_selector(&d.spec.selector) else {
        return empty(Vec::new(), status);
    };
    let mut run = Run::new(d, name, rss, pods, &selector, now, status);
    run.decide();
    run.finish(pods)
}

impl<'a> Run<'a> {
    fn new(
        d: &'a Deployment,
        name: String,
        all_rss: &[ReplicaSet],
        pods: &[Pod],
        selector: &Selector,
        now: Timestamp,
        status: DeploymentStatus,
    ) -> Run<'a> {
        let owner = owner_ref(d);
        let deleting = d.metadata.deletion_timestamp.is_some();
        let mut run = Run {
            d,
            name,
            replicas: d.spec.replicas.unwrap_or(1),
            now,
            rss: Vec::new(),
            counts: Vec::new(),
            others: Vec::new(),
            created: None,
            order: Vec::new(),
            deletes: Vec::new(),
            releases: Vec::new(),
            revision: None,
            events: Vec::new(),
            status,
        };
        for rs in all_rss {
            match claim::claim(&rs.metadata, selector, &owner, deleting) {
                Claim::Keep => {
                    run.push(rs.clone(), pods);
                }
                Claim::Adopt => {
                    let mut rs = rs.clone();
                    rs.metadata.owner_references = Some(claim::adopted_refs(&rs.metadata, &owner));
                    let i = run.push(rs, pods);
                    run.touch(i);
                }
                Claim::Release => {
                    run.others.extend(rs.metadata.name.clone());
                    let mut rs = rs.clone();
                    rs.metadata.owner_references = Some(claim::released_refs(&rs.metadata, &owner));
                    run.releases
                        .push(Action::UpdateChild(Child::ReplicaSet(Box::new(rs))));
                }
                Claim::Ignore => run.others.extend(rs.metadata.name.clone()),
            }
        }
        run
    }

    fn push(&mut self, rs: ReplicaSet, pods: &[Pod]) -> usize {
        let uid = rs.metadata.uid.clone();
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        let mut c = Counts::default();
        for p in pods.iter().filter(|p| !pods::is_finished(p)) {
            if uid.is_none() || super::controller_uid(&p.metadata) != uid.as_deref() {
                continue;
            }
            if p.metadata.deletion_timestamp.is_some() {
                c.terminating += 1;
            } else {
                c.replicas += 1;
                c.ready += i32::from(pods::is_ready(p));
                c.available += i32::from(pods::is_available(p, min_ready, self.now));
            }
        }
        self.rss.push(rs);
        self.counts.push(c);
        self.rss.len() - 1
    }

    fn touch(&mut self, i: usize) {
        if !self.order.contains(&i) {
            self.order.push(i);
        }
    }

    fn rs_name(&self, i: usize) -> String {
        self.rss[i].metadata.name.clone().unwrap_or_default()
    }

    /// Available pods of a ReplicaSet as the scaling decisions count them: never more than
    /// it is scaled to (the surplus is being deleted), so a scale-down just made is not
    /// counted twice before the ReplicaSet controller has caught up.
    fn available(&self, i: usize) -> i32 {
        self.counts[i].available.min(replicas_of(&self.rss[i]))
    }

    fn is_rolling(&self) -> bool {
        self.d
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
            == "RollingUpdate"
    }

    /// maxSurge and maxUnavailable resolved against the replicas (`ResolveFenceposts`:
    /// surge rounds up, unavailable down, both 0 makes unavailable 1).
    fn fenceposts(&self) -> (i32, i32) {
        let ru = self
            .d
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref());
        let surge =
            template::scaled_value(ru.and_then(|r| r.max_surge.as_ref()), self.replicas, true);
        let mut unavailable = template::scaled_value(
            ru.and_then(|r| r.max_unavailable.as_ref()),
            self.replicas,
            false,
        );
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        (surge, unavailable)
    }

    fn max_surge(&self) -> i32 {
        if self.is_rolling() {
            self.fenceposts().0
        } else {
            0
        }
    }

    fn max_unavailable(&self) -> i32 {
        if !self.is_rolling() || self.replicas == 0 {
            return 0;
        }
        self.fenceposts().1.min(self.replicas)
    }

    fn has_progress_deadline(&self) -> bool {
        self.d
            .spec
            .progress_deadline_seconds
            .is_some_and(|s| s != i32::MAX)
    }

    /// Indices sorted by creation, oldest first (a ReplicaSet being created is newest).
    fn by_creation(&self, mut idx: Vec<usize>) -> Vec<usize> {
        idx.sort_by(|&a, &b| self.creation_cmp(a, b));
        idx
    }

    fn creation_cmp(&self, a: usize, b: usize) -> Ordering {
        let t = |i: usize| {
            self.rss[i]
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(self.now, |t| t.0)
        };
        t(a).cmp(&t(b))
            .then_with(|| self.rss[a].metadata.name.cmp(&self.rss[b].metadata.name))
    }

    /// The new ReplicaSet: the oldest whose template equals the deployment's.
    fn find_new(&self) -> Option<usize> {
        self.by_creation((0..self.rss.len()).collect())
            .into_iter()
            .find(|&i| {
                self.rss[i]
                    .spec
                    .template
                    .as_ref()
                    .is_some_and(|t| equal_ignore_hash(t, &self.d.spec.template))
            })
    }

    fn olds(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.rss.len()).filter(|&i| Some(i) != new).collect()
    }

    fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|&i| replicas_of(&self.rss[i]) > 0)
            .collect()
    }

    fn total_replicas(&self, idx: &[usize]) -> i32 {
        idx.iter().map(|&i| replicas_of(&self.rss[i])).sum()
    }

    /// `SetReplicasAnnotations`: desired and max replicas on the ReplicaSet; true if changed.
    fn set_replicas_annotations(&mut self, i: usize) -> bool {
        let desired = self.replicas.to_string();
        let max = (self.replicas + self.max_surge()).to_string();
        let ann = self.rss[i]
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        let mut changed = false;
        for (k, v) in [
            (DESIRED_REPLICAS_ANNOTATION, desired),
            (MAX_REPLICAS_ANNOTATION, max),
        ] {
            if ann.get(k) != Some(&v) {
                ann.insert(k.to_string(), v);
                changed = true;
            }
        }
        changed
    }

    /// `scaleReplicaSet`: the new size and the replicas annotations, an event if the size
    /// changed.
    fn scale(&mut self, i: usize, to: i32) {
        let from = replicas_of(&self.rss[i]);
        let annotations_changed = self.set_replicas_annotations(i);
        if from != to {
            self.rss[i].spec.replicas = Some(to);
            let dir = if from < to { "up" } else { "down" };
            self.events.push(ControllerEvent {
                reason: ControllerReason::ScalingReplicaSet,
                message: format!(
                    "Scaled {dir} replica set {} from {from} to {to}",
                    self.rs_name(i)
                ),
            });
        }
        if from != to || annotations_changed {
            self.touch(i);
        }
    }

    /// `scaleReplicaSetAndRecordEvent`: scales only when the size differs; true if it did.
    fn scale_to(&mut self, i: usize, to: i32) -> bool {
        if replicas_of(&self.rss[i]) == to {
            return false;
        }
        self.scale(i, to);
        true
    }

    fn condition(&self, type_: &str) -> Option<&DeploymentCondition> {
        condition(&self.status, type_)
    }

    fn remove_condition(&mut self, type_: &str) {
        remove_condition(&mut self.status, type_);
    }

    fn set_condition(&mut self, type_: &str, status: &str, reason: &str, message: String) {
        set_condition(&mut self.status, self.now, type_, status, reason, message);
    }

    /// Copies the deployment's annotations (but the controller's own) onto the ReplicaSet.
    fn copy_annotations(&mut self, i: usize) -> bool {
        let mut changed = false;
        let ann = self.rss[i]
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        for (k, v) in self.d.metadata.annotations.iter().flatten() {
            if SKIPPED_ANNOTATIONS.contains(&k.as_str()) || ann.get(k) == Some(v) {
                continue;
            }
            ann.insert(k.clone(), v.clone());
            changed = true;
        }
        changed
    }

    /// `SetNewReplicaSetAnnotations`: copied annotations, the revision raised to
    /// `new_revision` (keeping the old one in the history: a rollback), and for a ReplicaSet
    /// being created the replicas annotations. True if anything changed.
    fn set_new_annotations(&mut self, i: usize, new_revision: i64, exists: bool) -> bool {
        let mut changed = self.copy_annotations(i);
        let ann = self.rss[i]
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        let old = ann.get(REVISION_ANNOTATION).cloned();
        let old_n: i64 = match old.as_deref() {
            None | Some("") => 0,
            Some(v) => match v.parse() {
                Ok(n) => n,
                // A revision the controller cannot read is left alone.
                Err(_) => return changed,
            },
        };
        if old_n < new_revision {
            ann.insert(REVISION_ANNOTATION.to_string(), new_revision.to_string());
            changed = true;
            if let Some(old) = old.filter(|o| !o.is_empty()) {
                let history = ann
                    .get(REVISION_HISTORY_ANNOTATION)
                    .cloned()
                    .unwrap_or_default();
                let value = if history.is_empty() {
                    Some(old)
                } else {
                    let mut revs: Vec<&str> = history.split(',').collect();
                    let mut total = history.len() + old.len() + 1;
                    let mut start = 0;
                    while total > MAX_REVISION_HISTORY_CHARS && start < revs.len() {
                        total -= revs[start].len() + 1;
                        start += 1;
                    }
                    (total <= MAX_REVISION_HISTORY_CHARS).then(|| {
                        revs = revs.split_off(start);
                        revs.push(&old);
                        revs.join(",")
                    })
                };
                if let Some(v) = value {
                    ann.insert(REVISION_HISTORY_ANNOTATION.to_string(), v);
                }
            }
        }
        if !exists && self.set_replicas_annotations(i) {
            changed = true;
        }
        changed
    }

    /// `NewRSNewReplicas`: how big the new ReplicaSet may be now. Pods that still exist
    /// count against maxSurge, whether terminating or not yet deleted by a ReplicaSet just
    /// scaled down (the `TerminationComplete` pod replacement policy of KEP-3973), so the
    /// node never holds more than replicas + maxSurge pods, however long they take to stop.
    fn new_rs_replicas(&self, new: usize) -> i32 {
        if !self.is_rolling() {
            return self.replicas;
        }
        let current: i32 = (0..self.rss.len())
            .map(|i| {
                let c = self.counts[i];
                replicas_of(&self.rss[i]).max(c.replicas) + c.terminating
            })
            .sum();
        let max_total = self.replicas + self.max_surge();
        let new_now = replicas_of(&self.rss[new]);
        if current >= max_total {
            return new_now;
        }
        new_now + (max_total - current).min(self.replicas - new_now)
    }

    /// `getNewReplicaSet`: the new ReplicaSet with its annotations synced, created when
    /// `create` and there is none.
    fn new_rs(&mut self, create: bool) -> Option<usize> {
        let new = self.find_new();
        let max_old = self
            .olds(new)
            .iter()
            .map(|&i| revision(&self.rss[i]))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(i) = new {
            let mut changed = self.set_new_annotations(i, new_revision, true);
            let min_ready = self.d.spec.min_ready_seconds;
            if self.rss[i].spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0) {
                self.rss[i].spec.min_ready_seconds = min_ready;
                changed = true;
            }
            if changed {
                self.touch(i);
                return Some(i);
            }
            self.revision =
                annotation(&self.rss[i].metadata, REVISION_ANNOTATION).map(String::from);
            if self.has_progress_deadline() && self.condition(PROGRESSING).is_none() {
                let msg = format!("Found new replica set {:?}", self.rs_name(i));
                self.set_condition(PROGRESSING, "True", FOUND_NEW_RS, msg);
            }
            return Some(i);
        }
        if !create {
            return None;
        }
        let (name, hash) = self.new_rs_name();
        let mut tmpl = self.d.spec.template.clone();
        let meta = tmpl.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let labels = meta.labels.clone();
        let mut sel: LabelSelector = self.d.spec.selector.clone();
        sel.match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash);
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![owner_ref(self.d)]),
                labels,
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.d.spec.min_ready_seconds,
                selector: sel,
                template: Some(tmpl),
            },
            status: None,
        };
        self.rss.push(rs);
        self.counts.push(Counts::default());
        let i = self.rss.len() - 1;
        let n = self.new_rs_replicas(i);
        self.rss[i].spec.replicas = Some(n);
        self.set_new_annotations(i, new_revision, false);
        self.created = Some(i);
        self.revision = Some(new_revision.to_string());
        self.touch(i);
        if n > 0 {
            self.events.push(ControllerEvent {
                reason: ControllerReason::ScalingReplicaSet,
                message: format!("Scaled up replica set {name} from 0 to {n}"),
            });
        }
        if self.has_progress_deadline() {
            let msg = format!("Created new replica set {name:?}");
            self.set_condition(PROGRESSING, "True", NEW_RS_CREATED, msg);
        }
        Some(i)
    }

    /// `<deployment>-<hash>`, raising `collisionCount` while the name is taken by a
    /// ReplicaSet with another template (the controller's hash-collision handling, done in
    /// one sync since every ReplicaSet of the namespace is at hand). After a hundred
    /// collisions the name is used as is: its creation fails and the shell syncs again.
    fn new_rs_name(&mut self) -> (String, String) {
        let mut tries = 0;
        loop {
            let hash = template::template_hash(&self.d.spec.template, self.status.collision_count);
            let name = format!("{}-{hash}", self.name);
            let taken = self.others.contains(&name)
                || self
                    .rss
                    .iter()
                    .any(|rs| rs.metadata.name.as_deref() == Some(name.as_str()));
            tries += 1;
            if !taken || tries > 100 {
                return (name, hash);
            }
            let c = self.status.collision_count.get_or_insert(0);
            *c = c.saturating_add(1);
        }
    }

    /// The decision (`syncDeployment` after the claim).
    fn decide(&mut self) {
        if self.d.metadata.deletion_timestamp.is_some() {
            let new = self.new_rs(false);
            self.calculate_status(new);
            return;
        }
        self.check_paused();
        let paused = self.d.spec.paused == Some(true);
        if paused || self.is_scaling_event() {
            let new = self.new_rs(false);
            self.scale_all(new);
            if paused {
                self.cleanup(new);
            }
            self.calculate_status(new);
            return;
        }
        let new = if self.is_rolling() {
            self.rollout_rolling()
        } else {
            self.rollout_recreate()
        };
        self.rollout_status(new);
    }

    /// `checkPausedConditions`: Progressing Unknown DeploymentPaused / DeploymentResumed.
    fn check_paused(&mut self) {
        if !self.has_progress_deadline() {
            return;
        }
        let reason = self.condition(PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return;
        }
        let paused_cond = reason.as_deref() == Some(PAUSED);
        let paused = self.d.spec.paused == Some(true);
        if paused && !paused_cond {
            self.set_condition(
                PROGRESSING,
                "Unknown",
                PAUSED,
                "Deployment is paused".into(),
            );
        } else if !paused && paused_cond {
            self.set_condition(
                PROGRESSING,
                "Unknown",
                RESUMED,
                "Deployment is resumed".into(),
            );
        }
    }

    /// `isScalingEvent`: an active ReplicaSet was last scaled for another replica count.
    fn is_scaling_event(&mut self) -> bool {
        let new = self.new_rs(false);
        let mut all = self.olds(new);
        all.extend(new);
        self.active(&all).into_iter().any(|i| {
            annotation(&self.rss[i].metadata, DESIRED_REPLICAS_ANNOTATION)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|desired| desired != self.replicas)
        })
    }

    /// `scale`: one active ReplicaSet takes all replicas; a saturated new one makes the old
    /// ones 0; otherwise (RollingUpdate) the difference is shared in proportion to size.
    fn scale_all(&mut self, new: Option<usize>) {
        let olds = self.olds(new);
        let mut all = olds.clone();
        all.extend(new);
        if let Some(i) = self.active_or_latest(new, &olds) {
            if replicas_of(&self.rss[i]) != self.replicas {
                self.scale_to(i, self.replicas);
            }
            return;
        }
        if new.is_some_and(|n| self.is_saturated(n)) {
            for i in self.active(&olds) {
                self.scale_to(i, 0);
            }
            return;
        }
        if !self.is_rolling() {
            return;
        }
        let mut active = self.active(&all);
        let current = self.total_replicas(&active);
        let allowed = if self.replicas > 0 {
            self.replicas + self.max_surge()
        } else {
            0
        };
        let to_add = allowed - current;
        // Largest first; among equals newer first when growing, older first when shrinking.
        active.sort_by(|&a, &b| {
            replicas_of(&self.rss[b])
                .cmp(&replicas_of(&self.rss[a]))
                .then_with(|| {
                    if to_add > 0 {
                        self.creation_cmp(b, a)
                    } else {
                        self.creation_cmp(a, b)
                    }
                })
        });
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
        for &i in &active {
            let size = replicas_of(&self.rss[i]);
            if to_add == 0 {
                sizes.push(size);
                continue;
            }
            let proportion = self.proportion(i, to_add, added);
            sizes.push(size + proportion);
            added += proportion;
        }
        for (k, &i) in active.iter().enumerate() {
            let mut size = sizes[k];
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale(i, size);
        }
    }

    /// `FindActiveOrLatest`: the only active ReplicaSet, or the newest when none is active.
    fn active_or_latest(&self, new: Option<usize>, olds: &[usize]) -> Option<usize> {
        let mut all = olds.to_vec();
        all.extend(new);
        let active = self.active(&all);
        match active.len() {
            0 => new.or_else(|| self.by_creation(olds.to_vec()).last().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// `IsSaturated`: the new ReplicaSet has all replicas, scaled for this count, available.
    fn is_saturated(&self, i: usize) -> bool {
        let desired = annotation(&self.rss[i].metadata, DESIRED_REPLICAS_ANNOTATION)
            .and_then(|v| v.parse::<i32>().ok());
        replicas_of(&self.rss[i]) == self.replicas
            && desired == Some(self.replicas)
            && self.counts[i].available == self.replicas
    }

    /// `GetReplicaSetProportion`.
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        let size = replicas_of(&self.rss[i]);
        if size == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if self.replicas == 0 {
            -size
        } else {
            let max_now = self.replicas + self.max_surge();
            let before = annotation(&self.rss[i].metadata, MAX_REPLICAS_ANNOTATION)
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|v| *v != 0)
                .unwrap_or_else(|| self.status.replicas.unwrap_or(0).max(1));
            let scaled = f64::from(size) * f64::from(max_now) / f64::from(before);
            // Go's math.Round: halves away from zero.
            scaled.round() as i32 - size
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self) -> Option<usize> {
        let new = self.new_rs(true)?;
        if self.reconcile_new(new) {
            return Some(new);
        }
        if self.reconcile_olds(new) {
            return Some(new);
        }
        if self.complete(&self.compute_status(Some(new))) {
            self.cleanup(Some(new));
        }
        Some(new)
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self, new: usize) -> bool {
        let size = replicas_of(&self.rss[new]);
        if size == self.replicas {
            return false;
        }
        if size > self.replicas {
            return self.scale_to(new, self.replicas);
        }
        let to = self.new_rs_replicas(new);
        self.scale_to(new, to)
    }

    /// `reconcileOldReplicaSets`: unhealthy old replicas first, then as many old ones as
    /// availability allows.
    fn reconcile_olds(&mut self, new: usize) -> bool {
        let olds = self.active(&self.olds(Some(new)));
        if self.total_replicas(&olds) == 0 {
            return false;
        }
        let all: Vec<usize> = (0..self.rss.len()).collect();
        let min_available = self.replicas - self.max_unavailable();
        let new_unavailable = replicas_of(&self.rss[new]) - self.available(new);
        let max_scaled_down = self.total_replicas(&all) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut scaled = 0;
        for i in self.by_creation(olds.clone()) {
            if scaled >= max_scaled_down {
                break;
            }
            let size = replicas_of(&self.rss[i]);
            let unhealthy = size - self.available(i);
            if size == 0 || unhealthy <= 0 {
                continue;
            }
            let n = (max_scaled_down - scaled).min(unhealthy);
            self.scale_to(i, size - n);
            scaled += n;
        }
        // scaleDownOldReplicaSetsForRollingUpdate
        let available: i32 = (0..self.rss.len()).map(|i| self.available(i)).sum();
        if available > min_available {
            let budget = available - min_available;
            let mut done = 0;
            for i in self.by_creation(olds) {
                if done >= budget {
                    break;
                }
                let size = replicas_of(&self.rss[i]);
                if size == 0 {
                    continue;
                }
                let n = size.min(budget - done);
                self.scale_to(i, size - n);
                done += n;
            }
            scaled += done;
        }
        scaled > 0
    }

    /// `rolloutRecreate`: old ReplicaSets to 0, wait for their pods to be gone, then the new
    /// one up.
    fn rollout_recreate(&mut self) -> Option<usize> {
        let mut new = self.new_rs(false);
        let olds = self.olds(new);
        let mut scaled_down = false;
        for i in self.active(&olds) {
            scaled_down |= self.scale_to(i, 0);
        }
        if scaled_down || self.old_pods_running(&olds) {
            return new;
        }
        if new.is_none() {
            new = self.new_rs(true);
        }
        if let Some(n) = new {
            self.scale_to(n, self.replicas);
            if self.complete(&self.compute_status(new)) {
                self.cleanup(new);
            }
        }
        new
    }

    /// `oldPodsRunning`: any pod of an old ReplicaSet not finished (terminating ones count).
    fn old_pods_running(&self, olds: &[usize]) -> bool {
        olds.iter()
            .any(|&i| self.counts[i].replicas > 0 || self.counts[i].terminating > 0)
    }

    /// `cleanupDeployment`: delete the oldest old ReplicaSets beyond revisionHistoryLimit
    /// that have no replicas left.
    fn cleanup(&mut self, new: Option<usize>) {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return;
        };
        let mut olds: Vec<usize> = self
            .olds(new)
            .into_iter()
            .filter(|&i| self.rss[i].metadata.deletion_timestamp.is_none())
            .filter(|&i| Some(i) != self.created)
            .collect();
        let excess = olds.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return;
        }
        olds.sort_by(|&a, &b| {
            revision(&self.rss[a])
                .cmp(&revision(&self.rss[b]))
                .then_with(|| self.creation_cmp(a, b))
        });
        for &i in olds.iter().take(usize::try_from(excess).unwrap_or(0)) {
            let rs = &self.rss[i];
            let st = rs.status.clone().unwrap_or_default();
            let unobserved = matches!(
                (rs.metadata.generation, st.observed_generation),
                (Some(g), Some(o)) if g > o
            );
            if st.replicas != 0
                || self.counts[i].replicas != 0
                || self.counts[i].terminating != 0
                || replicas_of(rs) != 0
                || unobserved
                || self.order.contains(&i)
            {
                continue;
            }
            self.deletes.push(self.rs_name(i));
        }
    }

    /// `calculateStatus`, into `self.status` (conditions carried over, Available set).
    fn calculate_status(&mut self, new: Option<usize>) {
        self.status = self.compute_status(new);
    }

    fn compute_status(&self, new: Option<usize>) -> DeploymentStatus {
        let all = 0..self.rss.len();
        let available: i32 = all.clone().map(|i| self.counts[i].available).sum();
        let total: i32 = all.clone().map(|i| replicas_of(&self.rss[i])).sum();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(all.clone().map(|i| self.counts[i].replicas).sum()),
            updated_replicas: Some(new.map_or(0, |n| self.counts[n].replicas)),
            ready_replicas: Some(all.clone().map(|i| self.counts[i].ready).sum()),
            available_replicas: Some(available),
            unavailable_replicas: Some((total - available).max(0)),
            terminating_replicas: Some(all.clone().map(|i| self.counts[i].terminating).sum()),
            collision_count: self.status.collision_count,
            conditions: self.status.conditions.clone(),
        };
        if available >= self.replicas - self.max_unavailable() {
            set_condition(
                &mut status,
                self.now,
                AVAILABLE,
                "True",
                MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
            );
        } else {
            set_condition(
                &mut status,
                self.now,
                AVAILABLE,
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            );
        }
        status
    }

    /// `DeploymentComplete`.
    fn complete(&self, s: &DeploymentStatus) -> bool {
        s.updated_replicas.unwrap_or(0) == self.replicas
            && s.replicas.unwrap_or(0) == self.replicas
            && s.available_replicas.unwrap_or(0) == self.replicas
            && s.observed_generation.unwrap_or(0) >= self.d.metadata.generation.unwrap_or(0)
    }

    /// `syncRolloutStatus`: the status, and the Progressing condition (complete,
    /// progressing, or past its deadline).
    fn rollout_status(&mut self, new: Option<usize>) {
        // The status as this sync found it (with the conditions it set so far).
        let old = self.status.clone();
        self.calculate_status(new);
        if !self.has_progress_deadline() {
            self.remove_condition(PROGRESSING);
        }
        let cur = old
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_.as_deref() == Some(PROGRESSING))
            .cloned();
        let done = self.status.replicas == self.status.updated_replicas
            && cur.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if self.has_progress_deadline() && !done {
            let what = match new {
                Some(n) => format!("ReplicaSet {:?}", self.rs_name(n)),
                None => format!("Deployment {:?}", self.name),
            };
            let status = self.status.clone();
            if self.complete(&status) {
                let msg = format!("{what} has successfully progressed.");
                self.set_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg);
            } else if progressing(&old, &status) {
                let msg = format!("{what} is progressing.");
                let kept = cur
                    .as_ref()
                    .filter(|c| c.status.as_deref() == Some("True"))
                    .and_then(|c| c.last_transition_time.clone());
                self.remove_condition(PROGRESSING);
                self.set_condition(PROGRESSING, "True", RS_UPDATED, msg);
                if let Some(t) = kept
                    && let Some(c) = self.status.conditions.iter_mut().flatten().last()
                {
                    c.last_transition_time = Some(t);
                }
            } else if self.timed_out() {
                let msg = format!("{what} has timed out progressing.");
                self.set_condition(PROGRESSING, "False", TIMED_OUT, msg);
            }
        }
        let failure = self.rss.iter().find_map(|rs| {
            rs.status
                .as_ref()?
                .conditions
                .iter()
                .flatten()
                .find(|c| {
                    c.type_.as_deref() == Some(REPLICA_FAILURE)
                        && c.status.as_deref() == Some("True")
                })
                .cloned()
        });
        match failure {
            Some(f) => self.set_condition(
                REPLICA_FAILURE,
                "True",
                f.reason.as_deref().unwrap_or_default(),
                f.message.unwrap_or_default(),
            ),
            None => self.remove_condition(REPLICA_FAILURE),
        }
    }

    /// `DeploymentTimedOut`: no progress reported for progressDeadlineSeconds.
    fn timed_out(&self) -> bool {
        self.condition(PROGRESSING)
            .is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT))
            || self.deadline().is_some_and(|at| at < self.now)
    }

    /// When the rollout times out if it makes no progress (the Progressing condition's last
    /// update plus progressDeadlineSeconds); `None` when no deadline runs (complete, timed
    /// out, no condition, no deadline).
    fn deadline(&self) -> Option<Timestamp> {
        if !self.has_progress_deadline() {
            return None;
        }
        let c = self.condition(PROGRESSING)?;
        if matches!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE | TIMED_OUT)) {
            return None;
        }
        let from = c.last_update_time.as_ref()?.0;
        let secs = i64::from(self.d.spec.progress_deadline_seconds.unwrap_or(0));
        from.checked_add(SignedDuration::from_secs(secs)).ok()
    }

    /// The actions in order (releases, then created/updated ReplicaSets in the order of their
    /// first change, then deletions), the status and when to look again.
    fn finish(self, pods: &[Pod]) -> Sync<DeploymentStatus> {
        let mut actions = Vec::new();
        if let Some(rev) = &self.revision
            && annotation(&self.d.metadata, REVISION_ANNOTATION) != Some(rev.as_str())
        {
            actions.push(Action::SetOwnAnnotations(
                [(REVISION_ANNOTATION.to_string(), rev.clone())].into(),
            ));
        }
        actions.extend(self.releases.iter().cloned());
        for &i in &self.order {
            let child = Child::ReplicaSet(Box::new(self.rss[i].clone()));
            actions.push(if Some(i) == self.created {
                Action::CreateChild(child)
            } else {
                Action::UpdateChild(child)
            });
        }
        for name in &self.deletes {
            actions.push(Action::DeleteChild {
                kind: ChildKind::ReplicaSet,
                name: name.clone(),
            });
        }
        let uids: Vec<&str> = self
            .rss
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        let owned = pods.iter().filter(|p| {
            pods::is_active(p)
                && super::controller_uid(&p.metadata).is_some_and(|u| uids.contains(&u))
        });
        let min_ready = self.d.spec.min_ready_seconds.unwrap_or(0);
        let wait = pods::next_available_in(owned, min_ready, self.now);
        // Past the deadline the next sync records the timeout.
        let paused = self.d.spec.paused == Some(true);
        let deadline = self
            .deadline()
            .filter(|_| !paused && !self.complete(&self.status))
            .map(|at| {
                Duration::try_from(self.now.duration_until(at)).unwrap_or_default()
                    + Duration::from_millis(1)
            });
        let requeue_after = match (wait, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Sync {
            actions,
            status: self.status,
            events: self.events,
            requeue_after,
        }
    }
}

fn condition<'s>(status: &'s DeploymentStatus, type_: &str) -> Option<&'s DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

/// `SetDeploymentCondition`: nothing if status and reason are unchanged; the transition time
/// kept if only the reason changed.
fn set_condition(
    status: &mut DeploymentStatus,
    now: Timestamp,
    type_: &str,
    value: &str,
    reason: &str,
    message: String,
) {
    let mut cond = DeploymentCondition {
        type_: Some(type_.to_string()),
        status: Some(value.to_string()),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_transition_time: Some(Time(now)),
        last_update_time: Some(Time(now)),
    };
    if let Some(cur) = condition(status, type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// `DeploymentProgressing`: more updated, fewer old, more ready or more available replicas
/// than the last status.
fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let v = |x: Option<i32>| x.unwrap_or(0);
    let old_old = v(old.replicas) - v(old.updated_replicas);
    let new_old = v(new.replicas) - v(new.updated_replicas);
    v(new.updated_replicas) > v(old.updated_replicas)
        || new_old < old_old
        || v(new.ready_replicas) > v(old.ready_replicas)
        || v(new.available_replicas) > v(old.available_replicas)
}

fn owner_ref(d: &Deployment) -> OwnerReference {
    super::controller_ref(
        "apps/v1",
        "Deployment",
        d.metadata.name.as_deref().unwrap_or_default(),
        d.metadata.uid.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::controllers::replicaset;
    use crate::controllers::replicaset::tests::{counter, set_phase, ts};

    #[test]
    fn empty_maps_equal_absent_ones_when_finding_the_new_replica_set() {
        use k8s_openapi::api::core::v1::PodTemplateSpec;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let t = |annotations: Option<std::collections::BTreeMap<String, String>>, hash: bool| {
            let mut labels =
                std::collections::BTreeMap::from([("app".to_string(), "web".to_string())]);
            if hash {
                labels.insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
            }
            PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations,
                    ..Default::default()
                }),
                spec: None,
            }
        };
        assert!(equal_ignore_hash(
            &t(None, true),
            &t(Some(Default::default()), false)
        ));
        let restarted = Some(std::collections::BTreeMap::from([(
            "r".to_string(),
            "1".to_string(),
        )]));
        assert!(!equal_ignore_hash(&t(None, true), &t(restarted, false)));
    }

    /// A namespace as the engine would keep it: the deployment (status persisted after each
    /// sync), its ReplicaSets and their pods. Deleted pods stay one step as terminating.
    struct World {
        d: Deployment,
        rss: Vec<ReplicaSet>,
        pods: Vec<Pod>,
        now: i64,
        events: Vec<String>,
        suffixes: Box<dyn FnMut() -> String>,
        /// Pods created by the ReplicaSets become ready on the next step when true.
        ready: bool,
        /// Steps a deleted pod stays terminating.
        grace: i64,
        /// Sync the deployment twice before its ReplicaSets catch up (the engine may).
        double_sync: bool,
        max_pods_seen: usize,
        min_available_seen: usize,
    }

    const WEB: &str = "
metadata: {name: web, namespace: default, uid: d-uid, generation: 1}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: 'nginx:1.25'}]}
";

    fn deployment(yaml: &str) -> Deployment {
        let mut d: Deployment =
            serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap())
                .unwrap();
        defaults(&mut d);
        d
    }

    impl World {
        fn new(yaml: &str) -> World {
            World {
                d: deployment(yaml),
                rss: Vec::new(),
                pods: Vec::new(),
                now: 1_000,
                events: Vec::new(),
                suffixes: Box::new(counter()),
                ready: true,
                grace: 1,
                double_sync: false,
                max_pods_seen: 0,
                min_available_seen: usize::MAX,
            }
        }

        fn t(&self) -> Timestamp {
            ts(self.now)
        }

        fn min_ready(&self) -> i32 {
            self.d.spec.min_ready_seconds.unwrap_or(0)
        }

        fn available(&self) -> usize {
            self.pods
                .iter()
                .filter(|p| pods::is_active(p) && pods::is_available(p, self.min_ready(), self.t()))
                .count()
        }

        fn observe(&mut self) {
            self.max_pods_seen = self.max_pods_seen.max(self.pods.len());
            self.min_available_seen = self.min_available_seen.min(self.available());
        }

        /// One deployment sync with its actions applied; the actions returned.
        fn sync_deployment(&mut self) -> Vec<Action> {
            let s = sync(&self.d, &self.rss, &self.pods, self.t());
            self.d.status = Some(s.status.clone());
            self.events
                .extend(s.events.iter().map(|e| e.message.clone()));
            for a in &s.actions {
                match a {
                    Action::CreateChild(Child::ReplicaSet(rs)) => {
                        let mut rs = (**rs).clone();
                        assert!(!self.rss.iter().any(|r| r.metadata.name == rs.metadata.name));
                        rs.metadata.uid = rs.metadata.name.clone();
                        rs.metadata.creation_timestamp = Some(Time(self.t()));
                        rs.metadata.generation = Some(1);
                        self.rss.push(rs);
                    }
                    Action::UpdateChild(Child::ReplicaSet(rs)) => {
                        let cur = self
                            .rss
                            .iter_mut()
                            .find(|r| r.metadata.name == rs.metadata.name)
                            .unwrap();
                        let (status, generation) = (cur.status.clone(), cur.metadata.generation);
                        *cur = (**rs).clone();
                        cur.status = status;
                        cur.metadata.generation = generation.map(|g| g + 1);
                    }
                    Action::DeleteChild { kind, name } => {
                        assert_eq!(*kind, ChildKind::ReplicaSet);
                        let uid = name.clone();
                        self.rss.retain(|r| r.metadata.name.as_ref() != Some(name));
                        self.pods.retain(|p| {
                            crate::controllers::controller_uid(&p.metadata) != Some(&uid)
                        });
                    }
                    Action::SetOwnAnnotations(a) => self
                        .d
                        .metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .extend(a.clone()),
                    other => panic!("a deployment does not {other:?}"),
                }
            }
            s.actions
        }

        /// Every ReplicaSet synced once, its actions applied; true if any acted.
        fn sync_replicasets(&mut self) -> bool {
            let mut acted = false;
            for i in 0..self.rss.len() {
                let s = replicaset::sync(&self.rss[i], &self.pods, self.t(), &mut self.suffixes);
                self.rss[i].status = Some(s.status);
                acted |= !s.actions.is_empty();
                for a in &s.actions {
                    match a {
                        Action::CreatePod(p) => {
                            let mut p = (**p).clone();
                            p.metadata.uid = p.metadata.name.clone();
                            p.metadata.creation_timestamp = Some(Time(ts(self.now)));
                            set_phase(&mut p, "Running", None);
                            self.pods.push(p);
                        }
                        Action::DeletePod { name, .. } => {
                            let p = self
                                .pods
                                .iter_mut()
                                .find(|p| p.metadata.name.as_ref() == Some(name))
                                .unwrap();
                            p.metadata.deletion_timestamp = Some(Time(ts(self.now)));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                self.observe();
            }
            acted
        }

        /// One tick: terminating pods finish, new pods become ready, the deployment and its
        /// ReplicaSets sync. True if anything acted.
        fn step(&mut self) -> bool {
            self.now += 1;
            let terminating = self.pods.len();
            let gone = ts(self.now - self.grace);
            self.pods.retain(|p| {
                p.metadata
                    .deletion_timestamp
                    .as_ref()
                    .is_none_or(|t| t.0 > gone)
            });
            // Pods still terminating will change the world later.
            let mut changed = terminating != self.pods.len()
                || self
                    .pods
                    .iter()
                    .any(|p| p.metadata.deletion_timestamp.is_some());
            if self.ready {
                let now = self.t();
                for p in self.pods.iter_mut().filter(|p| !pods::is_ready(p)) {
                    set_phase(p, "Running", Some(now));
                    changed = true;
                }
            }
            // Ready pods waiting out minReadySeconds will become available later.
            changed |= self
                .pods
                .iter()
                .any(|p| pods::is_ready(p) && !pods::is_available(p, self.min_ready(), self.t()));
            self.observe();
            let mut acted = !self.sync_deployment().is_empty();
            if self.double_sync {
                acted |= !self.sync_deployment().is_empty();
            }
            self.sync_replicasets() || acted || changed
        }

        /// Steps until nothing changes (at most 200).
        fn settle(&mut self) -> usize {
            for n in 0..200 {
                if !self.step() {
                    return n;
                }
            }
            panic!("no convergence: {:#?}", self.d.status);
        }

        fn rs_by_image(&self, image: &str) -> &ReplicaSet {
            self.rss
                .iter()
                .find(|r| {
                    r.spec
                        .template
                        .as_ref()
                        .unwrap()
                        .spec
                        .as_ref()
                        .unwrap()
                        .containers[0]
                        .image
                        .as_deref()
                        == Some(image)
                })
                .unwrap()
        }

        fn set_image(&mut self, image: &str) {
            self.d.spec.template.spec.as_mut().unwrap().containers[0].image =
                Some(image.to_string());
            self.bump();
        }

        fn bump(&mut self) {
            self.d.metadata.generation = self.d.metadata.generation.map(|g| g + 1);
        }

        fn pods_of(&self, rs: &ReplicaSet) -> usize {
            self.pods
                .iter()
                .filter(|p| {
                    crate::controllers::controller_uid(&p.metadata) == rs.metadata.uid.as_deref()
                })
                .count()
        }

        fn condition(&self, type_: &str) -> (String, String, String) {
            let c = condition(self.d.status.as_ref().unwrap(), type_).unwrap();
            (
                c.status.clone().unwrap(),
                c.reason.clone().unwrap(),
                c.message.clone().unwrap(),
            )
        }
    }

    fn ann<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
        annotation(&rs.metadata, key)
    }

    #[test]
    fn first_sync_creates_the_replicaset_named_by_template_hash() {
        let mut w = World::new(WEB);
        w.d.metadata.annotations =
            Some([(CHANGE_CAUSE_ANNOTATION.to_string(), "first".to_string())].into());
        let actions = w.sync_deployment();
        assert_eq!(actions.len(), 2);
        assert_eq!(annotation(&w.d.metadata, REVISION_ANNOTATION), Some("1"));
        let rs = &w.rss[0];
        let hash = template::template_hash(&w.d.spec.template, None);
        assert_eq!(
            rs.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        let labels = rs.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_TEMPLATE_HASH_LABEL], hash);
        assert_eq!(
            rs.spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL],
            hash
        );
        let tlabels = rs
            .spec
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref();
        assert_eq!(tlabels.unwrap()[POD_TEMPLATE_HASH_LABEL], hash);
        assert_eq!(rs.spec.replicas, Some(10));
        assert_eq!(ann(rs, REVISION_ANNOTATION), Some("1"));
        assert_eq!(ann(rs, DESIRED_REPLICAS_ANNOTATION), Some("10"));
        assert_eq!(ann(rs, MAX_REPLICAS_ANNOTATION), Some("13"));
        assert_eq!(ann(rs, CHANGE_CAUSE_ANNOTATION), Some("first"));
        let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "d-uid")
        );
        assert_eq!(
            w.events,
            [format!("Scaled up replica set web-{hash} from 0 to 10")]
        );
        let (st, reason, msg) = w.condition(PROGRESSING);
        assert_eq!((st.as_str(), reason.as_str()), ("True", NEW_RS_CREATED));
        assert_eq!(msg, format!("Created new replica set \"web-{hash}\""));
        // Nothing available yet.
        let (st, reason, _) = w.condition(AVAILABLE);
        assert_eq!((st.as_str(), reason.as_str()), ("False", MIN_UNAVAILABLE));
        assert_eq!(w.d.status.as_ref().unwrap().observed_generation, Some(1));
    }

    #[test]
    fn rolling_update_keeps_ten_available_and_at_most_thirteen_pods_then_rolls_back() {
        let mut w = World::new(WEB);
        // Deleted pods take 3 steps to stop: they count against maxSurge meanwhile.
        w.grace = 3;
        // A scale-down not yet carried out by the ReplicaSet is not counted twice.
        w.double_sync = true;
        w.settle();
        let v1 = w.rs_by_image("nginx:1.25").clone();
        assert_eq!(w.pods_of(&v1), 10);
        let st = w.d.status.clone().unwrap();
        assert_eq!(
            (
                st.replicas,
                st.updated_replicas,
                st.available_replicas,
                st.unavailable_replicas
            ),
            (Some(10), Some(10), Some(10), Some(0))
        );
        let v1_name = v1.metadata.name.clone().unwrap();
        assert_eq!(
            w.condition(PROGRESSING),
            (
                "True".to_string(),
                NEW_RS_AVAILABLE.to_string(),
                format!("ReplicaSet \"{v1_name}\" has successfully progressed.")
            )
        );
        assert_eq!(
            w.condition(AVAILABLE),
            (
                "True".to_string(),
                MIN_AVAILABLE.to_string(),
                "Deployment has minimum availability.".to_string()
            )
        );
        // Idempotent once settled.
        let before = w.d.status.clone();
        assert_eq!(sync(&w.d, &w.rss, &w.pods, w.t()).actions, vec![]);
        assert_eq!(sync(&w.d, &w.rss, &w.pods, w.t()).status, before.unwrap());

        // Roll to a new image.
        w.events.clear();
        w.max_pods_seen = 0;
        w.min_available_seen = usize::MAX;
        w.set_image("nginx:1.26");
        let mut saw_progressing = false;
        for _ in 0..200 {
            if !w.step() {
                break;
            }
            assert!(w.max_pods_seen <= 13, "{} pods", w.max_pods_seen);
            assert!(
                w.min_available_seen >= 10,
                "{} available",
                w.min_available_seen
            );
            saw_progressing |= w.condition(PROGRESSING).1 == RS_UPDATED;
        }
        assert!(saw_progressing);
        assert_eq!(w.max_pods_seen, 13);
        let v2 = w.rs_by_image("nginx:1.26").clone();
        let v2_name = v2.metadata.name.clone().unwrap();
        assert_ne!(v1_name, v2_name);
        assert_eq!(w.pods_of(&v2), 10);
        assert_eq!(w.rs_by_image("nginx:1.25").spec.replicas, Some(0));
        assert_eq!(w.pods.len(), 10);
        assert_eq!(ann(&v2, REVISION_ANNOTATION), Some("2"));
        assert_eq!(
            w.events[0],
            format!("Scaled up replica set {v2_name} from 0 to 3")
        );
        assert_eq!(
            w.events[1],
            format!("Scaled down replica set {v1_name} from 10 to 7")
        );
        assert_eq!(
            w.events[2],
            format!("Scaled up replica set {v2_name} from 3 to 6")
        );
        let st = w.d.status.clone().unwrap();
        assert_eq!(
            (st.updated_replicas, st.available_replicas),
            (Some(10), Some(10))
        );
        assert_eq!(st.observed_generation, Some(2));
        assert_eq!(w.condition(PROGRESSING).1, NEW_RS_AVAILABLE);
        assert_eq!(sync(&w.d, &w.rss, &w.pods, w.t()).actions, vec![]);

        // Roll back: the template is the first one again (what `kubectl rollout undo` does).
        w.min_available_seen = usize::MAX;
        w.max_pods_seen = 0;
        w.set_image("nginx:1.25");
        w.settle();
        assert!(w.max_pods_seen <= 13 && w.min_available_seen >= 10);
        assert_eq!(w.rss.len(), 2, "the old ReplicaSet is reused");
        let v1 = w.rs_by_image("nginx:1.25");
        assert_eq!(v1.metadata.name.as_deref(), Some(v1_name.as_str()));
        assert_eq!(ann(v1, REVISION_ANNOTATION), Some("3"));
        assert_eq!(ann(v1, REVISION_HISTORY_ANNOTATION), Some("1"));
        assert_eq!(annotation(&w.d.metadata, REVISION_ANNOTATION), Some("3"));
        assert_eq!(w.pods_of(v1), 10);
        assert_eq!(w.rs_by_image("nginx:1.26").spec.replicas, Some(0));
    }

    /// Rolls `yaml` (replicas and strategy varied) to a new image and checks every step.
    fn roll(yaml: &str, min_available: usize, max_pods: usize) {
        let mut w = World::new(yaml);
        w.grace = 2;
        w.settle();
        let replicas = usize::try_from(w.d.spec.replicas.unwrap()).unwrap();
        assert_eq!(w.pods.len(), replicas, "{yaml}");
        w.min_available_seen = usize::MAX;
        w.max_pods_seen = 0;
        w.set_image("nginx:1.26");
        let steps = w.settle();
        assert!(
            w.max_pods_seen <= max_pods,
            "{yaml}: {} pods",
            w.max_pods_seen
        );
        assert!(
            w.min_available_seen >= min_available,
            "{yaml}: {} available",
            w.min_available_seen
        );
        assert_eq!(w.pods_of(w.rs_by_image("nginx:1.26")), replicas, "{yaml}");
        assert_eq!(w.pods.len(), replicas, "{yaml}");
        assert_eq!(w.rs_by_image("nginx:1.25").spec.replicas, Some(0), "{yaml}");
        assert_eq!(w.condition(PROGRESSING).1, NEW_RS_AVAILABLE, "{yaml}");
        assert_eq!(sync(&w.d, &w.rss, &w.pods, w.t()).actions, vec![], "{yaml}");
        if w.min_ready() > 0 {
            // Each batch waits out minReadySeconds.
            assert!(
                steps > 5 * usize::try_from(w.min_ready()).unwrap(),
                "{yaml}: {steps} steps"
            );
        }
    }

    #[test]
    fn rolling_updates_stay_within_surge_and_unavailability() {
        let strategy = "{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}";
        for (replicas, with, min_ready, min_available, max_pods) in [
            (
                10,
                "{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}",
                0,
                10,
                13,
            ),
            (
                10,
                "{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}",
                4,
                10,
                13,
            ),
            // The defaults: 25% surge rounds up, 25% unavailable down.
            (4, "{type: RollingUpdate}", 0, 3, 5),
            (
                10,
                "{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 2}}",
                0,
                8,
                10,
            ),
            (
                3,
                "{type: RollingUpdate, rollingUpdate: {maxSurge: '50%', maxUnavailable: '50%'}}",
                0,
                2,
                5,
            ),
            (
                1,
                "{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: '10%'}}",
                0,
                0,
                1,
            ),
        ] {
            let yaml = WEB
                .replace(
                    "replicas: 10",
                    &format!("replicas: {replicas}\n  minReadySeconds: {min_ready}"),
                )
                .replace(strategy, with);
            roll(&yaml, min_available, max_pods);
        }
    }

    #[test]
    fn pods_that_never_get_ready_hold_the_rollout_until_the_deadline() {
        let mut w = World::new(WEB);
        w.settle();
        w.ready = false;
        w.d.spec.progress_deadline_seconds = Some(60);
        w.set_image("broken:1");
        w.settle();
        // 3 surge pods that never become ready; the old ones stay.
        let v1 = w.rs_by_image("nginx:1.25").clone();
        assert_eq!(v1.spec.replicas, Some(10));
        assert_eq!(w.rs_by_image("broken:1").spec.replicas, Some(3));
        let s = sync(&w.d, &w.rss, &w.pods, w.t());
        assert!(
            s.requeue_after
                .is_some_and(|d| d <= Duration::from_secs(61)),
            "{s:?}"
        );
        w.now += 61;
        w.step();
        let (st, reason, msg) = w.condition(PROGRESSING);
        assert_eq!((st.as_str(), reason.as_str()), ("False", TIMED_OUT));
        assert!(msg.ends_with("has timed out progressing."), "{msg}");
        // Available stays True: the old pods are all there.
        assert_eq!(w.condition(AVAILABLE).0, "True");
    }

    #[test]
    fn recreate_waits_for_old_pods_to_be_gone() {
        let mut w = World::new(&WEB.replace(
            "{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}",
            "{type: Recreate}",
        ));
        w.settle();
        w.set_image("nginx:1.26");
        w.step();
        assert_eq!(w.rss.len(), 1, "no new ReplicaSet while old pods run");
        assert_eq!(w.rss[0].spec.replicas, Some(0));
        let mut mixed = false;
        for _ in 0..50 {
            if !w.step() {
                break;
            }
            let images: BTreeMap<_, _> = w
                .pods
                .iter()
                .map(|p| (p.spec.as_ref().unwrap().containers[0].image.clone(), ()))
                .collect();
            mixed |= images.len() > 1;
        }
        assert!(!mixed, "old and new pods never run together");
        assert_eq!(w.pods_of(w.rs_by_image("nginx:1.26")), 10);
        assert_eq!(w.condition(PROGRESSING).1, NEW_RS_AVAILABLE);
    }

    #[test]
    fn revision_history_limit_deletes_the_oldest_empty_replicasets() {
        let mut w =
            World::new(&WEB.replace("replicas: 10", "replicas: 2\n  revisionHistoryLimit: 1"));
        w.settle();
        for image in ["v2", "v3", "v4"] {
            w.set_image(image);
            w.settle();
        }
        let mut left: Vec<&str> = w
            .rss
            .iter()
            .map(|r| {
                r.spec
                    .template
                    .as_ref()
                    .unwrap()
                    .spec
                    .as_ref()
                    .unwrap()
                    .containers[0]
                    .image
                    .as_deref()
                    .unwrap()
            })
            .collect();
        left.sort();
        assert_eq!(left, ["v3", "v4"]);
        assert_eq!(ann(w.rs_by_image("v4"), REVISION_ANNOTATION), Some("4"));
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        let mut w = World::new(WEB);
        w.settle();
        w.ready = false;
        w.set_image("nginx:1.26");
        w.step();
        w.step();
        // Old 10, new 3 (not ready): scale the deployment to 20.
        assert_eq!(w.rs_by_image("nginx:1.26").spec.replicas, Some(3));
        w.d.spec.replicas = Some(20);
        w.bump();
        w.events.clear();
        w.sync_deployment();
        // maxSurge stays 3: 23 allowed, 13 there, 10 to add in proportion 10:3.
        let old = w.rs_by_image("nginx:1.25");
        let new = w.rs_by_image("nginx:1.26");
        assert_eq!((old.spec.replicas, new.spec.replicas), (Some(18), Some(5)));
        assert_eq!(ann(old, DESIRED_REPLICAS_ANNOTATION), Some("20"));
        assert_eq!(ann(new, MAX_REPLICAS_ANNOTATION), Some("23"));
        assert_eq!(w.events.len(), 2);
        w.ready = true;
        w.settle();
        assert_eq!(w.pods_of(w.rs_by_image("nginx:1.26")), 20);
        assert_eq!(w.pods.len(), 20);
    }

    #[test]
    fn paused_deployments_scale_but_do_not_roll() {
        let mut w = World::new(WEB);
        w.settle();
        w.d.spec.paused = Some(true);
        w.set_image("nginx:1.26");
        w.settle();
        assert_eq!(w.rss.len(), 1);
        let (st, reason, msg) = w.condition(PROGRESSING);
        assert_eq!(
            (st.as_str(), reason.as_str(), msg.as_str()),
            ("Unknown", PAUSED, "Deployment is paused")
        );
        w.d.spec.replicas = Some(4);
        w.bump();
        w.settle();
        assert_eq!(w.rss[0].spec.replicas, Some(4));
        assert_eq!(w.pods.len(), 4);
        assert!(
            w.events
                .iter()
                .any(|e| e.starts_with("Scaled down replica set") && e.ends_with("from 10 to 4"))
        );
        w.d.spec.paused = None;
        w.settle();
        assert_eq!(w.pods_of(w.rs_by_image("nginx:1.26")), 4);
        assert_eq!(w.condition(PROGRESSING).1, NEW_RS_AVAILABLE);
    }

    #[test]
    fn rollout_restart_makes_a_new_replicaset() {
        let mut w = World::new(WEB);
        w.settle();
        w.d.spec.template.metadata.as_mut().unwrap().annotations = Some(
            [(
                "kubectl.kubernetes.io/restartedAt".to_string(),
                "2026-12-07T11:00:00Z".to_string(),
            )]
            .into(),
        );
        w.bump();
        w.settle();
        assert_eq!(w.rss.len(), 2);
        assert_eq!(w.pods.len(), 10);
        assert!(w.pods.iter().all(|p| {
            p.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"))
        }));
    }

    #[test]
    fn orphaned_replicasets_are_adopted_and_foreign_names_avoided() {
        let mut w = World::new(WEB);
        w.settle();
        // The engine restarted without owner references: the deployment adopts.
        let name = w.rss[0].metadata.name.clone();
        w.rss[0].metadata.owner_references = None;
        let s = sync(&w.d, &w.rss, &w.pods, w.t());
        let Some(Action::UpdateChild(Child::ReplicaSet(rs))) = s.actions.first() else {
            panic!("{:?}", s.actions)
        };
        assert_eq!(rs.metadata.name, name);
        assert_eq!(
            crate::controllers::controller_uid(&rs.metadata),
            Some("d-uid")
        );
        // Another deployment's ReplicaSet holds the name the new template would get.
        let mut w = World::new(WEB);
        let mut foreign = ReplicaSet::default();
        foreign.metadata.name = Some(format!(
            "web-{}",
            template::template_hash(&w.d.spec.template, None)
        ));
        w.rss.push(foreign);
        w.sync_deployment();
        assert_eq!(w.d.status.as_ref().unwrap().collision_count, Some(1));
        assert_eq!(
            w.rss[1].metadata.name,
            Some(format!(
                "web-{}",
                template::template_hash(&w.d.spec.template, Some(1))
            ))
        );
    }

    #[test]
    fn defaults_and_validation() {
        let d = deployment(
            "{metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}}",
        );
        assert_eq!(d.spec.replicas, Some(1));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(d.spec.progress_deadline_seconds, Some(600));
        let ru = d
            .spec
            .strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(ru.max_unavailable, Some(IntOrString::String("25%".into())));
        assert_eq!(validate(&d), vec![]);
        let base = "{metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}, X}}";
        for (extra, want) in [
            (
                "strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            ),
            (
                "strategy: {rollingUpdate: {maxUnavailable: '150%'}}",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
            ),
            (
                "strategy: {rollingUpdate: {maxSurge: 'x'}}",
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string",
            ),
            (
                "strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}",
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
            ),
            (
                "strategy: {type: Blue}",
                "spec.strategy.type: Unsupported value: \"Blue\": supported values: \"Recreate\", \"RollingUpdate\"",
            ),
            (
                "minReadySeconds: 700",
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
            ),
            (
                "revisionHistoryLimit: -1",
                "spec.revisionHistoryLimit: Invalid value: -1",
            ),
            ("replicas: -2", "spec.replicas: Invalid value: -2"),
        ] {
            let errs = validate(&deployment(&base.replace('X', extra)));
            assert!(
                errs.iter().any(|e| e.to_string().starts_with(want)),
                "{extra}: {errs:#?}"
            );
        }
        let recreate = deployment(
            "{metadata: {name: web}, spec: {strategy: {type: Recreate}, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}}",
        );
        assert_eq!(
            recreate.spec.strategy.as_ref().unwrap().rolling_update,
            None
        );
        assert_eq!(validate(&recreate), vec![]);
    }

    #[test]
    fn an_empty_selector_selects_nothing_and_says_so() {
        let mut d = deployment(WEB);
        d.spec.selector = LabelSelector::default();
        let s = sync(&d, &[], &[], ts(1));
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.events[0].reason, ControllerReason::SelectingAll);
        assert_eq!(s.status.observed_generation, Some(1));
    }
}
