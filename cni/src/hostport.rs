//! Host ports (the CNI `portMappings` capability, which the kubelet uses for a container's
//! `hostPort`): connections to `hostPort` on any of the node's own addresses (or only on
//! `hostIP`) are DNATed to the pod's `containerPort`, from outside, from the node itself
//! (loopback included) and from pods (hairpin: a pod reaching itself through its host port).
//!
//! One nftables table per network, `nodenet_<name>_hostports`, apart from the masquerade
//! table (which ADD may recreate): two maps from (protocol, port) and (address, protocol,
//! port) to (pod IP, port), a set of the pods that have host ports (their DNATed traffic from
//! the pod subnet or loopback is masqueraded so replies come back through the node), and
//! NAT chains that jump to the lookup for local destinations only. Each ADD/DEL is one `nft -f`
//! batch, applied atomically; a port already mapped to another container fails the ADD with
//! the container that holds it.
//!
//! Written as nft's text syntax, not JSON through the `nftables` crate: nft 1.0.6 (Debian 12)
//! rejects concatenated map data types in JSON input ("Invalid map type 'ipv4_addr .
//! inet_service'"), and a map is what lets DEL remove one pod's ports by key, without rule
//! handles.
//!
//! What ADD mapped is recorded in `<dataDir>/<network>/hostports/<container>-<ifname>.json`
//! before the rules change, so DEL and GC remove exactly that even when the runtime passes no
//! `runtimeConfig` on DEL.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::config::NetConf;
use crate::error::{CniError, Code, Result};

/// A transport protocol a host port can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Case-insensitive, as the kubelet passes `TCP` and other runtimes `tcp`.
    pub fn parse(field: &str, s: &str) -> Result<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(CniError::config(
                field,
                format!("{s:?} is not a protocol (TCP, UDP or SCTP)"),
            )),
        }
    }

    fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// One validated entry of `runtimeConfig.portMappings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// Only connections to this node address; None = any of the node's addresses.
    pub host_ip: Option<Ipv4Addr>,
}

impl PortMapping {
    /// The map key: `tcp . 8080` or `192.0.2.1 . tcp . 8080`.
    fn key(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip} . {} . {}", self.protocol.nft(), self.host_port),
            None => format!("{} . {}", self.protocol.nft(), self.host_port),
        }
    }

    fn map(&self) -> &'static str {
        if self.host_ip.is_some() {
            "ipports"
        } else {
            "ports"
        }
    }

    fn describe(&self) -> String {
        match self.host_ip {
            Some(ip) => format!(
                "hostPort {}/{} on {ip}",
                self.host_port,
                self.protocol.upper()
            ),
            None => format!("hostPort {}/{}", self.host_port, self.protocol.upper()),
        }
    }

    /// Whether two mappings claim the same host port (a wildcard claims every address).
    fn clashes(&self, other: &PortMapping) -> bool {
        self.host_port == other.host_port
            && self.protocol == other.protocol
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

/// What one attachment mapped, as recorded for DEL and GC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub pod_ip: Ipv4Addr,
    pub mappings: Vec<PortMapping>,
}

/// The hostport table of network `name`.
pub fn table_name(name: &str) -> String {
    format!("{}_hostports", crate::masq::table_name(name))
}

fn records_dir(conf: &NetConf) -> PathBuf {
    conf.data_dir.join("hostports")
}

fn record_path(conf: &NetConf, container_id: &str, ifname: &str) -> PathBuf {
    records_dir(conf).join(format!("{container_id}-{ifname}.json"))
}

/// The batch that creates the table, maps and chains if missing and (re)writes the chains'
/// rules; the maps' elements are kept.
fn skeleton(conf: &NetConf) -> String {
    let t = table_name(&conf.name);
    let subnet = conf.subnet;
    format!(
        "add table ip {t}
add map ip {t} ports {{ type inet_proto . inet_service : ipv4_addr . inet_service ; }}
add map ip {t} ipports {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service ; }}
add set ip {t} pods {{ type ipv4_addr ; }}
add chain ip {t} hostports
add chain ip {t} prerouting {{ type nat hook prerouting priority -100 ; }}
add chain ip {t} output {{ type nat hook output priority -100 ; }}
add chain ip {t} postrouting {{ type nat hook postrouting priority 100 ; }}
flush chain ip {t} hostports
flush chain ip {t} prerouting
flush chain ip {t} output
flush chain ip {t} postrouting
add rule ip {t} prerouting fib daddr type local jump hostports
add rule ip {t} output fib daddr type local jump hostports
add rule ip {t} hostports dnat ip to ip daddr . meta l4proto . th dport map @ipports
add rule ip {t} hostports dnat ip to meta l4proto . th dport map @ports
add rule ip {t} postrouting ct status dnat ip saddr {subnet} ip daddr @pods masquerade
add rule ip {t} postrouting ct status dnat ip saddr 127.0.0.0/8 ip daddr @pods masquerade
"
    )
}

fn add_elements(conf: &NetConf, rec: &Record) -> String {
    let t = table_name(&conf.name);
    let mut s = format!("add element ip {t} pods {{ {} }}\n", rec.pod_ip);
    for m in &rec.mappings {
        s.push_str(&format!(
            "add element ip {t} {} {{ {} : {} . {} }}\n",
            m.map(),
            m.key(),
            rec.pod_ip,
            m.container_port
        ));
    }
    s
}

fn delete_elements(conf: &NetConf, rec: &Record) -> Vec<String> {
    let t = table_name(&conf.name);
    let mut out: Vec<String> = rec
        .mappings
        .iter()
        .map(|m| format!("delete element ip {t} {} {{ {} }}\n", m.map(), m.key()))
        .collect();
    out.push(format!("delete element ip {t} pods {{ {} }}\n", rec.pod_ip));
    out
}

/// Runs `nft -f -` with `script`; stderr's first line on failure.
fn nft(script: &str) -> std::result::Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("hostPort needs the `nft` program (Debian package nftables): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .next()
            .unwrap_or("nft failed")
            .trim()
            .to_string())
    }
}

fn read_record(path: &Path) -> Option<Record> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every record of the network but `except`'s, with its file name's attachment.
fn other_records(conf: &NetConf, except: &Path) -> Vec<(String, Record)> {
    let Ok(rd) = std::fs::read_dir(records_dir(conf)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path() != except)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner = name.strip_suffix(".json")?.to_string();
            Some((owner, read_record(&e.path())?))
        })
        .collect()
}

/// Maps `conf.port_mappings` to `pod_ip` for the attachment (ADD). Idempotent: an earlier
/// record of the same attachment is replaced.
pub fn add(conf: &NetConf, container_id: &str, ifname: &str, pod_ip: Ipv4Addr) -> Result<()> {
    let path = record_path(conf, container_id, ifname);
    let old = read_record(&path);
    if conf.port_mappings.is_empty() && old.is_none() {
        return Ok(());
    }
    let rec = Record {
        pod_ip,
        mappings: conf.port_mappings.clone(),
    };
    for (owner, other) in other_records(conf, &path) {
        if let Some(m) = rec
            .mappings
            .iter()
            .find(|m| other.mappings.iter().any(|o| o.clashes(m)))
        {
            return Err(CniError::new(
                Code::Firewall,
                format!(
                    "{} is already mapped to {} (attachment {owner})",
                    m.describe(),
                    other.pod_ip
                ),
            ));
        }
    }
    if let Some(old) = &old
        && old != &rec
    {
        remove_record_elements(conf, old);
    }
    if rec.mappings.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    std::fs::create_dir_all(records_dir(conf))
        .map_err(|e| CniError::io(format!("creating {}", records_dir(conf).display()), e))?;
    let body = serde_json::to_vec(&rec).unwrap_or_default();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| CniError::io(format!("writing {}", path.display()), e))?;
    // Loopback clients (127.0.0.1:hostPort on the node) are routed to the bridge only with
    // route_localnet, as the reference portmap plugin does.
    crate::sysctl::ensure(
        &format!("net/ipv4/conf/{}/route_localnet", conf.bridge),
        "1",
    )?;
    let script = skeleton(conf) + &add_elements(conf, &rec);
    nft(&script).map_err(|e| {
        let _ = std::fs::remove_file(&path);
        CniError::with_details(
            Code::Firewall,
            format!("mapping host ports for {container_id}"),
            e,
        )
    })
}

/// Removes the attachment's host ports (DEL); nothing recorded is nothing to do.
pub fn del(conf: &NetConf, container_id: &str, ifname: &str) -> Result<()> {
    let path = record_path(conf, container_id, ifname);
    let Some(rec) = read_record(&path) else {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    };
    remove_record_elements(conf, &rec);
    std::fs::remove_file(&path)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| CniError::io(format!("removing {}", path.display()), e))
}

/// Deletes a record's elements: one batch, else one by one so that elements already gone
/// (a flushed ruleset, a reboot) do not keep the others.
fn remove_record_elements(conf: &NetConf, rec: &Record) {
    let lines = delete_elements(conf, rec);
    if nft(&lines.concat()).is_ok() {
        return;
    }
    for l in lines {
        let _ = nft(&l);
    }
}

/// Removes the host ports of every attachment not in `keep` (GC).
pub fn gc(conf: &NetConf, keep: &dyn Fn(&str) -> bool) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(records_dir(conf)) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_suffix(".json") else {
            continue;
        };
        if keep(owner) {
            continue;
        }
        if let Some(rec) = read_record(&e.path()) {
            remove_record_elements(conf, &rec);
        }
        let _ = std::fs::remove_file(e.path());
    }
    Ok(())
}

/// The record's file-name stem for an attachment (what [`gc`]'s `keep` is asked about).
pub fn owner(container_id: &str, ifname: &str) -> String {
    format!("{container_id}-{ifname}")
}

/// CHECK: every recorded mapping of the attachment is in the table.
pub fn verify(conf: &NetConf, container_id: &str, ifname: &str) -> Result<()> {
    let Some(rec) = read_record(&record_path(conf, container_id, ifname)) else {
        if conf.port_mappings.is_empty() {
            return Ok(());
        }
        return Err(CniError::new(
            Code::CheckFailed,
            format!("no host ports recorded for {container_id} {ifname}"),
        ));
    };
    let t = table_name(&conf.name);
    let out = Command::new("nft")
        .args(["list", "table", "ip", &t])
        .output()
        .map_err(|e| CniError::io("running nft", e))?;
    let listing = String::from_utf8_lossy(&out.stdout);
    for m in &rec.mappings {
        let want = format!("{} : {} . {}", m.key(), rec.pod_ip, m.container_port);
        if !listing.contains(&want) {
            return Err(CniError::new(
                Code::CheckFailed,
                format!("nftables table ip {t} lacks {}", m.describe()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(port: u16, ip: Option<[u8; 4]>) -> PortMapping {
        PortMapping {
            host_port: port,
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: ip.map(Ipv4Addr::from),
        }
    }

    #[test]
    fn keys_and_clashes() {
        assert_eq!(m(8080, None).key(), "tcp . 8080");
        assert_eq!(
            m(8080, Some([192, 0, 2, 1])).key(),
            "192.0.2.1 . tcp . 8080"
        );
        assert!(m(8080, None).clashes(&m(8080, Some([192, 0, 2, 1]))));
        assert!(!m(8080, Some([192, 0, 2, 2])).clashes(&m(8080, Some([192, 0, 2, 1]))));
        let mut udp = m(8080, None);
        udp.protocol = Protocol::Udp;
        assert!(!udp.clashes(&m(8080, None)));
        assert_eq!(Protocol::parse("p", "TCP").ok(), Some(Protocol::Tcp));
        assert!(Protocol::parse("p", "icmp").is_err());
    }
}
