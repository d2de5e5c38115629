//! Which controller syncs an object and what it is given: the pods and child objects it may
//! own (same namespace), the node, the clock. The controllers are pure
//! (`nodelet_objects::controllers`); this module only picks their inputs and turns their
//! typed status into the JSON the records keep.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use nodelet_objects::controllers::{
    self, Action, ControllerEvent, NodeInfo, Suffixes, controller_uid,
};
use nodelet_objects::workload::Object;

/// One controller's decision with its status as JSON.
pub struct Outcome {
    pub actions: Vec<Action>,
    pub status: serde_json::Value,
    pub events: Vec<ControllerEvent>,
    pub requeue_after: Option<std::time::Duration>,
}

fn outcome<S: Serialize>(s: controllers::Sync<S>) -> Outcome {
    Outcome {
        actions: s.actions,
        status: serde_json::to_value(&s.status).unwrap_or_default(),
        events: s.events,
        requeue_after: s.requeue_after,
    }
}

/// Sets `o`'s status from a record's JSON (left as is if it does not decode: the controller
/// then starts from the object's own).
pub fn set_status(o: &mut Object, status: &serde_json::Value) {
    if status.is_null() {
        return;
    }
    fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<T> {
        nodelet_objects::decode::from_value(v.clone()).ok()
    }
    match o {
        Object::Job(j) => j.status = decode(status).or(j.status.take()),
        Object::CronJob(c) => c.status = decode(status).or(c.status.take()),
        Object::Deployment(d) => d.status = decode(status).or(d.status.take()),
        Object::ReplicaSet(r) => r.status = decode(status).or(r.status.take()),
        Object::DaemonSet(d) => d.status = decode(status).or(d.status.take()),
        Object::ConfigMap(_)
        | Object::Secret(_)
        | Object::Namespace(_)
        | Object::ControllerRevision(_) => {}
    }
}

/// Pods in `ns`, in their order: a slice of `pods` when they are sorted by namespace (as the
/// controller loop passes them), else a copy. Every object of a pass gets its namespace's
/// pods; copying them each time was 22 copies of 110 pods a pass for 11 Deployments.
fn in_namespace<'a>(pods: &'a [Pod], ns: &str) -> Cow<'a, [Pod]> {
    fn key(p: &Pod) -> &str {
        p.metadata.namespace.as_deref().unwrap_or_default()
    }
    if !ns.is_empty() && pods.is_sorted_by_key(key) {
        let start = pods.partition_point(|p| key(p) < ns);
        let end = start + pods[start..].partition_point(|p| key(p) == ns);
        return Cow::Borrowed(&pods[start..end]);
    }
    Cow::Owned(
        pods.iter()
            .filter(|p: &&'a Pod| p.metadata.namespace.as_deref() == Some(ns))
            .cloned()
            .collect(),
    )
}

/// Syncs `o` if a controller runs its kind. `objects` are every object (hydrated with
/// their statuses), `pods` the pods controllers may own.
pub fn sync(
    o: &Object,
    objects: &[Object],
    pods: &[Pod],
    node: &NodeInfo,
    now: jiff::Timestamp,
    suffixes: &mut dyn Suffixes,
) -> Option<Outcome> {
    let ns = o.namespace();
    let uid = o.uid();
    Some(match o {
        // The Job adopts matching orphans and ignores pods of other controllers.
        Object::Job(j) => outcome(controllers::job::sync(
            j,
            &in_namespace(pods, ns),
            now,
            suffixes,
        )),
        Object::CronJob(c) => {
            let jobs: Vec<_> = objects
                .iter()
                .filter_map(|x| match x {
                    Object::Job(j)
                        if x.namespace() == ns && controller_uid(&j.metadata) == Some(uid) =>
                    {
                        Some((**j).clone())
                    }
                    _ => None,
                })
                .collect();
            outcome(controllers::cronjob::sync(c, &jobs, now))
        }
        Object::ReplicaSet(r) => outcome(controllers::replicaset::sync(
            r,
            &in_namespace(pods, ns),
            now,
            suffixes,
        )),
        Object::Deployment(d) => {
            // Every ReplicaSet of the namespace: the Deployment claims its own and sees the
            // others' names (collisions).
            let rss: Vec<_> = objects
                .iter()
                .filter_map(|x| match x {
                    Object::ReplicaSet(r) if x.namespace() == ns => Some((**r).clone()),
                    _ => None,
                })
                .collect();
            outcome(controllers::deployment::sync(
                d,
                &rss,
                &in_namespace(pods, ns),
                now,
            ))
        }
        Object::DaemonSet(d) => {
            // Its history first (`constructHistory`), from every ControllerRevision of the
            // namespace (it keeps those it controls).
            let revisions: Vec<_> = objects
                .iter()
                .filter_map(|x| match x {
                    Object::ControllerRevision(r) if x.namespace() == ns => Some((**r).clone()),
                    _ => None,
                })
                .collect();
            let pods = in_namespace(pods, ns);
            let history = controllers::daemonset::history(d, &revisions, &pods);
            let collided =
                d.status.as_ref().and_then(|s| s.collision_count) != history.collision_count;
            let mut out = if collided {
                let mut d = (**d).clone();
                d.status.get_or_insert_default().collision_count = history.collision_count;
                controllers::daemonset::sync(&d, &pods, node, now, suffixes)
            } else {
                controllers::daemonset::sync(d, &pods, node, now, suffixes)
            };
            out.actions.splice(0..0, history.actions);
            outcome(out)
        }
        Object::ConfigMap(_)
        | Object::Secret(_)
        | Object::Namespace(_)
        | Object::ControllerRevision(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: Option<&str>, name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = ns.map(str::to_string);
        p.metadata.name = Some(name.into());
        p
    }

    fn names(pods: &[Pod]) -> Vec<&str> {
        pods.iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect()
    }

    #[test]
    fn a_namespace_s_pods_are_borrowed_from_a_sorted_list_and_copied_otherwise() {
        let sorted = [
            pod(None, "none"),
            pod(Some("a"), "a1"),
            pod(Some("a"), "a2"),
            pod(Some("b"), "b1"),
        ];
        let a = in_namespace(&sorted, "a");
        assert!(matches!(a, Cow::Borrowed(_)));
        assert_eq!(names(&a), ["a1", "a2"]);
        assert_eq!(names(&in_namespace(&sorted, "b")), ["b1"]);
        assert!(in_namespace(&sorted, "c").is_empty());
        // A pod without a namespace is in none (as before: only `Some(ns)` matched).
        assert!(in_namespace(&sorted, "").is_empty());
        let unsorted = [
            pod(Some("b"), "b1"),
            pod(Some("a"), "a1"),
            pod(Some("b"), "b2"),
        ];
        let b = in_namespace(&unsorted, "b");
        assert!(matches!(b, Cow::Owned(_)));
        assert_eq!(names(&b), ["b1", "b2"]);
    }
}
