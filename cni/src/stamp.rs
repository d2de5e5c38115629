//! Stamp files: a record that some node state was applied in *this* network namespace
//! during *this* boot, so hot paths (ADD) can skip work that is already done. A stamp from
//! another netns or an earlier boot never matches.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{CniError, Result};

/// "<netns inode> <boot id>" of the calling thread.
pub fn netns_identity() -> Result<String> {
    let ino = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| CniError::io("stat /proc/thread-self/ns/net", e))?
        .ino();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    Ok(format!("{ino} {}", boot.trim()))
}

/// The stamp body after the identity line if the stamp at `path` was written here, now.
pub fn read(path: &Path) -> Option<String> {
    let content = std::fs::read_to_string(path).ok()?;
    let (ident, body) = content.split_once('\n')?;
    (netns_identity().ok()? == ident).then(|| body.to_string())
}

/// Atomically write a stamp with `body` for this netns and boot.
pub fn write(path: &Path, body: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n{body}", netns_identity()?))
        .map_err(|e| CniError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| CniError::io(format!("renaming {}", tmp.display()), e))
}

/// Remove a stamp (state must be re-applied next time).
pub fn clear(path: &Path) {
    let _ = std::fs::remove_file(path);
}
