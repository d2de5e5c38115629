//! The v1 `Node` this node shows as (`kubectl get/describe node`) and the v1 `Namespace`s it
//! lists. The node's facts (name, IP, maxPods, start time) come from the agent
//! ([`NodeFacts`]); capacity, kernel and OS from the machine at the time of the request
//! (`/proc/meminfo`, `uname`, `/etc/os-release`, the CPUs this process may use).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Namespace, NamespaceStatus, Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo, Pod,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// What the agent knows about its node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub name: String,
    pub ip: Option<IpAddr>,
    pub max_pods: u32,
    /// When the agent started (the node's creation and heartbeat times).
    pub started: jiff::Timestamp,
    /// Extra node labels (from the configuration).
    pub labels: BTreeMap<String, String>,
    /// The pressure conditions (MemoryPressure, DiskPressure, PIDPressure) as the node's
    /// eviction manager set them; a type missing here is reported False since the start.
    /// A `Ready` condition here replaces the default True one (a node shutting down).
    pub conditions: Vec<NodeCondition>,
}

impl Default for NodeFacts {
    fn default() -> Self {
        NodeFacts {
            name: "localhost".into(),
            ip: None,
            max_pods: 110,
            started: jiff::Timestamp::now(),
            labels: BTreeMap::new(),
            conditions: Vec::new(),
        }
    }
}

/// The machine, read from the kernel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Machine {
    pub cpus: usize,
    pub memory_kib: u64,
    pub kernel: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub ephemeral_kib: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` of a `/proc/meminfo` text, in KiB.
pub fn mem_total_kib(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `PRETTY_NAME` of an os-release text.
pub fn pretty_name(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

impl Machine {
    pub fn read() -> Machine {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let ephemeral_kib = nix::sys::statvfs::statvfs("/")
            .map(|s| s.blocks() * s.fragment_size() / 1024)
            .unwrap_or(0);
        Machine {
            cpus,
            memory_kib: mem_total_kib(&read("/proc/meminfo")),
            kernel: read("/proc/sys/kernel/osrelease"),
            os_image: pretty_name(&read("/etc/os-release")),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            ephemeral_kib,
        }
    }
}

/// `(busy, total)` jiffies of the `cpu` line of a `/proc/stat` text.
pub fn cpu_jiffies(stat: &str) -> (u64, u64) {
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// The node's CPU use in nanocores (a 250 ms sample) and memory in use in KiB
/// (MemTotal − MemAvailable). Blocking.
pub fn usage() -> (u64, u64) {
    let (b0, t0) = cpu_jiffies(&read("/proc/stat"));
    std::thread::sleep(std::time::Duration::from_millis(250));
    let (b1, t1) = cpu_jiffies(&read("/proc/stat"));
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let cpu = if t1 > t0 {
        (b1.saturating_sub(b0)) * cpus * 1_000_000_000 / (t1 - t0)
    } else {
        0
    };
    let meminfo = read("/proc/meminfo");
    let avail = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, mem_total_kib(&meminfo).saturating_sub(avail))
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, t: &Time) -> NodeCondition {
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(jiff::Timestamp::now())),
        last_transition_time: Some(t.clone()),
    }
}

/// The node object.
pub fn node(f: &NodeFacts, m: &Machine) -> Node {
    let arch = super::discovery::go_arch();
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
        ("kubernetes.io/hostname", f.name.as_str()),
        ("kubernetes.io/os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.extend(f.labels.clone());
    let started = Time(f.started);
    let capacity: BTreeMap<String, Quantity> = [
        ("cpu", m.cpus.to_string()),
        ("ephemeral-storage", format!("{}Ki", m.ephemeral_kib)),
        ("memory", format!("{}Ki", m.memory_kib)),
        ("pods", f.max_pods.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    let mut addresses = vec![];
    if let Some(ip) = f.ip {
        addresses.push(NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        });
    }
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: f.name.clone(),
    });
    Node {
        metadata: ObjectMeta {
            name: Some(f.name.clone()),
            uid: Some(format!("node-{}", f.name)),
            labels: Some(labels),
            annotations: Some(
                [("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string())].into(),
            ),
            creation_timestamp: Some(started.clone()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(addresses),
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some({
                let mut cs: Vec<NodeCondition> = [
                    (
                        "MemoryPressure",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    (
                        "DiskPressure",
                        "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure",
                    ),
                    (
                        "PIDPressure",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                ]
                .into_iter()
                .map(|(t, reason, message)| {
                    f.conditions
                        .iter()
                        .find(|c| c.type_ == t)
                        .cloned()
                        .unwrap_or_else(|| condition(t, "False", reason, message, &started))
                })
                .collect();
                // Ready unless the agent says otherwise (a node shutting down).
                cs.push(
                    f.conditions
                        .iter()
                        .find(|c| c.type_ == "Ready")
                        .cloned()
                        .unwrap_or_else(|| {
                            condition(
                                "Ready",
                                "True",
                                "KubeletReady",
                                "kubelet is posting ready status",
                                &started,
                            )
                        }),
                );
                cs
            }),
            node_info: Some(NodeSystemInfo {
                architecture: arch.into(),
                boot_id: m.boot_id.clone(),
                container_runtime_version: format!("noderun://{}", env!("CARGO_PKG_VERSION")),
                kernel_version: m.kernel.clone(),
                kube_proxy_version: String::new(),
                kubelet_version: super::discovery::git_version(),
                machine_id: m.machine_id.clone(),
                operating_system: "linux".into(),
                os_image: m.os_image.clone(),
                system_uuid: m.machine_id.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// `n` without its conditions' heartbeat times (which change on every read).
pub fn without_heartbeats(mut n: Node) -> Node {
    if let Some(cs) = n.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        for c in cs {
            c.last_heartbeat_time = None;
        }
    }
    n
}

/// The namespaces: `default`, `kube-node-lease`, `kube-public`, `kube-system` and every
/// namespace that has a pod, oldest pod's creation as the namespace's.
pub fn namespaces(pods: &[Pod], started: jiff::Timestamp) -> Vec<Namespace> {
    let mut names: BTreeSet<String> = ["default", "kube-node-lease", "kube-public", "kube-system"]
        .into_iter()
        .map(str::to_string)
        .collect();
    for p in pods {
        names.insert(
            p.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    names.into_iter().map(|n| namespace(&n, started)).collect()
}

pub fn namespace(name: &str, created: jiff::Timestamp) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("namespace-{name}")),
            labels: Some([("kubernetes.io/metadata.name".to_string(), name.to_string())].into()),
            creation_timestamp: Some(Time(created)),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        spec: None,
        status: Some(NamespaceStatus {
            phase: Some("Active".into()),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_has_kubelet_conditions_addresses_and_capacity() {
        let f = NodeFacts {
            name: "node1".into(),
            ip: Some("10.0.0.5".parse().unwrap()),
            ..Default::default()
        };
        let m = Machine {
            cpus: 2,
            memory_kib: 4000000,
            ..Default::default()
        };
        let n = serde_json::to_value(node(&f, &m)).unwrap();
        assert_eq!(n["status"]["addresses"][0]["address"], "10.0.0.5");
        assert_eq!(n["status"]["capacity"]["cpu"], "2");
        assert_eq!(n["status"]["capacity"]["memory"], "4000000Ki");
        assert_eq!(n["status"]["capacity"]["pods"], "110");
        assert_eq!(n["status"]["conditions"][3]["type"], "Ready");
        assert_eq!(n["status"]["conditions"][3]["status"], "True");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "node1");
        // The agent's Ready condition (a node shutting down) replaces the default one.
        let f = NodeFacts {
            conditions: vec![NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KubeletNotReady".into()),
                message: Some("node is shutting down".into()),
                ..Default::default()
            }],
            ..f
        };
        let n = serde_json::to_value(node(&f, &m)).unwrap();
        let cs = n["status"]["conditions"].as_array().unwrap();
        assert_eq!(cs.len(), 4);
        assert_eq!(cs[3]["type"], "Ready");
        assert_eq!(cs[3]["status"], "False");
        assert_eq!(cs[3]["message"], "node is shutting down");
    }

    #[test]
    fn machine_texts() {
        assert_eq!(
            mem_total_kib("MemTotal:       8021504 kB\nMemFree: 1 kB"),
            8021504
        );
        assert_eq!(
            pretty_name("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
    }

    #[test]
    fn namespaces_with_pods_and_the_defaults() {
        let p: Pod = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "a", "namespace": "web"}}),
        )
        .unwrap();
        let ns: Vec<String> = namespaces(&[p], jiff::Timestamp::now())
            .into_iter()
            .map(|n| n.metadata.name.unwrap())
            .collect();
        assert_eq!(
            ns,
            [
                "default",
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "web"
            ]
        );
    }
}
