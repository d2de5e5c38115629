//! The pod's namespaces after the pause started: the network namespace pin (a bind mount of
//! `/proc/<pause>/ns/net` on `<runDir>/netns/<uid>`, so that CNI DEL and garbage collection
//! can reach the namespace after any crash), bringing `lo` up inside it, and the paths app
//! containers join.
//!
//! The pin is a plain bind mount in the agent's mount namespace (no shared propagation like
//! `ip netns`): the agent and the CNI plugins it runs live there. All functions here are
//! blocking but quick (a few syscalls); call them from async code directly or via
//! `spawn_blocking`.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::statfs::{NSFS_MAGIC, statfs};

use super::error::{Error, Result};

/// Which of the host's namespaces a pod shares (`spec.hostNetwork`, `hostPID`, `hostIPC`) and
/// whether its containers share one pid namespace (`spec.shareProcessNamespace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceOptions {
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub share_process_namespace: bool,
}

impl NamespaceOptions {
    /// The options a Pod spec asks for.
    pub fn from_pod_spec(spec: &k8s_openapi::api::core::v1::PodSpec) -> NamespaceOptions {
        NamespaceOptions {
            host_network: spec.host_network.unwrap_or(false),
            host_pid: spec.host_pid.unwrap_or(false),
            host_ipc: spec.host_ipc.unwrap_or(false),
            share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        }
    }

    /// Whether the pod gets its own network (and so a CNI ADD/DEL and a netns pin).
    pub fn needs_network(&self) -> bool {
        !self.host_network
    }
}

/// How a container gets one kind of namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// The host's (no namespace entry in the OCI spec).
    Host,
    /// A new one of its own.
    New,
    /// Join the namespace at this path.
    Join(PathBuf),
}

/// The namespaces an app or init container of the pod uses, besides its own mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespaces {
    pub network: Namespace,
    pub ipc: Namespace,
    pub uts: Namespace,
    pub pid: Namespace,
}

/// The namespaces containers join: network through the pin, ipc/uts/pid through the pause's
/// `/proc/<pid>/ns/*`; pid only with shareProcessNamespace (else each container has its own).
pub fn container_namespaces(
    opts: &NamespaceOptions,
    pause_pid: i32,
    net_pin: &Path,
) -> PodNamespaces {
    let proc_ns =
        |kind: &str| Namespace::Join(PathBuf::from(format!("/proc/{pause_pid}/ns/{kind}")));
    PodNamespaces {
        network: if opts.host_network {
            Namespace::Host
        } else {
            Namespace::Join(net_pin.to_path_buf())
        },
        ipc: if opts.host_ipc {
            Namespace::Host
        } else {
            proc_ns("ipc")
        },
        uts: if opts.host_network {
            Namespace::Host
        } else {
            proc_ns("uts")
        },
        pid: if opts.host_pid {
            Namespace::Host
        } else if opts.share_process_namespace {
            proc_ns("pid")
        } else {
            Namespace::New
        },
    }
}

/// Whether `path` is a mounted namespace file (a live pin).
pub fn is_pinned(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Pins the network namespace of process `pid` at `pin`. Idempotent: a pin of the same
/// namespace is kept; a stale pin of another namespace is replaced.
pub fn pin(pid: i32, pin: &Path) -> Result<()> {
    if pid <= 0 {
        return Err(Error::invalid(
            "pause pid",
            format!("{pid} is not a process id"),
        ));
    }
    let src = PathBuf::from(format!("/proc/{pid}/ns/net"));
    if is_pinned(pin) {
        if same_file(pin, &src) {
            return Ok(());
        }
        unpin(pin)?;
    }
    if let Some(dir) = pin.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(pin)
        .map_err(|e| Error::io("create pin file", pin, e))?;
    if let Err(e) = mount(
        Some(&src),
        pin,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(pin);
        return Err(Error::io(
            "bind-mount network namespace",
            format!("{} on {}", src.display(), pin.display()),
            std::io::Error::from(e),
        ));
    }
    Ok(())
}

/// Removes the pin at `path`: unmounts every namespace mount stacked there and deletes the
/// file. Ok when already gone.
pub fn unpin(path: &Path) -> Result<()> {
    for _ in 0..16 {
        if !is_pinned(path) {
            break;
        }
        umount2(path, MntFlags::MNT_DETACH)
            .map_err(|e| Error::io("unmount network namespace pin", path, e.into()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove network namespace pin", path, e)),
    }
}

/// The pins under `<runDir>/netns`: (pod uid, path), for garbage collection after a restart.
pub fn list_pins(run_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = run_dir.join("netns");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    out.sort();
    Ok(out)
}

/// Brings the loopback interface up inside the network namespace at `netns` (the OCI runtime
/// does not, and CNI configurations rarely include the loopback plugin). Runs on a short-lived
/// thread that enters the namespace, so the caller's threads stay where they are.
pub fn loopback_up(netns: &Path) -> Result<()> {
    let f =
        std::fs::File::open(netns).map_err(|e| Error::io("open network namespace", netns, e))?;
    let path = netns.to_path_buf();
    std::thread::spawn(move || -> Result<()> {
        nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::io("enter network namespace", &path, e.into()))?;
        set_up("lo").map_err(|e| Error::io("bring up lo in", &path, e))
    })
    .join()
    .map_err(|_| Error::invalid("loopback_up", "the namespace thread panicked"))?
}

/// SIOCGIFFLAGS/SIOCSIFFLAGS: set IFF_UP on `ifname` in the calling thread's namespace.
fn set_up(ifname: &str) -> std::io::Result<()> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: ioctls on our socket with a properly sized ifreq.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_paths() {
        let pin = Path::new("/run/nodelet/netns/u1");
        let n = container_namespaces(&NamespaceOptions::default(), 42, pin);
        assert_eq!(n.network, Namespace::Join(pin.into()));
        assert_eq!(n.ipc, Namespace::Join("/proc/42/ns/ipc".into()));
        assert_eq!(n.uts, Namespace::Join("/proc/42/ns/uts".into()));
        assert_eq!(n.pid, Namespace::New);
        let shared = NamespaceOptions {
            share_process_namespace: true,
            ..Default::default()
        };
        assert_eq!(
            container_namespaces(&shared, 42, pin).pid,
            Namespace::Join("/proc/42/ns/pid".into())
        );
        let host = NamespaceOptions {
            host_network: true,
            host_pid: true,
            host_ipc: true,
            share_process_namespace: true,
        };
        let n = container_namespaces(&host, 42, pin);
        assert_eq!(
            (n.network, n.ipc, n.uts, n.pid),
            (
                Namespace::Host,
                Namespace::Host,
                Namespace::Host,
                Namespace::Host
            )
        );
    }

    #[test]
    fn unpin_missing_is_ok() {
        let t = tempfile::tempdir().unwrap();
        unpin(&t.path().join("none")).unwrap();
        assert!(!is_pinned(&t.path().join("none")));
        let e = pin(0, &t.path().join("x")).unwrap_err().to_string();
        assert!(e.starts_with("pause pid: "), "{e}");
    }
}
