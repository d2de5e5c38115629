//! Container CPU and memory from cgroups for `nodectl top pods`, as metrics-server's
//! `metrics.k8s.io/v1beta1` PodMetrics (`nodelet_objects::pod_metrics`; the table is nodectl's).
//!
//! Each running container's cgroup (from its noderun state, so v1 and v2 alike) gives the CPU
//! time used (`cpuacct.usage` / `cpu.stat usage_usec`) and the working set (usage minus
//! inactive file pages, as the kubelet computes it). CPU is a rate, so it needs two samples:
//! nodelet keeps each container's last sample, and a request uses it as the window's start when
//! it is between [`MIN_WINDOW`] and [`MAX_SAMPLE_AGE`] old (repeated `top` calls measure the
//! time between them, like metrics-server's scrape window); otherwise the request samples again
//! after [`SECOND_SAMPLE_DELAY`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodelet_objects::pod_metrics::{API_VERSION, ContainerMetrics, PodMetrics, usage};

/// A kept sample younger than this is too short a window; sample again instead.
pub const MIN_WINDOW: Duration = Duration::from_millis(500);
/// A kept sample older than this is stale.
pub const MAX_SAMPLE_AGE: Duration = Duration::from_secs(120);
/// The wait between two samples taken for one request.
pub const SECOND_SAMPLE_DELAY: Duration = Duration::from_millis(250);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_from_two_samples() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        // 100 ms of CPU in 500 ms: 0.2 cores.
        assert_eq!(nanocores(0, t0, 100_000_000, t1), 200_000_000);
        assert_eq!(nanocores(5, t0, 5, t0), 0);
        assert_eq!(nanocores(10, t0, 5, t1), 0);
    }
}
