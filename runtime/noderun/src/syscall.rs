//! The seam between the container set-up and the kernel (youki's `Syscall` idea, kept
//! narrow): every mount and namespace system call `rootfs`, `mounts` and `namespaces` make
//! goes through [`Syscall`]. [`Linux`] makes the calls; the test-only `Recorder` writes them
//! down, so the order of the set-up (propagation, rootfs bind, mounts, devices, pivot,
//! read-only root, masked paths; namespace files opened before the first setns) is
//! unit-tested without root. Plain file work (mkdir, symlink, stat) is not
//! behind the seam: it works unprivileged on a temporary directory.

use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};

/// The system calls of the root filesystem set-up. Errors are the kernel's; callers add the
/// path and field.
pub trait Syscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    /// mount_setattr(2) with AT_RECURSIVE.
    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> nix::Result<()>;
    /// Flags of the mount at `target` that a bind remount must keep (statvfs).
    fn locked_flags(&self, target: &Path) -> MsFlags;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()>;
    fn chroot(&self, path: &Path) -> nix::Result<()>;
    fn chdir(&self, path: &Path) -> nix::Result<()>;
    fn fchdir(&self, dir: BorrowedFd) -> nix::Result<()>;
    fn mknod(&self, path: &Path, kind: SFlag, mode: Mode, dev: u64) -> nix::Result<()>;
    fn chmod(&self, path: &Path, mode: Mode) -> nix::Result<()>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> nix::Result<()>;
    fn setns(&self, fd: BorrowedFd, kind: CloneFlags) -> nix::Result<()>;
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()>;
}

/// The real system calls.
pub struct Linux;

impl Syscall for Linux {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> nix::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        #[repr(C)]
        struct MountAttr {
            attr_set: u64,
            attr_clr: u64,
            propagation: u64,
            userns_fd: u64,
        }
        let c = std::ffi::CString::new(target.as_os_str().as_bytes())
            .map_err(|_| nix::Error::EINVAL)?;
        let attr = MountAttr {
            attr_set: set,
            attr_clr: clr,
            propagation: 0,
            userns_fd: 0,
        };
        const AT_RECURSIVE: libc::c_uint = 0x8000;
        // SAFETY: valid C string and a properly sized mount_attr struct.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c.as_ptr(),
                AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        nix::Error::result(r).map(drop)
    }

    fn locked_flags(&self, target: &Path) -> MsFlags {
        let Ok(st) = nix::sys::statvfs::statvfs(target) else {
            return MsFlags::empty();
        };
        use nix::sys::statvfs::FsFlags as V;
        let f = st.flags();
        let mut out = MsFlags::empty();
        for (v, m) in [
            (V::ST_NOSUID, MsFlags::MS_NOSUID),
            (V::ST_NODEV, MsFlags::MS_NODEV),
            (V::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (V::ST_NOATIME, MsFlags::MS_NOATIME),
            (V::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (V::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(v) {
                out |= m;
            }
        }
        out
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chdir(path)
    }

    fn fchdir(&self, dir: BorrowedFd) -> nix::Result<()> {
        nix::unistd::fchdir(dir)
    }

    fn mknod(&self, path: &Path, kind: SFlag, mode: Mode, dev: u64) -> nix::Result<()> {
        nix::sys::stat::mknod(path, kind, mode, dev)
    }

    fn chmod(&self, path: &Path, mode: Mode) -> nix::Result<()> {
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> nix::Result<()> {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
    }

    fn setns(&self, fd: BorrowedFd, kind: CloneFlags) -> nix::Result<()> {
        nix::sched::setns(fd, kind)
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }
}

/// Records each call as one line (paths below `root` shown as `<root>/...`) and succeeds.
#[cfg(test)]
pub struct Recorder {
    pub root: std::path::PathBuf,
    pub calls: std::cell::RefCell<Vec<String>>,
}

#[cfg(test)]
impl Recorder {
    pub fn new(root: &Path) -> Recorder {
        Recorder {
            root: root.to_path_buf(),
            calls: Default::default(),
        }
    }

    fn p(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(rest) => format!("<root>/{}", rest.display()),
            Err(_) => p.display().to_string(),
        }
    }

    fn log(&self, s: String) {
        self.calls.borrow_mut().push(s);
    }

    /// The calls so far.
    pub fn take(&self) -> Vec<String> {
        self.calls.take()
    }
}

/// `MS_BIND | MS_REC` → "bind,rec".
#[cfg(test)]
fn flag_names(f: MsFlags) -> String {
    f.iter_names()
        .map(|(n, _)| n.trim_start_matches("MS_").to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        let mut s = format!(
            "mount {} {} {} [{}]",
            source.map(|s| self.p(s)).unwrap_or_else(|| "none".into()),
            self.p(target),
            fstype.unwrap_or("-"),
            flag_names(flags)
        );
        if let Some(d) = data {
            s.push_str(&format!(" {d}"));
        }
        self.log(s);
        Ok(())
    }

    fn umount(&self, target: &Path, _flags: MntFlags) -> nix::Result<()> {
        self.log(format!("umount {}", self.p(target)));
        Ok(())
    }

    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> nix::Result<()> {
        self.log(format!("setattr {} +{set:#x} -{clr:#x}", self.p(target)));
        Ok(())
    }

    fn locked_flags(&self, _target: &Path) -> MsFlags {
        MsFlags::empty()
    }

    fn pivot_root(&self, new_root: &Path, _put_old: &Path) -> nix::Result<()> {
        self.log(format!("pivot_root {}", self.p(new_root)));
        Ok(())
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        self.log(format!("chroot {}", self.p(path)));
        Ok(())
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        self.log(format!("chdir {}", self.p(path)));
        Ok(())
    }

    fn fchdir(&self, _dir: BorrowedFd) -> nix::Result<()> {
        self.log("fchdir old-root".into());
        Ok(())
    }

    fn mknod(&self, path: &Path, kind: SFlag, _mode: Mode, dev: u64) -> nix::Result<()> {
        let k = if kind == SFlag::S_IFIFO {
            "p"
        } else if kind == SFlag::S_IFBLK {
            "b"
        } else {
            "c"
        };
        self.log(format!(
            "mknod {} {k} {}:{}",
            self.p(path),
            nix::sys::stat::major(dev),
            nix::sys::stat::minor(dev)
        ));
        Ok(())
    }

    fn chmod(&self, _path: &Path, _mode: Mode) -> nix::Result<()> {
        Ok(())
    }

    fn chown(&self, _path: &Path, _uid: u32, _gid: u32) -> nix::Result<()> {
        Ok(())
    }

    fn setns(&self, _fd: BorrowedFd, kind: CloneFlags) -> nix::Result<()> {
        self.log(format!("setns {}", clone_names(kind)));
        Ok(())
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        self.log(format!("unshare {}", clone_names(flags)));
        Ok(())
    }
}

/// `CLONE_NEWNET | CLONE_NEWPID` → "newnet,newpid" (time namespaces as "newtime").
#[cfg(test)]
fn clone_names(f: CloneFlags) -> String {
    let mut names: Vec<String> = f
        .iter_names()
        .map(|(n, _)| n.trim_start_matches("CLONE_").to_ascii_lowercase())
        .collect();
    if f.bits() & libc::CLONE_NEWTIME != 0 {
        names.push("newtime".into());
    }
    names.join(",")
}
