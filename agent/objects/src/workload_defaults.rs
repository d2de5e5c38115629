//! The API server's defaulting of the workload kinds (`SetDefaults_*` of apps/v1 and
//! batch/v1), applied when a manifest is read, so that what the node runs and what the API
//! shows (`kubectl get -o yaml`, `kubectl describe`, which dereferences `spec.replicas`) are
//! what a cluster has:
//! - Deployment: `replicas` 1, strategy RollingUpdate with 25% max unavailable / 25% max
//!   surge, `revisionHistoryLimit` 10, `progressDeadlineSeconds` 600;
//! - ReplicaSet: `replicas` 1;
//! - DaemonSet: update strategy RollingUpdate with max unavailable 1 / max surge 0,
//!   `revisionHistoryLimit` 10;
//! - Job: `completions` and `parallelism` 1 when neither is set, else `parallelism` 1;
//!   `backoffLimit` 6, `completionMode` NonIndexed, `suspend` false, `podReplacementPolicy`
//!   TerminatingOrFailed (Failed with a `podFailurePolicy`);
//! - CronJob: `concurrencyPolicy` Allow, `suspend` false, `successfulJobsHistoryLimit` 3,
//!   `failedJobsHistoryLimit` 1;
//! - once the object has its UID ([`job_with_uid`]), a Job's generated selector and pod labels
//!   (and those labels as the Job's when it has none);
//! - every pod template's spec: the Pod's defaults (`pod_defaults`: restart policy Always,
//!   DNS policy, grace period, pull policies...), as the API server defaults templates — so a
//!   Job without a restart policy is refused for `"Always"`, as on a cluster.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::apps::v1::{
    DaemonSetUpdateStrategy, DeploymentStrategy, RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The label the API server gives a Job's selector and pods: the Job's UID.
pub const JOB_CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// The label with the Job's name on its pods.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";

/// What the API server adds once an object has its UID: a Job without `manualSelector:
/// true` gets the selector `batch.kubernetes.io/controller-uid=<uid>`, and its pod template
/// the labels `batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name` and the
/// legacy `controller-uid`, `job-name` (the job controller's pods carry them).
pub fn job_with_uid(j: &mut Job) {
    let (Some(uid), Some(name)) = (j.metadata.uid.clone(), j.metadata.name.clone()) else {
        return;
    };
    let Some(s) = j.spec.as_mut() else {
        return;
    };
    if s.manual_selector == Some(true) {
        return;
    }
    s.selector = Some(LabelSelector {
        match_labels: Some([(JOB_CONTROLLER_UID.to_string(), uid.clone())].into()),
        match_expressions: None,
    });
    let labels = s
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    for (k, v) in [
        (JOB_CONTROLLER_UID, &uid),
        (JOB_NAME, &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels.insert(k.to_string(), v.clone());
    }
    // A Job without labels takes its pods' (`SetDefaults_Job`, applied when it is read back).
    if j.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
        j.metadata.labels = Some(labels.clone());
    }
}

/// A Deployment's defaults.
pub fn deployment(d: &mut Deployment) {
    let s = &mut d.spec;
    s.replicas.get_or_insert(1);
    let strategy = s.strategy.get_or_insert_with(DeploymentStrategy::default);
    let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
    if kind == "RollingUpdate" {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        ru.max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".into()));
        ru.max_surge
            .get_or_insert_with(|| IntOrString::String("25%".into()));
    }
    s.revision_history_limit.get_or_insert(10);
    s.progress_deadline_seconds.get_or_insert(600);
    pod_template(&mut s.template);
}

/// A ReplicaSet's defaults.
pub fn replicaset(r: &mut ReplicaSet) {
    r.spec.replicas.get_or_insert(1);
    if let Some(t) = r.spec.template.as_mut() {
        pod_template(t);
    }
}

/// A DaemonSet's defaults.
pub fn daemonset(d: &mut DaemonSet) {
    let s = &mut d.spec;
    let strategy = s
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
    if kind == "RollingUpdate" {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    s.revision_history_limit.get_or_insert(10);
    pod_template(&mut s.template);
}

/// A Job's defaults.
pub fn job(j: &mut Job) {
    if let Some(s) = j.spec.as_mut() {
        job_spec(s);
    }
}

/// A CronJob's defaults.
pub fn cronjob(c: &mut CronJob) {
    let s = &mut c.spec;
    s.concurrency_policy.get_or_insert_with(|| "Allow".into());
    s.suspend.get_or_insert(false);
    s.successful_jobs_history_limit.get_or_insert(3);
    s.failed_jobs_history_limit.get_or_insert(1);
    // The job template's pod template (its JobSpec is defaulted when a Job is made).
    if let Some(js) = s.job_template.spec.as_mut() {
        pod_template(&mut js.template);
    }
}

fn job_spec(s: &mut JobSpec) {
    if s.completions.is_none() && s.parallelism.is_none() {
        s.completions = Some(1);
    }
    s.parallelism.get_or_insert(1);
    if s.backoff_limit.is_none() {
        s.backoff_limit = Some(if s.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    s.completion_mode.get_or_insert_with(|| "NonIndexed".into());
    s.suspend.get_or_insert(false);
    let replacement = if s.pod_failure_policy.is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    s.pod_replacement_policy
        .get_or_insert_with(|| replacement.into());
    pod_template(&mut s.template);
}

/// The Pod's defaults on a template's spec (its metadata is the controller's to fill).
fn pod_template(t: &mut PodTemplateSpec) {
    let Some(spec) = t.spec.take() else {
        return;
    };
    let mut pod = Pod {
        spec: Some(spec),
        ..Default::default()
    };
    crate::pod_defaults::apply_defaults(&mut pod);
    t.spec = pod.spec;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted(v: serde_json::Value) -> serde_json::Value {
        use crate::workload::Object;
        let kind = v["kind"].as_str().unwrap().to_string();
        let (mut o, _) = Object::decode(&kind, v).unwrap();
        match &mut o {
            Object::Deployment(x) => deployment(x),
            Object::DaemonSet(x) => daemonset(x),
            Object::Job(x) => job(x),
            Object::CronJob(x) => cronjob(x),
            _ => {}
        }
        o.to_value()
    }

    #[test]
    fn deployments_jobs_and_cronjobs_get_the_api_servers_defaults() {
        let d = defaulted(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}));
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert!(d["spec"]["template"]["metadata"].get("namespace").is_none());
        let j = defaulted(
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}}),
        );
        assert_eq!(
            (
                &j["spec"]["completions"],
                &j["spec"]["parallelism"],
                &j["spec"]["backoffLimit"]
            ),
            (&json!(1), &json!(1), &json!(6))
        );
        assert_eq!(j["spec"]["completionMode"], "NonIndexed");
        let j = defaulted(
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"parallelism": 3, "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}}),
        );
        assert!(j["spec"].get("completions").is_none(), "{j}");
        let c = defaulted(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "x"}]}}}}}}),
        );
        assert_eq!(
            (
                &c["spec"]["concurrencyPolicy"],
                &c["spec"]["suspend"],
                &c["spec"]["successfulJobsHistoryLimit"],
                &c["spec"]["failedJobsHistoryLimit"]
            ),
            (&json!("Allow"), &json!(false), &json!(3), &json!(1))
        );
        // A Job's selector and pod labels from its UID (kubectl describe's Selector).
        let v = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}});
        let d =
            crate::workload::from_document("Job", v, "n1", std::path::Path::new("/m/j.yaml"), 0)
                .unwrap();
        let uid = d.object.uid().to_string();
        let j = d.object.to_value();
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        );
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            (&labels["job-name"], &labels["batch.kubernetes.io/job-name"]),
            (&json!("pi"), &json!("pi"))
        );
        assert_eq!(labels["controller-uid"], json!(uid));
        assert_eq!(&j["metadata"]["labels"], labels);
        let ds = defaulted(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}}}),
        );
        assert_eq!(
            ds["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"maxUnavailable": 1, "maxSurge": 0})
        );
    }
}
