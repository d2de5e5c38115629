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
    /// Also serve the API over plain TCP at this address; off (`None`) by default. Unlike the
    /// socket it has no access control: bind it to loopback or a trusted network only.
    pub api_tcp_address: Option<std::net::SocketAddr>,
    /// The node's IP (pods' `status.hostIP`); `None` = detected at start (see `node_ip`).
    pub node_ip: Option<std::net::IpAddr>,
    /// Cgroup under which pods are created; `None` = the agent's own cgroup.
    pub cgroup_root: Option<PathBuf>,
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

/// Command-line flags of the configuration; flatten into a binary's clap parser.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFlags {
    /// Configuration file [default: /etc/nodelet/config.yaml, if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of static pod manifests [default: /etc/kubernetes/manifests].
    #[arg(long, value_name = "DIR")]
    pub static_pod_path: Option<PathBuf>,
    /// Node name [default: the hostname, lowercased].
    #[arg(long)]
    pub node_name: Option<String>,
    /// State directory [default: /var/lib/nodelet].
    #[arg(long, value_name = "DIR")]
    pub root_dir: Option<PathBuf>,
    /// Container log directory [default: /var/log/pods].
    #[arg(long, value_name = "DIR")]
    pub pod_logs_dir: Option<PathBuf>,
    /// Runtime directory [default: /run/nodelet].
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// API socket [default: /run/nodelet/nodelet.sock].
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,
    /// Also serve the API over TCP at this address, like 127.0.0.1:10255 [default: off].
    #[arg(long, value_name = "ADDR")]
    pub api_tcp_address: Option<String>,
    /// The node's IP, reported as pods' hostIP [default: the source address of the default route].
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<String>,
    /// Cgroup for pods [default: nodelet's own cgroup].
    #[arg(long, value_name = "PATH")]
    pub cgroup_root: Option<PathBuf>,
    /// Maximum number of pods [default: 110].
    #[arg(long)]
    pub max_pods: Option<String>,
    /// Most processes (pids) per pod, the kubelet's podPidsLimit; -1 = unlimited [default: -1].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pod_max_pids: Option<String>,
    /// Container log size that triggers rotation, a quantity like 10Mi [default: 10Mi].
    #[arg(long)]
    pub container_log_max_size: Option<String>,
    /// Log files kept per container [default: 5].
    #[arg(long)]
    pub container_log_max_files: Option<String>,
    /// Container instances whose logs are kept [default: 5].
    #[arg(long)]
    pub container_log_max_instances: Option<String>,
    /// CNI configuration directory [default: /etc/cni/net.d].
    #[arg(long, value_name = "DIR")]
    pub cni_conf_dir: Option<PathBuf>,
    /// CNI plugin directory [default: /opt/cni/bin].
    #[arg(long, value_name = "DIR")]
    pub cni_bin_dir: Option<PathBuf>,
    /// First crash-loop back-off delay, a duration like 10s [default: 10s].
    #[arg(long)]
    pub crash_loop_back_off_initial: Option<String>,
    /// Longest crash-loop back-off delay [default: 300s].
    #[arg(long)]
    pub crash_loop_back_off_max: Option<String>,
    /// Running this long without failing resets the back-off [default: 2 × max = 600s].
    #[arg(long)]
    pub crash_loop_back_off_reset: Option<String>,
    /// Period of the full rescan of the static pod path [default: 20s].
    #[arg(long)]
    pub file_check_frequency: Option<String>,
}

/// A scalar written as a string or a number in the file (`maxPods: 110`, `"10Mi"`).
#[derive(Debug, Clone)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileCrashLoopBackOff {
    initial: Option<Scalar>,
    max: Option<Scalar>,
    reset: Option<Scalar>,
}

/// The file as written; every key optional.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    api_version: Option<String>,
    kind: Option<String>,
    static_pod_path: Option<PathBuf>,
    node_name: Option<String>,
    root_dir: Option<PathBuf>,
    pod_logs_dir: Option<PathBuf>,
    run_dir: Option<PathBuf>,
    api_socket: Option<PathBuf>,
    api_tcp_address: Option<String>,
    #[serde(rename = "nodeIP")]
    node_ip: Option<String>,
    cgroup_root: Option<PathBuf>,
    max_pods: Option<Scalar>,
    pod_pids_limit: Option<Scalar>,
    container_log_max_size: Option<Scalar>,
    container_log_max_files: Option<Scalar>,
    container_log_max_instances: Option<Scalar>,
    cni_conf_dir: Option<PathBuf>,
    cni_bin_dir: Option<PathBuf>,
    crash_loop_back_off: Option<FileCrashLoopBackOff>,
    file_check_frequency: Option<Scalar>,
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

    /// Builds the configuration from a file's text (if any), the flags and a hostname source.
    pub fn from_parts(
        file: Option<(&Path, &str)>,
        flags: &ConfigFlags,
        hostname: &dyn Fn() -> Result<String, String>,
    ) -> Result<Config, ConfigError> {
        let (fc, origin_file) = match file {
            Some((path, text)) => (parse_file(path, text)?, Some(path.to_path_buf())),
            None => (FileConfig::default(), None),
        };
        let file_origin = || Origin::File(origin_file.clone().unwrap_or_default());
        let invalid = |origin: Origin, key: &str, reason: String| ConfigError::Invalid {
            origin,
            key: key.to_string(),
            reason,
        };

        // Picks the flag, else the file value, with the origin for error messages.
        macro_rules! pick {
            ($flag:expr, $flagname:literal, $file:expr) => {
                match ($flag.clone(), $file) {
                    (Some(v), _) => Some((v, Origin::Flag($flagname))),
                    (None, Some(v)) => Some((v, file_origin())),
                    (None, None) => None,
                }
            };
        }
        let path_value = |v: Option<(PathBuf, Origin)>,
                          key: &str,
                          default: &str|
         -> Result<PathBuf, ConfigError> {
            match v {
                None => Ok(PathBuf::from(default)),
                Some((p, origin)) => {
                    if p.is_absolute() {
                        Ok(p)
                    } else {
                        Err(invalid(
                            origin,
                            key,
                            format!(
                                "must be an absolute path, got {:?}",
                                p.display().to_string()
                            ),
                        ))
                    }
                }
            }
        };

        let fcl = fc.crash_loop_back_off.unwrap_or_default();
        let scalar = |s: Option<Scalar>| s.map(|s| s.0);

        let mut cfg = Config {
            config_file: origin_file.clone(),
            static_pod_path: path_value(
                pick!(flags.static_pod_path, "static-pod-path", fc.static_pod_path),
                "staticPodPath",
                "/etc/kubernetes/manifests",
            )?,
            node_name: String::new(),
            root_dir: path_value(
                pick!(flags.root_dir, "root-dir", fc.root_dir),
                "rootDir",
                "/var/lib/nodelet",
            )?,
            pod_logs_dir: path_value(
                pick!(flags.pod_logs_dir, "pod-logs-dir", fc.pod_logs_dir),
                "podLogsDir",
                "/var/log/pods",
            )?,
            run_dir: path_value(
                pick!(flags.run_dir, "run-dir", fc.run_dir),
                "runDir",
                "/run/nodelet",
            )?,
            api_socket: path_value(
                pick!(flags.api_socket, "api-socket", fc.api_socket),
                "apiSocket",
                DEFAULT_API_SOCKET,
            )?,
            api_tcp_address: None,
            node_ip: None,
            cgroup_root: None,
            max_pods: 110,
            pod_pids_limit: None,
            container_log_max_size: 10 * 1024 * 1024,
            container_log_max_files: 5,
            container_log_max_instances: crate::logs::DEFAULT_MAX_INSTANCES as u32,
            cni_conf_dir: path_value(
                pick!(flags.cni_conf_dir, "cni-conf-dir", fc.cni_conf_dir),
                "cniConfDir",
                "/etc/cni/net.d",
            )?,
            cni_bin_dir: path_value(
                pick!(flags.cni_bin_dir, "cni-bin-dir", fc.cni_bin_dir),
                "cniBinDir",
                "/opt/cni/bin",
            )?,
            crash_loop_back_off: CrashLoopBackOff {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(300),
                reset: Duration::from_secs(600),
            },
            file_check_frequency: Duration::from_secs(20),
        };

        if let Some((p, origin)) = pick!(flags.cgroup_root, "cgroup-root", fc.cgroup_root) {
            if !p.is_absolute() {
                return Err(invalid(
                    origin,
                    "cgroupRoot",
                    format!(
                        "must be an absolute cgroup path like /nodelet, got {:?}",
                        p.display().to_string()
                    ),
                ));
            }
            cfg.cgroup_root = Some(p);
        }

        let node = match pick!(flags.node_name, "node-name", fc.node_name) {
            Some((n, origin)) => {
                let errs = names::dns1123_subdomain(&n);
                if !errs.is_empty() {
                    return Err(invalid(
                        origin,
                        "nodeName",
                        format!("{n:?}: {}", errs.join("; ")),
                    ));
                }
                n
            }
            None => {
                let h = hostname().map_err(ConfigError::Hostname)?.to_lowercase();
                let errs = names::dns1123_subdomain(&h);
                if !errs.is_empty() {
                    return Err(ConfigError::Hostname(format!("{h:?}: {}", errs.join("; "))));
                }
                h
            }
        };
        cfg.node_name = node;

        if let Some((a, origin)) =
            pick!(flags.api_tcp_address, "api-tcp-address", fc.api_tcp_address)
        {
            let addr = a.parse::<std::net::SocketAddr>().map_err(|_| {
                invalid(
                    origin,
                    "apiTcpAddress",
                    format!("{a:?}: must be an IP address and port, like 127.0.0.1:10255"),
                )
            })?;
            cfg.api_tcp_address = Some(addr);
        }
        if let Some((a, origin)) = pick!(flags.node_ip, "node-ip", fc.node_ip) {
            let ip = a.parse::<std::net::IpAddr>().map_err(|_| {
                invalid(
                    origin.clone(),
                    "nodeIP",
                    format!("{a:?}: must be an IPv4 or IPv6 address"),
                )
            })?;
            if ip.is_unspecified() {
                return Err(invalid(
                    origin,
                    "nodeIP",
                    format!("{a:?}: must be a specific address"),
                ));
            }
            cfg.node_ip = Some(ip);
        }

        let int = |v: Option<(String, Origin)>,
                   key: &str,
                   min: u32|
         -> Result<Option<u32>, ConfigError> {
            match v {
                None => Ok(None),
                Some((s, origin)) => match s.trim().parse::<u32>() {
                    Ok(n) if n >= min => Ok(Some(n)),
                    Ok(n) => Err(invalid(
                        origin,
                        key,
                        format!("must be at least {min}, got {n}"),
                    )),
                    Err(_) => Err(invalid(
                        origin,
                        key,
                        format!("must be a whole number, got {s:?}"),
                    )),
                },
            }
        };
        if let Some(n) = int(
            pick!(flags.max_pods, "max-pods", scalar(fc.max_pods)),
            "maxPods",
            1,
        )? {
            cfg.max_pods = n;
        }
        if let Some((s, origin)) = pick!(
            flags.pod_max_pids,
            "pod-max-pids",
            scalar(fc.pod_pids_limit)
        ) {
            cfg.pod_pids_limit = match s.trim().parse::<i64>() {
                Ok(-1) => None,
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(invalid(
                        origin,
                        "podPidsLimit",
                        format!("must be -1 (unlimited) or a positive whole number, got {s:?}"),
                    ));
                }
            };
        }
        if let Some(n) = int(
            pick!(
                flags.container_log_max_files,
                "container-log-max-files",
                scalar(fc.container_log_max_files)
            ),
            "containerLogMaxFiles",
            2,
        )? {
            cfg.container_log_max_files = n;
        }
        if let Some(n) = int(
            pick!(
                flags.container_log_max_instances,
                "container-log-max-instances",
                scalar(fc.container_log_max_instances)
            ),
            "containerLogMaxInstances",
            1,
        )? {
            cfg.container_log_max_instances = n;
        }
        if let Some((s, origin)) = pick!(
            flags.container_log_max_size,
            "container-log-max-size",
            scalar(fc.container_log_max_size)
        ) {
            let q = Quantity::parse(&s).map_err(|e| {
                invalid(origin.clone(), "containerLogMaxSize", format!("{s:?}: {e}"))
            })?;
            if q.value() <= 0 {
                return Err(invalid(
                    origin,
                    "containerLogMaxSize",
                    format!("{s:?}: must be greater than 0"),
                ));
            }
            cfg.container_log_max_size = q.value() as u64;
        }

        let dur = |v: Option<(String, Origin)>,
                   key: &str|
         -> Result<Option<(Duration, Origin)>, ConfigError> {
            match v {
                None => Ok(None),
                Some((s, origin)) => match parse_duration(&s) {
                    Ok(d) if d.is_zero() => Err(invalid(
                        origin,
                        key,
                        format!("{s:?}: must be greater than 0"),
                    )),
                    Ok(d) => Ok(Some((d, origin))),
                    Err(e) => Err(invalid(origin, key, e.to_string())),
                },
            }
        };
        if let Some((d, _)) = dur(
            pick!(
                flags.file_check_frequency,
                "file-check-frequency",
                scalar(fc.file_check_frequency)
            ),
            "fileCheckFrequency",
        )? {
            cfg.file_check_frequency = d;
        }
        let initial = dur(
            pick!(
                flags.crash_loop_back_off_initial,
                "crash-loop-back-off-initial",
                scalar(fcl.initial)
            ),
            "crashLoopBackOff.initial",
        )?;
        let max = dur(
            pick!(
                flags.crash_loop_back_off_max,
                "crash-loop-back-off-max",
                scalar(fcl.max)
            ),
            "crashLoopBackOff.max",
        )?;
        if let Some((d, _)) = initial {
            cfg.crash_loop_back_off.initial = d;
        }
        let reset = dur(
            pick!(
                flags.crash_loop_back_off_reset,
                "crash-loop-back-off-reset",
                scalar(fcl.reset)
            ),
            "crashLoopBackOff.reset",
        )?;
        if let Some((d, _)) = &max {
            cfg.crash_loop_back_off.max = *d;
        }
        cfg.crash_loop_back_off.reset = match reset {
            Some((d, _)) => d,
            None => cfg.crash_loop_back_off.max * 2,
        };
        if cfg.crash_loop_back_off.max < cfg.crash_loop_back_off.initial {
            let origin = max.map(|(_, o)| o).unwrap_or_else(file_origin);
            return Err(invalid(
                origin,
                "crashLoopBackOff.max",
                format!(
                    "{} is shorter than crashLoopBackOff.initial ({})",
                    format_duration(cfg.crash_loop_back_off.max),
                    format_duration(cfg.crash_loop_back_off.initial)
                ),
            ));
        }
        Ok(cfg)
    }
}

/// Parses and checks the file's structure: YAML syntax, known keys, types, apiVersion, kind.
fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let origin = || Origin::File(path.to_path_buf());
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    let mut failed_path: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize::<_, Option<FileConfig>>(de).map_err(|e| {
            failed_path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    let fc = match result {
        // An empty file (or only comments) means all defaults.
        Ok(None) => return Ok(FileConfig::default()),
        Ok(Some(fc)) => fc,
        Err(e) => {
            // serde_path_to_error writes "." or "?" when no key is involved (syntax errors).
            let key = failed_path
                .filter(|p| p != "." && p != "?")
                .unwrap_or_default();
            // The message ends with "at line L, column C".
            let reason = e.without_snippet().to_string();
            return Err(ConfigError::Invalid {
                origin: origin(),
                key,
                reason: reason.trim().to_string(),
            });
        }
    };
    match fc.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(ConfigError::Invalid {
                origin: origin(),
                key: "apiVersion".into(),
                reason: format!("unsupported value {other:?}, expected {API_VERSION:?}"),
            });
        }
        None => {
            return Err(ConfigError::Invalid {
                origin: origin(),
                key: "apiVersion".into(),
                reason: format!("required: {API_VERSION}"),
            });
        }
    }
    match fc.kind.as_deref() {
        Some(KIND) => {}
        other => {
            return Err(ConfigError::Invalid {
                origin: origin(),
                key: "kind".into(),
                reason: match other {
                    Some(k) => format!("unsupported value {k:?}, expected {KIND:?}"),
                    None => format!("required: {KIND}"),
                },
            });
        }
    }
    Ok(fc)
}

/// The machine's hostname.
pub fn system_hostname() -> Result<String, String> {
    nix::unistd::gethostname()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|h| format!("hostname {h:?} is not UTF-8"))
}
