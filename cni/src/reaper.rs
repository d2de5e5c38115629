//! Removal of a pod's interface without making DEL wait for the kernel.
//!
//! Deleting a veth blocks the caller in `rtnl_dellink` for ~10–30 ms (the kernel waits
//! for RCU grace periods and `rcu_barrier()` in `netdev_run_todo` before returning). That
//! wait is most of the reference bridge plugin's DEL time. DEL here frees the lease
//! synchronously, then forks a detached child that enters the pod netns and deletes the
//! interface (which also removes the host end); the child's netns reference keeps the
//! namespace alive until the deletion is done, even if the runtime removes it right away.

use std::fs::File;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};
use nix::unistd::{ForkResult, fork, setsid};
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{CniError, Result};

/// Delete interface `ifname` in the calling thread's netns with one blocking netlink
/// request. Returns the kernel's errno (0 = deleted).
pub fn delete_here(ifname: &str) -> std::io::Result<i32> {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(ifname.to_string()));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::DelLink(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    req.finalize();
    let mut buf = vec![0u8; req.header.length as usize];
    req.serialize(&mut buf);
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(&buf, 0)?;
    let mut rbuf = vec![0u8; 8192];
    let n = sock.recv(&mut &mut rbuf[..], 0)?;
    // nlmsgerr: header (16 bytes) then the i32 error code.
    if n >= 20 {
        let code = i32::from_ne_bytes([rbuf[16], rbuf[17], rbuf[18], rbuf[19]]);
        return Ok(-code);
    }
    Ok(0)
}

/// Fork a detached child that deletes `ifname` inside `netns` (or in the caller's own netns
/// when `netns` is None). The caller must be single-threaded (no runtime started yet).
pub fn delete_detached(netns: Option<&File>, ifname: &str) -> Result<()> {
    // SAFETY: DEL calls this before any thread or async runtime exists, so the child
    // is a copy of a single-threaded process.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => Ok(()),
        Ok(ForkResult::Child) => {
            let _ = setsid();
            if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
                for fd in 0..3 {
                    // SAFETY: dup2 onto the standard descriptors of this child only.
                    unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
                }
            }
            let entered = match netns {
                Some(ns) => setns(ns.as_fd(), CloneFlags::CLONE_NEWNET),
                None => Ok(()),
            };
            // Hold nothing of the caller's open (pipes, locks) while the kernel works.
            // SAFETY: closes this child's descriptors >= 3; none is used afterwards.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            let rc = match entered {
                Ok(()) => match delete_here(ifname) {
                    Ok(0) | Ok(libc::ENODEV) => 0,
                    _ => 1,
                },
                Err(_) => 1,
            };
            // SAFETY: leave the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(rc) }
        }
        Err(e) => Err(CniError::kernel("forking the interface remover", e)),
    }
}
