//! The ReplicaSet controller as a pure decision (kube-controller-manager's
//! `pkg/controller/replicaset/replica_set.go`), with the API server's ReplicaSet defaulting
//! and validation: claim the namespace's pods (adopt matching orphans, release owned pods
//! that no longer match), create or delete pods to reach `spec.replicas`, report status.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::claim::{self, Claim};
use super::template;
use super::{Action, ControllerEvent, ControllerReason, Suffixes, Sync, controller_ref, pods};
use crate::field::{FieldError, FieldPath};
use crate::selector::Selector;

/// The most pods one sync creates or deletes (the controller's `burstReplicas`). The
/// controller's slow start (batches of 1, 2, 4, ... that stop at the first failure) is the
/// shell's business: it stops at the first failed action and syncs again.
pub const BURST_REPLICAS: usize = 500;

/// The API server's defaults for a ReplicaSet: `replicas: 1` and the pod defaults on the
/// template.
pub fn defaults(rs: &mut ReplicaSet) {
    let spec = &mut rs.spec;
    spec.replicas.get_or_insert(1);
    if let Some(t) = spec.template.as_mut() {
        template::default_template(t);
    }
}

/// The API server's validation of a (defaulted) ReplicaSet; empty when valid.
pub fn validate(rs: &ReplicaSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    template::validate_name(&mut errs, &rs.metadata);
    let spec_path = FieldPath::new("spec");
    let spec = &rs.spec;
    template::non_negative(&mut errs, &spec_path.child("replicas"), spec.replicas);
    template::non_negative(
        &mut errs,
        &spec_path.child("minReadySeconds"),
        spec.min_ready_seconds,
    );
    template::validate_selector_and_template(
        &mut errs,
        "ReplicaSet",
        &spec.selector,
        spec.template.as_ref(),
    );
    errs
}

/// The pods this ReplicaSet counts after claiming, and the adopt/release actions.
struct Claimed<'a> {
    pods: Vec<&'a Pod>,
    actions: Vec<Action>,
}

/// Claims the active pods of the namespace for `rs` (`FilterActivePods` then `ClaimPods`).
fn claim_pods<'a>(rs: &ReplicaSet, selector: &Selector, pods: &'a [Pod]) -> Claimed<'a> {
    let owner = owner_ref(rs);
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let mut out = Claimed {
        pods: Vec::new(),
        actions: Vec::new(),
    };
    for pod in pods.iter().filter(|p| pods::is_active(p)) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        match claim::claim(&pod.metadata, selector, &owner, deleting) {
            Claim::Keep => out.pods.push(pod),
            Claim::Adopt => {
                out.actions.push(Action::SetPodMetadata {
                    name,
                    labels,
                    owner_references: claim::adopted_refs(&pod.metadata, &owner),
                });
                out.pods.push(pod);
            }
            Claim::Release => out.actions.push(Action::SetPodMetadata {
                name,
                labels,
                owner_references: claim::released_refs(&pod.metadata, &owner),
            }),
            Claim::Ignore => {}
        }
    }
    out
}

fn owner_ref(rs: &ReplicaSet) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
    controller_ref(
        "apps/v1",
        "ReplicaSet",
        rs.metadata.name.as_deref().unwrap_or_default(),
        rs.metadata.uid.as_deref().unwrap_or_default(),
    )
}

/// One sync of `rs` (`syncReplicaSet`). `pods` is every pod of the namespace as it is now
/// (status, labels, ownerReferences, deletionTimestamp). The status describes the pods
/// claimed now, before the actions (as the controller's `calculateStatus` does); the shell
/// syncs again when the pods it created or deleted show up.
pub fn sync(
    rs: &ReplicaSet,
    pods: &[Pod],
    now: Timestamp,
    suffixes: &mut dyn Suffixes,
) -> Sync<ReplicaSetStatus> {
    let spec = &rs.spec;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let old_status = rs.status.clone().unwrap_or_default();
    let mut out = Sync {
        actions: Vec::new(),
        status: ReplicaSetStatus {
            observed_generation: rs.metadata.generation.or(old_status.observed_generation),
            ..old_status.clone()
        },
        events: Vec::new(),
        requeue_after: None,
    };
    // A selector validation refuses; the controller logs it and does nothing.
    let Ok(selector) = Selector::from_label_selector(&spec.selector) else {
        return out;
    };
    let claimed = claim_pods(rs, &selector, pods);
    out.actions.extend(claimed.actions);
    let active = claimed.pods;

    if rs.metadata.deletion_timestamp.is_none() {
        let want = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        if active.len() < want {
            let n = (want - active.len()).min(BURST_REPLICAS);
            let mut taken: BTreeSet<String> = pods
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            let base = rs.metadata.name.clone().unwrap_or_default();
            let tmpl = spec.template.clone().unwrap_or_default();
            for _ in 0..n {
                let name = template::generated_name(&base, &taken, suffixes);
                taken.insert(name.clone());
                let pod = template::pod_from_template(
                    &tmpl,
                    &base,
                    name.clone(),
                    rs.metadata.namespace.clone(),
                    owner_ref(rs),
                );
                out.actions.push(Action::CreatePod(Box::new(pod)));
                out.events.push(ControllerEvent {
                    reason: ControllerReason::SuccessfulCreate,
                    message: format!("Created pod: {name}"),
                });
            }
            if want - active.len() > n {
                out.requeue_after = Some(Duration::ZERO);
            }
        } else if active.len() > want {
            let n = (active.len() - want).min(BURST_REPLICAS);
            let mut ranked = active.clone();
            ranked.sort_by(|a, b| pods::deletion_order(a, b, now));
            for pod in ranked.into_iter().take(n) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                out.actions.push(Action::DeletePod {
                    name: name.clone(),
                    grace: None,
                });
                out.events.push(ControllerEvent {
                    reason: ControllerReason::SuccessfulDelete,
                    message: format!("Deleted pod: {name}"),
                });
            }
            if active.len() - want > n {
                out.requeue_after = Some(Duration::ZERO);
            }
        }
    }

    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let status = &mut out.status;
    status.replicas = count(&|_| true);
    status.fully_labeled_replicas = Some(count(&|p: &Pod| {
        let labels = p.metadata.labels.as_ref();
        template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    }));
    status.ready_replicas = Some(count(&|p: &Pod| pods::is_ready(p)));
    status.available_replicas = Some(count(&|p: &Pod| pods::is_available(p, min_ready, now)));
    // Its pods still shutting down (`status.terminatingReplicas`).
    let uid = rs.metadata.uid.as_deref();
    let terminating = pods.iter().filter(|p| {
        !pods::is_finished(p)
            && p.metadata.deletion_timestamp.is_some()
            && uid.is_some()
            && super::controller_uid(&p.metadata) == uid
    });
    status.terminating_replicas = Some(i32::try_from(terminating.count()).unwrap_or(i32::MAX));
    let wait = pods::next_available_in(active.iter().copied(), min_ready, now);
    out.requeue_after = match (out.requeue_after, wait) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use k8s_openapi::api::core::v1::PodCondition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    pub(crate) fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    pub(crate) fn counter() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("p{n:04}")
        }
    }

    pub(crate) fn rs(yaml: &str) -> ReplicaSet {
        let mut rs: ReplicaSet =
            serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap())
                .unwrap();
        defaults(&mut rs);
        rs
    }

    const WEB: &str = "
metadata: {name: web, namespace: default, uid: rs-uid, generation: 2}
spec:
  replicas: 3
  selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c, image: nginx}]}
";

    /// The pods as a node would show them after the actions: created pods Running and Ready
    /// at `now` (when `ready`), deleted pods gone, metadata replaced.
    pub(crate) fn apply(pods: &mut Vec<Pod>, actions: &[Action], now: Timestamp, ready: bool) {
        for a in actions {
            match a {
                Action::CreatePod(p) => {
                    let mut p = (**p).clone();
                    p.metadata.uid = p.metadata.name.clone();
                    p.metadata.creation_timestamp = Some(Time(now));
                    p.status = Some(Default::default());
                    set_phase(&mut p, "Running", ready.then_some(now));
                    pods.push(p);
                }
                Action::DeletePod { name, .. } => {
                    pods.retain(|p| p.metadata.name.as_ref() != Some(name))
                }
                Action::SetPodMetadata {
                    name,
                    labels,
                    owner_references,
                } => {
                    let p = pods
                        .iter_mut()
                        .find(|p| p.metadata.name.as_ref() == Some(name))
                        .unwrap();
                    p.metadata.labels = Some(labels.clone());
                    p.metadata.owner_references = Some(owner_references.clone());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    pub(crate) fn set_phase(p: &mut Pod, phase: &str, ready_at: Option<Timestamp>) {
        let status = p.status.get_or_insert_with(Default::default);
        status.phase = Some(phase.to_string());
        status.conditions = ready_at.map(|at| {
            vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(at)),
                ..Default::default()
            }]
        });
    }

    fn names(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::CreatePod(p) => format!("create {}", p.metadata.name.clone().unwrap()),
                Action::DeletePod { name, .. } => format!("delete {name}"),
                Action::SetPodMetadata {
                    name,
                    owner_references,
                    ..
                } => format!("set {name} owners={}", owner_references.len()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn creates_up_to_replicas_with_template_and_owner() {
        let rs = rs(WEB);
        let s = sync(&rs, &[], ts(1000), &mut counter());
        assert_eq!(
            names(&s.actions),
            ["create web-p0001", "create web-p0002", "create web-p0003"]
        );
        let Action::CreatePod(p) = &s.actions[0] else {
            unreachable!()
        };
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(p.metadata.labels.as_ref().unwrap()["tier"], "front");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("ReplicaSet", "rs-uid", Some(true))
        );
        assert_eq!(s.events[0].message, "Created pod: web-p0001");
        assert_eq!(s.status.replicas, 0);
        assert_eq!(s.status.observed_generation, Some(2));
    }

    #[test]
    fn converges_and_is_idempotent() {
        let rs = rs(WEB);
        let mut pods = Vec::new();
        let mut next = counter();
        let s = sync(&rs, &pods, ts(1000), &mut next);
        apply(&mut pods, &s.actions, ts(1000), true);
        let s = sync(&rs, &pods, ts(1001), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.status.replicas, 3);
        assert_eq!(s.status.ready_replicas, Some(3));
        assert_eq!(s.status.available_replicas, Some(3));
        assert_eq!(s.status.fully_labeled_replicas, Some(3));
        assert_eq!(s.requeue_after, None);
    }

    #[test]
    fn relabelled_pod_is_released_and_replaced() {
        let rs = rs(WEB);
        let mut pods = Vec::new();
        let mut next = counter();
        let s = sync(&rs, &pods, ts(1000), &mut next);
        apply(&mut pods, &s.actions, ts(1000), true);
        pods[1].metadata.labels = Some([("app".to_string(), "debug".to_string())].into());
        let s = sync(&rs, &pods, ts(1010), &mut next);
        assert_eq!(
            names(&s.actions),
            ["set web-p0002 owners=0", "create web-p0004"]
        );
        apply(&mut pods, &s.actions, ts(1010), true);
        let s = sync(&rs, &pods, ts(1011), &mut next);
        assert_eq!(s.actions, vec![]);
        assert_eq!(s.status.replicas, 3);
        // The released pod keeps running, owned by nobody.
        assert_eq!(pods.len(), 4);
        assert!(
            pods[1]
                .metadata
                .owner_references
                .as_ref()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn adopts_matching_orphans_but_not_terminating_ones() {
        let rs = rs(WEB);
        let mut orphan: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "stray", "labels": {"app": "web"}},
            "spec": {"containers": []},
        }))
        .unwrap();
        set_phase(&mut orphan, "Running", Some(ts(900)));
        let mut dying = orphan.clone();
        dying.metadata.name = Some("dying".into());
        dying.metadata.deletion_timestamp = Some(Time(ts(950)));
        let mut other = orphan.clone();
        other.metadata.name = Some("other".into());
        other.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        let s = sync(&rs, &[orphan, dying, other], ts(1000), &mut counter());
        assert_eq!(
            names(&s.actions),
            ["set stray owners=1", "create web-p0001", "create web-p0002"]
        );
        assert_eq!(s.status.replicas, 1);
    }

    #[test]
    fn scale_down_deletes_in_the_controllers_order() {
        let mut rs = rs(WEB);
        let mut pods = Vec::new();
        let mut next = counter();
        let s = sync(&rs, &pods, ts(1000), &mut next);
        apply(&mut pods, &s.actions, ts(1000), true);
        // p0001 not ready, p0003 became ready later than p0002 (newer first).
        set_phase(&mut pods[0], "Running", None);
        set_phase(&mut pods[2], "Running", Some(ts(5000)));
        rs.spec.replicas = Some(1);
        let s = sync(&rs, &pods, ts(6000), &mut next);
        assert_eq!(names(&s.actions), ["delete web-p0001", "delete web-p0003"]);
        assert_eq!(s.events[1].message, "Deleted pod: web-p0003");
        // Finished and terminating pods are not counted: replaced.
        rs.spec.replicas = Some(3);
        set_phase(&mut pods[0], "Failed", None);
        pods[1].metadata.deletion_timestamp = Some(Time(ts(6000)));
        let s = sync(&rs, &pods, ts(6001), &mut next);
        assert_eq!(names(&s.actions), ["create web-p0004", "create web-p0005"]);
        assert_eq!(s.status.replicas, 1);
        assert_eq!(s.status.terminating_replicas, Some(1));
    }

    #[test]
    fn min_ready_seconds_delays_availability_and_requeues() {
        let mut rs = rs(WEB);
        rs.spec.min_ready_seconds = Some(10);
        let mut pods = Vec::new();
        let mut next = counter();
        let s = sync(&rs, &pods, ts(1000), &mut next);
        apply(&mut pods, &s.actions, ts(1000), true);
        let s = sync(&rs, &pods, ts(1004), &mut next);
        assert_eq!(s.status.ready_replicas, Some(3));
        assert_eq!(s.status.available_replicas, Some(0));
        assert_eq!(s.requeue_after, Some(Duration::from_millis(6001)));
        let s = sync(&rs, &pods, ts(1011), &mut next);
        assert_eq!(s.status.available_replicas, Some(3));
        assert_eq!(s.requeue_after, None);
    }

    #[test]
    fn at_most_a_burst_per_sync() {
        let mut rs = rs(WEB);
        rs.spec.replicas = Some(600);
        let mut pods = Vec::new();
        let mut next = counter();
        let s = sync(&rs, &pods, ts(1000), &mut next);
        assert_eq!(s.actions.len(), BURST_REPLICAS);
        assert_eq!(s.requeue_after, Some(Duration::ZERO));
        apply(&mut pods, &s.actions, ts(1000), true);
        let s = sync(&rs, &pods, ts(1001), &mut next);
        assert_eq!(s.actions.len(), 100);
        assert_eq!(s.requeue_after, None);
        apply(&mut pods, &s.actions, ts(1001), true);
        rs.spec.replicas = Some(0);
        let s = sync(&rs, &pods, ts(1002), &mut next);
        assert_eq!(s.actions.len(), BURST_REPLICAS);
        assert_eq!(s.requeue_after, Some(Duration::ZERO));
    }

    #[test]
    fn a_replicaset_being_deleted_creates_nothing() {
        let mut rs = rs(WEB);
        rs.metadata.deletion_timestamp = Some(Time(ts(1)));
        assert_eq!(sync(&rs, &[], ts(1000), &mut counter()).actions, vec![]);
    }

    #[test]
    fn validation_like_the_api_server() {
        for (yaml, want) in [
            (
                "{metadata: {name: web}, spec: {replicas: -1, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}}",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                "{metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c, image: i}]}}}}",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"db\"}: `selector` does not match template `labels`",
            ),
            (
                "{metadata: {name: web}, spec: {selector: {}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c, image: i}]}}}}",
                "spec.selector: Invalid value: {}: empty selector is invalid for replicaset",
            ),
            (
                "{metadata: {name: Web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}}",
                "metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain",
            ),
            (
                "{metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {restartPolicy: OnFailure, containers: [{name: c, image: i}]}}}}",
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            ),
            (
                "{metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}}}",
                "spec.template: Required value",
            ),
        ] {
            let errs = validate(&rs(yaml));
            assert!(
                errs.iter().any(|e| e.to_string().starts_with(want)),
                "{yaml}: {errs:#?}"
            );
        }
        assert_eq!(validate(&rs(WEB)), vec![]);
        assert_eq!(
            rs("{metadata: {name: a}, spec: {selector: {}}}")
                .spec
                .replicas,
            Some(1)
        );
    }
}
