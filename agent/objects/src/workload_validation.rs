//! The API server's validation of the workload kinds' specs (Deployment, ReplicaSet,
//! DaemonSet, Job, CronJob): selectors (required, non-empty for the apps kinds, matching the
//! template's labels), counts that must not be negative, the restart policies each kind
//! allows, a CronJob's schedule present, and the pod template validated as a Pod
//! (`pod_validation`, after the Pod defaults) with its errors at the template's paths
//! (`spec.template.spec.containers[0].image: Required value`). Objects are not changed.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::field::{FieldError, FieldPath};
use crate::selector::Selector;

/// Labels as Go prints a `map[string]string` in a field error.
struct GoMap<'a>(Option<&'a BTreeMap<String, String>>);

impl fmt::Debug for GoMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| format!("{k:?}:{v:?}"))
            .collect();
        write!(f, "map[string]string{{{}}}", items.join(", "))
    }
}

/// A Deployment's spec errors.
pub fn deployment(d: &Deployment) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    let s = &d.spec;
    non_negative(&mut errs, &spec.child("replicas"), s.replicas);
    apps(&mut errs, &spec, Some(&s.selector), Some(&s.template));
    errs
}

/// A ReplicaSet's spec errors.
pub fn replicaset(r: &ReplicaSet) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    let s = &r.spec;
    non_negative(&mut errs, &spec.child("replicas"), s.replicas);
    apps(&mut errs, &spec, Some(&s.selector), s.template.as_ref());
    errs
}

/// A DaemonSet's spec errors.
pub fn daemonset(d: &DaemonSet) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    apps(
        &mut errs,
        &spec,
        Some(&d.spec.selector),
        Some(&d.spec.template),
    );
    errs
}

/// A Job's spec errors.
pub fn job(j: &Job) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    match &j.spec {
        Some(s) => job_spec(&mut errs, &spec, s),
        None => errs.push(FieldError::required(
            &spec.child("template").child("spec").child("containers"),
            "",
        )),
    }
    errs
}

/// A CronJob's spec errors.
pub fn cronjob(c: &CronJob) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    let s = &c.spec;
    if s.schedule.trim().is_empty() {
        errs.push(FieldError::required(&spec.child("schedule"), ""));
    }
    for (field, v) in [
        ("startingDeadlineSeconds", s.starting_deadline_seconds),
        (
            "successfulJobsHistoryLimit",
            s.successful_jobs_history_limit.map(i64::from),
        ),
        (
            "failedJobsHistoryLimit",
            s.failed_jobs_history_limit.map(i64::from),
        ),
    ] {
        non_negative64(&mut errs, &spec.child(field), v);
    }
    let jt = spec.child("jobTemplate").child("spec");
    match &s.job_template.spec {
        Some(js) => job_spec(&mut errs, &jt, js),
        None => errs.push(FieldError::required(
            &jt.child("template").child("spec").child("containers"),
            "",
        )),
    }
    errs
}

fn non_negative(errs: &mut Vec<FieldError>, path: &FieldPath, v: Option<i32>) {
    non_negative64(errs, path, v.map(i64::from));
}

fn non_negative64(errs: &mut Vec<FieldError>, path: &FieldPath, v: Option<i64>) {
    if let Some(v) = v
        && v < 0
    {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// Deployments, ReplicaSets, DaemonSets: a non-empty selector matching the template's
/// labels, a template whose pods restart Always.
fn apps(
    errs: &mut Vec<FieldError>,
    spec: &FieldPath,
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
) {
    let empty = selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    });
    let tp = spec.child("template");
    let labels = template.and_then(|t| t.metadata.as_ref()?.labels.as_ref());
    if empty {
        errs.push(FieldError::required(&spec.child("selector"), ""));
    } else if let Some(sel) = selector {
        match Selector::from_label_selector(sel) {
            Err(e) => errs.push(FieldError::invalid(
                &spec.child("selector").child("matchExpressions"),
                sel.match_expressions.as_ref().map(Vec::len).unwrap_or(0),
                &e,
            )),
            Ok(s) if !s.matches(labels) => errs.push(FieldError::invalid(
                &tp.child("metadata").child("labels"),
                GoMap(labels),
                "`selector` does not match template `labels`",
            )),
            Ok(_) => {}
        }
    }
    match template {
        Some(t) => pod_template(errs, &tp, t, &["Always"]),
        None => errs.push(FieldError::required(&tp, "")),
    }
}

fn job_spec(errs: &mut Vec<FieldError>, spec: &FieldPath, s: &JobSpec) {
    for (field, v) in [
        ("completions", s.completions),
        ("parallelism", s.parallelism),
        ("backoffLimit", s.backoff_limit),
    ] {
        non_negative(errs, &spec.child(field), v);
    }
    if let Some(d) = s.active_deadline_seconds
        && d <= 0
    {
        errs.push(FieldError::invalid(
            &spec.child("activeDeadlineSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    let rp = s
        .template
        .spec
        .as_ref()
        .and_then(|p| p.restart_policy.as_deref());
    let rp_path = spec.child("template").child("spec").child("restartPolicy");
    match rp {
        None => errs.push(FieldError::required(
            &rp_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        Some("OnFailure" | "Never") => {}
        Some(other) => errs.push(FieldError::not_supported(
            &rp_path,
            other,
            &["OnFailure", "Never"],
        )),
    }
    pod_template(
        errs,
        &spec.child("template"),
        &s.template,
        &["OnFailure", "Never"],
    );
}

/// The template validated as a Pod (defaulted first, as the API server defaults templates),
/// its errors moved under `path`; the restart policy must be one of `restart`.
fn pod_template(
    errs: &mut Vec<FieldError>,
    path: &FieldPath,
    t: &PodTemplateSpec,
    restart: &[&str],
) {
    let Some(spec) = t.spec.clone() else {
        errs.push(FieldError::required(
            &path.child("spec").child("containers"),
            "",
        ));
        return;
    };
    let mut pod = Pod {
        metadata: t.metadata.clone().unwrap_or_default(),
        spec: Some(spec),
        status: None,
    };
    // The template's pods are named by the controller.
    pod.metadata.name = Some("template".into());
    pod.metadata.namespace = None;
    crate::pod_defaults::apply_defaults(&mut pod);
    for mut e in crate::pod_validation::validate_pod(&pod) {
        e.field = FieldPath::from(format!("{path}.{}", e.field).as_str());
        errs.push(e);
    }
    let rp = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    if restart == ["Always"] && rp != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            rp,
            restart,
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors(yaml: &str) -> Vec<String> {
        let v: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
        let kind = v["kind"].as_str().expect("kind").to_string();
        match crate::workload::from_document(&kind, v, "node1", Path::new("/m/x.yaml"), 0) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n";

    #[test]
    fn a_valid_deployment_and_job_pass() {
        assert_eq!(errors(DEPLOY), Vec::<String>::new());
        assert_eq!(
            errors(
                "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: pi, image: perl}]\n"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn workload_errors_name_the_template_fields() {
        let cases = [
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\n".to_string(),
                "spec.selector: Required value",
            ),
            (
                DEPLOY.replace("{labels: {app: web}}", "{labels: {app: other}}"),
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
            ),
            (
                DEPLOY.replace("image: nginx", "image: ''"),
                "spec.template.spec.containers[0].image: Required value",
            ),
            (
                DEPLOY.replace("replicas: 2", "replicas: -1"),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                DEPLOY.replace("containers:", "restartPolicy: Never\n      containers:"),
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ),
            (
                "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: x}]\n".into(),
                // Defaulted to Always first, as the API server does.
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ),
            (
                "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: ''\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Always\n          containers: [{name: a, image: x}]\n".into(),
                "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\"",
            ),
        ];
        for (yaml, want) in cases {
            let errs = errors(&yaml);
            assert!(errs.iter().any(|e| e.contains(want)), "{yaml}\n{errs:#?}");
        }
        let cj = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: ''\n  jobTemplate: {}\n";
        let errs = errors(cj);
        assert!(
            errs.iter().any(|e| e == "spec.schedule: Required value"),
            "{errs:?}"
        );
    }
}
