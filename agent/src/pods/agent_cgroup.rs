//! Where the agent itself lives on a cgroup v2 host. cgroup v2 lets a cgroup hand controllers
//! to its children only while it holds no processes, so an agent that makes pod cgroups below
//! its own cgroup (systemd's `Delegate=yes` unit, or a delegated scope) first moves itself
//! into a leaf child, `nodelet-agent`, and enables the controllers for its cgroup's children.
//! The pods then go below that (now process-free) cgroup, named by an absolute path so that
//! shims in the leaf resolve the same directories. On v1 hosts nothing moves: v1 has no such
//! rule and pod cgroups stay relative to the agent's cgroup in each hierarchy.

use std::path::{Path, PathBuf};

use super::error::Error;

/// The leaf the agent (and the shims it starts) live in.
pub const LEAF: &str = "nodelet-agent";

const CGROUP2: &str = "/sys/fs/cgroup";

/// On cgroup v2 with no configured cgroupRoot: moves this process into `<own>/nodelet-agent`,
/// enables `<own>`'s available controllers for its children, and returns `<own>` as the
/// absolute cgroup root for pods. Otherwise returns `configured` unchanged.
pub fn prepare(configured: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    if configured.is_some() {
        return Ok(configured.map(Path::to_path_buf));
    }
    let mode = noderun_cgroups::mode().map_err(|e| Error::new("cgroup mode", e))?;
    if mode != noderun_cgroups::Mode::Unified {
        return Ok(None);
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::new("read /proc/self/cgroup", e))?;
    let own = unified_path(&own).ok_or_else(|| {
        Error::msg(
            "/proc/self/cgroup",
            "no cgroup v2 entry (0::/path) on a cgroup v2 host",
        )
    })?;
    let base = root_for(&own);
    enter_leaf(Path::new(CGROUP2), &base, std::process::id())?;
    Ok(Some(base))
}

/// This process lives in its cgroup v2 leaf (after [`prepare`] moved it, or inherited from
/// the agent that started it).
pub fn in_leaf() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| unified_path(&s))
        .is_some_and(|p| p.file_name().is_some_and(|n| n == LEAF))
        && noderun_cgroups::mode().is_ok_and(|m| m == noderun_cgroups::Mode::Unified)
}

/// The `0::/path` entry of a /proc/<pid>/cgroup file.
fn unified_path(proc_cgroup: &str) -> Option<PathBuf> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.trim()))
}

/// The pods' root for an agent in `own`: `own`, or its parent when the agent already is in
/// the leaf (a restarted agent, or one started from a shell that stayed in it).
fn root_for(own: &Path) -> PathBuf {
    if own.file_name().is_some_and(|n| n == LEAF) {
        own.parent().unwrap_or(Path::new("/")).to_path_buf()
    } else {
        own.to_path_buf()
    }
}

/// Creates `<mount><base>/nodelet-agent`, moves `pid` into it and enables every controller
/// `<base>` has for its children. Refuses the hierarchy root: pods must not be made there.
fn enter_leaf(mount: &Path, base: &Path, pid: u32) -> Result<(), Error> {
    if base == Path::new("/") {
        return Err(Error::msg(
            "cgroupRoot",
            "nodelet runs in the root cgroup: run it as a systemd service (Delegate=yes), \
             in a delegated scope (systemd-run --scope -p Delegate=yes), or set cgroupRoot",
        ));
    }
    let dir = mount.join(base.strip_prefix("/").unwrap_or(base));
    let leaf = dir.join(LEAF);
    match std::fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::new(format!("create {}", leaf.display()), e)),
    }
    let procs = leaf.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string())
        .map_err(|e| Error::new(format!("move nodelet into {}", procs.display()), e))?;
    let available = std::fs::read_to_string(dir.join("cgroup.controllers"))
        .map_err(|e| Error::new(format!("read {}/cgroup.controllers", dir.display()), e))?;
    let control = dir.join("cgroup.subtree_control");
    for c in available.split_whitespace() {
        if let Err(e) = std::fs::write(&control, format!("+{c}")) {
            let why = if e.raw_os_error() == Some(libc::EBUSY) {
                format!(
                    "{} still holds processes other than nodelet: run nodelet alone in its \
                     cgroup (systemd unit with Delegate=yes) or set cgroupRoot",
                    dir.display()
                )
            } else {
                e.to_string()
            };
            return Err(Error::msg(
                format!("enable controller {c} in {}", control.display()),
                why,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_entry() {
        let f = "12:memory:/x\n0::/system.slice/nodelet.service\n";
        assert_eq!(
            unified_path(f),
            Some(PathBuf::from("/system.slice/nodelet.service"))
        );
        assert_eq!(unified_path("4:cpu:/\n"), None);
    }

    #[test]
    fn root_is_own_cgroup_or_the_leafs_parent() {
        assert_eq!(
            root_for(Path::new("/system.slice/nodelet.service")),
            PathBuf::from("/system.slice/nodelet.service")
        );
        assert_eq!(
            root_for(Path::new("/system.slice/nodelet.service/nodelet-agent")),
            PathBuf::from("/system.slice/nodelet.service")
        );
    }

    #[test]
    fn hierarchy_root_is_refused() {
        let e = enter_leaf(Path::new("/nonexistent"), Path::new("/"), 1).unwrap_err();
        assert!(e.to_string().contains("root cgroup"), "{e}");
    }
}
