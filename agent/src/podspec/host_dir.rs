//! Host directories of pod volumes: creating one, mounting a tmpfs on it (once), and whether
//! something is mounted there. Used by the emptyDir set-up and by the volumes of projected
//! files.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

/// Creates `dir` (and its parents) with `mode`; an existing one is fine.
pub fn create(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Mounts a tmpfs with `data` options on `dir`, unless something is mounted there already.
pub fn mount_tmpfs(dir: &Path, data: &str) -> std::io::Result<()> {
    if is_mountpoint(dir) {
        return Ok(());
    }
    use nix::mount::{MsFlags, mount};
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data),
    )
    .map_err(std::io::Error::from)
}

/// Whether `path` is on another device than its parent (something is mounted on it).
pub fn is_mountpoint(path: &Path) -> bool {
    let (Ok(a), Some(Ok(b))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    a.dev() != b.dev()
}
