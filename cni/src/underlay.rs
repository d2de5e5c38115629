//! The underlay: which link carries VXLAN traffic (from `nodeIP` or `underlayInterface`),
//! its index, MTU and the node IP, and the pod MTU derived from it.

use std::net::Ipv4Addr;

use rtnetlink::Handle;

use crate::config::{FALLBACK_UNDERLAY_MTU, NetConf, VXLAN_OVERHEAD};
use crate::error::{CniError, Result};
use crate::nl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underlay {
    pub index: u32,
    pub mtu: u32,
    pub node_ip: Ipv4Addr,
}

/// Find the underlay link; `None` when the config has no overlay.
pub async fn find(h: &Handle, conf: &NetConf) -> Result<Option<Underlay>> {
    if let Some(ifname) = &conf.underlay_interface {
        let link = nl::link_by_name(h, ifname).await?.ok_or_else(|| {
            CniError::config(
                "underlayInterface",
                format!("no interface named {ifname} on this node"),
            )
        })?;
        let index = link.header.index;
        let addrs = nl::ipv4_addrs(h, index).await?;
        let node_ip = match conf.node_ip {
            Some(ip) if addrs.iter().any(|(a, _)| *a == ip) => ip,
            Some(ip) => {
                return Err(CniError::config(
                    "nodeIP",
                    format!("{ip} is not an address of underlayInterface {ifname}"),
                ));
            }
            None => addrs.first().map(|(a, _)| *a).ok_or_else(|| {
                CniError::config(
                    "underlayInterface",
                    format!("{ifname} has no IPv4 address to use as the node IP"),
                )
            })?,
        };
        let mtu = nl::mtu(&link).unwrap_or(FALLBACK_UNDERLAY_MTU);
        return Ok(Some(Underlay {
            index,
            mtu,
            node_ip,
        }));
    }
    let Some(ip) = conf.node_ip else {
        return Ok(None);
    };
    let addrs = nl::all_ipv4_addrs(h).await?;
    let (_, _, index) = addrs.iter().find(|(a, _, _)| *a == ip).ok_or_else(|| {
        CniError::config(
            "nodeIP",
            format!("no interface on this node has address {ip}"),
        )
    })?;
    let link = nl::link_by_index(h, *index)
        .await?
        .ok_or_else(|| CniError::kernel(format!("underlay link of {ip}"), "vanished"))?;
    Ok(Some(Underlay {
        index: *index,
        mtu: nl::mtu(&link).unwrap_or(FALLBACK_UNDERLAY_MTU),
        node_ip: ip,
    }))
}

/// The pod MTU: explicit `mtu`, else underlay MTU - 50 (fallback underlay MTU 1500).
pub fn pod_mtu(conf: &NetConf, under: Option<&Underlay>) -> u32 {
    conf.mtu.unwrap_or_else(|| {
        under
            .map(|u| u.mtu)
            .unwrap_or(FALLBACK_UNDERLAY_MTU)
            .saturating_sub(VXLAN_OVERHEAD)
    })
}
