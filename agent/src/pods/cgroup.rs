//! Pod cgroups: `<cgroupRoot>/pod<uid>` (relative to the agent's own cgroup when no cgroupRoot
//! is configured), created before the sandbox with the pod's resources, removed with every
//! child left in it; and the listing garbage collection uses.

use std::path::{Path, PathBuf};

use super::error::Error;

/// Name prefix of pod cgroups.
pub const PREFIX: &str = "pod";

/// The pod's cgroupsPath: `<root>/pod<uid>`, or `pod<uid>` below our own cgroup.
pub fn pod_cgroup_path(root: Option<&Path>, uid: &str) -> String {
    let leaf = format!("{PREFIX}{uid}");
    match root {
        Some(r) => r.join(leaf).display().to_string(),
        None => leaf,
    }
}

/// Resolves `path`; when the agent lives in its cgroup v2 leaf, the leaf's parent counts as
/// the agent's own cgroup (pod cgroups are the leaf's siblings).
fn resolve(path: &str) -> Result<noderun_cgroups::Cgroup, Error> {
    let mut cg = noderun_cgroups::Cgroup::resolve(Some(Path::new(path)), "pod")
        .map_err(|e| Error::new(format!("pod cgroup {path}"), e))?;
    if super::agent_cgroup::in_leaf() {
        cg.owning_parent_of_own()
            .map_err(|e| Error::new(format!("pod cgroup {path}"), e))?;
    }
    Ok(cg)
}

/// The pod cgroup at `path` as the runtime places it (for reading its stats), if it resolves.
pub fn resolved(path: &str) -> Option<noderun_cgroups::Cgroup> {
    resolve(path).ok()
}

/// Creates the pod cgroup (ok if it exists) and applies `resources`.
pub fn create(path: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
    let mut cg = resolve(path)?;
    cg.create()
        .map_err(|e| Error::new(format!("create pod cgroup {path}"), e))?;
    cg.apply(resources)
        .map_err(|e| Error::new(format!("pod cgroup {path} resources"), e))
}

/// The kubelet's pid reservation: the cgroup that holds every pod (`cgroupRoot`, else the
/// agent's own) gets `pids.max` = the node's pids − systemReserved − kubeReserved `pid`, so
/// pods together never take the pids kept for the system.
pub fn limit_pods_pids(root: Option<&Path>, max: i64) -> Result<(), Error> {
    let what = || format!("pids.max of the pods' cgroup (pid reservation, {max})");
    if let Some(r) = root {
        let path = r.display().to_string();
        let mut cg = resolve(&path)?;
        cg.create().map_err(|e| Error::new(what(), e))?;
        let res = oci_spec::runtime::LinuxResourcesBuilder::default()
            .pids(
                oci_spec::runtime::LinuxPidsBuilder::default()
                    .limit(max)
                    .build()
                    .map_err(|e| Error::msg(what(), e.to_string()))?,
            )
            .build()
            .map_err(|e| Error::msg(what(), e.to_string()))?;
        return cg.apply(&res).map_err(|e| Error::new(what(), e));
    }
    // No cgroupRoot: the pods' parent is the agent's own cgroup (its leaf's parent on v2),
    // the parent of any pod cgroup path.
    let probe = resolve(&pod_cgroup_path(None, "probe"))?;
    for d in probe.dirs() {
        if let Some(parent) = d.path.parent()
            && parent.join("pids.max").exists()
        {
            std::fs::write(parent.join("pids.max"), max.to_string())
                .map_err(|e| Error::new(what(), e))?;
        }
    }
    Ok(())
}

/// In the cgroup v2 leaf layout, makes the (empty) cgroup of a container or sandbox that the
/// shim's runtime then joins: the shim lives in the agent's leaf, and a runtime only creates
/// cgroups below its own. A no-op otherwise (the runtime creates it).
pub fn prepare_container(path: &str) -> Result<(), Error> {
    if !super::agent_cgroup::in_leaf() {
        return Ok(());
    }
    resolve(path)?
        .create()
        .map_err(|e| Error::new(format!("create cgroup {path}"), e))
}

/// The file that counts OOM kills in the memory cgroup of the container whose cgroupsPath is
/// `path` (handed to the shim, which reads it when the container dies of SIGKILL). None if
/// it cannot be resolved (no memory controller): exits are then never reported as OOMKilled.
pub fn oom_counter(path: &str) -> Option<PathBuf> {
    match resolve(path).and_then(|cg| {
        cg.oom_kills_file()
            .map_err(|e| Error::new(format!("cgroup {path}"), e))
    }) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("OOM kills of {path} cannot be detected: {e}");
            None
        }
    }
}

/// The counterpart of [`prepare_container`]: removes the container's cgroup once the
/// runtime deleted the container (the runtime only removes cgroups it made).
pub fn remove_container(path: &str) {
    if super::agent_cgroup::in_leaf()
        && let Err(e) = remove(path)
    {
        tracing::warn!("{e}");
    }
}

/// Removes the pod cgroup and everything below it in every hierarchy (deepest first). The
/// processes must be gone. Ok if absent.
pub fn remove(path: &str) -> Result<(), Error> {
    let cg = noderun_cgroups::Cgroup::resolve(Some(Path::new(path)), "pod")
        .map_err(|e| Error::new(format!("pod cgroup {path}"), e))?;
    let mut first_err = None;
    for d in cg.dirs() {
        if let Err(e) = remove_tree(&d.path) {
            first_err.get_or_insert(Error::new(format!("remove cgroup {}", d.path.display()), e));
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    // The kernel may report a cgroup busy for a moment after its last task exited.
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// UIDs of the pod cgroups present below `root` (in any hierarchy).
pub fn list(root: Option<&Path>) -> Result<Vec<String>, Error> {
    let base: PathBuf = root.map(Path::to_path_buf).unwrap_or_default();
    let probe = base.join(format!("{PREFIX}x"));
    let cg = noderun_cgroups::Cgroup::resolve(Some(&probe), "pod")
        .map_err(|e| Error::new("pod cgroups", e))?;
    let mut out = Vec::new();
    for d in cg.dirs() {
        let Some(parent) = d.path.parent() else {
            continue;
        };
        for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(uid) = name.strip_prefix(PREFIX)
                && e.file_type().is_ok_and(|t| t.is_dir())
                && !uid.is_empty()
                && !out.iter().any(|u| u == uid)
            {
                out.push(uid.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(pod_cgroup_path(None, "abc"), "podabc");
        assert_eq!(
            pod_cgroup_path(Some(Path::new("/nodelet")), "abc"),
            "/nodelet/podabc"
        );
    }
}
