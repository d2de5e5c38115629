//! Writes OCI `LinuxResources` to a cgroup v2 directory (device rules become an eBPF filter).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

use crate::apply_v1::rdma_line;
use crate::bpf_prog::device_filter_program;
use crate::convert::{blkio_weight_to_io_weight, shares_to_weight, swap_to_v2};
use crate::devices::rules_from_oci;
use crate::fsio::{self, write};
use crate::{Error, bpf_sys};

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

pub(crate) fn apply(d: &Path, r: &LinuxResources) -> Result<(), Error> {
    apply_all(d, r).map_err(|e| explain_missing_controller(d, e))
}

/// A write that failed with ENOENT usually means the controller is not enabled for this
/// cgroup; say so instead of "No such file or directory".
fn explain_missing_controller(d: &Path, e: Error) -> Error {
    let Error::Write {
        field,
        path,
        source,
        value,
    } = e
    else {
        return e;
    };
    if source.raw_os_error() == Some(libc::ENOENT) && path.parent() == Some(d) {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let controller = file.split('.').next().unwrap_or("").to_string();
        let enabled = fsio::read(&d.join("cgroup.controllers")).unwrap_or_default();
        if !controller.is_empty()
            && controller != "cgroup"
            && !enabled
                .split_ascii_whitespace()
                .any(|c| c == controller.as_str())
        {
            return Error::unsupported(
                field,
                path,
                format!(
                    "the {controller} controller is not enabled for this cgroup (the parent's \
                     cgroup.subtree_control lacks it; with cgroup v2 a parent holding processes \
                     cannot delegate controllers)"
                ),
            );
        }
    }
    Error::Write {
        field,
        path,
        source,
        value,
    }
}

fn apply_all(d: &Path, r: &LinuxResources) -> Result<(), Error> {
    if let Some(m) = r.memory() {
        memory(d, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(d, c)?;
    }
    // 0 leaves pids.max as it is (runc: unset, so `update` of other fields keeps it).
    if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        write("linux.resources.pids.limit", &d.join("pids.max"), &v)?;
    }
    if let Some(b) = r.block_io() {
        io(d, b)?;
    }
    if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        if !fsio::read(&d.join("cgroup.controllers"))?
            .split_ascii_whitespace()
            .any(|c| c == "hugetlb")
        {
            return Err(Error::unsupported(
                "linux.resources.hugepageLimits",
                d.join("cgroup.controllers"),
                "the hugetlb controller is not enabled for this cgroup",
            ));
        }
        for (i, l) in h.iter().enumerate() {
            let f = d.join(format!("hugetlb.{}.max", l.page_size()));
            write(
                &format!("linux.resources.hugepageLimits[{i}]"),
                &f,
                &max_or(l.limit()),
            )?;
        }
    }
    if let Some(n) = r.network()
        && (n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
    {
        return Err(Error::unsupported(
            "linux.resources.network",
            d,
            "net_cls/net_prio do not exist in cgroup v2",
        ));
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            write(
                &format!("linux.resources.rdma.{dev}"),
                &d.join("rdma.max"),
                &rdma_line(dev, l.hca_handles(), l.hca_objects()),
            )?;
        }
    }
    if let Some(devs) = r.devices() {
        let rules = rules_from_oci(devs)?;
        bpf_sys::replace_device_filter(d, &device_filter_program(&rules))?;
    }
    if let Some(u) = r.unified() {
        for (k, v) in u {
            if k.contains('/') || k.starts_with('.') || k.is_empty() {
                return Err(Error::unsupported(
                    format!("linux.resources.unified.{k}"),
                    d,
                    "not a cgroup file name",
                ));
            }
            write(&format!("linux.resources.unified.{k}"), &d.join(k), v)?;
        }
    }
    Ok(())
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().filter(|&l| l != 0);
    // Validate swap before writing anything.
    let swap_f = d.join("memory.swap.max");
    let swap = match m.swap().map(|s| swap_to_v2(limit, s)).transpose() {
        Ok(v) => v.flatten(),
        Err(reason) => {
            return Err(Error::unsupported(
                "linux.resources.memory.swap",
                swap_f,
                reason,
            ));
        }
    };
    if let Some(l) = limit {
        write(
            "linux.resources.memory.limit",
            &d.join("memory.max"),
            &max_or(l),
        )?;
    }
    if let Some(v) = swap {
        write("linux.resources.memory.swap", &swap_f, &v)?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(
            "linux.resources.memory.reservation",
            &d.join("memory.low"),
            &max_or(r),
        )?;
    }
    if m.swappiness().is_some() {
        return Err(Error::unsupported(
            "linux.resources.memory.swappiness",
            d,
            "memory swappiness cannot be set per cgroup with cgroup v2",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(Error::unsupported(
            "linux.resources.memory.disableOOMKiller",
            d,
            "the OOM killer cannot be disabled per cgroup with cgroup v2",
        ));
    }
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            "linux.resources.cpu.realtimeRuntime",
            d,
            "real-time CPU scheduling limits are not supported with cgroup v2",
        ));
    }
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        write(
            "linux.resources.cpu.shares",
            &d.join("cpu.weight"),
            &shares_to_weight(s).to_string(),
        )?;
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let f = d.join("cpu.max");
        let period = match period {
            Some(p) => p,
            // Keep the current period when only the quota changes.
            None => fsio::read(&f)?
                .split_ascii_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(100_000),
        };
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        let field = if c.quota().is_some() {
            "linux.resources.cpu.quota"
        } else {
            "linux.resources.cpu.period"
        };
        write(field, &f, &format!("{q} {period}"))?;
    }
    if let Some(b) = c.burst() {
        write(
            "linux.resources.cpu.burst",
            &d.join("cpu.max.burst"),
            &b.to_string(),
        )?;
    }
    if let Some(i) = c.idle() {
        write(
            "linux.resources.cpu.idle",
            &d.join("cpu.idle"),
            &i.to_string(),
        )?;
    }
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write("linux.resources.cpu.cpus", &d.join("cpuset.cpus"), v)?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write("linux.resources.cpu.mems", &d.join("cpuset.mems"), v)?;
    }
    Ok(())
}

fn io(d: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    // With BFQ, io.bfq.weight takes the blkio range directly; otherwise io.weight (1..10000).
    let bfq = d.join("io.bfq.weight");
    let has_bfq = fsio::exists(&bfq);
    if let Some(w) = b.weight() {
        if has_bfq {
            write("linux.resources.blockIO.weight", &bfq, &w.to_string())?;
        } else {
            write(
                "linux.resources.blockIO.weight",
                &d.join("io.weight"),
                &blkio_weight_to_io_weight(w).to_string(),
            )?;
        }
    }
    if b.leaf_weight().is_some() {
        return Err(Error::unsupported(
            "linux.resources.blockIO.leafWeight",
            d,
            "leaf weights do not exist in cgroup v2",
        ));
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        if let Some(w) = wd.weight() {
            let (f, v) = if has_bfq {
                (bfq.clone(), u64::from(w))
            } else {
                (d.join("io.weight"), blkio_weight_to_io_weight(w))
            };
            write(&field, &f, &format!("{}:{} {}", wd.major(), wd.minor(), v))?;
        }
    }
    let max = d.join("io.max");
    let lists: [(&str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (field, key, list) in lists {
        for (i, t) in list.iter().flatten().enumerate() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(
                &format!("linux.resources.blockIO.{field}[{i}]"),
                &max,
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}
