//! What the apps controllers read from pods (`k8s.io/kubernetes/pkg/api/v1/pod` and
//! `controller_utils.go`): active, ready and available pods, when a pod will become
//! available, and the order in which surplus pods are deleted (`ActivePodsWithRanks`).

use std::cmp::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};

/// The annotation that lowers (or raises) a pod's cost of deletion on scale-down.
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Succeeded or Failed.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Not finished and not being deleted (`controller.IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    !is_finished(pod) && pod.metadata.deletion_timestamp.is_none()
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When a ready pod became ready (its Ready condition's last transition).
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// Ready for longer than `min_ready_seconds` (`podutil.IsPodAvailable`: the ready time plus
/// the delay strictly before `now`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|t| {
        t.checked_add(jiff::SignedDuration::from_secs(i64::from(
            min_ready_seconds,
        )))
        .is_ok_and(|at| at < now)
    })
}

/// How long until the first of `pods` that is ready but not yet available becomes
/// available (so a controller looks again then); `None` when no pod is waiting.
pub fn next_available_in<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<Duration> {
    if min_ready_seconds <= 0 {
        return None;
    }
    pods.into_iter()
        .filter(|p| is_ready(p) && !is_available(p, min_ready_seconds, now))
        .filter_map(ready_since)
        .filter_map(|t| {
            let at = t
                .checked_add(jiff::SignedDuration::from_secs(i64::from(
                    min_ready_seconds,
                )))
                .ok()?;
            let wait = now.duration_until(at);
            // Available once strictly past `at`: a millisecond later.
            Some(Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(1))
        })
        .min()
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn max_restarts(pod: &Pod) -> i32 {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .chain(
            status
                .and_then(|s| s.init_container_statuses.as_ref())
                .into_iter()
                .flatten(),
        )
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `floor(log2(now - t))` in nanoseconds, -1 for a time not before `now`
/// (LogarithmicScaleDown's buckets).
fn log_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d <= 0 {
        -1
    } else {
        i64::from(127 - d.leading_zeros())
    }
}

/// Newer first by logarithmic age buckets, a missing time first; `None` when equal.
fn newer_first(a: Option<Timestamp>, b: Option<Timestamp>, now: Timestamp) -> Option<Ordering> {
    match (a, b) {
        (None, None) => None,
        (None, Some(_)) => Some(Ordering::Less),
        (Some(_), None) => Some(Ordering::Greater),
        (Some(a), Some(b)) if a == b => None,
        (Some(a), Some(b)) => Some(log_bucket(a, now).cmp(&log_bucket(b, now))),
    }
}

/// The order in which surplus pods are deleted, first to go first (`ActivePodsWithRanks` on
/// one node, LogarithmicScaleDown on): unscheduled before scheduled, Pending before Unknown
/// before Running, not ready before ready, lower deletion cost first, ready for less time
/// first, more restarts first, newer first; ties by UID, then name.
pub fn deletion_order(a: &Pod, b: &Pod, now: Timestamp) -> Ordering {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let tie = || {
        uid(a)
            .cmp(&uid(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    };
    phase_ordinal(a)
        .cmp(&phase_ordinal(b))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| {
            if is_ready(a) && is_ready(b) {
                match newer_first(ready_since(a), ready_since(b), now) {
                    Some(Ordering::Equal) => tie(),
                    Some(o) => o,
                    None => Ordering::Equal,
                }
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| max_restarts(b).cmp(&max_restarts(a)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            match newer_first(created(a), created(b), now) {
                Some(Ordering::Equal) | None => tie(),
                Some(o) => o,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn pod(name: &str, phase: &str, ready_at: Option<i64>, created: i64, node: &str) -> Pod {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "uid": name},
            "spec": {"containers": [], "nodeName": node},
            "status": {"phase": phase},
        }))
        .unwrap();
        p.metadata.creation_timestamp = Some(Time(ts(created)));
        if let Some(at) = ready_at {
            p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts(at))),
                ..Default::default()
            }]);
        }
        p
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let p = pod("a", "Running", Some(100), 90, "n");
        assert!(is_available(&p, 0, ts(100)));
        assert!(!is_available(&p, 10, ts(110)));
        assert!(is_available(&p, 10, ts(111)));
        assert_eq!(
            next_available_in([&p], 10, ts(105)),
            Some(Duration::from_millis(5001))
        );
        assert_eq!(next_available_in([&p], 10, ts(111)), None);
        assert!(!is_available(
            &pod("b", "Running", None, 90, "n"),
            0,
            ts(100)
        ));
    }

    #[test]
    fn surplus_pods_go_in_the_controllers_order() {
        let now = ts(10_000);
        let mut pods = [
            pod("old-ready", "Running", Some(1_000), 500, "n"),
            pod("new-ready", "Running", Some(9_990), 9_980, "n"),
            pod("running-not-ready", "Running", None, 9_000, "n"),
            pod("pending", "Pending", None, 9_000, "n"),
            pod("unscheduled", "Pending", None, 100, ""),
        ];
        pods.sort_by(|a, b| deletion_order(a, b, now));
        let names: Vec<&str> = pods
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "unscheduled",
                "pending",
                "running-not-ready",
                "new-ready",
                "old-ready"
            ]
        );
    }
}
