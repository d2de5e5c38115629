//! The container's root filesystem, in the order the runtime spec implies: mount propagation of
//! the new mount namespace, the rootfs bind mount, every `mounts[]` entry, default and
//! configured devices with their `/dev` links, then (after hooks) pivot_root or the `--no-pivot`
//! MS_MOVE + chroot fallback, and finally read-only root, masked paths and read-only paths.
//! Runs inside the container's init process, single-threaded, before the user process.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid, chdir, chown, chroot, fchdir, pivot_root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::mounts::{MountOptions, do_mount, remount_bind, setattr_recursive};
use crate::safe_path::{Create, resolve};

/// What the rootfs set-up needs to know beyond the spec.
pub struct RootfsContext<'a> {
    pub rootfs: &'a Path,
    pub bundle_dir: &'a Path,
    pub spec: &'a Spec,
    pub in_userns: bool,
    pub new_cgroupns: bool,
    pub cgroup: &'a noderun_cgroups::Cgroup,
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

/// Set propagation on `/`, bind the rootfs onto itself and perform every mount and device.
pub fn prepare(ctx: &RootfsContext) -> Result<(), String> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(crate::mounts::propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // Never let our mounts propagate back to the host: shared becomes slave until pivot.
    let initial = if prop.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        prop
    };
    do_mount(None, Path::new("/"), None, initial, None)
        .map_err(|e| format!("linux.rootfsPropagation: {e}"))?;
    do_mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| format!("root.path: {e}"))?;

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
            make_device(
                ctx,
                Path::new(path),
                SFlag::S_IFCHR,
                *major,
                *minor,
                0o666,
                0,
                0,
            )
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
            Some(&src),
            &dest,
            None,
            MsFlags::MS_BIND | (opts.set & MsFlags::MS_REC),
            None,
        )?;
        let extra = opts.set - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(&dest, extra)?;
        }
        finish_entry(&dest, &opts)
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
            crate::mounts::mount_tmpfs_copyup(&source, &dest, flags, data, existed.as_ref())
        } else {
            do_mount(Some(&source), &dest, Some(typ), flags, data)
        };
        match mounted {
            Ok(()) => {}
            // In a user namespace without its own net namespace sysfs cannot be mounted:
            // bind the host's, as runc does.
            Err(_) if typ == "sysfs" && ctx.in_userns => {
                do_mount(
                    Some(Path::new("/sys")),
                    &dest,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                remount_bind(&dest, flags)?;
            }
            Err(e) => return Err(e),
        }
        finish_entry(&dest, &opts)
    }
}

fn finish_entry(dest: &Path, opts: &MountOptions) -> Result<(), String> {
    for p in &opts.propagation {
        do_mount(None, dest, None, *p, None)?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        setattr_recursive(dest, opts.attr_set, opts.attr_clr)?;
    }
    Ok(())
}

/// A `cgroup` mount: with a cgroup namespace the kernel mounts the namespace's root (our
/// cgroup); without one, the container's own cgroup directories are bind-mounted.
fn mount_cgroup(ctx: &RootfsContext, m: &Mount, opts: &MountOptions) -> Result<(), String> {
    use noderun_cgroups::CgroupMount as C;
    let dest = resolve(ctx.rootfs, m.destination(), Create::Dir)?;
    let flags = opts.set & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    let plan = ctx.cgroup.mount_plan().map_err(|e| e.to_string())?;
    let cgroup_mount = |target: &Path, fstype: &str, data: Option<&str>, host: &Path| {
        if ctx.new_cgroupns {
            do_mount(Some(Path::new("cgroup")), target, Some(fstype), flags, data)
        } else {
            do_mount(
                Some(host),
                target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            remount_bind(target, flags)
        }
    };
    let mut tmpfs = false;
    for cm in &plan {
        match cm {
            C::Cgroup2 { host_dir } => cgroup_mount(&dest, "cgroup2", None, host_dir)?,
            C::Tmpfs { options } => {
                tmpfs = true;
                do_mount(
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
        remount_bind(&dest, flags)?;
    }
    finish_entry(&dest, opts)
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    ctx: &RootfsContext,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), String> {
    let dest = resolve(
        ctx.rootfs,
        path.parent().unwrap_or(Path::new("/")),
        Create::Dir,
    )?
    .join(path.file_name().ok_or("no file name")?);
    if ctx.in_userns {
        // mknod is not allowed in a user namespace: bind the host's node instead.
        if std::fs::symlink_metadata(&dest).is_err() {
            std::fs::File::create(&dest).map_err(|e| format!("create {}: {e}", dest.display()))?;
        }
        return do_mount(Some(path), &dest, None, MsFlags::MS_BIND, None);
    }
    let _ = std::fs::remove_file(&dest);
    mknod(
        &dest,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .map_err(|e| format!("mknod {}: {e}", dest.display()))?;
    // mknod is subject to the umask; set the exact mode.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &dest,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| format!("chmod {}: {e}", dest.display()))?;
    chown(&dest, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(|e| format!("chown {}: {e}", dest.display()))
}

fn configured_device(ctx: &RootfsContext, d: &LinuxDevice) -> Result<(), String> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err("type \"a\" is only valid in device cgroup rules".into()),
    };
    make_device(
        ctx,
        d.path(),
        kind,
        d.major() as u64,
        d.minor() as u64,
        d.file_mode().unwrap_or(0o666),
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
    )
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

/// Make `rootfs` the process's `/`.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), String> {
    if no_pivot {
        chdir(rootfs).map_err(|e| format!("chdir {}: {e}", rootfs.display()))?;
        do_mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
        chroot(".").map_err(|e| format!("chroot: {e}"))?;
        return chdir("/").map_err(|e| format!("chdir /: {e}"));
    }
    let old = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open /: {e}"))?;
    chdir(rootfs).map_err(|e| format!("chdir {}: {e}", rootfs.display()))?;
    pivot_root(".", ".").map_err(|e| format!("pivot_root {}: {e}", rootfs.display()))?;
    // The old root is now stacked under the new one at "/": detach it.
    fchdir(&old).map_err(|e| format!("fchdir old root: {e}"))?;
    do_mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("unmount old root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))
}

/// After entering the root: final propagation, read-only root, masked and read-only paths.
pub fn finish(spec: &Spec) -> Result<(), String> {
    let linux = spec.linux().as_ref();
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(crate::mounts::propagation_flag)
    {
        do_mount(None, Path::new("/"), None, p, None)
            .map_err(|e| format!("linux.rootfsPropagation: {e}"))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)
            .map_err(|e| format!("root.readonly: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        mask(Path::new(p)).map_err(|e| format!("linux.maskedPaths[{i}]: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        readonly(Path::new(p)).map_err(|e| format!("linux.readonlyPaths[{i}]: {e}"))?;
    }
    Ok(())
}

fn mask(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(m) if m.is_dir() => do_mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => do_mount(
            Some(Path::new("/dev/null")),
            p,
            None,
            MsFlags::MS_BIND,
            None,
        ),
    }
}

fn readonly(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(_) => {
            do_mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
            remount_bind(p, MsFlags::MS_RDONLY | MsFlags::MS_REC)
        }
    }
}
