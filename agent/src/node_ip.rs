//! The node's IP, reported as every pod's `status.hostIP` (and `status.podIP` of hostNetwork
//! pods): `nodeIP` from the configuration, else the kernel's choice of source address for
//! the default route (a route lookup through an unconnected UDP socket: no packet is sent),
//! IPv4 first, then IPv6; else the first global address of an interface that is up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Documentation addresses (RFC 5737 / RFC 3849): only used for the route lookup.
const PROBE_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const PROBE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// The configured IP, or the detected one; `None` when the node has no usable address
/// (e.g. a network namespace with only loopback).
pub fn node_ip(configured: Option<IpAddr>) -> Option<IpAddr> {
    configured
        .or_else(|| route_source(PROBE_V4))
        .or_else(|| route_source(PROBE_V6))
        .or_else(first_global_address)
}

/// The source address the kernel would use to reach `dest`.
fn route_source(dest: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect((dest, 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    usable(ip).then_some(ip)
}

fn usable(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_loopback() && !ip.is_multicast()
}

fn first_global_address() -> Option<IpAddr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut v6 = None;
    for a in addrs {
        if !a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(addr) = a.address else { continue };
        if let Some(sin) = addr.as_sockaddr_in() {
            let ip = IpAddr::V4(sin.ip());
            if usable(ip) && !sin.ip().is_link_local() {
                return Some(ip);
            }
        } else if let Some(sin6) = addr.as_sockaddr_in6() {
            let ip = IpAddr::V6(sin6.ip());
            // fe80::/10 is link-local: not an address pods could be reached at.
            if usable(ip) && (sin6.ip().segments()[0] & 0xffc0) != 0xfe80 {
                v6.get_or_insert(ip);
            }
        }
    }
    v6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_wins() {
        let ip: IpAddr = "10.9.8.7".parse().unwrap();
        assert_eq!(node_ip(Some(ip)), Some(ip));
    }

    #[test]
    fn detected_address_is_usable() {
        // Whatever this machine has, the answer is never loopback or unspecified.
        if let Some(ip) = node_ip(None) {
            assert!(usable(ip), "{ip}");
        }
    }
}
