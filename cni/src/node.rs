//! Node-level setup shared by all pods of a network: the bridge with the gateway address,
//! IPv4 forwarding, the VXLAN device and its peers, and the masquerade rule. Runs under an
//! exclusive lock (`<dataDir>/node.lock`) so concurrent ADDs do it once, not racing.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};
use rtnetlink::packet_route::link::InfoKind;
use rtnetlink::{Handle, LinkBridge};

use crate::config::NetConf;
use crate::error::{CniError, Code, Result};
use crate::underlay::{self, Underlay};
use crate::{ethtool, masq, nl, overlay, stamp, sysctl};

const NODE_LOCK: &str = "node.lock";
const NODE_STAMP: &str = "node.stamp";

/// Every config field the node setup depends on, as one comparable string.
fn config_digest(conf: &NetConf) -> String {
    format!(
        "{:?}",
        (
            &conf.bridge,
            conf.subnet,
            conf.gateway,
            conf.mtu,
            conf.ip_masq,
            conf.cluster_cidr,
            &conf.vxlan,
            conf.node_ip,
            &conf.underlay_interface,
            &conf.peers,
        )
    )
}

fn stamp_body(conf: &NetConf, node: &Node, vxlan_index: u32) -> String {
    let (ui, um, uip) = match &node.underlay {
        Some(u) => (u.index, u.mtu, u.node_ip.to_string()),
        None => (0, 0, "-".to_string()),
    };
    format!(
        "{}\n{} {} {} {} {} {} {}\n",
        config_digest(conf),
        node.bridge_index,
        node.mtu,
        vxlan_index,
        ui,
        um,
        uip,
        node.bridge_mac
    )
}

/// Fast path: the stamp says this config was fully applied here; confirm the bridge and
/// VXLAN device are still the same links (one lookup each) and reuse the recorded state.
async fn from_stamp(h: &Handle, conf: &NetConf, data_dir: &Path) -> Result<Option<Node>> {
    let Some(body) = stamp::read(&data_dir.join(NODE_STAMP)) else {
        return Ok(None);
    };
    let Some((digest, rest)) = body.split_once('\n') else {
        return Ok(None);
    };
    if digest != config_digest(conf) {
        return Ok(None);
    }
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [bi, mtu, vi, ui, um, uip, mac] = f.as_slice() else {
        return Ok(None);
    };
    let (Ok(bi), Ok(mtu), Ok(vi), Ok(ui), Ok(um)) = (
        bi.parse::<u32>(),
        mtu.parse::<u32>(),
        vi.parse::<u32>(),
        ui.parse::<u32>(),
        um.parse::<u32>(),
    ) else {
        return Ok(None);
    };
    let same = |m: Option<rtnetlink::packet_route::link::LinkMessage>, index: u32| {
        m.map(|m| m.header.index == index && nl::is_up(&m) && nl::mtu(&m) == Some(mtu))
            .unwrap_or(false)
    };
    if !same(nl::link_by_name(h, &conf.bridge).await?, bi) {
        return Ok(None);
    }
    let underlay = match uip.parse() {
        Ok(node_ip) => {
            if !same(nl::link_by_name(h, &conf.vxlan.device).await?, vi) {
                return Ok(None);
            }
            Some(Underlay {
                index: ui,
                mtu: um,
                node_ip,
            })
        }
        Err(_) => None,
    };
    Ok(Some(Node {
        bridge_index: bi,
        bridge_mac: mac.to_string(),
        mtu,
        underlay,
    }))
}

/// What pods need to know about the node setup.
#[derive(Debug, Clone)]
pub struct Node {
    pub bridge_index: u32,
    pub bridge_mac: String,
    pub mtu: u32,
    pub underlay: Option<Underlay>,
}

fn lock(dir: &Path) -> Result<Flock<File>> {
    let path = dir.join(NODE_LOCK);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CniError::io(format!("opening {}", path.display()), e))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| CniError::io(format!("locking {}", path.display()), e))
}

/// A fixed bridge MAC derived from the gateway IP (0e:6f + IPv4): without it the bridge
/// takes the lowest port MAC, which changes as pods come and go and leaves stale ARP entries in pods.
pub fn bridge_mac(gateway: std::net::Ipv4Addr) -> [u8; 6] {
    let o = gateway.octets();
    [0x0e, 0x6f, o[0], o[1], o[2], o[3]]
}

async fn ensure_bridge(h: &Handle, conf: &NetConf, mtu: u32) -> Result<Node> {
    let name = &conf.bridge;
    let link = match nl::link_by_name(h, name).await? {
        Some(m) => {
            if nl::kind(&m) != Some(&InfoKind::Bridge) {
                return Err(CniError::config(
                    "bridge",
                    format!("interface {name} exists and is not a bridge"),
                ));
            }
            if nl::mtu(&m) != Some(mtu) {
                nl::set_mtu(h, m.header.index, mtu, name).await?;
            }
            if !nl::is_up(&m) {
                nl::set_up(h, m.header.index, name).await?;
            }
            m
        }
        None => {
            match h
                .link()
                .add(
                    LinkBridge::new(name)
                        .mtu(mtu)
                        .address(bridge_mac(conf.gateway).to_vec())
                        .build(),
                )
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if nl::is_errno(&e, libc::EEXIST) => {}
                Err(e) => return Err(CniError::kernel(format!("creating bridge {name}"), e)),
            }
            nl::link_by_name(h, name).await?.ok_or_else(|| {
                CniError::kernel(format!("bridge {name}"), "vanished after creation")
            })?
        }
    };
    nl::ensure_addr(
        h,
        link.header.index,
        conf.gateway,
        conf.subnet.prefix_len(),
        name,
    )
    .await?;
    Ok(Node {
        bridge_index: link.header.index,
        bridge_mac: nl::mac(&link).map(nl::format_mac).unwrap_or_default(),
        mtu,
        underlay: None,
    })
}

/// Bring the node to the configured state. `force` (`nodenet sync`) always reconciles and
/// reprograms nftables. Without it (ADD) a valid node stamp short-cuts the work: the full
/// reconcile runs when the config changed, in a new netns or boot, or when the bridge or
/// VXLAN device is no longer the link that was set up.
pub async fn ensure(h: &Handle, conf: &NetConf, data_dir: &Path, force: bool) -> Result<Node> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| CniError::io(format!("creating {}", data_dir.display()), e))?;
    if !force && let Some(node) = from_stamp(h, conf, data_dir).await? {
        return Ok(node);
    }
    let _lock = lock(data_dir)?;
    // Another ADD may have finished the setup while we waited for the lock.
    if !force && let Some(node) = from_stamp(h, conf, data_dir).await? {
        return Ok(node);
    }
    let stamp_path = data_dir.join(NODE_STAMP);
    stamp::clear(&stamp_path);
    let under = underlay::find(h, conf).await?;
    let mtu = underlay::pod_mtu(conf, under.as_ref());
    let mut node = ensure_bridge(h, conf, mtu).await?;
    sysctl::ensure("net/ipv4/ip_forward", "1")?;
    let mut vxlan_index = 0;
    if let Some(u) = &under {
        vxlan_index = overlay::ensure_device(h, conf, u, mtu).await?;
        overlay::reconcile_peers(h, conf, vxlan_index).await?;
    }
    node.underlay = under;
    masq::ensure(conf, data_dir, force)?;
    stamp::write(&stamp_path, &stamp_body(conf, &node, vxlan_index))?;
    Ok(node)
}

/// Verify the node state (CHECK): bridge, VXLAN device and peers, masquerade rule.
pub async fn verify(h: &Handle, conf: &NetConf) -> Result<Node> {
    let fail = |m: String| CniError::new(Code::CheckFailed, m);
    let under = underlay::find(h, conf).await?;
    let mtu = underlay::pod_mtu(conf, under.as_ref());
    let br = nl::link_by_name(h, &conf.bridge)
        .await?
        .ok_or_else(|| fail(format!("bridge {} is missing", conf.bridge)))?;
    if !nl::is_up(&br) {
        return Err(fail(format!("bridge {} is down", conf.bridge)));
    }
    let addrs = nl::ipv4_addrs(h, br.header.index).await?;
    if !addrs.contains(&(conf.gateway, conf.subnet.prefix_len())) {
        return Err(fail(format!(
            "bridge {} lacks gateway address {}/{}",
            conf.bridge,
            conf.gateway,
            conf.subnet.prefix_len()
        )));
    }
    if let Some(u) = &under {
        let dev = &conf.vxlan.device;
        let vx = nl::link_by_name(h, dev)
            .await?
            .ok_or_else(|| fail(format!("VXLAN device {dev} is missing")))?;
        if nl::mtu(&vx) != Some(mtu) {
            return Err(fail(format!(
                "VXLAN device {dev} MTU is {:?}, want {mtu}",
                nl::mtu(&vx)
            )));
        }
        if nl::mac(&vx) != Some(&overlay::vtep_mac(u.node_ip)[..]) {
            return Err(fail(format!("VXLAN device {dev} has the wrong MAC")));
        }
        if ethtool::tx_checksum(dev)? {
            return Err(fail(format!(
                "VXLAN device {dev} has tx checksum offload on"
            )));
        }
        let have = overlay::current(h, vx.header.index).await?;
        let want = overlay::PeerState::desired(&conf.peers);
        if have != want {
            return Err(fail(format!(
                "VXLAN peers on {dev} differ from the config (have {} routes, {} neighbours, {} FDB entries; want {})",
                have.routes.len(),
                have.neighbours.len(),
                have.fdb.len(),
                conf.peers.len()
            )));
        }
    }
    if conf.ip_masq {
        masq::verify(conf)?;
    }
    Ok(Node {
        bridge_index: br.header.index,
        bridge_mac: nl::mac(&br).map(nl::format_mac).unwrap_or_default(),
        mtu,
        underlay: under,
    })
}
