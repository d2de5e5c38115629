//! Durable exit records: `<shim dir>/exits/<container id>.json`, written atomically when the
//! shim reaps a container's init, so the agent learns how a container ended even if it was
//! down at the time.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub pid: i32,
    /// Exit code, or 128 + signal for a signalled process.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended it (the container cgroup counted an OOM kill).
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
}

pub fn dir(shim_dir: &Path) -> PathBuf {
    shim_dir.join("exits")
}

pub fn path(shim_dir: &Path, id: &str) -> PathBuf {
    dir(shim_dir).join(format!("{id}.json"))
}

pub fn save(shim_dir: &Path, id: &str, rec: &ExitRecord) -> std::io::Result<()> {
    std::fs::create_dir_all(dir(shim_dir))?;
    let p = path(shim_dir, id);
    let tmp = p.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(rec).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p)
}

pub fn load(shim_dir: &Path, id: &str) -> Option<ExitRecord> {
    let bytes = std::fs::read(path(shim_dir, id)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn remove(shim_dir: &Path, id: &str) {
    let _ = std::fs::remove_file(path(shim_dir, id));
}
