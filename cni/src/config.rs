//! Network configuration: parses and validates the plugin config (from stdin, a .conf or a
//! .conflist file) into a typed [`NetConf`], naming the offending field in every error.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{CniError, Code, Result};
use crate::hostport::{PortMapping, Protocol};
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
    /// `runtimeConfig.portMappings` (the `portMappings` capability: containers' hostPorts).
    pub port_mappings: Vec<PortMapping>,
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
        if !map.contains_key("plugins") {
            return parse_plugin(&map, None, None, &where_);
        }
        let list: RawList = serde_path_to_error::deserialize(&map).map_err(|e| {
            let field = e.path().to_string();
            CniError::config(&field, format!("{} ({where_})", e.into_inner()))
        })?;
        let name = list
            .name
            .ok_or_else(|| CniError::config("name", format!("missing in {where_}")))?;
        let version = match (list.cni_versions, list.cni_version) {
            (Some(versions), _) => SpecVersion::negotiate(&versions).ok_or_else(|| {
                CniError::new(
                    Code::IncompatibleVersion,
                    format!(
                        "network config field `cniVersions` in {where_}: none of {versions:?} is supported"
                    ),
                )
            })?,
            (None, Some(v)) => SpecVersion::parse("cniVersion", &v)?,
            (None, None) => {
                return Err(CniError::config(
                    "cniVersion",
                    format!("missing in {where_}"),
                ));
            }
        };
        let ours = list
            .plugins
            .iter()
            .find(|p| p.get("type").and_then(Value::as_str) == Some(PLUGIN_TYPE))
            .ok_or_else(|| {
                CniError::config(
                    "plugins",
                    format!("no plugin of type \"{PLUGIN_TYPE}\" in {where_}"),
                )
            })?;
        parse_plugin(ours, Some(name), Some(version), &where_)
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

/// A `.conflist`: the list's name and version(s) and its plugin objects.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawList {
    cni_version: Option<String>,
    cni_versions: Option<Vec<String>>,
    name: Option<String>,
    plugins: Vec<Map<String, Value>>,
}

/// One plugin's configuration as written, before validation. Fields other plugins or the
/// runtime add (`capabilities`, `runtimeConfig`, `args`, ...) are ignored; `null` counts as
/// absent. Semantic checks happen in [`validate`], named by field.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlugin {
    cni_version: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
    ipam: Option<Value>,
    bridge: Option<String>,
    subnet: Option<String>,
    gateway: Option<String>,
    mtu: Option<u64>,
    ip_masq: Option<bool>,
    hairpin_mode: Option<bool>,
    #[serde(rename = "clusterCIDR")]
    cluster_cidr: Option<String>,
    vxlan: Option<RawVxlan>,
    #[serde(rename = "nodeIP")]
    node_ip: Option<String>,
    underlay_interface: Option<String>,
    peers: Option<Vec<RawPeer>>,
    data_dir: Option<String>,
    prev_result: Option<Map<String, Value>>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<RawAttachment>>,
    runtime_config: Option<RawRuntimeConfig>,
}

/// The capability arguments the runtime passes (`runtimeConfig`); only `portMappings` is
/// used, the rest is ignored as other plugins' business.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRuntimeConfig {
    port_mappings: Option<Vec<RawPortMapping>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPortMapping {
    host_port: u64,
    container_port: u64,
    protocol: Option<String>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawVxlan {
    vni: Option<u64>,
    port: Option<u64>,
    device: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawPeer {
    #[serde(rename = "nodeIP")]
    node_ip: Option<String>,
    subnet: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawAttachment {
    #[serde(rename = "containerID")]
    container_id: String,
    ifname: String,
}

/// Decodes one plugin object; a type error names the field's JSON path (`peers[0].nodeIP`).
fn parse_plugin(
    map: &Map<String, Value>,
    list_name: Option<String>,
    list_version: Option<SpecVersion>,
    where_: &str,
) -> Result<NetConf> {
    let raw: RawPlugin = serde_path_to_error::deserialize(map).map_err(|e| {
        let field = e.path().to_string();
        CniError::config(&field, e.into_inner())
    })?;
    validate(raw, list_name, list_version, where_)
}

/// The semantic checks of a decoded plugin config, in the order the fields depend on each other.
fn validate(
    raw: RawPlugin,
    list_name: Option<String>,
    list_version: Option<SpecVersion>,
    where_: &str,
) -> Result<NetConf> {
    let missing = |field: &str| CniError::config(field, format!("missing in {where_}"));
    let version = match list_version {
        Some(v) => v,
        None => SpecVersion::parse(
            "cniVersion",
            raw.cni_version
                .as_deref()
                .ok_or_else(|| missing("cniVersion"))?,
        )?,
    };
    let name = list_name.or(raw.name).ok_or_else(|| missing("name"))?;
    check_identity(
        &name,
        raw.plugin_type.as_deref(),
        raw.ipam.is_some(),
        where_,
    )?;

    let bridge = raw.bridge.unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
    validate_ifname("bridge", &bridge)?;
    let cluster_cidr = parse_cidr(
        "clusterCIDR",
        raw.cluster_cidr.as_deref().unwrap_or(DEFAULT_CLUSTER_CIDR),
    )?;
    let (subnet, gateway) = subnet_and_gateway(
        raw.subnet.as_deref(),
        raw.gateway.as_deref(),
        cluster_cidr,
        where_,
    )?;
    let mtu = match raw.mtu {
        Some(m) => Some(in_range("mtu", m, 576, 65535)? as u32),
        None => None,
    };
    let vxlan = vxlan(raw.vxlan.unwrap_or_default(), &bridge)?;
    let node_ip = raw.node_ip.map(|s| parse_ip("nodeIP", &s)).transpose()?;
    if let Some(u) = &raw.underlay_interface {
        validate_ifname("underlayInterface", u)?;
    }
    let peers = peers(raw.peers.unwrap_or_default(), subnet, cluster_cidr, node_ip)?;
    if !peers.is_empty() && node_ip.is_none() && raw.underlay_interface.is_none() {
        return Err(CniError::config(
            "nodeIP",
            "peers are configured but neither `nodeIP` nor `underlayInterface` says which address carries the overlay",
        ));
    }
    let data_root = raw.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
    if !data_root.starts_with('/') {
        return Err(CniError::config(
            "dataDir",
            format!("{data_root:?} must be an absolute path"),
        ));
    }
    let data_dir = Path::new(&data_root).join(&name);
    let port_mappings = port_mappings(
        raw.runtime_config
            .and_then(|r| r.port_mappings)
            .unwrap_or_default(),
    )?;
    let valid_attachments = raw.valid_attachments.map(|list| {
        list.into_iter()
            .map(|a| Attachment {
                container_id: a.container_id,
                ifname: a.ifname,
            })
            .collect()
    });

    Ok(NetConf {
        version,
        name,
        bridge,
        subnet,
        gateway,
        mtu,
        ip_masq: raw.ip_masq.unwrap_or(true),
        hairpin: raw.hairpin_mode.unwrap_or(false),
        cluster_cidr,
        vxlan,
        node_ip,
        underlay_interface: raw.underlay_interface,
        peers,
        data_dir,
        prev_result: raw.prev_result.map(Value::Object),
        valid_attachments,
        port_mappings,
    })
}

/// The network name's grammar, that this config is for this plugin, and no `ipam` section.
fn check_identity(name: &str, plugin_type: Option<&str>, ipam: bool, where_: &str) -> Result<()> {
    if !valid_network_name(name) {
        return Err(CniError::config(
            "name",
            format!(
                "{name:?} must start with a letter or digit and use only letters, digits, '_', '.', '-'"
            ),
        ));
    }
    match plugin_type {
        Some(PLUGIN_TYPE) => {}
        Some(t) => {
            return Err(CniError::config(
                "type",
                format!("is {t:?}, this plugin is {PLUGIN_TYPE:?}"),
            ));
        }
        None => return Err(CniError::config("type", format!("missing in {where_}"))),
    }
    if ipam {
        return Err(CniError::new(
            Code::UnsupportedField,
            "network config field `ipam`: nodenet allocates addresses itself; remove `ipam` and set `subnet`",
        ));
    }
    Ok(())
}

/// This node's pod subnet (inside the cluster CIDR, /8 to /30) and its gateway (default .1).
fn subnet_and_gateway(
    subnet: Option<&str>,
    gateway: Option<&str>,
    cluster_cidr: Ipv4Net,
    where_: &str,
) -> Result<(Ipv4Net, Ipv4Addr)> {
    let subnet_s = subnet.ok_or_else(|| {
        CniError::config(
            "subnet",
            format!("missing in {where_} (this node's pod subnet, e.g. 10.244.1.0/24)"),
        )
    })?;
    let subnet = parse_cidr("subnet", subnet_s)?;
    if subnet.prefix_len() > 30 || subnet.prefix_len() < 8 {
        return Err(CniError::config(
            "subnet",
            format!("{subnet} must have a prefix length between /8 and /30"),
        ));
    }
    let gateway = match gateway {
        Some(g) => parse_ip("gateway", g)?,
        None => Ipv4Addr::from(u32::from(subnet.network()) + 1),
    };
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(CniError::config(
            "gateway",
            format!("{gateway} must be a host address inside subnet {subnet}"),
        ));
    }
    if !cluster_cidr.contains(&subnet) {
        return Err(CniError::config(
            "subnet",
            format!("{subnet} is not inside clusterCIDR {cluster_cidr}"),
        ));
    }
    Ok((subnet, gateway))
}

/// The VXLAN device settings with their defaults; the device must not be the bridge.
fn vxlan(raw: RawVxlan, bridge: &str) -> Result<VxlanConf> {
    let vni = match raw.vni {
        Some(v) => in_range("vxlan.vni", v, 1, 16_777_215)? as u32,
        None => DEFAULT_VNI,
    };
    let port = match raw.port {
        Some(p) => in_range("vxlan.port", p, 1, 65535)? as u16,
        None => DEFAULT_VXLAN_PORT,
    };
    let device = raw
        .device
        .unwrap_or_else(|| DEFAULT_VXLAN_DEVICE.to_string());
    validate_ifname("vxlan.device", &device)?;
    if device == bridge {
        return Err(CniError::config(
            "vxlan.device",
            format!("{device:?} is also the bridge name"),
        ));
    }
    Ok(VxlanConf { vni, port, device })
}

/// The static peer list: each peer's subnet inside the cluster CIDR, apart from this node's
/// and from every earlier peer's, and no peer at this node's own address.
fn peers(
    raw: Vec<RawPeer>,
    subnet: Ipv4Net,
    cluster_cidr: Ipv4Net,
    node_ip: Option<Ipv4Addr>,
) -> Result<Vec<Peer>> {
    let mut peers: Vec<Peer> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let field = format!("peers[{i}]");
        let ip_field = format!("{field}.nodeIP");
        let subnet_field = format!("{field}.subnet");
        let ip_s = p
            .node_ip
            .ok_or_else(|| CniError::config(&ip_field, "missing"))?;
        let peer_ip = parse_ip(&ip_field, &ip_s)?;
        let sn_s = p
            .subnet
            .ok_or_else(|| CniError::config(&subnet_field, "missing"))?;
        let psub = parse_cidr(&subnet_field, &sn_s)?;
        if !cluster_cidr.contains(&psub) {
            return Err(CniError::config(
                &subnet_field,
                format!("{psub} is not inside clusterCIDR {cluster_cidr}"),
            ));
        }
        if psub.contains(&subnet.network()) || subnet.contains(&psub.network()) {
            return Err(CniError::config(
                &subnet_field,
                format!("{psub} overlaps this node's subnet {subnet}"),
            ));
        }
        if Some(peer_ip) == node_ip {
            return Err(CniError::config(
                &ip_field,
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
    Ok(peers)
}

/// `runtimeConfig.portMappings`: ports in range, a known protocol (default TCP), an IPv4
/// `hostIP` or none (`""` and `0.0.0.0` mean every address, as in the portmap plugin).
fn port_mappings(raw: Vec<RawPortMapping>) -> Result<Vec<PortMapping>> {
    raw.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let field = format!("runtimeConfig.portMappings[{i}]");
            let host_ip = match p.host_ip.as_deref() {
                None | Some("") | Some("0.0.0.0") => None,
                Some(ip) => Some(parse_ip(&format!("{field}.hostIP"), ip)?),
            };
            Ok(PortMapping {
                host_port: in_range(&format!("{field}.hostPort"), p.host_port, 1, 65535)? as u16,
                container_port: in_range(
                    &format!("{field}.containerPort"),
                    p.container_port,
                    1,
                    65535,
                )? as u16,
                protocol: match p.protocol.as_deref() {
                    None | Some("") => Protocol::Tcp,
                    Some(s) => Protocol::parse(&format!("{field}.protocol"), s)?,
                },
                host_ip,
            })
        })
        .collect()
}

fn in_range(field: &str, n: u64, min: u64, max: u64) -> Result<u64> {
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(CniError::config(
            field,
            format!("must be an integer in {min}..={max}, got {n}"),
        ))
    }
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
            (r#","vxlan":{"vni":"one"}"#, "`vxlan.vni`", 7),
            (r#","vxlan":[]"#, "`vxlan`", 7),
            (r#","peers":[{"nodeIP":5}]"#, "`peers[0].nodeIP`", 7),
            (r#","ipMasq":"yes""#, "`ipMasq`", 7),
            (r#","prevResult":[]"#, "`prevResult`", 7),
            (
                r#","cni.dev/valid-attachments":[{"containerID":"c"}]"#,
                "`cni.dev/valid-attachments[0]`",
                7,
            ),
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
