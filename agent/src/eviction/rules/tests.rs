use super::*;
use serde_json::json;

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn settings(hard: Option<&str>, soft: &str, grace: &str, min: &str) -> Settings {
    Settings {
        hard: hard.map(str::to_string),
        soft: soft.into(),
        soft_grace: grace.into(),
        min_reclaim: min.into(),
    }
}

#[test]
fn thresholds_parse_like_the_kubelet() {
    let d = parse_thresholds(&Settings::default()).unwrap();
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "memory.available<100Mi",
            "nodefs.available<10%",
            "nodefs.inodesFree<5%",
            "imagefs.available<15%",
            "imagefs.inodesFree<5%"
        ]
    );
    assert!(d.iter().all(Threshold::is_hard));
    // A given evictionHard replaces the defaults; the file's `k=v` form works too.
    let t = parse_thresholds(&settings(
        Some("allocatableMemory.available=1Gi, pid.available<10%"),
        "memory.available<500Mi",
        "memory.available=1m30s",
        "memory.available=100Mi",
    ))
    .unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].signal, Signal::AllocatableMemoryAvailable);
    assert_eq!(t[0].value, Value::Quantity(1 << 30));
    assert_eq!(t[1].value, Value::Percentage(0.1));
    assert_eq!(t[2].grace, Duration::from_secs(90));
    assert_eq!(t[2].min_reclaim, Some(Value::Quantity(100 << 20)));
    // Zero disables a signal.
    assert!(
        parse_thresholds(&settings(Some("nodefs.available<0%"), "", "", ""))
            .unwrap()
            .is_empty()
    );
    for (s, want) in [
        (
            settings(Some("memory.free<1Gi"), "", "", ""),
            "unsupported eviction signal memory.free",
        ),
        (
            settings(Some("memory.available>1Gi"), "", "", ""),
            "must be signal<value",
        ),
        (
            settings(Some("nodefs.available<120%"), "", "", ""),
            "between 0% and 100%",
        ),
        (
            settings(Some("memory.available<-1"), "", "", ""),
            "cannot be negative",
        ),
        (
            settings(Some("memory.available<1,memory.available<2"), "", "", ""),
            "duplicate eviction threshold",
        ),
        (
            settings(None, "memory.available<1Gi", "", ""),
            "no grace period specified for soft eviction threshold memory.available",
        ),
        (
            settings(None, "", "memory.available=1m", ""),
            "no soft eviction threshold",
        ),
    ] {
        let e = parse_thresholds(&s).unwrap_err();
        assert!(e.contains(want), "{e} lacks {want}");
    }
}

fn obs(pairs: &[(Signal, i64, i64)]) -> Observations {
    pairs
        .iter()
        .map(|&(s, available, capacity)| {
            (
                s,
                Observation {
                    available,
                    capacity,
                },
            )
        })
        .collect()
}

#[test]
fn thresholds_met_and_min_reclaim() {
    let t = parse_thresholds(&settings(
        Some("memory.available<100Mi,nodefs.available<10%"),
        "",
        "",
        "memory.available=50Mi",
    ))
    .unwrap();
    let cases: &[(&str, Observations, bool, &[Signal])] = &[
        (
            "nothing low",
            obs(&[(Signal::MemoryAvailable, 200 << 20, 1 << 30)]),
            false,
            &[],
        ),
        (
            "memory low",
            obs(&[(Signal::MemoryAvailable, 99 << 20, 1 << 30)]),
            false,
            &[Signal::MemoryAvailable],
        ),
        (
            "exactly at threshold is not met",
            obs(&[(Signal::MemoryAvailable, 100 << 20, 1 << 30)]),
            false,
            &[],
        ),
        (
            "min reclaim keeps it met",
            obs(&[(Signal::MemoryAvailable, 120 << 20, 1 << 30)]),
            true,
            &[Signal::MemoryAvailable],
        ),
        (
            "percentage of capacity",
            obs(&[(Signal::NodeFsAvailable, 9, 100)]),
            false,
            &[Signal::NodeFsAvailable],
        ),
        ("no observation, not met", obs(&[]), false, &[]),
    ];
    for (name, o, enforce, want) in cases {
        let got: Vec<Signal> = thresholds_met(&t, o, *enforce)
            .iter()
            .map(|t| t.signal)
            .collect();
        assert_eq!(&got, want, "{name}");
    }
}

#[test]
fn conditions_follow_the_transition_period_and_soft_thresholds_their_grace() {
    let t = parse_thresholds(&settings(
        Some("memory.available<100Mi"),
        "nodefs.available<50%",
        "nodefs.available=30s",
        "",
    ))
    .unwrap();
    let mut st = State::default();
    let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
    let low = obs(&[
        (Signal::MemoryAvailable, 50 << 20, 1 << 30),
        (Signal::NodeFsAvailable, 40, 100),
    ]);
    let fine = obs(&[
        (Signal::MemoryAvailable, 500 << 20, 1 << 30),
        (Signal::NodeFsAvailable, 90, 100),
    ]);
    let period = Duration::from_secs(300);
    // Both met: memory is reclaimed first; the soft disk threshold is not due yet, but its
    // condition shows at once.
    let r = st.synchronize(&t, &low, period, at(0));
    assert_eq!(r.reclaim.unwrap().signal, Signal::MemoryAvailable);
    assert_eq!(
        st.conditions,
        [Condition::MemoryPressure, Condition::DiskPressure]
    );
    assert_eq!(st.thresholds_met.len(), 1);
    // 30 s later the soft one is due too.
    st.synchronize(&t, &low, period, at(30));
    assert_eq!(st.thresholds_met.len(), 2);
    // Resolved: nothing to reclaim, but the conditions stay for the transition period.
    let r = st.synchronize(&t, &fine, period, at(40));
    assert_eq!(r.reclaim, None);
    assert!(st.has(Condition::MemoryPressure));
    // Last met at 30 s.
    st.synchronize(&t, &fine, period, at(30 + 299));
    assert!(st.has(Condition::DiskPressure));
    st.synchronize(&t, &fine, period, at(30 + 300));
    assert!(st.conditions.is_empty());
    // A soft threshold met again starts its grace anew.
    let r = st.synchronize(
        &t,
        &obs(&[(Signal::NodeFsAvailable, 40, 100)]),
        period,
        at(400),
    );
    assert_eq!(r.reclaim, None);
}

fn sized(name: &str, priority: Option<i32>, req: Option<&str>, source: &str) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "annotations": {"kubernetes.io/config.source": source}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}
    });
    if let Some(r) = req {
        p["spec"]["containers"][0]["resources"] =
            json!({"requests": {"memory": r}, "limits": {"memory": r, "cpu": "100m"}});
    }
    if let Some(pr) = priority {
        p["spec"]["priority"] = json!(pr);
    }
    pod(p)
}

#[test]
fn ranking_is_exceeds_requests_then_priority_then_usage_over_requests() {
    let pods = [
        sized("guaranteed-within", None, Some("100Mi"), "api"),
        sized("besteffort-small", None, None, "api"),
        sized("besteffort-big", None, None, "api"),
        sized("besteffort-high-priority", Some(1000), None, "api"),
        sized("guaranteed-over", None, Some("10Mi"), "api"),
    ];
    let usage = [50 << 20, 5 << 20, 80 << 20, 500 << 20, 20 << 20];
    let cands: Vec<Candidate> = pods
        .iter()
        .zip(usage)
        .map(|(pod, m)| Candidate {
            pod,
            usage: PodUsage {
                memory: Some(m),
                ..Default::default()
            },
        })
        .collect();
    let order: Vec<&str> = rank(Resource::Memory, &cands)
        .into_iter()
        .map(|i| pods[i].metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "besteffort-big",
            "guaranteed-over",
            "besteffort-small",
            "besteffort-high-priority",
            "guaranteed-within"
        ]
    );
    // Pids: priority, then most pids.
    let cands: Vec<Candidate> = pods
        .iter()
        .zip([10, 3, 1, 99, 7])
        .map(|(pod, n)| Candidate {
            pod,
            usage: PodUsage {
                pids: Some(n),
                ..Default::default()
            },
        })
        .collect();
    let order: Vec<usize> = rank(Resource::Pids, &cands);
    assert_eq!(order, [0, 4, 1, 2, 3]);
}

#[test]
fn critical_pods() {
    assert!(is_critical(&sized("static", None, None, "file")));
    assert!(!is_critical(&sized("api", None, None, "api")));
    assert!(is_critical(&sized(
        "system",
        Some(SYSTEM_CRITICAL_PRIORITY),
        None,
        "api"
    )));
    assert!(!is_critical(&sized(
        "high",
        Some(SYSTEM_CRITICAL_PRIORITY - 1),
        None,
        "api"
    )));
}

#[test]
fn admission_under_pressure() {
    let be = sized("be", None, None, "api");
    let g = sized("g", None, Some("1Mi"), "api");
    let st = sized("st", None, None, "file");
    let mp = [Condition::MemoryPressure];
    assert_eq!(admit(&be, QosClass::BestEffort, &[]), Ok(()));
    assert_eq!(
        admit(&be, QosClass::BestEffort, &mp).unwrap_err(),
        "The node had condition: [MemoryPressure]. "
    );
    assert_eq!(admit(&g, QosClass::Guaranteed, &mp), Ok(()));
    assert_eq!(admit(&st, QosClass::BestEffort, &mp), Ok(()));
    let both = [Condition::MemoryPressure, Condition::DiskPressure];
    assert_eq!(
        admit(&g, QosClass::Guaranteed, &both).unwrap_err(),
        "The node had condition: [MemoryPressure DiskPressure]. "
    );
    let mut tol = be.clone();
    tol.spec.as_mut().unwrap().tolerations = Some(vec![serde_json::from_value(json!({
        "key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"
    }))
    .unwrap()]);
    assert_eq!(admit(&tol, QosClass::BestEffort, &mp), Ok(()));
}

#[test]
fn local_storage_limits_in_the_kubelets_order_and_words() {
    let p = pod(json!({
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "resources": {"limits": {"ephemeral-storage": "1Mi"}}},
                {"name": "b", "image": "x", "resources": {"limits": {"ephemeral-storage": "2Mi"}}},
            ],
            "volumes": [
                {"name": "cache", "emptyDir": {"sizeLimit": "5Mi"}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            ]
        }
    }));
    let u = |vols: &[(&str, i64)], cs: &[(&str, i64)]| StorageUsage {
        volumes: vols.iter().map(|(n, b)| (n.to_string(), *b)).collect(),
        containers: cs.iter().map(|(n, b)| (n.to_string(), *b)).collect(),
    };
    let mib = 1 << 20;
    let cases: &[(&str, StorageUsage, Option<&str>)] = &[
        (
            "within",
            u(&[("cache", mib)], &[("a", 1000), ("b", 1000)]),
            None,
        ),
        (
            "emptyDir over its sizeLimit",
            u(&[("cache", 20 * mib)], &[]),
            Some("Usage of EmptyDir volume \"cache\" exceeds the limit \"5Mi\". "),
        ),
        (
            "pod over the containers' total (volumes count)",
            u(&[("cache", 3 * mib + 1)], &[]),
            Some("Pod ephemeral local storage usage exceeds the total limit of containers 3Mi. "),
        ),
        (
            "memory emptyDirs do not count on disk",
            u(&[("mem", 3 * mib)], &[]),
            Some("Usage of EmptyDir volume \"mem\" exceeds the limit \"1Mi\". "),
        ),
        (
            "a container over its own limit",
            u(&[], &[("a", mib + 1)]),
            Some("Container a exceeded its local ephemeral storage limit \"1Mi\". "),
        ),
    ];
    for (name, usage, want) in cases {
        assert_eq!(storage_violation(&p, usage).as_deref(), *want, "{name}");
    }
    // The memory emptyDir of the 4th case is over its own limit only; without that limit
    // the pod is within.
    let mut q = p.clone();
    q.spec.as_mut().unwrap().volumes.as_mut().unwrap()[1]
        .empty_dir
        .as_mut()
        .unwrap()
        .size_limit = None;
    assert_eq!(storage_violation(&q, &u(&[("mem", 3 * mib)], &[])), None);
}

#[test]
fn messages_and_quantities() {
    assert_eq!(binary_si(100 << 20), "100Mi");
    assert_eq!(binary_si(1536 << 10), "1536Ki");
    assert_eq!(binary_si(1000), "1000");
    assert_eq!(binary_si(0), "0");
    let t = &parse_thresholds(&settings(
        Some("allocatableMemory.available<1Gi"),
        "",
        "",
        "",
    ))
    .unwrap()[0];
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "hog", "image": "x"},
        {"name": "small", "image": "x", "resources": {"requests": {"memory": "10Mi"}}}
    ]}}));
    let o = obs(&[(Signal::AllocatableMemoryAvailable, 512 << 20, 2 << 30)]);
    assert_eq!(
        eviction_message(
            t,
            &o,
            &p,
            &[("hog".into(), 300 << 20), ("small".into(), 5 << 20)]
        ),
        "The node was low on resource: memory. Threshold quantity: 1Gi, available: 512Mi. \
         Container hog was using 300Mi, request is 0, has larger consumption of memory. "
    );
}

#[test]
fn node_status_events_on_first_sight_and_on_changes() {
    use NodeEventReason as R;
    let cond = |c: Condition, on: bool| k8s_openapi::api::core::v1::NodeCondition {
        type_: c.as_str().into(),
        status: if on { "True" } else { "False" }.into(),
        ..Default::default()
    };
    let all = |m: bool, d: bool, p: bool| {
        vec![
            (Condition::MemoryPressure, m),
            (Condition::DiskPressure, d),
            (Condition::PidPressure, p),
        ]
    };
    type Case = (
        &'static str,
        Vec<k8s_openapi::api::core::v1::NodeCondition>,
        Vec<(Condition, bool)>,
        Vec<R>,
    );
    let cases: Vec<Case> = vec![
        (
            "the first conditions: each one's state, then NodeReady (the kubelet's start)",
            vec![],
            all(false, true, false),
            vec![
                R::NodeHasSufficientMemory,
                R::NodeHasDiskPressure,
                R::NodeHasSufficientPid,
                R::NodeReady,
            ],
        ),
        (
            "nothing changed: no event",
            vec![
                cond(Condition::MemoryPressure, false),
                cond(Condition::DiskPressure, false),
                cond(Condition::PidPressure, false),
            ],
            all(false, false, false),
            vec![],
        ),
        (
            "memory pressure comes, disk pressure goes",
            vec![
                cond(Condition::MemoryPressure, false),
                cond(Condition::DiskPressure, true),
                cond(Condition::PidPressure, false),
            ],
            all(true, false, false),
            vec![R::NodeHasInsufficientMemory, R::NodeHasNoDiskPressure],
        ),
    ];
    for (what, before, on, want) in cases {
        assert_eq!(node_status_events(&before, &on), want, "{what}");
    }
}
