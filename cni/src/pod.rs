//! A pod's attachment: the veth pair (host end on the bridge, `CNI_IFNAME` inside the pod
//! netns with its address and default route), its verification, and its removal.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::config::NetConf;
use crate::error::{CniError, Code, Result};
use crate::nl;
use crate::node::Node;

/// The host-side veth name: "nn" + 11 hex digits of a FNV-1a hash of (containerID, ifname).
pub fn host_veth_name(container_id: &str, ifname: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id.bytes().chain([0u8]).chain(ifname.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("nn{:011x}", h & 0xfff_ffff_ffff)
}

/// What ADD made for a pod.
#[derive(Debug, Clone)]
pub struct Attached {
    pub host_name: String,
    pub host_mac: String,
    pub ctr_mac: String,
}

pub struct PodRequest<'a> {
    pub conf: &'a NetConf,
    pub node: &'a Node,
    pub ctr_ns: &'a File,
    pub ifname: &'a str,
    pub host_name: String,
    pub ip: Ipv4Addr,
}

fn veth_message(req: &PodRequest<'_>) -> LinkMessage {
    let peer = LinkUnspec::new_with_name(req.ifname)
        .mtu(req.node.mtu)
        .setns_by_fd(req.ctr_ns.as_raw_fd())
        .build();
    LinkVeth::new(&req.host_name, req.ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .mtu(req.node.mtu)
        .controller(req.node.bridge_index)
        .up()
        .build()
}

/// Create the veth pair and configure the pod side. `ctr` is a netlink handle bound to
/// the pod netns.
pub async fn attach(host: &Handle, ctr: &Handle, req: &PodRequest<'_>) -> Result<Attached> {
    match host.link().add(veth_message(req)).execute().await {
        Ok(()) => {}
        Err(e) if nl::is_errno(&e, libc::EEXIST) => {
            // Leftovers of an earlier attempt: remove both names, then retry once.
            if let Some(m) = nl::link_by_name(host, &req.host_name).await? {
                nl::del_link(host, m.header.index, &req.host_name).await?;
            }
            if let Some(m) = nl::link_by_name(ctr, req.ifname).await? {
                nl::del_link(ctr, m.header.index, req.ifname).await?;
            }
            host.link()
                .add(veth_message(req))
                .execute()
                .await
                .map_err(|e| CniError::kernel(format!("creating veth {}", req.host_name), e))?;
        }
        Err(e) => {
            return Err(CniError::kernel(
                format!("creating veth {} <-> {}", req.host_name, req.ifname),
                e,
            ));
        }
    }
    let hl = nl::link_by_name(host, &req.host_name)
        .await?
        .ok_or_else(|| CniError::kernel(format!("veth {}", req.host_name), "vanished"))?;
    // A pod with host ports must reach itself through them: with br_netfilter loaded the
    // DNATed packet goes back out the port it came in on, which needs hairpin mode.
    if req.conf.hairpin || !req.conf.port_mappings.is_empty() {
        host.link()
            .set_port(LinkBridgePort::new(hl.header.index).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| CniError::kernel(format!("enabling hairpin on {}", req.host_name), e))?;
    }
    let cl = nl::link_by_name(ctr, req.ifname).await?.ok_or_else(|| {
        CniError::kernel(
            format!("{} in the pod netns", req.ifname),
            "missing after creation",
        )
    })?;
    let idx = cl.header.index;
    // The peer cannot be created up (the kernel refuses IFF_UP on a peer moved to another
    // netns), so bring it up here, before the route that needs a live link.
    nl::set_up(ctr, idx, req.ifname).await?;
    let prefix = req.conf.subnet.prefix_len();
    match ctr
        .address()
        .add(idx, std::net::IpAddr::V4(req.ip), prefix)
        .execute()
        .await
    {
        Ok(()) => {}
        Err(e) if nl::is_errno(&e, libc::EEXIST) => {}
        Err(e) => {
            return Err(CniError::kernel(
                format!("adding {}/{prefix} to {}", req.ip, req.ifname),
                e,
            ));
        }
    }
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(req.conf.gateway)
        .output_interface(idx)
        .build();
    ctr.route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|e| {
            CniError::kernel(
                format!("adding default route via {} in the pod", req.conf.gateway),
                e,
            )
        })?;
    Ok(Attached {
        host_name: req.host_name.clone(),
        host_mac: nl::mac(&hl).map(nl::format_mac).unwrap_or_default(),
        ctr_mac: nl::mac(&cl).map(nl::format_mac).unwrap_or_default(),
    })
}

/// Verify the attachment (CHECK). Returns the MACs on success.
pub async fn verify(host: &Handle, ctr: &Handle, req: &PodRequest<'_>) -> Result<Attached> {
    let fail = |m: String| CniError::new(Code::CheckFailed, m);
    let cl = nl::link_by_name(ctr, req.ifname).await?.ok_or_else(|| {
        fail(format!(
            "interface {} is missing in the pod netns",
            req.ifname
        ))
    })?;
    if !nl::is_up(&cl) {
        return Err(fail(format!("interface {} is down", req.ifname)));
    }
    if nl::mtu(&cl) != Some(req.node.mtu) {
        return Err(fail(format!(
            "interface {} MTU is {:?}, want {}",
            req.ifname,
            nl::mtu(&cl),
            req.node.mtu
        )));
    }
    let addrs = nl::ipv4_addrs(ctr, cl.header.index).await?;
    if !addrs.contains(&(req.ip, req.conf.subnet.prefix_len())) {
        return Err(fail(format!(
            "interface {} lacks address {}/{} (has {:?})",
            req.ifname,
            req.ip,
            req.conf.subnet.prefix_len(),
            addrs
        )));
    }
    let routes: Vec<_> = ctr
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel("listing pod routes", e))?;
    let has_default = routes.iter().any(|r| {
        r.header.destination_prefix_length == 0
            && r.attributes.iter().any(|a| {
                matches!(a, RouteAttribute::Gateway(RouteAddress::Inet(g)) if *g == req.conf.gateway)
            })
            && r.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == cl.header.index))
    });
    if !has_default {
        return Err(fail(format!(
            "pod has no default route via {} on {}",
            req.conf.gateway, req.ifname
        )));
    }
    let hl = nl::link_by_name(host, &req.host_name)
        .await?
        .ok_or_else(|| fail(format!("host veth {} is missing", req.host_name)))?;
    if nl::controller(&hl) != Some(req.node.bridge_index) {
        return Err(fail(format!(
            "host veth {} is not attached to bridge {}",
            req.host_name, req.conf.bridge
        )));
    }
    if nl::mtu(&hl) != Some(req.node.mtu) {
        return Err(fail(format!(
            "host veth {} has the wrong MTU",
            req.host_name
        )));
    }
    Ok(Attached {
        host_name: req.host_name.clone(),
        host_mac: nl::mac(&hl).map(nl::format_mac).unwrap_or_default(),
        ctr_mac: nl::mac(&cl).map(nl::format_mac).unwrap_or_default(),
    })
}
