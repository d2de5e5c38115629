//! kubectl's `rollout` verbs decided without I/O, as kubectl decides them client-side:
//! `rollout status`'s messages (its status viewers), `rollout history`'s table (its history
//! viewers), `rollout undo`'s patch (its rollbackers), and the patches of `rollout
//! restart|pause|resume` (its object restarter, pauser and resumer). `nodectl` fetches, calls
//! these, sends the patch and prints; the words are kubectl's, so the output is the same.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

use crate::controllers::deployment::{
    CHANGE_CAUSE_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
};
use crate::workload_describe::tabbed;

/// The annotation `rollout restart` sets on the pod template.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";

/// One look at a rollout: kubectl's message (with its newline) and whether it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    pub message: String,
    pub done: bool,
}

fn waiting(message: String) -> Result<RolloutStatus, String> {
    Ok(RolloutStatus {
        message,
        done: false,
    })
}

/// `rollout status deployment/NAME` (kubectl's `DeploymentStatusViewer`); an error ends the
/// wait (the progress deadline passed).
pub fn deployment_status(d: &Deployment) -> Result<RolloutStatus, String> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let st = d.status.clone().unwrap_or_default();
    if d.metadata.generation.unwrap_or(0) > st.observed_generation.unwrap_or(0) {
        return waiting("Waiting for deployment spec update to be observed...\n".into());
    }
    let timed_out = st.conditions.iter().flatten().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let updated = st.updated_replicas.unwrap_or(0);
    let replicas = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if let Some(want) = d.spec.replicas
        && updated < want
    {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated...\n"
        ));
    }
    if replicas > updated {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
            replicas - updated
        ));
    }
    if available < updated {
        return waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available...\n"
        ));
    }
    Ok(RolloutStatus {
        message: format!("deployment {name:?} successfully rolled out\n"),
        done: true,
    })
}

/// `rollout status daemonset/NAME` (kubectl's `DaemonSetStatusViewer`).
pub fn daemonset_status(ds: &DaemonSet) -> Result<RolloutStatus, String> {
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let strategy = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate");
    if strategy != "RollingUpdate" {
        return Err("rollout status is only available for RollingUpdate strategy type".into());
    }
    let st = ds.status.clone().unwrap_or_default();
    if ds.metadata.generation.unwrap_or(0) > st.observed_generation.unwrap_or(0) {
        return waiting("Waiting for daemon set spec update to be observed...\n".into());
    }
    let desired = st.desired_number_scheduled;
    let updated = st.updated_number_scheduled.unwrap_or(0);
    let available = st.number_available.unwrap_or(0);
    if updated < desired {
        return waiting(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated...\n"
        ));
    }
    if available < desired {
        return waiting(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available...\n"
        ));
    }
    Ok(RolloutStatus {
        message: format!("daemon set {name:?} successfully rolled out\n"),
        done: true,
    })
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// A ReplicaSet's revision as kubectl reads it: none is 0, one that is no number is skipped.
fn rs_revision(rs: &ReplicaSet) -> Option<i64> {
    match annotation(&rs.metadata, REVISION_ANNOTATION) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// The ReplicaSets `owned` by `owner_uid` (their controller reference).
fn owned_by<'a>(owner_uid: Option<&str>, rss: &'a [ReplicaSet]) -> Vec<&'a ReplicaSet> {
    rss.iter()
        .filter(|rs| {
            owner_uid.is_some() && crate::controllers::controller_uid(&rs.metadata) == owner_uid
        })
        .collect()
}

/// Revision → change cause of a Deployment, from the ReplicaSets it controls (`rss`: the
/// namespace's ReplicaSets matching its selector).
pub fn deployment_history(d: &Deployment, rss: &[ReplicaSet]) -> BTreeMap<i64, String> {
    owned_by(d.metadata.uid.as_deref(), rss)
        .into_iter()
        .filter_map(|rs| {
            let cause = annotation(&rs.metadata, CHANGE_CAUSE_ANNOTATION)
                .or_else(|| {
                    rs.spec
                        .template
                        .as_ref()?
                        .metadata
                        .as_ref()
                        .and_then(|m| annotation(m, CHANGE_CAUSE_ANNOTATION))
                })
                .unwrap_or_default();
            Some((rs_revision(rs)?, cause.to_string()))
        })
        .collect()
}

/// Revision → change cause of a DaemonSet, from the ControllerRevisions it controls.
pub fn daemonset_history(
    ds: &DaemonSet,
    revisions: &[ControllerRevision],
) -> BTreeMap<i64, String> {
    let uid = ds.metadata.uid.as_deref();
    revisions
        .iter()
        .filter(|r| uid.is_some() && crate::controllers::controller_uid(&r.metadata) == uid)
        .map(|r| {
            let cause = annotation(&r.metadata, CHANGE_CAUSE_ANNOTATION).unwrap_or_default();
            (r.revision.unwrap_or(0), cause.to_string())
        })
        .collect()
}

/// What `rollout history KIND/NAME` prints after the object's name line: the REVISION
/// CHANGE-CAUSE table (kubectl's tabwriter), or "No rollout history found.".
pub fn history_table(history: &BTreeMap<i64, String>) -> String {
    if history.is_empty() {
        return "No rollout history found.".into();
    }
    let mut t = String::from("REVISION\tCHANGE-CAUSE\n");
    for (r, cause) in history {
        let cause = if cause.is_empty() { "<none>" } else { cause };
        t.push_str(&format!("{r}\t{cause}\n"));
    }
    tabbed(&t)
}

/// The template of revision `revision` (`rollout history --revision=N`): a Deployment's
/// ReplicaSet's (with the ReplicaSet's change cause among its annotations, as kubectl shows
/// it).
pub fn deployment_revision_template(
    d: &Deployment,
    rss: &[ReplicaSet],
    revision: i64,
) -> Result<PodTemplateSpec, String> {
    let rs = owned_by(d.metadata.uid.as_deref(), rss)
        .into_iter()
        .find(|rs| rs_revision(rs) == Some(revision))
        .ok_or("unable to find the specified revision")?;
    let mut t = rs.spec.template.clone().unwrap_or_default();
    if let Some(cause) = annotation(&rs.metadata, CHANGE_CAUSE_ANNOTATION) {
        t.metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CHANGE_CAUSE_ANNOTATION.to_string(), cause.to_string());
    }
    Ok(t)
}

/// The template of a DaemonSet's revision `revision`: its ControllerRevision's data applied
/// (the data replaces the template).
pub fn daemonset_revision_template(
    ds: &DaemonSet,
    revisions: &[ControllerRevision],
    revision: i64,
) -> Result<PodTemplateSpec, String> {
    let uid = ds.metadata.uid.as_deref();
    let r = revisions
        .iter()
        .filter(|r| uid.is_some() && crate::controllers::controller_uid(&r.metadata) == uid)
        .find(|r| r.revision.unwrap_or(0) == revision)
        .ok_or("unable to find the specified revision")?;
    let mut t = r
        .data
        .0
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    if let Some(o) = t.as_object_mut() {
        o.remove("$patch");
    }
    crate::decode::from_value(t).map_err(|e| format!("revision {revision}: {e}"))
}

/// What `rollout undo` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// Nothing to do: kubectl's "skipped rollback (...)" operation text.
    Skipped(String),
    /// This JSON patch (`application/json-patch+json`) of the Deployment, or strategic merge
    /// patch of the DaemonSet, restores the revision.
    Patch(Value),
}

fn revision_not_found(r: i64) -> String {
    format!("unable to find specified revision {r} in history")
}

/// `rollout undo deployment/NAME [--to-revision=N]` (kubectl's `DeploymentRollbacker`): the
/// revision's ReplicaSet (0: the one before the latest), its template without the
/// pod-template-hash label and its annotations (but kubectl's skipped ones) patched over the
/// Deployment's.
pub fn deployment_rollback(
    d: &Deployment,
    rss: &[ReplicaSet],
    to_revision: i64,
) -> Result<Rollback, String> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    if to_revision < 0 {
        return Err(revision_not_found(to_revision));
    }
    let owned = owned_by(d.metadata.uid.as_deref(), rss);
    let rs = if to_revision > 0 {
        owned
            .iter()
            .find(|rs| rs_revision(rs) == Some(to_revision))
            .copied()
            .ok_or_else(|| revision_not_found(to_revision))?
    } else {
        // The second newest revision.
        let mut latest: Option<(i64, &ReplicaSet)> = None;
        let mut previous: Option<(i64, &ReplicaSet)> = None;
        for rs in owned {
            let Some(v) = rs_revision(rs) else { continue };
            if latest.is_none_or(|(l, _)| l < v) {
                previous = latest;
                latest = Some((v, rs));
            } else if previous.is_none_or(|(p, _)| p < v) {
                previous = Some((v, rs));
            }
        }
        previous
            .map(|(_, rs)| rs)
            .ok_or_else(|| format!("no rollout history found for deployment {name:?}"))?
    };
    if d.spec.paused == Some(true) {
        return Err("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again".into());
    }
    let mut template = rs.spec.template.clone().unwrap_or_default();
    // kubectl compares the ReplicaSet's template (hash label and all) with the Deployment's.
    if semantic(&template) == semantic(&d.spec.template) {
        return Ok(Rollback::Skipped(format!(
            "skipped rollback (current template already matches revision {to_revision})"
        )));
    }
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let skip = [
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        DEPRECATED_ROLLBACK_TO,
    ];
    let mut annotations = BTreeMap::new();
    for k in skip {
        if let Some(v) = annotation(&d.metadata, k) {
            annotations.insert(k.to_string(), v.to_string());
        }
    }
    for (k, v) in rs.metadata.annotations.iter().flatten() {
        if !skip.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    Ok(Rollback::Patch(json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])))
}

/// `rollout undo daemonset/NAME [--to-revision=N]` (kubectl's `DaemonSetRollbacker`): the
/// revision's data (a strategic merge patch replacing the template), unless it equals the
/// DaemonSet's own template's.
pub fn daemonset_rollback(
    ds: &DaemonSet,
    revisions: &[ControllerRevision],
    to_revision: i64,
) -> Result<Rollback, String> {
    if to_revision < 0 {
        return Err(revision_not_found(to_revision));
    }
    let uid = ds.metadata.uid.as_deref();
    let mut history: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| uid.is_some() && crate::controllers::controller_uid(&r.metadata) == uid)
        .collect();
    if to_revision == 0 && history.len() <= 1 {
        return Err("no last revision to roll back to".into());
    }
    history.sort_by_key(|r| r.revision.unwrap_or(0));
    let found = if to_revision == 0 {
        // The one before the newest.
        history.iter().rev().nth(1).copied()
    } else {
        history
            .iter()
            .find(|r| r.revision.unwrap_or(0) == to_revision)
            .copied()
    };
    let Some(found) = found else {
        return Err(revision_not_found(to_revision));
    };
    let data = found.data.0.clone();
    let current = serde_json::to_value(&ds.spec.template).unwrap_or(Value::Null);
    let mut stored = data
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(o) = stored.as_object_mut() {
        o.remove("$patch");
    }
    if semantic_value(stored) == semantic_value(current) {
        return Ok(Rollback::Skipped(format!(
            "skipped rollback (current template already matches revision {to_revision})"
        )));
    }
    Ok(Rollback::Patch(data))
}

/// apimachinery's semantic equality of two values as JSON: empty maps and lists are absent.
fn semantic(v: &impl serde::Serialize) -> Option<Value> {
    semantic_value(serde_json::to_value(v).unwrap_or(Value::Null))
}

fn semantic_value(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> = m
                .into_iter()
                .filter_map(|(k, v)| semantic_value(v).map(|v| (k, v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => (!a.is_empty()).then_some(Value::Array(a)),
        v => Some(v),
    }
}

/// The time as Go's `time.RFC3339` prints it (`Z` for UTC, else `+hh:mm`): what
/// `rollout restart` writes in its annotation.
pub fn rfc3339(now: &jiff::Zoned) -> String {
    if now.offset().seconds() == 0 {
        now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The kinds the rollout verbs know, with what kubectl says of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutKind {
    Deployment,
    DaemonSet,
}

impl RolloutKind {
    /// `deployments.apps`: the resource as kubectl's errors name it.
    pub fn resource(self) -> &'static str {
        match self {
            RolloutKind::Deployment => "deployments.apps",
            RolloutKind::DaemonSet => "daemonsets.apps",
        }
    }

    /// `deployment.apps`: the prefix of kubectl's `KIND.GROUP/NAME` lines.
    pub fn kind_group(self) -> &'static str {
        match self {
            RolloutKind::Deployment => "deployment.apps",
            RolloutKind::DaemonSet => "daemonset.apps",
        }
    }
}

/// `rollout restart`'s strategic merge patch (kubectl's `ObjectRestarter`): the template's
/// `restartedAt` annotation; a paused Deployment cannot be restarted.
pub fn restart_patch(paused: bool, kind: RolloutKind, now: &jiff::Zoned) -> Result<Value, String> {
    if paused && kind == RolloutKind::Deployment {
        return Err("can't restart paused deployment (run rollout resume first)".into());
    }
    Ok(json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT_ANNOTATION: rfc3339(now)
    }}}}}))
}

/// `rollout pause` / `rollout resume` (kubectl's `ObjectPauser` / `ObjectResumer`): the
/// strategic merge patch, or kubectl's error (printed `error: deployments.apps "x" <it>`).
pub fn pause_patch(kind: RolloutKind, paused: bool, pause: bool) -> Result<Value, String> {
    if kind != RolloutKind::Deployment {
        return Err(if pause {
            "pausing is not supported"
        } else {
            "resuming is not supported"
        }
        .into());
    }
    match (pause, paused) {
        (true, true) => Err("is already paused".into()),
        (false, false) => Err("is not paused".into()),
        (true, false) => Ok(json!({"spec": {"paused": true}})),
        (false, true) => Ok(json!({"spec": {"paused": null}})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DaemonSetSpec, DaemonSetStatus, DeploymentCondition, DeploymentSpec, DeploymentStatus,
        ReplicaSetSpec,
    };
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

    fn deployment(gen_: i64, observed: i64, want: i32, st: (i32, i32, i32)) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("d-uid".into()),
                generation: Some(gen_),
                ..Default::default()
            },
            spec: DeploymentSpec {
                replicas: Some(want),
                template: template("new", None),
                ..Default::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                replicas: Some(st.0),
                updated_replicas: Some(st.1),
                available_replicas: Some(st.2),
                ..Default::default()
            }),
        }
    }

    fn template(image: &str, hash: Option<&str>) -> PodTemplateSpec {
        let mut labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        if let Some(h) = hash {
            labels.insert(POD_TEMPLATE_HASH_LABEL.into(), h.into());
        }
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn rs(
        name: &str,
        owner: &str,
        revision: Option<&str>,
        image: &str,
        cause: Option<&str>,
    ) -> ReplicaSet {
        let mut annotations = BTreeMap::new();
        if let Some(r) = revision {
            annotations.insert(REVISION_ANNOTATION.to_string(), r.to_string());
        }
        if let Some(c) = cause {
            annotations.insert(CHANGE_CAUSE_ANNOTATION.to_string(), c.to_string());
        }
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: Some(annotations),
                owner_references: Some(vec![crate::controllers::controller_ref(
                    "apps/v1",
                    "Deployment",
                    "web",
                    owner,
                )]),
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                template: Some(template(image, Some(name))),
                ..Default::default()
            },
            status: None,
        }
    }

    #[test]
    fn deployment_status_messages() {
        let d = |g, o, want, st| deployment_status(&deployment(g, o, want, st));
        for (got, message, done) in [
            (
                d(2, 1, 3, (3, 3, 3)),
                "Waiting for deployment spec update to be observed...\n",
                false,
            ),
            (
                d(2, 2, 3, (4, 1, 3)),
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n",
                false,
            ),
            (
                d(2, 2, 3, (4, 3, 3)),
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n",
                false,
            ),
            (
                d(2, 2, 3, (3, 3, 2)),
                "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n",
                false,
            ),
            (
                d(2, 2, 3, (3, 3, 3)),
                "deployment \"web\" successfully rolled out\n",
                true,
            ),
        ] {
            assert_eq!(
                got,
                Ok(RolloutStatus {
                    message: message.into(),
                    done
                })
            );
        }
        let mut late = deployment(1, 1, 3, (3, 1, 1));
        late.status.as_mut().unwrap().conditions = Some(vec![DeploymentCondition {
            type_: Some("Progressing".into()),
            status: Some("False".into()),
            reason: Some("ProgressDeadlineExceeded".into()),
            ..Default::default()
        }]);
        assert_eq!(
            deployment_status(&late),
            Err("deployment \"web\" exceeded its progress deadline".into())
        );
    }

    #[test]
    fn daemonset_status_messages() {
        let ds = |strategy: &str, desired, updated, available| DaemonSet {
            metadata: ObjectMeta {
                name: Some("agent".into()),
                generation: Some(1),
                ..Default::default()
            },
            spec: DaemonSetSpec {
                update_strategy: Some(k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy {
                    type_: Some(strategy.into()),
                    rolling_update: None,
                }),
                ..Default::default()
            },
            status: Some(DaemonSetStatus {
                observed_generation: Some(1),
                desired_number_scheduled: desired,
                updated_number_scheduled: Some(updated),
                number_available: Some(available),
                ..Default::default()
            }),
        };
        assert_eq!(
            daemonset_status(&ds("RollingUpdate", 1, 0, 1))
                .unwrap()
                .message,
            "Waiting for daemon set \"agent\" rollout to finish: 0 out of 1 new pods have been updated...\n"
        );
        assert_eq!(
            daemonset_status(&ds("RollingUpdate", 1, 1, 0))
                .unwrap()
                .message,
            "Waiting for daemon set \"agent\" rollout to finish: 0 of 1 updated pods are available...\n"
        );
        assert!(
            daemonset_status(&ds("RollingUpdate", 1, 1, 1))
                .unwrap()
                .done
        );
        assert_eq!(
            daemonset_status(&ds("OnDelete", 1, 1, 1)),
            Err("rollout status is only available for RollingUpdate strategy type".into())
        );
    }

    #[test]
    fn history_from_owned_replicasets() {
        let d = deployment(1, 1, 1, (1, 1, 1));
        let rss = [
            rs("web-b", "d-uid", Some("2"), "v2", Some("kubectl set image")),
            rs("web-a", "d-uid", Some("1"), "v1", None),
            rs("other", "x-uid", Some("7"), "v1", None),
            rs("web-c", "d-uid", Some("x"), "v1", None),
        ];
        let h = deployment_history(&d, &rss);
        assert_eq!(
            history_table(&h),
            "REVISION  CHANGE-CAUSE\n1         <none>\n2         kubectl set image\n"
        );
        assert_eq!(history_table(&BTreeMap::new()), "No rollout history found.");
    }

    #[test]
    fn a_revision_s_template() {
        let d = deployment(1, 1, 1, (1, 1, 1));
        let rss = [
            rs("web-a", "d-uid", Some("1"), "v1", None),
            rs("web-b", "d-uid", Some("2"), "v2", Some("set image")),
        ];
        let t = deployment_revision_template(&d, &rss, 2).unwrap();
        let meta = t.metadata.clone().unwrap();
        assert_eq!(meta.labels.unwrap()[POD_TEMPLATE_HASH_LABEL], "web-b");
        assert_eq!(
            meta.annotations.unwrap()[CHANGE_CAUSE_ANNOTATION],
            "set image"
        );
        assert_eq!(
            deployment_revision_template(&d, &rss, 3),
            Err("unable to find the specified revision".into())
        );
        let text = crate::workload_describe::pod_template_text(&t);
        assert!(
            text.starts_with("Pod Template:\n  Labels:\tapp=web\n\tpod-template-hash=web-b\n  Annotations:\tkubernetes.io/change-cause: set image\n  Containers:\n   c:\n"),
            "{text:?}"
        );
    }

    #[test]
    fn rollback_of_a_deployment() {
        let mut d = deployment(3, 3, 1, (1, 1, 1));
        d.metadata.annotations = Some(BTreeMap::from([
            (REVISION_ANNOTATION.to_string(), "3".to_string()),
            ("team".to_string(), "a".to_string()),
        ]));
        let rss = [
            rs("web-a", "d-uid", Some("1"), "v1", None),
            rs("web-b", "d-uid", Some("2"), "v2", Some("cause two")),
            rs("web-c", "d-uid", Some("3"), "new", None),
        ];
        // 0: the revision before the newest.
        let Ok(Rollback::Patch(p)) = deployment_rollback(&d, &rss, 0) else {
            panic!("no patch");
        };
        assert_eq!(p[0]["value"]["spec"]["containers"][0]["image"], "v2");
        assert_eq!(p[0]["value"]["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            p[1]["value"],
            json!({REVISION_ANNOTATION: "3", CHANGE_CAUSE_ANNOTATION: "cause two"})
        );
        let Ok(Rollback::Patch(p)) = deployment_rollback(&d, &rss, 1) else {
            panic!("no patch");
        };
        assert_eq!(p[0]["value"]["spec"]["containers"][0]["image"], "v1");
        assert_eq!(
            deployment_rollback(&d, &rss, 9),
            Err("unable to find specified revision 9 in history".into())
        );
        assert_eq!(
            deployment_rollback(&d, &rss[..1], 0),
            Err("no rollout history found for deployment \"web\"".into())
        );
        // kubectl compares the ReplicaSet's template with its hash label: only a template
        // without one (a ReplicaSet made so) is ever "already matching".
        let mut same = rs("web-c", "d-uid", Some("3"), "new", None);
        same.spec.template = Some(template("new", None));
        assert_eq!(
            deployment_rollback(&d, &[same], 3),
            Ok(Rollback::Skipped(
                "skipped rollback (current template already matches revision 3)".into()
            ))
        );
        d.spec.paused = Some(true);
        assert!(
            deployment_rollback(&d, &rss, 1)
                .unwrap_err()
                .contains("paused deployment")
        );
    }

    #[test]
    fn rollback_of_a_daemonset() {
        let ds = DaemonSet {
            metadata: ObjectMeta {
                name: Some("agent".into()),
                uid: Some("ds-uid".into()),
                ..Default::default()
            },
            spec: DaemonSetSpec {
                template: template("v2", None),
                ..Default::default()
            },
            status: None,
        };
        let cr = |rev: i64, image: &str| {
            let mut t = serde_json::to_value(template(image, None)).unwrap();
            t["$patch"] = json!("replace");
            ControllerRevision {
                metadata: ObjectMeta {
                    name: Some(format!("agent-{rev}")),
                    owner_references: Some(vec![crate::controllers::controller_ref(
                        "apps/v1",
                        "DaemonSet",
                        "agent",
                        "ds-uid",
                    )]),
                    ..Default::default()
                },
                revision: Some(rev),
                data: RawExtension(json!({"spec": {"template": t}})),
            }
        };
        let revs = [cr(1, "v1"), cr(2, "v2")];
        let Ok(Rollback::Patch(p)) = daemonset_rollback(&ds, &revs, 0) else {
            panic!("no patch");
        };
        assert_eq!(
            p["spec"]["template"]["spec"]["containers"][0]["image"],
            "v1"
        );
        assert_eq!(p["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            daemonset_rollback(&ds, &revs, 2),
            Ok(Rollback::Skipped(
                "skipped rollback (current template already matches revision 2)".into()
            ))
        );
        assert_eq!(
            daemonset_rollback(&ds, &revs[..1], 0),
            Err("no last revision to roll back to".into())
        );
        assert_eq!(
            history_table(&daemonset_history(&ds, &revs)),
            "REVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n"
        );
    }

    #[test]
    fn restart_pause_resume_patches() {
        let utc = jiff::Timestamp::from_second(1_700_000_000)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC);
        assert_eq!(rfc3339(&utc), "2023-11-14T22:13:20Z");
        let plus2 = jiff::Timestamp::from_second(1_700_000_000)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(2)));
        assert_eq!(rfc3339(&plus2), "2023-11-15T00:13:20+02:00");
        assert_eq!(
            restart_patch(false, RolloutKind::Deployment, &utc).unwrap(),
            json!({"spec": {"template": {"metadata": {"annotations": {
                RESTARTED_AT_ANNOTATION: "2023-11-14T22:13:20Z"}}}}})
        );
        assert!(restart_patch(true, RolloutKind::Deployment, &utc).is_err());
        assert!(restart_patch(true, RolloutKind::DaemonSet, &utc).is_ok());
        let k = RolloutKind::Deployment;
        assert_eq!(
            pause_patch(k, false, true),
            Ok(json!({"spec": {"paused": true}}))
        );
        assert_eq!(pause_patch(k, true, true), Err("is already paused".into()));
        assert_eq!(
            pause_patch(k, true, false),
            Ok(json!({"spec": {"paused": null}}))
        );
        assert_eq!(pause_patch(k, false, false), Err("is not paused".into()));
        assert_eq!(
            pause_patch(RolloutKind::DaemonSet, false, true),
            Err("pausing is not supported".into())
        );
    }
}
