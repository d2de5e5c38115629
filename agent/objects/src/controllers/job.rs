//! The Job controller (kube-controller-manager's `pkg/controller/job`, as Kubernetes 1.32
//! runs it) as pure decisions: the API server's Job defaulting and validation, and `sync`,
//! which turns a Job and its pods into pod creations and deletions, the new status, events and
//! the next look.
//!
//! How finished pods are counted, so that a count is never lowered, never doubled and a
//! finished pod deleted by someone else is not forgotten (the real controller's finalizer
//! protocol, which needs no memory outside the Job's status):
//! - Every pod is created with the finalizer `batch.kubernetes.io/job-tracking`; the store
//!   keeps a deleted pod that still has finalizers (with its `deletionTimestamp`) until they
//!   are removed, as the API server does.
//! - A finished pod that still has the finalizer is not counted yet. `sync` puts its UID into
//!   `status.uncountedTerminatedPods.{succeeded,failed}` and returns
//!   [`Action::RemovePodFinalizer`] for it. The shell persists the status first, then acts.
//! - A UID in `uncountedTerminatedPods` whose pod no longer has the finalizer, or is gone,
//!   is moved into `status.succeeded`/`status.failed` by the next `sync`.
//! - A pod without the finalizer is counted already (or never will be): it is ignored.
//!
//! A crash after the status was persisted and before the finalizer went away leaves the UID
//! in the uncounted list with the finalizer still on the pod: the next sync asks again to
//! remove it and counts it once. Indexed Jobs count succeeded indexes in
//! `status.completedIndexes` instead of UIDs.
//!
//! Decisions use the counts including the uncounted pods (the Job completes or fails as soon
//! as the pods say so); the terminal `Complete`/`Failed` condition is added only when nothing
//! is uncounted and no pod is terminating, after the interim `SuccessCriteriaMet` /
//! `FailureTarget` condition, as 1.31+ does.
//!
//! The pod failure back-off (10 s doubling up to 6 min) is computed from the failures since
//! the last success and the newest failed pod's finish time, both read from the status and
//! the pods present (the real controller keeps it in memory); a failed pod deleted by a user
//! therefore no longer delays a replacement.
//!
//! An Indexed Job's `successPolicy` ends it as soon as one of its rules is met: the remaining
//! pods are deleted, `SuccessCriteriaMet` then `Complete` with reason `SuccessPolicy`.
//!
//! `backoffLimitPerIndex` (Indexed Jobs): each pod carries the failures of its index before
//! it (`batch.kubernetes.io/job-index-failure-count`); an index whose failures pass the limit
//! is failed for good (`status.failedIndexes`, no pod made for it again); more failed indexes
//! than `maxFailedIndexes` fail the Job (`MaxFailedIndexesExceeded`), and so do failed
//! indexes once every index succeeded or failed (`FailedIndexes`). Each index waits out its
//! own back-off (10 s doubling with its failures, from its latest failed pod's finish).
//!
//! A pod failure policy rule with action `FailIndex` fails the pod's index at once.
//!
//! Not done: `managedBy` (validated as far as its type goes, and ignored by `sync`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{
    Job, JobCondition, JobSpec, JobStatus, PodFailurePolicy, UncountedTerminatedPods,
};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

use super::{Action, ControllerEvent, ControllerReason, Suffixes, Sync, controller_ref};
use crate::field::{ErrorKind, FieldError, FieldPath, bounded};
use crate::selector::Selector;

/// The finalizer that keeps a pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The annotation (and label) with an Indexed Job pod's completion index.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The env var an Indexed Job's containers get (from the annotation, by the downward API).
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The generated selector's label: the Job's UID.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The pre-1.27 spelling of [`CONTROLLER_UID_LABEL`], still set on pods.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The label with the Job's name on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The pre-1.27 spelling of [`JOB_NAME_LABEL`].
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// `backoffLimit` when neither it nor `backoffLimitPerIndex` is given.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// First delay before a failed pod is replaced; it doubles with each failure.
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// The longest delay before a failed pod is replaced.
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);
/// At most this many pods are created or deleted by one sync.
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// At most this many pods are added to `uncountedTerminatedPods` by one sync.
pub const MAX_UNCOUNTED_PODS: usize = 500;
/// Largest `completions`/`parallelism` of an Indexed Job.
pub const MAX_COMPLETIONS_INDEXED: i32 = 100_000;
/// Generated names keep at most this much of their base (63 minus the 5-character suffix).
const MAX_GENERATED_NAME_BASE: usize = 58;

const NON_INDEXED: &str = "NonIndexed";
const INDEXED: &str = "Indexed";
const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";
const MESSAGE_COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";
const REASON_BACKOFF_LIMIT: &str = "BackoffLimitExceeded";
/// An Indexed Job's `successPolicy` matched.
const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
const REASON_MAX_FAILED_INDEXES: &str = "MaxFailedIndexesExceeded";
const MESSAGE_MAX_FAILED_INDEXES: &str =
    "Job has exceeded the specified maximal number of failed indexes";
const REASON_FAILED_INDEXES: &str = "FailedIndexes";
const MESSAGE_FAILED_INDEXES: &str = "Job has failed indexes";
/// The failures of its index before a pod (`backoffLimitPerIndex`), on the pod.
pub const INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
const MESSAGE_BACKOFF_LIMIT: &str = "Job has reached the specified backoff limit";
const REASON_DEADLINE: &str = "DeadlineExceeded";
const MESSAGE_DEADLINE: &str = "Job was active longer than specified deadline";
const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";

/// The Job condition types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    Suspended,
    SuccessCriteriaMet,
    Complete,
    FailureTarget,
    Failed,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Suspended => "Suspended",
            ConditionType::SuccessCriteriaMet => "SuccessCriteriaMet",
            ConditionType::Complete => "Complete",
            ConditionType::FailureTarget => "FailureTarget",
            ConditionType::Failed => "Failed",
        }
    }
}

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

/// The API server's defaults for a Job (`SetDefaults_Job` and the create strategy's
/// generated selector). `metadata.uid` must be set first: the selector and the template
/// labels name it.
pub fn defaults(job: &mut Job) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let spec = job.spec.get_or_insert_with(JobSpec::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    set(&mut spec.parallelism, 1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            DEFAULT_BACKOFF_LIMIT
        });
    }
    set(&mut spec.completion_mode, NON_INDEXED.to_string());
    set(&mut spec.suspend, false);
    if let Some(pfp) = spec.pod_failure_policy.as_mut() {
        for rule in pfp.rules.iter_mut() {
            for pattern in rule.on_pod_conditions.iter_mut().flatten() {
                if pattern.status.as_deref().is_none_or(str::is_empty) {
                    pattern.status = Some("True".to_string());
                }
            }
        }
    }
    if spec.pod_replacement_policy.is_none() {
        spec.pod_replacement_policy = Some(
            if spec.pod_failure_policy.is_some() {
                "Failed"
            } else {
                "TerminatingOrFailed"
            }
            .to_string(),
        );
    }
    set(&mut spec.manual_selector, false);
    if spec.manual_selector != Some(true) && !uid.is_empty() {
        let labels = spec
            .template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
            labels
                .entry(key.to_string())
                .or_insert_with(|| name.clone());
        }
        for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
            labels.entry(key.to_string()).or_insert_with(|| uid.clone());
        }
        spec.selector
            .get_or_insert_with(LabelSelector::default)
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .entry(CONTROLLER_UID_LABEL.to_string())
            .or_insert_with(|| uid.clone());
    }
    template_defaults(&mut spec.template);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    if job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
        && let Some(labels) = template_labels
    {
        job.metadata.labels = Some(labels);
    }
}

/// The pod defaults that apply to a pod template (its spec; the template has no namespace).
pub fn template_defaults(template: &mut PodTemplateSpec) {
    let mut pod = Pod {
        metadata: ObjectMeta::default(),
        spec: template.spec.take(),
        status: None,
    };
    crate::pod_defaults::apply_defaults(&mut pod);
    template.spec = pod.spec;
}

/// A pod template checked as the pod it becomes: the pod validation's errors, with their
/// paths under `prefix` (`spec.template`, `spec.jobTemplate.spec.template`).
pub fn validate_template(template: &PodTemplateSpec, prefix: &FieldPath) -> Vec<FieldError> {
    let mut meta = template.metadata.clone().unwrap_or_default();
    // The pod's name comes from the controller; the template's own is not checked.
    meta.name = Some("template".to_string());
    meta.namespace = None;
    let pod = Pod {
        metadata: meta,
        spec: template.spec.clone(),
        status: None,
    };
    crate::pod_validation::validate_pod(&pod)
        .into_iter()
        .map(|mut e| {
            let path = e.field.as_str();
            let rest = path
                .strip_prefix("metadata")
                .map(|r| ("metadata", r))
                .or_else(|| path.strip_prefix("spec").map(|r| ("spec", r)));
            if let Some((root, r)) = rest {
                e.field = FieldPath::from(format!("{prefix}.{root}{r}").as_str());
            }
            e
        })
        .collect()
}

fn invalid_map(
    path: &FieldPath,
    map: Option<&BTreeMap<String, String>>,
    detail: &str,
) -> FieldError {
    let items: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k:?}:{v:?}"))
        .collect();
    FieldError {
        field: path.clone(),
        kind: ErrorKind::Invalid,
        value: Some(bounded(&format!("map[string]string{{{}}}", items.join(", "))).into_owned()),
        detail: detail.to_string(),
    }
}

fn non_negative(errs: &mut Vec<FieldError>, path: &FieldPath, v: Option<i64>) {
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

/// The API server's validation of a (defaulted) Job; empty means valid.
pub fn validate(job: &Job) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = FieldPath::new("metadata");
    match job.metadata.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            &meta.child("name"),
            "name or generateName is required",
        )),
        Some(n) => {
            for e in crate::names::dns1123_subdomain(n) {
                errs.push(FieldError::invalid(&meta.child("name"), n, &e));
            }
        }
    }
    let path = FieldPath::new("spec");
    match &job.spec {
        Some(spec) => validate_spec(
            &mut errs,
            &path,
            spec,
            SelectorRule::Job {
                uid: job.metadata.uid.as_deref(),
            },
        ),
        None => errs.push(FieldError::required(&path, "")),
    }
    errs
}

/// How a Job spec's selector is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorRule<'a> {
    /// A Job's: required, matching the template; generated (from `uid`) unless manual.
    Job { uid: Option<&'a str> },
    /// A CronJob's `jobTemplate.spec`: none may be given, it is generated for each Job.
    Template,
}

/// The checks of a Job spec (also a CronJob's `jobTemplate.spec`), under `path`.
pub fn validate_spec(
    errs: &mut Vec<FieldError>,
    path: &FieldPath,
    spec: &JobSpec,
    selector_rule: SelectorRule,
) {
    non_negative(
        errs,
        &path.child("parallelism"),
        spec.parallelism.map(i64::from),
    );
    non_negative(
        errs,
        &path.child("completions"),
        spec.completions.map(i64::from),
    );
    non_negative(
        errs,
        &path.child("backoffLimit"),
        spec.backoff_limit.map(i64::from),
    );
    non_negative(
        errs,
        &path.child("activeDeadlineSeconds"),
        spec.active_deadline_seconds,
    );
    non_negative(
        errs,
        &path.child("ttlSecondsAfterFinished"),
        spec.ttl_seconds_after_finished.map(i64::from),
    );
    let mode = spec.completion_mode.as_deref().unwrap_or(NON_INDEXED);
    match mode {
        NON_INDEXED => {}
        INDEXED => {
            match spec.completions {
                None => errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                )),
                Some(c) if c > MAX_COMPLETIONS_INDEXED => errs.push(FieldError::invalid(
                    &path.child("completions"),
                    c,
                    &format!("must be less than or equal to {MAX_COMPLETIONS_INDEXED} when completion mode is Indexed"),
                )),
                Some(_) => {}
            }
            if let Some(p) = spec.parallelism
                && p > MAX_COMPLETIONS_INDEXED
            {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    &format!("must be less than or equal to {MAX_COMPLETIONS_INDEXED} when completion mode is Indexed"),
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("completionMode"),
            other,
            &[NON_INDEXED, INDEXED],
        )),
    }
    if spec.backoff_limit_per_index.is_some() && mode != INDEXED {
        errs.push(FieldError::forbidden(
            &path.child("backoffLimitPerIndex"),
            "requires indexed completion mode",
        ));
    }
    if let Some(m) = spec.max_failed_indexes {
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
        if spec.completions.is_some_and(|c| m > c) {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                "must be less than or equal to completions",
            ));
        }
    }
    if let Some(sp) = &spec.success_policy {
        let sp_path = path.child("successPolicy");
        if mode != INDEXED {
            errs.push(FieldError::forbidden(
                &sp_path,
                "requires indexed completion mode",
            ));
        } else if sp.rules.is_empty() {
            errs.push(FieldError::required(
                &sp_path.child("rules"),
                "at least one rules must be specified when the successPolicy is specified",
            ));
        }
        for (i, rule) in sp.rules.iter().enumerate() {
            let rule_path = sp_path.child("rules").index(i);
            if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
                errs.push(FieldError::required(
                    &rule_path,
                    "at least one of succeededCount or succeededIndexes must be specified",
                ));
            }
            if let Some(c) = rule.succeeded_count {
                if c < 0 {
                    errs.push(FieldError::invalid(
                        &rule_path.child("succeededCount"),
                        c,
                        "must be greater than or equal to 0",
                    ));
                } else if let Some(n) = spec.completions
                    && c > n
                {
                    errs.push(FieldError::invalid(
                        &rule_path.child("succeededCount"),
                        c,
                        &format!(
                            "must be less than or equal to {n} (the number of specified completions)"
                        ),
                    ));
                }
            }
        }
    }
    if let Some(policy) = spec.pod_replacement_policy.as_deref() {
        if !matches!(policy, "TerminatingOrFailed" | "Failed") {
            errs.push(FieldError::not_supported(
                &path.child("podReplacementPolicy"),
                policy,
                &["Failed", "TerminatingOrFailed"],
            ));
        } else if spec.pod_failure_policy.is_some() && policy != "Failed" {
            errs.push(FieldError::not_supported(
                &path.child("podReplacementPolicy"),
                policy,
                &["Failed"],
            ));
        }
    }

    let template_path = path.child("template");
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref());
    let uid = match selector_rule {
        SelectorRule::Job { uid } => uid,
        SelectorRule::Template => {
            if let Some(sel) = &spec.selector {
                errs.push(invalid_map(
                    &path.child("selector"),
                    sel.match_labels.as_ref(),
                    "`selector` will be auto-generated",
                ));
            }
            if spec.manual_selector == Some(true) {
                errs.push(FieldError::not_supported(
                    &path.child("manualSelector"),
                    "true",
                    &["nil", "false"],
                ));
            }
            None
        }
    };
    if matches!(selector_rule, SelectorRule::Job { .. }) {
        match &spec.selector {
            None => errs.push(FieldError::required(&path.child("selector"), "")),
            Some(sel) => match Selector::from_label_selector(sel) {
                Err(e) => errs.push(FieldError::invalid(
                    &path.child("selector"),
                    &e.selector,
                    &e.reason,
                )),
                Ok(s) => {
                    if !s.matches(labels) {
                        errs.push(invalid_map(
                            &template_path.child("metadata").child("labels"),
                            labels,
                            "`selector` does not match template `labels`",
                        ));
                    }
                    if spec.manual_selector != Some(true)
                        && let Some(uid) = uid.filter(|u| !u.is_empty())
                        && sel
                            .match_labels
                            .as_ref()
                            .and_then(|m| m.get(CONTROLLER_UID_LABEL))
                            != Some(&uid.to_string())
                    {
                        errs.push(invalid_map(
                            &path.child("selector"),
                            sel.match_labels.as_ref(),
                            "`selector` not auto-generated",
                        ));
                    }
                }
            },
        }
    }

    let restart_path = template_path.child("spec").child("restartPolicy");
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    if !matches!(restart, "OnFailure" | "Never") {
        errs.push(FieldError::not_supported(
            &restart_path,
            restart,
            &["OnFailure", "Never"],
        ));
    }
    if let Some(pfp) = &spec.pod_failure_policy {
        if restart != "Never" {
            errs.push(FieldError::invalid(
                &restart_path,
                restart,
                "only \"Never\" is supported when podFailurePolicy is specified",
            ));
        }
        validate_pod_failure_policy(errs, &path.child("podFailurePolicy"), pfp, spec);
    }
    errs.extend(validate_template(&spec.template, &template_path));
}

fn validate_pod_failure_policy(
    errs: &mut Vec<FieldError>,
    path: &FieldPath,
    pfp: &PodFailurePolicy,
    spec: &JobSpec,
) {
    const MAX_RULES: usize = 20;
    let rules = path.child("rules");
    if pfp.rules.len() > MAX_RULES {
        errs.push(FieldError {
            field: rules.clone(),
            kind: ErrorKind::TooMany,
            value: Some(pfp.rules.len().to_string()),
            detail: format!("must have at most {MAX_RULES} items"),
        });
    }
    let containers: HashSet<&str> = spec
        .template
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .map(|c| c.name.as_str())
        })
        .collect();
    for (i, rule) in pfp.rules.iter().enumerate() {
        let rp = rules.index(i);
        let mut actions = vec!["Count", "FailJob", "Ignore"];
        if spec.backoff_limit_per_index.is_some() {
            actions.insert(1, "FailIndex");
        }
        if !actions.contains(&rule.action.as_str()) {
            errs.push(FieldError::not_supported(
                &rp.child("action"),
                &rule.action,
                &actions,
            ));
        }
        match (&rule.on_exit_codes, &rule.on_pod_conditions) {
            (Some(_), Some(c)) if !c.is_empty() => errs.push(FieldError::invalid(
                &rp,
                "",
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (None, None) => errs.push(FieldError::invalid(
                &rp,
                "",
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            (None, Some(c)) if c.is_empty() => errs.push(FieldError::invalid(
                &rp,
                "",
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
        if let Some(req) = &rule.on_exit_codes {
            let ep = rp.child("onExitCodes");
            if !matches!(req.operator.as_str(), "In" | "NotIn") {
                errs.push(FieldError::not_supported(
                    &ep.child("operator"),
                    &req.operator,
                    &["In", "NotIn"],
                ));
            }
            if let Some(c) = req.container_name.as_deref()
                && !containers.contains(c)
            {
                errs.push(FieldError::invalid(
                    &ep.child("containerName"),
                    c,
                    "must be one of the container or initContainer names in the pod template",
                ));
            }
            if req.values.is_empty() {
                errs.push(FieldError::invalid(
                    &ep.child("values"),
                    "[]",
                    "at least one value is required",
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, v) in req.values.iter().enumerate() {
                if req.operator == "In" && *v == 0 {
                    errs.push(FieldError::invalid(
                        &ep.child("values").index(j),
                        v,
                        "must not be 0 for the In operator",
                    ));
                }
                if !seen.insert(*v) {
                    errs.push(FieldError::duplicate(&ep.child("values").index(j), v));
                }
            }
        }
        for (j, pattern) in rule.on_pod_conditions.iter().flatten().enumerate() {
            let status = pattern.status.as_deref().unwrap_or("True");
            if !matches!(status, "True" | "False" | "Unknown") {
                errs.push(FieldError::not_supported(
                    &rp.child("onPodConditions").index(j).child("status"),
                    status,
                    &["False", "True", "Unknown"],
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// sync

/// One pod as the controller sees it.
struct PodView<'a> {
    pod: &'a Pod,
    name: &'a str,
    uid: &'a str,
    phase: &'a str,
    finalizer: bool,
    deleting: bool,
    /// The completion index (Indexed Jobs), if the pod has a valid one.
    index: Option<i32>,
}

/// The failures of `p`'s index before it (its `job-index-failure-count` annotation).
fn index_failures_before(p: &PodView) -> i32 {
    p.pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_FAILURE_COUNT_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl PodView<'_> {
    fn terminal(&self) -> bool {
        matches!(self.phase, "Succeeded" | "Failed")
    }
    fn active(&self) -> bool {
        !self.terminal() && !self.deleting
    }
    fn terminating(&self) -> bool {
        !self.terminal() && self.deleting
    }
    fn ready(&self) -> bool {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }
    fn restarts(&self) -> i32 {
        self.pod
            .status
            .iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .sum()
    }
    /// When the pod finished: its newest container's `finishedAt`, else when it stopped being
    /// ready, else its deletion time (the real controller's order; it falls back to the time
    /// it first saw the pod, which a pure function cannot know: such a pod delays nothing).
    fn finish_time(&self) -> Option<Timestamp> {
        let status = self.pod.status.as_ref();
        let from_containers = status
            .into_iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(|t| t.0)
            .max();
        from_containers
            .or_else(|| {
                status
                    .and_then(|s| s.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .find(|c| c.type_ == "Ready" && c.status == "False")
                    .and_then(|c| c.last_transition_time.as_ref())
                    .map(|t| t.0)
            })
            .or_else(|| self.pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
    }
}

fn completion_index(pod: &Pod, completions: i32) -> Option<i32> {
    let v = pod
        .metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX_ANNOTATION)?;
    // The real controller accepts only canonical decimal numbers.
    if v.len() > 1 && v.starts_with('0') {
        return None;
    }
    let i: i32 = v.parse().ok()?;
    (0..completions).contains(&i).then_some(i)
}

/// How a failed pod matched the pod failure policy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PolicyMatch {
    /// `Some(message)` for a FailJob rule.
    fail_job: Option<String>,
    /// Whether the failure counts towards `backoffLimit`.
    count: bool,
    /// A FailIndex rule: the pod's index is failed at once (`backoffLimitPerIndex`).
    fail_index: bool,
}

fn match_pod_failure_policy(pfp: &PodFailurePolicy, pod: &Pod, namespace: &str) -> PolicyMatch {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    let verdict = |action: &str, message: String| match action {
        "Ignore" => PolicyMatch {
            fail_job: None,
            count: false,
            fail_index: false,
        },
        "FailJob" => PolicyMatch {
            fail_job: Some(message),
            count: true,
            fail_index: false,
        },
        "FailIndex" => PolicyMatch {
            fail_job: None,
            count: true,
            fail_index: true,
        },
        _ => PolicyMatch {
            fail_job: None,
            count: true,
            fail_index: false,
        },
    };
    for (i, rule) in pfp.rules.iter().enumerate() {
        if let Some(req) = &rule.on_exit_codes {
            let hit = status
                .into_iter()
                .flat_map(|s| {
                    s.init_container_statuses
                        .iter()
                        .flatten()
                        .chain(s.container_statuses.iter().flatten())
                })
                .filter(|c| req.container_name.as_deref().is_none_or(|n| n == c.name))
                .find_map(|c| {
                    let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
                    let inside = req.values.contains(&code);
                    let hit = code != 0
                        && if req.operator == "In" {
                            inside
                        } else {
                            !inside
                        };
                    hit.then(|| (c.name.clone(), code))
                });
            if let Some((container, code)) = hit {
                return verdict(
                    &rule.action,
                    format!(
                        "Container {container} for pod {namespace}/{pod_name} failed with exit code {code} matching {} rule at index {i}",
                        rule.action
                    ),
                );
            }
        }
        for pattern in rule.on_pod_conditions.iter().flatten() {
            let want = pattern.status.as_deref().unwrap_or("True");
            let hit = status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == pattern.type_ && c.status == want);
            if hit {
                return verdict(
                    &rule.action,
                    format!(
                        "Pod {namespace}/{pod_name} has condition {} matching {} rule at index {i}",
                        pattern.type_, rule.action
                    ),
                );
            }
        }
    }
    PolicyMatch {
        fail_job: None,
        count: true,
        fail_index: false,
    }
}

/// A set of completion indexes as `status.completedIndexes` writes it (`0-2,4`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indexes(BTreeSet<i32>);

impl Indexes {
    /// Parses `0-2,4`; anything malformed or out of `0..completions` is skipped, as the
    /// real controller does.
    pub fn parse(s: &str, completions: i32) -> Indexes {
        let mut set = BTreeSet::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) else {
                continue;
            };
            let hi = b.min(completions - 1);
            for i in a.max(0)..=hi {
                set.insert(i);
            }
        }
        Indexes(set)
    }
    pub fn insert(&mut self, i: i32) -> bool {
        self.0.insert(i)
    }
    pub fn contains(&self, i: i32) -> bool {
        self.0.contains(&i)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        let mut iter = self.0.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end > start {
                write!(f, "{start}-{end}")?;
            } else {
                write!(f, "{start}")?;
            }
        }
        Ok(())
    }
}

fn find_condition(status: &JobStatus, t: ConditionType) -> Option<&JobCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == t.as_str())
}

fn condition_true(status: &JobStatus, t: ConditionType) -> bool {
    find_condition(status, t).is_some_and(|c| c.status == "True")
}

/// Whether the Job has its terminal condition (`Complete` or `Failed`, status True).
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| {
        condition_true(s, ConditionType::Complete) || condition_true(s, ConditionType::Failed)
    })
}

fn new_condition(
    t: ConditionType,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: t.as_str().to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        message: Some(message.to_string()).filter(|m| !m.is_empty()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets condition `t` to `status` (adding it only when `status` is True, as the controller
/// does); true if anything changed.
fn ensure_condition(
    conds: &mut Vec<JobCondition>,
    t: ConditionType,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == t.as_str()) {
        if c.status == status {
            return false;
        }
        *c = new_condition(t, status, reason, message, now);
        return true;
    }
    if status == "True" {
        conds.push(new_condition(t, status, reason, message, now));
        return true;
    }
    false
}

/// How the Job ends, once decided.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Finish {
    Success { reason: String, message: String },
    Failure { reason: String, message: String },
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn duration_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0))
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The delay before a failed pod may be replaced: `POD_FAILURE_BACKOFF` doubled for each
/// failure after the first, at most `MAX_POD_FAILURE_BACKOFF`, counted from the last failure.
pub fn backoff_remaining(failures: u32, last_failure: Timestamp, now: Timestamp) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let mut backoff = POD_FAILURE_BACKOFF;
    for _ in 1..failures {
        backoff *= 2;
        if backoff >= MAX_POD_FAILURE_BACKOFF {
            backoff = MAX_POD_FAILURE_BACKOFF;
            break;
        }
    }
    let elapsed = now.as_millisecond() - last_failure.as_millisecond();
    duration_ms(millis(backoff) - elapsed)
}

/// `s` cut to at most `max` bytes (at a character boundary).
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A pod's name: `<job>-<suffix>`, or `<job>-<index>-<suffix>`, the Job's name cut so that
/// the prefix stays within the API server's `generateName` limit (the index is kept whole).
pub fn pod_name(job: &str, index: Option<i32>, suffix: &str) -> String {
    let tail = match index {
        Some(i) => format!("-{i}-"),
        None => "-".to_string(),
    };
    let keep = MAX_GENERATED_NAME_BASE.saturating_sub(tail.len());
    format!("{}{tail}{suffix}", cut(job, keep))
}

struct Ctx<'a> {
    job: &'a Job,
    spec: &'a JobSpec,
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    now: Timestamp,
    indexed: bool,
    completions: i32,
    only_replace_failed: bool,
    actions: Vec<Action>,
    events: Vec<ControllerEvent>,
    requeue: Option<Duration>,
    /// Pods whose finalizer removal is already an action of this sync.
    finalizer_removed: HashSet<String>,
}

impl Ctx<'_> {
    fn event(&mut self, reason: ControllerReason, message: String) {
        self.events.push(ControllerEvent { reason, message });
    }
    fn requeue_after(&mut self, d: Duration) {
        self.requeue = earliest(self.requeue, Some(d));
    }
    fn remove_finalizer(&mut self, p: &PodView) {
        if p.finalizer && self.finalizer_removed.insert(p.name.to_string()) {
            self.actions.push(Action::RemovePodFinalizer {
                name: p.name.to_string(),
                finalizer: TRACKING_FINALIZER.to_string(),
            });
        }
    }
    fn delete_pod(&mut self, p: &PodView) {
        self.actions.push(Action::DeletePod {
            name: p.name.to_string(),
            grace: None,
        });
        self.event(
            ControllerReason::SuccessfulDelete,
            format!("Deleted pod: {}", p.name),
        );
    }
    fn is_pod_failed(&self, p: &PodView) -> bool {
        if p.phase == "Failed" {
            return true;
        }
        if self.only_replace_failed {
            return false;
        }
        p.deleting && p.phase != "Succeeded"
    }
    fn policy(&self, p: &PodView) -> PolicyMatch {
        match &self.spec.pod_failure_policy {
            Some(pfp) => match_pod_failure_policy(pfp, p.pod, self.namespace),
            None => PolicyMatch {
                fail_job: None,
                count: true,
                fail_index: false,
            },
        }
    }
}

/// The order in which active pods are given up (kube's `ActivePods`): unscheduled, pending,
/// not ready, more restarts and newer pods first.
fn removal_order(a: &PodView, b: &PodView) -> std::cmp::Ordering {
    let scheduled = |p: &PodView| {
        p.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &PodView| match p.phase {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let created = |p: &PodView| p.pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    scheduled(a)
        .cmp(&scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(a.ready().cmp(&b.ready()))
        .then(b.restarts().cmp(&a.restarts()))
        .then(created(b).cmp(&created(a)))
        .then(a.name.cmp(b.name))
}

/// One sync of a (defaulted) Job: `pods` are the pods it owns, or orphans that its selector
/// matches (adopted here), with their current status. See the module doc for what the shell
/// must do with the result.
pub fn sync(
    job: &Job,
    pods: &[Pod],
    now: Timestamp,
    suffixes: &mut dyn Suffixes,
) -> Sync<JobStatus> {
    let default_spec = JobSpec::default();
    let spec = job.spec.as_ref().unwrap_or(&default_spec);
    let mut status = job.status.clone().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let indexed = spec.completion_mode.as_deref() == Some(INDEXED);
    let mut cx = Ctx {
        job,
        spec,
        name,
        namespace: job.metadata.namespace.as_deref().unwrap_or("default"),
        uid,
        now,
        indexed,
        completions: spec.completions.unwrap_or(0),
        only_replace_failed: spec.pod_replacement_policy.as_deref() == Some("Failed"),
        actions: Vec::new(),
        events: Vec::new(),
        requeue: None,
        finalizer_removed: HashSet::new(),
    };

    let views = claim_pods(&mut cx, pods);

    if is_finished(job) {
        // Done: only finalizers left behind and the TTL.
        for p in &views {
            cx.remove_finalizer(p);
        }
        ttl(&mut cx, &status);
        return cx.finish(status);
    }
    if indexed && spec.completions.is_none() {
        // Invalid (validation refuses it); nothing sensible to do.
        return cx.finish(status);
    }

    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let unc_succeeded: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
    let unc_failed: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();
    let valid_index = |p: &PodView| !indexed || p.index.is_some();

    let active_pods: Vec<&PodView> = views.iter().filter(|p| p.active()).collect();
    let mut active = active_pods.len() as i32;
    let mut ready = active_pods.iter().filter(|p| p.ready()).count() as i32;
    let mut terminating = views.iter().filter(|p| p.terminating()).count() as i32;

    let new_succeeded: Vec<&PodView> = views
        .iter()
        .filter(|p| p.finalizer && !unc_succeeded.contains(p.uid) && valid_index(p))
        .filter(|p| p.phase == "Succeeded")
        .collect();
    let new_failed: Vec<&PodView> = views
        .iter()
        .filter(|p| p.finalizer && !unc_failed.contains(p.uid) && valid_index(p))
        .filter(|p| cx.is_pod_failed(p))
        .collect();
    let mut succeeded =
        status.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + unc_succeeded.len() as i32;
    let counted_new_failed = new_failed.iter().filter(|p| cx.policy(p).count).count() as i32;
    let failed = status.failed.unwrap_or(0) + counted_new_failed + unc_failed.len() as i32;

    let suspended = spec.suspend == Some(true);
    if status.start_time.is_none() && !suspended {
        status.start_time = Some(Time(now));
    }
    // A Job being resumed: its deadline counts from now (the start time is reset below).
    let resuming = !suspended && condition_true(&status, ConditionType::Suspended);

    // Back-off: failures since the last success, from the newest failed pod.
    let last_success = views
        .iter()
        .filter(|p| p.phase == "Succeeded")
        .filter_map(PodView::finish_time)
        .max();
    let failed_pods: Vec<Timestamp> = views
        .iter()
        .filter(|p| cx.is_pod_failed(p) && cx.policy(p).count)
        .filter_map(PodView::finish_time)
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let failures = if succeeded == 0 {
        failed.max(failed_pods.len() as i32)
    } else {
        failed_pods.len() as i32
    };
    let backoff = failed_pods
        .iter()
        .max()
        .map(|last| backoff_remaining(u32::try_from(failures).unwrap_or(0), *last, now))
        .unwrap_or(Duration::ZERO);

    // How the Job ends: earlier decisions first, then failures, then success.
    let mut finish = None;
    if let Some(c) =
        find_condition(&status, ConditionType::SuccessCriteriaMet).filter(|c| c.status == "True")
    {
        finish = Some(Finish::Success {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        });
    } else if let Some(c) =
        find_condition(&status, ConditionType::FailureTarget).filter(|c| c.status == "True")
    {
        finish = Some(Finish::Failure {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        });
    } else if spec.pod_failure_policy.is_some()
        && let Some(message) = views
            .iter()
            .filter(|p| cx.is_pod_failed(p))
            .find_map(|p| cx.policy(p).fail_job)
    {
        finish = Some(Finish::Failure {
            reason: REASON_POD_FAILURE_POLICY.to_string(),
            message,
        });
    }
    let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);
    if finish.is_none() {
        if failed > backoff_limit || past_backoff_limit_on_failure(spec, &views) {
            finish = Some(Finish::Failure {
                reason: REASON_BACKOFF_LIMIT.to_string(),
                message: MESSAGE_BACKOFF_LIMIT.to_string(),
            });
        } else if let (Some(deadline), Some(start), false) = (
            spec.active_deadline_seconds,
            status.start_time.as_ref(),
            suspended,
        ) {
            let start = if resuming { now } else { start.0 };
            let left =
                deadline.saturating_mul(1000) - (now.as_millisecond() - start.as_millisecond());
            if left <= 0 {
                finish = Some(Finish::Failure {
                    reason: REASON_DEADLINE.to_string(),
                    message: MESSAGE_DEADLINE.to_string(),
                });
            } else {
                cx.requeue_after(duration_ms(left));
            }
        }
    }

    let mut succeeded_indexes = Indexes::default();
    if indexed {
        succeeded_indexes = Indexes::parse(
            status.completed_indexes.as_deref().unwrap_or(""),
            cx.completions,
        );
        for p in views
            .iter()
            .filter(|p| p.phase == "Succeeded" && p.finalizer)
        {
            if let Some(i) = p.index {
                succeeded_indexes.insert(i);
            }
        }
        succeeded = succeeded_indexes.len() as i32;
    }

    // backoffLimitPerIndex: an index whose pod failed more than that many times before is
    // failed for good (`status.failedIndexes`); too many failed indexes fail the Job.
    let per_index = spec.backoff_limit_per_index.filter(|_| indexed);
    let mut failed_indexes = Indexes::default();
    if let Some(limit) = per_index {
        failed_indexes = Indexes::parse(
            status.failed_indexes.as_deref().unwrap_or(""),
            cx.completions,
        );
        for p in views
            .iter()
            .filter(|p| p.finalizer && cx.is_pod_failed(p) && cx.policy(p).count)
        {
            if let Some(i) = p.index
                && !succeeded_indexes.contains(i)
                && (index_failures_before(p) + 1 > limit || cx.policy(p).fail_index)
            {
                failed_indexes.insert(i);
            }
        }
        if finish.is_none() {
            if spec
                .max_failed_indexes
                .is_some_and(|m| failed_indexes.len() as i64 > i64::from(m))
            {
                finish = Some(Finish::Failure {
                    reason: REASON_MAX_FAILED_INDEXES.to_string(),
                    message: MESSAGE_MAX_FAILED_INDEXES.to_string(),
                });
            } else if !failed_indexes.is_empty()
                && (succeeded_indexes.len() + failed_indexes.len()) as i64
                    >= i64::from(cx.completions)
            {
                finish = Some(Finish::Failure {
                    reason: REASON_FAILED_INDEXES.to_string(),
                    message: MESSAGE_FAILED_INDEXES.to_string(),
                });
            }
        }
        status.failed_indexes = Some(failed_indexes.to_string());
    }

    if finish.is_none()
        && indexed
        && let Some(message) = match_success_policy(spec, cx.completions, &succeeded_indexes)
    {
        // Success before every index succeeded: the rest are deleted, then Complete.
        finish = Some(Finish::Success {
            reason: REASON_SUCCESS_POLICY.to_string(),
            message,
        });
    }

    if finish.is_some() {
        // Delete what still runs (keeping the finalizers: they are counted as failed below).
        for p in &active_pods {
            cx.delete_pod(p);
        }
        terminating += active;
        ready -= active_pods.iter().filter(|p| p.ready()).count() as i32;
        active = 0;
    } else {
        let mut managed = false;
        if job.metadata.deletion_timestamp.is_none() {
            // Failed indexes are done too: no pod is made for them again.
            let mut done_indexes = succeeded_indexes.clone();
            for i in failed_indexes.0.iter() {
                done_indexes.insert(*i);
            }
            // With backoffLimitPerIndex each index waits out its own back-off (in `manage`).
            let backoff = if per_index.is_some() {
                Duration::ZERO
            } else {
                backoff
            };
            let m = manage(
                &mut cx,
                &active_pods,
                &views,
                succeeded + failed_indexes.len() as i32,
                &done_indexes,
                backoff,
                terminating,
                suffixes,
            );
            active = m.active;
            ready -= m.deleted_ready;
            terminating += m.deleted;
            managed = true;
        }
        let complete = match spec.completions {
            None => succeeded > 0 && active == 0,
            Some(c) => succeeded >= c && active == 0,
        };
        if complete {
            finish = Some(Finish::Success {
                reason: REASON_COMPLETIONS_REACHED.to_string(),
                message: MESSAGE_COMPLETIONS_REACHED.to_string(),
            });
        } else if managed {
            let conds = status.conditions.get_or_insert_with(Vec::new);
            if suspended {
                if ensure_condition(
                    conds,
                    ConditionType::Suspended,
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                ) {
                    cx.event(ControllerReason::Suspended, "Job suspended".to_string());
                }
            } else if ensure_condition(
                conds,
                ConditionType::Suspended,
                "False",
                "JobResumed",
                "Job resumed",
                now,
            ) {
                cx.event(ControllerReason::Resumed, "Job resumed".to_string());
                // activeDeadlineSeconds counts from the resume.
                status.start_time = Some(Time(now));
            }
            if conds.is_empty() {
                status.conditions = None;
            }
        }
    }

    status.active = Some(active);
    status.ready = Some(ready);
    status.terminating = Some(terminating);
    track(
        &mut cx,
        &mut status,
        &views,
        &finish,
        &succeeded_indexes,
        &unc_succeeded,
        &unc_failed,
    );
    cx.finish(status)
}

/// An Indexed Job's `successPolicy` (`matchSuccessPolicy`): the first rule (in order) that
/// the succeeded indexes satisfy — all its `succeededIndexes`, or `succeededCount` of them, or
/// `succeededCount` indexes of any — as the condition message "Matched rules at index N".
fn match_success_policy(spec: &JobSpec, completions: i32, succeeded: &Indexes) -> Option<String> {
    let policy = spec.success_policy.as_ref()?;
    if succeeded.is_empty() {
        return None;
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let count = rule.succeeded_count.and_then(|c| usize::try_from(c).ok());
        let matched = match rule.succeeded_indexes.as_deref() {
            Some(s) => {
                let required = Indexes::parse(s, completions);
                if required.is_empty() {
                    continue;
                }
                let done = required
                    .0
                    .iter()
                    .filter(|&&x| succeeded.contains(x))
                    .count();
                match count {
                    Some(c) => done >= c,
                    None => done == required.len(),
                }
            }
            None => count.is_some_and(|c| succeeded.len() >= c),
        };
        if matched {
            return Some(format!("Matched rules at index {i}"));
        }
    }
    None
}

impl Ctx<'_> {
    fn finish(self, status: JobStatus) -> Sync<JobStatus> {
        Sync {
            actions: self.actions,
            status,
            events: self.events,
            requeue_after: self.requeue,
        }
    }
}

/// The pods this Job owns, with orphans that match its selector adopted and owned pods that
/// no longer match released (`ClaimPods`).
fn claim_pods<'a>(cx: &mut Ctx, pods: &'a [Pod]) -> Vec<PodView<'a>> {
    let selector = cx
        .spec
        .selector
        .as_ref()
        .and_then(|s| Selector::from_label_selector(s).ok())
        .filter(|s| !s.0.is_empty());
    let mut out = Vec::new();
    for pod in pods {
        let labels = pod.metadata.labels.as_ref();
        let matches = selector.as_ref().is_some_and(|s| s.matches(labels));
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        match super::controller_uid(&pod.metadata) {
            Some(owner) if owner == cx.uid => {
                if !matches && selector.is_some() && cx.job.metadata.deletion_timestamp.is_none() {
                    let refs: Vec<_> = pod
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .filter(|r| r.uid != cx.uid)
                        .cloned()
                        .collect();
                    cx.actions.push(Action::SetPodMetadata {
                        name: pod_name.to_string(),
                        labels: labels.cloned().unwrap_or_default(),
                        owner_references: refs,
                    });
                    continue;
                }
            }
            Some(_) => continue,
            None => {
                let adoptable = matches
                    && pod.metadata.deletion_timestamp.is_none()
                    && cx.job.metadata.deletion_timestamp.is_none();
                if !adoptable {
                    continue;
                }
                let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
                refs.push(controller_ref("batch/v1", "Job", cx.name, cx.uid));
                cx.actions.push(Action::SetPodMetadata {
                    name: pod_name.to_string(),
                    labels: labels.cloned().unwrap_or_default(),
                    owner_references: refs,
                });
            }
        }
        out.push(PodView {
            pod,
            name: pod_name,
            uid: pod.metadata.uid.as_deref().unwrap_or(pod_name),
            phase: pod
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending"),
            finalizer: pod
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == TRACKING_FINALIZER),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            index: if cx.indexed {
                completion_index(pod, cx.completions)
            } else {
                None
            },
        });
    }
    out
}

/// `restartPolicy: OnFailure`: the container restarts of running pods count against
/// `backoffLimit`.
fn past_backoff_limit_on_failure(spec: &JobSpec, views: &[PodView]) -> bool {
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if restart != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = views
        .iter()
        .filter(|p| matches!(p.phase, "Running" | "Pending"))
        .map(PodView::restarts)
        .sum();
    let limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

struct Managed {
    active: i32,
    deleted: i32,
    deleted_ready: i32,
}

/// Creates or deletes pods towards the wanted number of active pods (`manageJob`).
#[allow(clippy::too_many_arguments)]
fn manage(
    cx: &mut Ctx,
    active_pods: &[&PodView],
    views: &[PodView],
    succeeded: i32,
    succeeded_indexes: &Indexes,
    backoff: Duration,
    terminating: i32,
    suffixes: &mut dyn Suffixes,
) -> Managed {
    let mut active = active_pods.len() as i32;
    let parallelism = cx.spec.parallelism.unwrap_or(1).max(0);
    fn delete(cx: &mut Ctx, active: i32, pods: &[&PodView]) -> Managed {
        // Not counted: the finalizer goes before the pod.
        for p in pods {
            cx.remove_finalizer(p);
            cx.delete_pod(p);
        }
        Managed {
            active: active - pods.len() as i32,
            deleted: pods.len() as i32,
            deleted_ready: pods.iter().filter(|p| p.ready()).count() as i32,
        }
    }
    if cx.spec.suspend == Some(true) {
        return delete(cx, active, active_pods);
    }
    let want = match cx.spec.completions {
        None if succeeded > 0 => active,
        None => parallelism,
        Some(c) => (c - succeeded).min(parallelism).max(0),
    };
    let rm_at_least = (active - want).max(0) as usize;
    let mut to_delete = pods_for_removal(cx, active_pods, rm_at_least);
    to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
    if !to_delete.is_empty() {
        return delete(cx, active, &to_delete);
    }
    let waiting_terminating = if cx.only_replace_failed {
        terminating
    } else {
        0
    };
    let mut diff = want - waiting_terminating - active;
    if diff <= 0 {
        return Managed {
            active,
            deleted: 0,
            deleted_ready: 0,
        };
    }
    if backoff > Duration::ZERO {
        cx.requeue_after(backoff);
        return Managed {
            active,
            deleted: 0,
            deleted_ready: 0,
        };
    }
    diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC as i32);
    let mut indexes: Vec<Option<i32>> = vec![None; diff as usize];
    if cx.indexed {
        let mut taken: HashSet<i32> = active_pods.iter().filter_map(|p| p.index).collect();
        if cx.only_replace_failed {
            taken.extend(
                views
                    .iter()
                    .filter(|p| p.terminating())
                    .filter_map(|p| p.index),
            );
        }
        // backoffLimitPerIndex: an index whose pod failed waits out its own back-off (from
        // its failures and its latest failed pod's finish), without holding the others up.
        let mut waiting: Option<Duration> = None;
        if cx.spec.backoff_limit_per_index.is_some() {
            for i in 0..cx.completions {
                let latest = views
                    .iter()
                    .filter(|p| p.index == Some(i) && cx.is_pod_failed(p))
                    .filter_map(|p| Some((p.finish_time()?, index_failures_before(p) + 1)))
                    .max();
                if let Some((at, failures)) = latest {
                    let left = backoff_remaining(u32::try_from(failures).unwrap_or(0), at, cx.now);
                    if left > Duration::ZERO {
                        taken.insert(i);
                        waiting = Some(waiting.map_or(left, |w| w.min(left)));
                    }
                }
            }
        }
        if let Some(w) = waiting {
            cx.requeue_after(w);
        }
        indexes = (0..cx.completions)
            .filter(|i| !succeeded_indexes.contains(*i) && !taken.contains(i))
            .take(diff as usize)
            .map(Some)
            .collect();
    }
    for index in indexes {
        let mut pod = new_pod(cx, index, suffixes);
        if cx.spec.backoff_limit_per_index.is_some()
            && let Some(i) = index
        {
            // The failures of the index so far: one more than its latest failed pod's.
            let before = views
                .iter()
                .filter(|p| p.index == Some(i) && cx.is_pod_failed(p))
                .map(|p| index_failures_before(p) + 1)
                .max()
                .unwrap_or(0);
            pod.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    INDEX_FAILURE_COUNT_ANNOTATION.to_string(),
                    before.to_string(),
                );
        }
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        cx.actions.push(Action::CreatePod(Box::new(pod)));
        cx.event(
            ControllerReason::SuccessfulCreate,
            format!("Created pod: {pod_name}"),
        );
        active += 1;
    }
    Managed {
        active,
        deleted: 0,
        deleted_ready: 0,
    }
}

/// Active pods to delete: for Indexed Jobs every duplicate or invalid index first, then the
/// least advanced pods until `rm_at_least` are chosen.
fn pods_for_removal<'a, 'b>(
    cx: &Ctx,
    active_pods: &[&'b PodView<'a>],
    rm_at_least: usize,
) -> Vec<&'b PodView<'a>> {
    let mut rm = Vec::new();
    let mut left: Vec<&PodView> = Vec::new();
    if cx.indexed {
        let mut sorted: Vec<&PodView> = active_pods.to_vec();
        // Keep the most advanced pod of each index.
        sorted.sort_by(|a, b| a.index.cmp(&b.index).then(removal_order(b, a)));
        let mut seen = HashSet::new();
        for p in sorted {
            match p.index {
                Some(i) if seen.insert(i) => left.push(p),
                _ => rm.push(p),
            }
        }
    } else {
        left = active_pods.to_vec();
    }
    if rm.len() < rm_at_least {
        left.sort_by(|a, b| removal_order(a, b));
        let more = rm_at_least - rm.len();
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// A new pod from the template: name, labels, annotations, finalizer, owner and (Indexed) the
/// completion index.
fn new_pod(cx: &Ctx, index: Option<i32>, suffixes: &mut dyn Suffixes) -> Pod {
    let template = &cx.spec.template;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut finalizers = tmeta.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_string());
    }
    if let Some(i) = index {
        annotations.insert(COMPLETION_INDEX_ANNOTATION.to_string(), i.to_string());
        labels.insert(COMPLETION_INDEX_ANNOTATION.to_string(), i.to_string());
        spec.hostname = Some(format!("{}-{i}", cx.name));
        let env = EnvVar {
            name: COMPLETION_INDEX_ENV.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: Some("v1".to_string()),
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"),
                }),
                ..Default::default()
            }),
        };
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            let envs = c.env.get_or_insert_with(Vec::new);
            if !envs.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
                envs.push(env.clone());
            }
        }
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(cx.name, index, &suffixes.next_suffix())),
            namespace: Some(cx.namespace.to_string()),
            labels: Some(labels).filter(|l| !l.is_empty()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref("batch/v1", "Job", cx.name, cx.uid)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Moves counted pods into the counters, records newly finished pods as uncounted, removes
/// their finalizers, adds the interim and terminal conditions (`trackJobStatusAndRemoveFinalizers`).
fn track(
    cx: &mut Ctx,
    status: &mut JobStatus,
    views: &[PodView],
    finish: &Option<Finish>,
    succeeded_indexes: &Indexes,
    unc_succeeded: &HashSet<String>,
    unc_failed: &HashSet<String>,
) {
    let now = cx.now;
    // 1. Uncounted pods whose finalizer is gone (or that are gone) are counted now.
    let with_finalizer: HashSet<&str> = views
        .iter()
        .filter(|p| p.finalizer)
        .map(|p| p.uid)
        .collect();
    let mut unc = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let keep = |list: &mut Option<Vec<String>>| -> i32 {
        let before = list.as_ref().map_or(0, Vec::len);
        let kept: Vec<String> = list
            .iter()
            .flatten()
            .filter(|u| with_finalizer.contains(u.as_str()))
            .cloned()
            .collect();
        let moved = before - kept.len();
        *list = Some(kept);
        moved as i32
    };
    let moved_succeeded = keep(&mut unc.succeeded);
    let moved_failed = keep(&mut unc.failed);
    status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_succeeded);
    status.failed = Some(status.failed.unwrap_or(0) + moved_failed);

    // 2. Newly finished pods become uncounted; their finalizers go.
    let failing = matches!(finish, Some(Finish::Failure { .. }));
    let mut added = 0;
    for p in views.iter().filter(|p| p.finalizer) {
        let considered_failed = cx.is_pod_failed(p);
        let removable = cx.job.metadata.deletion_timestamp.is_some()
            || finish.is_some()
            || p.phase == "Succeeded"
            || considered_failed;
        if !removable {
            continue;
        }
        cx.remove_finalizer(p);
        if p.phase == "Succeeded" && !unc_failed.contains(p.uid) {
            if !cx.indexed && !unc_succeeded.contains(p.uid) {
                unc.succeeded
                    .get_or_insert_with(Vec::new)
                    .push(p.uid.to_string());
                added += 1;
            }
        } else if (considered_failed || failing)
            && !unc_failed.contains(p.uid)
            && (!cx.indexed || p.index.is_some())
            && cx.policy(p).count
        {
            unc.failed
                .get_or_insert_with(Vec::new)
                .push(p.uid.to_string());
            added += 1;
        }
        if added >= MAX_UNCOUNTED_PODS {
            break;
        }
    }
    if cx.indexed {
        status.succeeded = Some(succeeded_indexes.len() as i32);
        let s = succeeded_indexes.to_string();
        status.completed_indexes = Some(s).filter(|s| !s.is_empty());
    }
    let pending =
        unc.succeeded.as_ref().map_or(0, Vec::len) + unc.failed.as_ref().map_or(0, Vec::len);
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: unc.succeeded.filter(|v| !v.is_empty()),
        failed: unc.failed.filter(|v| !v.is_empty()),
    });

    // 3. The interim condition, then the terminal one once everything is counted and gone.
    let Some(finish) = finish else {
        return;
    };
    let conds = status.conditions.get_or_insert_with(Vec::new);
    let (interim, terminal, reason, message) = match finish {
        Finish::Success { reason, message } => (
            ConditionType::SuccessCriteriaMet,
            ConditionType::Complete,
            reason,
            message,
        ),
        Finish::Failure { reason, message } => (
            ConditionType::FailureTarget,
            ConditionType::Failed,
            reason,
            message,
        ),
    };
    if !conds
        .iter()
        .any(|c| c.type_ == interim.as_str() && c.status == "True")
    {
        conds.push(new_condition(interim, "True", reason, message, now));
    }
    if pending > 0 || status.terminating.unwrap_or(0) > 0 {
        return;
    }
    ensure_condition(conds, terminal, "True", reason, message, now);
    if terminal == ConditionType::Complete {
        status.completion_time = Some(Time(now));
        cx.event(ControllerReason::Completed, "Job completed".to_string());
    } else {
        let why = match reason.as_str() {
            REASON_DEADLINE => ControllerReason::DeadlineExceeded,
            REASON_POD_FAILURE_POLICY => ControllerReason::PodFailurePolicy,
            REASON_MAX_FAILED_INDEXES => ControllerReason::MaxFailedIndexesExceeded,
            REASON_FAILED_INDEXES => ControllerReason::FailedIndexes,
            _ => ControllerReason::BackoffLimitExceeded,
        };
        cx.event(why, message.clone());
    }
    ttl(cx, status);
}

/// `ttlSecondsAfterFinished`: delete the finished Job once the time has passed.
fn ttl(cx: &mut Ctx, status: &JobStatus) {
    let Some(ttl) = cx.spec.ttl_seconds_after_finished else {
        return;
    };
    let finished_at = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .filter_map(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
        .next();
    let Some(at) = finished_at else {
        return;
    };
    let left = i64::from(ttl) * 1000 - (cx.now.as_millisecond() - at.as_millisecond());
    if left <= 0 {
        cx.actions.push(Action::DeleteSelf);
    } else {
        cx.requeue_after(duration_ms(left));
    }
}

#[cfg(test)]
mod tests;
