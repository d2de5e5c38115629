//! OCI mount options and the mount(2) calls that apply one `mounts[]` entry below the new root:
//! option parsing (flags, propagation, recursive attributes, filesystem data), bind and
//! filesystem mounts, read-only remounts and propagation changes. Path safety lives in
//! `safe_path`; the order of the whole root filesystem set-up lives in `rootfs`.

use std::path::Path;

use nix::mount::MsFlags;

use crate::syscall::Syscall;

/// Parsed `options` of one mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub set: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    /// mount_setattr(2) attributes applied recursively (`rro`, `rnosuid`, ...): (set, clear).
    pub attr_set: u64,
    pub attr_clr: u64,
    /// Options passed to the filesystem as its data string.
    pub data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            set: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: vec![],
            attr_set: 0,
            attr_clr: 0,
            data: vec![],
        }
    }
}

/// `private`, `rslave`, ... → the propagation flags.
pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// `(set?, flag)` for the classic mount flags.
fn flag(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "async" => (false, F::MS_SYNCHRONOUS),
        "atime" => (false, F::MS_NOATIME),
        "bind" => (true, F::MS_BIND),
        "defaults" => (true, F::empty()),
        "dev" => (false, F::MS_NODEV),
        "diratime" => (false, F::MS_NODIRATIME),
        "dirsync" => (true, F::MS_DIRSYNC),
        "exec" => (false, F::MS_NOEXEC),
        "iversion" => (true, F::MS_I_VERSION),
        "lazytime" => (true, F::MS_LAZYTIME),
        "loud" => (false, F::MS_SILENT),
        "mand" => (true, F::MS_MANDLOCK),
        "noatime" => (true, F::MS_NOATIME),
        "nodev" => (true, F::MS_NODEV),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "noexec" => (true, F::MS_NOEXEC),
        "noiversion" => (false, F::MS_I_VERSION),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "nomand" => (false, F::MS_MANDLOCK),
        "norelatime" => (false, F::MS_RELATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "nosuid" => (true, F::MS_NOSUID),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        "relatime" => (true, F::MS_RELATIME),
        "remount" => (true, F::MS_REMOUNT),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "silent" => (true, F::MS_SILENT),
        "strictatime" => (true, F::MS_STRICTATIME),
        "suid" => (false, F::MS_NOSUID),
        "sync" => (true, F::MS_SYNCHRONOUS),
        _ => return None,
    })
}

// mount_setattr(2) attribute bits (linux/mount.h).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// Recursive attribute options (runtime-spec 1.1): `(clear?, attr)`.
fn recursive_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (false, MOUNT_ATTR_RDONLY),
        "rrw" => (true, MOUNT_ATTR_RDONLY),
        "rnosuid" => (false, MOUNT_ATTR_NOSUID),
        "rsuid" => (true, MOUNT_ATTR_NOSUID),
        "rnodev" => (false, MOUNT_ATTR_NODEV),
        "rdev" => (true, MOUNT_ATTR_NODEV),
        "rnoexec" => (false, MOUNT_ATTR_NOEXEC),
        "rexec" => (true, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (false, MOUNT_ATTR_RELATIME),
        "rnorelatime" => (true, MOUNT_ATTR__ATIME),
        "rnoatime" => (false, MOUNT_ATTR_NOATIME),
        "ratime" => (true, MOUNT_ATTR__ATIME),
        "rstrictatime" => (false, MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (true, MOUNT_ATTR__ATIME),
        "rnosymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Every option name noderun understands (for `features`).
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "sync",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

impl MountOptions {
    pub fn parse(opts: &[String]) -> Result<MountOptions, String> {
        let mut o = MountOptions::default();
        for opt in opts {
            let opt = opt.as_str();
            if let Some((set, f)) = flag(opt) {
                if set {
                    o.set |= f;
                    o.clear &= !f;
                } else {
                    o.clear |= f;
                    o.set &= !f;
                }
            } else if let Some(p) = propagation_flag(opt) {
                o.propagation.push(p);
            } else if let Some((clear, a)) = recursive_attr(opt) {
                if clear {
                    o.attr_clr |= a;
                } else {
                    o.attr_set |= a;
                }
            } else if matches!(opt, "idmap" | "ridmap") {
                return Err(format!(
                    "{opt:?}: id-mapped mounts are not supported by noderun"
                ));
            } else if opt == "tmpcopyup" {
                // applied by `mount_tmpfs_copyup` (see `wants_tmpcopyup`), not a tmpfs option
            } else {
                o.data.push(opt.to_string());
            }
        }
        Ok(o)
    }

    pub fn is_bind(&self) -> bool {
        self.set.contains(MsFlags::MS_BIND)
    }
}

/// `mount(2)` through `sys`, with the target/source shown in the error.
pub fn do_mount(
    sys: &dyn Syscall,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    sys.mount(source, target, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} on {} (type {}, data {:?}): {e}",
            source
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| "none".into()),
            target.display(),
            fstype.unwrap_or("none"),
            data.unwrap_or("")
        )
    })
}

/// Bind-remount `target` with `flags` (read-only, nosuid, ...), keeping the flags that are
/// locked (they are when the mount came from a more privileged mount namespace).
pub fn remount_bind(sys: &dyn Syscall, target: &Path, flags: MsFlags) -> Result<(), String> {
    let keep = sys.locked_flags(target);
    do_mount(
        sys,
        None,
        target,
        None,
        flags | keep | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
        None,
    )
}

/// Whether a tmpfs mount's options ask for `tmpcopyup` (podman's `--read-only` and
/// `--tmpfs`): the tmpfs starts with a copy of what the image has at its destination.
pub fn wants_tmpcopyup(opts: &[String]) -> bool {
    opts.iter().any(|o| o == "tmpcopyup")
}

/// Mounts a tmpfs on `dest` and copies into it what `dest` held before (runc's `tmpcopyup`).
/// The covered directory stays reachable through a descriptor opened before the mount, so no
/// staging directory is needed. A read-only tmpfs is filled first, then remounted read-only.
/// `existed`: the destination's metadata before it was resolved (None if it was created).
pub fn mount_tmpfs_copyup(
    sys: &dyn Syscall,
    source: &Path,
    dest: &Path,
    flags: MsFlags,
    data: Option<&str>,
    existed: Option<&std::fs::Metadata>,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let below = std::fs::File::open(dest)
        .map_err(|e| format!("tmpcopyup: open {}: {e}", dest.display()))?;
    let rw = flags - MsFlags::MS_RDONLY;
    do_mount(sys, Some(source), dest, Some("tmpfs"), rw, data)?;
    let from = std::path::PathBuf::from(format!("/proc/self/fd/{}", below.as_raw_fd()));
    copy_tree(&from, dest).map_err(|e| format!("tmpcopyup into {}: {e}", dest.display()))?;
    // As runc: a destination that existed in the image gives the tmpfs root its mode and
    // owner; one made for the mount keeps tmpfs's default (1777 unless `mode=` says).
    if let Some(meta) = existed {
        copy_owner_mode(meta, dest)
            .map_err(|e| format!("tmpcopyup into {}: {e}", dest.display()))?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        do_mount(sys, None, dest, None, flags | MsFlags::MS_REMOUNT, data)?;
    }
    Ok(())
}

/// Copies the contents of directory `from` into `to` (files, directories, symlinks, device
/// nodes and fifos), keeping mode and owner.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for ent in std::fs::read_dir(from)? {
        let ent = ent?;
        let src = ent.path();
        let dst = to.join(ent.file_name());
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else if ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
            let kind = if ft.is_block_device() {
                nix::sys::stat::SFlag::S_IFBLK
            } else if ft.is_char_device() {
                nix::sys::stat::SFlag::S_IFCHR
            } else if ft.is_fifo() {
                nix::sys::stat::SFlag::S_IFIFO
            } else {
                nix::sys::stat::SFlag::S_IFSOCK
            };
            nix::sys::stat::mknod(
                &dst,
                kind,
                nix::sys::stat::Mode::from_bits_truncate(meta.mode()),
                meta.rdev(),
            )?;
        }
        copy_meta(&src, &dst)?;
    }
    Ok(())
}

/// Owner and mode of `from` onto `to` (symlinks: owner only). Times are not kept, as in
/// runc's copy-up.
fn copy_meta(from: &Path, to: &Path) -> std::io::Result<()> {
    copy_owner_mode(&std::fs::symlink_metadata(from)?, to)
}

fn copy_owner_mode(meta: &std::fs::Metadata, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// Apply recursive mount attributes with mount_setattr(2) (Linux 5.12+).
pub fn setattr_recursive(
    sys: &dyn Syscall,
    target: &Path,
    set: u64,
    clr: u64,
) -> Result<(), String> {
    sys.mount_setattr(target, set, clr)
        .map_err(|e| format!("mount_setattr {}: {e}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_flags_and_data() {
        let o = MountOptions::parse(&s(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
        ]))
        .unwrap();
        assert_eq!(o.set, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = MountOptions::parse(&s(&["rbind", "ro", "rw"])).unwrap();
        assert!(o.is_bind());
        assert!(o.set.contains(MsFlags::MS_REC));
        assert!(!o.set.contains(MsFlags::MS_RDONLY));
        assert!(o.clear.contains(MsFlags::MS_RDONLY));
        let o = MountOptions::parse(&s(&["rro", "rnosuid"])).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        assert!(MountOptions::parse(&s(&["idmap"])).is_err());
    }
}
