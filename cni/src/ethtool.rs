//! Transmit checksum offload switch via the SIOCETHTOOL ioctl (ETHTOOL_GTXCSUM /
//! ETHTOOL_STXCSUM). Used to turn offload off on the VXLAN device: with it on, some kernels
//! and NICs emit bad UDP checksums for encapsulated traffic (flannel's 63 s delays).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{CniError, Result};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GTXCSUM: u32 = 0x0000_0016;
const ETHTOOL_STXCSUM: u32 = 0x0000_0017;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn ioctl(ifname: &str, value: &mut EthtoolValue) -> Result<()> {
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(CniError::kernel(
            format!("ethtool on {ifname}"),
            "interface name too long",
        ));
    }
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(CniError::kernel(
            "opening a socket for ethtool",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: raw is a fresh, valid fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: value as *mut EthtoolValue as *mut libc::c_void,
        _pad: [0; 16],
    };
    for (dst, src) in req.name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: req is a properly laid out struct ifreq whose data points at a live
    // ethtool_value for the duration of the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    if rc < 0 {
        return Err(CniError::kernel(
            format!("ethtool ioctl on {ifname}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Whether tx checksum offload is on for `ifname` (in the calling thread's netns).
pub fn tx_checksum(ifname: &str) -> Result<bool> {
    let mut v = EthtoolValue {
        cmd: ETHTOOL_GTXCSUM,
        data: 0,
    };
    ioctl(ifname, &mut v)?;
    Ok(v.data != 0)
}

/// Switch tx checksum offload on or off for `ifname`.
pub fn set_tx_checksum(ifname: &str, on: bool) -> Result<()> {
    let mut v = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: on as u32,
    };
    ioctl(ifname, &mut v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ifreq_is_40_bytes() {
        assert_eq!(std::mem::size_of::<super::IfreqData>(), 40);
    }
}
