use std::time::Duration;

use super::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn pod(key: &str, priority: i32, grace: Option<i64>) -> PodRef {
    PodRef {
        key: key.into(),
        priority,
        grace_seconds: grace,
    }
}

#[test]
fn groups_from_the_two_durations_as_the_kubelet_migrates_them() {
    let g = |p, s| Group {
        priority: p,
        grace: S(s),
    };
    let cases: Vec<(u64, u64, Result<Vec<Group>, ConfigError>)> = vec![
        (0, 0, Ok(vec![])),
        (30, 10, Ok(vec![g(0, 20), g(2_000_000_000, 10)])),
        (30, 0, Ok(vec![g(0, 30), g(2_000_000_000, 0)])),
        (30, 30, Ok(vec![g(0, 0), g(2_000_000_000, 30)])),
        (
            10,
            20,
            Err(ConfigError::CriticalExceedsTotal {
                total: S(10),
                critical: S(20),
            }),
        ),
    ];
    for (total, critical, want) in cases {
        assert_eq!(
            groups(S(total), S(critical), &[]),
            want,
            "{total}s/{critical}s"
        );
    }
    assert_eq!(
        groups(Duration::from_millis(1500), S(0), &[]),
        Err(ConfigError::NotWholeSeconds {
            key: "shutdownGracePeriod",
            value: Duration::from_millis(1500)
        })
    );
    assert_eq!(
        ConfigError::CriticalExceedsTotal {
            total: S(10),
            critical: S(20)
        }
        .to_string(),
        "shutdownGracePeriodCriticalPods 20s must be <= shutdownGracePeriod 10s"
    );
}

#[test]
fn an_explicit_priority_list_is_sorted_and_checked() {
    let g = |p, s| Group {
        priority: p,
        grace: S(s),
    };
    assert_eq!(
        groups(S(0), S(0), &[g(100000, 20), g(0, 10), g(2_000_000_000, 5)]),
        Ok(vec![g(0, 10), g(100000, 20), g(2_000_000_000, 5)])
    );
    assert_eq!(groups(S(30), S(0), &[g(0, 10)]), Err(ConfigError::Both));
    assert_eq!(
        groups(S(0), S(0), &[g(5, 10), g(5, 20)]),
        Err(ConfigError::DuplicatePriority(5))
    );
}

#[test]
fn pods_go_to_their_group_with_the_shorter_grace_period() {
    let groups = groups(S(30), S(10), &[]).expect("valid");
    // (pod, expected step index among non-empty steps, expected grace)
    let pods = vec![
        pod("plain", 0, Some(30)),                     // regular group: 20 s < 30 s
        pod("quick", 0, Some(2)),                      // its own 2 s
        pod("no-grace", 0, None),                      // the group's
        pod("negative", -5, Some(-1)),                 // below the lowest group: the lowest; 0 s
        pod("high", 1_000_000, Some(60)),              // between the groups: the lower one
        pod("node-critical", 2_000_001_000, Some(30)), // above the highest: the highest, 10 s
        pod("cluster-critical", 2_000_000_000, Some(5)),
    ];
    let steps = plan(&groups, &pods);
    assert_eq!(
        steps,
        vec![
            Step {
                priority: 0,
                wait: S(20),
                pods: vec![
                    ("plain".into(), S(20)),
                    ("quick".into(), S(2)),
                    ("no-grace".into(), S(20)),
                    ("negative".into(), S(0)),
                    ("high".into(), S(20)),
                ],
            },
            Step {
                priority: 2_000_000_000,
                wait: S(10),
                pods: vec![
                    ("node-critical".into(), S(10)),
                    ("cluster-critical".into(), S(5)),
                ],
            },
        ]
    );
}

#[test]
fn empty_groups_cost_no_wait_and_no_groups_no_plan() {
    let groups = groups(S(30), S(10), &[]).expect("valid");
    let steps = plan(&groups, &[pod("crit", 2_000_000_000, Some(30))]);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].wait, S(10));
    assert!(plan(&[], &[pod("a", 0, None)]).is_empty());
}

#[test]
fn pod_ref_reads_priority_and_grace_from_the_spec() {
    let p: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "a"},
        "spec": {"priority": 7, "terminationGracePeriodSeconds": 3, "containers": []}
    }))
    .expect("pod");
    assert_eq!(PodRef::of("u", &p), pod("u", 7, Some(3)));
    let bare: Pod =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "b"}})).expect("pod");
    assert_eq!(PodRef::of("v", &bare), pod("v", 0, None));
}

#[test]
fn logind_delay_raised_only_when_short() {
    assert_eq!(inhibit_delay(S(30), S(30)), InhibitDelay::Enough);
    assert_eq!(inhibit_delay(S(60), S(30)), InhibitDelay::Enough);
    assert_eq!(
        inhibit_delay(S(5), S(30)),
        InhibitDelay::Raise(
            "# nodelet's logind override: the node's shutdownGracePeriod\n[Login]\nInhibitDelayMaxSec=30\n"
                .into()
        )
    );
    assert_eq!(inhibit_delay_error(S(30), S(30)), None);
    assert_eq!(
        inhibit_delay_error(S(5), S(30)).as_deref(),
        Some(
            "node shutdown manager was unable to update logind InhibitDelayMaxSec to 30s (ShutdownGracePeriod), current value of InhibitDelayMaxSec (5s) is less than requested ShutdownGracePeriod"
        )
    );
}

fn with_phase(phase: Option<&str>, priority: i32) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"priority": priority, "containers": []},
        "status": {"phase": phase},
    }))
    .expect("pod")
}

#[test]
fn a_shutdown_stops_the_pods_not_finished_and_waits_for_each_step() {
    let pods = vec![
        ("run".to_string(), with_phase(Some("Running"), 0)),
        ("pending".to_string(), with_phase(Some("Pending"), 0)),
        ("done".to_string(), with_phase(Some("Succeeded"), 0)),
        ("failed".to_string(), with_phase(Some("Failed"), 0)),
        (
            "crit".to_string(),
            with_phase(Some("Running"), 2_000_001_000),
        ),
    ];
    let refs = active(&pods);
    let keys: Vec<&str> = refs.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["run", "pending", "crit"]);
    let steps = plan(&groups(S(20), S(10), &[]).expect("valid"), &refs);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].pods.len(), 2);
    // A step is done once each of its pods finished or went away.
    let phases = |run: &'static str, pending: Option<&'static str>| {
        move |uid: &str| match uid {
            "run" => Some(with_phase(Some(run), 0)),
            "pending" => pending.map(|p| with_phase(Some(p), 0)),
            _ => None,
        }
    };
    assert!(!step_done(&steps[0], phases("Running", Some("Failed"))));
    assert!(!step_done(&steps[0], phases("Failed", Some("Pending"))));
    assert!(step_done(&steps[0], phases("Failed", Some("Failed"))));
    assert!(step_done(&steps[0], phases("Succeeded", None)));
}

#[test]
fn by_priority_flag_form_and_the_period_logind_must_hold() {
    let g = |p, s| Group {
        priority: p,
        grace: S(s),
    };
    assert_eq!(
        parse_by_priority("0=10, 100000=20,"),
        Ok(vec![g(0, 10), g(100000, 20)])
    );
    assert_eq!(parse_by_priority(""), Ok(vec![]));
    assert_eq!(
        parse_by_priority("0:10"),
        Err("\"0:10\": expected PRIORITY=SECONDS".into())
    );
    assert_eq!(
        parse_by_priority("0=-1"),
        Err("\"0=-1\": shutdownGracePeriodSeconds must be >= 0".into())
    );
    assert_eq!(
        period_requested(&groups(S(30), S(10), &[]).expect("valid")),
        S(30)
    );
    assert_eq!(period_requested(&[g(0, 10), g(5, 20), g(9, 5)]), S(35));
    assert_eq!(
        ConfigError::CriticalExceedsTotal {
            total: S(1),
            critical: S(2)
        }
        .key(),
        "shutdownGracePeriodCriticalPods"
    );
    assert_eq!(ConfigError::Both.key(), "shutdownGracePeriodByPodPriority");
}

#[test]
fn the_flag_makes_ready_false_while_shutting_down() {
    let f = NodeShutdown::default();
    let now = jiff::Timestamp::UNIX_EPOCH;
    assert_eq!(f.ready_condition(now), None);
    f.clone().set(true);
    let c = f.ready_condition(now).expect("condition");
    assert_eq!(
        (
            c.type_.as_str(),
            c.status.as_str(),
            c.reason.as_deref(),
            c.message.as_deref()
        ),
        (
            "Ready",
            "False",
            Some("KubeletNotReady"),
            Some("node is shutting down")
        )
    );
    f.set(false);
    assert!(!f.is_shutting_down());
}
