//! `nodectl top pods`: container CPU and memory from cgroups, served in the shape of
//! metrics-server's `metrics.k8s.io/v1beta1` PodMetrics, and kubectl's `top pod` table.
//!
//! Each running container's cgroup (from its noderun state, so v1 and v2 alike) gives the CPU
//! time used (`cpuacct.usage` / `cpu.stat usage_usec`) and the working set (usage minus
//! inactive file pages, as the kubelet computes it). CPU is a rate, so it needs two samples:
//! nodelet keeps each container's last sample, and a request uses it as the window's start when
//! it is between [`MIN_WINDOW`] and [`MAX_SAMPLE_AGE`] old (repeated `top` calls measure the
//! time between them, like metrics-server's scrape window); otherwise the request samples again
//! after [`SECOND_SAMPLE_DELAY`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";
/// A kept sample younger than this is too short a window; sample again instead.
pub const MIN_WINDOW: Duration = Duration::from_millis(500);
/// A kept sample older than this is stale.
pub const MAX_SAMPLE_AGE: Duration = Duration::from_secs(120);
/// The wait between two samples taken for one request.
pub const SECOND_SAMPLE_DELAY: Duration = Duration::from_millis(250);

/// One container's usage: `cpu` in nanocores (`"1234n"`), `memory` in Ki (`"2048Ki"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    pub name: String,
    pub usage: BTreeMap<String, String>,
}

/// metrics.k8s.io PodMetrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// End of the measurement window (RFC 3339).
    pub timestamp: String,
    /// Length of the window, Go duration (`"250ms"`, `"12.5s"`).
    pub window: String,
    pub containers: Vec<ContainerMetrics>,
}

/// A pod to measure and where its containers' runtime state is.
#[derive(Debug, Clone)]
pub struct Target {
    pub pod: Pod,
    pub runtime_root: PathBuf,
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    cpu_ns: u64,
}

/// The last CPU sample of every container measured, keyed by runtime id.
#[derive(Debug, Default)]
pub struct Sampler {
    prev: Mutex<HashMap<String, CpuSample>>,
}

/// Running containers of `pod`: (name, runtime id).
fn running_containers(pod: &Pod) -> Vec<(String, String)> {
    let Some(st) = pod.status.as_ref() else {
        return vec![];
    };
    st.container_statuses
        .iter()
        .flatten()
        .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .filter_map(|c| {
            let id = c.container_id.as_deref()?.split_once("://")?.1;
            (!id.is_empty()).then(|| (c.name.clone(), id.to_string()))
        })
        .collect()
}

/// (CPU time in ns, working set in bytes) of container `id`, None when it has no cgroup
/// stats (gone, or a controller missing).
pub fn read_usage(runtime_root: &Path, id: &str) -> Option<(u64, u64)> {
    let saved = noderun::state::Saved::load(runtime_root, id).ok()?;
    let st = saved.cgroup.stats().ok()?;
    Some((st.cpu_usage_ns?, st.memory_working_set?))
}

/// Nanocores used between two samples.
pub fn nanocores(cpu0: u64, t0: Instant, cpu1: u64, t1: Instant) -> u64 {
    let dt = t1.saturating_duration_since(t0).as_nanos();
    if dt == 0 {
        return 0;
    }
    let used = u128::from(cpu1.saturating_sub(cpu0));
    u64::try_from(used * 1_000_000_000 / dt).unwrap_or(u64::MAX)
}

struct Measured {
    pod: usize,
    name: String,
    id: String,
    start: Option<CpuSample>,
    end: CpuSample,
    working_set: u64,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CpuSample>> {
        self.prev.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// PodMetrics of every target with at least one measurable running container. Blocking:
    /// reads cgroup files and may sleep [`SECOND_SAMPLE_DELAY`]; run it off the async threads.
    pub fn collect(&self, targets: &[Target]) -> Vec<PodMetrics> {
        let mut measured = vec![];
        for (i, t) in targets.iter().enumerate() {
            for (name, id) in running_containers(&t.pod) {
                if let Some((cpu_ns, ws)) = read_usage(&t.runtime_root, &id) {
                    let now = CpuSample {
                        at: Instant::now(),
                        cpu_ns,
                    };
                    let start = self.lock().get(&id).copied().filter(|p| {
                        let age = now.at.saturating_duration_since(p.at);
                        (MIN_WINDOW..=MAX_SAMPLE_AGE).contains(&age) && p.cpu_ns <= cpu_ns
                    });
                    measured.push(Measured {
                        pod: i,
                        name,
                        id,
                        start,
                        end: now,
                        working_set: ws,
                    });
                }
            }
        }
        if measured.iter().any(|m| m.start.is_none()) {
            std::thread::sleep(SECOND_SAMPLE_DELAY);
            for m in measured.iter_mut().filter(|m| m.start.is_none()) {
                if let Some((cpu_ns, ws)) = read_usage(&targets[m.pod].runtime_root, &m.id) {
                    m.start = Some(m.end);
                    m.end = CpuSample {
                        at: Instant::now(),
                        cpu_ns,
                    };
                    m.working_set = ws;
                }
            }
        }
        {
            let mut prev = self.lock();
            let now = Instant::now();
            prev.retain(|_, s| now.saturating_duration_since(s.at) <= MAX_SAMPLE_AGE);
            for m in &measured {
                prev.insert(m.id.clone(), m.end);
            }
        }
        let stamp = jiff::Timestamp::now().to_string();
        let mut out: Vec<PodMetrics> = vec![];
        for (i, t) in targets.iter().enumerate() {
            let mine: Vec<&Measured> = measured
                .iter()
                .filter(|m| m.pod == i && m.start.is_some())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut window = Duration::ZERO;
            let containers = mine
                .iter()
                .map(|m| {
                    let s = m.start.unwrap_or(m.end);
                    window = window.max(m.end.at.saturating_duration_since(s.at));
                    ContainerMetrics {
                        name: m.name.clone(),
                        usage: usage(
                            nanocores(s.cpu_ns, s.at, m.end.cpu_ns, m.end.at),
                            m.working_set,
                        ),
                    }
                })
                .collect();
            let md = &t.pod.metadata;
            out.push(PodMetrics {
                api_version: API_VERSION.into(),
                kind: "PodMetrics".into(),
                metadata: ObjectMeta {
                    name: md.name.clone(),
                    namespace: md.namespace.clone(),
                    labels: md.labels.clone(),
                    creation_timestamp: md.creation_timestamp.clone(),
                    ..Default::default()
                },
                timestamp: stamp.clone(),
                window: nodelet_objects::duration::format_duration(Duration::from_millis(
                    window.as_millis().try_into().unwrap_or(u64::MAX),
                )),
                containers,
            });
        }
        out
    }
}

/// The usage map metrics-server sends.
pub fn usage(nanocores: u64, working_set: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cpu".to_string(), format!("{nanocores}n")),
        (
            "memory".to_string(),
            format!("{}Ki", working_set.div_ceil(1024)),
        ),
    ])
}

/// (millicores, MiB) of a usage map, kubectl's rounding: CPU up to the next millicore,
/// memory bytes / 2^20 rounded down.
pub fn usage_columns(u: &BTreeMap<String, String>) -> Result<(i64, i64), String> {
    let q = |k: &str| -> Result<nodelet_objects::quantity::Quantity, String> {
        let v = u.get(k).ok_or_else(|| format!("usage.{k}: missing"))?;
        nodelet_objects::quantity::Quantity::parse(v).map_err(|e| format!("usage.{k}: {v:?}: {e}"))
    };
    Ok((
        q("cpu")?.milli_value(),
        q("memory")?.value() / (1024 * 1024),
    ))
}

/// kubectl's `top pod` table: NAME CPU(cores) MEMORY(bytes), NAMESPACE first with `-A`; with
/// `containers`, one row per container (POD NAME ...).
pub fn table(
    items: &[PodMetrics],
    all_namespaces: bool,
    containers: bool,
) -> Result<String, String> {
    let mut rows: Vec<Vec<String>> = vec![];
    let mut h = vec![];
    if all_namespaces {
        h.push("NAMESPACE");
    }
    if containers {
        h.push("POD");
    }
    h.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"]);
    rows.push(h.into_iter().map(str::to_string).collect());
    for p in items {
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = p.metadata.name.clone().unwrap_or_default();
        let mut per = vec![];
        for c in &p.containers {
            per.push((c.name.clone(), usage_columns(&c.usage)?));
        }
        let mut push = |cname: Option<&str>, cpu: i64, mem: i64| {
            let mut r = vec![];
            if all_namespaces {
                r.push(ns.clone());
            }
            r.push(name.clone());
            if let Some(c) = cname {
                r.push(c.to_string());
            }
            r.push(format!("{cpu}m"));
            r.push(format!("{mem}Mi"));
            rows.push(r);
        };
        if containers {
            for (c, (cpu, mem)) in &per {
                push(Some(c), *cpu, *mem);
            }
        } else {
            let cpu = per.iter().map(|(_, (c, _))| c).sum();
            let mem = per.iter().map(|(_, (_, m))| m).sum();
            push(None, cpu, mem);
        }
    }
    Ok(nodelet_objects::pod_table::render(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ns: &str, name: &str, cs: &[(&str, u64, u64)]) -> PodMetrics {
        PodMetrics {
            api_version: API_VERSION.into(),
            kind: "PodMetrics".into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            timestamp: "2026-11-22T10:00:00Z".into(),
            window: "250ms".into(),
            containers: cs
                .iter()
                .map(|(n, cpu, mem)| ContainerMetrics {
                    name: n.to_string(),
                    usage: usage(*cpu, *mem),
                })
                .collect(),
        }
    }

    #[test]
    fn rate_from_two_samples() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        // 100 ms of CPU in 500 ms: 0.2 cores.
        assert_eq!(nanocores(0, t0, 100_000_000, t1), 200_000_000);
        assert_eq!(nanocores(5, t0, 5, t0), 0);
        assert_eq!(nanocores(10, t0, 5, t1), 0);
    }

    #[test]
    fn kubectl_rounding() {
        // 1234 nanocores is 1m (rounded up); 3.5 MiB is 3Mi.
        let u = usage(1234, 3 * 1024 * 1024 + 512 * 1024);
        assert_eq!(u["cpu"], "1234n");
        assert_eq!(u["memory"], "3584Ki");
        assert_eq!(usage_columns(&u).unwrap(), (1, 3));
        assert_eq!(usage_columns(&usage(0, 0)).unwrap(), (0, 0));
    }

    #[test]
    fn tables() {
        let items = vec![
            metrics(
                "default",
                "web-node1",
                &[("a", 12_000_000, 10 << 20), ("b", 1, 2 << 20)],
            ),
            metrics("kube-system", "dns-node1", &[("dns", 0, 7 << 20)]),
        ];
        assert_eq!(
            table(&items, false, false).unwrap(),
            "NAME        CPU(cores)   MEMORY(bytes)\n\
             web-node1   13m          12Mi\n\
             dns-node1   0m           7Mi\n"
        );
        assert_eq!(
            table(&items[..1], true, true).unwrap(),
            "NAMESPACE   POD         NAME   CPU(cores)   MEMORY(bytes)\n\
             default     web-node1   a      12m          10Mi\n\
             default     web-node1   b      1m           2Mi\n"
        );
    }

    #[test]
    fn bad_usage_names_the_field() {
        let mut u = usage(1, 1);
        u.insert("cpu".into(), "lots".into());
        assert!(
            usage_columns(&u)
                .unwrap_err()
                .starts_with("usage.cpu: \"lots\"")
        );
    }
}
