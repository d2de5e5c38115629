//! The pod's IPs from a CNI result: 0.3.0 and later (`ips[]` with an optional `interface`
//! index into `interfaces[]`) and 0.1/0.2 (`ip4.ip`, `ip6.ip`). Only addresses on the pod's
//! interface (in the sandbox) count when the result says which interface they are on. IPv4
//! addresses come first; the first one is the pod IP.

use std::net::IpAddr;

use serde_json::Value;

/// The pod's addresses in `result` for interface `ifname`, IPv4 first.
pub fn pod_ips(result: &Value, ifname: &str) -> Result<Vec<IpAddr>, String> {
    let mut ips = vec![];
    if let Some(list) = result.get("ips").and_then(Value::as_array) {
        let ifaces = result.get("interfaces").and_then(Value::as_array);
        for (i, ip) in list.iter().enumerate() {
            if let Some(idx) = ip.get("interface").and_then(Value::as_u64) {
                let iface = usize::try_from(idx)
                    .ok()
                    .and_then(|idx| ifaces.and_then(|f| f.get(idx)))
                    .ok_or_else(|| format!("ips[{i}].interface: {idx} is not in interfaces"))?;
                let name = iface.get("name").and_then(Value::as_str).unwrap_or("");
                let sandbox = iface.get("sandbox").and_then(Value::as_str).unwrap_or("");
                if name != ifname || sandbox.is_empty() {
                    continue;
                }
            }
            let addr = ip
                .get("address")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("ips[{i}].address: missing"))?;
            ips.push(parse_cidr(addr).map_err(|e| format!("ips[{i}].address: {e}"))?);
        }
    } else {
        for key in ["ip4", "ip6"] {
            if let Some(a) = result
                .get(key)
                .and_then(|v| v.get("ip"))
                .and_then(Value::as_str)
            {
                ips.push(parse_cidr(a).map_err(|e| format!("{key}.ip: {e}"))?);
            }
        }
    }
    ips.sort_by_key(|ip| ip.is_ipv6());
    Ok(ips)
}

/// The address of `a.b.c.d/nn` (or `::1/64`).
fn parse_cidr(s: &str) -> Result<IpAddr, String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not an address/prefix"))?;
    let ip: IpAddr = addr
        .parse()
        .map_err(|e| format!("{s:?}: bad address: {e}"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match len.parse::<u8>() {
        Ok(n) if n <= max => Ok(ip),
        _ => Err(format!("{s:?}: bad prefix length")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bridge_style_result() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                {"name": "veth1", "mac": "aa:bb:cc:dd:ee:fe"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:fd", "sandbox": "/run/netns/x"}
            ],
            "ips": [
                {"address": "fd00::5/64", "interface": 2},
                {"address": "10.244.1.5/24", "gateway": "10.244.1.1", "interface": 2},
                {"address": "10.9.9.9/24", "interface": 0}
            ]
        });
        let ips = pod_ips(&r, "eth0").unwrap();
        assert_eq!(
            ips,
            vec![
                "10.244.1.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn no_interface_index_and_old_versions() {
        let r = json!({"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.2/16"}]});
        assert_eq!(
            pod_ips(&r, "eth0").unwrap(),
            vec!["10.1.0.2".parse::<IpAddr>().unwrap()]
        );
        let r = json!({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.3/16"}});
        assert_eq!(
            pod_ips(&r, "eth0").unwrap(),
            vec!["10.1.0.3".parse::<IpAddr>().unwrap()]
        );
        assert!(pod_ips(&json!({}), "eth0").unwrap().is_empty());
    }

    #[test]
    fn bad_results_are_named() {
        let r = json!({"ips":[{"address":"10.1.0.2"}]});
        assert!(
            pod_ips(&r, "eth0")
                .unwrap_err()
                .starts_with("ips[0].address")
        );
        let r = json!({"ips":[{"address":"10.1.0.2/24","interface":3}],"interfaces":[]});
        assert!(
            pod_ips(&r, "eth0")
                .unwrap_err()
                .starts_with("ips[0].interface")
        );
    }
}
