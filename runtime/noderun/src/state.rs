//! The runtime's on-disk record of each container under `--root` (default /run/noderun):
//! `<root>/<id>/state.json`, written atomically, and the status derived from it and the kernel
//! (creating, created, running, paused, stopped). Also the OCI state JSON that `state` prints
//! and hooks receive.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

pub const DEFAULT_ROOT: &str = "/run/noderun";
pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub bundle: PathBuf,
    /// Init's pid in the runtime's pid namespace; 0 while creating.
    pub pid: i32,
    /// Init's start time (field 22 of /proc/<pid>/stat) to detect pid reuse.
    pub pid_start: u64,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: noderun_cgroups::Cgroup,
    /// The spec's poststart and poststop hooks, kept so that `start` and `delete` need not
    /// read config.json again (which may have changed or gone since `create`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<oci_spec::runtime::Hook>,
    /// For a container without a mount namespace of its own: its mounts live below its rootfs
    /// in the runtime's mount namespace (`delete` unmounts them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts: Option<crate::rootfs::SharedMounts>,
}

/// The OCI runtime-spec state object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// runc extension shown by `state` and `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Container ids follow runc's rule.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Field 22 (starttime) of /proc/<pid>/stat, and whether the process is a zombie.
pub fn proc_start(pid: i32) -> Option<(u64, bool)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let mut f = after.split(' ');
    let state = f.next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

impl Saved {
    pub fn load(root: &Path, id: &str) -> Result<Saved> {
        validate_id(id)?;
        let file = container_dir(root, id).join(STATE_FILE);
        let bytes = match crate::config::read_capped(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()));
            }
            Err(e) => {
                return Err(Error::Io {
                    what: format!("read {}", file.display()),
                    source: e,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Other(format!("{}: corrupt state: {e}", file.display())))
    }

    /// Atomically replace state.json (write a temp file, rename). No fsync: the state lives
    /// under /run, which does not survive a reboot anyway, and an fsync cost ~8 ms per save
    /// where /run is on disk (twice per `run`); runc and crun do not fsync their state either.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = container_dir(root, &self.id);
        let tmp = dir.join(".state.json.tmp");
        let file = dir.join(STATE_FILE);
        let data =
            serde_json::to_vec(self).map_err(|e| Error::Other(format!("encode state: {e}")))?;
        let mut f = std::fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
        f.write_all(&data)
            .ctx(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &file).ctx(|| format!("rename {}", file.display()))
    }

    /// Is init still the process we started?
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && matches!(proc_start(self.pid), Some((start, zombie)) if start == self.pid_start && !zombie)
    }

    pub fn status(&self, root: &Path) -> Status {
        if self.pid == 0 {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if container_dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn oci_state(&self, root: &Path) -> OciState {
        let status = self.status(root);
        OciState {
            oci_version: crate::config::OCI_VERSION.to_string(),
            id: self.id.clone(),
            status,
            pid: (status != Status::Stopped && self.pid > 0).then_some(self.pid),
            bundle: self.bundle.clone(),
            annotations: self.annotations.clone(),
            created: Some(self.created.clone()),
            owner: Some(self.owner.clone()),
        }
    }
}

/// Every container id under the root, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(Error::Io {
                what: format!("read {}", root.display()),
                source: e,
            });
        }
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Current UTC time as RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_000_000, 5), "2026-11-18T11:06:40.000000005Z");
    }

    #[test]
    fn own_process_start() {
        let (start, zombie) = proc_start(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(!zombie);
    }
}
