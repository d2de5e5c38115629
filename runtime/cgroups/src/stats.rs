//! Usage figures (memory, CPU, pids) and the OOM-kill counter, from v2 or v1 files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsio::{self, keyed_u64, read, read_u64};
use crate::{Cgroup, Error, Mode};

/// Resource usage of a cgroup. Fields are None when the controller is not available.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory in use, bytes (v2 memory.current, v1 memory.usage_in_bytes).
    pub memory_usage: Option<u64>,
    /// Memory limit in bytes; None when unlimited or unavailable.
    pub memory_limit: Option<u64>,
    /// usage minus inactive file pages, like the kubelet's working set.
    pub memory_working_set: Option<u64>,
    /// CPU time consumed, nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Number of tasks (pids.current).
    pub pids_current: Option<u64>,
}

/// v1 reports "unlimited" as a huge page-rounded number.
const V1_UNLIMITED: u64 = 1 << 62;

fn optional<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn working_set(usage: u64, stat: &Path, key: &str) -> Result<u64, Error> {
    let text = read(stat)?;
    let inactive = keyed_u64(stat, &text, key)?.unwrap_or(0);
    Ok(usage.saturating_sub(inactive))
}

pub(crate) fn stats(cg: &Cgroup) -> Result<Stats, Error> {
    let mut s = Stats::default();
    match cg.mode {
        Mode::Unified => {
            let d = cg.v2_dir()?;
            s.memory_usage = optional(read_u64(&d.join("memory.current")))?.flatten();
            s.memory_limit = optional(read_u64(&d.join("memory.max")))?.flatten();
            if let Some(u) = s.memory_usage {
                s.memory_working_set =
                    Some(working_set(u, &d.join("memory.stat"), "inactive_file")?);
            }
            let cpu_stat = d.join("cpu.stat");
            if let Some(text) = optional(read(&cpu_stat))? {
                s.cpu_usage_ns = keyed_u64(&cpu_stat, &text, "usage_usec")?.map(|u| u * 1000);
            }
            s.pids_current = optional(read_u64(&d.join("pids.current")))?.flatten();
        }
        Mode::Hybrid | Mode::Legacy => {
            if let Some(d) = cg.dir_for("memory") {
                s.memory_usage = read_u64(&d.join("memory.usage_in_bytes"))?;
                s.memory_limit =
                    read_u64(&d.join("memory.limit_in_bytes"))?.filter(|&l| l < V1_UNLIMITED);
                if let Some(u) = s.memory_usage {
                    s.memory_working_set = Some(working_set(
                        u,
                        &d.join("memory.stat"),
                        "total_inactive_file",
                    )?);
                }
            }
            if let Some(d) = cg.dir_for("cpuacct") {
                s.cpu_usage_ns = read_u64(&d.join("cpuacct.usage"))?;
            }
            if let Some(d) = cg.dir_for("pids") {
                s.pids_current = read_u64(&d.join("pids.current"))?;
            }
        }
    }
    Ok(s)
}

pub(crate) fn oom_kills_file(cg: &Cgroup) -> Result<PathBuf, Error> {
    Ok(match cg.mode {
        Mode::Unified => cg.v2_dir()?.join("memory.events"),
        Mode::Hybrid | Mode::Legacy => cg
            .dir_for("memory")
            .ok_or_else(|| {
                Error::unsupported(
                    "oom_kills",
                    "/sys/fs/cgroup",
                    "the memory controller is not mounted",
                )
            })?
            .join("memory.oom_control"),
    })
}

/// The `oom_kill` count in a memory.events (v2) or memory.oom_control (v1) file.
pub fn read_oom_kills(f: &Path) -> Result<u64, Error> {
    let text = fsio::read(f)?;
    keyed_u64(f, &text, "oom_kill")?
        .ok_or_else(|| Error::parse(f, "no oom_kill counter (kernel older than 4.13?)"))
}
