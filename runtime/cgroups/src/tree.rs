//! Directory lifecycle: `create` (mkdir -p below the caller's own cgroup or from the root, cpuset
//! initialisation on v1, controller delegation on v2), `delete` (rmdir deepest first) and the
//! recursive process listing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Cgroup, Error, Mode, fsio};

/// What `create` does for one hierarchy.
enum Plan {
    /// The directory is strictly below the caller's own cgroup: mkdir -p up to `own`,
    /// recording every directory made (they are the caller's to remove).
    Below,
    /// The directory exists elsewhere: join it, create nothing.
    Join,
    /// An absolute path outside the caller's own cgroup (podman's `<parent>/libpod-<id>` beside
    /// `<parent>/conmon`, containerd's `/default/<id>`): mkdir -p from the hierarchy's root as
    /// runc and crun do, recording only the container's own directory. Parents may be shared
    /// with other containers or the engine and are never removed.
    Outside,
}

pub(crate) fn create(cg: &mut Cgroup) -> Result<(), Error> {
    // Being below the caller's own cgroup is decided on the (normalised) paths alone, so the
    // common case costs one mkdir per hierarchy.
    let mut plan = Vec::with_capacity(cg.dirs.len());
    for d in &cg.dirs {
        let below = d
            .own_dir
            .as_ref()
            .is_some_and(|own| d.path.starts_with(own) && d.path != *own);
        plan.push(if below {
            Plan::Below
        } else if d.path.is_dir() {
            Plan::Join
        } else {
            Plan::Outside
        });
    }
    let before = cg.created.len();
    let mut result = Ok(());
    for (i, p) in plan.iter().enumerate() {
        result = match p {
            Plan::Below => mkdir_below_own(cg, i),
            Plan::Outside => mkdir_outside(cg, i),
            Plan::Join => Ok(()),
        };
        if result.is_err() {
            break;
        }
    }
    if result.is_err() {
        let made: Vec<PathBuf> = cg.created.drain(before..).collect();
        // Best effort: the original error is what the caller needs to see.
        let _ = delete(&made);
    }
    result
}

/// mkdir -p of dirs[i] from its hierarchy's mount point, initialising every directory made
/// (v1 cpuset, v2 controller delegation) but recording only dirs[i] itself for `delete`.
fn mkdir_outside(cg: &mut Cgroup, i: usize) -> Result<(), Error> {
    let path = cg.dirs[i].path.clone();
    let root = cg.dirs[i].hierarchy.mountpoint.clone();
    let mut missing: Vec<&Path> = Vec::new();
    let mut p = path.as_path();
    // Walk up to the first directory that exists (at worst the mount point itself).
    while !p.is_dir() {
        missing.push(p);
        match p.parent() {
            Some(parent) if parent.starts_with(&root) => p = parent,
            _ => {
                return Err(Error::io(
                    p,
                    "mkdir",
                    std::io::Error::from(ErrorKind::NotFound),
                ));
            }
        }
    }
    let mut parent_made = false;
    while let Some(p) = missing.pop() {
        match std::fs::create_dir(p) {
            Ok(()) => {
                if p == path {
                    cg.created.push(p.to_path_buf());
                }
                init_new_dir(cg, i, p, parent_made)?;
                parent_made = true;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => parent_made = false,
            Err(e) => return Err(Error::io(p, "mkdir", e)),
        }
    }
    Ok(())
}

/// mkdir -p of dirs[i] (parents down from the caller's own cgroup), recording what it made and
/// initialising each new directory (v1 cpuset, v2 controller delegation).
fn mkdir_below_own(cg: &mut Cgroup, i: usize) -> Result<(), Error> {
    let path = cg.dirs[i].path.clone();
    let own = cg.dirs[i].own_dir.clone().unwrap_or_default();
    // Walk up until a mkdir succeeds or finds the directory; then come back down.
    let mut missing: Vec<&Path> = Vec::new();
    let mut p = path.as_path();
    loop {
        match std::fs::create_dir(p) {
            Ok(()) => {
                after_mkdir(cg, i, p)?;
                break;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == ErrorKind::NotFound => match p.parent() {
                Some(parent) if parent.starts_with(&own) && parent != own => {
                    missing.push(p);
                    p = parent;
                }
                _ => return Err(Error::io(p, "mkdir", e)),
            },
            Err(e) => return Err(Error::io(p, "mkdir", e)),
        }
    }
    while let Some(p) = missing.pop() {
        match std::fs::create_dir(p) {
            Ok(()) => after_mkdir(cg, i, p)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(p, "mkdir", e)),
        }
    }
    Ok(())
}

fn after_mkdir(cg: &mut Cgroup, i: usize, dir: &Path) -> Result<(), Error> {
    let parent_made = dir
        .parent()
        .is_some_and(|p| cg.created.iter().any(|c| c == p));
    cg.created.push(dir.to_path_buf());
    init_new_dir(cg, i, dir, parent_made)
}

/// Makes a new directory usable: v1 cpuset cpus/mems copied from the parent; v2 the parent's
/// controllers delegated (required when the parent was made by this `create`).
fn init_new_dir(cg: &Cgroup, i: usize, dir: &Path, parent_made: bool) -> Result<(), Error> {
    match cg.mode {
        Mode::Unified => {
            if let Some(parent) = dir.parent() {
                enable_controllers(parent, parent_made)?;
            }
        }
        Mode::Hybrid | Mode::Legacy => {
            if cg.dirs[i]
                .hierarchy
                .controllers
                .iter()
                .any(|c| c == "cpuset")
            {
                init_cpuset(dir)?;
            }
        }
    }
    Ok(())
}

/// v1: a new cpuset cgroup starts with empty cpus/mems and cannot take tasks; copy the parent's.
fn init_cpuset(dir: &Path) -> Result<(), Error> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = dir.join(f);
        if fsio::read(&mine)?.trim().is_empty() {
            let v = fsio::read(&parent.join(f))?;
            fsio::write("cpuset initialisation", &mine, v.trim())?;
        }
    }
    Ok(())
}

/// v2: enables in `dir`'s cgroup.subtree_control every controller listed in its
/// cgroup.controllers that is not enabled yet. Required for directories we created; best
/// effort for a pre-existing parent (the caller's own cgroup may hold processes, and then
/// whoever delegated it must have enabled the controllers; `apply` reports missing files).
fn enable_controllers(dir: &Path, required: bool) -> Result<(), Error> {
    let available = fsio::read(&dir.join("cgroup.controllers"))?;
    let enabled = fsio::read(&dir.join("cgroup.subtree_control"))?;
    let mut want = String::new();
    for c in available.split_ascii_whitespace() {
        if !enabled.split_ascii_whitespace().any(|e| e == c) {
            if !want.is_empty() {
                want.push(' ');
            }
            want.push('+');
            want.push_str(c);
        }
    }
    if want.is_empty() {
        return Ok(());
    }
    match fsio::write(
        "cgroup.subtree_control",
        &dir.join("cgroup.subtree_control"),
        &want,
    ) {
        Err(e) if required => Err(e),
        _ => Ok(()),
    }
}

/// Removes `created` (and any cgroups below them) deepest first. Ok if already gone.
pub(crate) fn delete(created: &[PathBuf]) -> Result<(), Error> {
    for dir in created.iter().rev() {
        remove_tree(dir)?;
    }
    Ok(())
}

/// rmdir `dir`; when the kernel says busy, remove child cgroups first and retry for up to
/// ~1 s (tasks that were just killed may still be accounted to the cgroup for a moment).
fn remove_tree(dir: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_millis(1);
    loop {
        let e = match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        let busy = matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY));
        if !busy {
            return Err(Error::io(dir, "rmdir", e));
        }
        if remove_children(dir)? {
            continue;
        }
        if Instant::now() >= deadline {
            return Err(Error::io(dir, "rmdir", e));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Removes every child cgroup of `dir`; true if there was one.
fn remove_children(dir: &Path) -> Result<bool, Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(dir, "read_dir", e)),
    };
    let mut any = false;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, "read_dir", e))?;
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&ent.path())?;
            any = true;
        }
    }
    Ok(any)
}

/// Every pid in `dir`'s cgroup.procs and those of its descendants.
pub(crate) fn pids(dir: &Path) -> Result<Vec<i32>, Error> {
    let mut out = Vec::new();
    collect_pids(dir, &mut out)?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    let procs = dir.join("cgroup.procs");
    let text = fsio::read(&procs)?;
    for l in text.lines() {
        let pid = l
            .trim()
            .parse()
            .map_err(|_| Error::parse(&procs, format!("bad pid {l:?}")))?;
        out.push(pid);
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read_dir", e))?;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, "read_dir", e))?;
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            match collect_pids(&ent.path(), out) {
                // A child cgroup removed while we walk is fine.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                r => r?,
            }
        }
    }
    Ok(())
}
