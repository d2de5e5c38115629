//! A k8s `Probe` resolved for one running container: the handler with its target (host
//! defaults to the pod IP, or localhost for hostNetwork pods; ports by number or by the
//! container's port name) and the timing fields with Kubernetes defaults.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    Http {
        https: bool,
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Exec {
        command: Vec<String>,
    },
    Grpc {
        host: String,
        port: u16,
        service: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub handler: Handler,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// Probe-level terminationGracePeriodSeconds (liveness/startup kills).
    pub termination_grace: Option<i64>,
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(v.filter(|s| *s > 0).unwrap_or(default).max(0) as u64)
}

fn resolve_port(p: &IntOrString, container: &Container, field: &str) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{field}: port {n} out of range")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .and_then(|cp| u16::try_from(cp.container_port).ok())
                .ok_or_else(|| format!("{field}: no container port named {name:?}"))
        }
    }
}

impl ProbeSpec {
    /// Resolve `probe` of `container`; `pod_ip` is the default host ("127.0.0.1" for
    /// hostNetwork pods). `field` names the probe for errors (`spec.containers[0].livenessProbe`).
    pub fn from_k8s(
        probe: &Probe,
        container: &Container,
        pod_ip: &str,
        field: &str,
    ) -> Result<ProbeSpec, String> {
        let handler = if let Some(h) = &probe.http_get {
            Handler::Http {
                https: h
                    .scheme
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS")),
                host: h
                    .host
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| pod_ip.to_string()),
                port: resolve_port(&h.port, container, &format!("{field}.httpGet.port"))?,
                path: h
                    .path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into()),
                headers: h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
            }
        } else if let Some(t) = &probe.tcp_socket {
            Handler::Tcp {
                host: t
                    .host
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| pod_ip.to_string()),
                port: resolve_port(&t.port, container, &format!("{field}.tcpSocket.port"))?,
            }
        } else if let Some(e) = &probe.exec {
            Handler::Exec {
                command: e.command.clone().unwrap_or_default(),
            }
        } else if let Some(g) = &probe.grpc {
            Handler::Grpc {
                host: pod_ip.to_string(),
                port: u16::try_from(g.port)
                    .map_err(|_| format!("{field}.grpc.port: {} out of range", g.port))?,
                service: g.service.clone().filter(|s| !s.is_empty()),
            }
        } else {
            return Err(format!("{field}: must specify a handler type"));
        };
        Ok(ProbeSpec {
            handler,
            initial_delay: Duration::from_secs(
                probe.initial_delay_seconds.unwrap_or(0).max(0) as u64
            ),
            period: secs(probe.period_seconds, 10),
            timeout: secs(probe.timeout_seconds, 1),
            success_threshold: probe.success_threshold.filter(|n| *n > 0).unwrap_or(1) as u32,
            failure_threshold: probe.failure_threshold.filter(|n| *n > 0).unwrap_or(3) as u32,
            termination_grace: probe.termination_grace_period_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, TCPSocketAction};

    #[test]
    fn defaults_and_named_ports() {
        let c = Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        let p = Probe {
            http_get: Some(HTTPGetAction {
                port: IntOrString::String("http".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s =
            ProbeSpec::from_k8s(&p, &c, "10.244.1.5", "spec.containers[0].livenessProbe").unwrap();
        assert_eq!(
            s.handler,
            Handler::Http {
                https: false,
                host: "10.244.1.5".into(),
                port: 8080,
                path: "/".into(),
                headers: vec![]
            }
        );
        assert_eq!(
            (
                s.period,
                s.timeout,
                s.success_threshold,
                s.failure_threshold
            ),
            (Duration::from_secs(10), Duration::from_secs(1), 1, 3)
        );
        let p = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("nope".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = ProbeSpec::from_k8s(&p, &c, "x", "spec.containers[0].readinessProbe").unwrap_err();
        assert_eq!(
            e,
            "spec.containers[0].readinessProbe.tcpSocket.port: no container port named \"nope\""
        );
        assert!(ProbeSpec::from_k8s(&Probe::default(), &c, "x", "p").is_err());
    }
}
