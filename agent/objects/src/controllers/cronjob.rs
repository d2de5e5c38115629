//! The CronJob controller (kube-controller-manager's `pkg/controller/cronjob`, v2, as
//! Kubernetes 1.32 runs it) as pure decisions: the API server's CronJob defaulting and
//! validation, the schedule (5-field cron and the `@` descriptors, as robfig/cron's standard
//! parser takes them), `sync` (which Jobs to create and delete, the status, events and when
//! to look again) and `kubectl create job --from=cronjob/NAME`.
//!
//! Schedules are evaluated with `croner` in the CronJob's `timeZone` (UTC when it has none,
//! as kube-controller-manager runs in UTC). Time zones come from jiff's bundled copy of the
//! IANA database: it needs no file (this crate does no I/O), gives every node the same answer
//! and works on a machine without tzdata, as kube-controller-manager embeds Go's `time/tzdata`.
//!
//! How a run is never fired twice nor lost across crashes: the Job for the time `t` is named
//! `<cronjob>-<t in unix minutes>` and carries `t` in its
//! `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation. `sync` records a run
//! (`status.active`, `status.lastScheduleTime`) when it sees the Job among those the CronJob
//! owns, not when it decides to create it: a create that failed or was lost in a crash is
//! decided again, and a create whose name exists is skipped by the shell.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use super::job::{self, SelectorRule};
use super::{Action, Child, ChildKind, ControllerEvent, ControllerReason, Sync, controller_ref};
use crate::field::{FieldError, FieldPath};

/// The annotation with the run's scheduled time (RFC 3339 in the CronJob's time zone).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// The annotation `kubectl create job --from=cronjob/NAME` puts on the Job.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";
/// A CronJob's name leaves room for the 11-character `-<minutes>` of its Jobs' names.
pub const MAX_NAME_LENGTH: usize = 52;
/// Default `successfulJobsHistoryLimit`.
pub const DEFAULT_SUCCESSFUL_HISTORY: i32 = 3;
/// Default `failedJobsHistoryLimit`.
pub const DEFAULT_FAILED_HISTORY: i32 = 1;
/// More missed start times than this: only the latest is considered, with a warning.
pub const MAX_MISSED_SCHEDULES: i64 = 100;
/// Added to the wait for the next schedule time (clock skew), as the controller does.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// A schedule that cannot be used; `Display` gives robfig/cron's or the API server's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    TimeZoneInSchedule,
    #[error("empty spec string")]
    Empty,
    #[error("expected exactly 5 fields, found {found}: [{fields}]")]
    FieldCount { found: usize, fields: String },
    #[error("unrecognized descriptor: {0}")]
    UnknownDescriptor(String),
    #[error("failed to parse duration {0}: {1}")]
    Every(String, String),
    #[error("{0}")]
    Pattern(String),
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
}

/// A parsed CronJob schedule in its time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: ScheduleKind,
    tz: TimeZone,
}

#[derive(Clone, Debug)]
enum ScheduleKind {
    Cron(Box<croner::Cron>),
    /// `@every <duration>` (whole seconds, at least one).
    Every(Duration),
}

/// The time zone named by `timeZone` (`None`: UTC). Names are case-sensitive, as Go's.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    let Some(name) = name else {
        return Ok(TimeZone::UTC);
    };
    let unknown = || ScheduleError::UnknownTimeZone(name.to_string());
    let valid_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && !p.starts_with('-')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
            && p.len() <= 14
    };
    if !name.split('/').all(valid_part) || name.eq_ignore_ascii_case("local") {
        return Err(unknown());
    }
    let tz = jiff::tz::TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| unknown())?;
    // The database ignores case; Go (and so the API server) does not.
    if name != "UTC" && tz.iana_name() != Some(name) {
        return Err(unknown());
    }
    Ok(tz)
}

impl Schedule {
    /// Parses `schedule` as the API server and the controller do (robfig/cron's standard
    /// parser: 5 fields, names, ranges, steps, `?`, and `@yearly`, `@annually`, `@monthly`,
    /// `@weekly`, `@daily`, `@midnight`, `@hourly`, `@every <duration>`), in `tz`.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        if schedule.contains("TZ") {
            return Err(ScheduleError::TimeZoneInSchedule);
        }
        let tz = self::time_zone(time_zone)?;
        let s = schedule.trim();
        if s.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let kind = if let Some(d) = s.strip_prefix('@') {
            let d = d.to_ascii_lowercase();
            if let Some(every) = d.strip_prefix("every ") {
                let every = every.trim();
                let dur = crate::duration::parse_duration(every)
                    .map_err(|e| ScheduleError::Every(every.to_string(), e.to_string()))?;
                // robfig/cron: at least a second, whole seconds.
                let secs = dur.as_secs().max(1);
                ScheduleKind::Every(Duration::from_secs(secs))
            } else {
                let pattern = match d.as_str() {
                    "yearly" | "annually" => "0 0 1 1 *",
                    "monthly" => "0 0 1 * *",
                    "weekly" => "0 0 * * 0",
                    "daily" | "midnight" => "0 0 * * *",
                    "hourly" => "0 * * * *",
                    _ => return Err(ScheduleError::UnknownDescriptor(s.to_string())),
                };
                ScheduleKind::Cron(Box::new(parse_fields(pattern)?))
            }
        } else {
            ScheduleKind::Cron(Box::new(parse_fields(s)?))
        };
        Ok(Schedule { kind, tz })
    }

    /// The first schedule time strictly after `t`; `None` if there is none (`0 0 30 2 *`).
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            ScheduleKind::Every(d) => {
                // robfig/cron: t + delay, dropping t's fraction of a second.
                let whole = Timestamp::from_second(t.as_second()).ok()?;
                whole
                    .checked_add(jiff::SignedDuration::try_from(*d).ok()?)
                    .ok()
            }
            ScheduleKind::Cron(c) => {
                let z = t.to_zoned(self.tz.clone());
                c.find_next_occurrence(&z, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// `t` as RFC 3339 in the schedule's time zone (`2026-03-01T09:00:00+01:00`).
    pub fn format(&self, t: Timestamp) -> String {
        let z = t.to_zoned(self.tz.clone());
        let offset = z.offset();
        if offset.seconds() == 0 {
            return format!("{}Z", z.datetime().strftime("%Y-%m-%dT%H:%M:%S"));
        }
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The 5 fields robfig/cron takes; croner's extensions (seconds, years, `L`, `W`, `#`) are
/// refused as robfig refuses them.
fn parse_fields(s: &str) -> Result<croner::Cron, ScheduleError> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(ScheduleError::FieldCount {
            found: fields.len(),
            fields: fields.join(" "),
        });
    }
    for f in &fields {
        if f.contains(['L', 'W', '#', 'l', 'w']) {
            // Names (JUL, WED) are allowed; a bare L/W/# modifier is not.
            let names_only = f
                .split([',', '-', '/'])
                .all(|p| p.parse::<u32>().is_ok() || p == "*" || p == "?" || is_name(p));
            if !names_only {
                return Err(ScheduleError::Pattern(format!(
                    "failed to parse int from {f}: strconv.Atoi: parsing {f:?}: invalid syntax"
                )));
            }
        }
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(s)
        .map_err(|e| ScheduleError::Pattern(e.to_string()))
}

fn is_name(p: &str) -> bool {
    const NAMES: [&str; 19] = [
        "sun", "mon", "tue", "wed", "thu", "fri", "sat", "jan", "feb", "mar", "apr", "may", "jun",
        "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    NAMES.contains(&p.to_ascii_lowercase().as_str())
}

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

/// The API server's defaults for a CronJob (`SetDefaults_CronJob`, and the pod defaults of
/// its job template; the Job's own defaults come when a Job is made from it).
pub fn defaults(cj: &mut CronJob) {
    let spec = &mut cj.spec;
    set(&mut spec.concurrency_policy, "Allow".to_string());
    set(&mut spec.suspend, false);
    set(
        &mut spec.successful_jobs_history_limit,
        DEFAULT_SUCCESSFUL_HISTORY,
    );
    set(&mut spec.failed_jobs_history_limit, DEFAULT_FAILED_HISTORY);
    if let Some(js) = spec.job_template.spec.as_mut() {
        job::template_defaults(&mut js.template);
    }
}

/// The API server's validation of a (defaulted) CronJob; empty means valid.
pub fn validate(cj: &CronJob) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = FieldPath::new("metadata").child("name");
    match cj.metadata.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            &name_path,
            "name or generateName is required",
        )),
        Some(n) => {
            for e in crate::names::dns1123_subdomain(n) {
                errs.push(FieldError::invalid(&name_path, n, &e));
            }
            if n.len() > MAX_NAME_LENGTH {
                errs.push(FieldError::invalid(
                    &name_path,
                    n,
                    &format!("must be no more than {MAX_NAME_LENGTH} characters"),
                ));
            }
        }
    }
    let path = FieldPath::new("spec");
    let spec = &cj.spec;
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&path.child("schedule"), ""));
    } else {
        // Parsed in UTC: the zone is checked on its own below. A schedule that never comes
        // (`0 0 30 2 *`) is accepted, as the API server accepts it; `sync` reports it.
        if let Err(e) = Schedule::parse(&spec.schedule, None) {
            errs.push(FieldError::invalid(
                &path.child("schedule"),
                &spec.schedule,
                &e.to_string(),
            ));
        }
    }
    if let Some(tz) = spec.time_zone.as_deref() {
        let p = path.child("timeZone");
        if tz.is_empty() {
            errs.push(FieldError::invalid(
                &p,
                tz,
                "timeZone must be nil or non-empty string",
            ));
        } else if tz.eq_ignore_ascii_case("local") {
            errs.push(FieldError::invalid(
                &p,
                tz,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ));
        } else if let Err(e) = time_zone(Some(tz)) {
            errs.push(FieldError::invalid(&p, tz, &e.to_string()));
        }
    }
    match spec.concurrency_policy.as_deref() {
        None | Some("") => errs.push(FieldError::required(&path.child("concurrencyPolicy"), "")),
        Some("Allow" | "Forbid" | "Replace") => {}
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    for (field, v) in [
        ("startingDeadlineSeconds", spec.starting_deadline_seconds),
        (
            "successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit.map(i64::from),
        ),
        (
            "failedJobsHistoryLimit",
            spec.failed_jobs_history_limit.map(i64::from),
        ),
    ] {
        if let Some(v) = v
            && v < 0
        {
            errs.push(FieldError::invalid(
                &path.child(field),
                v,
                "must be greater than or equal to 0",
            ));
        }
    }
    let jt = path.child("jobTemplate");
    match &spec.job_template.spec {
        Some(js) => job::validate_spec(&mut errs, &jt.child("spec"), js, SelectorRule::Template),
        None => errs.push(FieldError::required(&jt.child("spec"), "")),
    }
    errs
}

/// The Job `kubectl create job NAME --from=cronjob/CJ` creates: the job template with the
/// `cronjob.kubernetes.io/instantiate: manual` annotation and the CronJob as controller
/// (without `blockOwnerDeletion`, as kubectl sets it). The API server's Job defaults still
/// apply when it is created.
pub fn job_from_cronjob(cj: &CronJob, name: &str) -> Job {
    let template = Some(&cj.spec.job_template);
    let tmeta = template
        .and_then(|t| t.metadata.clone())
        .unwrap_or_default();
    let mut annotations =
        BTreeMap::from([(INSTANTIATE_ANNOTATION.to_string(), "manual".to_string())]);
    annotations.extend(tmeta.annotations.unwrap_or_default());
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cj.metadata.namespace.clone(),
            annotations: Some(annotations),
            labels: tmeta.labels,
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_string(),
                kind: "CronJob".to_string(),
                name: cj.metadata.name.clone().unwrap_or_default(),
                uid: cj.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: template.and_then(|t| t.spec.clone()),
        status: None,
    }
}

/// The name of the Job for the schedule time `t`: `<cronjob>-<t in unix minutes>`.
pub fn job_name(cronjob: &str, t: Timestamp) -> String {
    format!("{cronjob}-{}", t.as_second().div_euclid(60))
}

/// The Job for the schedule time `t` (`getJobFromTemplate2`).
fn job_for(cj: &CronJob, schedule: &Schedule, t: Timestamp) -> Job {
    let cj_name = cj.metadata.name.as_deref().unwrap_or_default();
    let template = Some(&cj.spec.job_template);
    let tmeta = template
        .and_then(|t| t.metadata.clone())
        .unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        schedule.format(t),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj_name, t)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(
                "batch/v1",
                "CronJob",
                cj_name,
                cj.metadata.uid.as_deref().unwrap_or_default(),
            )]),
            ..Default::default()
        },
        spec: template.and_then(|t| t.spec.clone()),
        status: None,
    }
}

/// How a Job ended, if it has.
fn finished(j: &Job) -> Option<&'static str> {
    let conds = j.status.as_ref()?.conditions.as_ref()?;
    for c in conds.iter().filter(|c| c.status == "True") {
        match c.type_.as_str() {
            "Complete" => return Some("Complete"),
            "Failed" => return Some("Failed"),
            _ => {}
        }
    }
    None
}

/// The schedule time a Job was made for, if the CronJob made it: from its annotation, and
/// only if its name is the one this CronJob gives that time.
fn scheduled_time(cj_name: &str, j: &Job) -> Option<Timestamp> {
    let ann = j
        .metadata
        .annotations
        .as_ref()?
        .get(SCHEDULED_TIMESTAMP_ANNOTATION)?;
    let t: Timestamp = ann.parse().ok()?;
    (j.metadata.name.as_deref() == Some(job_name(cj_name, t).as_str())).then_some(t)
}

fn reference(j: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_string()),
        kind: Some("Job".to_string()),
        name: j.metadata.name.clone(),
        namespace: j.metadata.namespace.clone(),
        uid: j.metadata.uid.clone(),
        resource_version: j.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Whether the active list's entry `r` is the Job `j` (by UID when both have one).
fn same(r: &ObjectReference, j: &Job) -> bool {
    match (r.uid.as_deref(), j.metadata.uid.as_deref()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => a == b,
        _ => r.name.is_some() && r.name == j.metadata.name,
    }
}

/// When the schedule wants a run and how many were missed (`mostRecentScheduleTime`).
struct Recent {
    earliest: Timestamp,
    most_recent: Option<Timestamp>,
    missed: i64,
}

fn most_recent(
    cj: &CronJob,
    status: &CronJobStatus,
    schedule: &Schedule,
    now: Timestamp,
    with_deadline: bool,
) -> Result<Recent, ()> {
    let mut earliest = status
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    if with_deadline && let Some(d) = cj.spec.starting_deadline_seconds {
        let deadline =
            Timestamp::from_second(now.as_second().saturating_sub(d)).unwrap_or(Timestamp::MIN);
        if deadline > earliest {
            earliest = deadline;
        }
    }
    let none = |earliest| Recent {
        earliest,
        most_recent: None,
        missed: 0,
    };
    let Some(t1) = schedule.next(earliest) else {
        return Err(());
    };
    if now < t1 {
        return Ok(none(earliest));
    }
    let Some(t2) = schedule.next(t1) else {
        return Ok(Recent {
            earliest,
            most_recent: Some(t1),
            missed: 1,
        });
    };
    if now < t2 {
        return Ok(Recent {
            earliest,
            most_recent: Some(t1),
            missed: 1,
        });
    }
    let between = t2.as_second() - t1.as_second();
    if between < 1 {
        return Err(());
    }
    let missed = (now.as_second() - t1.as_second()) / between + 1;
    // Start a little before the estimate and walk to `now` (irregular schedules).
    let start = t1.as_second() + (missed - 2) * between;
    let mut t = Timestamp::from_second(start).map_err(|_| ())?;
    let mut latest = None;
    while let Some(n) = schedule.next(t) {
        if n > now {
            break;
        }
        latest = Some(n);
        t = n;
    }
    Ok(Recent {
        earliest,
        most_recent: latest,
        missed,
    })
}

/// How long until the schedule's next time after the last one due, plus the margin
/// (`nextScheduleTimeDuration`).
fn next_wait(
    cj: &CronJob,
    status: &CronJobStatus,
    schedule: &Schedule,
    now: Timestamp,
) -> Option<Duration> {
    let from = match most_recent(cj, status, schedule, now, false) {
        Err(()) => now,
        Ok(r) => match r.most_recent {
            Some(t) => t,
            None if r.missed == 0 => r.earliest,
            None => now,
        },
    };
    let next = schedule.next(from)?;
    let ms = next.as_millisecond() - now.as_millisecond();
    let wait = Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0));
    Some(wait + NEXT_SCHEDULE_DELTA)
}

fn event(events: &mut Vec<ControllerEvent>, reason: ControllerReason, message: String) {
    events.push(ControllerEvent { reason, message });
}

/// `Mon, 02 Jan 2006 15:04:05 -0700` in UTC, as the MissSchedule event prints the time.
fn rfc1123z(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// One sync of a (defaulted) CronJob: `jobs` are the Jobs it owns (controller reference),
/// with their status. See the module doc for how runs are recorded.
pub fn sync(cj: &CronJob, jobs: &[Job], now: Timestamp) -> Sync<CronJobStatus> {
    let mut status = cj.status.clone().unwrap_or_default();
    let mut actions = Vec::new();
    let mut events = Vec::new();
    let spec = &cj.spec;
    let cj_name = cj.metadata.name.as_deref().unwrap_or_default();
    let mut active: Vec<ObjectReference> = status.active.take().unwrap_or_default();

    // What the Jobs say: runs made, runs finished.
    let mut last_schedule = status.last_schedule_time.as_ref().map(|t| t.0);
    for j in jobs
        .iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
    {
        let name = j.metadata.name.as_deref().unwrap_or_default();
        let listed = active.iter().any(|r| same(r, j));
        let scheduled = scheduled_time(cj_name, j);
        let new_run = scheduled.is_some_and(|t| last_schedule.is_none_or(|l| t > l)) && !listed;
        if let Some(t) = scheduled
            && last_schedule.is_none_or(|l| t > l)
        {
            last_schedule = Some(t);
        }
        match finished(j) {
            None if listed => {
                // Keep the reference current (the UID and version the store gave it).
                if let Some(r) = active.iter_mut().find(|r| same(r, j)) {
                    *r = reference(j);
                }
            }
            None if scheduled.is_some() => active.push(reference(j)),
            None => event(
                &mut events,
                ControllerReason::UnexpectedJob,
                format!("Saw a job that the controller did not create or forgot: {name}"),
            ),
            Some(how) => {
                if listed || new_run {
                    active.retain(|r| !same(r, j));
                    event(
                        &mut events,
                        ControllerReason::SawCompletedJob,
                        format!("Saw completed job: {name}, status: {how}"),
                    );
                }
                if how == "Complete"
                    && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.as_ref())
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|l| done.0 > l.0)
                {
                    status.last_successful_time = Some(done.clone());
                }
            }
        }
    }
    // Active Jobs that are gone.
    let live = |r: &ObjectReference| {
        jobs.iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .any(|j| same(r, j))
    };
    for r in active.iter().filter(|r| !live(r)) {
        event(
            &mut events,
            ControllerReason::MissingJob,
            format!(
                "Active job went missing: {}",
                r.name.as_deref().unwrap_or_default()
            ),
        );
    }
    active.retain(live);
    status.last_schedule_time = last_schedule.map(Time);

    // History limits: the oldest finished Jobs beyond them go.
    for (how, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none() && finished(j) == Some(how))
            .collect();
        let limit = usize::try_from(limit).unwrap_or(0);
        if done.len() <= limit {
            continue;
        }
        let start = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0)
        };
        // Oldest first; Jobs that never started last, then by name.
        done.sort_by(|a, b| {
            let key = |j: &Job| (start(j).is_none(), start(j));
            key(a)
                .cmp(&key(b))
                .then(a.metadata.name.cmp(&b.metadata.name))
        });
        for j in &done[..done.len() - limit] {
            let name = j.metadata.name.clone().unwrap_or_default();
            actions.push(Action::DeleteChild {
                kind: ChildKind::Job,
                name: name.clone(),
            });
            event(
                &mut events,
                ControllerReason::SuccessfulDelete,
                format!("Deleted job {name}"),
            );
        }
    }

    fn finish(
        mut status: CronJobStatus,
        active: Vec<ObjectReference>,
        actions: Vec<Action>,
        events: Vec<ControllerEvent>,
        requeue_after: Option<Duration>,
    ) -> Sync<CronJobStatus> {
        status.active = Some(active).filter(|a| !a.is_empty());
        Sync {
            actions,
            status,
            events,
            requeue_after,
        }
    }

    if cj.metadata.deletion_timestamp.is_some() {
        return finish(status, active, actions, events, None);
    }
    let schedule = match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(ScheduleError::UnknownTimeZone(tz)) => {
            event(
                &mut events,
                ControllerReason::UnknownTimeZone,
                format!("invalid timeZone: {tz:?}: unknown time zone {tz}"),
            );
            return finish(status, active, actions, events, None);
        }
        Err(e) => {
            event(
                &mut events,
                ControllerReason::UnparseableSchedule,
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            );
            return finish(status, active, actions, events, None);
        }
    };
    if spec.suspend == Some(true) {
        return finish(status, active, actions, events, None);
    }

    let status_now = CronJobStatus {
        active: Some(active.clone()),
        ..status.clone()
    };
    let recent = match most_recent(cj, &status_now, &schedule, now, true) {
        Ok(r) => r,
        Err(()) => {
            event(
                &mut events,
                ControllerReason::InvalidSchedule,
                format!(
                    "invalid schedule: {} : time difference between two schedules is less than 1 second",
                    spec.schedule
                ),
            );
            return finish(status, active, actions, events, None);
        }
    };
    let wait = |st: &CronJobStatus| next_wait(cj, st, &schedule, now);
    let Some(scheduled) = recent.most_recent else {
        let w = wait(&status_now);
        return finish(status, active, actions, events, w);
    };
    if recent.missed > MAX_MISSED_SCHEDULES {
        event(
            &mut events,
            ControllerReason::TooManyMissedTimes,
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".to_string(),
        );
    }
    if let Some(d) = spec.starting_deadline_seconds
        && scheduled.as_second().saturating_add(d) < now.as_second()
    {
        event(
            &mut events,
            ControllerReason::MissSchedule,
            format!(
                "Missed scheduled time to start a job: {}",
                rfc1123z(scheduled)
            ),
        );
        let w = wait(&status_now);
        return finish(status, active, actions, events, w);
    }
    let name = job_name(cj_name, scheduled);
    let done_already = active
        .iter()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || last_schedule == Some(scheduled)
        || jobs
            .iter()
            .any(|j| j.metadata.name.as_deref() == Some(name.as_str()));
    if done_already {
        let w = wait(&status_now);
        return finish(status, active, actions, events, w);
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            event(
                &mut events,
                ControllerReason::JobAlreadyActive,
                "Not starting job because prior execution is running and concurrency policy is Forbid".to_string(),
            );
            let w = wait(&status_now);
            return finish(status, active, actions, events, w);
        }
        Some("Replace") => {
            for r in active.drain(..) {
                let old = r.name.clone().unwrap_or_default();
                actions.push(Action::DeleteChild {
                    kind: ChildKind::Job,
                    name: old.clone(),
                });
                event(
                    &mut events,
                    ControllerReason::SuccessfulDelete,
                    format!("Deleted job {old}"),
                );
            }
        }
        _ => {}
    }
    actions.push(Action::CreateChild(Child::Job(Box::new(job_for(
        cj, &schedule, scheduled,
    )))));
    event(
        &mut events,
        ControllerReason::SuccessfulCreate,
        format!("Created job {name}"),
    );
    // The run is recorded when the Job is seen; the wait is from this run on.
    let after = CronJobStatus {
        last_schedule_time: Some(Time(scheduled)),
        ..status_now
    };
    let w = wait(&after);
    finish(status, active, actions, events, w)
}

#[cfg(test)]
mod tests;
