//! IP address management: one lease file per allocated address under the network's data
//! directory (named by the address, holding containerID, ifname and address), a hard link
//! to it named `<containerID>:<ifname>` as the index, all changes under an exclusive
//! `flock` on `<dir>/lock`, which also records the last address handed out (round robin).
//! Leases persist across restarts; DEL frees, GC reclaims. Hot-path file operations avoid
//! truncation (ext4 flushes on truncate+rewrite) and symlinks (a new inode each).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};

use crate::config::Attachment;
use crate::error::{CniError, Code, Result};

const LOCK_FILE: &str = "lock";
/// Width of the last-reserved-address record at the start of the lock file.
const LAST_WIDTH: usize = 16;

/// Leases of one network on this node.
pub struct Ipam {
    dir: PathBuf,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
}

/// The outcome of an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// True when the (containerID, ifname) already held this lease (idempotent ADD).
    pub existing: bool,
}

fn index_name(container_id: &str, ifname: &str) -> String {
    // ':' can appear in neither a container ID nor an interface name (both validated).
    format!("{container_id}:{ifname}")
}

fn lease_content(container_id: &str, ifname: &str, ip: Ipv4Addr) -> String {
    format!("{container_id}\n{ifname}\n{ip}\n")
}

impl Ipam {
    /// Open (creating if needed) the lease directory.
    pub fn open(dir: &Path, subnet: Ipv4Net, gateway: Ipv4Addr) -> Result<Ipam> {
        fs::create_dir_all(dir).map_err(|e| {
            CniError::io(format!("creating IPAM data directory {}", dir.display()), e)
        })?;
        Ok(Ipam {
            dir: dir.to_path_buf(),
            subnet,
            gateway,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| CniError::io(format!("opening IPAM lock {}", path.display()), e))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| CniError::io(format!("locking IPAM lock {}", path.display()), e))
    }

    /// All assignable addresses: hosts of the subnet except the gateway (the network
    /// address is the VTEP, the broadcast address is never a host).
    fn candidates(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = u32::from(self.subnet.network()) + 1;
        let last = u32::from(self.subnet.broadcast()) - 1;
        (first..=last)
            .map(Ipv4Addr::from)
            .filter(move |ip| *ip != self.gateway)
    }

    /// Number of assignable addresses in the subnet.
    pub fn capacity(&self) -> usize {
        self.candidates().count()
    }

    fn lookup_locked(&self, container_id: &str, ifname: &str) -> Result<Option<Ipv4Addr>> {
        let link = self.dir.join(index_name(container_id, ifname));
        let content = match fs::read_to_string(&link) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CniError::io(
                    format!("reading lease index {}", link.display()),
                    e,
                ));
            }
        };
        let Some(ip) = content
            .lines()
            .nth(2)
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
        else {
            return Ok(None);
        };
        // The index must still be linked to the lease file of that address.
        match fs::read_to_string(self.dir.join(ip.to_string())) {
            Ok(c) if c == lease_content(container_id, ifname, ip) => Ok(Some(ip)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CniError::io(format!("reading lease {ip}"), e)),
        }
    }

    /// The address held by (containerID, ifname), if any.
    pub fn lookup(&self, container_id: &str, ifname: &str) -> Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        self.lookup_locked(container_id, ifname)
    }

    /// Allocate an address for (containerID, ifname), or return the one it already holds.
    pub fn allocate(&self, container_id: &str, ifname: &str) -> Result<Lease> {
        let lock = self.lock()?;
        if let Some(ip) = self.lookup_locked(container_id, ifname)? {
            return Ok(Lease { ip, existing: true });
        }
        let mut buf = [0u8; LAST_WIDTH];
        let n = lock.read_at(&mut buf, 0).unwrap_or(0);
        let last: Option<Ipv4Addr> = std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let all: Vec<Ipv4Addr> = self.candidates().collect();
        // Round robin: start after the last reserved address so freed ones rest a while.
        let start = last
            .and_then(|l| all.iter().position(|ip| *ip == l))
            .map(|p| p + 1)
            .unwrap_or(0);
        for i in 0..all.len() {
            let ip = all[(start + i) % all.len()];
            let path = self.dir.join(ip.to_string());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(lease_content(container_id, ifname, ip).as_bytes())
                        .map_err(|e| {
                            CniError::io(format!("writing lease {}", path.display()), e)
                        })?;
                    let link = self.dir.join(index_name(container_id, ifname));
                    let _ = fs::remove_file(&link);
                    fs::hard_link(&path, &link).map_err(|e| {
                        CniError::io(format!("writing lease index {}", link.display()), e)
                    })?;
                    // Fixed width, written in place: no truncation.
                    let rec = format!("{:<width$}", ip.to_string(), width = LAST_WIDTH);
                    lock.write_all_at(rec.as_bytes(), 0).map_err(|e| {
                        CniError::io(format!("recording the last address in {}", LOCK_FILE), e)
                    })?;
                    return Ok(Lease {
                        ip,
                        existing: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(CniError::io(
                        format!("creating lease {}", path.display()),
                        e,
                    ));
                }
            }
        }
        Err(CniError::with_details(
            Code::SubnetExhausted,
            format!(
                "subnet {} has no free address: all {} are leased",
                self.subnet,
                all.len()
            ),
            format!("leases are in {}", self.dir.display()),
        ))
    }

    /// Free the lease of (containerID, ifname). Returns the freed address, if there was one.
    pub fn release(&self, container_id: &str, ifname: &str) -> Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        let ip = self.lookup_locked(container_id, ifname)?;
        if let Some(ip) = ip {
            remove_if_exists(&self.dir.join(ip.to_string()))?;
        }
        remove_if_exists(&self.dir.join(index_name(container_id, ifname)))?;
        Ok(ip)
    }

    /// All leases as (address, containerID, ifname).
    pub fn leases(&self) -> Result<Vec<(Ipv4Addr, Attachment)>> {
        let _lock = self.lock()?;
        self.leases_locked()
    }

    fn leases_locked(&self) -> Result<Vec<(Ipv4Addr, Attachment)>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.dir)
            .map_err(|e| CniError::io(format!("listing {}", self.dir.display()), e))?;
        for entry in rd {
            let entry =
                entry.map_err(|e| CniError::io(format!("listing {}", self.dir.display()), e))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let content = match fs::read_to_string(entry.path()) {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(CniError::io(format!("reading lease {ip}"), e)),
            };
            let mut lines = content.lines();
            let (Some(cid), Some(ifn)) = (lines.next(), lines.next()) else {
                continue;
            };
            out.push((
                ip,
                Attachment {
                    container_id: cid.to_string(),
                    ifname: ifn.to_string(),
                },
            ));
        }
        out.sort_by_key(|(ip, _)| *ip);
        Ok(out)
    }

    /// Remove every lease whose attachment is not in `valid`; also drop dangling index links.
    pub fn gc(&self, valid: &HashSet<Attachment>) -> Result<Vec<(Ipv4Addr, Attachment)>> {
        let _lock = self.lock()?;
        let mut freed = Vec::new();
        for (ip, att) in self.leases_locked()? {
            if !valid.contains(&att) {
                remove_if_exists(&self.dir.join(ip.to_string()))?;
                remove_if_exists(&self.dir.join(index_name(&att.container_id, &att.ifname)))?;
                freed.push((ip, att));
            }
        }
        let rd = fs::read_dir(&self.dir)
            .map_err(|e| CniError::io(format!("listing {}", self.dir.display()), e))?;
        for entry in rd.flatten() {
            let p = entry.path();
            // An index whose lease file is gone is no longer hard-linked to anything.
            if entry.file_name().to_string_lossy().contains(':')
                && fs::metadata(&p).map(|m| m.nlink() < 2).unwrap_or(false)
            {
                remove_if_exists(&p)?;
            }
        }
        Ok(freed)
    }

    /// Free addresses left.
    pub fn free(&self) -> Result<usize> {
        let used = self.leases()?.len();
        Ok(self.capacity().saturating_sub(used))
    }
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CniError::io(format!("removing {}", p.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, net: &str) -> Ipam {
        let n: Ipv4Net = net.parse().unwrap();
        Ipam::open(dir, n, Ipv4Addr::from(u32::from(n.network()) + 1)).unwrap()
    }

    #[test]
    fn allocate_is_idempotent_and_round_robin() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.244.1.0/24");
        let a = i.allocate("c1", "eth0").unwrap();
        assert_eq!(
            a,
            Lease {
                ip: "10.244.1.2".parse().unwrap(),
                existing: false
            }
        );
        let again = i.allocate("c1", "eth0").unwrap();
        assert_eq!(
            again,
            Lease {
                ip: a.ip,
                existing: true
            }
        );
        let b = i.allocate("c2", "eth0").unwrap();
        assert_eq!(b.ip, "10.244.1.3".parse::<Ipv4Addr>().unwrap());
        assert_eq!(i.release("c1", "eth0").unwrap(), Some(a.ip));
        assert_eq!(i.release("c1", "eth0").unwrap(), None);
        // freed .2 is not reused right away
        assert_eq!(
            i.allocate("c3", "eth0").unwrap().ip,
            "10.244.1.4".parse::<Ipv4Addr>().unwrap()
        );
        // survives "restart"
        let j = ipam(d.path(), "10.244.1.0/24");
        assert_eq!(j.lookup("c2", "eth0").unwrap(), Some(b.ip));
    }

    #[test]
    fn exhaustion_and_gc() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.244.9.0/29"); // .1 gw, .2-.6 hosts
        assert_eq!(i.capacity(), 5);
        for n in 0..5 {
            i.allocate(&format!("c{n}"), "eth0").unwrap();
        }
        let e = i.allocate("c9", "eth0").unwrap_err();
        assert_eq!(e.code, Code::SubnetExhausted);
        assert!(e.msg.contains("10.244.9.0/29"));
        let valid: HashSet<Attachment> = [Attachment {
            container_id: "c1".into(),
            ifname: "eth0".into(),
        }]
        .into_iter()
        .collect();
        let freed = i.gc(&valid).unwrap();
        assert_eq!(freed.len(), 4);
        assert_eq!(i.free().unwrap(), 4);
        assert!(i.lookup("c1", "eth0").unwrap().is_some());
        assert!(i.lookup("c2", "eth0").unwrap().is_none());
    }
}
