//! The DaemonSet controller for this node as a pure decision (kube-controller-manager's
//! `pkg/controller/daemon`: `daemon_controller.go`, `update.go`, `util/daemonset_util.go`),
//! with the API server's DaemonSet defaulting and validation: one pod on the node when the
//! template's nodeSelector and required node affinity match its labels, none when they stop
//! matching, a failed pod replaced with back-off, and template changes rolled out
//! (RollingUpdate, with or without surge) or left to the user (OnDelete).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::claim::{self, Claim};
use super::template::{self, JsonValue};
use super::{
    Action, Child, ChildKind, ControllerEvent, ControllerReason, NodeInfo, Suffixes, Sync, pods,
};
use crate::field::{FieldError, FieldPath};
use crate::node_affinity::{self, NodeFacts};
use crate::selector::{self, Selector};

/// The label with the hash of the template a pod was made from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// The label with the DaemonSet's template generation when the pod was made (deprecated
/// upstream, still set).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Where the API server keeps a DaemonSet's template generation.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// nodelet's own bookkeeping on a DaemonSet pod: how many pods failed in a row before it
/// (the controller keeps this back-off in memory; kept on the pod it survives a restart).
pub const FAILED_STREAK_ANNOTATION: &str = "nodelet.io/daemonset-failed-pods";

/// The failed-pod back-off: 1 s doubling to 15 min, reset after 30 min without a failure.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// The API server's defaults (`SetDefaults_DaemonSet`): RollingUpdate with maxUnavailable 1
/// and maxSurge 0, revisionHistoryLimit 10, and the pod defaults on the template.
pub fn defaults(ds: &mut DaemonSet) {
    let spec = &mut ds.spec;
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    if strategy.type_.as_deref().is_none_or(str::is_empty) {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    template::default_template(&mut spec.template);
}

/// The API server's validation of a (defaulted) DaemonSet; empty when valid.
pub fn validate(ds: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    template::validate_name(&mut errs, &ds.metadata);
    let spec = &ds.spec;
    let p = FieldPath::new("spec");
    template::validate_selector_and_template(
        &mut errs,
        "DaemonSet",
        &spec.selector,
        Some(&spec.template),
    );
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
    let sp = p.child("updateStrategy");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref().unwrap_or("RollingUpdate") {
        "OnDelete" => {}
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(&sp.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                for (name, v) in [
                    ("maxUnavailable", &ru.max_unavailable),
                    ("maxSurge", &ru.max_surge),
                ] {
                    if let Some(v) = v {
                        template::validate_int_or_percent(&mut errs, &rp.child(name), v, true);
                    }
                }
                let unavailable = !template::is_zero(ru.max_unavailable.as_ref());
                let surge = !template::is_zero(ru.max_surge.as_ref());
                if unavailable && surge {
                    errs.push(FieldError::invalid(
                        &rp.child("maxSurge"),
                        JsonValue::of(&ru.max_surge),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !unavailable && !surge {
                    errs.push(FieldError::invalid(
                        &rp.child("maxUnavailable"),
                        JsonValue::of(&ru.max_unavailable),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs
}

/// The tolerations every DaemonSet pod gets (`AddOrUpdateDaemonPodTolerations`), so node
/// conditions do not evict or block it.
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(format!("node.kubernetes.io/{key}")),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        ..Toleration::default()
    };
    let mut out = vec![
        t("not-ready", "NoExecute"),
        t("unreachable", "NoExecute"),
        t("disk-pressure", "NoSchedule"),
        t("memory-pressure", "NoSchedule"),
        t("pid-pressure", "NoSchedule"),
        t("unschedulable", "NoSchedule"),
    ];
    if host_network {
        out.push(t("network-unavailable", "NoSchedule"));
    }
    out
}

/// Adds `tol` to the spec's tolerations, replacing one with the same key, operator, value
/// and effect (`AddOrUpdateTolerationInPodSpec`).
fn add_or_update_toleration(spec: &mut PodSpec, tol: Toleration) {
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    let same = |t: &Toleration| {
        t.key == tol.key
            && t.operator == tol.operator
            && t.value == tol.value
            && t.effect == tol.effect
    };
    match list.iter_mut().find(|t| same(t)) {
        Some(existing) => *existing = tol,
        None => list.push(tol),
    }
}

/// Pins the pod to `node` (`ReplaceDaemonSetPodNodeNameNodeAffinity`): the required node
/// affinity becomes `matchFields metadata.name In [node]`, replacing the template's terms
/// (they were checked against the node before).
fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".to_string(),
            operator: "In".to_string(),
            values: Some(vec![node.to_string()]),
        }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    match na
        .required_during_scheduling_ignored_during_execution
        .as_mut()
    {
        Some(sel) => sel.node_selector_terms = vec![term],
        None => {
            na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
                node_selector_terms: vec![term],
            })
        }
    }
}

/// The node a DaemonSet pod is for (`GetTargetNodeName`): `spec.nodeName`, else the
/// `metadata.name In [node]` field of its required affinity.
fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            let values = r.values.as_deref().unwrap_or_default();
            (r.key == "metadata.name" && r.operator == "In" && values.len() == 1)
                .then(|| values[0].as_str())
        })
    })
}

fn owner_ref(ds: &DaemonSet) -> OwnerReference {
    super::controller_ref(
        "apps/v1",
        "DaemonSet",
        ds.metadata.name.as_deref().unwrap_or_default(),
        ds.metadata.uid.as_deref().unwrap_or_default(),
    )
}

fn hash_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
}

/// Oldest first, scheduled pods before unscheduled ones, then by name
/// (`podByCreationTimestampAndPhase`).
fn oldest_first(a: &&Pod, b: &&Pod) -> std::cmp::Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| {
            let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// When a pod failed: its containers' last finish, else its latest condition change, else
/// its creation.
fn failed_at(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let finished = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let changed = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
        .max();
    finished
        .or(changed)
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn streak(pod: &Pod) -> u32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FAILED_STREAK_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The back-off before a failed pod with `streak` failures before it may be replaced.
fn backoff(streak: u32) -> Duration {
    if streak == 0 {
        return Duration::ZERO;
    }
    BACKOFF_INITIAL
        .checked_mul(1u32.checked_shl(streak - 1).unwrap_or(u32::MAX))
        .unwrap_or(BACKOFF_MAX)
        .min(BACKOFF_MAX)
}

/// One sync's working state.
struct Run<'a> {
    ds: &'a DaemonSet,
    node: &'a NodeInfo,
    now: Timestamp,
    hash: String,
    taken: BTreeSet<String>,
    actions: Vec<Action>,
    events: Vec<ControllerEvent>,
    requeue: Option<Duration>,
}

impl Run<'_> {
    fn requeue_in(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    fn min_ready(&self) -> i32 {
        self.ds.spec.min_ready_seconds.unwrap_or(0)
    }

    fn delete(&mut self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.actions.push(Action::DeletePod {
            name: name.clone(),
            grace: None,
        });
        self.events.push(ControllerEvent {
            reason: ControllerReason::SuccessfulDelete,
            message: format!("Deleted pod: {name}"),
        });
    }

    /// A pod of the current template for this node (`CreatePodTemplate` +
    /// `ReplaceDaemonSetPodNodeNameNodeAffinity`), carrying the failure streak.
    fn create(&mut self, streak: u32, suffixes: &mut dyn Suffixes) {
        let ds = self.ds;
        let base = ds.metadata.name.clone().unwrap_or_default();
        let name = template::generated_name(&base, &self.taken, suffixes);
        self.taken.insert(name.clone());
        let mut tmpl = ds.spec.template.clone();
        let meta = tmpl.metadata.get_or_insert_with(Default::default);
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(REVISION_HASH_LABEL.to_string(), self.hash.clone());
        // The API server's template generation, else the object's generation (nodelet's
        // store bumps it on every spec change).
        let generation = ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
            .and_then(|g| g.parse::<i64>().ok())
            .or(ds.metadata.generation);
        if let Some(g) = generation {
            labels.insert(TEMPLATE_GENERATION_LABEL.to_string(), g.to_string());
        }
        if streak > 0 {
            meta.annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(FAILED_STREAK_ANNOTATION.to_string(), streak.to_string());
        }
        let spec = tmpl.spec.get_or_insert_with(PodSpec::default);
        for t in daemon_tolerations(spec.host_network == Some(true)) {
            add_or_update_toleration(spec, t);
        }
        pin_to_node(spec, &self.node.name);
        let pod = template::pod_from_template(
            &tmpl,
            &base,
            name.clone(),
            ds.metadata.namespace.clone(),
            owner_ref(ds),
        );
        self.actions.push(Action::CreatePod(Box::new(pod)));
        self.events.push(ControllerEvent {
            reason: ControllerReason::SuccessfulCreate,
            message: format!("Created pod: {name}"),
        });
    }

    fn surge(&self) -> bool {
        self.rolling()
            .is_some_and(|ru| !template::is_zero(ru.max_surge.as_ref()))
    }

    fn rolling(&self) -> Option<&RollingUpdateDaemonSet> {
        let s = self.ds.spec.update_strategy.as_ref();
        match s
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
        {
            "RollingUpdate" => s.and_then(|s| s.rolling_update.as_ref()),
            _ => None,
        }
    }

    /// `podsShouldBeOnNode` + `syncNodes` for this node.
    fn manage(&mut self, mine: &[&Pod], should_run: bool, suffixes: &mut dyn Suffixes) {
        if !should_run {
            for p in mine
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
            {
                self.delete(p);
            }
            return;
        }
        if mine.is_empty() {
            self.create(0, suffixes);
            return;
        }
        let mut running: Vec<&Pod> = Vec::new();
        for &p in mine
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
                Some("Failed") => self.replace_failed(p, suffixes),
                // A finished pod is deleted and replaced (no back-off: it did not fail).
                Some("Succeeded") => {
                    self.delete(p);
                    self.create(0, suffixes);
                }
                _ => running.push(p),
            }
        }
        if running.len() <= 1 {
            return;
        }
        running.sort_by(oldest_first);
        if !self.surge() {
            // More than one: keep the oldest.
            for p in &running[1..] {
                self.delete(p);
            }
            return;
        }
        // Surge: keep the oldest pod of the current template and, until it is available,
        // the oldest other one; delete the rest.
        let current = running
            .iter()
            .copied()
            .find(|p| hash_of(p) == Some(self.hash.as_str()));
        let keep_old = match current {
            Some(c) if pods::is_available(c, self.min_ready(), self.now) => None,
            _ => running
                .iter()
                .copied()
                .find(|p| hash_of(p) != Some(self.hash.as_str())),
        };
        for p in running {
            let keep = current.is_some_and(|c| std::ptr::eq(c, p))
                || keep_old.is_some_and(|o| std::ptr::eq(o, p));
            if !keep {
                self.delete(p);
            }
        }
    }

    /// A failed pod: deleted and replaced once its back-off has passed (the controller's
    /// `failedPodsBackoff`, 1 s doubling to 15 min per node).
    fn replace_failed(&mut self, p: &Pod, suffixes: &mut dyn Suffixes) {
        let streak = streak(p);
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(self.now, |t| t.0);
        let wait = SignedDuration::try_from(backoff(streak)).unwrap_or(SignedDuration::MAX);
        let allowed = created.checked_add(wait).unwrap_or(Timestamp::MAX);
        if allowed > self.now {
            let left = Duration::try_from(self.now.duration_until(allowed)).unwrap_or_default();
            self.requeue_in(left);
            return;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        let namespace = self.ds.metadata.namespace.clone().unwrap_or_default();
        self.events.push(ControllerEvent {
            reason: ControllerReason::FailedDaemonPod,
            message: format!(
                "Found failed daemon pod {namespace}/{name} on node {}, will try to kill it",
                self.node.name
            ),
        });
        self.delete(p);
        // The streak starts over when the pod ran for longer than twice the longest delay.
        let ran = failed_at(p).map(|f| created.duration_until(f));
        let reset =
            ran.is_some_and(|r| r > SignedDuration::try_from(2 * BACKOFF_MAX).unwrap_or_default());
        self.create(if reset { 1 } else { streak.saturating_add(1) }, suffixes);
    }

    /// `rollingUpdate` for this node: the pod of an old template is deleted when the
    /// unavailability budget allows (maxSurge 0; the manage step creates its successor once
    /// it is gone), or a new pod is created beside it (maxSurge > 0; the old one goes when
    /// the new one is available).
    fn rolling_update(&mut self, mine: &[&Pod], suffixes: &mut dyn Suffixes) {
        if self.rolling().is_none() {
            return;
        }
        let live: Vec<&Pod> = mine
            .iter()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && !pods::is_finished(p))
            .collect();
        let (new, old): (Vec<&Pod>, Vec<&Pod>) = live
            .iter()
            .partition(|p| hash_of(p) == Some(self.hash.as_str()));
        if new.len() > 1 || old.len() > 1 {
            // The manage step is cleaning up this node.
            return;
        }
        let (Some(old), None) = (old.first(), new.first()) else {
            return;
        };
        if self.surge() {
            self.create(0, suffixes);
        } else {
            // On one node desiredNumberScheduled is 1 and maxUnavailable resolves to at
            // least 1 (rounded up against 1, and 1 when both fenceposts are 0): the pod of
            // the old template can always go.
            self.delete(old);
        }
    }
}

/// What a revision stores (`getPatch`): a strategic merge patch replacing the template —
/// what `kubectl rollout undo daemonset` sends back.
pub fn revision_data(ds: &DaemonSet) -> serde_json::Value {
    let mut t = serde_json::to_value(&ds.spec.template).unwrap_or_default();
    if let Some(o) = t.as_object_mut() {
        o.insert("$patch".into(), "replace".into());
    }
    serde_json::json!({"spec": {"template": t}})
}

/// Whether revision `r` holds the DaemonSet's current template (`Match`), compared as the
/// API server's semantic equality (empty maps and lists are absent).
fn holds_template(r: &ControllerRevision, ds: &DaemonSet) -> bool {
    fn semantic(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null => None,
            Value::Object(m) => {
                let m: serde_json::Map<String, Value> = m
                    .into_iter()
                    .filter(|(k, _)| k != "$patch")
                    .filter_map(|(k, v)| semantic(v).map(|v| (k, v)))
                    .collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            Value::Array(a) => (!a.is_empty()).then_some(Value::Array(a)),
            v => Some(v),
        }
    }
    let stored = r
        .data
        .0
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let current = serde_json::to_value(&ds.spec.template).unwrap_or_default();
    semantic(stored) == semantic(current)
}

/// The DaemonSet's history (`constructHistory` then `cleanupHistory`): the
/// ControllerRevision of its current template — `<ds>-<hash>`, labelled with the template's
/// labels and `controller-revision-hash`, revision one above every other — made if missing,
/// or given the highest revision again when an old template comes back (a rollback); then
/// old revisions beyond `revisionHistoryLimit` (10) that no live pod of the DaemonSet runs
/// deleted, oldest first. `revisions`: every ControllerRevision of the namespace; `pods`:
/// the DaemonSet's pods.
///
/// A new revision's name taken by a ControllerRevision that is not this template's (another
/// object's, or a hash collision) raises `collisionCount` until the name is free, as the
/// controller does on `AlreadyExists` (here in one go: every revision of the namespace is
/// at hand); the caller hands the count to [`sync`] through the status, so the pods are
/// labelled with the same hash.
pub fn history(ds: &DaemonSet, revisions: &[ControllerRevision], pods: &[Pod]) -> History {
    let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let mut out = History {
        actions: vec![],
        collision_count,
    };
    let Some(uid) = ds.metadata.uid.as_deref() else {
        return out;
    };
    if ds.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let base = ds.metadata.name.clone().unwrap_or_default();
    let name_of = |hash: &str| format!("{}-{hash}", truncate(&base, 223));
    let mut hash = template::template_hash(&ds.spec.template, out.collision_count);
    let owned: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| super::controller_uid(&r.metadata) == Some(uid))
        .collect();
    let (current, old): (Vec<&ControllerRevision>, Vec<&ControllerRevision>) =
        owned.iter().partition(|r| holds_template(r, ds));
    let next = old.iter().filter_map(|r| r.revision).max().unwrap_or(0) + 1;
    let mut actions = vec![];
    let cur = current
        .iter()
        .max_by_key(|r| (r.revision, r.metadata.name.clone()));
    match cur {
        None => {
            // After a hundred collisions the name is used as is: its creation fails and
            // the shell syncs again.
            for _ in 0..100 {
                let name = name_of(&hash);
                if !revisions
                    .iter()
                    .any(|r| r.metadata.name.as_deref() == Some(name.as_str()))
                {
                    break;
                }
                let c = out.collision_count.get_or_insert(0);
                *c = c.saturating_add(1);
                hash = template::template_hash(&ds.spec.template, out.collision_count);
            }
            let mut labels = ds
                .spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            labels.insert(REVISION_HASH_LABEL.to_string(), hash.clone());
            let annotations = ds.metadata.annotations.clone().filter(|a| !a.is_empty());
            actions.push(Action::CreateChild(Child::ControllerRevision(Box::new(
                ControllerRevision {
                    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                        name: Some(name_of(&hash)),
                        namespace: ds.metadata.namespace.clone(),
                        labels: Some(labels),
                        annotations,
                        owner_references: Some(vec![owner_ref(ds)]),
                        ..Default::default()
                    },
                    data: k8s_openapi::apimachinery::pkg::runtime::RawExtension(revision_data(ds)),
                    revision: Some(next),
                },
            ))));
        }
        Some(cur) if cur.revision.unwrap_or(0) < next => {
            let mut r = (**cur).clone();
            r.revision = Some(next);
            actions.push(Action::UpdateChild(Child::ControllerRevision(Box::new(r))));
        }
        Some(_) => {}
    }
    // Old revisions beyond the limit, oldest first, unless a live pod still runs one.
    let limit = usize::try_from(ds.spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
    let mut old: Vec<&ControllerRevision> = owned
        .iter()
        .copied()
        .filter(|r| cur.is_none_or(|c| c.metadata.name != r.metadata.name))
        .collect();
    if old.len() > limit {
        let live: BTreeSet<&str> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && !pods::is_finished(p))
            .filter(|p| super::controller_uid(&p.metadata) == Some(uid))
            .filter_map(hash_of)
            .collect();
        old.sort_by_key(|r| r.revision.unwrap_or(0));
        let mut excess = old.len() - limit;
        for r in old {
            if excess == 0 {
                break;
            }
            let running = r
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_HASH_LABEL))
                .is_some_and(|h| live.contains(h.as_str()));
            if running {
                continue;
            }
            actions.push(Action::DeleteChild {
                kind: ChildKind::ControllerRevision,
                name: r.metadata.name.clone().unwrap_or_default(),
            });
            excess -= 1;
        }
    }
    out.actions = actions;
    out
}

/// What [`history`] decided: the revisions' actions and the `collisionCount` the status
/// must carry from now on.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub actions: Vec<Action>,
    pub collision_count: Option<i32>,
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// One sync of `ds` for `node` (`syncDaemonSet`). `pods` is every pod of the namespace as it
/// is now. The status describes the pods found (before the actions), as the controller's
/// `updateDaemonSetStatus` does.
pub fn sync(
    ds: &DaemonSet,
    pods: &[Pod],
    node: &NodeInfo,
    now: Timestamp,
    suffixes: &mut dyn Suffixes,
) -> Sync<DaemonSetStatus> {
    let old = ds.status.clone().unwrap_or_default();
    let mut out = Sync {
        actions: Vec::new(),
        status: DaemonSetStatus {
            observed_generation: ds.metadata.generation.or(old.observed_generation),
            ..old.clone()
        },
        events: Vec::new(),
        requeue_after: None,
    };
    if selector::label_selector_is_empty(&ds.spec.selector) {
        out.events.push(ControllerEvent {
            reason: ControllerReason::SelectingAll,
            message: "This daemon set is selecting all pods. A non-empty selector is required."
                .to_string(),
        });
        return out;
    }
    let Ok(sel) = Selector::from_label_selector(&ds.spec.selector) else {
        return out;
    };
    let owner = owner_ref(ds);
    let deleting = ds.metadata.deletion_timestamp.is_some();
    let mut mine: Vec<&Pod> = Vec::new();
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let labels = p.metadata.labels.clone().unwrap_or_default();
        match claim::claim(&p.metadata, &sel, &owner, deleting) {
            Claim::Keep => mine.push(p),
            Claim::Adopt => {
                out.actions.push(Action::SetPodMetadata {
                    name,
                    labels,
                    owner_references: claim::adopted_refs(&p.metadata, &owner),
                });
                mine.push(p);
            }
            Claim::Release => out.actions.push(Action::SetPodMetadata {
                name,
                labels,
                owner_references: claim::released_refs(&p.metadata, &owner),
            }),
            Claim::Ignore => {}
        }
    }
    // This node's pods: those meant for it (or for no node in particular).
    mine.retain(|p| target_node(p).is_none_or(|n| n == node.name));
    let should_run = node_affinity::matches(
        &ds.spec.template.spec.clone().unwrap_or_default(),
        NodeFacts {
            name: &node.name,
            labels: &node.labels,
        },
    );
    let hash = template::template_hash(&ds.spec.template, old.collision_count);
    let mut run = Run {
        ds,
        node,
        now,
        hash,
        taken: pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect(),
        actions: Vec::new(),
        events: Vec::new(),
        requeue: None,
    };
    if !deleting {
        run.manage(&mine, should_run, suffixes);
        if run.actions.is_empty() && should_run {
            run.rolling_update(&mine, suffixes);
        }
    }

    let status = &mut out.status;
    status.desired_number_scheduled = i32::from(should_run);
    let scheduled = !mine.is_empty();
    status.current_number_scheduled = i32::from(should_run && scheduled);
    status.number_misscheduled = i32::from(!should_run && scheduled);
    let mut sorted = mine.clone();
    sorted.sort_by(oldest_first);
    let first = sorted.first().filter(|_| should_run);
    let ready = first.is_some_and(|p| pods::is_ready(p));
    let available = first.is_some_and(|p| pods::is_available(p, run.min_ready(), now));
    status.number_ready = i32::from(ready);
    status.number_available = Some(i32::from(available));
    status.number_unavailable = Some(status.desired_number_scheduled - i32::from(available));
    status.updated_number_scheduled = Some(i32::from(
        first.is_some_and(|p| hash_of(p) == Some(run.hash.as_str())),
    ));
    if let Some(wait) = pods::next_available_in(first.copied(), run.min_ready(), now) {
        run.requeue_in(wait);
    }
    out.actions.extend(run.actions);
    out.events.extend(run.events);
    out.requeue_after = run.requeue;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use crate::controllers::replicaset::tests::{apply, counter, set_phase, ts};

    const DS: &str = "
metadata: {name: agent, namespace: default, uid: ds-uid, generation: 1}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {disktype: ssd}
      containers: [{name: agent, image: 'busybox:1'}]
";

    fn daemonset(yaml: &str) -> DaemonSet {
        let mut ds: DaemonSet =
            serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap())
                .unwrap();
        defaults(&mut ds);
        ds
    }

    fn node(labels: &[(&str, &str)]) -> NodeInfo {
        NodeInfo {
            name: "node1".to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::CreatePod(p) => format!("create {}", p.metadata.name.clone().unwrap()),
                Action::DeletePod { name, .. } => format!("delete {name}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn created(actions: &[Action]) -> &Pod {
        actions
            .iter()
            .find_map(|a| match a {
                Action::CreatePod(p) => Some(&**p),
                _ => None,
            })
            .unwrap()
    }

    fn revision_of(a: &Action) -> ControllerRevision {
        match a {
            Action::CreateChild(Child::ControllerRevision(r))
            | Action::UpdateChild(Child::ControllerRevision(r)) => (**r).clone(),
            other => panic!("not a revision: {other:?}"),
        }
    }

    #[test]
    fn history_as_the_controller_keeps_it() {
        let v1 = daemonset(DS);
        // The first revision: `<ds>-<hash>`, the template's labels and the hash, the
        // template as a replacing patch.
        let a = history(&v1, &[], &[]).actions;
        assert_eq!(a.len(), 1);
        let r1 = revision_of(&a[0]);
        assert!(matches!(a[0], Action::CreateChild(_)));
        let hash = template::template_hash(&v1.spec.template, None);
        assert_eq!(r1.metadata.name, Some(format!("agent-{hash}")));
        assert_eq!(r1.revision, Some(1));
        let labels = r1.metadata.labels.clone().unwrap();
        assert_eq!(labels["app"], "agent");
        assert_eq!(labels[REVISION_HASH_LABEL], hash);
        assert_eq!(r1.data.0["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            r1.data.0["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox:1"
        );
        assert_eq!(super::super::controller_uid(&r1.metadata), Some("ds-uid"));
        // Made: nothing more to do.
        assert_eq!(history(&v1, std::slice::from_ref(&r1), &[]).actions, vec![]);
        // A new template: revision 2.
        let v2 = daemonset(&DS.replace("busybox:1", "busybox:2"));
        let a = history(&v2, std::slice::from_ref(&r1), &[]).actions;
        let r2 = revision_of(&a[0]);
        assert_eq!(r2.revision, Some(2));
        assert_ne!(r2.metadata.name, r1.metadata.name);
        // Back to the first template (rollout undo): its revision becomes 3.
        let a = history(&v1, &[r1.clone(), r2.clone()], &[]).actions;
        assert!(matches!(a[..], [Action::UpdateChild(_)]), "{a:?}");
        let again = revision_of(&a[0]);
        assert_eq!(
            (again.metadata.name, again.revision),
            (r1.metadata.name.clone(), Some(3))
        );
        // Someone else's revision is not ours: its name is taken, so the hash moves on with
        // collisionCount 1 (and the pods get that hash: sync reads the count).
        let mut foreign = r1.clone();
        foreign.metadata.owner_references = None;
        let h = history(&v1, &[foreign], &[]);
        assert_eq!(h.collision_count, Some(1));
        assert!(matches!(h.actions[..], [Action::CreateChild(_)]));
        let moved = revision_of(&h.actions[0]);
        let hash1 = template::template_hash(&v1.spec.template, Some(1));
        assert_eq!(moved.metadata.name, Some(format!("agent-{hash1}")));
        assert_eq!(
            moved.metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL],
            hash1
        );
        let mut counted = v1.clone();
        counted.status.get_or_insert_default().collision_count = h.collision_count;
        assert_eq!(
            sync(&counted, &[], &node(&[]), ts(0), &mut counter())
                .status
                .collision_count,
            Some(1)
        );
    }

    #[test]
    fn history_beyond_the_limit_goes_unless_a_pod_runs_it() {
        let limited = DS.replace(
            "spec:\n  selector",
            "spec:\n  revisionHistoryLimit: 1\n  selector",
        );
        let mut revs = vec![];
        for (i, image) in ["busybox:1", "busybox:2", "busybox:3"].iter().enumerate() {
            let ds = daemonset(&limited.replace("busybox:1", image));
            let mut r = revision_of(&history(&ds, &[], &[]).actions[0]);
            r.revision = Some(i64::try_from(i).unwrap() + 1);
            revs.push(r);
        }
        let current = daemonset(&limited.replace("busybox:1", "busybox:4"));
        let hash1 = revs[0].metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL].clone();
        // Two of the three old revisions go, oldest first; a live pod of the DaemonSet still
        // runs revision 1, so revisions 2 and 3 go.
        let mut pod = Pod::default();
        pod.metadata.labels = Some(BTreeMap::from([(REVISION_HASH_LABEL.to_string(), hash1)]));
        pod.metadata.owner_references = Some(vec![owner_ref(&current)]);
        let a = history(&current, &revs, std::slice::from_ref(&pod)).actions;
        assert_eq!(revision_of(&a[0]).revision, Some(4));
        let deleted: Vec<&str> = a[1..]
            .iter()
            .map(|x| match x {
                Action::DeleteChild {
                    kind: ChildKind::ControllerRevision,
                    name,
                } => name.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        let name = |i: usize| revs[i].metadata.name.as_deref().unwrap();
        assert_eq!(deleted, [name(1), name(2)]);
        // Without the pod, the two oldest go.
        let a = history(&current, &revs, &[]).actions;
        assert!(
            matches!(&a[1..], [Action::DeleteChild { name: a, .. }, Action::DeleteChild { name: b, .. }]
                if a == name(0) && b == name(1)),
            "{a:?}"
        );
    }

    #[test]
    fn follows_the_node_label() {
        let ds = daemonset(DS);
        let mut next = counter();
        let mut pods = Vec::new();
        // No label: nothing to run, nothing desired.
        let s = sync(&ds, &pods, &node(&[]), ts(100), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.status.desired_number_scheduled, 0);
        // The label appears: one pod.
        let ssd = node(&[("disktype", "ssd")]);
        let s = sync(&ds, &pods, &ssd, ts(101), &mut next);
        assert_eq!(kinds(&s.actions), ["create agent-p0001"]);
        assert_eq!(s.events[0].message, "Created pod: agent-p0001");
        assert_eq!(s.status.desired_number_scheduled, 1);
        assert_eq!(s.status.current_number_scheduled, 0);
        apply(&mut pods, &s.actions, ts(101), true);
        let s = sync(&ds, &pods, &ssd, ts(102), &mut next);
        assert_eq!(s.actions, vec![], "idempotent");
        let st = &s.status;
        assert_eq!(
            (
                st.current_number_scheduled,
                st.number_ready,
                st.number_available,
                st.updated_number_scheduled,
                st.number_misscheduled
            ),
            (1, 1, Some(1), Some(1), 0)
        );
        assert_eq!(st.observed_generation, Some(1));
        // The label goes: the pod goes.
        let s = sync(
            &ds,
            &pods,
            &node(&[("disktype", "hdd")]),
            ts(103),
            &mut next,
        );
        assert_eq!(kinds(&s.actions), ["delete agent-p0001"]);
        assert_eq!(s.events[0].message, "Deleted pod: agent-p0001");
        assert_eq!(
            (
                s.status.desired_number_scheduled,
                s.status.number_misscheduled
            ),
            (0, 1)
        );
        apply(&mut pods, &s.actions, ts(103), true);
        assert!(pods.is_empty());
        assert_eq!(
            sync(&ds, &pods, &node(&[]), ts(104), &mut next).actions,
            vec![]
        );
    }

    #[test]
    fn pods_are_pinned_labelled_and_tolerate_node_conditions() {
        let mut ds = daemonset(&DS.replace(
            "nodeSelector: {disktype: ssd}",
            "hostNetwork: true\n      tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}]\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}}}",
        ));
        ds.metadata.generation = Some(4);
        assert_eq!(
            sync(&ds, &[], &node(&[("zone", "b")]), ts(1), &mut counter()).actions,
            vec![]
        );
        let s = sync(&ds, &[], &node(&[("zone", "a")]), ts(1), &mut counter());
        let p = created(&s.actions);
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(
            labels[REVISION_HASH_LABEL],
            template::template_hash(&ds.spec.template, None)
        );
        assert_eq!(labels[TEMPLATE_GENERATION_LABEL], "4");
        assert_eq!(labels["app"], "agent");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("DaemonSet", "ds-uid")
        );
        let spec = p.spec.as_ref().unwrap();
        let terms = &spec
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].match_expressions, None);
        let f = &terms[0].match_fields.as_ref().unwrap()[0];
        assert_eq!(
            (f.key.as_str(), f.operator.as_str(), f.values.clone()),
            ("metadata.name", "In", Some(vec!["node1".to_string()]))
        );
        let tols: Vec<(String, String, Option<i64>)> = spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| {
                (
                    t.key.clone().unwrap(),
                    t.effect.clone().unwrap(),
                    t.toleration_seconds,
                )
            })
            .collect();
        let want: Vec<(String, String, Option<i64>)> = [
            ("not-ready", "NoExecute"),
            ("unreachable", "NoExecute"),
            ("disk-pressure", "NoSchedule"),
            ("memory-pressure", "NoSchedule"),
            ("pid-pressure", "NoSchedule"),
            ("unschedulable", "NoSchedule"),
            ("network-unavailable", "NoSchedule"),
        ]
        .iter()
        .map(|(k, e)| (format!("node.kubernetes.io/{k}"), e.to_string(), None))
        .collect();
        // The user's not-ready toleration (with tolerationSeconds) is replaced.
        assert_eq!(tols, want);
        // Such a pod is for this node and no other.
        assert_eq!(target_node(p), Some("node1"));
    }

    #[test]
    fn template_change_rolls_one_pod_at_a_time() {
        let mut ds = daemonset(DS);
        let ssd = node(&[("disktype", "ssd")]);
        let mut next = counter();
        let mut pods = Vec::new();
        let s = sync(&ds, &pods, &ssd, ts(1), &mut next);
        apply(&mut pods, &s.actions, ts(1), true);
        ds.spec.template.spec.as_mut().unwrap().containers[0].image = Some("busybox:2".into());
        ds.metadata.generation = Some(2);
        let s = sync(&ds, &pods, &ssd, ts(10), &mut next);
        assert_eq!(kinds(&s.actions), ["delete agent-p0001"]);
        assert_eq!(s.status.updated_number_scheduled, Some(0));
        // Still terminating: nothing new yet.
        pods[0].metadata.deletion_timestamp = Some(Time(ts(10)));
        assert_eq!(sync(&ds, &pods, &ssd, ts(11), &mut next).actions, vec![]);
        pods.clear();
        let s = sync(&ds, &pods, &ssd, ts(12), &mut next);
        assert_eq!(kinds(&s.actions), ["create agent-p0002"]);
        let p = created(&s.actions);
        assert_eq!(
            p.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("busybox:2")
        );
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()[TEMPLATE_GENERATION_LABEL],
            "2"
        );
        apply(&mut pods, &s.actions, ts(12), true);
        let s = sync(&ds, &pods, &ssd, ts(13), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.status.updated_number_scheduled, Some(1));
    }

    #[test]
    fn on_delete_waits_for_the_user() {
        let mut ds = daemonset(&DS.replace(
            "spec:\n  selector",
            "spec:\n  updateStrategy: {type: OnDelete}\n  selector",
        ));
        assert_eq!(
            ds.spec.update_strategy.as_ref().unwrap().rolling_update,
            None
        );
        let ssd = node(&[("disktype", "ssd")]);
        let mut next = counter();
        let mut pods = Vec::new();
        let s = sync(&ds, &pods, &ssd, ts(1), &mut next);
        apply(&mut pods, &s.actions, ts(1), true);
        ds.spec.template.spec.as_mut().unwrap().containers[0].image = Some("busybox:2".into());
        let s = sync(&ds, &pods, &ssd, ts(10), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.status.updated_number_scheduled, Some(0));
        pods.clear();
        let s = sync(&ds, &pods, &ssd, ts(11), &mut next);
        let p = created(&s.actions);
        assert_eq!(
            p.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("busybox:2")
        );
    }

    #[test]
    fn surge_starts_the_new_pod_before_the_old_one_goes() {
        let mut ds = daemonset(&DS.replace(
            "spec:\n  selector",
            "spec:\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n  selector",
        ));
        assert_eq!(validate(&ds), vec![]);
        let ssd = node(&[("disktype", "ssd")]);
        let mut next = counter();
        let mut pods = Vec::new();
        let s = sync(&ds, &pods, &ssd, ts(1), &mut next);
        apply(&mut pods, &s.actions, ts(1), true);
        ds.spec.template.spec.as_mut().unwrap().containers[0].image = Some("busybox:2".into());
        let s = sync(&ds, &pods, &ssd, ts(10), &mut next);
        assert_eq!(kinds(&s.actions), ["create agent-p0002"]);
        apply(&mut pods, &s.actions, ts(10), false);
        set_phase(&mut pods[1], "Running", None);
        // The new pod is not ready: both stay.
        assert_eq!(sync(&ds, &pods, &ssd, ts(11), &mut next).actions, vec![]);
        set_phase(&mut pods[1], "Running", Some(ts(12)));
        let s = sync(&ds, &pods, &ssd, ts(13), &mut next);
        assert_eq!(kinds(&s.actions), ["delete agent-p0001"]);
        apply(&mut pods, &s.actions, ts(13), true);
        assert_eq!(sync(&ds, &pods, &ssd, ts(14), &mut next).actions, vec![]);
    }

    #[test]
    fn a_failed_pod_is_replaced_with_back_off() {
        let ds = daemonset(DS);
        let ssd = node(&[("disktype", "ssd")]);
        let mut next = counter();
        let mut pods = Vec::new();
        let s = sync(&ds, &pods, &ssd, ts(100), &mut next);
        apply(&mut pods, &s.actions, ts(100), true);
        // First failure: replaced at once, the successor remembers one failure.
        set_phase(&mut pods[0], "Failed", None);
        let s = sync(&ds, &pods, &ssd, ts(200), &mut next);
        assert_eq!(
            kinds(&s.actions),
            ["delete agent-p0001", "create agent-p0002"]
        );
        assert_eq!(s.events[0].reason, ControllerReason::FailedDaemonPod);
        assert_eq!(
            s.events[0].message,
            "Found failed daemon pod default/agent-p0001 on node node1, will try to kill it"
        );
        assert_eq!(
            created(&s.actions).metadata.annotations.as_ref().unwrap()[FAILED_STREAK_ANNOTATION],
            "1"
        );
        apply(&mut pods, &s.actions, ts(200), true);
        // It fails again at once: 1 s back-off from its creation, then 2 s for the next.
        set_phase(&mut pods[0], "Failed", None);
        let s = sync(&ds, &pods, &ssd, ts(200), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.requeue_after, Some(Duration::from_secs(1)));
        let s = sync(&ds, &pods, &ssd, ts(201), &mut next);
        assert_eq!(
            kinds(&s.actions),
            ["delete agent-p0002", "create agent-p0003"]
        );
        apply(&mut pods, &s.actions, ts(201), true);
        set_phase(&mut pods[0], "Failed", None);
        let s = sync(&ds, &pods, &ssd, ts(202), &mut next);
        assert_eq!(s.requeue_after, Some(Duration::from_secs(1)));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(30), BACKOFF_MAX);
        // A pod that ran for an hour before failing starts the streak over.
        let mut long = pods[0].clone();
        long.metadata.annotations =
            Some([(FAILED_STREAK_ANNOTATION.to_string(), "9".to_string())].into());
        long.metadata.creation_timestamp = Some(Time(ts(0)));
        let status = long.status.as_mut().unwrap();
        status.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            last_transition_time: Some(Time(ts(3600))),
            ..Default::default()
        }]);
        let s = sync(&ds, &[long], &ssd, ts(3601), &mut next);
        assert_eq!(
            created(&s.actions).metadata.annotations.as_ref().unwrap()[FAILED_STREAK_ANNOTATION],
            "1"
        );
    }

    #[test]
    fn adopts_its_orphans_and_keeps_one_pod() {
        let ds = daemonset(DS);
        let ssd = node(&[("disktype", "ssd")]);
        let mut next = counter();
        let mut pods = Vec::new();
        let s = sync(&ds, &pods, &ssd, ts(1), &mut next);
        apply(&mut pods, &s.actions, ts(1), true);
        let s = sync(&ds, &[], &ssd, ts(2), &mut next);
        apply(&mut pods, &s.actions, ts(2), true);
        // Two pods (a crash between create and persist): the newer goes.
        pods[0].metadata.owner_references = None;
        let s = sync(&ds, &pods, &ssd, ts(3), &mut next);
        assert_eq!(kinds(&s.actions)[1], "delete agent-p0002");
        assert!(
            matches!(&s.actions[0], Action::SetPodMetadata { name, owner_references, .. }
            if name == "agent-p0001" && owner_references.len() == 1)
        );
    }

    #[test]
    fn defaults_and_validation() {
        let ds = daemonset(DS);
        let ru = ds
            .spec
            .update_strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap();
        assert_eq!(
            (ru.max_unavailable.clone(), ru.max_surge.clone()),
            (Some(IntOrString::Int(1)), Some(IntOrString::Int(0)))
        );
        assert_eq!(ds.spec.revision_history_limit, Some(10));
        assert_eq!(validate(&ds), vec![]);
        for (from, to, want) in [
            (
                "selector: {matchLabels: {app: agent}}",
                "selector: {matchLabels: {app: other}}",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"agent\"}: `selector` does not match template `labels`",
            ),
            (
                "selector: {matchLabels: {app: agent}}",
                "selector: {}",
                "spec.selector: Invalid value: {}: empty selector is invalid for daemonset",
            ),
            (
                "spec:\n  selector",
                "spec:\n  updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}\n  selector",
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
            ),
            (
                "spec:\n  selector",
                "spec:\n  updateStrategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: '0%'}}\n  selector",
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": cannot be 0 when maxSurge is 0",
            ),
            (
                "spec:\n  selector",
                "spec:\n  updateStrategy: {type: Sometimes}\n  selector",
                "spec.updateStrategy.type: Unsupported value: \"Sometimes\"",
            ),
            (
                "containers:",
                "restartPolicy: Never\n      containers:",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\"",
            ),
        ] {
            let errs = validate(&daemonset(&DS.replace(from, to)));
            assert!(
                errs.iter().any(|e| e.to_string().starts_with(want)),
                "{to}: {errs:#?}"
            );
        }
    }
}
