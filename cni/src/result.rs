//! CNI ADD results: the interfaces/ips/routes this plugin made, rendered for the negotiated
//! spec version (0.4.0 adds `version` to IPs; 1.1.0 adds `mtu` to interfaces) and appended
//! to a chained `prevResult`.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::version::SpecVersion;

#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub mtu: u32,
    /// The netns path for interfaces inside the container.
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AddResult {
    pub interfaces: Vec<Interface>,
    /// (address, prefix, gateway, index into `interfaces`)
    pub ips: Vec<(Ipv4Addr, u8, Ipv4Addr, usize)>,
    /// (destination network, prefix, gateway)
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

impl AddResult {
    /// Render, appending to `prev` (a chained prevResult) when given.
    pub fn to_json(&self, version: SpecVersion, prev: Option<&Value>) -> Value {
        let mut interfaces: Vec<Value> = prev
            .and_then(|p| p.get("interfaces"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut ips: Vec<Value> = prev
            .and_then(|p| p.get("ips"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut routes: Vec<Value> = prev
            .and_then(|p| p.get("routes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let offset = interfaces.len();
        for i in &self.interfaces {
            let mut o = json!({ "name": i.name, "mac": i.mac });
            if version >= SpecVersion::V110 {
                o["mtu"] = json!(i.mtu);
            }
            if let Some(s) = &i.sandbox {
                o["sandbox"] = json!(s);
            }
            interfaces.push(o);
        }
        for (ip, prefix, gw, idx) in &self.ips {
            let mut o = json!({
                "address": format!("{ip}/{prefix}"),
                "gateway": gw.to_string(),
                "interface": idx + offset,
            });
            if version == SpecVersion::V040 {
                o["version"] = json!("4");
            }
            ips.push(o);
        }
        for (dst, prefix, gw) in &self.routes {
            routes.push(json!({ "dst": format!("{dst}/{prefix}"), "gw": gw.to_string() }));
        }
        let dns = prev
            .and_then(|p| p.get("dns"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        json!({
            "cniVersion": version.as_str(),
            "interfaces": interfaces,
            "ips": ips,
            "routes": routes,
            "dns": dns,
        })
    }
}

/// Addresses a (chained) prevResult assigns to the sandbox interface `ifname`.
pub fn prev_addresses(prev: &Value, ifname: &str) -> Vec<String> {
    let ifaces = prev
        .get("interfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    prev.get("ips")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter(|ip| {
                    ip.get("interface")
                        .and_then(Value::as_u64)
                        .and_then(|i| ifaces.get(i as usize))
                        .and_then(|i| i.get("name"))
                        .and_then(Value::as_str)
                        == Some(ifname)
                })
                .filter_map(|ip| {
                    ip.get("address")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AddResult {
        AddResult {
            interfaces: vec![
                Interface {
                    name: "cni0".into(),
                    mac: "aa".into(),
                    mtu: 1450,
                    sandbox: None,
                },
                Interface {
                    name: "eth0".into(),
                    mac: "bb".into(),
                    mtu: 1450,
                    sandbox: Some("/run/netns/x".into()),
                },
            ],
            ips: vec![(
                "10.244.1.2".parse().unwrap(),
                24,
                "10.244.1.1".parse().unwrap(),
                1,
            )],
            routes: vec![("0.0.0.0".parse().unwrap(), 0, "10.244.1.1".parse().unwrap())],
        }
    }

    #[test]
    fn versions_and_chaining() {
        let v = sample().to_json(SpecVersion::V040, None);
        assert_eq!(v["ips"][0]["version"], "4");
        assert!(v["interfaces"][0].get("mtu").is_none());
        let v = sample().to_json(SpecVersion::V110, None);
        assert_eq!(v["interfaces"][1]["mtu"], 1450);
        assert!(v["ips"][0].get("version").is_none());
        let prev = json!({"cniVersion":"1.1.0","interfaces":[{"name":"lo"}],"ips":[],"dns":{"nameservers":["10.96.0.10"]}});
        let v = sample().to_json(SpecVersion::V110, Some(&prev));
        assert_eq!(v["interfaces"].as_array().unwrap().len(), 3);
        assert_eq!(v["ips"][0]["interface"], 2);
        assert_eq!(v["dns"]["nameservers"][0], "10.96.0.10");
        assert_eq!(
            prev_addresses(&v, "eth0"),
            vec!["10.244.1.2/24".to_string()]
        );
    }
}
