//! The node's labels and reserved resources as configured (the kubelet's `--node-labels`,
//! `systemReserved`, `kubeReserved`): the default labels (`kubernetes.io/hostname`,
//! `kubernetes.io/os`, `kubernetes.io/arch` and their `beta.` twins) with the user's on top,
//! the reserved amounts, and the allocatable resources admission checks pods against.
//! Parsing and checks only; `config` calls these and names the file or flag in errors.

use std::collections::BTreeMap;

use nodelet_objects::names;
use nodelet_objects::quantity::Quantity;

use crate::admission::{NODE_OS, Usage};
use crate::podspec::NodeResources;

/// Go's `GOARCH` for this build's architecture (what `kubernetes.io/arch` holds).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The labels every node has, as the kubelet sets them.
pub fn default_labels(node_name: &str) -> BTreeMap<String, String> {
    [
        ("kubernetes.io/hostname", node_name),
        ("kubernetes.io/os", NODE_OS),
        ("kubernetes.io/arch", go_arch()),
        ("beta.kubernetes.io/os", NODE_OS),
        ("beta.kubernetes.io/arch", go_arch()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `k1=v1,k2=v2` (the kubelet's `--node-labels` and `--system-reserved` syntax) → pairs.
pub fn parse_pairs(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: must be key=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Checks label keys (qualified names) and values; the first problem as `key: reason`.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        if let Some(e) = names::qualified_name(k).first() {
            return Err(format!("{k:?}: invalid label key: {e}"));
        }
        if let Some(e) = names::label_value(v).first() {
            return Err(format!("{k:?}: invalid label value {v:?}: {e}"));
        }
    }
    Ok(())
}

/// Reserved cpu, memory and pids (`cpu: 500m`, `memory: 1Gi`, `pid: 1000`); other
/// resources are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserved {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pids: i64,
}

/// Reads a `systemReserved`/`kubeReserved` map; errors name the resource and the reason.
pub fn reserved(map: &BTreeMap<String, String>) -> Result<Reserved, String> {
    let mut r = Reserved::default();
    for (k, v) in map {
        let q = Quantity::parse(v).map_err(|e| format!("{k}: {v:?}: {e}"))?;
        if q.is_negative() {
            return Err(format!("{k}: {v:?}: must not be negative"));
        }
        match k.as_str() {
            "cpu" => r.cpu_millis = q.milli_value(),
            "memory" => r.memory_bytes = q.value(),
            "pid" => r.pids = q.value(),
            other => {
                return Err(format!(
                    "{other}: unsupported resource (cpu, memory and pid can be reserved)"
                ));
            }
        }
    }
    Ok(r)
}

/// The pids pods may use together (the kubelet's pid allocatable, enforced as `pids.max` of
/// the cgroup that holds the pods): `capacity` − the reserved pids; None when nothing is
/// reserved.
pub fn allocatable_pids(capacity: i64, reserved: &[Reserved]) -> Option<i64> {
    let r: i64 = reserved.iter().map(|r| r.pids).sum();
    (r > 0).then(|| (capacity - r).max(1))
}

/// Allocatable = capacity − systemReserved − kubeReserved (never below zero); pods = maxPods.
pub fn allocatable(capacity: NodeResources, max_pods: u32, reserved: &[Reserved]) -> Usage {
    let cpu: i64 = reserved.iter().map(|r| r.cpu_millis).sum();
    let mem: i64 = reserved.iter().map(|r| r.memory_bytes).sum();
    Usage {
        pods: i64::from(max_pods),
        cpu_millis: (capacity.cpu_millis - cpu).max(0),
        memory_bytes: (capacity.memory_bytes - mem).max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_labels_and_reserved() {
        let p = parse_pairs("a=1, example.com/b = x,").unwrap();
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert_eq!(p.get("example.com/b").map(String::as_str), Some("x"));
        assert!(parse_pairs("novalue").unwrap_err().contains("key=value"));
        assert!(check_labels(&p).is_ok());
        let bad: BTreeMap<String, String> = [("a b".to_string(), "x".to_string())].into();
        assert!(
            check_labels(&bad)
                .unwrap_err()
                .contains("invalid label key")
        );
        let bad: BTreeMap<String, String> = [("a".to_string(), "x y".to_string())].into();
        assert!(
            check_labels(&bad)
                .unwrap_err()
                .contains("invalid label value")
        );
        let r = reserved(&parse_pairs("cpu=500m,memory=1Gi").unwrap()).unwrap();
        assert_eq!(
            r,
            Reserved {
                cpu_millis: 500,
                memory_bytes: 1 << 30,
                pids: 0
            }
        );
        assert_eq!(reserved(&parse_pairs("pid=10").unwrap()).unwrap().pids, 10);
        assert!(
            reserved(&parse_pairs("hugepages-2Mi=10").unwrap())
                .unwrap_err()
                .contains("unsupported resource")
        );
        let p = Reserved {
            pids: 100,
            ..Default::default()
        };
        assert_eq!(allocatable_pids(4096, &[p, p]), Some(3896));
        assert_eq!(allocatable_pids(4096, &[Reserved::default()]), None);
        assert!(reserved(&parse_pairs("cpu=lots").unwrap()).is_err());
        let cap = NodeResources {
            cpu_millis: 2000,
            memory_bytes: 4 << 30,
            ephemeral_storage_bytes: 0,
        };
        let a = allocatable(cap, 110, &[r, r]);
        assert_eq!(
            a,
            Usage {
                pods: 110,
                cpu_millis: 1000,
                memory_bytes: 2 << 30
            }
        );
        let labels = default_labels("node1");
        assert_eq!(labels["kubernetes.io/hostname"], "node1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
    }
}
