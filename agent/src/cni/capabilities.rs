//! CNI capability arguments (`runtimeConfig`), as libcni injects them: a plugin gets a
//! capability's value only when its configuration declares that capability
//! (`"capabilities": {"portMappings": true}`). nodelet passes one: `portMappings`, the pod's
//! host ports (the kubelet's hostPort → CRI `PortMapping` → containerd's `cni.PortMapping`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::conf::NetworkConfigList;

/// The capability host ports need.
pub const PORT_MAPPINGS: &str = "portMappings";

/// One host port (`runtimeConfig.portMappings[]`), as containerd writes it: protocol in lower
/// case, `hostIP` empty for every address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: i32,
    pub container_port: i32,
    pub protocol: String,
    #[serde(rename = "hostIP")]
    pub host_ip: String,
}

/// Whether plugin `p` declares capability `cap`.
pub fn declares(p: &Map<String, Value>, cap: &str) -> bool {
    p.get("capabilities")
        .and_then(|c| c.get(cap))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Whether any plugin of `list` declares capability `cap`.
pub fn any_declares(list: &NetworkConfigList, cap: &str) -> bool {
    list.plugins.iter().any(|p| declares(p, cap))
}

/// Sets `runtimeConfig.portMappings` in plugin configuration `c` (built from `plugin`) when the
/// plugin declares the capability and there are mappings (libcni's `injectRuntimeConfig`).
pub fn inject(c: &mut Map<String, Value>, plugin: &Map<String, Value>, ports: &[PortMapping]) {
    if ports.is_empty() || !declares(plugin, PORT_MAPPINGS) {
        return;
    }
    let rc = c
        .entry("runtimeConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if !rc.is_object() {
        *rc = Value::Object(Map::new());
    }
    if let Some(rc) = rc.as_object_mut() {
        rc.insert(
            PORT_MAPPINGS.into(),
            serde_json::to_value(ports).unwrap_or(Value::Null),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plugins_that_declare_it_get_port_mappings() {
        let ports = vec![PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }];
        let with = json!({"type": "nodenet", "capabilities": {"portMappings": true}});
        let without = json!({"type": "tuning", "capabilities": {"portMappings": false}});
        let (with, without) = (
            with.as_object().unwrap().clone(),
            without.as_object().unwrap().clone(),
        );
        let mut c = with.clone();
        inject(&mut c, &with, &ports);
        assert_eq!(
            c["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]})
        );
        let mut c = without.clone();
        inject(&mut c, &without, &ports);
        assert!(c.get("runtimeConfig").is_none());
        let mut c = with.clone();
        inject(&mut c, &with, &[]);
        assert!(c.get("runtimeConfig").is_none());
        assert!(declares(&with, PORT_MAPPINGS) && !declares(&without, PORT_MAPPINGS));
    }
}
