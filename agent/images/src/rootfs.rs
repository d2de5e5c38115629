//! Container root filesystems: an overlayfs mount with the image's layer directories as
//! lowerdirs and a per-container upper/work dir under `containers/<id>/`, removed with the
//! container. Mounted with the new mount API (`fsopen` + one `lowerdir+` per layer), so the
//! number of layers is not limited by the one-page mount option string; kernels before 6.8
//! (Debian 12 runs 6.1) get one `lowerdir=a:b:c` instead, within that limit.

use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags};

use crate::digest::Digest;
use crate::error::{ImageError, IoContext, Result};
use crate::records::ImageRecord;
use crate::store::{Store, remove_any};

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ImageError::bad(
            format!("container id {id:?}"),
            "must be 1-128 characters of [A-Za-z0-9_.-]",
        ))
    }
}

fn mount_err(target: &Path, what: &str, e: rustix::io::Errno) -> ImageError {
    ImageError::io(
        target,
        std::io::Error::new(
            std::io::Error::from(e).kind(),
            format!("overlay mount: {what}: {e}"),
        ),
    )
}

impl Store {
    fn container_dir(&self, id: &str) -> PathBuf {
        self.root().join("containers").join(id)
    }

    /// Creates and mounts the rootfs of container `id` from `image`; returns the mount point.
    pub fn create_rootfs(&self, id: &str, image: &ImageRecord) -> Result<PathBuf> {
        check_id(id)?;
        let _guard = self.content_guard()?;
        let dir = self.container_dir(id);
        std::fs::create_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                ImageError::bad(format!("container {id}"), "already has a rootfs")
            } else {
                ImageError::io(&dir, e)
            }
        })?;
        let result = (|| {
            std::fs::write(dir.join("image"), image.id.as_str()).at(dir.join("image"))?;
            for d in ["upper", "work", "rootfs"] {
                std::fs::create_dir(dir.join(d)).at(dir.join(d))?;
            }
            let mut lowers: Vec<PathBuf> = Vec::new();
            for l in image.layers.iter().rev() {
                let p = self.layer_dir(&l.diff_id);
                if !p.is_dir() {
                    return Err(ImageError::bad(
                        format!("image {}", image.id),
                        format!("layer {} is not unpacked", l.diff_id),
                    ));
                }
                lowers.push(p);
            }
            if lowers.is_empty() {
                let empty = self.root().join("layers/.empty");
                std::fs::create_dir_all(&empty).at(&empty)?;
                lowers.push(empty);
            }
            let target = dir.join("rootfs");
            mount_overlay(&lowers, &dir.join("upper"), &dir.join("work"), &target)?;
            Ok(target)
        })();
        if result.is_err() {
            let _ = remove_any(&dir);
        }
        self.touch_image(&image.id)?;
        result
    }

    /// Unmounts and deletes the rootfs of container `id` (idempotent).
    pub fn remove_rootfs(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let dir = self.container_dir(id);
        let target = dir.join("rootfs");
        if target.exists() {
            match rustix::mount::unmount(&target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {} // EINVAL: not mounted
                Err(e) => return Err(mount_err(&target, "unmount", e)),
            }
        }
        remove_any(&dir)
    }

    /// IDs of containers whose rootfs was made from image `id`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<String>> {
        let dir = self.root().join("containers");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let img = e.path().join("image");
            if let Ok(s) = std::fs::read_to_string(&img)
                && s.trim() == id.as_str()
            {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Mounts an overlay at `target`; `lowers` top-most first. Kernels before 6.8 do not know
/// `lowerdir+`: there the layers go into one `lowerdir=a:b:c` option, which must fit the
/// kernel's one-page option limit.
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let fs = match overlay_context(lowers, upper, work, true) {
        Ok(fs) => fs,
        Err((_, rustix::io::Errno::INVAL)) => {
            let joined: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
            if joined > MAX_LOWERDIR_OPTION {
                return Err(mount_err(
                    target,
                    &format!(
                        "{} layers ({joined} bytes of lowerdir) exceed this kernel's option limit \
                         (kernel 6.8 or newer mounts any number)",
                        lowers.len()
                    ),
                    rustix::io::Errno::INVAL,
                ));
            }
            overlay_context(lowers, upper, work, false)
                .map_err(|(what, e)| mount_err(target, &what, e))?
        }
        Err((what, e)) => return Err(mount_err(target, &what, e)),
    };
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| mount_err(target, "fsmount", e))?;
    rustix::mount::move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| mount_err(target, "move_mount", e))
}

/// What fits in the legacy `lowerdir=` option next to upperdir/workdir in one page.
const MAX_LOWERDIR_OPTION: usize = 3500;

/// A created overlay superblock context: one `lowerdir+` per layer, or (legacy) one
/// colon-separated `lowerdir`. Errors name the step.
fn overlay_context(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    per_layer: bool,
) -> std::result::Result<rustix::fd::OwnedFd, (String, rustix::io::Errno)> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| ("fsopen".to_string(), e))?;
    if per_layer {
        for l in lowers {
            rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l.as_path())
                .map_err(|e| (format!("lowerdir+ {}", l.display()), e))?;
        }
    } else {
        // Layer directories are named by digest: no ':' or ',' to escape.
        let joined = lowers
            .iter()
            .map(|l| l.to_string_lossy())
            .collect::<Vec<_>>()
            .join(":");
        rustix::mount::fsconfig_set_string(&fs, "lowerdir", joined.as_str())
            .map_err(|e| ("lowerdir".to_string(), e))?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)
        .map_err(|e| ("upperdir".to_string(), e))?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work)
        .map_err(|e| ("workdir".to_string(), e))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| ("create".to_string(), e))?;
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of passing the layers give the same merged tree (the legacy `lowerdir=`
    /// string is what kernels before 6.8 get).
    #[test]
    fn per_layer_and_legacy_lowerdir_mount_the_same_tree() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        for per_layer in [true, false] {
            let t = tempfile::tempdir().unwrap();
            let d = |n: &str| {
                let p = t.path().join(n);
                std::fs::create_dir_all(&p).unwrap();
                p
            };
            let (top, bottom, upper, work, target) =
                (d("top"), d("bottom"), d("upper"), d("work"), d("merged"));
            std::fs::write(top.join("a"), "top").unwrap();
            std::fs::write(bottom.join("a"), "bottom").unwrap();
            std::fs::write(bottom.join("b"), "bottom").unwrap();
            let fs = overlay_context(&[top, bottom], &upper, &work, per_layer).unwrap();
            let mnt =
                rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
                    .unwrap();
            rustix::mount::move_mount(
                &mnt,
                "",
                CWD,
                &target,
                MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
            )
            .unwrap();
            let a = std::fs::read_to_string(target.join("a"));
            let b = std::fs::read_to_string(target.join("b"));
            rustix::mount::unmount(&target, UnmountFlags::DETACH).unwrap();
            assert_eq!(a.unwrap(), "top", "per_layer {per_layer}");
            assert_eq!(b.unwrap(), "bottom", "per_layer {per_layer}");
        }
    }
}
