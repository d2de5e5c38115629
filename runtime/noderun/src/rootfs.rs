//! The container's root filesystem, in the order the runtime spec implies: mount propagation of
//! the new mount namespace, the rootfs bind mount, every `mounts[]` entry, default and
//! configured devices with their `/dev` links, then (after hooks) pivot_root or the `--no-pivot`
//! MS_MOVE + chroot fallback, and finally read-only root, masked paths, read-only paths and the
//! root's propagation. Without a mount namespace of its own the container shares the runtime's:
//! no propagation change and no rootfs bind, the mounts are made below the rootfs in our
//! namespace (`delete` unmounts them, [`SharedMounts`]) and the root is entered by chroot.
//! Runs inside the container's init process, single-threaded, before the user process; every
//! mount-namespace system call goes through [`Syscall`] so the order is unit-tested.

use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag, makedev};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::mounts::{MountOptions, do_mount, remount_bind, setattr_recursive};
use crate::safe_path::{Create, resolve};
use crate::syscall::Syscall;

/// What the rootfs set-up needs to know beyond the spec.
pub struct RootfsContext<'a> {
    pub rootfs: &'a Path,
    pub bundle_dir: &'a Path,
    pub spec: &'a Spec,
    pub in_userns: bool,
    pub new_cgroupns: bool,
    /// The container has a mount namespace of its own (new or joined).
    pub own_mount_ns: bool,
    pub cgroup: &'a noderun_cgroups::Cgroup,
    pub sys: &'a dyn Syscall,
}

/// Default devices every container gets (runc's list): path, major, minor.
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// `linux.rootfsPropagation` as flags, if set.
fn root_propagation(spec: &Spec) -> Option<MsFlags> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(crate::mounts::propagation_flag)
}

/// Set propagation on `/`, bind the rootfs onto itself and perform every mount and device.
pub fn prepare(ctx: &RootfsContext) -> Result<(), String> {
    let linux = ctx.spec.linux().as_ref();
    if ctx.own_mount_ns {
        let prop = root_propagation(ctx.spec).unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
        // Never let our mounts propagate back to the host: shared becomes slave until pivot.
        // Unbindable waits for the pivot too: the rootfs below could not be bound.
        let initial = if prop.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        } else {
            prop
        };
        do_mount(ctx.sys, None, Path::new("/"), None, initial, None)
            .map_err(|e| format!("linux.rootfsPropagation: {e}"))?;
        do_mount(
            ctx.sys,
            Some(ctx.rootfs),
            ctx.rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(|e| format!("root.path: {e}"))?;
    }

    let mut dev_bound = false;
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        if m.destination() == Path::new("/dev") && is_bind(m) {
            dev_bound = true;
        }
        mount_entry(ctx, m)
            .map_err(|e| format!("mounts[{i}] ({}): {e}", m.destination().display()))?;
    }
    if !dev_bound {
        for (path, major, minor) in DEFAULT_DEVICES {
            let node = Node {
                kind: SFlag::S_IFCHR,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            };
            make_device(ctx, Path::new(path), &node)
                .map_err(|e| format!("default device {path}: {e}"))?;
        }
        dev_links(ctx.rootfs)?;
    }
    for (i, d) in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        configured_device(ctx, d)
            .map_err(|e| format!("linux.devices[{i}] ({}): {e}", d.path().display()))?;
    }
    Ok(())
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

fn mount_entry(ctx: &RootfsContext, m: &Mount) -> Result<(), String> {
    let sys = ctx.sys;
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))?;
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, m, &opts);
    }
    let bind = opts.is_bind() || typ == "bind";
    if bind {
        let src = m.source().as_ref().ok_or("bind mount without a source")?;
        let src = if src.is_absolute() {
            src.clone()
        } else {
            ctx.bundle_dir.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| format!("source {}: {e}", src.display()))?;
        let dest = resolve(
            ctx.rootfs,
            m.destination(),
            if meta.is_dir() {
                Create::Dir
            } else {
                Create::File
            },
        )?;
        do_mount(
            sys,
            Some(&src),
            &dest,
            None,
            MsFlags::MS_BIND | (opts.set & MsFlags::MS_REC),
            None,
        )?;
        let extra = opts.set - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(sys, &dest, extra)?;
        }
        finish_entry(sys, &dest, &opts)
    } else {
        let copyup =
            typ == "tmpfs" && crate::mounts::wants_tmpcopyup(m.options().as_deref().unwrap_or(&[]));
        let existed = copyup
            .then(|| resolve(ctx.rootfs, m.destination(), Create::Nothing).ok())
            .flatten()
            .and_then(|p| std::fs::metadata(p).ok());
        let dest = resolve(ctx.rootfs, m.destination(), Create::Dir)?;
        let data = opts.data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let flags = opts.set;
        let mounted = if copyup {
            crate::mounts::mount_tmpfs_copyup(sys, &source, &dest, flags, data, existed.as_ref())
        } else {
            do_mount(sys, Some(&source), &dest, Some(typ), flags, data)
        };
        match mounted {
            Ok(()) => {}
            // In a user namespace without its own net namespace sysfs cannot be mounted:
            // bind the host's, as runc does.
            Err(_) if typ == "sysfs" && ctx.in_userns => {
                do_mount(
                    sys,
                    Some(Path::new("/sys")),
                    &dest,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                remount_bind(sys, &dest, flags)?;
            }
            Err(e) => return Err(e),
        }
        finish_entry(sys, &dest, &opts)
    }
}

fn finish_entry(sys: &dyn Syscall, dest: &Path, opts: &MountOptions) -> Result<(), String> {
    for p in &opts.propagation {
        do_mount(sys, None, dest, None, *p, None)?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        setattr_recursive(sys, dest, opts.attr_set, opts.attr_clr)?;
    }
    Ok(())
}

/// A `cgroup` mount: with a cgroup namespace the kernel mounts the namespace's root (our
/// cgroup); without one, the container's own cgroup directories are bind-mounted.
fn mount_cgroup(ctx: &RootfsContext, m: &Mount, opts: &MountOptions) -> Result<(), String> {
    use noderun_cgroups::CgroupMount as C;
    let sys = ctx.sys;
    let dest = resolve(ctx.rootfs, m.destination(), Create::Dir)?;
    let flags = opts.set & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    let plan = ctx.cgroup.mount_plan().map_err(|e| e.to_string())?;
    let cgroup_mount = |target: &Path, fstype: &str, data: Option<&str>, host: &Path| {
        if ctx.new_cgroupns {
            do_mount(
                sys,
                Some(Path::new("cgroup")),
                target,
                Some(fstype),
                flags,
                data,
            )
        } else {
            do_mount(
                sys,
                Some(host),
                target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            remount_bind(sys, target, flags)
        }
    };
    let mut tmpfs = false;
    for cm in &plan {
        match cm {
            C::Cgroup2 { host_dir } => cgroup_mount(&dest, "cgroup2", None, host_dir)?,
            C::Tmpfs { options } => {
                tmpfs = true;
                do_mount(
                    sys,
                    Some(Path::new("tmpfs")),
                    &dest,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    Some(options),
                )?
            }
            C::Hierarchy {
                subdir,
                subsystems,
                host_dir,
            } => {
                let t = dest.join(subdir);
                std::fs::create_dir_all(&t).map_err(|e| format!("mkdir {}: {e}", t.display()))?;
                cgroup_mount(&t, "cgroup", Some(subsystems), host_dir)?
            }
            C::Symlink { name, target } => {
                let p = dest.join(name);
                if std::fs::symlink_metadata(&p).is_err() {
                    symlink(target, &p).map_err(|e| format!("symlink {}: {e}", p.display()))?;
                }
            }
        }
    }
    if tmpfs && flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(sys, &dest, flags)?;
    }
    finish_entry(sys, &dest, opts)
}

/// A device node to make: kind (char, block, FIFO), numbers, mode and owner.
struct Node {
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn make_device(ctx: &RootfsContext, path: &Path, n: &Node) -> Result<(), String> {
    let sys = ctx.sys;
    let dest = resolve(
        ctx.rootfs,
        path.parent().unwrap_or(Path::new("/")),
        Create::Dir,
    )?
    .join(path.file_name().ok_or("no file name")?);
    if ctx.in_userns && n.kind != SFlag::S_IFIFO {
        // mknod of devices is not allowed in a user namespace: bind the host's node instead.
        if std::fs::symlink_metadata(&dest).is_err() {
            std::fs::File::create(&dest).map_err(|e| format!("create {}: {e}", dest.display()))?;
        }
        return do_mount(sys, Some(path), &dest, None, MsFlags::MS_BIND, None);
    }
    let _ = std::fs::remove_file(&dest);
    let mode = Mode::from_bits_truncate(n.mode);
    sys.mknod(&dest, n.kind, mode, makedev(n.major, n.minor))
        .map_err(|e| format!("mknod {}: {e}", dest.display()))?;
    // mknod is subject to the umask; set the exact mode.
    sys.chmod(&dest, mode)
        .map_err(|e| format!("chmod {}: {e}", dest.display()))?;
    sys.chown(&dest, n.uid, n.gid)
        .map_err(|e| format!("chown {}: {e}", dest.display()))
}

fn configured_device(ctx: &RootfsContext, d: &LinuxDevice) -> Result<(), String> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err("type \"a\" is only valid in device cgroup rules".into()),
    };
    let node = Node {
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666),
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    };
    make_device(ctx, d.path(), &node)
}

/// /dev/fd, /dev/stdin, ... and /dev/ptmx → pts/ptmx.
fn dev_links(rootfs: &Path) -> Result<(), String> {
    let dev = rootfs.join("dev");
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        let p = dev.join(name);
        if name == "ptmx" {
            let _ = std::fs::remove_file(&p);
        }
        match symlink(target, &p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("symlink {}: {e}", p.display())),
        }
    }
    Ok(())
}

/// Make the rootfs the process's `/` in its own mount namespace: pivot_root, or with
/// `no_pivot` MS_MOVE + chroot.
pub fn enter(ctx: &RootfsContext, no_pivot: bool) -> Result<(), String> {
    let (sys, rootfs) = (ctx.sys, ctx.rootfs);
    let root = Path::new("/");
    if no_pivot {
        sys.chdir(rootfs)
            .map_err(|e| format!("chdir {}: {e}", rootfs.display()))?;
        do_mount(sys, Some(rootfs), root, None, MsFlags::MS_MOVE, None)?;
        sys.chroot(Path::new("."))
            .map_err(|e| format!("chroot: {e}"))?;
        return sys.chdir(root).map_err(|e| format!("chdir /: {e}"));
    }
    let old = nix::fcntl::open(
        root,
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open /: {e}"))?;
    sys.chdir(rootfs)
        .map_err(|e| format!("chdir {}: {e}", rootfs.display()))?;
    sys.pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| format!("pivot_root {}: {e}", rootfs.display()))?;
    // The old root is now stacked under the new one at "/": detach it.
    sys.fchdir(old.as_fd())
        .map_err(|e| format!("fchdir old root: {e}"))?;
    let here = Path::new(".");
    do_mount(
        sys,
        None,
        here,
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    sys.umount(here, MntFlags::MNT_DETACH)
        .map_err(|e| format!("unmount old root: {e}"))?;
    sys.chdir(root).map_err(|e| format!("chdir /: {e}"))
}

/// Without a mount namespace of its own: chroot into the rootfs (runc does the same).
pub fn enter_shared(ctx: &RootfsContext) -> Result<(), String> {
    ctx.sys
        .chdir(ctx.rootfs)
        .map_err(|e| format!("chdir {}: {e}", ctx.rootfs.display()))?;
    ctx.sys
        .chroot(Path::new("."))
        .map_err(|e| format!("chroot {}: {e}", ctx.rootfs.display()))?;
    ctx.sys
        .chdir(Path::new("/"))
        .map_err(|e| format!("chdir /: {e}"))
}

/// After entering the root: read-only root, masked and read-only paths, root propagation.
pub fn finish(ctx: &RootfsContext) -> Result<(), String> {
    let (sys, spec) = (ctx.sys, ctx.spec);
    let linux = spec.linux().as_ref();
    let root = Path::new("/");
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        remount_bind(sys, root, MsFlags::MS_RDONLY).map_err(|e| format!("root.readonly: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        mask(sys, Path::new(p)).map_err(|e| format!("linux.maskedPaths[{i}]: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        readonly(sys, Path::new(p)).map_err(|e| format!("linux.readonlyPaths[{i}]: {e}"))?;
    }
    // Last: masking and read-only paths bind mounts, which an unbindable root would refuse.
    if let Some(p) = root_propagation(spec) {
        do_mount(sys, None, root, None, p, None)
            .map_err(|e| format!("linux.rootfsPropagation: {e}"))?;
    }
    Ok(())
}

fn mask(sys: &dyn Syscall, p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(m) if m.is_dir() => do_mount(
            sys,
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => do_mount(
            sys,
            Some(Path::new("/dev/null")),
            p,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

fn readonly(sys: &dyn Syscall, p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(_) => {
            do_mount(
                sys,
                Some(p),
                p,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            remount_bind(sys, p, MsFlags::MS_RDONLY | MsFlags::MS_REC)
        }
    }
}

/// The mounts a container without a mount namespace of its own makes in ours: below its
/// rootfs, minus those that were there before `create` (they belong to someone else).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedMounts {
    pub rootfs: PathBuf,
    /// Ids (mountinfo's first field) of the mounts below the rootfs before create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preexisting: Vec<u64>,
}

impl SharedMounts {
    /// Note what is mounted below `rootfs` now.
    pub fn record(rootfs: &Path) -> Result<SharedMounts, String> {
        let rootfs = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
        let info = read_mountinfo()?;
        let preexisting = mounts_below(&info, &rootfs, &[])
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        Ok(SharedMounts {
            rootfs,
            preexisting,
        })
    }

    /// Detach the container's mounts, deepest (latest) first.
    pub fn unmount(&self) -> Result<(), String> {
        let info = read_mountinfo()?;
        for (_, m) in mounts_below(&info, &self.rootfs, &self.preexisting) {
            match nix::mount::umount2(&m, MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
                Err(e) => return Err(format!("unmount {}: {e}", m.display())),
            }
        }
        Ok(())
    }
}

fn read_mountinfo() -> Result<String, String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))
}

/// (id, mount point) of the mounts strictly below `dir` in `mountinfo`, except the ids in
/// `skip`, latest first (so children come before their parents); `\040`-style escapes decoded.
pub fn mounts_below(mountinfo: &str, dir: &Path, skip: &[u64]) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = mountinfo
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let point = f.nth(3)?;
            Some((
                id,
                PathBuf::from(noderun_cgroups::unescape_mountinfo(point)),
            ))
        })
        .filter(|(id, m)| m != dir && m.starts_with(dir) && !skip.contains(id))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    //! The order of the set-up, recorded through the `Syscall` seam (no root needed): plain
    //! directories and files are made for real in a temporary rootfs.
    use super::*;
    use crate::syscall::Recorder;

    /// Run prepare, enter (or enter_shared) and finish for `spec` and return the calls.
    fn calls(spec: serde_json::Value, own_mount_ns: bool, no_pivot: bool) -> Vec<String> {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("dev")).unwrap();
        std::fs::create_dir_all(tmp.path().join("data")).unwrap();
        let mut base = serde_json::json!({"ociVersion": "1.2.0", "root": {"path": "rootfs"}});
        base.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        let spec: Spec = serde_json::from_value(base).unwrap();
        let cgroup =
            noderun_cgroups::Cgroup::resolve(Some(Path::new("/noderun-unit")), "x").unwrap();
        let rec = Recorder::new(&rootfs);
        let ctx = RootfsContext {
            rootfs: &rootfs,
            bundle_dir: tmp.path(),
            spec: &spec,
            in_userns: false,
            new_cgroupns: false,
            own_mount_ns,
            cgroup: &cgroup,
            sys: &rec,
        };
        prepare(&ctx).unwrap();
        if own_mount_ns {
            enter(&ctx, no_pivot).unwrap();
            finish(&ctx).unwrap();
        } else {
            enter_shared(&ctx).unwrap();
        }
        rec.take()
            .into_iter()
            .map(|c| c.replace(&tmp.path().display().to_string(), "<bundle>"))
            .collect()
    }

    const DEFAULT_NODES: [&str; 6] = [
        "mknod <root>/dev/null c 1:3",
        "mknod <root>/dev/zero c 1:5",
        "mknod <root>/dev/full c 1:7",
        "mknod <root>/dev/random c 1:8",
        "mknod <root>/dev/urandom c 1:9",
        "mknod <root>/dev/tty c 5:0",
    ];

    #[test]
    fn full_setup_in_order() {
        let got = calls(
            serde_json::json!({
                "root": {"path": "rootfs", "readonly": true},
                "mounts": [
                    {"destination": "/proc", "type": "proc", "source": "proc"},
                    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "mode=755"]},
                    {"destination": "/data", "type": "bind", "source": "data",
                     "options": ["rbind", "ro", "rprivate"]}
                ],
                "linux": {
                    "rootfsPropagation": "rshared",
                    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                                {"path": "/dev/pipe", "type": "p"}],
                    "maskedPaths": ["/proc/version", "/proc/no-such-file"],
                    "readonlyPaths": ["/proc/sys"]
                }
            }),
            true,
            false,
        );
        let mut want = vec![
            // Shared root propagation waits for the pivot: slave while mounting.
            "mount none / - [rec,slave]",
            "mount <root>/ <root>/ - [bind,rec]",
            "mount proc <root>/proc proc []",
            "mount tmpfs <root>/dev tmpfs [nosuid] mode=755",
            "mount <bundle>/data <root>/data - [bind,rec]",
            "mount none <root>/data - [rdonly,remount,bind]",
            "mount none <root>/data - [rec,private]",
        ];
        want.extend(DEFAULT_NODES);
        want.extend([
            "mknod <root>/dev/fuse c 10:229",
            "mknod <root>/dev/pipe p 0:0",
            "chdir <root>/",
            "pivot_root .",
            "fchdir old-root",
            "mount none . - [rec,slave]",
            "umount .",
            "chdir /",
            "mount none / - [rdonly,remount,bind]",
            "mount /dev/null /proc/version - [bind]",
            "mount /proc/sys /proc/sys - [bind,rec]",
            "mount none /proc/sys - [rdonly,remount,bind,rec]",
            "mount none / - [rec,shared]",
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn unbindable_root_is_set_after_the_binds() {
        let got = calls(
            serde_json::json!({"linux": {"rootfsPropagation": "unbindable",
                                         "maskedPaths": ["/proc/version"]}}),
            true,
            false,
        );
        assert_eq!(
            got.first().map(String::as_str),
            Some("mount none / - [rec,slave]")
        );
        let n = got.len();
        assert_eq!(got[n - 2], "mount /dev/null /proc/version - [bind]");
        assert_eq!(got[n - 1], "mount none / - [unbindable]");
    }

    #[test]
    fn no_pivot_moves_and_chroots() {
        let got = calls(serde_json::json!({}), true, true);
        let tail: Vec<&str> = got.iter().rev().take(4).rev().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "chdir <root>/",
                "mount <root>/ / - [move]",
                "chroot .",
                "chdir /"
            ]
        );
    }

    #[test]
    fn a_bound_dev_gets_no_default_nodes() {
        let got = calls(
            serde_json::json!({"mounts": [{"destination": "/dev", "type": "bind",
                                           "source": "data", "options": ["rbind"]}]}),
            true,
            false,
        );
        assert!(!got.iter().any(|c| c.starts_with("mknod")), "{got:?}");
    }

    #[test]
    fn without_a_mount_namespace_the_host_root_is_untouched() {
        let got = calls(
            serde_json::json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}),
            false,
            false,
        );
        let mut want = vec!["mount proc <root>/proc proc []"];
        want.extend(DEFAULT_NODES);
        want.extend(["chdir <root>/", "chroot .", "chdir /"]);
        assert_eq!(got, want);
    }

    #[test]
    fn mounts_below_a_directory_latest_first_without_preexisting() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/sda rw
30 22 0:5 / /b/rootfs rw - overlay o rw
29 30 0:4 / /b/rootfs/mnt rw - tmpfs tmpfs rw
31 30 0:6 / /b/rootfs/proc rw - proc proc rw
32 30 0:7 / /b/rootfs/dev rw - tmpfs tmpfs rw
33 32 0:8 / /b/rootfs/dev/pts rw - devpts devpts rw
34 22 0:9 / /b/rootfs2 rw - tmpfs tmpfs rw
35 30 0:10 / /b/rootfs/with\\040space rw - tmpfs tmpfs rw
";
        let got: Vec<(u64, PathBuf)> = mounts_below(info, Path::new("/b/rootfs"), &[29]);
        let want = [
            (35, "/b/rootfs/with space"),
            (33, "/b/rootfs/dev/pts"),
            (32, "/b/rootfs/dev"),
            (31, "/b/rootfs/proc"),
        ]
        .map(|(i, p)| (i, PathBuf::from(p)));
        assert_eq!(got, want);
    }
}
