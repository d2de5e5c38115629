//! VXLAN overlay without a daemon: the VXLAN device (VTEP .0/32 of the node subnet, MAC
//! derived from the node IP, learning off, tx checksum offload off) and, for every peer, an
//! onlink route to its subnet via its VTEP, a permanent neighbour entry and an FDB entry
//! pointing at its node IP. Reconciliation adds what is missing and removes stale peers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol};
use rtnetlink::{Handle, LinkVxlan, RouteMessageBuilder};

use crate::config::{NetConf, Peer};
use crate::error::{CniError, Result};
use crate::underlay::Underlay;
use crate::{ethtool, nl};

/// Route protocol number marking routes nodenet owns (so only those are ever removed).
pub const ROUTE_PROTO: u8 = 110;

/// The VTEP MAC of a node: locally administered 0e:6e followed by the node IPv4 address.
pub fn vtep_mac(node_ip: Ipv4Addr) -> [u8; 6] {
    let o = node_ip.octets();
    [0x0e, 0x6e, o[0], o[1], o[2], o[3]]
}

fn vxlan_infos(m: &LinkMessage) -> Option<&Vec<InfoVxlan>> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(v)) => Some(v),
            _ => None,
        }),
        _ => None,
    })
}

/// Whether an existing VXLAN link matches what the config wants.
fn matches(m: &LinkMessage, conf: &NetConf, under: &Underlay) -> bool {
    let Some(infos) = vxlan_infos(m) else {
        return false;
    };
    let has = |want: &InfoVxlan| infos.iter().any(|i| i == want);
    has(&InfoVxlan::Id(conf.vxlan.vni))
        && has(&InfoVxlan::Port(conf.vxlan.port))
        && has(&InfoVxlan::Local(under.node_ip))
        && has(&InfoVxlan::Link(under.index))
        && has(&InfoVxlan::Learning(false))
        && nl::mac(m) == Some(&vtep_mac(under.node_ip)[..])
}

/// Create or repair the VXLAN device; returns its index.
pub async fn ensure_device(h: &Handle, conf: &NetConf, under: &Underlay, mtu: u32) -> Result<u32> {
    let dev = &conf.vxlan.device;
    let existing = nl::link_by_name(h, dev).await?;
    let index = match existing {
        Some(m) if matches(&m, conf, under) => {
            if nl::mtu(&m) != Some(mtu) {
                nl::set_mtu(h, m.header.index, mtu, dev).await?;
            }
            if !nl::is_up(&m) {
                nl::set_up(h, m.header.index, dev).await?;
            }
            m.header.index
        }
        other => {
            if let Some(m) = other {
                nl::del_link(h, m.header.index, &format!("stale VXLAN device {dev}")).await?;
            }
            let msg = LinkVxlan::new(dev, conf.vxlan.vni)
                .port(conf.vxlan.port)
                .dev(under.index)
                .append_info_data(InfoVxlan::Local(under.node_ip))
                .append_info_data(InfoVxlan::Learning(false))
                .mtu(mtu)
                .address(vtep_mac(under.node_ip).to_vec())
                .up()
                .build();
            match h.link().add(msg).execute().await {
                Ok(()) => {}
                // A concurrent ADD created it first.
                Err(e) if nl::is_errno(&e, libc::EEXIST) => {}
                Err(e) => {
                    return Err(CniError::kernel(
                        format!("creating VXLAN device {dev} (vni {})", conf.vxlan.vni),
                        e,
                    ));
                }
            }
            let m = nl::link_by_name(h, dev).await?.ok_or_else(|| {
                CniError::kernel(format!("VXLAN device {dev}"), "vanished after creation")
            })?;
            m.header.index
        }
    };
    if ethtool::tx_checksum(dev)? {
        ethtool::set_tx_checksum(dev, false)?;
    }
    nl::ensure_addr(h, index, conf.vtep(), 32, dev).await?;
    Ok(index)
}

fn route_dst(m: &RouteMessage) -> Option<(Ipv4Addr, u8)> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
            Some((*ip, m.header.destination_prefix_length))
        }
        _ => None,
    })
}

fn route_gw(m: &RouteMessage) -> Option<Ipv4Addr> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })
}

fn route_oif(m: &RouteMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

fn neigh_dst(m: &NeighbourMessage) -> Option<IpAddr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        // FDB (AF_BRIDGE) entries carry the remote as raw bytes.
        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) if b.len() == 4 => {
            Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        _ => None,
    })
}

fn neigh_lladdr(m: &NeighbourMessage) -> Option<&[u8]> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(l) => Some(l.as_slice()),
        _ => None,
    })
}

/// The peer state the kernel has for the VXLAN device `index`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// Routes we own: subnet -> gateway.
    pub routes: HashMap<(Ipv4Addr, u8), Ipv4Addr>,
    /// Permanent neighbours: VTEP IP -> MAC.
    pub neighbours: HashMap<Ipv4Addr, Vec<u8>>,
    /// FDB entries: MAC -> remote node IP.
    pub fdb: HashMap<Vec<u8>, Ipv4Addr>,
}

impl PeerState {
    pub fn desired(peers: &[Peer]) -> PeerState {
        let mut s = PeerState::default();
        for p in peers {
            let mac = vtep_mac(p.node_ip).to_vec();
            s.routes
                .insert((p.subnet.network(), p.subnet.prefix_len()), p.vtep());
            s.neighbours.insert(p.vtep(), mac.clone());
            s.fdb.insert(mac, p.node_ip);
        }
        s
    }
}

struct Dumped {
    routes: Vec<RouteMessage>,
    neighbours: Vec<NeighbourMessage>,
    fdb: Vec<NeighbourMessage>,
}

async fn dump(h: &Handle, index: u32) -> Result<Dumped> {
    let routes: Vec<RouteMessage> = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel("listing routes", e))?;
    let routes = routes
        .into_iter()
        .filter(|r| {
            route_oif(r) == Some(index) && r.header.protocol == RouteProtocol::Other(ROUTE_PROTO)
        })
        .collect();
    let neighbours: Vec<NeighbourMessage> = h
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Inet)
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel("listing neighbours", e))?;
    let neighbours = neighbours
        .into_iter()
        .filter(|n| n.header.ifindex == index && n.header.state == NeighbourState::Permanent)
        .collect();
    let fdb: Vec<NeighbourMessage> = h
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel("listing FDB entries", e))?;
    let fdb = fdb
        .into_iter()
        .filter(|n| n.header.ifindex == index)
        .collect();
    Ok(Dumped {
        routes,
        neighbours,
        fdb,
    })
}

/// Read the peer state of VXLAN device `index` from the kernel.
pub async fn current(h: &Handle, index: u32) -> Result<PeerState> {
    let d = dump(h, index).await?;
    let mut s = PeerState::default();
    for r in &d.routes {
        if let (Some(dst), Some(gw)) = (route_dst(r), route_gw(r)) {
            s.routes.insert(dst, gw);
        }
    }
    for n in &d.neighbours {
        if let (Some(IpAddr::V4(ip)), Some(mac)) = (neigh_dst(n), neigh_lladdr(n)) {
            s.neighbours.insert(ip, mac.to_vec());
        }
    }
    for n in &d.fdb {
        if let (Some(IpAddr::V4(ip)), Some(mac)) = (neigh_dst(n), neigh_lladdr(n)) {
            s.fdb.insert(mac.to_vec(), ip);
        }
    }
    Ok(s)
}

/// Make the kernel's peer entries on VXLAN device `index` equal the configured peers.
pub async fn reconcile_peers(h: &Handle, conf: &NetConf, index: u32) -> Result<()> {
    let want = PeerState::desired(&conf.peers);
    let d = dump(h, index).await?;
    let dev = &conf.vxlan.device;
    let mut have = PeerState::default();

    // Remove stale entries first (a peer that moved must not keep its old FDB entry).
    for r in d.routes {
        let keep = match (route_dst(&r), route_gw(&r)) {
            (Some(dst), Some(gw)) if want.routes.get(&dst) == Some(&gw) => {
                have.routes.insert(dst, gw);
                true
            }
            _ => false,
        };
        if !keep {
            match h.route().del(r).execute().await {
                Ok(()) => {}
                Err(e) if nl::is_errno(&e, libc::ESRCH) => {}
                Err(e) => {
                    return Err(CniError::kernel(
                        format!("removing a stale route on {dev}"),
                        e,
                    ));
                }
            }
        }
    }
    for n in d.neighbours {
        let keep = match (neigh_dst(&n), neigh_lladdr(&n)) {
            (Some(IpAddr::V4(ip)), Some(mac))
                if want.neighbours.get(&ip).map(Vec::as_slice) == Some(mac) =>
            {
                have.neighbours.insert(ip, mac.to_vec());
                true
            }
            _ => false,
        };
        if !keep {
            match h.neighbours().del(n).execute().await {
                Ok(()) => {}
                Err(e) if nl::is_errno(&e, libc::ENOENT) => {}
                Err(e) => {
                    return Err(CniError::kernel(
                        format!("removing a stale neighbour on {dev}"),
                        e,
                    ));
                }
            }
        }
    }
    let mut have_fdb: HashMap<Vec<u8>, Ipv4Addr> = HashMap::new();
    for n in d.fdb {
        let entry = match (neigh_dst(&n), neigh_lladdr(&n)) {
            (Some(IpAddr::V4(ip)), Some(mac)) => Some((mac.to_vec(), ip)),
            _ => None,
        };
        match entry {
            Some((mac, ip)) if want.fdb.get(&mac) == Some(&ip) => {
                have_fdb.insert(mac, ip);
            }
            _ => match h.neighbours().del(n).execute().await {
                Ok(()) => {}
                Err(e) if nl::is_errno(&e, libc::ENOENT) => {}
                Err(e) => {
                    return Err(CniError::kernel(
                        format!("removing a stale FDB entry on {dev}"),
                        e,
                    ));
                }
            },
        }
    }

    for p in &conf.peers {
        let mac = vtep_mac(p.node_ip);
        if have_fdb.get(&mac[..]) != Some(&p.node_ip) {
            h.neighbours()
                .add_bridge(index, &mac)
                .destination(IpAddr::V4(p.node_ip))
                .flags(NeighbourFlags::Own)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|e| {
                    CniError::kernel(
                        format!(
                            "adding FDB entry {} -> {} on {dev}",
                            nl::format_mac(&mac),
                            p.node_ip
                        ),
                        e,
                    )
                })?;
        }
        if have.neighbours.get(&p.vtep()).map(Vec::as_slice) != Some(&mac[..]) {
            h.neighbours()
                .add(index, IpAddr::V4(p.vtep()))
                .link_layer_address(&mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|e| {
                    CniError::kernel(format!("adding neighbour {} on {dev}", p.vtep()), e)
                })?;
        }
        let key = (p.subnet.network(), p.subnet.prefix_len());
        if have.routes.get(&key) != Some(&p.vtep()) {
            let msg = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(p.subnet.network(), p.subnet.prefix_len())
                .gateway(p.vtep())
                .output_interface(index)
                .onlink()
                .protocol(RouteProtocol::Other(ROUTE_PROTO))
                .build();
            h.route().add(msg).replace().execute().await.map_err(|e| {
                CniError::kernel(
                    format!("adding route {} via {} on {dev}", p.subnet, p.vtep()),
                    e,
                )
            })?;
        }
    }
    Ok(())
}
