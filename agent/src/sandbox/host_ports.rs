//! A pod's host ports as the CNI `portMappings` capability takes them: every app container's
//! `ports[]` entry with a `hostPort` (the kubelet's `MakePortMappings` → CRI → containerd),
//! protocol lower case (default tcp), `hostIP` as written (empty: every address). Init
//! containers' ports are not mapped, as with the kubelet.

use k8s_openapi::api::core::v1::PodSpec;

use crate::cni::PortMapping;

/// The host ports of `spec`'s app containers.
pub fn port_mappings(spec: &PodSpec) -> Vec<PortMapping> {
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = p.host_port.filter(|h| *h > 0)?;
            Some(PortMapping {
                host_port,
                container_port: p.container_port,
                protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// `8080/TCP, 127.0.0.1:9090/UDP` for messages.
pub fn describe(ports: &[PortMapping]) -> String {
    ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                String::new()
            } else {
                format!("{}:", p.host_ip)
            };
            format!("{ip}{}/{}", p.host_port, p.protocol.to_ascii_uppercase())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_of_app_containers() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "initContainers": [{"name": "i", "ports": [{"containerPort": 1, "hostPort": 1}]}],
            "containers": [
                {"name": "a", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 81},
                    {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"}
                ]},
                {"name": "b"}
            ]
        }))
        .unwrap();
        let m = port_mappings(&spec);
        assert_eq!(
            m,
            vec![
                PortMapping {
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_ip: String::new()
                },
                PortMapping {
                    host_port: 5353,
                    container_port: 53,
                    protocol: "udp".into(),
                    host_ip: "127.0.0.1".into()
                },
            ]
        );
        assert_eq!(describe(&m), "8080/TCP, 127.0.0.1:5353/UDP");
    }
}
