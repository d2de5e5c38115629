//! What the eviction manager measures (the kubelet's summary stats, read directly): the
//! node's memory (`/proc/meminfo`), file systems (statvfs of the root dir and the image
//! store), pids (`/proc/loadavg` against `pid_max`/`threads-max`); a pod's cgroup (working
//! set, pids) and its local storage: each container's writable layer
//! (`<rootDir>/images/containers/<id>/upper`) plus its logs (`<podLogsDir>/<ns>_<name>_<uid>/
//! <container>/`), and its emptyDirs (`<rootDir>/pods/<uid>/volumes/kubernetes.io~empty-dir/
//! <name>`; a memory-backed one is its tmpfs's used size). Disk usage is counted as `du`
//! does (allocated blocks), without crossing into other file systems.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::rules::{Observation, Observations, Signal};

/// (available, capacity) of memory as the kubelet computes it for `memory.available`:
/// capacity − working set, the working set being usage − inactive file pages, so
/// available = MemFree + Inactive(file).
pub fn node_memory(meminfo: &str) -> Option<Observation> {
    let field = |name: &str| -> Option<i64> {
        let l = meminfo.lines().find(|l| l.starts_with(name))?;
        let kib: i64 = l[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    let capacity = field("MemTotal:")?;
    let available = field("MemFree:")? + field("Inactive(file):").unwrap_or(0);
    Some(Observation {
        available: available.min(capacity),
        capacity,
    })
}

/// (bytes, inodes) observations of the file system holding `p`.
pub fn filesystem(p: &Path) -> Option<(Observation, Observation)> {
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    let frsize = st.fragment_size() as i64;
    Some((
        Observation {
            available: st.blocks_available() as i64 * frsize,
            capacity: st.blocks() as i64 * frsize,
        },
        Observation {
            available: st.files_free() as i64,
            capacity: st.files() as i64,
        },
    ))
}

/// `pid.available`: the most pids the kernel gives (min of `pid_max` and `threads-max`) minus
/// the scheduling entities that exist (`/proc/loadavg`'s total).
pub fn node_pids() -> Option<Observation> {
    let num = |p: &str| -> Option<i64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let capacity = num("/proc/sys/kernel/pid_max")?.min(num("/proc/sys/kernel/threads-max")?);
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let used: i64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()?;
    Some(Observation {
        available: capacity - used,
        capacity,
    })
}

/// The node's observations: memory, its root dir's and image store's file systems, pids;
/// `allocatableMemory.available` from allocatable memory and the pods' working sets.
pub fn observe_node(
    root_dir: &Path,
    allocatable_memory: i64,
    pods_working_set: i64,
) -> Observations {
    let mut o = Observations::new();
    if let Some(m) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| node_memory(&t))
    {
        o.insert(Signal::MemoryAvailable, m);
    }
    o.insert(
        Signal::AllocatableMemoryAvailable,
        Observation {
            available: allocatable_memory - pods_working_set,
            capacity: allocatable_memory,
        },
    );
    if let Some((bytes, inodes)) = filesystem(root_dir) {
        o.insert(Signal::NodeFsAvailable, bytes);
        o.insert(Signal::NodeFsInodesFree, inodes);
    }
    let images = root_dir.join("images");
    if let Some((bytes, inodes)) = filesystem(if images.is_dir() { &images } else { root_dir }) {
        o.insert(Signal::ImageFsAvailable, bytes);
        o.insert(Signal::ImageFsInodesFree, inodes);
    }
    if let Some(p) = node_pids() {
        o.insert(Signal::PidAvailable, p);
    }
    o
}

/// (working set bytes, pids) of a pod's cgroup, if it can be read.
pub fn cgroup_usage(cg: &noderun_cgroups::Cgroup) -> (Option<i64>, Option<i64>) {
    let Ok(st) = cg.stats() else {
        return (None, None);
    };
    (
        st.memory_working_set.map(|v| v as i64),
        st.pids_current.map(|v| v as i64),
    )
}

/// (bytes allocated, inodes) below `p`, not crossing into other file systems; zero when
/// missing.
pub fn du(p: &Path) -> (i64, i64) {
    let Ok(top) = std::fs::symlink_metadata(p) else {
        return (0, 0);
    };
    let dev = top.dev();
    let (mut bytes, mut inodes) = (top.blocks() as i64 * 512, 1i64);
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            bytes += m.blocks() as i64 * 512;
            inodes += 1;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    (bytes, inodes)
}

/// Bytes used on the file system mounted at `p` (a memory-backed emptyDir's tmpfs).
pub fn mounted_used(p: &Path) -> i64 {
    nix::sys::statvfs::statvfs(p)
        .map(|st| (st.blocks() - st.blocks_free()) as i64 * st.fragment_size() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_available_is_free_plus_inactive_file() {
        let m = "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     700 kB\nInactive(file):   200 kB\n";
        assert_eq!(
            node_memory(m),
            Some(Observation {
                available: 300 * 1024,
                capacity: 1000 * 1024
            })
        );
        assert_eq!(node_memory("nothing"), None);
    }

    #[test]
    fn du_counts_allocated_blocks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/f"), vec![1u8; 1 << 20]).unwrap();
        let (bytes, inodes) = du(d.path());
        assert!(bytes >= 1 << 20, "{bytes}");
        assert_eq!(inodes, 3);
        assert_eq!(du(&d.path().join("missing")), (0, 0));
    }
}
