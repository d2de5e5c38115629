//! Files the agent writes and names: atomic replacement (temp file, fsync, rename) and the
//! check that an identifier (pod UID, container id) is safe as one path component. A leaf:
//! the sandbox, the CNI cache and the pods' state files all use it.

use std::path::{Path, PathBuf};

/// A failed file or system operation on a path, or an unusable caller-supplied value (the
/// sandbox reports its own failures with it too).
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A file or system operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A caller-supplied value is unusable (`field` names it).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl DiskError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> DiskError {
        DiskError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DiskError {
        DiskError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is safe as one path component (pod UIDs, container ids): non-empty,
/// only `[A-Za-z0-9_.-]`, not starting with `.` or `-`, at most 253 bytes.
pub fn check_component(field: &str, value: &str) -> Result<(), DiskError> {
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if value.is_empty()
        || value.len() > 253
        || !ok_chars
        || value.starts_with('.')
        || value.starts_with('-')
    {
        return Err(DiskError::invalid(
            field,
            format!(
                "{value:?} is not a valid identifier (letters, digits, '_', '.', '-'; \
                 not starting with '.' or '-'; at most 253 bytes)"
            ),
        ));
    }
    Ok(())
}

/// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), DiskError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| DiskError::invalid(path.display().to_string(), "has no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| DiskError::io("create directory", dir, e))?;
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
        return Err(DiskError::io("write", &tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DiskError::io("rename into place", path, e)
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
}
