//! The API server's printers (`pkg/printers/internalversion`) for the workload and
//! configuration kinds, as [`Printable`] Tables: what `kubectl get` and `nodectl get` print for
//! ConfigMaps (NAME DATA AGE), Secrets (NAME TYPE DATA AGE), Jobs (NAME STATUS COMPLETIONS
//! DURATION AGE), CronJobs (NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE),
//! Deployments (NAME READY UP-TO-DATE AVAILABLE AGE), ReplicaSets (NAME DESIRED CURRENT READY
//! AGE), DaemonSets (NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE) and
//! ControllerRevisions (NAME CONTROLLER REVISION AGE);
//! the workloads' wide columns are CONTAINERS IMAGES SELECTOR. Cells come from the object
//! alone (spec and status), as the API server's do.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodTemplateSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::{Value, json};

use crate::table::{Printable, since};

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.";
const AGE_DOC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

fn col(name: &str, type_: &str, priority: i32, description: &str) -> Value {
    let mut c = json!({"name": name, "type": type_, "format": "", "description": description,
                       "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn name_col() -> Value {
    col("Name", "string", 0, NAME_DOC)
}

fn age_col() -> Value {
    col("Age", "string", 0, AGE_DOC)
}

/// CONTAINERS IMAGES SELECTOR (wide).
fn wide_cols(selector_doc: &str) -> [Value; 3] {
    [
        col(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        col(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        col("Selector", "string", 1, selector_doc),
    ]
}

/// `layoutContainerCells`: container names and images, comma-separated.
fn containers_cells(template: Option<&PodTemplateSpec>) -> (String, String) {
    let cs: &[Container] = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    let names: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = cs
        .iter()
        .map(|c| c.image.as_deref().unwrap_or(""))
        .collect();
    (names.join(","), images.join(","))
}

/// `labels.Selector.String()` of a LabelSelector (`LabelSelectorAsSelector`): requirements
/// sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; empty for none.
pub fn selector_string(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), format!("{k}={v}")))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        values.dedup();
        let k = &e.key;
        let s = match e.operator.as_str() {
            "In" => format!("{k} in ({})", values.join(",")),
            "NotIn" => format!("{k} notin ({})", values.join(",")),
            "Exists" => k.clone(),
            "DoesNotExist" => format!("!{k}"),
            other => format!("{k} {other} ({})", values.join(",")),
        };
        reqs.push((k.clone(), s));
    }
    reqs.sort();
    reqs.into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: the selector, `<none>` when empty.
fn format_label_selector(sel: Option<&LabelSelector>) -> String {
    let s = selector_string(sel);
    if s.is_empty() { "<none>".into() } else { s }
}

/// `labels.FormatLabels`: `k=v,...` sorted, `<none>` when empty.
fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let s: Vec<String> = labels
        .iter()
        .flat_map(|m| m.iter())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if s.is_empty() {
        "<none>".into()
    } else {
        s.join(",")
    }
}

fn age(meta: &ObjectMeta, now: Timestamp) -> Value {
    json!(since(meta.creation_timestamp.as_ref(), now))
}

impl Printable for ControllerRevision {
    fn columns() -> Vec<Value> {
        vec![
            name_col(),
            col("Controller", "string", 0, "Controller of the object"),
            col(
                "Revision",
                "string",
                0,
                "Revision indicates the revision of the state represented by Data.",
            ),
            age_col(),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        // `formatResourceName` of the controller: `daemonset.apps/agent`.
        let controller = self
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .map_or_else(
                || "<none>".to_string(),
                |r| {
                    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
                    let kind = r.kind.to_lowercase();
                    if group.is_empty() {
                        format!("{kind}/{}", r.name)
                    } else {
                        format!("{kind}.{group}/{}", r.name)
                    }
                },
            );
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(controller),
            json!(self.revision.unwrap_or(0)),
            age(&self.metadata, now),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for ConfigMap {
    fn columns() -> Vec<Value> {
        vec![
            name_col(),
            col("Data", "string", 0, "Data contains the configuration data."),
            age_col(),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let n = self.data.as_ref().map_or(0, BTreeMap::len)
            + self.binary_data.as_ref().map_or(0, BTreeMap::len);
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(n),
            age(&self.metadata, now),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Secret {
    fn columns() -> Vec<Value> {
        vec![
            name_col(),
            col("Type", "string", 0, "The type of the secret"),
            col("Data", "string", 0, "The number of entries in the secret"),
            age_col(),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(self.type_.clone().unwrap_or_default()),
            json!(self.data.as_ref().map_or(0, BTreeMap::len)),
            age(&self.metadata, now),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

fn has_condition(conds: &[JobCondition], type_: &str) -> bool {
    conds.iter().any(|c| c.type_ == type_ && c.status == "True")
}

/// A Job's STATUS: Complete, Failed, Terminating, Suspended, FailureTarget,
/// SuccessCriteriaMet or Running, in the printer's order.
pub fn job_status(job: &Job) -> &'static str {
    let conds = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    if has_condition(conds, "Complete") {
        "Complete"
    } else if has_condition(conds, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conds, "Suspended") {
        "Suspended"
    } else if has_condition(conds, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(conds, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// COMPLETIONS: `succeeded/completions`, or `succeeded/1` (`of P` with parallelism > 1) for a
/// job without completions.
pub fn job_completions(job: &Job) -> String {
    let spec = job.spec.as_ref();
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
    match spec.and_then(|s| s.completions) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match spec.and_then(|s| s.parallelism).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// DURATION: start to completion, or start to now while it runs; empty before it starts.
pub fn job_duration(job: &Job, now: Timestamp) -> String {
    let st = job.status.as_ref();
    match (
        st.and_then(|s| s.start_time.as_ref()),
        st.and_then(|s| s.completion_time.as_ref()),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), now),
        (Some(start), Some(end)) => since(Some(start), end.0),
    }
}

impl Printable for Job {
    fn columns() -> Vec<Value> {
        let mut c = vec![
            name_col(),
            col("Status", "string", 0, "Status of the job."),
            col(
                "Completions",
                "string",
                0,
                "The number of pods which reached phase Succeeded.",
            ),
            col(
                "Duration",
                "string",
                0,
                "Time required to complete the job.",
            ),
            age_col(),
        ];
        c.extend(wide_cols(
            "A label query over pods that should match the pod count.",
        ));
        c
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let (names, images) = containers_cells(spec.map(|s| &s.template));
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(job_status(self)),
            json!(job_completions(self)),
            json!(job_duration(self, now)),
            age(&self.metadata, now),
            json!(names),
            json!(images),
            json!(format_label_selector(
                spec.and_then(|s| s.selector.as_ref())
            )),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// `printBoolPtr`: `<unset>`, `True` or `False`.
fn bool_ptr(b: Option<bool>) -> &'static str {
    match b {
        None => "<unset>",
        Some(true) => "True",
        Some(false) => "False",
    }
}

impl Printable for CronJob {
    fn columns() -> Vec<Value> {
        let mut c = vec![
            name_col(),
            col(
                "Schedule",
                "string",
                0,
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            col(
                "Timezone",
                "string",
                0,
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
            ),
            col(
                "Suspend",
                "boolean",
                0,
                "This flag tells the controller to suspend subsequent executions.",
            ),
            col(
                "Active",
                "integer",
                0,
                "A list of pointers to currently running jobs.",
            ),
            col(
                "Last Schedule",
                "string",
                0,
                "Information when was the last time the job was successfully scheduled.",
            ),
            age_col(),
        ];
        c.extend(wide_cols(
            "A label query over pods that should match the pod count.",
        ));
        c
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = Some(&self.spec);
        let st = self.status.as_ref();
        let job_spec = spec.and_then(|s| s.job_template.spec.as_ref());
        let (names, images) = containers_cells(job_spec.map(|s| &s.template));
        let last = match st.and_then(|s| s.last_schedule_time.as_ref()) {
            Some(t) => since(Some(t), now),
            None => "<none>".into(),
        };
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(spec.map(|s| s.schedule.clone()).unwrap_or_default()),
            json!(
                spec.and_then(|s| s.time_zone.clone())
                    .unwrap_or_else(|| "<none>".into())
            ),
            json!(bool_ptr(spec.and_then(|s| s.suspend))),
            json!(st.and_then(|s| s.active.as_ref()).map_or(0, Vec::len)),
            json!(last),
            age(&self.metadata, now),
            json!(names),
            json!(images),
            json!(format_label_selector(
                job_spec.and_then(|s| s.selector.as_ref())
            )),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Deployment {
    fn columns() -> Vec<Value> {
        let mut c = vec![
            name_col(),
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age_col(),
        ];
        c.extend(wide_cols(
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        ));
        c
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = Some(&self.spec);
        let st = self.status.as_ref();
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let (names, images) = containers_cells(spec.map(|s| &s.template));
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(format!(
                "{}/{desired}",
                st.and_then(|s| s.ready_replicas).unwrap_or(0)
            )),
            json!(st.and_then(|s| s.updated_replicas).unwrap_or(0)),
            json!(st.and_then(|s| s.available_replicas).unwrap_or(0)),
            age(&self.metadata, now),
            json!(names),
            json!(images),
            json!(selector_string(spec.map(|s| &s.selector))),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for ReplicaSet {
    fn columns() -> Vec<Value> {
        let mut c = vec![
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired pods.",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replica set.",
            ),
            age_col(),
        ];
        c.extend(wide_cols(
            "Selector is a label query over pods that should match the replica count.",
        ));
        c
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = Some(&self.spec);
        let st = self.status.as_ref();
        let (names, images) = containers_cells(spec.and_then(|s| s.template.as_ref()));
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(spec.and_then(|s| s.replicas).unwrap_or(1)),
            json!(st.map_or(0, |s| s.replicas)),
            json!(st.and_then(|s| s.ready_replicas).unwrap_or(0)),
            age(&self.metadata, now),
            json!(names),
            json!(images),
            json!(selector_string(spec.map(|s| &s.selector))),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for DaemonSet {
    fn columns() -> Vec<Value> {
        let mut c = vec![
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "The total number of nodes that should be running the daemon pod.",
            ),
            col(
                "Current",
                "integer",
                0,
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
            ),
            col(
                "Up-to-date",
                "integer",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            col(
                "Available",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
            ),
            col(
                "Node Selector",
                "string",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            age_col(),
        ];
        c.extend(wide_cols(
            "A label query over pods that are managed by the daemon set.",
        ));
        c
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = Some(&self.spec);
        let st = self.status.as_ref();
        let template = spec.map(|s| &s.template);
        let (names, images) = containers_cells(template);
        let node_selector = template
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.node_selector.as_ref());
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(st.map_or(0, |s| s.desired_number_scheduled)),
            json!(st.map_or(0, |s| s.current_number_scheduled)),
            json!(st.map_or(0, |s| s.number_ready)),
            json!(st.and_then(|s| s.updated_number_scheduled).unwrap_or(0)),
            json!(st.and_then(|s| s.number_available).unwrap_or(0)),
            json!(format_labels(node_selector)),
            age(&self.metadata, now),
            json!(names),
            json!(images),
            json!(selector_string(spec.map(|s| &s.selector))),
        ]
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Include, table};

    fn now() -> Timestamp {
        "2026-12-07T10:00:00Z".parse().unwrap()
    }

    fn names(cols: &[Value]) -> Vec<String> {
        cols.iter()
            .map(|c| c["name"].as_str().unwrap().to_uppercase())
            .collect()
    }

    /// The cells kubectl shows without `-o wide` (priority 0), as strings.
    fn shown<T: Printable>(o: &T) -> Vec<String> {
        T::columns()
            .iter()
            .zip(o.cells(now()))
            .filter(|(c, _)| c["priority"] == 0)
            .map(|(_, v)| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    }

    fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn configmaps_and_secrets() {
        let cm: ConfigMap = obj(json!({
            "metadata": {"name": "cfg", "creationTimestamp": "2026-12-07T09:00:00Z"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "eA=="}
        }));
        assert_eq!(names(&ConfigMap::columns()), ["NAME", "DATA", "AGE"]);
        assert_eq!(shown(&cm), ["cfg", "3", "60m"]);
        let s: Secret = obj(json!({
            "metadata": {"name": "pw", "creationTimestamp": "2026-12-07T09:59:00Z"},
            "type": "Opaque", "data": {"p": "eA=="}
        }));
        assert_eq!(names(&Secret::columns()), ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(shown(&s), ["pw", "Opaque", "1", "60s"]);
    }

    #[test]
    fn jobs_status_completions_duration() {
        let running: Job = obj(json!({
            "metadata": {"name": "pi", "creationTimestamp": "2026-12-07T09:58:00Z"},
            "spec": {"completions": 5, "parallelism": 2,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                     "template": {"spec": {"containers": [
                         {"name": "pi", "image": "perl"}, {"name": "log", "image": "busybox"}]}}},
            "status": {"succeeded": 2, "startTime": "2026-12-07T09:58:30Z"}
        }));
        assert_eq!(
            names(&Job::columns()),
            [
                "NAME",
                "STATUS",
                "COMPLETIONS",
                "DURATION",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR"
            ]
        );
        assert_eq!(shown(&running), ["pi", "Running", "2/5", "90s", "2m"]);
        let wide = running.cells(now());
        assert_eq!(wide[5], "pi,log");
        assert_eq!(wide[6], "perl,busybox");
        assert_eq!(wide[7], "batch.kubernetes.io/controller-uid=u1");
        let done: Job = obj(json!({
            "metadata": {"name": "once", "creationTimestamp": "2026-12-07T09:00:00Z"},
            "spec": {"template": {}},
            "status": {"succeeded": 1, "startTime": "2026-12-07T09:00:01Z",
                       "completionTime": "2026-12-07T09:00:13Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}
        }));
        assert_eq!(shown(&done), ["once", "Complete", "1/1", "12s", "60m"]);
        let failed: Job = obj(json!({
            "metadata": {"name": "f"},
            "spec": {"parallelism": 3, "template": {}},
            "status": {"conditions": [{"type": "Complete", "status": "False"},
                                      {"type": "Failed", "status": "True"}]}
        }));
        assert_eq!(shown(&failed), ["f", "Failed", "0/1 of 3", "", "<unknown>"]);
        assert_eq!(failed.cells(now())[7], "<none>");
    }

    #[test]
    fn cronjobs() {
        let cj: CronJob = obj(json!({
            "metadata": {"name": "hello", "creationTimestamp": "2026-12-07T09:00:00Z"},
            "spec": {"schedule": "*/1 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                         {"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-12-07T09:59:00Z"}
        }));
        assert_eq!(
            names(&CronJob::columns())[..7],
            [
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE"
            ]
        );
        assert_eq!(
            shown(&cj),
            ["hello", "*/1 * * * *", "<none>", "False", "1", "60s", "60m"]
        );
        let unset: CronJob = obj(json!({
            "metadata": {"name": "x"},
            "spec": {"schedule": "@daily", "timeZone": "Europe/Paris", "jobTemplate": {}}
        }));
        assert_eq!(
            shown(&unset),
            [
                "x",
                "@daily",
                "Europe/Paris",
                "<unset>",
                "0",
                "<none>",
                "<unknown>"
            ]
        );
    }

    #[test]
    fn deployments_replicasets_daemonsets() {
        let d: Deployment = obj(json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-12-07T09:55:00Z"},
            "spec": {"replicas": 10,
                     "selector": {"matchLabels": {"app": "web"},
                                  "matchExpressions": [{"key": "tier", "operator": "In",
                                                        "values": ["b", "a"]},
                                                       {"key": "canary", "operator": "DoesNotExist"}]},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
            "status": {"replicas": 13, "readyReplicas": 9, "updatedReplicas": 3, "availableReplicas": 9}
        }));
        assert_eq!(
            names(&Deployment::columns())[..5],
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        );
        assert_eq!(shown(&d), ["web", "9/10", "3", "9", "5m"]);
        assert_eq!(d.cells(now())[7], "app=web,!canary,tier in (a,b)");
        let fresh: Deployment = obj(json!({
            "metadata": {"name": "new"}, "spec": {"selector": {}, "template": {}}
        }));
        assert_eq!(shown(&fresh), ["new", "0/1", "0", "0", "<unknown>"]);
        let rs: ReplicaSet = obj(json!({
            "metadata": {"name": "web-5d8f7c", "creationTimestamp": "2026-12-07T09:59:50Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        }));
        assert_eq!(
            names(&ReplicaSet::columns())[..5],
            ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        );
        assert_eq!(shown(&rs), ["web-5d8f7c", "3", "2", "1", "10s"]);
        let ds: DaemonSet = obj(json!({
            "metadata": {"name": "agent", "creationTimestamp": "2026-12-06T10:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"spec": {"nodeSelector": {"disktype": "ssd", "a": "b"},
                                           "containers": [{"name": "a", "image": "busybox"}]}}},
            "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
                       "updatedNumberScheduled": 1, "numberAvailable": 1, "numberMisscheduled": 0}
        }));
        assert_eq!(
            names(&DaemonSet::columns())[..8],
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE"
            ]
        );
        assert_eq!(
            shown(&ds),
            ["agent", "1", "1", "1", "1", "1", "a=b,disktype=ssd", "24h"]
        );
        let rows = crate::table::text_rows(std::slice::from_ref(&ds), now(), true, true);
        assert_eq!(rows[0].len(), 12);
        assert_eq!(rows[0][..2], ["NAMESPACE", "NAME"]);
        assert_eq!(rows[0][11], "SELECTOR");
        assert_eq!(rows[1][11], "app=agent");
        let t = table(&[ds], "9", now(), Include::Metadata);
        assert_eq!(t["rows"][0]["cells"].as_array().unwrap().len(), 11);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
    }
}
