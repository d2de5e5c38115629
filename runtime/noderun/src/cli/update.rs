//! `noderun update`: runc's flags (or `-r FILE|-` with an OCI `LinuxResources` JSON) turned
//! into the resources to write to a live container's cgroup. Only what is given is changed.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use noderun::Runtime;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    /// OCI LinuxResources JSON to apply, from a file or "-" for stdin (the other flags are then
    /// ignored, as in runc).
    #[arg(short, long)]
    resources: Option<String>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1: none).
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS burst in microseconds.
    #[arg(long = "cpu-burst")]
    cpu_burst: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// Real-time period in microseconds.
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// Real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (cpuset list, e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (bytes, or with a unit: 64m, 1g); deprecated by the kernel.
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit.
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with a unit: 64m, 1g; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
    id: String,
}

pub fn update(rt: &Runtime, a: &UpdateArgs) -> Result<()> {
    let resources = match &a.resources {
        Some(src) => read_resources(src)?,
        None => from_flags(a)?,
    };
    rt.update(&a.id, &resources)
        .with_context(|| format!("update {}", a.id))
}

/// `-r FILE|-`: the JSON of an OCI `LinuxResources`, errors naming the source and field.
fn read_resources(src: &str) -> Result<LinuxResources> {
    let (name, text) = if src == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(noderun::config::MAX_FILE_SIZE + 1)
            .read_to_string(&mut s)
            .context("--resources -: read stdin")?;
        if s.len() as u64 > noderun::config::MAX_FILE_SIZE {
            anyhow::bail!(
                "--resources -: more than {} bytes",
                noderun::config::MAX_FILE_SIZE
            );
        }
        ("stdin".to_string(), s)
    } else {
        let p = Path::new(src);
        let bytes =
            noderun::config::read_capped(p).with_context(|| format!("--resources {src}: read"))?;
        let s = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("--resources {src}: not UTF-8 text"))?;
        (src.to_string(), s)
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("--resources {name}: {}: {}", e.path(), e.inner()))
}

/// The resources the flags ask for; unset flags leave their cgroup files alone.
fn from_flags(a: &UpdateArgs) -> Result<LinuxResources> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by noderun");
    }
    let mut r = LinuxResources::default();
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref().map(|s| parse_bytes(flag, s)).transpose()
    };
    let limit = bytes("--memory", &a.memory)?;
    let reservation = bytes("--memory-reservation", &a.memory_reservation)?;
    let swap = bytes("--memory-swap", &a.memory_swap)?;
    let kernel = bytes("--kernel-memory", &a.kernel_memory)?;
    let kernel_tcp = bytes("--kernel-memory-tcp", &a.kernel_memory_tcp)?;
    if [limit, reservation, swap, kernel, kernel_tcp]
        .iter()
        .any(Option::is_some)
    {
        let mut m = LinuxMemory::default();
        m.set_limit(limit)
            .set_reservation(reservation)
            .set_swap(swap)
            .set_kernel(kernel)
            .set_kernel_tcp(kernel_tcp);
        r.set_memory(Some(m));
    }
    if a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_burst.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = LinuxCpu::default();
        c.set_period(a.cpu_period)
            .set_quota(a.cpu_quota)
            .set_burst(a.cpu_burst)
            .set_shares(a.cpu_share)
            .set_realtime_period(a.cpu_rt_period)
            .set_realtime_runtime(a.cpu_rt_runtime)
            .set_cpus(a.cpuset_cpus.clone())
            .set_mems(a.cpuset_mems.clone());
        r.set_cpu(Some(c));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

/// A size as runc (docker's `RAMInBytes`) reads it: a number with an optional binary unit
/// (`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`), case-insensitive;
/// `-1` means unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let unit = unit.trim_start();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => bail!("{flag}: invalid size {s:?}: unknown unit (use b, k, m, g, t or p)"),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .with_context(|| format!("{flag}: invalid size {s:?}: not a number"))?;
    let v = n * mult as f64;
    if v > i64::MAX as f64 {
        bail!("{flag}: invalid size {s:?}: too large");
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_runc() {
        for (s, v) in [
            ("1024", 1024),
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("64mb", 64 << 20),
            ("64MiB", 64 << 20),
            ("1g", 1 << 30),
            ("1.5k", 1536),
            ("10 k", 10 << 10),
            ("-1", -1),
            ("7b", 7),
        ] {
            assert_eq!(parse_bytes("--memory", s).unwrap(), v, "{s}");
        }
        for s in ["", "m", "12x", "-5", "1e3", "1.2.3"] {
            let e = parse_bytes("--memory", s).unwrap_err().to_string();
            assert!(
                e.contains("--memory") && e.contains("invalid size"),
                "{s}: {e}"
            );
        }
    }

    #[test]
    fn flags_set_only_what_is_given() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            pids_limit: Some(20),
            id: "x".into(),
            ..Default::default()
        };
        let r = from_flags(&a).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.swap(), None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert!(r.cpu().is_none() && r.block_io().is_none());
        let a = UpdateArgs {
            cpu_quota: Some(-1),
            cpu_share: Some(512),
            id: "x".into(),
            ..Default::default()
        };
        let r = from_flags(&a).unwrap();
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.quota(), c.shares(), c.period()),
            (Some(-1), Some(512), None)
        );
        assert!(r.memory().is_none());
    }
}
