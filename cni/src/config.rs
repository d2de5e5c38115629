//! Network configuration: parses and validates the plugin config (from stdin, a .conf or a
//! .conflist file) into a typed [`NetConf`], naming the offending field in every error.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde_json::{Map, Value};

use crate::error::{CniError, Code, Result};
use crate::version::SpecVersion;

pub const PLUGIN_TYPE: &str = "nodenet";
pub const DEFAULT_BRIDGE: &str = "cni0";
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";
pub const DEFAULT_VNI: u32 = 1;
pub const DEFAULT_VXLAN_PORT: u16 = 8472;
pub const DEFAULT_VXLAN_DEVICE: &str = "nodenet.1";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/nodenet";
/// VXLAN over IPv4 costs 50 bytes: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
pub const VXLAN_OVERHEAD: u32 = 50;
/// MTU assumed for the underlay when the config names no underlay at all.
pub const FALLBACK_UNDERLAY_MTU: u32 = 1500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConf {
    pub vni: u32,
    pub port: u16,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub node_ip: Ipv4Addr,
    pub subnet: Ipv4Net,
}

impl Peer {
    /// The peer's VTEP address: the network address (.0) of its pod subnet.
    pub fn vtep(&self) -> Ipv4Addr {
        self.subnet.network()
    }
}

/// A (containerID, ifname) pair from `cni.dev/valid-attachments` (GC).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
}

/// The validated network configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    pub version: SpecVersion,
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Explicit pod MTU; None = underlay MTU - 50.
    pub mtu: Option<u32>,
    pub ip_masq: bool,
    pub hairpin: bool,
    pub cluster_cidr: Ipv4Net,
    pub vxlan: VxlanConf,
    pub node_ip: Option<Ipv4Addr>,
    pub underlay_interface: Option<String>,
    pub peers: Vec<Peer>,
    /// Directory of this network's leases: `<dataDir>/<name>`.
    pub data_dir: PathBuf,
    pub prev_result: Option<Value>,
    pub valid_attachments: Option<Vec<Attachment>>,
}

impl NetConf {
    /// Whether the VXLAN overlay is configured (a node IP or underlay interface is known).
    pub fn overlay(&self) -> bool {
        self.node_ip.is_some() || self.underlay_interface.is_some()
    }

    /// This node's VTEP address (.0 of its subnet).
    pub fn vtep(&self) -> Ipv4Addr {
        self.subnet.network()
    }

    /// Parse the config a runtime passes on stdin (one plugin's config).
    pub fn from_stdin(bytes: &[u8]) -> Result<NetConf> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            CniError::with_details(Code::Decode, "network config on stdin is not valid JSON", e)
        })?;
        let Value::Object(map) = value else {
            return Err(CniError::new(
                Code::Decode,
                "network config on stdin must be a JSON object",
            ));
        };
        parse_plugin(&map, None, None, "stdin")
    }

    /// Parse a `.conf` (single plugin) or `.conflist` file, picking the `nodenet` plugin.
    pub fn from_file(path: &Path) -> Result<NetConf> {
        let where_ = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| CniError::io(format!("reading network config {where_}"), e))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            CniError::with_details(
                Code::Decode,
                format!("network config {where_} is not valid JSON"),
                e,
            )
        })?;
        let Value::Object(map) = value else {
            return Err(CniError::new(
                Code::Decode,
                format!("network config {where_} must be a JSON object"),
            ));
        };
        let Some(plugins) = map.get("plugins") else {
            return parse_plugin(&map, None, None, &where_);
        };
        let Value::Array(plugins) = plugins else {
            return Err(CniError::config(
                "plugins",
                format!("must be a list ({where_})"),
            ));
        };
        let name = opt_str(&map, "name")?
            .ok_or_else(|| CniError::config("name", format!("missing in {where_}")))?;
        let version = match map.get("cniVersions") {
            Some(Value::Array(list)) => {
                let list: Vec<String> = list
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                SpecVersion::negotiate(&list).ok_or_else(|| {
                    CniError::new(
                        Code::IncompatibleVersion,
                        format!(
                            "network config field `cniVersions` in {where_}: none of {list:?} is supported"
                        ),
                    )
                })?
            }
            Some(_) => return Err(CniError::config("cniVersions", "must be a list of strings")),
            None => {
                let v = opt_str(&map, "cniVersion")?.ok_or_else(|| {
                    CniError::config("cniVersion", format!("missing in {where_}"))
                })?;
                SpecVersion::parse("cniVersion", &v)?
            }
        };
        for (i, p) in plugins.iter().enumerate() {
            let Value::Object(pm) = p else {
                return Err(CniError::config(
                    &format!("plugins[{i}]"),
                    "must be an object",
                ));
            };
            if pm.get("type").and_then(Value::as_str) == Some(PLUGIN_TYPE) {
                return parse_plugin(pm, Some(name), Some(version), &where_);
            }
        }
        Err(CniError::config(
            "plugins",
            format!("no plugin of type \"{PLUGIN_TYPE}\" in {where_}"),
        ))
    }
}

fn opt_str(map: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CniError::config(
            field,
            format!("must be a string, got {other}"),
        )),
    }
}

fn opt_bool(map: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(CniError::config(
            field,
            format!("must be true or false, got {other}"),
        )),
    }
}

fn opt_uint(map: &Map<String, Value>, field: &str, min: u64, max: u64) -> Result<Option<u64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(CniError::config(
                field,
                format!("must be an integer in {min}..={max}, got {v}"),
            )),
        },
    }
}

fn parse_cidr(field: &str, s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| CniError::config(field, format!("{s:?} is not an IPv4 CIDR (a.b.c.d/n)")))?;
    if net.network() != net.addr() {
        return Err(CniError::config(
            field,
            format!("{s:?} has host bits set (did you mean {}?)", net.trunc()),
        ));
    }
    Ok(net)
}

fn parse_ip(field: &str, s: &str) -> Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| CniError::config(field, format!("{s:?} is not an IPv4 address")))
}

/// Linux interface names: 1..=15 bytes, no '/', ':' or whitespace.
pub fn validate_ifname(field: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 15 || s == "." || s == ".." {
        return Err(CniError::config(
            field,
            format!("{s:?} is not a valid interface name (1 to 15 characters)"),
        ));
    }
    if s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(CniError::config(
            field,
            format!("{s:?} is not a valid interface name (no '/', ':' or spaces)"),
        ));
    }
    Ok(())
}

fn valid_network_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn parse_plugin(
    map: &Map<String, Value>,
    list_name: Option<String>,
    list_version: Option<SpecVersion>,
    where_: &str,
) -> Result<NetConf> {
    let version = match list_version {
        Some(v) => v,
        None => {
            let v = opt_str(map, "cniVersion")?
                .ok_or_else(|| CniError::config("cniVersion", format!("missing in {where_}")))?;
            SpecVersion::parse("cniVersion", &v)?
        }
    };
    let name = match list_name {
        Some(n) => n,
        None => opt_str(map, "name")?
            .ok_or_else(|| CniError::config("name", format!("missing in {where_}")))?,
    };
    if !valid_network_name(&name) {
        return Err(CniError::config(
            "name",
            format!(
                "{name:?} must start with a letter or digit and use only letters, digits, '_', '.', '-'"
            ),
        ));
    }
    match opt_str(map, "type")? {
        Some(t) if t == PLUGIN_TYPE => {}
        Some(t) => {
            return Err(CniError::config(
                "type",
                format!("is {t:?}, this plugin is {PLUGIN_TYPE:?}"),
            ));
        }
        None => return Err(CniError::config("type", format!("missing in {where_}"))),
    }
    if map.contains_key("ipam") {
        return Err(CniError::new(
            Code::UnsupportedField,
            "network config field `ipam`: nodenet allocates addresses itself; remove `ipam` and set `subnet`",
        ));
    }

    let bridge = opt_str(map, "bridge")?.unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
    validate_ifname("bridge", &bridge)?;

    let subnet_s = opt_str(map, "subnet")?.ok_or_else(|| {
        CniError::config(
            "subnet",
            format!("missing in {where_} (this node's pod subnet, e.g. 10.244.1.0/24)"),
        )
    })?;
    let subnet = parse_cidr("subnet", &subnet_s)?;
    if subnet.prefix_len() > 30 || subnet.prefix_len() < 8 {
        return Err(CniError::config(
            "subnet",
            format!("{subnet} must have a prefix length between /8 and /30"),
        ));
    }

    let gateway = match opt_str(map, "gateway")? {
        Some(g) => parse_ip("gateway", &g)?,
        None => Ipv4Addr::from(u32::from(subnet.network()) + 1),
    };
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(CniError::config(
            "gateway",
            format!("{gateway} must be a host address inside subnet {subnet}"),
        ));
    }

    let mtu = opt_uint(map, "mtu", 576, 65535)?.map(|m| m as u32);
    let ip_masq = opt_bool(map, "ipMasq")?.unwrap_or(true);
    let hairpin = opt_bool(map, "hairpinMode")?.unwrap_or(false);

    let cluster_cidr = match opt_str(map, "clusterCIDR")? {
        Some(c) => parse_cidr("clusterCIDR", &c)?,
        None => parse_cidr("clusterCIDR", DEFAULT_CLUSTER_CIDR)?,
    };
    if !cluster_cidr.contains(&subnet) {
        return Err(CniError::config(
            "subnet",
            format!("{subnet} is not inside clusterCIDR {cluster_cidr}"),
        ));
    }

    let vxlan = match map.get("vxlan") {
        None | Some(Value::Null) => VxlanConf {
            vni: DEFAULT_VNI,
            port: DEFAULT_VXLAN_PORT,
            device: DEFAULT_VXLAN_DEVICE.to_string(),
        },
        Some(Value::Object(v)) => {
            let vni = opt_uint(v, "vni", 1, 16_777_215)
                .map_err(|e| prefix_field(e, "vxlan."))?
                .unwrap_or(DEFAULT_VNI as u64) as u32;
            let port = opt_uint(v, "port", 1, 65535)
                .map_err(|e| prefix_field(e, "vxlan."))?
                .unwrap_or(DEFAULT_VXLAN_PORT as u64) as u16;
            let device = opt_str(v, "device")
                .map_err(|e| prefix_field(e, "vxlan."))?
                .unwrap_or_else(|| DEFAULT_VXLAN_DEVICE.to_string());
            validate_ifname("vxlan.device", &device)?;
            VxlanConf { vni, port, device }
        }
        Some(other) => {
            return Err(CniError::config(
                "vxlan",
                format!("must be an object, got {other}"),
            ));
        }
    };
    if vxlan.device == bridge {
        return Err(CniError::config(
            "vxlan.device",
            format!("{:?} is also the bridge name", vxlan.device),
        ));
    }

    let node_ip = opt_str(map, "nodeIP")?
        .map(|s| parse_ip("nodeIP", &s))
        .transpose()?;
    let underlay_interface = opt_str(map, "underlayInterface")?;
    if let Some(u) = &underlay_interface {
        validate_ifname("underlayInterface", u)?;
    }

    let peers = match map.get("peers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let mut peers: Vec<Peer> = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let field = format!("peers[{i}]");
                let Value::Object(pm) = p else {
                    return Err(CniError::config(
                        &field,
                        "must be an object {nodeIP, subnet}",
                    ));
                };
                let ip_s = opt_str(pm, "nodeIP")
                    .map_err(|e| prefix_field(e, &format!("{field}.")))?
                    .ok_or_else(|| CniError::config(&format!("{field}.nodeIP"), "missing"))?;
                let peer_ip = parse_ip(&format!("{field}.nodeIP"), &ip_s)?;
                let sn_s = opt_str(pm, "subnet")
                    .map_err(|e| prefix_field(e, &format!("{field}.")))?
                    .ok_or_else(|| CniError::config(&format!("{field}.subnet"), "missing"))?;
                let psub = parse_cidr(&format!("{field}.subnet"), &sn_s)?;
                if !cluster_cidr.contains(&psub) {
                    return Err(CniError::config(
                        &format!("{field}.subnet"),
                        format!("{psub} is not inside clusterCIDR {cluster_cidr}"),
                    ));
                }
                if psub.contains(&subnet.network()) || subnet.contains(&psub.network()) {
                    return Err(CniError::config(
                        &format!("{field}.subnet"),
                        format!("{psub} overlaps this node's subnet {subnet}"),
                    ));
                }
                if Some(peer_ip) == node_ip {
                    return Err(CniError::config(
                        &format!("{field}.nodeIP"),
                        format!("{peer_ip} is this node's own nodeIP"),
                    ));
                }
                if let Some(prev) = peers.iter().find(|q| {
                    q.node_ip == peer_ip
                        || q.subnet.contains(&psub.network())
                        || psub.contains(&q.subnet.network())
                }) {
                    return Err(CniError::config(
                        &field,
                        format!(
                            "{peer_ip} {psub} clashes with an earlier peer {} {}",
                            prev.node_ip, prev.subnet
                        ),
                    ));
                }
                peers.push(Peer {
                    node_ip: peer_ip,
                    subnet: psub,
                });
            }
            peers
        }
        Some(other) => {
            return Err(CniError::config(
                "peers",
                format!("must be a list, got {other}"),
            ));
        }
    };
    if !peers.is_empty() && node_ip.is_none() && underlay_interface.is_none() {
        return Err(CniError::config(
            "nodeIP",
            "peers are configured but neither `nodeIP` nor `underlayInterface` says which address carries the overlay",
        ));
    }

    let data_root = opt_str(map, "dataDir")?.unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
    if !data_root.starts_with('/') {
        return Err(CniError::config(
            "dataDir",
            format!("{data_root:?} must be an absolute path"),
        ));
    }
    let data_dir = Path::new(&data_root).join(&name);

    let prev_result = match map.get("prevResult") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            return Err(CniError::config(
                "prevResult",
                format!("must be an object, got {other}"),
            ));
        }
    };

    let valid_attachments = match map.get("cni.dev/valid-attachments") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut out = Vec::with_capacity(list.len());
            for (i, a) in list.iter().enumerate() {
                let field = format!("cni.dev/valid-attachments[{i}]");
                let cid = a.get("containerID").and_then(Value::as_str);
                let ifn = a.get("ifname").and_then(Value::as_str);
                match (cid, ifn) {
                    (Some(c), Some(f)) => out.push(Attachment {
                        container_id: c.to_string(),
                        ifname: f.to_string(),
                    }),
                    _ => {
                        return Err(CniError::config(
                            &field,
                            "needs string fields `containerID` and `ifname`",
                        ));
                    }
                }
            }
            Some(out)
        }
        Some(other) => {
            return Err(CniError::config(
                "cni.dev/valid-attachments",
                format!("must be a list, got {other}"),
            ));
        }
    };

    Ok(NetConf {
        version,
        name,
        bridge,
        subnet,
        gateway,
        mtu,
        ip_masq,
        hairpin,
        cluster_cidr,
        vxlan,
        node_ip,
        underlay_interface,
        peers,
        data_dir,
        prev_result,
        valid_attachments,
    })
}

fn prefix_field(mut e: CniError, prefix: &str) -> CniError {
    e.msg = e.msg.replacen("field `", &format!("field `{prefix}"), 1);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> Result<NetConf> {
        let s = format!(
            r#"{{"cniVersion":"1.0.0","name":"n","type":"nodenet","subnet":"10.244.1.0/24"{extra}}}"#
        );
        NetConf::from_stdin(s.as_bytes())
    }

    #[test]
    fn defaults() {
        let c = conf("").unwrap();
        assert_eq!(c.bridge, "cni0");
        assert_eq!(c.gateway, Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(c.vxlan.vni, 1);
        assert_eq!(c.vxlan.port, 8472);
        assert_eq!(c.vxlan.device, "nodenet.1");
        assert_eq!(c.cluster_cidr.to_string(), "10.244.0.0/16");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/cni/nodenet/n"));
        assert!(c.ip_masq);
        assert!(!c.overlay());
        assert_eq!(c.vtep(), Ipv4Addr::new(10, 244, 1, 0));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#","subnet":"10.244.1.0/33""#, "`subnet`", 7),
            (r#","subnet":"10.244.1.5/24""#, "`subnet`", 7),
            (r#","gateway":"10.244.2.1""#, "`gateway`", 7),
            (r#","mtu":"big""#, "`mtu`", 7),
            (r#","vxlan":{"vni":0}"#, "`vxlan.vni`", 7),
            (
                r#","vxlan":{"device":"waytoolonginterfacename"}"#,
                "`vxlan.device`",
                7,
            ),
            (
                r#","peers":[{"nodeIP":"1.2.3.4"}],"nodeIP":"1.2.3.5""#,
                "`peers[0].subnet`",
                7,
            ),
            (
                r#","peers":[{"nodeIP":"1.2.3.4","subnet":"10.244.1.0/24"}],"nodeIP":"1.2.3.5""#,
                "`peers[0].subnet`",
                7,
            ),
            (
                r#","peers":[{"nodeIP":"1.2.3.4","subnet":"10.244.2.0/24"}]"#,
                "`nodeIP`",
                7,
            ),
            (r#","clusterCIDR":"10.0.0.0/16""#, "`subnet`", 7),
            (r#","ipam":{"type":"host-local"}"#, "`ipam`", 2),
            (r#","dataDir":"rel/dir""#, "`dataDir`", 7),
        ];
        for (extra, field, code) in cases {
            let e = conf(extra).unwrap_err();
            assert!(e.msg.contains(field), "{extra}: {}", e.msg);
            assert_eq!(e.code as u32, code, "{extra}");
        }
        let e = NetConf::from_stdin(br#"{"cniVersion":"1.0.0","name":"n","type":"nodenet"}"#)
            .unwrap_err();
        assert!(e.msg.contains("`subnet`"));
        let e = NetConf::from_stdin(
            br#"{"cniVersion":"0.2.0","name":"n","type":"nodenet","subnet":"10.244.1.0/24"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::IncompatibleVersion);
        let e = NetConf::from_stdin(b"{not json").unwrap_err();
        assert_eq!(e.code, Code::Decode);
    }

    #[test]
    fn shipped_example_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nodenet.conflist");
        let c = NetConf::from_file(&p).unwrap();
        assert_eq!(c.version, SpecVersion::V110);
        assert_eq!(c.peers.len(), 2);
        assert!(c.hairpin && c.ip_masq && c.overlay());
        assert_eq!(c.underlay_interface.as_deref(), Some("eth1"));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/cni/nodenet/nodenet"));
    }

    #[test]
    fn conflist_picks_plugin_and_negotiates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.conflist");
        std::fs::write(
            &p,
            r#"{"cniVersion":"1.0.0","cniVersions":["0.4.0","1.1.0","9.0.0"],"name":"lab","plugins":[
                {"type":"nodenet","subnet":"10.244.3.0/24","nodeIP":"192.168.50.3",
                 "peers":[{"nodeIP":"192.168.50.4","subnet":"10.244.4.0/24"}]},
                {"type":"portmap"}]}"#,
        )
        .unwrap();
        let c = NetConf::from_file(&p).unwrap();
        assert_eq!(c.version, SpecVersion::V110);
        assert_eq!(c.name, "lab");
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.peers[0].vtep(), Ipv4Addr::new(10, 244, 4, 0));
        assert!(c.overlay());
    }
}
