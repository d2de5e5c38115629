//! The layout of container log files: `<podLogsDir>/<ns>_<pod>_<uid>/<container>/<n>.log` with
//! `n` the container's restart count, plus that file's rotations (`crilog::rotated_files`).
//! Owns which instances exist and keeping only the newest N of them.

use std::path::{Path, PathBuf};

use nodelet_shim_protocol::crilog;

use super::error::LogError;
use nodelet_objects::log_options::Which;

/// Instances of one container whose logs are kept by default (the kubelet keeps two: the
/// current one and the previous one).
pub const DEFAULT_MAX_INSTANCES: usize = 5;

/// `<podLogsDir>/<ns>_<pod>_<uid>/<container>`.
pub fn container_dir(
    pod_logs_dir: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> PathBuf {
    pod_logs_dir
        .join(format!("{namespace}_{pod}_{uid}"))
        .join(container)
}

/// The live log file of instance `restart_count`: `<dir>/<n>.log`.
pub fn instance_path(container_dir: &Path, restart_count: u32) -> PathBuf {
    container_dir.join(format!("{restart_count}.log"))
}

/// Every file of instance `restart_count`, oldest first: its rotated files (gzip or plain),
/// then the live file if it exists.
pub fn instance_files(container_dir: &Path, restart_count: u32) -> Vec<PathBuf> {
    let live = instance_path(container_dir, restart_count);
    let mut files = crilog::rotated_files(&live);
    if live.exists() {
        files.push(live);
    }
    files
}

/// The instance number of a file name `<n>.log` or `<n>.log.<anything>`.
fn instance_of(name: &str) -> Option<u32> {
    let (n, rest) = name.split_once('.')?;
    if rest != "log" && !rest.starts_with("log.") {
        return None;
    }
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The instances (restart counts) that have log files, ascending. A missing directory has none.
pub fn instances(container_dir: &Path) -> Result<Vec<u32>, LogError> {
    let rd = match std::fs::read_dir(container_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(LogError::io(container_dir, e)),
    };
    let mut v: Vec<u32> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| LogError::io(container_dir, e))?;
        if let Some(n) = e.file_name().to_str().and_then(instance_of)
            && !v.contains(&n)
        {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Keep the logs of the newest `keep` instances of a container (at least one) and remove the
/// files of older ones. The pod manager calls this after each restart. Returns the instances
/// removed.
pub fn prune_instances(container_dir: &Path, keep: usize) -> Result<Vec<u32>, LogError> {
    let all = instances(container_dir)?;
    let keep = keep.max(1);
    if all.len() <= keep {
        return Ok(vec![]);
    }
    let old = &all[..all.len() - keep];
    let rd = std::fs::read_dir(container_dir).map_err(|e| LogError::io(container_dir, e))?;
    for e in rd {
        let e = e.map_err(|e| LogError::io(container_dir, e))?;
        if e.file_name()
            .to_str()
            .and_then(instance_of)
            .is_some_and(|n| old.contains(&n))
        {
            let p = e.path();
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(p, e)),
            }
        }
    }
    Ok(old.to_vec())
}

/// The instance number to read. `running` is the restart count of the running instance, if
/// the container runs. Instances without log files (never written, or pruned) can't be picked.
pub fn select_instance(
    container_dir: &Path,
    running: Option<u32>,
    which: Which,
) -> Result<u32, LogError> {
    let all = instances(container_dir)?;
    let missing = |instance| LogError::NoInstance {
        dir: container_dir.to_path_buf(),
        instance,
    };
    match which {
        Which::Current => match running {
            Some(n) => Ok(n),
            None => all.last().copied().ok_or_else(|| missing(0)),
        },
        Which::Previous(n) => {
            let n = n.max(1) as usize;
            let done: Vec<u32> = all.into_iter().filter(|i| Some(*i) != running).collect();
            let base = running.unwrap_or_else(|| done.last().map_or(0, |l| l + 1));
            if done.len() < n {
                return Err(missing(base.saturating_sub(n as u32)));
            }
            Ok(done[done.len() - n])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let d = container_dir(
            Path::new("/var/log/pods"),
            "default",
            "web-n1",
            "u1",
            "nginx",
        );
        assert_eq!(d, Path::new("/var/log/pods/default_web-n1_u1/nginx"));
        assert_eq!(instance_path(&d, 3), d.join("3.log"));
    }

    #[test]
    fn instance_names() {
        assert_eq!(instance_of("3.log"), Some(3));
        assert_eq!(instance_of("12.log.20261122-104017.gz"), Some(12));
        assert_eq!(instance_of("12.logx"), None);
        assert_eq!(instance_of("x.log"), None);
        assert_eq!(instance_of(".log"), None);
    }

    #[test]
    fn prune_keeps_the_newest_instances() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for n in 0..8 {
            std::fs::write(d.join(format!("{n}.log")), "x").unwrap();
            std::fs::write(d.join(format!("{n}.log.20261122-104017.gz")), "x").unwrap();
        }
        std::fs::write(d.join("10.log"), "x").unwrap();
        std::fs::write(d.join("unrelated"), "x").unwrap();
        assert_eq!(instances(d).unwrap(), [0, 1, 2, 3, 4, 5, 6, 7, 10]);
        assert_eq!(prune_instances(d, 5).unwrap(), [0, 1, 2, 3]);
        assert_eq!(instances(d).unwrap(), [4, 5, 6, 7, 10]);
        assert!(d.join("unrelated").exists());
        assert!(!d.join("3.log.20261122-104017.gz").exists());
        assert_eq!(instance_files(d, 4).len(), 2);
        assert_eq!(prune_instances(d, 5).unwrap(), Vec::<u32>::new());
        assert_eq!(prune_instances(d, 0).unwrap(), [4, 5, 6, 7]);
        assert_eq!(instances(d).unwrap(), [10]);
        assert_eq!(instances(&d.join("missing")).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn selecting_current_and_previous_instances() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for n in [2, 3, 4, 5, 6] {
            std::fs::write(d.join(format!("{n}.log")), "x").unwrap();
        }
        // Running instance 6: previous is 5, --previous=3 is 3.
        assert_eq!(select_instance(d, Some(6), Which::Current).unwrap(), 6);
        assert_eq!(select_instance(d, Some(6), Which::Previous(1)).unwrap(), 5);
        assert_eq!(select_instance(d, Some(6), Which::Previous(3)).unwrap(), 3);
        assert_eq!(select_instance(d, Some(6), Which::Previous(4)).unwrap(), 2);
        assert!(matches!(
            select_instance(d, Some(6), Which::Previous(5)),
            Err(LogError::NoInstance { instance: 1, .. })
        ));
        // Crash loop (nothing runs): current and --previous are both the last terminated one.
        assert_eq!(select_instance(d, None, Which::Current).unwrap(), 6);
        assert_eq!(select_instance(d, None, Which::Previous(1)).unwrap(), 6);
        assert_eq!(select_instance(d, None, Which::Previous(2)).unwrap(), 5);
        // A running instance that has not written yet is still the current one.
        assert_eq!(select_instance(d, Some(7), Which::Current).unwrap(), 7);
        assert_eq!(select_instance(d, Some(7), Which::Previous(1)).unwrap(), 6);
        let empty = d.join("none");
        assert!(select_instance(&empty, None, Which::Current).is_err());
    }
}
