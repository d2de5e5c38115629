//! Directory lifecycle: `create` (mkdir -p below the caller's own cgroup, cpuset
//! initialisation on v1, controller delegation on v2), `delete` (rmdir deepest first) and the
//! recursive process listing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Cgroup, Error, Mode, fsio};

/// The missing directories of `path`, top-down (empty if `path` exists).
fn missing_dirs(path: &Path, stop: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut p = path;
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if p != stop => p = parent,
            _ => break,
        }
    }
    missing.reverse();
    missing
}

pub(crate) fn create(cg: &mut Cgroup) -> Result<(), Error> {
    // Check every hierarchy before making anything, so a refusal leaves nothing behind.
    let mut plan: Vec<(usize, Vec<PathBuf>)> = Vec::with_capacity(cg.dirs.len());
    for (i, d) in cg.dirs.iter().enumerate() {
        let missing = missing_dirs(&d.path, &d.hierarchy.mountpoint);
        let Some(top) = missing.first() else { continue };
        let refuse = |reason: String| Error::Refused {
            path: top.clone(),
            hierarchy: d.hierarchy.name(),
            reason,
        };
        let Some(own) = d.own_dir.as_ref() else {
            return Err(refuse(format!(
                "the caller's own cgroup {:?} is not reachable through the mount at {}",
                d.hierarchy.own_path,
                d.hierarchy.mountpoint.display()
            )));
        };
        if !(top.starts_with(own) && top != own) {
            return Err(refuse(format!(
                "it is not below the caller's own cgroup {}",
                own.display()
            )));
        }
        plan.push((i, missing));
    }
    let before = cg.created.len();
    let result = make_dirs(cg, &plan);
    if result.is_err() {
        let made: Vec<PathBuf> = cg.created.drain(before..).collect();
        // Best effort: the original error is what the caller needs to see.
        let _ = delete(&made);
    }
    result
}

fn make_dirs(cg: &mut Cgroup, plan: &[(usize, Vec<PathBuf>)]) -> Result<(), Error> {
    for (i, missing) in plan {
        let is_cpuset = cg.dirs[*i]
            .hierarchy
            .controllers
            .iter()
            .any(|c| c == "cpuset");
        for dir in missing {
            match std::fs::create_dir(dir) {
                Ok(()) => cg.created.push(dir.clone()),
                // Raced with another creator: joining is allowed.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(dir, "mkdir", e)),
            }
            match cg.mode {
                Mode::Unified => {
                    if let Some(parent) = dir.parent() {
                        let parent_is_ours = cg.created.iter().any(|c| c == parent);
                        enable_controllers(parent, parent_is_ours)?;
                    }
                }
                Mode::Hybrid | Mode::Legacy if is_cpuset => init_cpuset(dir)?,
                _ => {}
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

fn remove_tree(dir: &Path) -> Result<(), Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, "read_dir", e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, "read_dir", e))?;
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&ent.path())?;
        }
    }
    rmdir_retry(dir)
}

/// rmdir, retrying on EBUSY for up to ~1 s (tasks that were just killed may still be
/// accounted to the cgroup for a moment).
fn rmdir_retry(dir: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io(dir, "rmdir", e)),
        }
    }
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
