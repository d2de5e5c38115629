//! Container root filesystems: an overlayfs mount with the image's layer directories as
//! lowerdirs and a per-container upper/work dir under `containers/<id>/`, removed with the
//! container. Mounted with the new mount API (`fsopen` + one `lowerdir+` per layer), so the
//! number of layers is not limited by the one-page mount option string.

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

/// Mounts an overlay at `target`; `lowers` top-most first.
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| mount_err(target, "fsopen", e))?;
    for l in lowers {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l.as_path())
            .map_err(|e| mount_err(target, &format!("lowerdir+ {}", l.display()), e))?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)
        .map_err(|e| mount_err(target, "upperdir", e))?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work)
        .map_err(|e| mount_err(target, "workdir", e))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| mount_err(target, "create", e))?;
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
