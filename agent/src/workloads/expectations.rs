//! What a controller wrote but the node does not show yet (kube-controller-manager's
//! "expectations"): a pod file written is not a pod in the view until the source has read it
//! and the manager has started it; a removed pod file leaves a pod that stops during its
//! grace period; a child object written is not in the snapshot for a moment. Without this, a
//! sync in that window would create the pod again. Each pending write is laid over what is
//! observed ([`Expectations::pods`], [`Expectations::children`]) until it shows or expires.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use nodelet_objects::workload::Object;

/// How long a write may take to show before it is no longer expected.
pub const EXPIRY: Duration = Duration::from_secs(60);

/// `namespace/name`.
type Key = (String, String);

/// Pending writes of pods and child objects.
#[derive(Debug, Default)]
pub struct Expectations {
    /// Pods created, not yet in the view.
    created: BTreeMap<Key, (Pod, Instant)>,
    /// Pods deleted, still in the view, and when that was asked.
    deleted: BTreeMap<Key, Instant>,
    /// Child objects written (created or updated: the new version) or removed (`None`), by
    /// kind, not yet so in the snapshot.
    children: BTreeMap<(&'static str, String, String), (Option<Object>, Instant)>,
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl Expectations {
    pub fn pod_created(&mut self, pod: Pod, now: Instant) {
        self.created.insert(key_of(&pod.metadata), (pod, now));
    }

    pub fn pod_deleted(&mut self, namespace: &str, name: &str, now: Instant) {
        let k = (namespace.to_string(), name.to_string());
        self.created.remove(&k);
        self.deleted.insert(k, now);
    }

    pub fn child_written(&mut self, object: Object, now: Instant) {
        let k = (
            object.kind(),
            object.namespace().to_string(),
            object.name().to_string(),
        );
        self.children.insert(k, (Some(object), now));
    }

    pub fn child_removed(&mut self, kind: &'static str, namespace: &str, name: &str, now: Instant) {
        self.children
            .insert((kind, namespace.to_string(), name.to_string()), (None, now));
    }

    /// The pods as a controller must see them: `observed` (the view), with pods created but
    /// not yet shown added (no status: Pending) and pods deleted shown terminating
    /// (`deletionTimestamp`). Expectations that are met or expired are dropped.
    pub fn pods(&mut self, observed: Vec<Pod>, now: Instant, wall: jiff::Timestamp) -> Vec<Pod> {
        let present: std::collections::BTreeSet<Key> =
            observed.iter().map(|p| key_of(&p.metadata)).collect();
        self.created
            .retain(|k, (_, at)| !present.contains(k) && now.duration_since(*at) < EXPIRY);
        self.deleted.retain(|k, at| {
            present.contains(k) && now.duration_since(*at) < EXPIRY + Duration::from_secs(600)
        });
        let mut out = observed;
        for p in &mut out {
            if self.deleted.contains_key(&key_of(&p.metadata))
                && p.metadata.deletion_timestamp.is_none()
            {
                p.metadata.deletion_timestamp = Some(Time(wall));
            }
        }
        out.extend(self.created.values().map(|(p, _)| p.clone()));
        out
    }

    /// The objects as controllers must see them: `observed` (the snapshot's), with child
    /// writes not yet read laid over them. Met or expired expectations are dropped.
    pub fn children(&mut self, observed: Vec<Object>, now: Instant) -> Vec<Object> {
        let mut by_key: BTreeMap<(&'static str, String, String), Object> = observed
            .into_iter()
            .map(|o| {
                (
                    (o.kind(), o.namespace().to_string(), o.name().to_string()),
                    o,
                )
            })
            .collect();
        self.children.retain(|k, (want, at)| {
            let met = match (want, by_key.get(k)) {
                (None, None) => true,
                (Some(w), Some(seen)) => same_content(w, seen),
                _ => false,
            };
            !met && now.duration_since(*at) < EXPIRY
        });
        for (k, (want, _)) in &self.children {
            match want {
                Some(o) => {
                    let mut o = o.clone();
                    // Keep the identity and status the node already has for it.
                    if let Some(seen) = by_key.get(k) {
                        o.metadata_mut().uid = seen.metadata().uid.clone();
                    }
                    by_key.insert(k.clone(), o);
                }
                None => {
                    by_key.remove(k);
                }
            }
        }
        by_key.into_values().collect()
    }
}

/// Equal but for what the node fills in (UID, status).
fn same_content(a: &Object, b: &Object) -> bool {
    let strip = |o: &Object| {
        let mut v = o.to_value();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
            if let Some(meta) = m.get_mut("metadata").and_then(|x| x.as_object_mut()) {
                for k in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                    meta.remove(k);
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(pods: &[Pod]) -> Vec<(String, bool)> {
        pods.iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.deletion_timestamp.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn pods_written_count_until_the_view_shows_them() {
        let mut e = Expectations::default();
        let t0 = Instant::now();
        let wall = jiff::Timestamp::UNIX_EPOCH;
        e.pod_created(pod("a"), t0);
        e.pod_deleted("default", "b", t0);
        // Not yet shown: `a` is added, `b` shows terminating.
        let seen = e.pods(vec![pod("b"), pod("c")], t0, wall);
        assert_eq!(
            names(&seen),
            [("b".into(), true), ("c".into(), false), ("a".into(), false)]
        );
        // Shown: `a` is the view's own, `b` is gone; nothing is laid over any more.
        let seen = e.pods(vec![pod("a"), pod("c")], t0, wall);
        assert_eq!(names(&seen), [("a".into(), false), ("c".into(), false)]);
        let seen = e.pods(vec![pod("b")], t0, wall);
        assert_eq!(names(&seen), [("b".into(), false)]);
        // A create that never shows is dropped after EXPIRY.
        e.pod_created(pod("d"), t0);
        let seen = e.pods(vec![], t0 + EXPIRY, wall);
        assert!(seen.is_empty());
    }

    #[test]
    fn child_writes_are_laid_over_the_snapshot() {
        use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
        let rs = |replicas: i32, uid: Option<&str>| {
            Object::ReplicaSet(Box::new(ReplicaSet {
                metadata: ObjectMeta {
                    name: Some("web-1".into()),
                    namespace: Some("default".into()),
                    uid: uid.map(str::to_string),
                    ..Default::default()
                },
                spec: ReplicaSetSpec {
                    replicas: Some(replicas),
                    ..Default::default()
                },
                status: None,
            }))
        };
        let replicas = |v: &[Object]| -> Vec<i32> {
            v.iter()
                .map(|o| match o {
                    Object::ReplicaSet(r) => r.spec.replicas.unwrap_or(-1),
                    _ => -1,
                })
                .collect()
        };
        let mut e = Expectations::default();
        let t0 = Instant::now();
        e.child_written(rs(3, None), t0);
        // The snapshot still has 1 replica: the write (3) wins, with the snapshot's UID.
        let seen = e.children(vec![rs(1, Some("u"))], t0);
        assert_eq!(replicas(&seen), [3]);
        assert_eq!(seen[0].uid(), "u");
        // The snapshot caught up: its own object.
        let seen = e.children(vec![rs(3, Some("u"))], t0);
        assert_eq!(replicas(&seen), [3]);
        // A later snapshot's change is not overridden by the met expectation.
        let seen = e.children(vec![rs(5, Some("u"))], t0);
        assert_eq!(replicas(&seen), [5]);
        e.child_removed("ReplicaSet", "default", "web-1", t0);
        assert!(e.children(vec![rs(5, Some("u"))], t0).is_empty());
        assert!(e.children(vec![], t0).is_empty());
        assert_eq!(replicas(&e.children(vec![rs(5, Some("u"))], t0)), [5]);
    }
}
