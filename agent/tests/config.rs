//! Configuration file + flags: defaults, overrides, and errors naming file, key and reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use nodelet::config::{Config, ConfigError, ConfigFlags};

fn host() -> Result<String, String> {
    Ok("My-Host".to_string())
}

fn from(text: &str, flags: &ConfigFlags) -> Result<Config, ConfigError> {
    Config::from_parts(
        Some((Path::new("/etc/nodelet/config.yaml"), text)),
        flags,
        &host,
    )
}

fn err(text: &str) -> String {
    from(text, &ConfigFlags::default()).unwrap_err().to_string()
}

const HEAD: &str = "apiVersion: nodelet.io/v1alpha1\nkind: NodeletConfiguration\n";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    cfg: ConfigFlags,
}

#[test]
fn defaults_without_file() {
    let c = Config::from_parts(None, &ConfigFlags::default(), &host).unwrap();
    assert_eq!(
        c.static_pod_path,
        PathBuf::from("/etc/kubernetes/manifests")
    );
    assert_eq!(c.node_name, "my-host");
    assert_eq!(c.root_dir, PathBuf::from("/var/lib/nodelet"));
    assert_eq!(c.pod_logs_dir, PathBuf::from("/var/log/pods"));
    assert_eq!(c.run_dir, PathBuf::from("/run/nodelet"));
    assert_eq!(c.api_socket, PathBuf::from("/run/nodelet/nodelet.sock"));
    assert_eq!(c.cgroup_root, None);
    assert_eq!(c.max_pods, 110);
    assert_eq!(c.container_log_max_size, 10 << 20);
    assert_eq!(c.container_log_max_files, 5);
    assert_eq!(c.container_log_max_instances, 5);
    assert_eq!(c.api_tcp_address, None);
    assert_eq!(c.cni_conf_dir, PathBuf::from("/etc/cni/net.d"));
    assert_eq!(c.cni_bin_dir, PathBuf::from("/opt/cni/bin"));
    assert_eq!(c.crash_loop_back_off.initial, Duration::from_secs(10));
    assert_eq!(c.crash_loop_back_off.max, Duration::from_secs(300));
    assert_eq!(c.crash_loop_back_off.reset, Duration::from_secs(600));
    assert_eq!(c.file_check_frequency, Duration::from_secs(20));
    assert_eq!(c.config_file, None);
}

#[test]
fn file_values_and_flag_overrides() {
    let text = format!(
        "{HEAD}staticPodPath: /srv/manifests\nnodeName: node-a\nrootDir: /tmp/r\npodLogsDir: /tmp/l\n\
         runDir: /tmp/run\napiSocket: /tmp/run/s.sock\ncgroupRoot: /nodelet\nmaxPods: 20\n\
         containerLogMaxSize: 1Mi\ncontainerLogMaxFiles: 3\ncontainerLogMaxInstances: 2\napiTcpAddress: 127.0.0.1:10255\ncniConfDir: /tmp/cni\ncniBinDir: /tmp/bin\n\
         crashLoopBackOff:\n  initial: 1s\n  max: 5m\n  reset: 15m\nfileCheckFrequency: 500ms\n"
    );
    let c = from(&text, &ConfigFlags::default()).unwrap();
    assert_eq!(c.static_pod_path, PathBuf::from("/srv/manifests"));
    assert_eq!(c.node_name, "node-a");
    assert_eq!(c.cgroup_root, Some(PathBuf::from("/nodelet")));
    assert_eq!(c.max_pods, 20);
    assert_eq!(c.container_log_max_size, 1 << 20);
    assert_eq!(c.container_log_max_files, 3);
    assert_eq!(c.container_log_max_instances, 2);
    assert_eq!(c.api_tcp_address, Some("127.0.0.1:10255".parse().unwrap()));
    assert_eq!(c.crash_loop_back_off.initial, Duration::from_secs(1));
    assert_eq!(c.crash_loop_back_off.max, Duration::from_secs(300));
    assert_eq!(c.crash_loop_back_off.reset, Duration::from_secs(900));
    assert_eq!(c.file_check_frequency, Duration::from_millis(500));
    assert_eq!(c.api_socket, PathBuf::from("/tmp/run/s.sock"));

    let cli = Cli::try_parse_from([
        "nodelet",
        "--static-pod-path=/x/m",
        "--node-name=node-b",
        "--max-pods=7",
        "--root-dir=/x/root",
        "--pod-logs-dir=/x/logs",
        "--run-dir=/x/run",
        "--api-socket=/x/run/n.sock",
        "--cgroup-root=/n2",
        "--cni-conf-dir=/x/cni",
        "--cni-bin-dir=/x/bin",
        "--container-log-max-size=2Mi",
        "--container-log-max-files=2",
        "--crash-loop-back-off-initial=2s",
        "--crash-loop-back-off-max=4s",
        "--crash-loop-back-off-reset=1m",
        "--file-check-frequency=1m",
    ])
    .unwrap();
    let c = from(&text, &cli.cfg).unwrap();
    assert_eq!(c.static_pod_path, PathBuf::from("/x/m"));
    assert_eq!(c.node_name, "node-b");
    assert_eq!(c.max_pods, 7);
    assert_eq!(c.root_dir, PathBuf::from("/x/root"));
    assert_eq!(c.pod_logs_dir, PathBuf::from("/x/logs"));
    assert_eq!(c.run_dir, PathBuf::from("/x/run"));
    assert_eq!(c.api_socket, PathBuf::from("/x/run/n.sock"));
    assert_eq!(c.cgroup_root, Some(PathBuf::from("/n2")));
    assert_eq!(c.cni_conf_dir, PathBuf::from("/x/cni"));
    assert_eq!(c.cni_bin_dir, PathBuf::from("/x/bin"));
    assert_eq!(c.container_log_max_size, 2 << 20);
    assert_eq!(c.container_log_max_files, 2);
    assert_eq!(c.crash_loop_back_off.initial, Duration::from_secs(2));
    assert_eq!(c.crash_loop_back_off.max, Duration::from_secs(4));
    assert_eq!(c.crash_loop_back_off.reset, Duration::from_secs(60));
    assert_eq!(c.file_check_frequency, Duration::from_secs(60));
}

#[test]
fn bad_files_name_file_key_and_reason() {
    let e = err(&format!("{HEAD}staticPodPth: /x\n"));
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: staticPodPth: unknown field `staticPodPth`"),
        "{e}"
    );
    let e = err(&format!(
        "{HEAD}crashLoopBackOff:\n  initial: 1s\n  maximum: 5s\n"
    ));
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: crashLoopBackOff.maximum: unknown field"),
        "{e}"
    );
    let e = err(&format!("{HEAD}crashLoopBackOff:\n  initial: 1x\n"));
    assert!(
        e.starts_with(
            "/etc/nodelet/config.yaml: crashLoopBackOff.initial: invalid duration \"1x\""
        ),
        "{e}"
    );
    let e = err(&format!(
        "{HEAD}crashLoopBackOff: {{initial: 20s, max: 10s}}\n"
    ));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: crashLoopBackOff.max: 10s is shorter than crashLoopBackOff.initial (20s)"
    );
    let e = err(&format!("{HEAD}containerLogMaxSize: 10MB\n"));
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: containerLogMaxSize: \"10MB\": "),
        "{e}"
    );
    let e = err(&format!("{HEAD}maxPods: many\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: maxPods: must be a whole number, got \"many\""
    );
    let e = err(&format!("{HEAD}maxPods: 0\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: maxPods: must be at least 1, got 0"
    );
    let e = err(&format!("{HEAD}containerLogMaxFiles: 1\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: containerLogMaxFiles: must be at least 2, got 1"
    );
    let e = err(&format!("{HEAD}apiTcpAddress: localhost\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: apiTcpAddress: \"localhost\": must be an IP address and port, like 127.0.0.1:6443"
    );
    let e = err(&format!("{HEAD}containerLogMaxInstances: 0\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: containerLogMaxInstances: must be at least 1, got 0"
    );
    let e = err(&format!("{HEAD}rootDir: var/lib\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: rootDir: must be an absolute path, got \"var/lib\""
    );
    let e = err(&format!("{HEAD}nodeName: Node_1\n"));
    assert!(
        e.starts_with(
            "/etc/nodelet/config.yaml: nodeName: \"Node_1\": a lowercase RFC 1123 subdomain"
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}fileCheckFrequency: 0s\n"));
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: fileCheckFrequency: \"0s\": must be greater than 0"
    );
    let e = err(&format!("{HEAD}staticPodPath: [a]\n"));
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: staticPodPath: "),
        "{e}"
    );
    let e = err("kind: NodeletConfiguration\n");
    assert_eq!(
        e,
        "/etc/nodelet/config.yaml: apiVersion: required: nodelet.io/v1alpha1"
    );
    let e = err("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n");
    assert!(e.starts_with("/etc/nodelet/config.yaml: apiVersion: unsupported value \"kubelet.config.k8s.io/v1beta1\""), "{e}");
    let e = err("apiVersion: nodelet.io/v1alpha1\nkind: Pod\n");
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: kind: unsupported value \"Pod\""),
        "{e}"
    );
    let e = err(&format!("{HEAD}staticPodPath: /a\n  bad: indent\n"));
    assert!(e.starts_with("/etc/nodelet/config.yaml: "), "{e}");
    assert!(e.contains("line "), "syntax errors carry the line: {e}");
}

#[test]
fn bad_flags_name_the_flag() {
    let cli = Cli::try_parse_from(["nodelet", "--max-pods=x"]).unwrap();
    let e = Config::from_parts(None, &cli.cfg, &host)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "flag --max-pods: maxPods: must be a whole number, got \"x\""
    );
    let cli = Cli::try_parse_from(["nodelet", "--crash-loop-back-off-max=1s"]).unwrap();
    let e = Config::from_parts(None, &cli.cfg, &host)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "flag --crash-loop-back-off-max: crashLoopBackOff.max: 1s is shorter than crashLoopBackOff.initial (10s)"
    );
    let bad_host = || Err::<String, String>("no hostname".into());
    let e = Config::from_parts(None, &ConfigFlags::default(), &bad_host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("set nodeName or --node-name"), "{e}");
}

#[test]
fn config_file_optional_at_default_path_required_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.yaml");
    let flags = ConfigFlags::default().set("node-name", "n1");
    let c = Config::load_with_default_path(&flags, &missing).unwrap();
    assert_eq!(c.config_file, None);

    let explicit = ConfigFlags {
        config: Some(missing.clone()),
        ..flags.clone()
    };
    let e = Config::load_with_default_path(&explicit, &missing)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{}: cannot read configuration file",
            missing.display()
        )),
        "{e}"
    );

    std::fs::write(&missing, format!("{HEAD}maxPods: 3\n")).unwrap();
    let c = Config::load_with_default_path(&flags, &missing).unwrap();
    assert_eq!(c.max_pods, 3);
    assert_eq!(c.config_file.as_deref(), Some(missing.as_path()));
    let c = Config::load_with_default_path(&explicit, Path::new("/nonexistent")).unwrap();
    assert_eq!(c.max_pods, 3);

    std::fs::write(&missing, "").unwrap();
    let c = Config::load_with_default_path(&flags, &missing).unwrap();
    assert_eq!(c.max_pods, 110, "an empty file is all defaults");
}

#[test]
fn one_table_of_keys_makes_the_flags_and_the_file_keys() {
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    for k in nodelet::config::KEYS {
        assert!(
            help.contains(&format!("--{} <{}>", k.flag, k.value_name)),
            "{help}"
        );
        if let Some(d) = k.default {
            assert!(
                help.contains(&format!("[default: {d}]")),
                "{}: {help}",
                k.flag
            );
        }
        // Every key is read from the file at its (dotted) place, and named in its errors.
        // (shutdownGracePeriodByPodPriority is a list: `graceful_node_shutdown_keys`.)
        if k.file == "shutdownGracePeriodByPodPriority" {
            continue;
        }
        let yaml = match k.file.split_once('.') {
            Some((section, key)) => format!("{HEAD}{section}:\n  {key}: [x]\n"),
            None => format!("{HEAD}{}: [x]\n", k.file),
        };
        let e = err(&yaml);
        assert_eq!(
            e,
            format!(
                "/etc/nodelet/config.yaml: {}: invalid type: a sequence, expected a string or a number",
                k.file
            )
        );
    }
    let instances = nodelet::config::KEYS
        .iter()
        .find(|k| k.file == "containerLogMaxInstances")
        .and_then(|k| k.default);
    assert_eq!(
        instances,
        Some(nodelet::logs::DEFAULT_MAX_INSTANCES.to_string().as_str())
    );
}

#[test]
fn node_labels_and_the_admin_kubeconfig() {
    let cli = Cli::try_parse_from([
        "nodelet",
        "--node-labels",
        "disktype=ssd, topology.kubernetes.io/zone=a",
        "--admin-kubeconfig",
        "/tmp/k",
    ])
    .unwrap();
    let c = Config::from_parts(None, &cli.cfg, &host).unwrap();
    assert_eq!(c.node_labels["disktype"], "ssd");
    assert_eq!(c.node_labels["topology.kubernetes.io/zone"], "a");
    assert_eq!(c.admin_kubeconfig, Path::new("/tmp/k"));
    let c = from(
        &format!("{HEAD}nodeLabels: {{tier: edge}}\n"),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.node_labels["tier"], "edge");
    assert_eq!(
        c.admin_kubeconfig,
        Path::new("/etc/nodelet/admin.kubeconfig")
    );
    let e = err(&format!("{HEAD}nodeLabels: {{'bad key!': x}}\n"));
    assert!(
        e.starts_with("/etc/nodelet/config.yaml: nodeLabels: \"bad key!\": invalid label key"),
        "{e}"
    );
    let cli = Cli::try_parse_from(["nodelet", "--node-labels", "novalue"]).unwrap();
    let e = Config::from_parts(None, &cli.cfg, &host)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "flag --node-labels: nodeLabels: \"novalue\": must be key=value"
    );
}

#[test]
fn eviction_keys() {
    use nodelet::eviction::rules::{Signal, Value, parse_thresholds};
    // Defaults: the kubelet's hard thresholds, 5m transition, image GC at 85/80 %.
    let c = from(HEAD, &ConfigFlags::default()).unwrap();
    assert_eq!(c.eviction.hard, None);
    assert_eq!(parse_thresholds(&c.eviction).unwrap().len(), 5);
    assert_eq!(
        c.eviction_pressure_transition,
        std::time::Duration::from_secs(300)
    );
    assert_eq!((c.image_gc_high_percent, c.image_gc_low_percent), (85, 80));
    assert_eq!(c.image_minimum_gc_age, std::time::Duration::from_secs(120));
    // The file's mappings, as a KubeletConfiguration writes them.
    let c = from(
        &format!(
            "{HEAD}evictionHard: {{memory.available: 200Mi, nodefs.available: 5%}}\nevictionSoft: {{memory.available: 1Gi}}\nevictionSoftGracePeriod: {{memory.available: 1m30s}}\nevictionMinimumReclaim: {{memory.available: 100Mi}}\nevictionPressureTransitionPeriod: 30s\nevictionMaxPodGracePeriod: 20\nimageGCHighThresholdPercent: 90\nimageGCLowThresholdPercent: 70\n"
        ),
        &ConfigFlags::default(),
    )
    .unwrap();
    let t = parse_thresholds(&c.eviction).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].signal, Signal::MemoryAvailable);
    assert_eq!(t[0].value, Value::Quantity(200 << 20));
    assert_eq!(t[1].value, Value::Percentage(0.05));
    assert_eq!(t[2].grace, std::time::Duration::from_secs(90));
    assert_eq!(c.eviction_max_pod_grace, 20);
    assert_eq!(
        c.eviction_pressure_transition,
        std::time::Duration::from_secs(30)
    );
    assert_eq!((c.image_gc_high_percent, c.image_gc_low_percent), (90, 70));
    // The kubelet's flag syntax.
    let cli = Cli::parse_from([
        "x",
        "--eviction-hard",
        "pid.available<10%,nodefs.inodesFree<1%",
    ]);
    let c = from(HEAD, &cli.cfg).unwrap();
    assert_eq!(
        parse_thresholds(&c.eviction).unwrap()[0].signal,
        Signal::PidAvailable
    );
    for (text, want) in [
        (
            "evictionHard: {memory.free: 1Gi}",
            "/etc/nodelet/config.yaml: evictionHard: unsupported eviction signal memory.free",
        ),
        (
            "evictionSoft: {memory.available: 1Gi}",
            "/etc/nodelet/config.yaml: evictionSoft: no grace period specified for soft eviction threshold memory.available",
        ),
        (
            "imageGCLowThresholdPercent: 90",
            "/etc/nodelet/config.yaml: imageGCLowThresholdPercent: 90 is above imageGCHighThresholdPercent (85)",
        ),
        (
            "imageGCHighThresholdPercent: 101",
            "/etc/nodelet/config.yaml: imageGCHighThresholdPercent: must be a whole number from 0 to 100, got \"101\"",
        ),
    ] {
        assert_eq!(err(&format!("{HEAD}{text}\n")), want);
    }
}

#[test]
fn node_labels_and_reserved_resources() {
    let c = from(
        &format!(
            "{HEAD}nodeLabels: {{disktype: ssd, zone: 1}}\nsystemReserved: {{cpu: 500m, memory: 1Gi}}\nkubeReserved: {{memory: 256Mi}}\n"
        ),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.node_labels["kubernetes.io/hostname"], "my-host");
    assert_eq!(c.node_labels["kubernetes.io/os"], "linux");
    assert!(c.node_labels.contains_key("kubernetes.io/arch"));
    assert_eq!(c.node_labels["disktype"], "ssd");
    assert_eq!(c.node_labels["zone"], "1");
    assert_eq!(c.system_reserved.cpu_millis, 500);
    assert_eq!(c.system_reserved.memory_bytes, 1 << 30);
    assert_eq!(c.kube_reserved.memory_bytes, 256 << 20);
    // The flag wins over the file.
    let cli = Cli::parse_from([
        "x",
        "--node-labels",
        "disktype=hdd",
        "--kube-reserved",
        "cpu=1",
    ]);
    let c = from(&format!("{HEAD}nodeLabels: {{disktype: ssd}}\n"), &cli.cfg).unwrap();
    assert_eq!(c.node_labels["disktype"], "hdd");
    assert_eq!(c.kube_reserved.cpu_millis, 1000);
    assert_eq!(
        err(&format!("{HEAD}systemReserved: {{gpu: 1}}\n")),
        "/etc/nodelet/config.yaml: systemReserved: gpu: unsupported resource (cpu, memory and pid can be reserved)"
    );
    let c = from(
        &format!("{HEAD}systemReserved: {{pid: 1000}}\n"),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.system_reserved.pids, 1000);
    assert!(
        err(&format!("{HEAD}nodeLabels: {{'bad key!': x}}\n"))
            .starts_with("/etc/nodelet/config.yaml: nodeLabels: \"bad key!\": invalid label key")
    );
    let cli = Cli::parse_from(["x", "--node-labels", "oops"]);
    assert_eq!(
        Config::from_parts(None, &cli.cfg, &host)
            .unwrap_err()
            .to_string(),
        "flag --node-labels: nodeLabels: \"oops\": must be key=value"
    );
}

#[test]
fn pod_pids_limit_key_and_flag() {
    assert_eq!(
        from(HEAD, &ConfigFlags::default()).unwrap().pod_pids_limit,
        None
    );
    let c = from(
        &format!("{HEAD}podPidsLimit: 4096\n"),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.pod_pids_limit, Some(4096));
    let c = from(
        &format!("{HEAD}podPidsLimit: -1\n"),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.pod_pids_limit, None, "-1 is unlimited, as in the kubelet");
    let cli = Cli::try_parse_from(["nodelet", "--pod-max-pids", "100"]).unwrap();
    let c = from(&format!("{HEAD}podPidsLimit: 4096\n"), &cli.cfg).unwrap();
    assert_eq!(c.pod_pids_limit, Some(100), "the flag wins");
    let cli = Cli::try_parse_from(["nodelet", "--pod-max-pids", "-1"]).unwrap();
    let c = from(&format!("{HEAD}podPidsLimit: 4096\n"), &cli.cfg).unwrap();
    assert_eq!(c.pod_pids_limit, None);
    assert_eq!(
        err(&format!("{HEAD}podPidsLimit: 0\n")),
        "/etc/nodelet/config.yaml: podPidsLimit: must be -1 (unlimited) or a positive whole number, got \"0\""
    );
}

#[test]
fn cgroup_driver_key_and_flag() {
    use nodelet::config::CgroupDriver;
    let d = |text: &str, flags: &ConfigFlags| from(text, flags).map(|c| c.cgroup_driver);
    assert_eq!(
        d(HEAD, &ConfigFlags::default()).unwrap(),
        CgroupDriver::Cgroupfs,
        "cgroupfs by default, as the kubelet"
    );
    assert_eq!(
        d(
            &format!("{HEAD}cgroupDriver: systemd\n"),
            &ConfigFlags::default()
        )
        .unwrap(),
        CgroupDriver::Systemd
    );
    let cli = Cli::try_parse_from(["nodelet", "--cgroup-driver", "cgroupfs"]).unwrap();
    assert_eq!(
        d(&format!("{HEAD}cgroupDriver: systemd\n"), &cli.cfg).unwrap(),
        CgroupDriver::Cgroupfs,
        "the flag wins"
    );
    assert_eq!(
        err(&format!("{HEAD}cgroupDriver: systemdd\n")),
        "/etc/nodelet/config.yaml: cgroupDriver: must be \"cgroupfs\" or \"systemd\", got \"systemdd\""
    );
    assert_eq!(
        err(&format!(
            "{HEAD}cgroupDriver: systemd\ncgroupRoot: /nodelet\n"
        )),
        "/etc/nodelet/config.yaml: cgroupRoot: cannot be set with cgroupDriver: systemd (pods go to kubepods.slice)"
    );
}

#[test]
fn graceful_node_shutdown_keys() {
    use nodelet::shutdown::Group;
    let g = |priority, s| Group {
        priority,
        grace: Duration::from_secs(s),
    };
    // Off by default (the kubelet's 0).
    let c = from(HEAD, &ConfigFlags::default()).unwrap();
    assert_eq!(c.shutdown_grace_period, Duration::ZERO);
    assert!(c.shutdown_groups.is_empty());
    // The two durations: regular pods get the difference, critical ones the rest.
    let c = from(
        &format!("{HEAD}shutdownGracePeriod: 30s\nshutdownGracePeriodCriticalPods: 10s\n"),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.shutdown_groups, vec![g(0, 20), g(2_000_000_000, 10)]);
    // The by-priority list, as a KubeletConfiguration writes it, and the flag form.
    let c = from(
        &format!(
            "{HEAD}shutdownGracePeriodByPodPriority:\n- {{priority: 100000, shutdownGracePeriodSeconds: 20}}\n- {{priority: 0, shutdownGracePeriodSeconds: 10}}\n"
        ),
        &ConfigFlags::default(),
    )
    .unwrap();
    assert_eq!(c.shutdown_groups, vec![g(0, 10), g(100000, 20)]);
    let cli = Cli::parse_from([
        "x",
        "--shutdown-grace-period-by-pod-priority",
        "0=5,2000000000=3",
    ]);
    let c = from(HEAD, &cli.cfg).unwrap();
    assert_eq!(c.shutdown_groups, vec![g(0, 5), g(2_000_000_000, 3)]);
    for (text, want) in [
        (
            "shutdownGracePeriod: 10s\nshutdownGracePeriodCriticalPods: 20s",
            "/etc/nodelet/config.yaml: shutdownGracePeriodCriticalPods: 20s must be <= shutdownGracePeriod 10s",
        ),
        (
            "shutdownGracePeriod: 1500ms",
            "/etc/nodelet/config.yaml: shutdownGracePeriod: 1.5s must be a whole number of seconds",
        ),
        (
            "shutdownGracePeriod: 30s\nshutdownGracePeriodByPodPriority: [{priority: 0, shutdownGracePeriodSeconds: 10}]",
            "/etc/nodelet/config.yaml: shutdownGracePeriodByPodPriority: cannot be combined with shutdownGracePeriod / shutdownGracePeriodCriticalPods",
        ),
        (
            "shutdownGracePeriodByPodPriority: [{priority: 0, shutdownGracePeriodSeconds: 10}, {priority: 0, shutdownGracePeriodSeconds: 5}]",
            "/etc/nodelet/config.yaml: shutdownGracePeriodByPodPriority: priority 0 is listed twice",
        ),
        (
            "shutdownGracePeriodByPodPriority: [{priority: 0, gracePeriod: 10}]",
            "/etc/nodelet/config.yaml: shutdownGracePeriodByPodPriority[0].gracePeriod: unknown field `gracePeriod`, expected one of `priority`, `shutdownGracePeriodSeconds`",
        ),
        (
            "shutdownGracePeriodByPodPriority: [{priority: 0, shutdownGracePeriodSeconds: -1}]",
            "/etc/nodelet/config.yaml: shutdownGracePeriodByPodPriority[0].shutdownGracePeriodSeconds: -1 must be >= 0",
        ),
        (
            "shutdownGracePeriodByPodPriority: [7]",
            "/etc/nodelet/config.yaml: shutdownGracePeriodByPodPriority[0]: must be a mapping, got a number",
        ),
    ] {
        assert_eq!(err(&format!("{HEAD}{text}\n")), want);
    }
}
