//! Parsing of /proc/self/mountinfo and /proc/self/cgroup into the list of cgroup hierarchies
//! the calling process can use (pure functions over the files' text, so they are unit-tested).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Mode};

pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";
pub(crate) const PROC_CGROUP: &str = "/proc/self/cgroup";
/// The one named v1 hierarchy a container joins.
pub(crate) const SYSTEMD_HIERARCHY: &str = "name=systemd";

/// One cgroup mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMountInfo {
    /// Path inside the hierarchy that is mounted (mountinfo field 4).
    pub root: String,
    pub mountpoint: PathBuf,
    /// true for cgroup2, false for cgroup (v1).
    pub v2: bool,
    /// Super options (v1: contains the controllers, e.g. "rw,cpu,cpuacct").
    pub super_opts: String,
}

/// A hierarchy the caller is in, located on a mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Controllers bound to this hierarchy in kernel order (e.g. ["cpu", "cpuacct"]); empty for
    /// cgroup v2.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted.
    pub mountpoint: PathBuf,
    /// The cgroup path (as seen in this cgroup namespace) of the mount's root.
    pub mount_root: String,
    /// The caller's own cgroup path (as seen in this cgroup namespace).
    pub own_path: String,
}

impl Hierarchy {
    /// Display name: "cpu,cpuacct", "memory" or "unified".
    pub fn name(&self) -> String {
        if self.controllers.is_empty() {
            "unified".to_string()
        } else {
            self.controllers.join(",")
        }
    }

    /// The directory of the caller's own cgroup in this hierarchy.
    pub fn own_dir(&self) -> Option<PathBuf> {
        let rel = strip_cgroup_prefix(&self.own_path, &self.mount_root)?;
        Some(join_cgroup_path(&self.mountpoint, rel))
    }
}

/// `path` below `prefix` (component-wise), as a relative path without leading '/'.
fn strip_cgroup_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// mountpoint + a cgroup path (leading '/' ignored).
pub(crate) fn join_cgroup_path(mountpoint: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mountpoint.to_path_buf()
    } else {
        mountpoint.join(rel)
    }
}

/// Decodes mountinfo's octal escapes (\040 for space, etc.).
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every cgroup/cgroup2 mount in mountinfo text, in order.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMountInfo>, Error> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post_it = post.split(' ');
        let fstype = post_it.next().unwrap_or("");
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let _source = post_it.next();
        let super_opts = post_it.next().unwrap_or("").to_string();
        let mut pre_it = pre.split(' ');
        let (Some(_id), Some(_parent), Some(_dev), Some(root), Some(mp)) = (
            pre_it.next(),
            pre_it.next(),
            pre_it.next(),
            pre_it.next(),
            pre_it.next(),
        ) else {
            return Err(Error::parse(MOUNTINFO, format!("short line {line:?}")));
        };
        out.push(CgroupMountInfo {
            root: unescape(root),
            mountpoint: PathBuf::from(unescape(mp)),
            v2,
            super_opts,
        });
    }
    Ok(out)
}

/// One line of /proc/self/cgroup: (controllers, path).
fn parse_proc_cgroup(text: &str) -> Result<Vec<(Vec<String>, String)>, Error> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut it = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::parse(PROC_CGROUP, format!("bad line {line:?}")));
        };
        let ctrls = if ctrls.is_empty() {
            Vec::new()
        } else {
            ctrls.split(',').map(str::to_string).collect()
        };
        out.push((ctrls, path.to_string()));
    }
    Ok(out)
}

/// The cgroup mode from the mounts: Unified when /sys/fs/cgroup itself is cgroup2 (or there are
/// only cgroup2 mounts), Hybrid when v1 controllers and a cgroup2 mount coexist, else Legacy.
pub(crate) fn mode_from_mounts(
    root_is_cgroup2: bool,
    mounts: &[CgroupMountInfo],
) -> Result<Mode, Error> {
    let any_v1 = mounts
        .iter()
        .any(|m| !m.v2 && m.super_opts.split(',').any(|o| !o.starts_with("name=")));
    let any_v2 = mounts.iter().any(|m| m.v2);
    Ok(match (root_is_cgroup2, any_v1, any_v2) {
        (true, _, _) | (false, false, true) => Mode::Unified,
        (false, true, true) => Mode::Hybrid,
        (false, true, false) => Mode::Legacy,
        (false, false, false) => {
            return Err(Error::parse(MOUNTINFO, "no cgroup or cgroup2 mount found"));
        }
    })
}

/// Picks, among `mounts` matching a hierarchy, the one whose root contains `own_path`
/// (shortest root first), so that the caller's own cgroup is reachable through it.
fn best_mount<'a>(
    cands: impl Iterator<Item = &'a CgroupMountInfo>,
    own_path: &str,
) -> Option<&'a CgroupMountInfo> {
    let mut best: Option<&CgroupMountInfo> = None;
    let mut first: Option<&CgroupMountInfo> = None;
    for m in cands {
        first.get_or_insert(m);
        if strip_cgroup_prefix(own_path, &m.root).is_some()
            && best.is_none_or(|b| m.root.len() < b.root.len())
        {
            best = Some(m);
        }
    }
    best.or(first)
}

/// The hierarchies to use in `mode`: the cgroup2 one for Unified, every v1 controller hierarchy
/// (plus the named name=systemd one; other named ones skipped) for Hybrid and Legacy.
pub(crate) fn hierarchies(
    mode: Mode,
    mounts: &[CgroupMountInfo],
    proc_cgroup: &str,
) -> Result<Vec<Hierarchy>, Error> {
    let lines = parse_proc_cgroup(proc_cgroup)?;
    let mut out = Vec::new();
    for (ctrls, path) in lines {
        if path.starts_with("/..") {
            return Err(Error::parse(
                PROC_CGROUP,
                format!("own cgroup {path:?} is outside this cgroup namespace"),
            ));
        }
        let m = match mode {
            Mode::Unified => {
                if !ctrls.is_empty() {
                    continue;
                }
                // Prefer the conventional mountpoint.
                mounts
                    .iter()
                    .find(|m| m.v2 && m.mountpoint == Path::new("/sys/fs/cgroup"))
                    .or_else(|| best_mount(mounts.iter().filter(|m| m.v2), &path))
            }
            Mode::Hybrid | Mode::Legacy => {
                // Named hierarchies other than name=systemd are skipped; that one is joined
                // (and mounted in containers) as runc does, for systemd inside containers.
                let named = ctrls.iter().any(|c| c.starts_with("name="));
                if ctrls.is_empty() || (named && ctrls != [SYSTEMD_HIERARCHY]) {
                    continue;
                }
                let cands = mounts.iter().filter(|m| {
                    !m.v2
                        && ctrls
                            .iter()
                            .all(|c| m.super_opts.split(',').any(|o| o == c))
                });
                best_mount(cands, &path)
            }
        };
        // A hierarchy listed in /proc/self/cgroup but not mounted is simply not usable.
        let Some(m) = m else { continue };
        out.push(Hierarchy {
            controllers: ctrls,
            mountpoint: m.mountpoint.clone(),
            mount_root: m.root.clone(),
            own_path: path,
        });
    }
    if out.is_empty() {
        return Err(Error::parse(
            PROC_CGROUP,
            format!("no mounted cgroup hierarchy for mode {mode:?}"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw shared:9 - cgroup cgroup rw,net_cls,net_prio
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
7:net_cls,net_prio:/
4:memory:/process_api/d7bf
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_uses_v1_controllers_only() {
        let mounts = parse_mountinfo(HYBRID_MOUNTINFO).unwrap();
        assert_eq!(mounts.len(), 7);
        assert_eq!(mode_from_mounts(false, &mounts).unwrap(), Mode::Hybrid);
        let h = hierarchies(Mode::Hybrid, &mounts, HYBRID_CGROUP).unwrap();
        let names: Vec<_> = h.iter().map(Hierarchy::name).collect();
        assert_eq!(
            names,
            [
                "name=systemd",
                "net_cls,net_prio",
                "memory",
                "cpuset",
                "cpuacct",
                "cpu"
            ]
        );
        let mem = &h[2];
        assert_eq!(
            mem.own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/d7bf")
        );
        assert_eq!(
            h[1].mountpoint,
            Path::new("/sys/fs/cgroup/net_cls,net_prio")
        );
    }

    #[test]
    fn legacy_and_unified_modes() {
        let legacy = parse_mountinfo(
            "1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             2 0 0:2 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
        )
        .unwrap();
        assert_eq!(mode_from_mounts(false, &legacy).unwrap(), Mode::Legacy);
        let unified =
            parse_mountinfo("1 0 0:1 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
                .unwrap();
        assert_eq!(mode_from_mounts(true, &unified).unwrap(), Mode::Unified);
        let h = hierarchies(Mode::Unified, &unified, "0::/user.slice/x.scope\n").unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/user.slice/x.scope")
        );
        assert!(mode_from_mounts(false, &[]).is_err());
    }

    #[test]
    fn bind_mounted_subtree_without_cgroupns() {
        // A container that sees its own cgroup bind-mounted (mount root /docker/abc).
        let m = parse_mountinfo(
            "1 0 0:1 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        )
        .unwrap();
        let h = hierarchies(Mode::Legacy, &m, "4:memory:/docker/abc/sub\n").unwrap();
        assert_eq!(
            h[0].own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/sub")
        );
        // Own cgroup outside the mounted subtree: not reachable.
        let h = hierarchies(Mode::Legacy, &m, "4:memory:/docker/abcd\n").unwrap();
        assert_eq!(h[0].own_dir(), None);
    }

    #[test]
    fn escapes_and_outside_namespace() {
        let m = parse_mountinfo("1 0 0:1 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n").unwrap();
        assert_eq!(m[0].mountpoint, Path::new("/mnt/my cg"));
        assert!(hierarchies(Mode::Unified, &m, "0::/../../x\n").is_err());
        assert!(parse_proc_cgroup("garbage\n").is_err());
    }
}
