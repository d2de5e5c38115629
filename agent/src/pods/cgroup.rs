//! Pod cgroups, by the configured `cgroupDriver`. cgroupfs: `<cgroupRoot>/pod<uid>` (relative
//! to the agent's own cgroup when no cgroupRoot is configured), directories nodelet makes.
//! systemd: the kubelet's names, `kubepods[-burstable|-besteffort]-pod<uid>.slice` (dashes of
//! the UID as underscores) in `kubepods.slice`, transient slices made over D-Bus, with the
//! containers' scopes (`nodelet-<id>.scope`, noderun `--systemd-cgroup`) in them. Created
//! before the sandbox with the pod's resources, removed with every child left in it; and the
//! listing garbage collection uses. Which driver made a pod's cgroup is read from its path (a
//! `.slice` is systemd's), so pods keep theirs across a configuration change.

use std::path::{Path, PathBuf};

use crate::config::CgroupDriver;
use crate::podspec::QosClass;

use super::error::Error;

/// Name prefix of pod cgroups.
pub const PREFIX: &str = "pod";

use crate::podspec::SCOPE_PREFIX;

/// The systemd driver's top slice, the kubelet's.
const KUBEPODS: &str = "kubepods.slice";

/// The pod's cgroupsPath: cgroupfs `<root>/pod<uid>` (or `pod<uid>` below our own cgroup);
/// systemd the kubelet's slice name for the pod's QoS class (for `None`, an existing slice of
/// the pod, else the Burstable name).
pub fn pod_cgroup_path(
    driver: CgroupDriver,
    root: Option<&Path>,
    uid: &str,
    qos: Option<QosClass>,
) -> String {
    if driver == CgroupDriver::Systemd {
        return match qos {
            Some(q) => pod_slice(uid, q),
            None => existing_slice(uid).unwrap_or_else(|| pod_slice(uid, QosClass::Burstable)),
        };
    }
    let leaf = format!("{PREFIX}{uid}");
    match root {
        Some(r) => r.join(leaf).display().to_string(),
        None => leaf,
    }
}

/// `kubepods-pod<uid>.slice` (Guaranteed), `kubepods-burstable-pod<uid>.slice`,
/// `kubepods-besteffort-pod<uid>.slice`, as the kubelet's systemd driver names them.
pub fn pod_slice(uid: &str, qos: QosClass) -> String {
    let uid = uid.replace('-', "_");
    match qos {
        QosClass::Guaranteed => format!("kubepods-pod{uid}.slice"),
        QosClass::Burstable => format!("kubepods-burstable-pod{uid}.slice"),
        QosClass::BestEffort => format!("kubepods-besteffort-pod{uid}.slice"),
    }
}

/// The UID in a pod slice's name (`kubepods-burstable-pod1_2.slice` → `1-2`).
fn uid_of_slice(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".slice")?;
    let uid = [
        "kubepods-burstable-pod",
        "kubepods-besteffort-pod",
        "kubepods-pod",
    ]
    .iter()
    .find_map(|p| stem.strip_prefix(p))?;
    (!uid.is_empty() && !uid.contains('-')).then(|| uid.replace('_', "-"))
}

/// Whether `path` (a pod's or a container's) is the systemd driver's.
pub fn is_systemd(path: &str) -> bool {
    (path.ends_with(".slice") && !path.contains('/'))
        || noderun_cgroups::systemd::is_systemd_path(path)
}

/// The cgroupsPath of a container or sandbox `id` in the pod cgroup `parent`.
pub fn container_path(parent: &str, id: &str) -> String {
    noderun_cgroups::systemd::child_path(parent, SCOPE_PREFIX, id)
}

/// Resolves `path`; when the agent lives in its cgroup v2 leaf, the leaf's parent counts as
/// the agent's own cgroup (pod cgroups are the leaf's siblings).
fn resolve(path: &str) -> Result<noderun_cgroups::Cgroup, Error> {
    if is_systemd(path) {
        return noderun_cgroups::Cgroup::resolve_systemd(Some(path), "pod", SCOPE_PREFIX)
            .map_err(|e| Error::new(format!("pod cgroup {path}"), e));
    }
    let mut cg = noderun_cgroups::Cgroup::resolve(Some(Path::new(path)), "pod")
        .map_err(|e| Error::new(format!("pod cgroup {path}"), e))?;
    if super::agent_cgroup::in_leaf() {
        cg.owning_parent_of_own()
            .map_err(|e| Error::new(format!("pod cgroup {path}"), e))?;
    }
    Ok(cg)
}

/// The pod cgroup at `path` as the runtime places it, for reading its memory and pids
/// usage (only those hierarchies kept: housekeeping holds one per pod), if it resolves.
pub fn usage_reader(path: &str) -> Option<noderun_cgroups::Cgroup> {
    let mut cg = resolve(path).ok()?;
    cg.retain_controllers(&["memory", "pids"]);
    Some(cg)
}

/// Creates the pod cgroup (ok if it exists) and applies `resources`.
pub fn create(path: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
    let mut cg = resolve(path)?;
    cg.create()
        .map_err(|e| Error::new(format!("create pod cgroup {path}"), e))?;
    cg.start_unit(None, &format!("nodelet pod {path}"), resources, &[])
        .map_err(|e| Error::new(format!("create pod cgroup {path}"), e))?;
    cg.apply(resources)
        .map_err(|e| Error::new(format!("pod cgroup {path} resources"), e))
}

/// The kubelet's pid reservation: the cgroup that holds every pod (`cgroupRoot`, else the
/// agent's own; `kubepods.slice` with the systemd driver) gets `pids.max` = the node's pids −
/// systemReserved − kubeReserved `pid`, so pods together never take the pids kept for the
/// system.
pub fn limit_pods_pids(driver: CgroupDriver, root: Option<&Path>, max: i64) -> Result<(), Error> {
    let what = || format!("pids.max of the pods' cgroup (pid reservation, {max})");
    let res = oci_spec::runtime::LinuxResourcesBuilder::default()
        .pids(
            oci_spec::runtime::LinuxPidsBuilder::default()
                .limit(max)
                .build()
                .map_err(|e| Error::msg(what(), e.to_string()))?,
        )
        .build()
        .map_err(|e| Error::msg(what(), e.to_string()))?;
    if driver == CgroupDriver::Systemd {
        // kubepods.slice is systemd's: made over D-Bus (or taken as it is), its TasksMax set
        // as a unit property (kept across daemon-reloads), then the files.
        let mut cg = resolve(KUBEPODS)?;
        cg.create().map_err(|e| Error::new(what(), e))?;
        cg.start_unit(None, "nodelet pods", &res, &[])
            .map_err(|e| Error::new(what(), e))?;
        return cg.update(&res).map_err(|e| Error::new(what(), e));
    }
    if let Some(r) = root {
        let path = r.display().to_string();
        let mut cg = resolve(&path)?;
        cg.create().map_err(|e| Error::new(what(), e))?;
        return cg.apply(&res).map_err(|e| Error::new(what(), e));
    }
    // No cgroupRoot: the pods' parent is the agent's own cgroup (its leaf's parent on v2),
    // the parent of any pod cgroup path.
    let probe = resolve(&pod_cgroup_path(
        CgroupDriver::Cgroupfs,
        None,
        "probe",
        None,
    ))?;
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
    if is_systemd(path) || !super::agent_cgroup::in_leaf() {
        return Ok(());
    }
    resolve(path)?
        .create()
        .map_err(|e| Error::new(format!("create cgroup {path}"), e))
}

/// The file that counts OOM kills in the memory cgroup of the container whose cgroupsPath is
/// `path` (handed to the shim, which reads it when the container dies of SIGKILL). None if
/// it cannot be resolved (no memory controller): exits are then never reported as OOMKilled.
///
/// With the systemd driver it is the pod slice's: systemd removes a container's scope, with
/// its counter, as soon as its last process ended, before the shim reads it. The slice's
/// `memory.events` counts the kills of all its scopes (cgroup v2 counts are hierarchical),
/// so a container that died of SIGKILL while the pod's count rose is reported OOMKilled.
pub fn oom_counter(path: &str) -> Option<PathBuf> {
    let path = match path.split_once(':') {
        Some((slice, _)) if noderun_cgroups::systemd::is_systemd_path(path) => slice,
        _ => path,
    };
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
    if !is_systemd(path)
        && super::agent_cgroup::in_leaf()
        && let Err(e) = remove(path)
    {
        tracing::warn!("{e}");
    }
}

/// Removes the pod cgroup and everything below it in every hierarchy (deepest first). The
/// processes must be gone. Ok if absent.
pub fn remove(path: &str) -> Result<(), Error> {
    if is_systemd(path) {
        // Stopping the slice stops what systemd still has in it; then the directories.
        let cg = resolve(path)?;
        if let Err(e) = cg.delete() {
            tracing::warn!("stop pod slice {path}: {e}");
        }
        for d in cg.dirs() {
            remove_tree(&d.path)
                .map_err(|e| Error::new(format!("remove cgroup {}", d.path.display()), e))?;
        }
        return Ok(());
    }
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

/// Processes left in the pod cgroup `path` (and below); empty if it cannot be read.
pub fn pids(path: &str) -> Vec<i32> {
    resolve(path)
        .ok()
        .and_then(|cg| cg.pids().ok())
        .unwrap_or_default()
}

/// The directories of `kubepods.slice` and its QoS slices, in every hierarchy.
fn kubepods_dirs() -> Vec<PathBuf> {
    let Ok(cg) = noderun_cgroups::Cgroup::resolve_systemd(Some(KUBEPODS), "pod", SCOPE_PREFIX)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in cg.dirs() {
        out.push(d.path.clone());
        out.push(d.path.join("kubepods-burstable.slice"));
        out.push(d.path.join("kubepods-besteffort.slice"));
    }
    out
}

/// An existing slice of pod `uid` (any QoS class).
fn existing_slice(uid: &str) -> Option<String> {
    kubepods_dirs().into_iter().find_map(|d| {
        std::fs::read_dir(d).ok()?.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (uid_of_slice(&name).as_deref() == Some(uid)).then_some(name)
        })
    })
}

/// UIDs of the pod cgroups present (in any hierarchy): below `root` for cgroupfs, in
/// `kubepods.slice` for systemd.
pub fn list(driver: CgroupDriver, root: Option<&Path>) -> Result<Vec<String>, Error> {
    if driver == CgroupDriver::Systemd {
        let mut out: Vec<String> = Vec::new();
        for d in kubepods_dirs() {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if let Some(uid) = uid_of_slice(&e.file_name().to_string_lossy())
                    && !out.contains(&uid)
                {
                    out.push(uid);
                }
            }
        }
        return Ok(out);
    }
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
        let fs = CgroupDriver::Cgroupfs;
        assert_eq!(pod_cgroup_path(fs, None, "abc", None), "podabc");
        assert_eq!(
            pod_cgroup_path(fs, Some(Path::new("/nodelet")), "abc", None),
            "/nodelet/podabc"
        );
        assert_eq!(
            container_path("/nodelet/podabc", "c1"),
            "/nodelet/podabc/c1"
        );
        assert_eq!(container_path("podabc", "c1"), "podabc/c1");
    }

    #[test]
    fn systemd_names_are_the_kubelets() {
        let sd = CgroupDriver::Systemd;
        let uid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        let p = |q| pod_cgroup_path(sd, None, uid, Some(q));
        assert_eq!(
            p(QosClass::Burstable),
            "kubepods-burstable-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice"
        );
        assert_eq!(
            p(QosClass::BestEffort),
            "kubepods-besteffort-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice"
        );
        assert_eq!(
            p(QosClass::Guaranteed),
            "kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice"
        );
        for q in [
            QosClass::Burstable,
            QosClass::BestEffort,
            QosClass::Guaranteed,
        ] {
            assert_eq!(uid_of_slice(&p(q)).as_deref(), Some(uid));
            assert!(is_systemd(&p(q)));
        }
        assert_eq!(uid_of_slice("kubepods-burstable.slice"), None);
        assert_eq!(uid_of_slice("kubepods.slice"), None);
        assert_eq!(
            container_path(&p(QosClass::Guaranteed), "c1"),
            "kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice:nodelet:c1"
        );
        assert!(is_systemd(&container_path(&p(QosClass::Guaranteed), "c1")));
        assert!(!is_systemd("/nodelet/podabc/c1"));
    }
}
