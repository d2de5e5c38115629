//! What one sync of a pod does, decided without doing it (the kubelet's `computePodActions`):
//! from the pod's spec, the observed sandbox and container states, the back-off book and the
//! clock, the ordered actions the worker ([`super::worker`]) then carries out. Pure: no I/O,
//! no clock of its own, nothing awaited; table-tested below.
//!
//! The rules, as the kubelet's: a dead sandbox kills the pod and a new one is built (its init
//! containers run again); init containers start strictly in order, one per sync, each after
//! the previous one completed — a sidecar (`restartPolicy: Always`) only has to be running
//! (and started: its startup probe passed),
//! and is restarted whenever it ends; a regular init container that fails is restarted unless
//! the pod's policy is `Never`, which fails the pod; app containers start once every init
//! container is done and are restarted per the pod's restartPolicy; every restart after the
//! first waits out its CrashLoopBackOff.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::backoff::{self, Backoff, Decision};
use crate::podspec::ContainerRef;
use nodelet_objects::restart::{self, RestartPolicy};

use super::state::ContainerSlot;

/// The pod's sandbox as the shim reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    Running,
    /// The pause (or the whole shim) is gone.
    Dead,
}

/// What a sync observed: the sandbox and every container slot (already updated from the
/// shim's list).
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub sandbox: Sandbox,
    pub init: &'a [ContainerSlot],
    pub containers: &'a [ContainerSlot],
}

/// One step of a sync, in the order the worker carries them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The sandbox died: kill what is left of the pod, mark its running containers ended and
    /// build a new sandbox on the next sync.
    KillPod,
    /// The container's ended instance will be replaced: its termination becomes lastState
    /// and the instance is deleted.
    Retire(ContainerRef),
    /// Start instance `restart_count` of the container. `after`: the finish time of the
    /// instance it replaces, whose back-off the worker commits when it starts.
    Start {
        which: ContainerRef,
        restart_count: i32,
        after: Option<Timestamp>,
    },
    /// CrashLoopBackOff: the container waits `delay` (until `until`). `first`: it was not
    /// waiting for a back-off before (the BackOff event is reported once).
    BackOff {
        which: ContainerRef,
        delay: Duration,
        until: Timestamp,
        first: bool,
    },
    /// A regular init container failed under the pod's restartPolicy `Never`: the pod fails
    /// (reason `InitContainerFailed`).
    FailPod {
        which: ContainerRef,
        message: String,
    },
}

/// The actions of one sync of `pod` (UID `uid`) at `now`, given what was observed and the
/// node's back-off book (read only: a restart is committed by the worker when it starts).
pub fn compute_pod_actions(
    pod: &Pod,
    uid: &str,
    observed: &Observed,
    backoff: &Backoff,
    now: Timestamp,
) -> Vec<Action> {
    if observed.sandbox == Sandbox::Dead {
        return vec![Action::KillPod];
    }
    let mut actions = vec![];
    let next = Next {
        pod,
        uid,
        backoff,
        now,
    };
    if !init_actions(&next, observed.init, &mut actions) {
        return actions;
    }
    for (i, slot) in observed.containers.iter().enumerate() {
        next.container(ContainerRef::App(i), slot, &mut actions);
    }
    actions
}

/// The init containers' actions; true when every one is done (completed, or a running
/// sidecar whose startup probe, if any, passed) so the app containers may run.
fn init_actions(next: &Next, init: &[ContainerSlot], actions: &mut Vec<Action>) -> bool {
    for (i, slot) in init.iter().enumerate() {
        let which = ContainerRef::Init(i);
        let policy = next.policy(which);
        if let Some(e) = &slot.ended
            && !policy.restarts(e.exit_code)
        {
            if e.exit_code == 0 {
                continue; // completed
            }
            actions.push(Action::FailPod {
                which,
                message: format!(
                    "init container {} failed with exit code {}",
                    slot.name, e.exit_code
                ),
            });
            return false;
        }
        if slot.ended.is_some() || slot.id.is_none() {
            next.container(which, slot, actions);
            return false;
        }
        let sidecar = policy == RestartPolicy::Always;
        if !(sidecar && slot.waiting.is_none()) {
            return false; // a regular init container still running
        }
        if slot.probe_started == Some(false) {
            return false; // a sidecar whose startup probe has not passed yet
        }
    }
    true
}

/// What the next instance of a container depends on.
struct Next<'a> {
    pod: &'a Pod,
    uid: &'a str,
    backoff: &'a Backoff,
    now: Timestamp,
}

impl Next<'_> {
    /// The restart policy of container `r` (`restart::effective`).
    fn policy(&self, r: ContainerRef) -> RestartPolicy {
        let policy = restart::pod_policy(self.pod);
        r.get(self.pod).map_or(policy, |c| {
            restart::effective(policy, c, matches!(r, ContainerRef::Init(_)))
        })
    }

    /// A container's actions: retire an ended instance its policy restarts, then start the
    /// next instance unless it is backing off; nothing for a running or finished one.
    fn container(&self, which: ContainerRef, slot: &ContainerSlot, actions: &mut Vec<Action>) {
        let last = match &slot.ended {
            Some(e) if self.policy(which).restarts(e.exit_code) => {
                actions.push(Action::Retire(which));
                Some(e)
            }
            Some(_) => return,                   // finished for good
            None if slot.id.is_some() => return, // running
            None => slot.last.as_ref(),
        };
        let Some(last) = last else {
            actions.push(Action::Start {
                which,
                restart_count: slot.restart_count,
                after: None,
            });
            return;
        };
        let key = backoff::key(self.uid, &slot.name);
        match self.backoff.peek(&key, last.finished_at, self.now) {
            Decision::Wait { until, delay } => actions.push(Action::BackOff {
                which,
                delay,
                until,
                // Retiring sets the slot waiting for its new instance, so a back-off right
                // after an exit is always a first.
                first: slot.ended.is_some()
                    || slot
                        .waiting
                        .as_ref()
                        .is_none_or(|(r, _)| r != "CrashLoopBackOff"),
            }),
            Decision::RestartNow => actions.push(Action::Start {
                which,
                restart_count: slot.restart_count + 1,
                after: Some(last.finished_at),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::state::Ended;
    use ContainerRef::{App, Init};
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    const UID: &str = "uid";

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn container(name: &str, restart_policy: Option<&str>) -> Container {
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            restart_policy: restart_policy.map(Into::into),
            ..Default::default()
        }
    }

    /// A pod with `policy`, init containers (name, sidecar) and app containers.
    fn pod(policy: &str, init: &[(&str, bool)], apps: &[&str]) -> Pod {
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                init_containers: Some(
                    init.iter()
                        .map(|(n, sidecar)| container(n, sidecar.then_some("Always")))
                        .collect(),
                ),
                containers: apps.iter().map(|n| container(n, None)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Never started (or its start failed and is retried).
    fn fresh(name: &str) -> ContainerSlot {
        ContainerSlot::new(name, "busybox")
    }

    fn running(name: &str) -> ContainerSlot {
        let mut s = fresh(name);
        s.id = Some(format!("{UID}-{name}-0"));
        s.started_at = Some(t(0));
        s.waiting = None;
        s
    }

    /// How an instance ended: exit 0, exit 1, the OOM killer, a liveness kill (SIGKILL after
    /// the failed probe; the shim reports 137 without an OOM kill).
    #[derive(Debug, Clone, Copy)]
    enum Exit {
        Zero,
        Error,
        Oom,
        Liveness,
    }
    const EXITS: [Exit; 4] = [Exit::Zero, Exit::Error, Exit::Oom, Exit::Liveness];

    fn ended(exit: Exit, finished: i64) -> Ended {
        let (code, signal, reason) = match exit {
            Exit::Zero => (0, None, "Completed"),
            Exit::Error => (1, None, "Error"),
            Exit::Oom => (137, Some(9), "OOMKilled"),
            Exit::Liveness => (137, Some(9), "Error"),
        };
        Ended {
            exit_code: code,
            signal,
            reason: reason.into(),
            message: None,
            started_at: Some(t(0)),
            finished_at: t(finished),
            container_id: None,
        }
    }

    fn exited(name: &str, exit: Exit, finished: i64) -> ContainerSlot {
        let mut s = running(name);
        s.ended = Some(ended(exit, finished));
        s
    }

    /// Retired earlier and still waiting for its next instance.
    fn retired(name: &str, waiting: &str, finished: i64) -> ContainerSlot {
        let mut s = fresh(name);
        s.restart_count = 1;
        s.last = Some(ended(Exit::Error, finished));
        s.waiting = Some((waiting.into(), None));
        s
    }

    /// The back-off book after the containers `crashed` (name, finish time), each restarted
    /// once its back-off was over.
    fn book(crashed: &[(&str, i64)]) -> Backoff {
        let mut b = Backoff::new(
            Duration::from_secs(10),
            Duration::from_secs(300),
            Duration::from_secs(600),
        );
        for (name, at) in crashed {
            let _ = b.decide(&backoff::key(UID, name), t(*at), t(*at + 1000));
        }
        b
    }

    fn plan(
        pod: &Pod,
        init: &[ContainerSlot],
        apps: &[ContainerSlot],
        b: &Backoff,
        now: i64,
    ) -> Vec<Action> {
        let observed = Observed {
            sandbox: Sandbox::Running,
            init,
            containers: apps,
        };
        compute_pod_actions(pod, UID, &observed, b, t(now))
    }

    fn start(which: ContainerRef) -> Action {
        Action::Start {
            which,
            restart_count: 0,
            after: None,
        }
    }

    fn restart(which: ContainerRef, finished: i64) -> Vec<Action> {
        vec![
            Action::Retire(which),
            Action::Start {
                which,
                restart_count: 1,
                after: Some(t(finished)),
            },
        ]
    }

    #[test]
    fn app_container_exits_by_restart_policy() {
        use Exit::*;
        // (pod policy, exit, restarted)
        let table = [
            ("Always", Zero, true),
            ("Always", Error, true),
            ("Always", Oom, true),
            ("Always", Liveness, true),
            ("OnFailure", Zero, false),
            ("OnFailure", Error, true),
            ("OnFailure", Oom, true),
            ("OnFailure", Liveness, true),
            ("Never", Zero, false),
            ("Never", Error, false),
            ("Never", Oom, false),
            ("Never", Liveness, false),
        ];
        assert_eq!(table.len(), 3 * EXITS.len());
        for (policy, exit, restarted) in table {
            let p = pod(policy, &[], &["app", "other"]);
            let got = plan(
                &p,
                &[],
                &[exited("app", exit, 5), running("other")],
                &book(&[]),
                6,
            );
            let want = if restarted {
                restart(App(0), 5)
            } else {
                vec![]
            };
            assert_eq!(got, want, "{policy} {exit:?}");
        }
    }

    #[test]
    fn regular_init_container_exits_by_restart_policy() {
        use Exit::*;
        // (pod policy, exit, expected): a regular init container is restarted on failure
        // unless the pod's policy is Never, which fails the pod; once it completed, the next
        // one starts.
        let fail = |code: i32| {
            vec![Action::FailPod {
                which: Init(0),
                message: format!("init container init failed with exit code {code}"),
            }]
        };
        let table = [
            ("Always", Zero, vec![start(Init(1))]),
            ("Always", Error, restart(Init(0), 5)),
            ("Always", Oom, restart(Init(0), 5)),
            ("Always", Liveness, restart(Init(0), 5)),
            ("OnFailure", Zero, vec![start(Init(1))]),
            ("OnFailure", Error, restart(Init(0), 5)),
            ("OnFailure", Oom, restart(Init(0), 5)),
            ("OnFailure", Liveness, restart(Init(0), 5)),
            ("Never", Zero, vec![start(Init(1))]),
            ("Never", Error, fail(1)),
            ("Never", Oom, fail(137)),
            ("Never", Liveness, fail(137)),
        ];
        for (policy, exit, want) in table {
            let p = pod(policy, &[("init", false), ("init2", false)], &["app"]);
            let init = [exited("init", exit, 5), fresh("init2")];
            let got = plan(&p, &init, &[fresh("app")], &book(&[]), 6);
            assert_eq!(got, want, "{policy} {exit:?}");
        }
    }

    #[test]
    fn sidecar_is_restarted_whatever_the_pod_policy_and_exit() {
        for policy in ["Always", "OnFailure", "Never"] {
            for exit in EXITS {
                let p = pod(policy, &[("proxy", true)], &["app"]);
                let got = plan(
                    &p,
                    &[exited("proxy", exit, 5)],
                    &[running("app")],
                    &book(&[]),
                    6,
                );
                assert_eq!(got, restart(Init(0), 5), "{policy} {exit:?}");
            }
        }
    }

    #[test]
    fn init_containers_in_order_and_sidecars_do_not_block() {
        let done = |n: &str| exited(n, Exit::Zero, 1);
        let p = pod(
            "Always",
            &[("proxy", true), ("init", false), ("init2", false)],
            &["app", "web"],
        );
        let apps = || [fresh("app"), fresh("web")];
        #[rustfmt::skip]
        let table: Vec<(&str, [ContainerSlot; 3], Vec<Action>)> = vec![
            ("a new pod starts its first init container only",
                [fresh("proxy"), fresh("init"), fresh("init2")], vec![start(Init(0))]),
            ("a running sidecar lets the next init container start",
                [running("proxy"), fresh("init"), fresh("init2")], vec![start(Init(1))]),
            ("a sidecar whose start failed is retried before anything else",
                [{ let mut s = fresh("proxy"); s.waiting = Some(("ErrImagePull".into(), None)); s },
                 fresh("init"), fresh("init2")], vec![start(Init(0))]),
            ("a running sidecar whose startup probe has not passed blocks the next",
                [{ let mut s = running("proxy"); s.probe_started = Some(false); s },
                 fresh("init"), fresh("init2")], vec![]),
            ("a running regular init container blocks the next",
                [running("proxy"), running("init"), fresh("init2")], vec![]),
            ("a completed one lets the next start",
                [running("proxy"), done("init"), fresh("init2")], vec![start(Init(2))]),
            ("every init container done: all app containers start",
                [running("proxy"), done("init"), done("init2")], vec![start(App(0)), start(App(1))]),
        ];
        for (case, init, want) in table {
            assert_eq!(plan(&p, &init, &apps(), &book(&[]), 2), want, "{case}");
        }
    }

    #[test]
    fn a_sidecar_restart_comes_before_the_app_containers() {
        // As today's worker: the sync that restarts a sidecar handles no app container; the
        // next one does.
        let p = pod("Always", &[("proxy", true)], &["app"]);
        let got = plan(
            &p,
            &[exited("proxy", Exit::Error, 5)],
            &[exited("app", Exit::Error, 5)],
            &book(&[]),
            6,
        );
        assert_eq!(got, restart(Init(0), 5));
    }

    #[test]
    fn crash_loop_back_off() {
        let p = pod("Always", &[("init", false)], &["app"]);
        let init_done = [exited("init", Exit::Zero, 0)];
        let back_off = |which, finished: i64, delay: u64, first| Action::BackOff {
            which,
            delay: Duration::from_secs(delay),
            until: t(finished) + Duration::from_secs(delay),
            first,
        };
        /// (case, crashed before (name, finish time), the app's slot, now, expected)
        type Case = (
            &'static str,
            &'static [(&'static str, i64)],
            ContainerSlot,
            i64,
            Vec<Action>,
        );
        #[rustfmt::skip]
        let table: Vec<Case> = vec![
            ("the first crash restarts at once",
                &[], exited("app", Exit::Error, 5), 6, restart(App(0), 5)),
            ("the second waits 10s from its finish; the event is reported",
                &[("app", 1)], exited("app", Exit::Error, 5), 6,
                vec![Action::Retire(App(0)), back_off(App(0), 5, 10, true)]),
            ("still backing off: no new event",
                &[("app", 1)], retired("app", "CrashLoopBackOff", 5), 9,
                vec![back_off(App(0), 5, 10, false)]),
            ("a start that failed after a crash backs off again, reported anew",
                &[("app", 1)], retired("app", "CreateContainerError", 5), 9,
                vec![back_off(App(0), 5, 10, true)]),
            ("back-off over: the next instance starts",
                &[("app", 1)], retired("app", "CrashLoopBackOff", 5), 15,
                vec![Action::Start { which: App(0), restart_count: 2, after: Some(t(5)) }]),
            ("the delay doubles",
                &[("app", 1), ("app", 2)], exited("app", Exit::Oom, 5), 6,
                vec![Action::Retire(App(0)), back_off(App(0), 5, 20, true)]),
            ("ten minutes of clean running reset it",
                &[("app", 1), ("app", 2)], exited("app", Exit::Error, 700), 701,
                restart(App(0), 700)),
        ];
        for (case, crashed, app, now, want) in table {
            let got = plan(
                &p,
                &init_done,
                std::slice::from_ref(&app),
                &book(crashed),
                now,
            );
            assert_eq!(got, want, "{case}");
        }
        // Init containers back off too, and hold the app containers back meanwhile.
        let got = plan(
            &p,
            &[exited("init", Exit::Error, 5)],
            &[fresh("app")],
            &book(&[("init", 1)]),
            6,
        );
        assert_eq!(
            got,
            vec![Action::Retire(Init(0)), back_off(Init(0), 5, 10, true)]
        );
    }

    #[test]
    fn a_dead_sandbox_kills_the_pod_first() {
        let p = pod("Always", &[("init", false)], &["app"]);
        let observed = Observed {
            sandbox: Sandbox::Dead,
            init: &[exited("init", Exit::Zero, 0)],
            containers: &[exited("app", Exit::Error, 5)],
        };
        let got = compute_pod_actions(&p, UID, &observed, &book(&[]), t(6));
        assert_eq!(got, vec![Action::KillPod]);
    }

    #[test]
    fn finished_containers_are_left_alone_and_others_still_start() {
        // restartPolicy Never: a finished app container stays; one whose start failed is
        // retried; a running one is untouched.
        let p = pod("Never", &[], &["done", "retry", "up"]);
        let mut retry = fresh("retry");
        retry.waiting = Some(("ErrImagePull".into(), Some("no such image".into())));
        let apps = [exited("done", Exit::Error, 5), retry, running("up")];
        assert_eq!(plan(&p, &[], &apps, &book(&[]), 6), vec![start(App(1))]);
    }
}
