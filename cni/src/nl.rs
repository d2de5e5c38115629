//! Thin helpers over rtnetlink: connections (also inside another netns), errno checks,
//! link/address lookups and idempotent "ensure" operations shared by the other modules.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkUnspec};

use crate::error::{CniError, Result};
use crate::netns;

/// Open an rtnetlink connection in the calling thread's netns and drive it on the runtime.
/// Must be called from inside a tokio runtime.
pub fn connect() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| CniError::kernel("opening a netlink socket", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// Open an rtnetlink connection bound to the netns `ns` (the socket is created inside it).
pub fn connect_in(ns: &File) -> Result<Handle> {
    netns::with_netns(ns, connect)?
}

/// The positive errno of a netlink error, if it is one.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

pub fn is_errno(e: &rtnetlink::Error, code: i32) -> bool {
    errno(e) == Some(code)
}

/// Look a link up by name; `None` if it does not exist.
pub async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    match h.link().get().match_name(name).execute().try_next().await {
        Ok(m) => Ok(m),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(CniError::kernel(format!("looking up link {name}"), e)),
    }
}

pub async fn link_by_index(h: &Handle, index: u32) -> Result<Option<LinkMessage>> {
    match h.link().get().match_index(index).execute().try_next().await {
        Ok(m) => Ok(m),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(CniError::kernel(format!("looking up link #{index}"), e)),
    }
}

pub fn mtu(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(v) => Some(*v),
        _ => None,
    })
}

pub fn name(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(v) => Some(v.as_str()),
        _ => None,
    })
}

pub fn mac(m: &LinkMessage) -> Option<&[u8]> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(v) => Some(v.as_slice()),
        _ => None,
    })
}

pub fn controller(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(v) => Some(*v),
        _ => None,
    })
}

pub fn kind(m: &LinkMessage) -> Option<&InfoKind> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

pub fn is_up(m: &LinkMessage) -> bool {
    m.header.flags.contains(LinkFlags::Up)
}

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// IPv4 addresses (address, prefix length) of link `index`.
pub async fn ipv4_addrs(h: &Handle, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
    let msgs: Vec<AddressMessage> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel(format!("listing addresses of link #{index}"), e))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.index == index)
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some((*ip, m.header.prefix_len)),
                _ => None,
            })
        })
        .collect())
}

/// All IPv4 addresses on the node as (address, prefix, link index).
pub async fn all_ipv4_addrs(h: &Handle) -> Result<Vec<(Ipv4Addr, u8, u32)>> {
    let msgs: Vec<AddressMessage> = h
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| CniError::kernel("listing addresses", e))?;
    Ok(msgs
        .iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => {
                    Some((*ip, m.header.prefix_len, m.header.index))
                }
                _ => None,
            })
        })
        .collect())
}

/// Make sure `ip/prefix` is on link `index` (existing addresses are left alone).
pub async fn ensure_addr(
    h: &Handle,
    index: u32,
    ip: Ipv4Addr,
    prefix: u8,
    what: &str,
) -> Result<()> {
    if ipv4_addrs(h, index).await?.contains(&(ip, prefix)) {
        return Ok(());
    }
    match h
        .address()
        .add(index, IpAddr::V4(ip), prefix)
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
        Err(e) => Err(CniError::kernel(
            format!("adding {ip}/{prefix} to {what}"),
            e,
        )),
    }
}

/// Set link `index` administratively up.
pub async fn set_up(h: &Handle, index: u32, what: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| CniError::kernel(format!("setting {what} up"), e))
}

/// Set the MTU of link `index`.
pub async fn set_mtu(h: &Handle, index: u32, mtu: u32, what: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
        .execute()
        .await
        .map_err(|e| CniError::kernel(format!("setting MTU {mtu} on {what}"), e))
}

/// Delete link `index`; a link that is already gone is fine.
pub async fn del_link(h: &Handle, index: u32, what: &str) -> Result<()> {
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(()),
        Err(e) => Err(CniError::kernel(format!("deleting {what}"), e)),
    }
}
