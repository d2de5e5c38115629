//! The CronJob controller's tests: schedules, a simulated store where Jobs run for a while,
//! and single syncs (downtime, history, time zones, suspend, idempotence).

use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobSpec, JobStatus, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond() + secs * 1000).unwrap()
}

const UID: &str = "cj-uid";

fn cronjob(schedule: &str, policy: &str) -> CronJob {
    let mut cj = CronJob {
        metadata: ObjectMeta {
            name: Some("hello".into()),
            namespace: Some("default".into()),
            uid: Some(UID.into()),
            creation_timestamp: Some(Time(ts("2026-01-01T00:00:00Z"))),
            ..Default::default()
        },
        spec: CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some(policy.into()),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(BTreeMap::from([("app".into(), "hello".into())])),
                    ..Default::default()
                }),
                spec: Some(JobSpec {
                    template: PodTemplateSpec {
                        metadata: None,
                        spec: Some(PodSpec {
                            restart_policy: Some("OnFailure".into()),
                            containers: vec![Container {
                                name: "hello".into(),
                                image: Some("busybox:1.36".into()),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }),
                    },
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        status: None,
    };
    defaults(&mut cj);
    cj
}

fn spec_mut(cj: &mut CronJob) -> &mut CronJobSpec {
    &mut cj.spec
}

fn created(s: &Sync<CronJobStatus>) -> Vec<Job> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateChild(Child::Job(j)) => Some((**j).clone()),
            _ => None,
        })
        .collect()
}

fn deleted(s: &Sync<CronJobStatus>) -> Vec<String> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteChild {
                kind: ChildKind::Job,
                name,
            } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn reasons(s: &Sync<CronJobStatus>) -> Vec<ControllerReason> {
    s.events.iter().map(|e| e.reason).collect()
}

/// A finished Job of `hello` started at `start`.
fn done_job(name: &str, how: &str, start: Timestamp) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(name.into()),
            owner_references: Some(vec![controller_ref("batch/v1", "CronJob", "hello", UID)]),
            ..Default::default()
        },
        spec: None,
        status: Some(JobStatus {
            start_time: Some(Time(start)),
            completion_time: (how == "Complete").then_some(Time(plus(start, 5))),
            conditions: Some(vec![JobCondition {
                type_: how.into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// A store where each created Job runs for `run` seconds and then completes.
struct Sim {
    cj: CronJob,
    jobs: Vec<Job>,
    now: Timestamp,
    run: i64,
    /// (name, when created)
    created: Vec<(String, Timestamp)>,
    max_active: usize,
    events: Vec<(Timestamp, ControllerReason)>,
}

impl Sim {
    fn new(cj: CronJob, run: i64) -> Sim {
        Sim {
            cj,
            jobs: vec![],
            now: ts("2026-01-01T00:00:00Z"),
            run,
            created: vec![],
            max_active: 0,
            events: vec![],
        }
    }

    fn sync(&mut self) -> Sync<CronJobStatus> {
        let s = sync(&self.cj, &self.jobs, self.now);
        self.cj.status = Some(s.status.clone());
        for e in &s.events {
            self.events.push((self.now, e.reason));
        }
        for a in &s.actions {
            match a {
                Action::CreateChild(Child::Job(j)) => {
                    let mut j = (**j).clone();
                    let name = j.metadata.name.clone().unwrap();
                    if self
                        .jobs
                        .iter()
                        .any(|x| x.metadata.name.as_deref() == Some(&name))
                    {
                        continue; // The shell skips a name that exists.
                    }
                    j.metadata.uid = Some(format!("uid-{name}"));
                    j.status = Some(JobStatus {
                        start_time: Some(Time(self.now)),
                        ..Default::default()
                    });
                    self.created.push((name, self.now));
                    self.jobs.push(j);
                }
                Action::DeleteChild { name, .. } => {
                    self.jobs
                        .retain(|j| j.metadata.name.as_deref() != Some(name));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let active = self.jobs.iter().filter(|j| finished(j).is_none()).count();
        self.max_active = self.max_active.max(active);
        s
    }

    /// Runs until `end`: syncs after every change, at every requeue and when Jobs finish.
    fn run_until(&mut self, end: Timestamp) {
        let mut requeue: Option<Timestamp> = Some(self.now);
        while self.now <= end {
            // Jobs that are done by now complete.
            for j in self.jobs.iter_mut() {
                let start = j.status.as_ref().unwrap().start_time.clone().unwrap().0;
                if finished(j).is_none() && plus(start, self.run) <= self.now {
                    *j = Job {
                        metadata: j.metadata.clone(),
                        ..done_job("x", "Complete", start)
                    };
                    j.status.as_mut().unwrap().completion_time = Some(Time(plus(start, self.run)));
                }
            }
            let s = self.sync();
            if !s.actions.is_empty() {
                continue; // The store changed: sync again at once.
            }
            requeue = s.requeue_after.map(|d| {
                plus(self.now, 0)
                    .checked_add(jiff::SignedDuration::try_from(d).unwrap())
                    .unwrap()
            });
            let next_finish = self
                .jobs
                .iter()
                .filter(|j| finished(j).is_none())
                .map(|j| {
                    plus(
                        j.status.as_ref().unwrap().start_time.clone().unwrap().0,
                        self.run,
                    )
                })
                .min();
            let next = match (requeue, next_finish) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).expect("something to wait for"),
            };
            assert!(next > self.now, "no progress at {}", self.now);
            self.now = next;
        }
        let _ = requeue;
    }

    fn created_minutes(&self) -> Vec<(String, String)> {
        self.created
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.to_zoned(TimeZone::UTC).strftime("%H:%M:%S").to_string(),
                )
            })
            .collect()
    }

    fn count(&self, r: ControllerReason) -> usize {
        self.events.iter().filter(|e| e.1 == r).count()
    }
}

fn minutes(t: &str) -> String {
    format!("hello-{}", ts(t).as_second() / 60)
}

#[test]
fn every_minute_with_a_70s_job_allow_overlaps() {
    let mut sim = Sim::new(cronjob("*/1 * * * *", "Allow"), 70);
    sim.run_until(ts("2026-01-01T00:04:30Z"));
    assert_eq!(
        sim.created_minutes(),
        vec![
            (minutes("2026-01-01T00:01:00Z"), "00:01:00".to_string()),
            (minutes("2026-01-01T00:02:00Z"), "00:02:00".to_string()),
            (minutes("2026-01-01T00:03:00Z"), "00:03:00".to_string()),
            (minutes("2026-01-01T00:04:00Z"), "00:04:00".to_string()),
        ]
    );
    assert_eq!(sim.max_active, 2);
    let st = sim.cj.status.as_ref().unwrap();
    assert_eq!(
        st.last_schedule_time,
        Some(Time(ts("2026-01-01T00:04:00Z")))
    );
    // Runs start 100 ms after their time (the requeue margin) and last 70 s.
    assert_eq!(
        st.last_successful_time,
        Some(Time(ts("2026-01-01T00:04:10.1Z")))
    );
    assert_eq!(st.active.as_ref().map(Vec::len), Some(1));
    assert_eq!(sim.count(ControllerReason::SuccessfulCreate), 4);
    assert_eq!(sim.count(ControllerReason::SawCompletedJob), 3);
    // History: 3 successful Jobs are kept.
    sim.run_until(ts("2026-01-01T00:09:30Z"));
    let complete = sim
        .jobs
        .iter()
        .filter(|j| finished(j) == Some("Complete"))
        .count();
    assert_eq!(complete, 3);
    assert!(sim.count(ControllerReason::SuccessfulDelete) >= 3);
}

#[test]
fn forbid_skips_or_starts_late() {
    // With a starting deadline the blocked run is missed (the window starts after it, so
    // there is no MissSchedule event either, as in kube-controller-manager).
    let mut cj = cronjob("* * * * *", "Forbid");
    spec_mut(&mut cj).starting_deadline_seconds = Some(5);
    let mut sim = Sim::new(cj, 70);
    sim.run_until(ts("2026-01-01T00:05:30Z"));
    let names: Vec<String> = sim.created_minutes().into_iter().map(|c| c.1).collect();
    assert_eq!(names, vec!["00:01:00", "00:03:00", "00:05:00"]);
    assert_eq!(sim.max_active, 1);
    assert!(sim.count(ControllerReason::JobAlreadyActive) >= 2);
    assert_eq!(sim.count(ControllerReason::MissSchedule), 0);

    // Without one the blocked run starts when the running Job finishes.
    let mut sim = Sim::new(cronjob("* * * * *", "Forbid"), 70);
    sim.run_until(ts("2026-01-01T00:03:30Z"));
    assert_eq!(
        sim.created_minutes(),
        vec![
            (minutes("2026-01-01T00:01:00Z"), "00:01:00".to_string()),
            (minutes("2026-01-01T00:02:00Z"), "00:02:10".to_string()),
            (minutes("2026-01-01T00:03:00Z"), "00:03:20".to_string()),
        ]
    );
    assert_eq!(sim.max_active, 1);
}

#[test]
fn replace_deletes_the_running_job() {
    let mut sim = Sim::new(cronjob("* * * * *", "Replace"), 70);
    sim.run_until(ts("2026-01-01T00:03:30Z"));
    let times: Vec<String> = sim.created_minutes().into_iter().map(|c| c.1).collect();
    assert_eq!(times, vec!["00:01:00", "00:02:00", "00:03:00"]);
    assert_eq!(sim.max_active, 1);
    assert_eq!(sim.jobs.len(), 1);
    let deletes: Vec<_> = sim
        .events
        .iter()
        .filter(|e| e.1 == ControllerReason::SuccessfulDelete)
        .map(|e| e.0)
        .collect();
    assert_eq!(
        deletes,
        vec![ts("2026-01-01T00:02:00.1Z"), ts("2026-01-01T00:03:00.1Z")]
    );
}

fn with_last(mut cj: CronJob, t: &str) -> CronJob {
    cj.status = Some(CronJobStatus {
        last_schedule_time: Some(Time(ts(t))),
        ..Default::default()
    });
    cj
}

#[test]
fn missed_runs_after_downtime() {
    // Down from 00:01 to 00:05:30: only the latest run is started.
    let cj = with_last(cronjob("* * * * *", "Allow"), "2026-01-01T00:01:00Z");
    let s = sync(&cj, &[], ts("2026-01-01T00:05:30Z"));
    let jobs = created(&s);
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].metadata.name.as_deref(),
        Some(minutes("2026-01-01T00:05:00Z").as_str())
    );
    assert_eq!(reasons(&s), vec![ControllerReason::SuccessfulCreate]);
    assert_eq!(s.requeue_after, Some(Duration::from_millis(30_100)));

    // With startingDeadlineSeconds 20 that run is out of the window: nothing, wait for 00:06.
    let mut cj = cj;
    spec_mut(&mut cj).starting_deadline_seconds = Some(20);
    let s = sync(&cj, &[], ts("2026-01-01T00:05:30Z"));
    assert!(s.actions.is_empty());
    assert!(s.events.is_empty());
    assert_eq!(s.requeue_after, Some(Duration::from_millis(30_100)));
    // ... but within the deadline it starts.
    let s = sync(&cj, &[], ts("2026-01-01T00:05:15Z"));
    assert_eq!(created(&s).len(), 1);
}

#[test]
fn more_than_100_missed_runs() {
    let cj = with_last(cronjob("* * * * *", "Allow"), "2026-01-01T00:00:00Z");
    let now = ts("2026-01-01T03:00:30Z");
    let s = sync(&cj, &[], now);
    assert_eq!(
        reasons(&s),
        vec![
            ControllerReason::TooManyMissedTimes,
            ControllerReason::SuccessfulCreate
        ]
    );
    assert_eq!(
        created(&s)[0].metadata.name.as_deref(),
        Some(minutes("2026-01-01T03:00:00Z").as_str())
    );
    // 100 missed is still "few".
    let s = sync(&cj, &[], ts("2026-01-01T01:40:30Z"));
    assert_eq!(reasons(&s), vec![ControllerReason::SuccessfulCreate]);
}

#[test]
fn history_limits_delete_the_oldest() {
    let cj = with_last(cronjob("0 * * * *", "Allow"), "2026-01-01T10:00:00Z");
    let h = |n: i64| plus(ts("2026-01-01T00:00:00Z"), n * 3600);
    let jobs = vec![
        done_job("c1", "Complete", h(1)),
        done_job("c4", "Complete", h(4)),
        done_job("c2", "Complete", h(2)),
        done_job("c5", "Complete", h(5)),
        done_job("c3", "Complete", h(3)),
        done_job("f6", "Failed", h(6)),
        done_job("f7", "Failed", h(7)),
        done_job("f8", "Failed", h(8)),
    ];
    let s = sync(&cj, &jobs, ts("2026-01-01T10:30:00Z"));
    assert_eq!(deleted(&s), vec!["c1", "c2", "f6", "f7"]);
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.message == "Deleted job c1")
            .count(),
        1
    );
    assert_eq!(s.status.last_successful_time, Some(Time(plus(h(5), 5))));
    // Limits of 0 keep nothing.
    let mut cj = cj;
    spec_mut(&mut cj).successful_jobs_history_limit = Some(0);
    spec_mut(&mut cj).failed_jobs_history_limit = Some(0);
    assert_eq!(
        deleted(&sync(&cj, &jobs, ts("2026-01-01T10:30:00Z"))).len(),
        8
    );
}

#[test]
fn time_zone_schedules() {
    let mut cj = cronjob("0 9 * * *", "Allow");
    spec_mut(&mut cj).time_zone = Some("Europe/Berlin".into());
    // 07:59 UTC is 08:59 in Berlin (winter): a minute to go.
    let s = sync(&cj, &[], ts("2026-01-01T07:59:00Z"));
    assert!(s.actions.is_empty());
    assert_eq!(s.requeue_after, Some(Duration::from_millis(60_100)));
    let s = sync(&cj, &[], ts("2026-01-01T08:00:00Z"));
    let j = &created(&s)[0];
    assert_eq!(
        j.metadata.name.as_deref(),
        Some(minutes("2026-01-01T08:00:00Z").as_str())
    );
    assert_eq!(
        j.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-01-01T09:00:00+01:00"
    );
    // The Job's annotation (with its +01:00 offset) records the run.
    let mut seen = j.clone();
    seen.metadata.uid = Some("j1".into());
    let s = sync(&cj, &[seen], ts("2026-01-01T08:00:01Z"));
    assert!(s.actions.is_empty(), "{:?}", s.actions);
    assert_eq!(
        s.status.last_schedule_time,
        Some(Time(ts("2026-01-01T08:00:00Z")))
    );
    // Summer time: 09:00 in Berlin is 07:00 UTC.
    let cj = with_last(cj, "2026-07-01T07:00:00Z");
    let s = sync(&cj, &[], ts("2026-07-02T07:00:01Z"));
    assert_eq!(
        created(&s)[0].metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-07-02T09:00:00+02:00"
    );
    // Without timeZone: UTC, written with Z.
    let s = sync(
        &cronjob("0 9 * * *", "Allow"),
        &[],
        ts("2026-01-01T09:00:00Z"),
    );
    assert_eq!(
        created(&s)[0].metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-01-01T09:00:00Z"
    );
}

#[test]
fn schedules_as_robfig_parses_them() {
    let next = |s: &str, t: &str| {
        Schedule::parse(s, None)
            .unwrap()
            .next(ts(t))
            .map(|t| t.to_string())
    };
    let t = "2026-01-07T10:30:00Z"; // a Wednesday
    assert_eq!(next("@hourly", t).as_deref(), Some("2026-01-07T11:00:00Z"));
    assert_eq!(next("@daily", t).as_deref(), Some("2026-01-08T00:00:00Z"));
    assert_eq!(
        next("@midnight", t).as_deref(),
        Some("2026-01-08T00:00:00Z")
    );
    assert_eq!(next("@weekly", t).as_deref(), Some("2026-01-11T00:00:00Z"));
    assert_eq!(next("@monthly", t).as_deref(), Some("2026-02-01T00:00:00Z"));
    assert_eq!(next("@yearly", t).as_deref(), Some("2027-01-01T00:00:00Z"));
    assert_eq!(
        next("@annually", t).as_deref(),
        Some("2027-01-01T00:00:00Z")
    );
    assert_eq!(
        next("@every 90m", t).as_deref(),
        Some("2026-01-07T12:00:00Z")
    );
    assert_eq!(
        next("*/15 * * * *", t).as_deref(),
        Some("2026-01-07T10:45:00Z")
    );
    assert_eq!(
        next("0 9 * * MON-FRI", t).as_deref(),
        Some("2026-01-08T09:00:00Z")
    );
    assert_eq!(
        next("0 0 1 jan ?", t).as_deref(),
        Some("2027-01-01T00:00:00Z")
    );
    assert_eq!(next("0 0 30 2 *", t), None);

    let err = |s: &str| Schedule::parse(s, None).unwrap_err().to_string();
    assert_eq!(
        err("CRON_TZ=UTC 0 * * * *"),
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    );
    assert_eq!(
        err("TZ=Europe/Paris 0 * * * *"),
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    );
    assert_eq!(
        err("* * * *"),
        "expected exactly 5 fields, found 4: [* * * *]"
    );
    assert_eq!(
        err("0 * * * * *"),
        "expected exactly 5 fields, found 6: [0 * * * * *]"
    );
    assert_eq!(err("@often"), "unrecognized descriptor: @often");
    assert!(err("0 0 L * *").starts_with("failed to parse int from L"));
    assert!(Schedule::parse("61 * * * *", None).is_err());
    assert!(Schedule::parse("0 0 * * *", Some("Mars/Olympus")).is_err());
    assert!(Schedule::parse("0 0 * * *", Some("europe/berlin")).is_err());
}

#[test]
fn suspended_creates_nothing() {
    let mut cj = with_last(cronjob("* * * * *", "Allow"), "2026-01-01T00:01:00Z");
    spec_mut(&mut cj).suspend = Some(true);
    let s = sync(&cj, &[], ts("2026-01-01T00:05:00Z"));
    assert!(s.actions.is_empty());
    assert_eq!(s.requeue_after, None);
    // Bookkeeping still happens: a finished Job is seen.
    let j = Job {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([(
                SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
                "2026-01-01T00:01:00Z".to_string(),
            )])),
            ..done_job(
                &minutes("2026-01-01T00:01:00Z"),
                "Complete",
                ts("2026-01-01T00:01:00Z"),
            )
            .metadata
        },
        ..done_job("x", "Complete", ts("2026-01-01T00:01:00Z"))
    };
    let s = sync(&cj, &[j], ts("2026-01-01T00:05:00Z"));
    assert!(s.actions.is_empty());
    assert_eq!(
        s.status.last_successful_time,
        Some(Time(ts("2026-01-01T00:01:05Z")))
    );
}

#[test]
fn syncing_again_never_fires_twice() {
    let cj = cronjob("*/5 * * * *", "Allow");
    let now = ts("2026-01-01T00:05:00Z");
    let s1 = sync(&cj, &[], now);
    let jobs = created(&s1);
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!(
        j.metadata.name.as_deref(),
        Some(minutes("2026-01-01T00:05:00Z").as_str())
    );
    assert_eq!(j.metadata.labels.as_ref().unwrap()["app"], "hello");
    assert_eq!(
        j.metadata.owner_references.as_ref().unwrap()[0],
        controller_ref("batch/v1", "CronJob", "hello", UID)
    );
    assert_eq!(s1.requeue_after, Some(Duration::from_millis(300_100)));
    // Lost create (crash, failure): decided again, under the same name.
    let mut cj1 = cj.clone();
    cj1.status = Some(s1.status.clone());
    let again = sync(&cj1, &[], now);
    assert_eq!(created(&again), jobs);
    // The Job exists: recorded, nothing more, however often.
    let mut present = j.clone();
    present.metadata.uid = Some("job-uid".into());
    let s2 = sync(&cj1, std::slice::from_ref(&present), now);
    assert!(s2.actions.is_empty(), "{:?}", s2.actions);
    assert!(s2.events.is_empty());
    assert_eq!(
        s2.status.last_schedule_time,
        Some(Time(ts("2026-01-01T00:05:00Z")))
    );
    let active = s2.status.active.clone().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].uid.as_deref(), Some("job-uid"));
    assert_eq!(active[0].kind.as_deref(), Some("Job"));
    let mut cj2 = cj.clone();
    cj2.status = Some(s2.status.clone());
    let s3 = sync(&cj2, std::slice::from_ref(&present), plus(now, 30));
    assert!(s3.actions.is_empty());
    assert_eq!(s3.status, s2.status);
    // A Job it did not make is reported, not counted.
    let mut stranger = present.clone();
    stranger.metadata.name = Some("manual".into());
    stranger.metadata.uid = Some("m".into());
    stranger.metadata.annotations = None;
    let s4 = sync(&cj2, &[present, stranger], plus(now, 30));
    assert_eq!(reasons(&s4), vec![ControllerReason::UnexpectedJob]);
    assert_eq!(s4.status.active.unwrap().len(), 1);
}

#[test]
fn kubectl_create_job_from_cronjob() {
    let cj = cronjob("* * * * *", "Allow");
    let j = job_from_cronjob(&cj, "manual-1");
    assert_eq!(j.metadata.name.as_deref(), Some("manual-1"));
    assert_eq!(j.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        j.metadata.annotations.as_ref().unwrap()[INSTANTIATE_ANNOTATION],
        "manual"
    );
    assert_eq!(j.metadata.labels.as_ref().unwrap()["app"], "hello");
    let owner = &j.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("CronJob", UID, Some(true))
    );
    assert_eq!(owner.block_owner_deletion, None);
    assert_eq!(j.spec, cj.spec.job_template.spec);
}

#[test]
fn defaults_and_validation() {
    let cj = cronjob("*/5 * * * *", "Allow");
    let spec = &cj.spec;
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(1));
    assert_eq!(spec.suspend, Some(false));
    assert!(validate(&cj).is_empty(), "{:?}", validate(&cj));
    let mut c = cronjob("*/5 * * * *", "Sometimes");
    c.spec.concurrency_policy = None;
    defaults(&mut c);
    assert!(validate(&c).is_empty());

    let msgs = |cj: &CronJob| {
        validate(cj)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let mut c = cronjob("* * * *", "Sometimes");
    c.metadata.name = Some("x".repeat(53));
    spec_mut(&mut c).time_zone = Some("Mars/Olympus".into());
    spec_mut(&mut c).starting_deadline_seconds = Some(-1);
    spec_mut(&mut c)
        .job_template
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("Always".into());
    assert_eq!(
        msgs(&c),
        vec![
            format!("metadata.name: Invalid value: \"{}\": must be no more than 52 characters", "x".repeat(53)),
            "spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]".to_string(),
            "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus".to_string(),
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".to_string(),
            "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
            "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".to_string(),
        ]
    );
    let c = cronjob("CRON_TZ=UTC * * * * *", "Allow");
    assert_eq!(
        msgs(&c),
        vec![
            "spec.schedule: Invalid value: \"CRON_TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        ]
    );
    let mut c = cronjob("@daily", "Forbid");
    spec_mut(&mut c).time_zone = Some("America/New_York".into());
    assert!(validate(&c).is_empty());
    let mut c = cronjob("@daily", "Forbid");
    spec_mut(&mut c)
        .job_template
        .spec
        .as_mut()
        .unwrap()
        .selector = Some(Default::default());
    assert_eq!(
        msgs(&c),
        vec![
            "spec.jobTemplate.spec.selector: Invalid value: map[string]string{}: `selector` will be auto-generated"
        ]
    );
}

#[test]
fn unusable_schedules_and_missing_jobs_are_reported() {
    let s = sync(
        &cronjob("not a schedule", "Allow"),
        &[],
        ts("2026-01-01T00:05:00Z"),
    );
    assert!(s.actions.is_empty());
    assert_eq!(s.requeue_after, None);
    assert_eq!(
        s.events,
        vec![ControllerEvent {
            reason: ControllerReason::UnparseableSchedule,
            message: "unparseable schedule: \"not a schedule\" : expected exactly 5 fields, found 3: [not a schedule]".into(),
        }]
    );
    let mut cj = cronjob("* * * * *", "Allow");
    spec_mut(&mut cj).time_zone = Some("Mars/Olympus".into());
    let s = sync(&cj, &[], ts("2026-01-01T00:05:00Z"));
    assert_eq!(reasons(&s), vec![ControllerReason::UnknownTimeZone]);
    assert_eq!(
        s.events[0].message,
        "invalid timeZone: \"Mars/Olympus\": unknown time zone Mars/Olympus"
    );
    let s = sync(
        &cronjob("0 0 30 2 *", "Allow"),
        &[],
        ts("2026-01-01T00:05:00Z"),
    );
    assert_eq!(reasons(&s), vec![ControllerReason::InvalidSchedule]);

    // An active Job deleted behind the controller's back leaves the active list.
    let mut cj = with_last(cronjob("0 * * * *", "Forbid"), "2026-01-01T00:00:00Z");
    cj.status.as_mut().unwrap().active = Some(vec![ObjectReference {
        kind: Some("Job".into()),
        name: Some("hello-29450880".into()),
        uid: Some("gone".into()),
        ..Default::default()
    }]);
    let s = sync(&cj, &[], ts("2026-01-01T00:30:00Z"));
    assert_eq!(reasons(&s), vec![ControllerReason::MissingJob]);
    assert_eq!(
        s.events[0].message,
        "Active job went missing: hello-29450880"
    );
    assert_eq!(s.status.active, None);
}

#[test]
fn leap_days_and_never_times() {
    let s = Schedule::parse("0 0 29 2 *", None).unwrap();
    assert_eq!(
        s.next(ts("2026-03-01T00:00:00Z"))
            .map(|t| t.to_string())
            .as_deref(),
        Some("2028-02-29T00:00:00Z")
    );
    // Accepted by validation (as the API server does), reported by sync.
    assert!(validate(&cronjob("0 0 30 2 *", "Allow")).is_empty());
}
