//! The node agent's configuration: a KubeletConfiguration-style YAML file (`--config`) whose every
//! key can be overridden by a command-line flag, checked into one [`Config`] with defaults filled.
//!
//! ```yaml
//! apiVersion: nodelet.io/v1alpha1
//! kind: NodeletConfiguration
//! staticPodPath: /etc/kubernetes/manifests
//! nodeName: node-1
//! crashLoopBackOff: {initial: 10s, max: 300s}
//! ```
//!
//! Flags win over the file, the file wins over the defaults. Unknown keys and bad values are
//! errors naming the file (or flag), the key path and the reason.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use nodelet_objects::duration::{format_duration, parse_duration};
use nodelet_objects::names;
use nodelet_objects::quantity::Quantity;

use crate::node_config::{self, Reserved};

/// `apiVersion` the configuration file must declare.
pub const API_VERSION: &str = "nodelet.io/v1alpha1";
/// `kind` the configuration file must declare.
pub const KIND: &str = "NodeletConfiguration";
/// Where `nodelet` looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/nodelet/config.yaml";

/// Default API socket (also where `nodectl` looks).
pub const DEFAULT_API_SOCKET: &str = nodelet_api::DEFAULT_SOCKET;

/// Crash-loop back-off: first delay, doubling up to `max`; forgotten once a container ran
/// `reset` without failing (default 2 × max = 10 min, the kubelet's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoopBackOff {
    pub initial: Duration,
    pub max: Duration,
    pub reset: Duration,
}

/// Where the workload controllers keep what they made (`<rootDir>/workloads`).
pub fn workloads_dir(root_dir: &std::path::Path) -> PathBuf {
    root_dir.join("workloads")
}

/// The checked configuration of one node agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, if any.
    pub config_file: Option<PathBuf>,
    /// Directory of static pod manifests.
    pub static_pod_path: PathBuf,
    /// This node's name (lowercase DNS-1123 subdomain); pod names get `-<nodeName>`.
    pub node_name: String,
    /// Persistent state (pods, images...).
    pub root_dir: PathBuf,
    /// Container logs, `<podLogsDir>/<ns>_<name>_<uid>/<container>/<n>.log`.
    pub pod_logs_dir: PathBuf,
    /// Runtime state that dies with the machine (shim sockets...).
    pub run_dir: PathBuf,
    /// The local API's Unix socket (what `nodectl` talks to).
    pub api_socket: PathBuf,
    /// Also serve the API over TCP at this address; off (`None`) by default. TCP is always
    /// TLS with client-certificate authentication (`api::tls`): nothing is served to a
    /// client without the admin certificate.
    pub api_tcp_address: Option<std::net::SocketAddr>,
    /// Where nodelet writes the kubeconfig for its TCP API (CA, admin client certificate,
    /// server URL); only written when `api_tcp_address` is set.
    pub admin_kubeconfig: PathBuf,
    /// The node's IP (pods' `status.hostIP`); `None` = detected at start (see `node_ip`).
    pub node_ip: Option<std::net::IpAddr>,
    /// Cgroup under which pods are created; `None` = the agent's own cgroup.
    pub cgroup_root: Option<PathBuf>,
    /// The kubelet's `cgroupDriver`: who makes pod and container cgroups.
    pub cgroup_driver: CgroupDriver,
    /// Most pods this node runs.
    pub max_pods: u32,
    /// The kubelet's `podPidsLimit`: the pod cgroup's `pids.max`; `None` = unlimited (the
    /// kubelet's -1, its default; the packaged configuration sets 4096).
    pub pod_pids_limit: Option<i64>,
    /// Rotate a container log at this size (bytes).
    pub container_log_max_size: u64,
    /// Keep at most this many log files per container (current one included).
    pub container_log_max_files: u32,
    /// Keep the logs of this many instances of each container (the kubelet keeps two).
    pub container_log_max_instances: u32,
    /// CNI network configurations.
    pub cni_conf_dir: PathBuf,
    /// CNI plugin binaries.
    pub cni_bin_dir: PathBuf,
    pub crash_loop_back_off: CrashLoopBackOff,
    /// Period of the full rescan of the static pod path.
    pub file_check_frequency: Duration,
    /// The node's labels: the defaults (`kubernetes.io/hostname`, `/os`, `/arch`) with
    /// `nodeLabels` on top; what nodeSelector and node affinity are matched against.
    pub node_labels: std::collections::BTreeMap<String, String>,
    /// Resources kept from pods for the OS (`systemReserved`).
    pub system_reserved: Reserved,
    /// Resources kept from pods for the agent (`kubeReserved`).
    pub kube_reserved: Reserved,
    /// The eviction thresholds as given (`evictionHard`, `evictionSoft`,
    /// `evictionSoftGracePeriod`, `evictionMinimumReclaim`), checked by
    /// `eviction::rules::parse_thresholds`.
    pub eviction: crate::eviction::rules::Settings,
    /// `evictionPressureTransitionPeriod`: how long a pressure condition stays after its
    /// threshold was last met.
    pub eviction_pressure_transition: Duration,
    /// `evictionMaxPodGracePeriod`: the longest grace period of a pod evicted for a soft
    /// threshold, seconds (0: the pod's own).
    pub eviction_max_pod_grace: i64,
    /// `imageMinimumGCAge`: an unused image is deleted only this long after its last pull or
    /// use.
    pub image_minimum_gc_age: Duration,
    /// `imageGCHighThresholdPercent` / `imageGCLowThresholdPercent`.
    pub image_gc_high_percent: u8,
    pub image_gc_low_percent: u8,
    /// `shutdownGracePeriod`: how long the node's shutdown is delayed to stop the pods (0:
    /// graceful node shutdown off, the kubelet's default).
    pub shutdown_grace_period: Duration,
    /// `shutdownGracePeriodCriticalPods`: the part of it kept for critical pods.
    pub shutdown_grace_period_critical_pods: Duration,
    /// `shutdownGracePeriodByPodPriority`, instead of the two above.
    pub shutdown_grace_period_by_pod_priority: Vec<crate::shutdown::Group>,
    /// The priority groups the shutdown stops, lowest first (`shutdown::groups` of the three
    /// keys above); empty = graceful node shutdown off.
    pub shutdown_groups: Vec<crate::shutdown::Group>,
}

/// A configuration problem: where (file or flag), which key, why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read configuration file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {key}{}{reason}", origin, if key.is_empty() { "" } else { ": " })]
    Invalid {
        /// The file, or `flag --x`.
        origin: Origin,
        /// Key path in the file (`crashLoopBackOff.max`), empty for syntax errors.
        key: String,
        reason: String,
    },
    #[error("cannot determine the node name from the hostname ({0}); set nodeName or --node-name")]
    Hostname(String),
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// One configuration key: its file key (a dotted path), its flag, its help, its default and
/// the parser that checks a value and sets it. [`KEYS`] is the one list of them: it makes the
/// flags, reads the file and names the key in errors.
pub struct Key {
    /// The key in the file, `crashLoopBackOff.max` for a nested one.
    pub file: &'static str,
    /// The flag, without `--`.
    pub flag: &'static str,
    pub value_name: &'static str,
    pub help: &'static str,
    /// The value when neither flag nor file sets it; `None`: no value, or one worked out
    /// (the help says which).
    pub default: Option<&'static str>,
    /// Checks a value and sets it; the error is the reason.
    set: fn(&mut Config, &str) -> Result<(), String>,
}

/// Every configuration key, in the order `--help` lists them.
pub static KEYS: &[Key] = &[
    Key {
        file: "staticPodPath",
        flag: "static-pod-path",
        value_name: "DIR",
        help: "Directory of static pod manifests",
        default: Some("/etc/kubernetes/manifests"),
        set: |c, v| absolute(v).map(|p| c.static_pod_path = p),
    },
    Key {
        file: "nodeName",
        flag: "node-name",
        value_name: "NAME",
        help: "Node name [default: the hostname, lowercased]",
        default: None,
        set: |c, v| node_name(v).map(|n| c.node_name = n),
    },
    Key {
        file: "rootDir",
        flag: "root-dir",
        value_name: "DIR",
        help: "State directory",
        default: Some("/var/lib/nodelet"),
        set: |c, v| absolute(v).map(|p| c.root_dir = p),
    },
    Key {
        file: "podLogsDir",
        flag: "pod-logs-dir",
        value_name: "DIR",
        help: "Container log directory",
        default: Some("/var/log/pods"),
        set: |c, v| absolute(v).map(|p| c.pod_logs_dir = p),
    },
    Key {
        file: "runDir",
        flag: "run-dir",
        value_name: "DIR",
        help: "Runtime directory",
        default: Some("/run/nodelet"),
        set: |c, v| absolute(v).map(|p| c.run_dir = p),
    },
    Key {
        file: "apiSocket",
        flag: "api-socket",
        value_name: "PATH",
        help: "API socket",
        default: Some(DEFAULT_API_SOCKET),
        set: |c, v| absolute(v).map(|p| c.api_socket = p),
    },
    Key {
        file: "apiTcpAddress",
        flag: "api-tcp-address",
        value_name: "ADDR",
        help: "Also serve the API over TCP (TLS, client certificates) at this address, like 127.0.0.1:6443 [default: off]",
        default: None,
        set: |c, v| {
            let addr = v.parse().map_err(|_| {
                format!("{v:?}: must be an IP address and port, like 127.0.0.1:6443")
            })?;
            c.api_tcp_address = Some(addr);
            Ok(())
        },
    },
    Key {
        file: "adminKubeconfig",
        flag: "admin-kubeconfig",
        value_name: "PATH",
        help: "The kubeconfig written for the TCP API",
        default: Some("/etc/nodelet/admin.kubeconfig"),
        set: |c, v| absolute(v).map(|p| c.admin_kubeconfig = p),
    },
    Key {
        file: "nodeLabels",
        flag: "node-labels",
        value_name: "KEY=VALUE,...",
        help: "Labels of the Node object, like `disktype=ssd,zone=a` (as the kubelet's --node-labels; in the file also a mapping)",
        default: None,
        set: |c, v| {
            let m = node_config::parse_pairs(v)?;
            node_config::check_labels(&m)?;
            c.node_labels = m;
            Ok(())
        },
    },
    Key {
        file: "podPidsLimit",
        flag: "pod-max-pids",
        value_name: "N",
        help: "Most processes (pids) per pod, the kubelet's podPidsLimit; -1 = unlimited",
        default: Some("-1"),
        set: |c, v| {
            c.pod_pids_limit = match v.trim().parse::<i64>() {
                Ok(-1) => None,
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(format!(
                        "must be -1 (unlimited) or a positive whole number, got {v:?}"
                    ));
                }
            };
            Ok(())
        },
    },
    Key {
        file: "systemReserved",
        flag: "system-reserved",
        value_name: "RES=QTY,...",
        help: "Resources reserved for the OS, like cpu=500m,memory=1Gi (in the file also a mapping) [default: none]",
        default: None,
        set: |c, v| {
            c.system_reserved = node_config::reserved(&node_config::parse_pairs(v)?)?;
            Ok(())
        },
    },
    Key {
        file: "kubeReserved",
        flag: "kube-reserved",
        value_name: "RES=QTY,...",
        help: "Resources reserved for the agent, like cpu=100m,memory=256Mi (in the file also a mapping) [default: none]",
        default: None,
        set: |c, v| {
            c.kube_reserved = node_config::reserved(&node_config::parse_pairs(v)?)?;
            Ok(())
        },
    },
    Key {
        file: "evictionHard",
        flag: "eviction-hard",
        value_name: "SIGNAL<QTY,...",
        help: "Hard eviction thresholds, like memory.available<100Mi,nodefs.available<10% (in the file a mapping); replaces the defaults [default: memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%]",
        default: None,
        set: |c, v| {
            c.eviction.hard = Some(v.to_string());
            Ok(())
        },
    },
    Key {
        file: "evictionSoft",
        flag: "eviction-soft",
        value_name: "SIGNAL<QTY,...",
        help: "Soft eviction thresholds, each with a grace period in evictionSoftGracePeriod [default: none]",
        default: None,
        set: |c, v| {
            c.eviction.soft = v.to_string();
            Ok(())
        },
    },
    Key {
        file: "evictionSoftGracePeriod",
        flag: "eviction-soft-grace-period",
        value_name: "SIGNAL=DURATION,...",
        help: "How long each soft threshold must be met before pods are evicted, like memory.available=1m30s [default: none]",
        default: None,
        set: |c, v| {
            c.eviction.soft_grace = v.to_string();
            Ok(())
        },
    },
    Key {
        file: "evictionMinimumReclaim",
        flag: "eviction-minimum-reclaim",
        value_name: "SIGNAL=QTY,...",
        help: "What an eviction must reclaim beyond a threshold before its pressure ends, like nodefs.available=500Mi [default: none]",
        default: None,
        set: |c, v| {
            c.eviction.min_reclaim = v.to_string();
            Ok(())
        },
    },
    Key {
        file: "evictionPressureTransitionPeriod",
        flag: "eviction-pressure-transition-period",
        value_name: "DURATION",
        help: "How long a pressure condition stays after its threshold was last met",
        default: Some("5m0s"),
        set: |c, v| {
            parse_duration(v)
                .map(|d| c.eviction_pressure_transition = d)
                .map_err(|e| e.to_string())
        },
    },
    Key {
        file: "evictionMaxPodGracePeriod",
        flag: "eviction-max-pod-grace-period",
        value_name: "SECONDS",
        help: "Longest grace period of a pod evicted for a soft threshold; 0 = the pod's own",
        default: Some("0"),
        set: |c, v| match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => {
                c.eviction_max_pod_grace = n;
                Ok(())
            }
            _ => Err(format!("must be a whole number of seconds, got {v:?}")),
        },
    },
    Key {
        file: "imageMinimumGCAge",
        flag: "image-minimum-gc-age",
        value_name: "DURATION",
        help: "How long after its last pull or use an unused image may be garbage-collected",
        default: Some("2m0s"),
        set: |c, v| {
            parse_duration(v)
                .map(|d| c.image_minimum_gc_age = d)
                .map_err(|e| e.to_string())
        },
    },
    Key {
        file: "imageGCHighThresholdPercent",
        flag: "image-gc-high-threshold",
        value_name: "PERCENT",
        help: "Disk usage of the image file system above which unused images are deleted",
        default: Some("85"),
        set: |c, v| percent(v).map(|n| c.image_gc_high_percent = n),
    },
    Key {
        file: "imageGCLowThresholdPercent",
        flag: "image-gc-low-threshold",
        value_name: "PERCENT",
        help: "Disk usage image garbage collection brings the image file system down to",
        default: Some("80"),
        set: |c, v| percent(v).map(|n| c.image_gc_low_percent = n),
    },
    Key {
        file: "shutdownGracePeriod",
        flag: "shutdown-grace-period",
        value_name: "DURATION",
        help: "How long the node's shutdown is delayed (a systemd-logind inhibitor lock) to stop the pods; 0 = off",
        default: Some("0s"),
        set: |c, v| {
            parse_duration(v)
                .map(|d| c.shutdown_grace_period = d)
                .map_err(|e| e.to_string())
        },
    },
    Key {
        file: "shutdownGracePeriodCriticalPods",
        flag: "shutdown-grace-period-critical-pods",
        value_name: "DURATION",
        help: "The part of shutdownGracePeriod kept for critical pods (priority >= 2000000000), stopped last",
        default: Some("0s"),
        set: |c, v| {
            parse_duration(v)
                .map(|d| c.shutdown_grace_period_critical_pods = d)
                .map_err(|e| e.to_string())
        },
    },
    Key {
        file: "shutdownGracePeriodByPodPriority",
        flag: "shutdown-grace-period-by-pod-priority",
        value_name: "PRIORITY=SECONDS,...",
        help: "Grace periods by pod priority instead of the two above, like 0=20,2000000000=10 (in the file a list of {priority, shutdownGracePeriodSeconds}) [default: none]",
        default: None,
        set: |c, v| {
            c.shutdown_grace_period_by_pod_priority = crate::shutdown::parse_by_priority(v)?;
            Ok(())
        },
    },
    Key {
        file: "nodeIP",
        flag: "node-ip",
        value_name: "IP",
        help: "The node's IP, reported as pods' hostIP [default: the source address of the default route]",
        default: None,
        set: |c, v| {
            let ip: std::net::IpAddr = v
                .parse()
                .map_err(|_| format!("{v:?}: must be an IPv4 or IPv6 address"))?;
            if ip.is_unspecified() {
                return Err(format!("{v:?}: must be a specific address"));
            }
            c.node_ip = Some(ip);
            Ok(())
        },
    },
    Key {
        file: "cgroupRoot",
        flag: "cgroup-root",
        value_name: "PATH",
        help: "Cgroup for pods [default: nodelet's own cgroup]",
        default: None,
        set: |c, v| {
            if !Path::new(v).is_absolute() {
                return Err(format!(
                    "must be an absolute cgroup path like /nodelet, got {v:?}"
                ));
            }
            c.cgroup_root = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Key {
        file: "cgroupDriver",
        flag: "cgroup-driver",
        value_name: "DRIVER",
        help: "cgroupfs (nodelet makes pod cgroups below its own) or systemd (pods in \
               kubepods.slice as the kubelet's systemd driver names them, made over D-Bus)",
        default: Some("cgroupfs"),
        set: |c, v| {
            c.cgroup_driver = match v {
                "cgroupfs" => CgroupDriver::Cgroupfs,
                "systemd" => CgroupDriver::Systemd,
                _ => {
                    return Err(format!("must be \"cgroupfs\" or \"systemd\", got {v:?}"));
                }
            };
            Ok(())
        },
    },
    Key {
        file: "maxPods",
        flag: "max-pods",
        value_name: "N",
        help: "Maximum number of pods",
        default: Some("110"),
        set: |c, v| at_least(v, 1).map(|n| c.max_pods = n),
    },
    Key {
        file: "containerLogMaxSize",
        flag: "container-log-max-size",
        value_name: "QUANTITY",
        help: "Container log size that triggers rotation, a quantity like 10Mi",
        default: Some("10Mi"),
        set: |c, v| {
            let q = Quantity::parse(v).map_err(|e| format!("{v:?}: {e}"))?;
            if q.value() <= 0 {
                return Err(format!("{v:?}: must be greater than 0"));
            }
            c.container_log_max_size = q.value() as u64;
            Ok(())
        },
    },
    Key {
        file: "containerLogMaxFiles",
        flag: "container-log-max-files",
        value_name: "N",
        help: "Log files kept per container",
        default: Some("5"),
        set: |c, v| at_least(v, 2).map(|n| c.container_log_max_files = n),
    },
    Key {
        file: "containerLogMaxInstances",
        flag: "container-log-max-instances",
        value_name: "N",
        help: "Container instances whose logs are kept",
        default: Some("5"), // crate::logs::DEFAULT_MAX_INSTANCES (checked by a test)
        set: |c, v| at_least(v, 1).map(|n| c.container_log_max_instances = n),
    },
    Key {
        file: "cniConfDir",
        flag: "cni-conf-dir",
        value_name: "DIR",
        help: "CNI configuration directory",
        default: Some("/etc/cni/net.d"),
        set: |c, v| absolute(v).map(|p| c.cni_conf_dir = p),
    },
    Key {
        file: "cniBinDir",
        flag: "cni-bin-dir",
        value_name: "DIR",
        help: "CNI plugin directory",
        default: Some("/opt/cni/bin"),
        set: |c, v| absolute(v).map(|p| c.cni_bin_dir = p),
    },
    Key {
        file: "crashLoopBackOff.initial",
        flag: "crash-loop-back-off-initial",
        value_name: "DURATION",
        help: "First crash-loop back-off delay, a duration like 10s",
        default: Some("10s"),
        set: |c, v| positive_duration(v).map(|d| c.crash_loop_back_off.initial = d),
    },
    Key {
        file: "crashLoopBackOff.max",
        flag: "crash-loop-back-off-max",
        value_name: "DURATION",
        help: "Longest crash-loop back-off delay",
        default: Some("300s"),
        set: |c, v| positive_duration(v).map(|d| c.crash_loop_back_off.max = d),
    },
    Key {
        file: "crashLoopBackOff.reset",
        flag: "crash-loop-back-off-reset",
        value_name: "DURATION",
        help: "Running this long without failing resets the back-off [default: 2 × max = 600s]",
        default: None,
        set: |c, v| positive_duration(v).map(|d| c.crash_loop_back_off.reset = d),
    },
    Key {
        file: "fileCheckFrequency",
        flag: "file-check-frequency",
        value_name: "DURATION",
        help: "Period of the full rescan of the static pod path",
        default: Some("20s"),
        set: |c, v| positive_duration(v).map(|d| c.file_check_frequency = d),
    },
];

fn absolute(v: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(v);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(format!("must be an absolute path, got {v:?}"))
    }
}

fn node_name(v: &str) -> Result<String, String> {
    let errs = names::dns1123_subdomain(v);
    if errs.is_empty() {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}: {}", errs.join("; ")))
    }
}

fn at_least(v: &str, min: u32) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!("must be at least {min}, got {n}")),
        Err(_) => Err(format!("must be a whole number, got {v:?}")),
    }
}

fn percent(v: &str) -> Result<u8, String> {
    match v.trim().parse::<u8>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(format!("must be a whole number from 0 to 100, got {v:?}")),
    }
}

fn positive_duration(v: &str) -> Result<Duration, String> {
    match parse_duration(v) {
        Ok(d) if d.is_zero() => Err(format!("{v:?}: must be greater than 0")),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Command-line flags of the configuration (`--config` and one flag per [`KEYS`] entry);
/// flatten into a binary's clap parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFlags {
    /// Configuration file [default: /etc/nodelet/config.yaml, if it exists].
    pub config: Option<PathBuf>,
    /// The values given, by flag name.
    pub values: std::collections::BTreeMap<&'static str, String>,
}

impl clap::Args for ConfigFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let config = clap::Arg::new("config")
            .long("config")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Configuration file [default: /etc/nodelet/config.yaml, if it exists]");
        KEYS.iter().fold(cmd.arg(config), |cmd, k| {
            let help = match k.default {
                Some(d) => format!("{} [default: {d}]", k.help),
                None => k.help.to_string(),
            };
            cmd.arg(
                clap::Arg::new(k.flag)
                    .long(k.flag)
                    .value_name(k.value_name)
                    .allow_hyphen_values(true)
                    .help(help),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ConfigFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = ConfigFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        if let Some(p) = m.get_one::<PathBuf>("config") {
            self.config = Some(p.clone());
        }
        for k in KEYS {
            if let Some(v) = m.get_one::<String>(k.flag) {
                self.values.insert(k.flag, v.clone());
            }
        }
        Ok(())
    }
}

impl ConfigFlags {
    /// Sets flag `--name` (as if given on the command line).
    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> ConfigFlags {
        self.values.insert(name, value.into());
        self
    }
}

impl Config {
    /// Loads the configuration: the file named by `--config` (an error if missing), else
    /// [`DEFAULT_CONFIG_PATH`] if it exists; then the flags on top; then the defaults.
    pub fn load(flags: &ConfigFlags) -> Result<Config, ConfigError> {
        Self::load_with_default_path(flags, Path::new(DEFAULT_CONFIG_PATH))
    }

    /// [`Config::load`] with another default file location (tests, packaging).
    pub fn load_with_default_path(
        flags: &ConfigFlags,
        default_path: &Path,
    ) -> Result<Config, ConfigError> {
        let (path, required) = match &flags.config {
            Some(p) => (p.clone(), true),
            None => (default_path.to_path_buf(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let file = text.as_deref().map(|t| (path.as_path(), t));
        Config::from_parts(file, flags, &system_hostname)
    }

    /// Builds the configuration from a file's text (if any), the flags and a hostname source:
    /// every key of [`KEYS`] from its flag, else the file, else its default; then what is
    /// worked out (node name from the hostname, back-off reset) and checked across keys.
    pub fn from_parts(
        file: Option<(&Path, &str)>,
        flags: &ConfigFlags,
        hostname: &dyn Fn() -> Result<String, String>,
    ) -> Result<Config, ConfigError> {
        let file_values = match file {
            Some((path, text)) => parse_file(path, text)?,
            None => Default::default(),
        };
        let file_origin = || Origin::File(file.map(|(p, _)| p.to_path_buf()).unwrap_or_default());
        let mut cfg = Config::unset(file.map(|(p, _)| p.to_path_buf()));
        // Where each value that was given came from.
        let mut given: std::collections::HashMap<&str, Origin> = Default::default();
        for k in KEYS {
            let given_value = match (flags.values.get(k.flag), file_values.get(k.file)) {
                (Some(v), _) => Some((v.as_str(), Origin::Flag(k.flag))),
                (None, Some(v)) => Some((v.as_str(), file_origin())),
                (None, None) => None,
            };
            let (v, origin) = match (given_value, k.default) {
                (Some((v, origin)), _) => {
                    given.insert(k.file, origin.clone());
                    (v, origin)
                }
                (None, Some(d)) => (d, file_origin()),
                (None, None) => continue,
            };
            (k.set)(&mut cfg, v).map_err(|reason| ConfigError::Invalid {
                origin,
                key: k.file.to_string(),
                reason,
            })?;
        }
        if cfg.cgroup_driver == CgroupDriver::Systemd && cfg.cgroup_root.is_some() {
            return Err(ConfigError::Invalid {
                origin: given.get("cgroupRoot").cloned().unwrap_or_else(file_origin),
                key: "cgroupRoot".to_string(),
                reason: "cannot be set with cgroupDriver: systemd (pods go to kubepods.slice)"
                    .to_string(),
            });
        }
        if cfg.node_name.is_empty() {
            let h = hostname().map_err(ConfigError::Hostname)?.to_lowercase();
            cfg.node_name = node_name(&h).map_err(ConfigError::Hostname)?;
        }
        // The node's labels: the well-known ones, then `nodeLabels` on top.
        let mut labels = node_config::default_labels(&cfg.node_name);
        labels.append(&mut cfg.node_labels);
        cfg.node_labels = labels;
        let backoff = &mut cfg.crash_loop_back_off;
        if backoff.reset.is_zero() {
            backoff.reset = backoff.max * 2;
        }
        if backoff.max < backoff.initial {
            return Err(ConfigError::Invalid {
                origin: given
                    .remove("crashLoopBackOff.max")
                    .unwrap_or_else(file_origin),
                key: "crashLoopBackOff.max".into(),
                reason: format!(
                    "{} is shorter than crashLoopBackOff.initial ({})",
                    format_duration(backoff.max),
                    format_duration(backoff.initial)
                ),
            });
        }
        if let Err(reason) = crate::eviction::rules::parse_thresholds(&cfg.eviction) {
            let key = if reason.contains("soft") || reason.contains("grace") {
                "evictionSoft"
            } else if cfg.eviction.hard.is_some() {
                "evictionHard"
            } else {
                "evictionMinimumReclaim"
            };
            return Err(ConfigError::Invalid {
                origin: given.remove(key).unwrap_or_else(file_origin),
                key: key.into(),
                reason,
            });
        }
        match crate::shutdown::groups(
            cfg.shutdown_grace_period,
            cfg.shutdown_grace_period_critical_pods,
            &cfg.shutdown_grace_period_by_pod_priority,
        ) {
            Ok(g) => cfg.shutdown_groups = g,
            Err(e) => {
                // The kubelet's message starts with the key, which the error names already.
                let message = e.to_string();
                let reason = message
                    .strip_prefix(e.key())
                    .map_or(message.as_str(), |r| r.trim_start_matches([':', ' ']));
                return Err(ConfigError::Invalid {
                    origin: given.remove(e.key()).unwrap_or_else(file_origin),
                    key: e.key().into(),
                    reason: reason.to_string(),
                });
            }
        }
        if cfg.image_gc_low_percent > cfg.image_gc_high_percent {
            return Err(ConfigError::Invalid {
                origin: given
                    .remove("imageGCLowThresholdPercent")
                    .unwrap_or_else(file_origin),
                key: "imageGCLowThresholdPercent".into(),
                reason: format!(
                    "{} is above imageGCHighThresholdPercent ({})",
                    cfg.image_gc_low_percent, cfg.image_gc_high_percent
                ),
            });
        }
        Ok(cfg)
    }

    /// A configuration no key has set yet.
    fn unset(config_file: Option<PathBuf>) -> Config {
        Config {
            config_file,
            static_pod_path: PathBuf::new(),
            node_name: String::new(),
            root_dir: PathBuf::new(),
            pod_logs_dir: PathBuf::new(),
            run_dir: PathBuf::new(),
            api_socket: PathBuf::new(),
            api_tcp_address: None,
            admin_kubeconfig: PathBuf::new(),
            node_labels: Default::default(),
            node_ip: None,
            cgroup_root: None,
            cgroup_driver: CgroupDriver::Cgroupfs,
            max_pods: 0,
            container_log_max_size: 0,
            container_log_max_files: 0,
            container_log_max_instances: 0,
            cni_conf_dir: PathBuf::new(),
            cni_bin_dir: PathBuf::new(),
            crash_loop_back_off: CrashLoopBackOff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
                reset: Duration::ZERO,
            },
            file_check_frequency: Duration::ZERO,
            system_reserved: Reserved::default(),
            kube_reserved: Reserved::default(),
            pod_pids_limit: None,
            eviction: Default::default(),
            eviction_pressure_transition: Duration::ZERO,
            eviction_max_pod_grace: 0,
            image_minimum_gc_age: Duration::ZERO,
            image_gc_high_percent: 0,
            image_gc_low_percent: 0,
            shutdown_grace_period: Duration::ZERO,
            shutdown_grace_period_critical_pods: Duration::ZERO,
            shutdown_grace_period_by_pod_priority: Vec::new(),
            shutdown_groups: Vec::new(),
        }
    }
}

/// The kubelet's `cgroupDriver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupDriver {
    /// Pod cgroups are directories nodelet makes (`[cgroupRoot/]pod<uid>`).
    Cgroupfs,
    /// Pod cgroups are systemd slices (`kubepods[-<qos>]-pod<uid>.slice`) and containers
    /// transient scopes, made over D-Bus (noderun `--systemd-cgroup`).
    Systemd,
}

/// Parses the file: YAML syntax, apiVersion and kind, then every value by its dotted key
/// (`crashLoopBackOff.max`); a key [`KEYS`] does not know, or a value that is not a string or
/// a number, is an error naming it.
fn parse_file(
    path: &Path,
    text: &str,
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        origin: Origin::File(path.to_path_buf()),
        key: key.to_string(),
        reason,
    };
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    let doc = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        Option::<serde_json::Value>::deserialize(de)
    })
    // The message ends with "at line L, column C".
    .map_err(|e| invalid("", e.without_snippet().to_string().trim().to_string()))?;
    let mut map = match doc {
        // An empty file (or only comments) means all defaults.
        None | Some(serde_json::Value::Null) => return Ok(Default::default()),
        Some(serde_json::Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid(
                "",
                format!("expected a mapping of keys, got {}", json_kind(&other)),
            ));
        }
    };
    for (key, want) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        match map.remove(key) {
            Some(serde_json::Value::String(v)) if v == want => {}
            Some(other) => {
                let got = other
                    .as_str()
                    .map_or_else(|| other.to_string(), |s| format!("{s:?}"));
                return Err(invalid(
                    key,
                    format!("unsupported value {got}, expected {want:?}"),
                ));
            }
            None => return Err(invalid(key, format!("required: {want}"))),
        }
    }
    // nodeLabels, systemReserved, kubeReserved and the eviction maps may be written as
    // mappings; they become the flags' `k=v,...` form (label keys, resource names, signals
    // and their values never hold ',' or '=').
    for key in [
        "nodeLabels",
        "systemReserved",
        "kubeReserved",
        "evictionHard",
        "evictionSoft",
        "evictionSoftGracePeriod",
        "evictionMinimumReclaim",
    ] {
        let Some(serde_json::Value::Object(pairs)) = map.get(key) else {
            continue;
        };
        let joined = pairs
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok(format!("{k}={s}")),
                serde_json::Value::Number(n) => Ok(format!("{k}={n}")),
                other => Err(invalid(
                    &format!("{key}.{k}"),
                    format!("must be a string or a number, got {}", json_kind(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        map.insert(key.into(), serde_json::Value::String(joined));
    }
    // shutdownGracePeriodByPodPriority is a list of {priority, shutdownGracePeriodSeconds}:
    // it becomes the flag's `PRIORITY=SECONDS,...` form.
    let by_priority = "shutdownGracePeriodByPodPriority";
    if let Some(serde_json::Value::Array(items)) = map.get(by_priority) {
        let mut pairs = vec![];
        for (i, item) in items.iter().enumerate() {
            let at = format!("{by_priority}[{i}]");
            let serde_json::Value::Object(fields) = item else {
                return Err(invalid(
                    &at,
                    format!("must be a mapping, got {}", json_kind(item)),
                ));
            };
            let (mut priority, mut seconds) = (0i64, 0i64);
            for (k, v) in fields {
                let slot = match k.as_str() {
                    "priority" => &mut priority,
                    "shutdownGracePeriodSeconds" => &mut seconds,
                    _ => {
                        return Err(invalid(
                            &format!("{at}.{k}"),
                            format!(
                                "unknown field `{k}`, expected one of `priority`, `shutdownGracePeriodSeconds`"
                            ),
                        ));
                    }
                };
                *slot = v.as_i64().ok_or_else(|| {
                    invalid(
                        &format!("{at}.{k}"),
                        format!("must be a whole number, got {v}"),
                    )
                })?;
            }
            if i32::try_from(priority).is_err() {
                return Err(invalid(
                    &format!("{at}.priority"),
                    format!("{priority} is out of range"),
                ));
            }
            if seconds < 0 {
                return Err(invalid(
                    &format!("{at}.shutdownGracePeriodSeconds"),
                    format!("{seconds} must be >= 0"),
                ));
            }
            pairs.push(format!("{priority}={seconds}"));
        }
        map.insert(
            by_priority.into(),
            serde_json::Value::String(pairs.join(",")),
        );
    }
    let mut values = std::collections::BTreeMap::new();
    flatten("", map, &mut values).map_err(|(key, reason)| invalid(&key, reason))?;
    Ok(values)
}

/// The values of mapping `map` found at `prefix`, by dotted key; an error names the key.
fn flatten(
    prefix: &str,
    map: serde_json::Map<String, serde_json::Value>,
    values: &mut std::collections::BTreeMap<String, String>,
) -> Result<(), (String, String)> {
    use serde_json::Value;
    for (name, v) in map {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let section = format!("{key}.");
        let is_section = KEYS.iter().any(|k| k.file.starts_with(&section));
        let is_key = KEYS.iter().any(|k| k.file == key);
        match v {
            _ if !is_key && !is_section => {
                let under = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}.")
                };
                let mut known: Vec<String> = KEYS
                    .iter()
                    .filter_map(|k| k.file.strip_prefix(under.as_str()))
                    .map(|k| format!("`{}`", k.split('.').next().unwrap_or(k)))
                    .collect();
                known.dedup();
                return Err((
                    key,
                    format!(
                        "unknown field `{name}`, expected one of {}",
                        known.join(", ")
                    ),
                ));
            }
            Value::Null => {}
            Value::Object(m) if is_section => flatten(&key, m, values)?,
            Value::String(s) if is_key => {
                values.insert(key, s);
            }
            Value::Number(n) if is_key => {
                values.insert(key, n.to_string());
            }
            other => {
                let want = if is_section {
                    "a mapping"
                } else {
                    "a string or a number"
                };
                return Err((
                    key,
                    format!("invalid type: {}, expected {want}", json_kind(&other)),
                ));
            }
        }
    }
    Ok(())
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a sequence",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// The machine's hostname.
pub fn system_hostname() -> Result<String, String> {
    nix::unistd::gethostname()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|h| format!("hostname {h:?} is not UTF-8"))
}
