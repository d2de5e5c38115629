//! The Job controller's tests: a table of single syncs (kube's `TestSyncJob...` style) and
//! scenarios that run `sync` against a small simulated store and kubelet.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStatus, PodCondition, PodSpec,
    PodStatus,
};

use super::*;

pub(crate) struct Counter(pub u32);

impl Suffixes for Counter {
    fn next_suffix(&mut self) -> String {
        self.0 += 1;
        format!("{:05}", self.0)
    }
}

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() + secs).unwrap()
}

const UID: &str = "11111111-2222-3333-4444-555555555555";

/// A defaulted Job `pi` with `completions`, `parallelism` and restartPolicy Never.
fn job(completions: Option<i32>, parallelism: Option<i32>) -> Job {
    let mut j = Job {
        metadata: ObjectMeta {
            name: Some("pi".into()),
            namespace: Some("default".into()),
            uid: Some(UID.into()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism,
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "pi".into(),
                        image: Some("busybox:1.36".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    defaults(&mut j);
    j
}

fn spec_mut(j: &mut Job) -> &mut JobSpec {
    j.spec.as_mut().unwrap()
}

/// A pod of `job` in `phase` (uid = name), with the tracking finalizer.
fn pod(j: &Job, name: &str, phase: &str) -> Pod {
    let spec = j.spec.as_ref().unwrap();
    let mut p = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(name.into()),
            labels: spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone()),
            finalizers: Some(vec![TRACKING_FINALIZER.into()]),
            owner_references: Some(vec![controller_ref("batch/v1", "Job", "pi", UID)]),
            creation_timestamp: Some(Time(t0())),
            ..Default::default()
        },
        spec: spec.template.spec.clone(),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    };
    set_phase(&mut p, phase, 1, t0());
    p
}

fn set_phase(p: &mut Pod, phase: &str, exit_code: i32, when: Timestamp) {
    let st = p.status.get_or_insert_with(Default::default);
    st.phase = Some(phase.into());
    match phase {
        "Running" => {
            st.conditions = Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]);
        }
        "Succeeded" | "Failed" => {
            let code = if phase == "Succeeded" { 0 } else { exit_code };
            st.conditions = None;
            st.container_statuses = Some(vec![ContainerStatus {
                name: "pi".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        finished_at: Some(Time(when)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]);
        }
        _ => {}
    }
}

fn no_finalizer(mut p: Pod) -> Pod {
    p.metadata.finalizers = None;
    p
}

fn deleting(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(t0()));
    p
}

fn with_status(mut j: Job, f: impl FnOnce(&mut JobStatus)) -> Job {
    f(j.status.get_or_insert_with(Default::default));
    j
}

fn uncounted(s: &[&str], f: &[&str]) -> UncountedTerminatedPods {
    let v = |x: &[&str]| {
        Some(x.iter().map(|s| s.to_string()).collect::<Vec<_>>()).filter(|v| !v.is_empty())
    };
    UncountedTerminatedPods {
        succeeded: v(s),
        failed: v(f),
    }
}

fn created(s: &Sync<JobStatus>) -> Vec<String> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => p.metadata.name.clone(),
            _ => None,
        })
        .collect()
}

fn deleted(s: &Sync<JobStatus>) -> Vec<String> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeletePod { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn unfinalized(s: &Sync<JobStatus>) -> Vec<String> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::RemovePodFinalizer { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn conditions(s: &JobStatus) -> Vec<(String, String, String)> {
    s.conditions
        .iter()
        .flatten()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn reasons(s: &Sync<JobStatus>) -> Vec<ControllerReason> {
    s.events.iter().map(|e| e.reason).collect()
}

fn cond(t: &str, s: &str, r: &str) -> (String, String, String) {
    (t.into(), s.into(), r.into())
}

struct Case {
    name: &'static str,
    job: Job,
    pods: Vec<Pod>,
    now: Timestamp,
    creates: usize,
    deletes: Vec<&'static str>,
    unfinalize: Vec<&'static str>,
    active: i32,
    succeeded: i32,
    failed: i32,
    uncounted: UncountedTerminatedPods,
    conditions: Vec<(String, String, String)>,
    events: Vec<ControllerReason>,
    requeue: Option<Duration>,
}

fn base(name: &'static str, job: Job) -> Case {
    Case {
        name,
        job,
        pods: vec![],
        now: t0(),
        creates: 0,
        deletes: vec![],
        unfinalize: vec![],
        active: 0,
        succeeded: 0,
        failed: 0,
        uncounted: uncounted(&[], &[]),
        conditions: vec![],
        events: vec![],
        requeue: None,
    }
}

#[test]
fn sync_job_table() {
    use ControllerReason::*;
    let j52 = job(Some(5), Some(2));
    let cases = vec![
        Case {
            creates: 2,
            active: 2,
            events: vec![SuccessfulCreate, SuccessfulCreate],
            ..base("new job: parallelism pods", j52.clone())
        },
        Case {
            creates: 1,
            active: 1,
            succeeded: 4,
            events: vec![SuccessfulCreate],
            ..base(
                "never more pods than remaining completions",
                with_status(j52.clone(), |s| s.succeeded = Some(4)),
            )
        },
        Case {
            pods: vec![pod(&j52, "a", "Running"), pod(&j52, "b", "Pending")],
            active: 2,
            ..base("parallelism reached: nothing to do", j52.clone())
        },
        Case {
            pods: vec![
                pod(&j52, "a", "Running"),
                pod(&j52, "b", "Pending"),
                pod(&j52, "c", "Running"),
            ],
            deletes: vec!["b"],
            unfinalize: vec!["b"],
            active: 2,
            events: vec![SuccessfulDelete],
            ..base(
                "too many active: the pending one goes, uncounted",
                j52.clone(),
            )
        },
        Case {
            pods: vec![pod(&j52, "a", "Succeeded"), pod(&j52, "b", "Running")],
            creates: 1,
            unfinalize: vec!["a"],
            active: 2,
            uncounted: uncounted(&["a"], &[]),
            events: vec![SuccessfulCreate],
            ..base(
                "a success is recorded uncounted, its finalizer goes",
                j52.clone(),
            )
        },
        Case {
            pods: vec![
                no_finalizer(pod(&j52, "a", "Succeeded")),
                pod(&j52, "b", "Running"),
                pod(&j52, "c", "Running"),
            ],
            active: 2,
            succeeded: 1,
            ..base(
                "an uncounted pod without finalizer is counted",
                with_status(j52.clone(), |s| {
                    s.uncounted_terminated_pods = Some(uncounted(&["a"], &[]))
                }),
            )
        },
        Case {
            pods: vec![
                pod(&j52, "a", "Succeeded"),
                pod(&j52, "b", "Running"),
                pod(&j52, "c", "Running"),
            ],
            unfinalize: vec!["a"],
            active: 2,
            uncounted: uncounted(&["a"], &[]),
            ..base(
                "crash before the finalizer went: asked again, not counted twice",
                with_status(j52.clone(), |s| {
                    s.uncounted_terminated_pods = Some(uncounted(&["a"], &[]))
                }),
            )
        },
        Case {
            pods: vec![pod(&j52, "b", "Running"), pod(&j52, "c", "Running")],
            active: 2,
            succeeded: 3,
            failed: 1,
            ..base(
                "uncounted pods that are gone are counted; counts never drop",
                with_status(j52.clone(), |s| {
                    s.succeeded = Some(2);
                    s.uncounted_terminated_pods = Some(uncounted(&["a"], &["x"]));
                }),
            )
        },
        Case {
            pods: vec![pod(&j52, "b", "Running")],
            creates: 0,
            active: 1,
            succeeded: 4,
            ..base(
                "finished pods deleted by a user are not forgotten",
                with_status(j52.clone(), |s| s.succeeded = Some(4)),
            )
        },
        Case {
            pods: vec![pod(&j52, "a", "Failed")],
            now: at(3),
            unfinalize: vec!["a"],
            uncounted: uncounted(&[], &["a"]),
            requeue: Some(Duration::from_secs(7)),
            ..base("a failure delays its replacement by 10 s", j52.clone())
        },
        Case {
            pods: vec![pod(&j52, "a", "Failed"), pod(&j52, "b", "Running")],
            now: at(10),
            creates: 1,
            active: 2,
            unfinalize: vec!["a"],
            uncounted: uncounted(&[], &["a"]),
            events: vec![SuccessfulCreate],
            ..base("after the back-off the failure is replaced", j52.clone())
        },
        Case {
            pods: vec![deleting(pod(&j52, "a", "Running"))],
            now: at(10),
            creates: 2,
            active: 2,
            unfinalize: vec!["a"],
            uncounted: uncounted(&[], &["a"]),
            events: vec![SuccessfulCreate, SuccessfulCreate],
            ..base(
                "a pod deleted while running is a failure and is replaced at once",
                j52.clone(),
            )
        },
        Case {
            pods: vec![
                pod(&job(None, Some(2)), "a", "Succeeded"),
                pod(&job(None, Some(2)), "b", "Running"),
            ],
            unfinalize: vec!["a"],
            active: 1,
            uncounted: uncounted(&["a"], &[]),
            ..base(
                "no completions: one success, the others finish on their own",
                job(None, Some(2)),
            )
        },
    ];
    for c in cases {
        let s = sync(&c.job, &c.pods, c.now, &mut Counter(0));
        assert_eq!(created(&s).len(), c.creates, "{}: creates", c.name);
        assert_eq!(deleted(&s), c.deletes, "{}: deletes", c.name);
        assert_eq!(unfinalized(&s), c.unfinalize, "{}: finalizers", c.name);
        assert_eq!(s.status.active, Some(c.active), "{}: active", c.name);
        assert_eq!(
            s.status.succeeded.unwrap_or(0),
            c.succeeded,
            "{}: succeeded",
            c.name
        );
        assert_eq!(s.status.failed.unwrap_or(0), c.failed, "{}: failed", c.name);
        assert_eq!(
            s.status.uncounted_terminated_pods,
            Some(c.uncounted),
            "{}: uncounted",
            c.name
        );
        assert_eq!(
            conditions(&s.status),
            c.conditions,
            "{}: conditions",
            c.name
        );
        assert_eq!(reasons(&s), c.events, "{}: events", c.name);
        assert_eq!(s.requeue_after, c.requeue, "{}: requeue", c.name);
        assert_eq!(
            s.status.start_time,
            Some(Time(
                c.job
                    .status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map_or(c.now, |t| t.0)
            )),
            "{}: startTime",
            c.name
        );
    }
}

/// A store and a kubelet for one Job: actions are applied as the API server would.
struct Sim {
    job: Job,
    pods: Vec<Pod>,
    now: Timestamp,
    names: Counter,
    created: Vec<String>,
    max_active: usize,
    job_deleted: bool,
    syncs: Vec<Sync<JobStatus>>,
}

impl Sim {
    fn new(job: Job) -> Sim {
        Sim {
            job,
            pods: vec![],
            now: t0(),
            names: Counter(0),
            created: vec![],
            max_active: 0,
            job_deleted: false,
            syncs: vec![],
        }
    }

    /// Syncs, persists the status, then applies the actions.
    fn sync(&mut self) -> Sync<JobStatus> {
        let s = sync(&self.job, &self.pods, self.now, &mut self.names);
        self.job.status = Some(s.status.clone());
        for a in &s.actions {
            match a {
                Action::CreatePod(p) => {
                    let mut p = (**p).clone();
                    let name = p.metadata.name.clone().unwrap();
                    assert!(
                        !self
                            .pods
                            .iter()
                            .any(|q| q.metadata.name.as_deref() == Some(&name)),
                        "{name} created twice"
                    );
                    p.metadata.uid = Some(name.clone());
                    p.metadata.creation_timestamp = Some(Time(self.now));
                    p.status = Some(PodStatus {
                        phase: Some("Pending".into()),
                        ..Default::default()
                    });
                    self.created.push(name);
                    self.pods.push(p);
                }
                Action::DeletePod { name, .. } => {
                    let now = self.now;
                    let p = self.pod_mut(name);
                    p.metadata.deletion_timestamp.get_or_insert(Time(now));
                }
                Action::RemovePodFinalizer { name, finalizer } => {
                    if let Some(p) = self
                        .pods
                        .iter_mut()
                        .find(|p| p.metadata.name.as_deref() == Some(name))
                    {
                        p.metadata
                            .finalizers
                            .get_or_insert_with(Vec::new)
                            .retain(|f| f != finalizer);
                    }
                }
                Action::DeleteSelf => self.job_deleted = true,
                other => panic!("unexpected action {other:?}"),
            }
        }
        self.reap();
        let active = self
            .pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Pending" | "Running")
                )
            })
            .count();
        self.max_active = self.max_active.max(active);
        self.syncs.push(s.clone());
        s
    }

    /// The API server drops deleted pods once the kubelet is done and no finalizer is left.
    fn reap(&mut self) {
        self.pods.retain(|p| {
            let done = matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            !(p.metadata.deletion_timestamp.is_some()
                && done
                && p.metadata.finalizers.as_ref().is_none_or(Vec::is_empty))
        });
    }

    /// The kubelet kills the pods being deleted.
    fn kill_deleting(&mut self) {
        let now = self.now;
        for p in self
            .pods
            .iter_mut()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
        {
            if !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            ) {
                set_phase(p, "Failed", 137, now);
            }
        }
        self.reap();
    }

    fn pod_mut(&mut self, name: &str) -> &mut Pod {
        self.pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    fn live(&self) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Pending" | "Running")
                )
            })
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    /// Every live pod ends in `phase`.
    fn finish_all(&mut self, phase: &str, exit_code: i32) {
        let now = self.now;
        for name in self.live() {
            set_phase(self.pod_mut(&name), phase, exit_code, now);
        }
    }

    fn status(&self) -> &JobStatus {
        self.job.status.as_ref().unwrap()
    }

    /// Syncs until nothing changes (at most 10 times); the last sync must be quiet.
    fn settle(&mut self) {
        for _ in 0..10 {
            let before = (self.job.status.clone(), self.pods.clone());
            let s = self.sync();
            if s.actions.is_empty() && before == (self.job.status.clone(), self.pods.clone()) {
                return;
            }
        }
        panic!("no steady state: {:?}", self.syncs.last());
    }

    fn all_events(&self) -> Vec<(ControllerReason, String)> {
        self.syncs
            .iter()
            .flat_map(|s| s.events.iter().map(|e| (e.reason, e.message.clone())))
            .collect()
    }
}

#[test]
fn five_completions_two_at_a_time() {
    let mut sim = Sim::new(job(Some(5), Some(2)));
    for round in 1..=10 {
        sim.settle();
        if is_finished(&sim.job) {
            break;
        }
        sim.now = at(round * 60);
        sim.finish_all("Succeeded", 0);
    }
    assert!(is_finished(&sim.job));
    assert_eq!(sim.created.len(), 5, "{:?}", sim.created);
    assert_eq!(sim.max_active, 2);
    let st = sim.status();
    assert_eq!(st.succeeded, Some(5));
    assert_eq!(st.failed, Some(0));
    assert_eq!(st.active, Some(0));
    assert_eq!(
        conditions(st),
        vec![
            cond("SuccessCriteriaMet", "True", "CompletionsReached"),
            cond("Complete", "True", "CompletionsReached"),
        ]
    );
    assert!(st.completion_time.is_some());
    let completed: Vec<_> = sim
        .all_events()
        .into_iter()
        .filter(|e| e.0 == ControllerReason::Completed)
        .collect();
    assert_eq!(
        completed,
        vec![(ControllerReason::Completed, "Job completed".to_string())]
    );
    assert_eq!(sim.created[0], "pi-00001");
    // Finished: nothing more happens, whatever the pods do.
    sim.pods.clear();
    let s = sim.sync();
    assert!(s.actions.is_empty());
    assert_eq!(s.status.succeeded, Some(5));
}

#[test]
fn backoff_limit_two_fails_after_three_failures() {
    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).backoff_limit = Some(2);
    let mut sim = Sim::new(j);
    let mut delays = vec![];
    for _ in 0..10 {
        sim.settle();
        if is_finished(&sim.job) {
            break;
        }
        if sim.live().is_empty() {
            // Waiting for the back-off.
            let d = sim
                .syncs
                .last()
                .unwrap()
                .requeue_after
                .expect("a back-off delay");
            delays.push(d);
            sim.now = Timestamp::from_millisecond(sim.now.as_millisecond() + d.as_millis() as i64)
                .unwrap();
            continue;
        }
        sim.now = Timestamp::from_second(sim.now.as_second() + 1).unwrap();
        sim.finish_all("Failed", 1);
    }
    assert_eq!(sim.created.len(), 3, "{:?}", sim.created);
    assert_eq!(
        delays,
        vec![Duration::from_secs(10), Duration::from_secs(20)]
    );
    let st = sim.status();
    assert_eq!(st.failed, Some(3));
    assert_eq!(
        conditions(st),
        vec![
            cond("FailureTarget", "True", "BackoffLimitExceeded"),
            cond("Failed", "True", "BackoffLimitExceeded"),
        ]
    );
    let warnings: Vec<_> = sim
        .all_events()
        .into_iter()
        .filter(|e| e.0 == ControllerReason::BackoffLimitExceeded)
        .collect();
    assert_eq!(
        warnings,
        vec![(
            ControllerReason::BackoffLimitExceeded,
            "Job has reached the specified backoff limit".to_string()
        )]
    );
}

#[test]
fn active_deadline_kills_and_fails() {
    let mut j = job(Some(1), Some(2));
    spec_mut(&mut j).active_deadline_seconds = Some(30);
    spec_mut(&mut j).completions = Some(3);
    let mut sim = Sim::new(j);
    let s = sim.sync();
    assert_eq!(created(&s).len(), 2);
    assert_eq!(s.requeue_after, Some(Duration::from_secs(30)));
    sim.now = at(12);
    let s = sim.sync();
    assert_eq!(s.requeue_after, Some(Duration::from_secs(18)));
    sim.now = at(30);
    let s = sim.sync();
    assert_eq!(deleted(&s).len(), 2);
    assert_eq!(s.status.terminating, Some(2));
    assert_eq!(
        conditions(&s.status),
        vec![cond("FailureTarget", "True", "DeadlineExceeded")]
    );
    // The killed pods are counted as failed; Failed comes once they are gone.
    sim.kill_deleting();
    sim.settle();
    let st = sim.status();
    assert_eq!(st.failed, Some(2));
    assert_eq!(st.terminating, Some(0));
    assert_eq!(
        conditions(st),
        vec![
            cond("FailureTarget", "True", "DeadlineExceeded"),
            cond("Failed", "True", "DeadlineExceeded")
        ]
    );
    assert!(sim.pods.is_empty());
    assert!(sim.all_events().contains(&(
        ControllerReason::DeadlineExceeded,
        "Job was active longer than specified deadline".to_string()
    )));
}

#[test]
fn suspend_and_resume() {
    let mut j = job(Some(2), Some(2));
    spec_mut(&mut j).suspend = Some(true);
    let mut sim = Sim::new(j);
    let s = sim.sync();
    assert!(s.actions.is_empty());
    assert_eq!(s.status.start_time, None);
    assert_eq!(
        conditions(&s.status),
        vec![cond("Suspended", "True", "JobSuspended")]
    );
    assert_eq!(reasons(&s), vec![ControllerReason::Suspended]);
    assert!(sim.sync().events.is_empty());

    // Resumed long after its deadline would have passed: the deadline counts from now.
    sim.now = at(100);
    spec_mut(&mut sim.job).active_deadline_seconds = Some(50);
    sim.job.status.as_mut().unwrap().start_time = Some(Time(t0()));
    spec_mut(&mut sim.job).suspend = Some(false);
    let s = sim.sync();
    assert_eq!(created(&s).len(), 2);
    assert_eq!(
        conditions(&s.status),
        vec![cond("Suspended", "False", "JobResumed")]
    );
    assert!(reasons(&s).contains(&ControllerReason::Resumed));
    assert_eq!(s.status.start_time, Some(Time(at(100))));
    assert_eq!(s.requeue_after, Some(Duration::from_secs(50)));
    spec_mut(&mut sim.job).active_deadline_seconds = None;

    // Suspending a running Job deletes its pods without counting them as failures.
    sim.now = at(200);
    spec_mut(&mut sim.job).suspend = Some(true);
    let s = sim.sync();
    assert_eq!(deleted(&s).len(), 2);
    assert_eq!(unfinalized(&s).len(), 2);
    assert_eq!(s.status.active, Some(0));
    assert_eq!(s.status.terminating, Some(2));
    sim.kill_deleting();
    sim.settle();
    assert!(sim.pods.is_empty());
    assert_eq!(sim.status().failed, Some(0));
    assert_eq!(sim.status().active, Some(0));
    assert_eq!(
        conditions(sim.status()),
        vec![cond("Suspended", "True", "JobSuspended")]
    );
}

#[test]
fn on_failure_restarts_count_against_the_backoff_limit() {
    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j)
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".into());
    spec_mut(&mut j).backoff_limit = Some(3);
    let restarted = |n: i32| {
        let mut p = pod(&j, "a", "Running");
        p.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            name: "pi".into(),
            restart_count: n,
            ..Default::default()
        }]);
        p
    };
    let s = sync(&j, &[restarted(2)], t0(), &mut Counter(0));
    assert!(s.actions.is_empty());
    assert_eq!(conditions(&s.status), vec![]);
    let s = sync(&j, &[restarted(3)], t0(), &mut Counter(0));
    assert_eq!(deleted(&s), vec!["a"]);
    assert_eq!(
        conditions(&s.status),
        vec![cond("FailureTarget", "True", "BackoffLimitExceeded")]
    );
}

#[test]
fn indexed_job_runs_every_index_once() {
    let mut j = job(Some(3), Some(2));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    let mut sim = Sim::new(j);
    let s = sim.sync();
    assert_eq!(created(&s), vec!["pi-0-00001", "pi-1-00002"]);
    let Action::CreatePod(p) = &s.actions[0] else {
        panic!()
    };
    assert_eq!(
        p.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION],
        "0"
    );
    assert_eq!(
        p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX_ANNOTATION],
        "0"
    );
    let ps = p.spec.as_ref().unwrap();
    assert_eq!(ps.hostname.as_deref(), Some("pi-0"));
    let env = &ps.containers[0].env.as_ref().unwrap()[0];
    assert_eq!(env.name, "JOB_COMPLETION_INDEX");
    assert_eq!(
        env.value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    // Index 0 fails, then index 1 succeeds (a success resets the back-off): a new index 0
    // and index 2 follow, lowest index first.
    sim.now = at(5);
    set_phase(sim.pod_mut("pi-0-00001"), "Failed", 1, at(4));
    set_phase(sim.pod_mut("pi-1-00002"), "Succeeded", 0, at(5));
    sim.settle();
    assert_eq!(sim.status().completed_indexes.as_deref(), Some("1"));
    assert_eq!(sim.live(), vec!["pi-0-00003", "pi-2-00004"]);
    sim.now = at(20);
    sim.finish_all("Succeeded", 0);
    sim.settle();
    let st = sim.status();
    assert_eq!(st.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(st.succeeded, Some(3));
    assert_eq!(st.failed, Some(1));
    assert!(is_finished(&sim.job));
}

#[test]
fn pod_names_keep_within_generate_name_limits() {
    assert_eq!(pod_name("pi", None, "abcde"), "pi-abcde");
    assert_eq!(pod_name("pi", Some(12), "abcde"), "pi-12-abcde");
    let long = "j".repeat(63);
    assert_eq!(
        pod_name(&long, None, "abcde"),
        format!("{}-abcde", "j".repeat(57))
    );
    assert_eq!(
        pod_name(&long, Some(7), "abcde"),
        format!("{}-7-abcde", "j".repeat(55))
    );
    assert!(pod_name(&long, Some(99999), "abcde").len() <= 63);
}

#[test]
fn indexes_print_as_ranges() {
    let mut i = Indexes::parse("0-2,4", 10);
    assert_eq!(i.to_string(), "0-2,4");
    i.insert(3);
    assert_eq!(i.to_string(), "0-4");
    assert_eq!(Indexes::parse("1,2", 10).to_string(), "1-2");
    assert_eq!(Indexes::parse("7,x,3-20", 5).to_string(), "3-4");
    assert_eq!(Indexes::parse("", 5).to_string(), "");
}

#[test]
fn ttl_after_finished_deletes_the_job() {
    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).ttl_seconds_after_finished = Some(100);
    let mut sim = Sim::new(j);
    sim.sync();
    sim.now = at(10);
    sim.finish_all("Succeeded", 0);
    sim.settle();
    assert!(is_finished(&sim.job));
    assert_eq!(
        sim.syncs.last().unwrap().requeue_after,
        Some(Duration::from_secs(100))
    );
    sim.now = at(60);
    assert_eq!(sim.sync().requeue_after, Some(Duration::from_secs(50)));
    assert!(!sim.job_deleted);
    sim.now = at(110);
    let s = sim.sync();
    assert_eq!(s.actions, vec![Action::DeleteSelf]);
}

fn exit_rule(action: &str, codes: Vec<i32>) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: None,
            operator: "In".into(),
            values: codes,
        }),
        on_pod_conditions: None,
    }
}

#[test]
fn pod_failure_policy_rules() {
    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![
            exit_rule("FailJob", vec![42]),
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: None,
                }]),
            },
            exit_rule("Count", vec![1]),
        ],
    });
    spec_mut(&mut j).backoff_limit = Some(0);
    spec_mut(&mut j).pod_replacement_policy = None;
    defaults(&mut j);
    assert_eq!(
        spec_mut(&mut j).pod_replacement_policy.as_deref(),
        Some("Failed")
    );

    // Exit code 42: the Job fails at once.
    let mut p = pod(&j, "a", "Failed");
    set_phase(&mut p, "Failed", 42, t0());
    let s = sync(&j, &[p], t0(), &mut Counter(0));
    assert_eq!(
        conditions(&s.status),
        vec![cond("FailureTarget", "True", "PodFailurePolicy")]
    );
    assert_eq!(
        s.status.conditions.as_ref().unwrap()[0].message.as_deref(),
        Some(
            "Container pi for pod default/a failed with exit code 42 matching FailJob rule at index 0"
        )
    );
    assert_eq!(
        s.status.uncounted_terminated_pods,
        Some(uncounted(&[], &["a"]))
    );
    assert!(reasons(&s).is_empty());

    // A disruption is ignored: not counted (backoffLimit 0 is not exceeded), replaced at once.
    let mut p = pod(&j, "a", "Failed");
    set_phase(&mut p, "Failed", 137, t0());
    p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        ..Default::default()
    }]);
    let s = sync(&j, &[p], t0(), &mut Counter(0));
    assert_eq!(conditions(&s.status), vec![]);
    assert_eq!(unfinalized(&s), vec!["a"]);
    assert_eq!(
        s.status.uncounted_terminated_pods,
        Some(uncounted(&[], &[]))
    );
    assert_eq!(created(&s).len(), 1);

    // Exit code 1 counts: backoffLimit 0 is exceeded.
    let s = sync(&j, &[pod(&j, "a", "Failed")], t0(), &mut Counter(0));
    assert_eq!(
        conditions(&s.status),
        vec![cond("FailureTarget", "True", "BackoffLimitExceeded")]
    );

    // With podReplacementPolicy Failed a terminating pod is neither failed nor replaced.
    let s = sync(
        &j,
        &[deleting(pod(&j, "a", "Running"))],
        t0(),
        &mut Counter(0),
    );
    assert!(s.actions.is_empty());
    assert_eq!(s.status.terminating, Some(1));
}

#[test]
fn applying_the_actions_and_syncing_again_does_nothing() {
    for (completions, parallelism, indexed) in [
        (Some(5), Some(2), false),
        (None, Some(3), false),
        (Some(4), Some(4), true),
    ] {
        let mut j = job(completions, parallelism);
        if indexed {
            spec_mut(&mut j).completion_mode = Some("Indexed".into());
        }
        let mut sim = Sim::new(j);
        for round in 0..4 {
            sim.now = at(round * 100);
            sim.settle();
            let again = sim.sync();
            assert!(
                again.actions.is_empty(),
                "round {round}: {:?}",
                again.actions
            );
            assert!(again.events.is_empty(), "round {round}: {:?}", again.events);
            if let Some(first) = sim.live().first().cloned() {
                let now = sim.now;
                set_phase(sim.pod_mut(&first), "Succeeded", 0, now);
            }
        }
    }
}

#[test]
fn orphans_are_adopted_and_strangers_ignored() {
    let j = job(Some(2), Some(2));
    let mut orphan = pod(&j, "o", "Running");
    orphan.metadata.owner_references = None;
    let mut stranger = pod(&j, "s", "Running");
    stranger.metadata.owner_references = Some(vec![controller_ref(
        "batch/v1",
        "Job",
        "other",
        "other-uid",
    )]);
    let s = sync(&j, &[orphan, stranger], t0(), &mut Counter(0));
    let adopted: Vec<_> = s
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::SetPodMetadata {
                name,
                owner_references,
                ..
            } => Some((name.clone(), owner_references[0].uid.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(adopted, vec![("o".to_string(), UID.to_string())]);
    assert_eq!(created(&s).len(), 1);
    assert_eq!(s.status.active, Some(2));
}

#[test]
fn defaults_as_the_api_server() {
    let j = job(None, None);
    let spec = j.spec.as_ref().unwrap();
    assert_eq!(spec.completions, Some(1));
    assert_eq!(spec.parallelism, Some(1));
    assert_eq!(spec.backoff_limit, Some(6));
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.manual_selector, Some(false));
    assert_eq!(
        spec.pod_replacement_policy.as_deref(),
        Some("TerminatingOrFailed")
    );
    let want: BTreeMap<String, String> = [
        ("batch.kubernetes.io/controller-uid", UID),
        ("batch.kubernetes.io/job-name", "pi"),
        ("controller-uid", UID),
        ("job-name", "pi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        spec.template.metadata.as_ref().unwrap().labels.as_ref(),
        Some(&want)
    );
    assert_eq!(j.metadata.labels.as_ref(), Some(&want));
    assert_eq!(
        spec.selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()
            .get(CONTROLLER_UID_LABEL)
            .map(String::as_str),
        Some(UID)
    );
    let ps = spec.template.spec.as_ref().unwrap();
    assert_eq!(ps.termination_grace_period_seconds, Some(30));
    assert_eq!(
        ps.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    // Parallelism alone leaves completions unset ("any one success").
    assert_eq!(job(None, Some(3)).spec.unwrap().completions, None);
    assert!(
        validate(&job(None, None)).is_empty(),
        "{:?}",
        validate(&job(None, None))
    );
}

#[test]
fn validation_errors_as_the_api_server() {
    let msgs = |j: &Job| {
        validate(j)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j)
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = None;
    defaults(&mut j);
    assert_eq!(
        msgs(&j),
        vec![
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ]
    );

    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).completions = Some(-1);
    spec_mut(&mut j).parallelism = Some(-2);
    assert_eq!(
        msgs(&j),
        vec![
            "spec.parallelism: Invalid value: -2: must be greater than or equal to 0",
            "spec.completions: Invalid value: -1: must be greater than or equal to 0",
        ]
    );

    let mut j = job(None, Some(2));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    assert_eq!(
        msgs(&j),
        vec!["spec.completions: Required value: when completion mode is Indexed"]
    );

    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).completion_mode = Some("Sometimes".into());
    assert_eq!(
        msgs(&j),
        vec![
            "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"NonIndexed\", \"Indexed\""
        ]
    );

    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j)
        .selector
        .as_mut()
        .unwrap()
        .match_labels
        .as_mut()
        .unwrap()
        .insert("app".into(), "x".into());
    let m = msgs(&j);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("spec.template.metadata.labels: Invalid value: map[string]string{"),
        "{m:?}"
    );
    assert!(
        m[0].ends_with(": `selector` does not match template `labels`"),
        "{m:?}"
    );

    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j)
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".into());
    spec_mut(&mut j).pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![exit_rule("FailJob", vec![0])],
    });
    spec_mut(&mut j).pod_replacement_policy = Some("Failed".into());
    assert_eq!(
        msgs(&j),
        vec![
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
            "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
        ]
    );

    let mut j = job(Some(1), Some(1));
    j.metadata.name = Some("Pi".into());
    assert!(
        msgs(&j)[0]
            .starts_with("metadata.name: Invalid value: \"Pi\": a lowercase RFC 1123 subdomain")
    );

    let mut j = job(Some(1), Some(1));
    spec_mut(&mut j).template.spec.as_mut().unwrap().containers[0].image = None;
    assert_eq!(
        msgs(&j),
        vec!["spec.template.spec.containers[0].image: Required value"]
    );
}

#[test]
fn success_policy_rules() {
    use k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};
    let rule = |indexes: Option<&str>, count: Option<i32>| SuccessPolicyRule {
        succeeded_indexes: indexes.map(str::to_string),
        succeeded_count: count,
    };
    let spec = |rules: Vec<SuccessPolicyRule>| JobSpec {
        success_policy: Some(SuccessPolicy { rules }),
        ..Default::default()
    };
    let done = |s: &str| Indexes::parse(s, 10);
    for (rules, succeeded, want) in [
        // All of the rule's indexes.
        (vec![rule(Some("0,2"), None)], "0", None),
        (vec![rule(Some("0,2"), None)], "0-2", Some(0)),
        // Some of them.
        (vec![rule(Some("0-4"), Some(2))], "3", None),
        (vec![rule(Some("0-4"), Some(2))], "3,4,9", Some(0)),
        // Any indexes.
        (vec![rule(None, Some(3))], "1,5", None),
        (vec![rule(None, Some(3))], "1,5,7", Some(0)),
        // The first rule met is named.
        (
            vec![rule(Some("9"), None), rule(None, Some(1))],
            "4",
            Some(1),
        ),
        // Nothing succeeded yet: no rule is met.
        (vec![rule(None, Some(0))], "", None),
    ] {
        assert_eq!(
            match_success_policy(&spec(rules.clone()), 10, &done(succeeded)),
            want.map(|i| format!("Matched rules at index {i}")),
            "{rules:?} with {succeeded:?}"
        );
    }
    assert_eq!(
        match_success_policy(&JobSpec::default(), 10, &done("0-9")),
        None
    );
}

#[test]
fn success_policy_ends_an_indexed_job_early() {
    use k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};
    let mut j = job(Some(3), Some(3));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule {
            succeeded_indexes: Some("0".into()),
            succeeded_count: None,
        }],
    });
    let mut sim = Sim::new(j);
    sim.sync();
    assert_eq!(sim.live(), vec!["pi-0-00001", "pi-1-00002", "pi-2-00003"]);
    // Index 0 succeeds: the others are deleted, SuccessCriteriaMet first.
    sim.now = at(3);
    set_phase(sim.pod_mut("pi-0-00001"), "Succeeded", 0, at(3));
    let s = sim.sync();
    assert_eq!(deleted(&s), vec!["pi-1-00002", "pi-2-00003"]);
    assert_eq!(
        conditions(&s.status),
        vec![cond("SuccessCriteriaMet", "True", "SuccessPolicy")]
    );
    assert!(!is_finished(&sim.job));
    // Once they are gone: Complete, with the same reason.
    sim.kill_deleting();
    sim.settle();
    let st = sim.status();
    assert_eq!(
        conditions(st),
        vec![
            cond("SuccessCriteriaMet", "True", "SuccessPolicy"),
            cond("Complete", "True", "SuccessPolicy")
        ]
    );
    assert_eq!(st.completed_indexes.as_deref(), Some("0"));
    assert_eq!(st.succeeded, Some(1));
    assert_eq!(sim.created.len(), 3, "no index made again");
}

#[test]
fn success_policy_validation() {
    use k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};
    let mut j = job(Some(3), Some(1));
    spec_mut(&mut j).success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule::default()],
    });
    let errs = |j: &Job| -> Vec<String> { validate(j).iter().map(ToString::to_string).collect() };
    assert!(
        errs(&j).contains(
            &"spec.successPolicy: Forbidden: requires indexed completion mode".to_string()
        ),
        "{:?}",
        errs(&j)
    );
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    assert!(
        errs(&j).contains(&"spec.successPolicy.rules[0]: Required value: at least one of succeededCount or succeededIndexes must be specified".to_string()),
        "{:?}",
        errs(&j)
    );
    spec_mut(&mut j).success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule {
            succeeded_count: Some(4),
            succeeded_indexes: None,
        }],
    });
    assert!(
        errs(&j).contains(&"spec.successPolicy.rules[0].succeededCount: Invalid value: 4: must be less than or equal to 3 (the number of specified completions)".to_string()),
        "{:?}",
        errs(&j)
    );
}

#[test]
fn backoff_limit_per_index_fails_an_index_not_the_job() {
    let mut j = job(Some(3), Some(3));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).backoff_limit_per_index = Some(1);
    spec_mut(&mut j).backoff_limit = None;
    defaults(&mut j);
    assert_eq!(spec_mut(&mut j).backoff_limit, Some(i32::MAX));
    let mut sim = Sim::new(j);
    let s = sim.sync();
    let Action::CreatePod(p) = &s.actions[0] else {
        panic!()
    };
    assert_eq!(
        p.metadata.annotations.as_ref().unwrap()[INDEX_FAILURE_COUNT_ANNOTATION],
        "0"
    );
    assert_eq!(sim.status().failed_indexes.as_deref(), Some(""));
    // Index 1 fails once: it is tried again (after the back-off), its pod saying so.
    sim.now = at(2);
    set_phase(sim.pod_mut("pi-1-00002"), "Failed", 1, at(2));
    sim.settle();
    sim.now = at(20);
    sim.settle();
    let retry = sim
        .live()
        .into_iter()
        .find(|n| n.starts_with("pi-1-"))
        .unwrap();
    assert_eq!(
        sim.pod_mut(&retry).metadata.annotations.as_ref().unwrap()[INDEX_FAILURE_COUNT_ANNOTATION],
        "1"
    );
    // It fails again: the index is failed for good, not tried a third time.
    set_phase(sim.pod_mut(&retry), "Failed", 1, at(20));
    sim.now = at(60);
    sim.settle();
    assert_eq!(sim.status().failed_indexes.as_deref(), Some("1"));
    assert!(
        !sim.live().iter().any(|n| n.starts_with("pi-1-")),
        "{:?}",
        sim.live()
    );
    assert!(!is_finished(&sim.job));
    // The others succeed: the Job fails for its failed index.
    sim.finish_all("Succeeded", 0);
    sim.settle();
    let st = sim.status();
    assert_eq!(st.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(st.failed, Some(2));
    assert_eq!(
        conditions(st),
        vec![
            cond("FailureTarget", "True", "FailedIndexes"),
            cond("Failed", "True", "FailedIndexes")
        ]
    );
    assert!(sim.all_events().contains(&(
        ControllerReason::FailedIndexes,
        "Job has failed indexes".into()
    )));
}

#[test]
fn max_failed_indexes_fails_the_job_at_once() {
    let mut j = job(Some(4), Some(2));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).backoff_limit_per_index = Some(0);
    spec_mut(&mut j).max_failed_indexes = Some(0);
    spec_mut(&mut j).backoff_limit = None;
    defaults(&mut j);
    let mut sim = Sim::new(j);
    sim.sync();
    sim.now = at(2);
    set_phase(sim.pod_mut("pi-0-00001"), "Failed", 1, at(2));
    let s = sim.sync();
    // The other running pod is deleted; FailureTarget first.
    assert_eq!(deleted(&s), vec!["pi-1-00002"]);
    assert_eq!(
        conditions(&s.status),
        vec![cond("FailureTarget", "True", "MaxFailedIndexesExceeded")]
    );
    sim.kill_deleting();
    sim.settle();
    assert_eq!(
        conditions(sim.status()).last().unwrap(),
        &cond("Failed", "True", "MaxFailedIndexesExceeded")
    );
    assert_eq!(sim.created.len(), 2, "no index tried again");
}

#[test]
fn max_failed_indexes_validation() {
    let mut j = job(Some(3), Some(1));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).max_failed_indexes = Some(4);
    let errs: Vec<String> = validate(&j).iter().map(ToString::to_string).collect();
    assert!(
        errs.contains(
            &"spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"
                .to_string()
        ) && errs.contains(
            &"spec.maxFailedIndexes: Invalid value: 4: must be less than or equal to completions"
                .to_string()
        ),
        "{errs:?}"
    );
}

#[test]
fn fail_index_rule_fails_the_index_at_once() {
    let mut j = job(Some(2), Some(2));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).backoff_limit_per_index = Some(5);
    spec_mut(&mut j).backoff_limit = None;
    spec_mut(&mut j).pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![exit_rule("FailIndex", vec![42])],
    });
    defaults(&mut j);
    let mut sim = Sim::new(j);
    sim.sync();
    sim.now = at(2);
    set_phase(sim.pod_mut("pi-1-00002"), "Failed", 42, at(2));
    sim.settle();
    assert_eq!(sim.status().failed_indexes.as_deref(), Some("1"));
    assert_eq!(sim.live(), vec!["pi-0-00001"], "index 1 not tried again");
}

#[test]
fn backoff_limit_per_index_delays_only_the_failed_index() {
    let mut j = job(Some(3), Some(2));
    spec_mut(&mut j).completion_mode = Some("Indexed".into());
    spec_mut(&mut j).backoff_limit_per_index = Some(2);
    spec_mut(&mut j).backoff_limit = None;
    defaults(&mut j);
    let mut sim = Sim::new(j);
    sim.sync();
    assert_eq!(sim.live(), vec!["pi-0-00001", "pi-1-00002"]);
    // Index 0 fails at 1 s, index 1 succeeds at 2 s: index 2 starts at once, index 0 only
    // after its own 10 s (a success elsewhere does not reset it).
    set_phase(sim.pod_mut("pi-0-00001"), "Failed", 1, at(1));
    sim.now = at(2);
    set_phase(sim.pod_mut("pi-1-00002"), "Succeeded", 0, at(2));
    let s = sim.sync();
    assert_eq!(s.requeue_after, Some(Duration::from_secs(9)), "{s:?}");
    sim.settle();
    assert_eq!(sim.live(), vec!["pi-2-00003"]);
    sim.now = at(11);
    sim.settle();
    assert_eq!(sim.live(), vec!["pi-2-00003", "pi-0-00004"]);
}
