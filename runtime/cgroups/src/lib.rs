//! noderun-cgroups: cgroup v2 (unified) and v1 (legacy / hybrid) behind one small interface,
//! written directly against the cgroup file system (no helper processes, no regexes) so that a
//! container start costs only a handful of system calls.
//!
//! `Cgroup::resolve` turns an OCI `linux.cgroupsPath` into one directory per hierarchy,
//! `create` makes them (an absolute path from the hierarchy root, as runc and crun do),
//! `apply` writes OCI
//! `LinuxResources`, and `delete` removes exactly what `create` made. A `Cgroup` is
//! serializable so that a later process (e.g. `noderun delete`) can pick it up from state.

mod apply_v1;
mod apply_v2;
mod bpf_prog;
mod bpf_sys;
mod convert;
pub mod devices;
mod error;
mod freezer;
mod fsio;
mod mount_plan;
mod procfs;
mod resolve;
mod stats;
pub mod systemd;
#[cfg(feature = "systemd")]
mod systemd_dbus;
mod tree;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use bpf_prog::{BpfInsn, device_filter_program};
pub use bpf_sys::attached_device_filters;
pub use convert::{blkio_weight_to_io_weight, shares_to_weight, swap_to_v2};
pub use devices::{DeviceRule, DeviceType};
pub use error::Error;
pub use mount_plan::CgroupMount;
pub use procfs::Hierarchy;
pub use procfs::unescape as unescape_mountinfo;
pub use stats::{Stats, read_oom_kills};

/// Open files of [`Cgroup::self_join`].
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<(PathBuf, std::fs::File)>,
}

impl SelfJoin {
    /// Nothing to join (the systemd driver: systemd moves the process).
    pub fn none() -> SelfJoin {
        SelfJoin { files: Vec::new() }
    }

    /// Moves the calling thread (which must be its process's only thread, e.g. just forked)
    /// into the cgroup in every hierarchy.
    pub fn join(&self) -> Result<(), Error> {
        use std::io::Write;
        for (p, f) in &self.files {
            (&*f)
                .write_all(b"0")
                .map_err(|e| Error::io(p, "join (write 0)", e))?;
        }
        Ok(())
    }
}

/// How cgroups are mounted on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Only cgroup v2, mounted at /sys/fs/cgroup.
    Unified,
    /// v1 controller hierarchies plus a (usually controller-less) cgroup2 mount; the v1
    /// controllers are used.
    Hybrid,
    /// Only v1 hierarchies.
    Legacy,
}

/// Whether this build has the systemd cgroup driver's D-Bus client (feature `systemd`).
pub const SYSTEMD_DRIVER: bool = cfg!(feature = "systemd");

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Detects the cgroup mode from /sys/fs/cgroup's file system type and the cgroup mounts.
pub fn mode() -> Result<Mode, Error> {
    let mounts = procfs::parse_mountinfo(&fsio::read(Path::new(procfs::MOUNTINFO))?)?;
    procfs::mode_from_mounts(root_is_cgroup2()?, &mounts)
}

fn root_is_cgroup2() -> Result<bool, Error> {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a valid NUL-terminated string and `st` a valid out pointer.
    let rc = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) };
    if rc != 0 {
        return Err(Error::io(
            CGROUP_ROOT,
            "statfs",
            std::io::Error::last_os_error(),
        ));
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// One directory of a cgroup: its place in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    pub hierarchy: Hierarchy,
    /// Absolute directory of this cgroup.
    pub path: PathBuf,
    /// This cgroup's path inside the hierarchy as seen in this cgroup namespace.
    pub cgroup_path: String,
    /// The caller's own cgroup directory (None if it is not reachable through the mount).
    pub own_dir: Option<PathBuf>,
}

/// A container's cgroup: resolved directories per hierarchy and the ones `create` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    mode: Mode,
    dirs: Vec<CgroupDir>,
    /// Directories made by `create`, parents before children.
    created: Vec<PathBuf>,
    /// The systemd unit holding this cgroup (the systemd driver), None for cgroupfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    systemd: Option<systemd::Unit>,
}

impl Cgroup {
    /// Resolves an OCI `linux.cgroupsPath`. An absolute path is taken from each hierarchy's
    /// root as mounted here (like runc); a relative path, or None/empty (then `default_name`,
    /// the container id, is used), is placed below the caller's own cgroup in each hierarchy.
    /// Reads /proc only and creates nothing.
    pub fn resolve(cgroups_path: Option<&Path>, default_name: &str) -> Result<Cgroup, Error> {
        let mounts = procfs::parse_mountinfo(&fsio::read(Path::new(procfs::MOUNTINFO))?)?;
        let mode = procfs::mode_from_mounts(root_is_cgroup2()?, &mounts)?;
        let own = fsio::read(Path::new(procfs::PROC_CGROUP))?;
        let hierarchies = procfs::hierarchies(mode, &mounts, &own)?;
        resolve::resolve(mode, hierarchies, cgroups_path, default_name)
    }

    /// Resolves a cgroupsPath for the systemd driver (`slice:prefix:name`, see
    /// [`systemd::Unit::parse`]; `default_prefix` stands for an empty prefix), or a bare slice
    /// name (`a-b.slice`, a pod's slice). The directories are where systemd puts the unit, from
    /// each hierarchy's root. Reads /proc only and creates nothing: [`Cgroup::start_unit`]
    /// makes the unit.
    pub fn resolve_systemd(
        cgroups_path: Option<&str>,
        id: &str,
        default_prefix: &str,
    ) -> Result<Cgroup, Error> {
        let unit = match cgroups_path {
            Some(p) if p.ends_with(".slice") && !p.contains(':') => systemd::Unit::slice(p)?,
            p => systemd::Unit::parse(p, id, default_prefix)?,
        };
        let abs = unit.cgroup_path();
        let mut cg = Cgroup::resolve(Some(Path::new(&abs)), id)?;
        cg.systemd = Some(unit);
        Ok(cg)
    }

    /// The systemd unit of a cgroup of the systemd driver.
    pub fn unit(&self) -> Option<&systemd::Unit> {
        self.systemd.as_ref()
    }

    /// Starts the cgroup's transient unit (systemd driver): a scope holding `pid`, or a slice
    /// (no pid), with the properties systemd knows for `resources`, and waits for the job.
    /// Then the caller writes the files ([`Cgroup::apply`]), as runc does. A no-op for
    /// cgroupfs.
    /// `extra` are further properties (the caller's `org.systemd.property.*` annotations:
    /// [`systemd::annotation_properties`]), set last so that they win.
    pub fn start_unit(
        &self,
        pid: Option<i32>,
        description: &str,
        resources: &oci_spec::runtime::LinuxResources,
        extra: &[(String, systemd::Prop)],
    ) -> Result<(), Error> {
        let Some(unit) = &self.systemd else {
            return Ok(());
        };
        let mut props: Vec<(String, systemd::Prop)> = systemd::unit_properties(
            unit,
            pid.map(|p| p as u32),
            description,
            resources,
            self.mode == Mode::Unified,
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            props.retain(|(n, _)| n != k);
            props.push((k.clone(), v.clone()));
        }
        dbus_start(&unit.name, &props)
    }

    /// `noderun update`: for the systemd driver the unit's properties first (so systemd keeps
    /// them across a daemon-reload), then the files.
    pub fn update(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
        if let Some(unit) = &self.systemd {
            let props: Vec<(String, systemd::Prop)> =
                systemd::resource_properties(resources, self.mode == Mode::Unified)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
            dbus_set(&unit.name, &props)?;
        }
        self.apply(resources)
    }

    /// The mode this cgroup was resolved in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// For a caller that lives in a leaf of a cgroup delegated to it (cgroup v2 forbids a
    /// cgroup with processes to hand controllers to children, so an agent moves into a leaf
    /// and makes its cgroups beside it): `create` then treats the parent of the caller's own
    /// cgroup as the caller's. Refused when that parent is the hierarchy's root.
    pub fn owning_parent_of_own(&mut self) -> Result<(), Error> {
        for d in &mut self.dirs {
            let Some(own) = d.own_dir.clone() else {
                continue;
            };
            match own.parent() {
                Some(parent)
                    if parent != d.hierarchy.mountpoint
                        && parent.starts_with(&d.hierarchy.mountpoint) =>
                {
                    d.own_dir = Some(parent.to_path_buf());
                }
                _ => {
                    return Err(Error::Refused {
                        path: own.clone(),
                        hierarchy: d.hierarchy.name(),
                        reason: "the parent of the caller's own cgroup is the hierarchy's root"
                            .to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The directories of this cgroup, one per hierarchy.
    pub fn dirs(&self) -> &[CgroupDir] {
        &self.dirs
    }

    /// Directories made by `create` (parents first).
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }

    /// The directory in the hierarchy holding `controller` (v2: the one directory).
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        match self.mode {
            Mode::Unified => self.dirs.first().map(|d| d.path.as_path()),
            Mode::Hybrid | Mode::Legacy => self
                .dirs
                .iter()
                .find(|d| d.hierarchy.controllers.iter().any(|c| c == controller))
                .map(|d| d.path.as_path()),
        }
    }

    /// mkdir -p in every hierarchy. Below the caller's own cgroup every directory made is
    /// recorded for `delete`; elsewhere (an absolute path outside the caller's subtree, as
    /// podman and containerd pass) missing parents are made too but only the container's own
    /// directory is recorded, since parents may be shared; an existing directory is joined and
    /// not recorded. On failure nothing recorded by this call is left behind.
    /// For the systemd driver nothing is made here: systemd makes the unit's directory in
    /// [`Cgroup::start_unit`].
    pub fn create(&mut self) -> Result<(), Error> {
        if self.systemd.is_some() {
            return Ok(());
        }
        tree::create(self)
    }

    /// Applies OCI `LinuxResources`.
    pub fn apply(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
        match self.mode {
            Mode::Unified => apply_v2::apply(self.v2_dir()?, resources),
            Mode::Hybrid | Mode::Legacy => apply_v1::apply(self, resources),
        }
    }

    /// Moves `pid` into this cgroup in every hierarchy.
    pub fn add_task(&self, pid: i32) -> Result<(), Error> {
        let s = pid.to_string();
        for d in &self.dirs {
            fsio::write("add_task", &d.path.join("cgroup.procs"), &s)?;
        }
        Ok(())
    }

    /// Files through which a freshly forked, single-threaded child moves itself into this
    /// cgroup ([`SelfJoin::join`]); open them before the fork. On v1 they are the `tasks`
    /// files: a thread that writes "0" there migrates only itself, which the kernel does
    /// without the global `cgroup_threadgroup_rwsem` and so without waiting for an RCU grace
    /// period, the largest single cost of `add_task` (0–13 ms). On v2, cgroup.procs.
    pub fn self_join(&self) -> Result<SelfJoin, Error> {
        let file = match self.mode {
            Mode::Unified => "cgroup.procs",
            Mode::Hybrid | Mode::Legacy => "tasks",
        };
        let mut files = Vec::with_capacity(self.dirs.len());
        for d in &self.dirs {
            let p = d.path.join(file);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| Error::io(&p, "open", e))?;
            files.push((p, f));
        }
        Ok(SelfJoin { files })
    }

    /// Every process in this cgroup and its descendants (sorted, deduplicated).
    /// A systemd scope whose processes all ended is gone with its directory: no processes.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        match tree::pids(self.pids_dir()) {
            Err(e) if self.systemd.is_some() && e.raw_os_error() == Some(libc::ENOENT) => {
                Ok(Vec::new())
            }
            r => r,
        }
    }

    /// Freezes every process of the subtree and waits until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<(), Error> {
        freezer::freeze(self)
    }

    /// Thaws the subtree.
    pub fn thaw(&self) -> Result<(), Error> {
        freezer::thaw(self)
    }

    pub fn is_frozen(&self) -> Result<bool, Error> {
        freezer::is_frozen(self)
    }

    /// Number of OOM kills in this cgroup (v2 memory.events, v1 memory.oom_control).
    pub fn oom_kills(&self) -> Result<u64, Error> {
        stats::read_oom_kills(&self.oom_kills_file()?)
    }

    /// The file that counts this cgroup's OOM kills (`oom_kill` in memory.events on v2,
    /// memory.oom_control on v1), for a reader that has no `Cgroup` (the pod shim); read it
    /// with [`read_oom_kills`].
    pub fn oom_kills_file(&self) -> Result<PathBuf, Error> {
        stats::oom_kills_file(self)
    }

    /// Memory, CPU and pids figures.
    pub fn stats(&self) -> Result<Stats, Error> {
        stats::stats(self)
    }

    /// Keeps only the v1 hierarchies holding one of `controllers` (unified: unchanged): a
    /// long-lived handle that reads a few figures holds those directories, not a dozen (the
    /// agent's housekeeping keeps one per pod for memory and pids: ~2.5 KB less each on a
    /// hybrid host). [`Cgroup::stats`] then reports the others' figures as None.
    pub fn retain_controllers(&mut self, controllers: &[&str]) {
        if self.mode != Mode::Unified {
            self.dirs.retain(|d| {
                d.hierarchy
                    .controllers
                    .iter()
                    .any(|c| controllers.contains(&c.as_str()))
            });
        }
        self.dirs.shrink_to_fit();
    }

    /// Removes every directory `create` made (and any cgroups made below them), deepest first,
    /// retrying briefly while the kernel still reports them busy. Ok if already gone. The
    /// caller kills the processes first.
    /// For the systemd driver the unit is stopped (systemd removes its cgroup), then what is
    /// left of the directory.
    pub fn delete(&self) -> Result<(), Error> {
        if let Some(unit) = &self.systemd {
            dbus_stop(&unit.name)?;
            let dirs: Vec<PathBuf> = self.dirs.iter().map(|d| d.path.clone()).collect();
            return tree::delete(&dirs);
        }
        tree::delete(&self.created)
    }

    /// What to mount for an OCI mount of type "cgroup" inside a container.
    pub fn mount_plan(&self) -> Result<Vec<CgroupMount>, Error> {
        mount_plan::plan(self)
    }

    fn v2_dir(&self) -> Result<&Path, Error> {
        self.dirs
            .first()
            .map(|d| d.path.as_path())
            .ok_or_else(|| Error::parse(CGROUP_ROOT, "no cgroup2 hierarchy resolved"))
    }

    fn pids_dir(&self) -> &Path {
        ["pids", "freezer", "memory"]
            .iter()
            .find_map(|c| self.dir_for(c))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
            .unwrap_or(Path::new(CGROUP_ROOT))
    }
}

#[cfg(feature = "systemd")]
use systemd_dbus::{set_properties as dbus_set, start_unit as dbus_start, stop_unit as dbus_stop};

#[cfg(not(feature = "systemd"))]
fn no_driver(unit: &str) -> Error {
    Error::Systemd {
        unit: unit.to_string(),
        op: "use",
        reason: "built without the systemd cgroup driver (feature \"systemd\")".to_string(),
    }
}
#[cfg(not(feature = "systemd"))]
fn dbus_start(unit: &str, _: &[(String, systemd::Prop)]) -> Result<(), Error> {
    Err(no_driver(unit))
}
#[cfg(not(feature = "systemd"))]
fn dbus_set(unit: &str, _: &[(String, systemd::Prop)]) -> Result<(), Error> {
    Err(no_driver(unit))
}
#[cfg(not(feature = "systemd"))]
fn dbus_stop(unit: &str) -> Result<(), Error> {
    Err(no_driver(unit))
}
