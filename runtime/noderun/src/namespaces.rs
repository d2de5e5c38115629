//! Which namespaces a container gets: created new (unshare) or joined by path (setns), in the
//! order the kernel needs — user namespace first, every namespace file opened before any setns
//! (joining a mount namespace changes how later paths resolve), and pid/time namespaces noted
//! as needing a fork because they only apply to children.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::syscall::Syscall;

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => CloneFlags::CLONE_NEWNS,
        T::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        T::Uts => CloneFlags::CLONE_NEWUTS,
        T::Ipc => CloneFlags::CLONE_NEWIPC,
        T::User => CloneFlags::CLONE_NEWUSER,
        T::Pid => CloneFlags::CLONE_NEWPID,
        T::Network => CloneFlags::CLONE_NEWNET,
        T::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of the namespace in /proc/<pid>/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => "mnt",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "net",
        T::Time => "time",
    }
}

/// All namespace kinds, user first (the order to join them in), mount last.
pub const ALL: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

#[derive(Debug, Clone)]
pub struct Plan {
    /// Namespaces joined by path, user first.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// New namespaces other than user.
    pub new: CloneFlags,
    pub new_user: bool,
}

impl Plan {
    pub fn from_spec(linux: &Linux) -> Plan {
        let mut plan = Plan {
            join: vec![],
            new: CloneFlags::empty(),
            new_user: false,
        };
        for ns in linux.namespaces().iter().flatten() {
            match ns.path() {
                Some(p) => plan.join.push((ns.typ(), p.clone())),
                None if ns.typ() == LinuxNamespaceType::User => plan.new_user = true,
                None => plan.new |= clone_flag(ns.typ()),
            }
        }
        plan.join
            .sort_by_key(|(t, _)| ALL.iter().position(|a| a == t).unwrap_or(ALL.len()));
        plan
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(clone_flag(t)) || self.join.iter().any(|(j, _)| *j == t)
    }

    /// The container runs in a user namespace other than ours (new or joined).
    pub fn has_user(&self) -> bool {
        self.new_user
            || self
                .join
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User)
    }

    /// Pid and time namespaces only apply to children: init must be a fresh child.
    pub fn needs_fork(&self) -> bool {
        let time = clone_flag(LinuxNamespaceType::Time);
        self.new.intersects(CloneFlags::CLONE_NEWPID | time)
            || self
                .join
                .iter()
                .any(|(t, _)| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))
    }
}

/// Open every namespace file first, then setns into each, in order.
pub fn join_all(sys: &dyn Syscall, list: &[(LinuxNamespaceType, PathBuf)]) -> Result<(), String> {
    let mut fds: Vec<(LinuxNamespaceType, &PathBuf, OwnedFd)> = Vec::with_capacity(list.len());
    for (t, p) in list {
        let fd = open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| format!("linux.namespaces ({t}): open {}: {e}", p.display()))?;
        fds.push((*t, p, fd));
    }
    for (t, p, fd) in &fds {
        sys.setns(fd.as_fd(), clone_flag(*t))
            .map_err(|e| format!("linux.namespaces ({t}): join {}: {e}", p.display()))?;
    }
    Ok(())
}

pub fn unshare_flags(sys: &dyn Syscall, flags: CloneFlags) -> Result<(), String> {
    if flags.is_empty() {
        return Ok(());
    }
    sys.unshare(flags)
        .map_err(|e| format!("linux.namespaces: unshare({flags:?}): {e}"))
}

/// The namespaces of process `pid` that differ from ours, in join order (for `exec`).
pub fn differing_from_ours(pid: i32) -> Vec<(LinuxNamespaceType, PathBuf)> {
    let mut join = vec![];
    for t in ALL {
        let name = proc_name(t);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (Some(a), Some(b)) = (
            ns_inode(&theirs),
            ns_inode(&format!("/proc/self/ns/{name}")),
        ) else {
            continue;
        };
        if a != b {
            join.push((t, PathBuf::from(theirs)));
        }
    }
    join
}

/// The inode of a namespace file, to tell whether a process shares our namespace.
pub fn ns_inode(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::Recorder;

    fn plan(json: &str) -> Plan {
        Plan::from_spec(&serde_json::from_str::<Linux>(json).unwrap())
    }

    #[test]
    fn user_first_and_every_file_opened_before_the_first_setns() {
        let p = plan(
            r#"{"namespaces": [{"type": "network", "path": "/proc/self/ns/net"},
                               {"type": "user", "path": "/proc/self/ns/user"},
                               {"type": "pid"}, {"type": "mount"}]}"#,
        );
        assert_eq!(p.new, CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS);
        assert!(p.needs_fork() && p.has_user() && !p.new_user);
        let rec = Recorder::new(std::path::Path::new("/"));
        join_all(&rec, &p.join).unwrap();
        unshare_flags(&rec, p.new).unwrap();
        assert_eq!(
            rec.take(),
            ["setns newuser", "setns newnet", "unshare newns,newpid"]
        );
        // A missing file fails before any namespace is joined.
        let p = plan(
            r#"{"namespaces": [{"type": "ipc", "path": "/proc/self/ns/ipc"},
                               {"type": "uts", "path": "/no/such/ns"}]}"#,
        );
        let err = join_all(&rec, &p.join).unwrap_err();
        assert!(
            err.starts_with("linux.namespaces (uts): open /no/such/ns"),
            "{err}"
        );
        assert!(rec.take().is_empty());
    }
}
