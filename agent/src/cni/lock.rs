//! Per-attachment lock files, so that no plugin run for an attachment overlaps another — not
//! even one left running by an agent that was killed.
//!
//! `<cacheDir>/locks/<containerID>-<ifname>.lock` is created (holding the attachment's
//! identity as JSON: container ID, interface, CNI_ARGS) and `flock`ed exclusively before ADD
//! or DEL runs a plugin; the plugin process inherits the locked descriptor (it is the same
//! open file description, so the lock is its too). An agent killed during ADD leaves the plugin
//! running *and holding the lock*: the next agent's DEL blocks on it until that orphaned ADD
//! has finished (and allocated whatever it allocates), then releases it. The file outlives the
//! ADD (it marks an attachment whose ADD started, cached or not) and is removed by a
//! successful DEL, so an attachment whose ADD never reached the result cache is still found
//! and deleted ([`super::Cni::attachments_prefixed`]).
//!
//! GC (`cni.dev/valid-attachments`) takes `locks/.gc` exclusively; every ADD holds it shared
//! (inherited the same way), so GC never runs beside an ADD whose attachment it would not yet
//! know.
//!
//! Waiting is a non-blocking `flock` retried every 20 ms up to a deadline (the CNI timeout),
//! run on the blocking pool.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::error::CniError;

/// What a lock file records: enough to DEL the attachment when its ADD never got cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub container_id: String,
    pub if_name: String,
    pub cni_args: Vec<(String, String)>,
}

/// A held lock; released when dropped (and when every plugin that inherited it has exited).
#[derive(Debug)]
pub struct Held {
    file: Flock<File>,
    path: PathBuf,
}

impl Held {
    /// The descriptor plugins inherit.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Writes the attachment's identity into the lock file.
    pub fn record(&self, p: &Pending) -> Result<(), CniError> {
        use std::io::Write;
        let data = serde_json::to_vec(p).map_err(|e| CniError::Cache {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let mut f: &File = &self.file;
        f.set_len(0)
            .and_then(|()| f.write_all(&data))
            .map_err(|e| CniError::io("write", &self.path, e))
    }

    /// Removes the lock file (the attachment is gone); the lock is released on drop.
    pub fn remove(self) -> Result<(), CniError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CniError::io("remove", &self.path, e)),
        }
    }
}

/// `<cacheDir>/locks`.
pub fn dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("locks")
}

/// The lock file of one attachment.
pub fn path(cache_dir: &Path, container_id: &str, ifname: &str) -> PathBuf {
    dir(cache_dir).join(format!("{container_id}-{ifname}.lock"))
}

/// The node-wide GC lock.
pub fn gc_path(cache_dir: &Path) -> PathBuf {
    dir(cache_dir).join(".gc")
}

/// Locks `path` (`exclusive` or shared), waiting up to `timeout`. A lock file removed or
/// replaced while we waited is opened again, so a lock is only ever held on the live file.
pub fn acquire(path: &Path, exclusive: bool, timeout: Duration) -> Result<Held, CniError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| CniError::io("create", d, e))?;
    }
    let deadline = Instant::now() + timeout;
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    loop {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| CniError::io("open", path, e))?;
        match Flock::lock(f, arg) {
            Ok(file) => {
                let same = match (file.metadata(), std::fs::metadata(path)) {
                    (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                    _ => false,
                };
                if same {
                    return Ok(Held {
                        file,
                        path: path.to_path_buf(),
                    });
                }
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {}
            Err((_, e)) => return Err(CniError::io("flock", path, e.into())),
        }
        if Instant::now() >= deadline {
            return Err(CniError::Locked {
                path: path.to_path_buf(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`acquire`] on the blocking pool.
pub async fn acquire_async(
    path: PathBuf,
    exclusive: bool,
    timeout: Duration,
) -> Result<Held, CniError> {
    tokio::task::spawn_blocking(move || acquire(&path, exclusive, timeout))
        .await
        .map_err(|e| CniError::Invalid {
            field: "CNI lock".into(),
            reason: e.to_string(),
        })?
}

/// Every attachment with a lock file whose name starts with `prefix` (not the GC lock), read
/// without locking. Unreadable files are skipped with a warning.
pub fn list_prefixed(cache_dir: &Path, prefix: &str) -> Vec<Pending> {
    let d = dir(cache_dir);
    let mut out = vec![];
    for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.starts_with(prefix) || !name.ends_with(".lock") {
            continue;
        }
        let p = e.path();
        match std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|d| serde_json::from_slice::<Pending>(&d).map_err(|e| e.to_string()))
        {
            Ok(x) => out.push(x),
            // An empty file: a lock taken for a DEL of an attachment nobody recorded.
            Err(_) if std::fs::metadata(&p).is_ok_and(|m| m.len() == 0) => {}
            Err(e) => tracing::warn!(path = %p.display(), error = %e, "unreadable CNI lock file"),
        }
    }
    out.sort_by(|a, b| a.container_id.cmp(&b.container_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_locker_waits_then_times_out_and_gets_it_after_release() {
        let t = tempfile::tempdir().unwrap();
        let p = path(t.path(), "c1", "eth0");
        let a = acquire(&p, true, Duration::from_secs(1)).unwrap();
        let e = acquire(&p, true, Duration::from_millis(100)).unwrap_err();
        assert!(e.to_string().contains("locked"), "{e}");
        // Shared locks (ADD on the GC lock) exclude an exclusive one, not each other.
        let g = gc_path(t.path());
        let s1 = acquire(&g, false, Duration::from_secs(1)).unwrap();
        let _s2 = acquire(&g, false, Duration::from_secs(1)).unwrap();
        assert!(acquire(&g, true, Duration::from_millis(60)).is_err());
        drop(s1);
        a.record(&Pending {
            container_id: "c1".into(),
            if_name: "eth0".into(),
            cni_args: vec![("K8S_POD_UID".into(), "u".into())],
        })
        .unwrap();
        assert_eq!(list_prefixed(t.path(), "c1")[0].container_id, "c1");
        assert!(list_prefixed(t.path(), "c2").is_empty());
        a.remove().unwrap();
        // Removed while nobody waits: the next lock makes a new, empty file.
        let b = acquire(&p, true, Duration::from_secs(1)).unwrap();
        assert!(list_prefixed(t.path(), "").is_empty());
        b.remove().unwrap();
    }

    #[test]
    fn a_lock_released_by_removal_is_taken_on_the_new_file() {
        let t = tempfile::tempdir().unwrap();
        let p = path(t.path(), "c1", "eth0");
        let a = acquire(&p, true, Duration::from_secs(1)).unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || acquire(&p2, true, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(100));
        a.remove().unwrap();
        let b = waiter.join().unwrap().unwrap();
        assert!(
            p.exists(),
            "the waiter locks a fresh file, not the unlinked one"
        );
        drop(b);
    }
}
