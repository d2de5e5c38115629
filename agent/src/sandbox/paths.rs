//! Where a pod's sandbox files live:
//!
//! ```text
//! <rootDir>/pods/<uid>/sandbox/{config.json,rootfs/}   the pause bundle
//! <rootDir>/pods/<uid>/etc-hosts                        managed /etc/hosts
//! <rootDir>/pods/<uid>/resolv.conf                      managed /etc/resolv.conf
//! <rootDir>/cni-cache/<containerID>-<ifname>.json       cached CNI ADD results
//! <runDir>/netns/<uid>                                  the network namespace pin
//! ```

use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// Checks that `value` is safe as one path component (pod UIDs, container ids): non-empty,
/// only `[A-Za-z0-9_.-]`, not starting with `.` or `-`, at most 253 bytes.
pub fn check_component(field: &str, value: &str) -> Result<()> {
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if value.is_empty()
        || value.len() > 253
        || !ok_chars
        || value.starts_with('.')
        || value.starts_with('-')
    {
        return Err(Error::invalid(
            field,
            format!(
                "{value:?} is not a valid identifier (letters, digits, '_', '.', '-'; \
                 not starting with '.' or '-'; at most 253 bytes)"
            ),
        ));
    }
    Ok(())
}

/// `<rootDir>/pods/<uid>`.
pub fn pod_dir(root_dir: &Path, uid: &str) -> PathBuf {
    root_dir.join("pods").join(uid)
}

/// `<rootDir>/pods/<uid>/sandbox`: the pause bundle.
pub fn sandbox_bundle_dir(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("sandbox")
}

/// `<rootDir>/pods/<uid>/etc-hosts`.
pub fn hosts_path(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("etc-hosts")
}

/// `<rootDir>/pods/<uid>/resolv.conf`.
pub fn resolv_conf_path(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("resolv.conf")
}

/// `<rootDir>/cni-cache`.
pub fn cni_cache_dir(root_dir: &Path) -> PathBuf {
    root_dir.join("cni-cache")
}

/// `<runDir>/netns/<uid>`.
pub fn netns_pin_path(run_dir: &Path, uid: &str) -> PathBuf {
    run_dir.join("netns").join(uid)
}

/// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| Error::invalid(path.display().to_string(), "has no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{seq}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", &tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("rename into place", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        assert!(check_component("uid", "0f3a-99_x.y").is_ok());
        for bad in ["", "..", ".x", "-x", "a/b", "a b", "ä"] {
            let e = check_component("metadata.uid", bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("metadata.uid: "), "{e}");
        }
    }

    #[test]
    fn layout() {
        let r = Path::new("/var/lib/nodelet");
        assert_eq!(
            sandbox_bundle_dir(r, "u1"),
            Path::new("/var/lib/nodelet/pods/u1/sandbox")
        );
        assert_eq!(
            netns_pin_path(Path::new("/run/nodelet"), "u1"),
            Path::new("/run/nodelet/netns/u1")
        );
    }
}
