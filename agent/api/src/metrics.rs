//! nodelet's Prometheus metrics: the metric families (named after the kubelet's, with the
//! `nodelet_` prefix) and the `Metrics` handle the pod manager and prober update. `/metrics`
//! serves `Metrics::encode` (OpenMetrics text).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub container_state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContainerLabels {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub probe_type: String,
    pub result: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeTypeLabels {
    pub probe_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation_type: String,
}

type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn probe_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn operation_histogram() -> Histogram {
    // The kubelet's runtime operation buckets: 5 ms … ~5 min.
    Histogram::new(exponential_buckets(0.005, 2.5, 13))
}

/// Buckets of the pod start latency (the kubelet's `pod_start_duration_seconds`).
pub const POD_START_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];

/// Probe outcome labels, as the kubelet's `prober_probe_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Successful,
    Failed,
    Unknown,
}

impl ProbeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Successful => "successful",
            ProbeResult::Failed => "failed",
            ProbeResult::Unknown => "unknown",
        }
    }
}

/// All of nodelet's metrics. Cheap to update from any thread; share it in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pods: Family<PhaseLabels, Gauge>,
    containers: Family<StateLabels, Gauge>,
    restarts: Family<ContainerLabels, Counter>,
    probes: Family<ProbeLabels, Counter>,
    probe_duration: HistFamily<ProbeTypeLabels>,
    pod_start: Histogram,
    operation_duration: HistFamily<OperationLabels>,
    operation_errors: Family<OperationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nodelet");
        let pods = Family::<PhaseLabels, Gauge>::default();
        registry.register("pods", "Pods on this node by phase", pods.clone());
        let containers = Family::<StateLabels, Gauge>::default();
        registry.register(
            "containers",
            "Containers on this node by state (waiting, running, terminated)",
            containers.clone(),
        );
        let restarts = Family::<ContainerLabels, Counter>::default();
        registry.register("container_restarts", "Container restarts", restarts.clone());
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "prober_probe",
            "Probe runs by probe type and result",
            probes.clone(),
        );
        let probe_duration: HistFamily<ProbeTypeLabels> =
            Family::new_with_constructor(probe_histogram);
        registry.register_with_unit(
            "prober_probe_duration",
            "Time a probe took",
            Unit::Seconds,
            probe_duration.clone(),
        );
        let pod_start = Histogram::new(POD_START_BUCKETS);
        registry.register_with_unit(
            "pod_start_duration",
            "Time from seeing a pod to all its containers running",
            Unit::Seconds,
            pod_start.clone(),
        );
        let operation_duration: HistFamily<OperationLabels> =
            Family::new_with_constructor(operation_histogram);
        registry.register_with_unit(
            "runtime_operations_duration",
            "Duration of runtime operations by type",
            Unit::Seconds,
            operation_duration.clone(),
        );
        let operation_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "runtime_operations_errors",
            "Failed runtime operations by type",
            operation_errors.clone(),
        );
        Metrics {
            registry,
            pods,
            containers,
            restarts,
            probes,
            probe_duration,
            pod_start,
            operation_duration,
            operation_errors,
        }
    }

    /// Replace the pods-by-phase gauges (phases not listed are dropped).
    pub fn set_pods_by_phase<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        self.pods.clear();
        for (phase, n) in counts {
            self.pods
                .get_or_create(&PhaseLabels {
                    phase: phase.to_string(),
                })
                .set(n);
        }
    }

    /// Replace the containers-by-state gauges (`waiting`, `running`, `terminated`, ...).
    pub fn set_containers_by_state<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        self.containers.clear();
        for (state, n) in counts {
            self.containers
                .get_or_create(&StateLabels {
                    container_state: state.to_string(),
                })
                .set(n);
        }
    }

    /// A container was restarted.
    pub fn container_restarted(&self, namespace: &str, pod: &str, container: &str) {
        self.restarts
            .get_or_create(&ContainerLabels {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                container: container.to_string(),
            })
            .inc();
    }

    /// One probe run: `probe_type` is `Liveness`, `Readiness` or `Startup`.
    pub fn probe(
        &self,
        probe_type: &str,
        result: ProbeResult,
        namespace: &str,
        pod: &str,
        container: &str,
        took: Duration,
    ) {
        self.probes
            .get_or_create(&ProbeLabels {
                probe_type: probe_type.to_string(),
                result: result.as_str().to_string(),
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                container: container.to_string(),
            })
            .inc();
        self.probe_duration
            .get_or_create(&ProbeTypeLabels {
                probe_type: probe_type.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// A pod's containers all run, `latency` after the pod was first seen.
    pub fn pod_started(&self, latency: Duration) {
        self.pod_start.observe(latency.as_secs_f64());
    }

    /// A runtime operation (`create_container`, `start_container`, `stop_container`,
    /// `run_sandbox`, `pull_image`, ...) took `took`, and failed unless `ok`.
    pub fn runtime_operation(&self, operation: &str, took: Duration, ok: bool) {
        let labels = OperationLabels {
            operation_type: operation.to_string(),
        };
        self.operation_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if !ok {
            self.operation_errors.get_or_create(&labels).inc();
        }
    }

    /// Drop the per-container series of a removed pod.
    pub fn forget_pod(&self, namespace: &str, pod: &str, containers: &[&str]) {
        for c in containers {
            let l = ContainerLabels {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                container: c.to_string(),
            };
            self.restarts.remove(&l);
            for probe_type in ["Liveness", "Readiness", "Startup"] {
                for r in [
                    ProbeResult::Successful,
                    ProbeResult::Failed,
                    ProbeResult::Unknown,
                ] {
                    self.probes.remove(&ProbeLabels {
                        probe_type: probe_type.to_string(),
                        result: r.as_str().to_string(),
                        namespace: namespace.to_string(),
                        pod: pod.to_string(),
                        container: c.to_string(),
                    });
                }
            }
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Content type of `Metrics::encode`'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
