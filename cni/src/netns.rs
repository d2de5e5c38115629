//! Network namespace handles: opening a netns path (checked to be nsfs) and running a
//! closure with the calling thread temporarily inside another netns.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{NSFS_MAGIC, PROC_SUPER_MAGIC, fstatfs};

use crate::error::{CniError, Code, Result};

/// Open a network namespace file (e.g. /run/netns/x or /proc/PID/ns/net).
/// `Ok(None)` when the path does not exist.
pub fn open(path: &Path) -> Result<Option<File>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CniError::io(
                format!("opening network namespace {}", path.display()),
                e,
            ));
        }
    };
    let st = fstatfs(&f)
        .map_err(|e| CniError::io(format!("statfs of network namespace {}", path.display()), e))?;
    let fs_type = st.filesystem_type();
    if fs_type != NSFS_MAGIC && fs_type != PROC_SUPER_MAGIC {
        return Err(CniError::new(
            Code::InvalidEnv,
            format!(
                "environment variable CNI_NETNS: {} is not a network namespace",
                path.display()
            ),
        ));
    }
    Ok(Some(f))
}

/// The calling thread's current network namespace.
pub fn current() -> Result<File> {
    File::open("/proc/thread-self/ns/net")
        .map_err(|e| CniError::io("opening /proc/thread-self/ns/net", e))
}

/// Run `f` with the calling thread inside `ns`, then switch back (sockets created inside
/// stay bound to `ns`).
pub fn with_netns<T>(ns: &File, f: impl FnOnce() -> T) -> Result<T> {
    let home = current()?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| CniError::kernel("entering the container network namespace (setns)", e))?;
    let out = f();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| CniError::kernel("returning to the host network namespace (setns)", e))?;
    Ok(out)
}
