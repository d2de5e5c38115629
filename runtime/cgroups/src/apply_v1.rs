//! Writes OCI `LinuxResources` to cgroup v1 controller hierarchies.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

use crate::devices::rules_from_oci;
use crate::fsio::{self, write};
use crate::{Cgroup, Error};

/// The directory of `controller`, or an error naming `field` when it is not mounted.
fn dir<'a>(cg: &'a Cgroup, controller: &str, field: &str) -> Result<&'a Path, Error> {
    cg.dir_for(controller).ok_or_else(|| {
        Error::unsupported(
            field,
            "/sys/fs/cgroup",
            format!("the {controller} controller is not mounted (cgroup v1)"),
        )
    })
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<(), Error> {
    if let Some(u) = r.unified()
        && !u.is_empty()
    {
        return Err(Error::unsupported(
            "linux.resources.unified",
            "/sys/fs/cgroup",
            "cgroup v2 settings cannot be applied on a cgroup v1 host",
        ));
    }
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    // 0 leaves pids.max as it is (runc: unset, so `update` of other fields keeps it).
    if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
        let d = dir(cg, "pids", "linux.resources.pids.limit")?;
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        write("linux.resources.pids.limit", &d.join("pids.max"), &v)?;
    }
    if let Some(b) = r.block_io() {
        blkio(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        let d = dir(cg, "hugetlb", "linux.resources.hugepageLimits")?;
        for (i, l) in h.iter().enumerate() {
            let f = d.join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
            write(
                &format!("linux.resources.hugepageLimits[{i}]"),
                &f,
                &l.limit().to_string(),
            )?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let d = dir(cg, "net_cls", "linux.resources.network.classID")?;
            write(
                "linux.resources.network.classID",
                &d.join("net_cls.classid"),
                &id.to_string(),
            )?;
        }
        if let Some(prios) = n.priorities() {
            let d = dir(cg, "net_prio", "linux.resources.network.priorities")?;
            for p in prios {
                write(
                    "linux.resources.network.priorities",
                    &d.join("net_prio.ifpriomap"),
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    if let Some(rdma) = r.rdma() {
        let d = dir(cg, "rdma", "linux.resources.rdma")?;
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
        let d = dir(cg, "devices", "linux.resources.devices")?;
        let (allow, deny) = (d.join("devices.allow"), d.join("devices.deny"));
        write("linux.resources.devices", &deny, "a")?;
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("linux.resources.devices[{i}]");
            write(
                &field,
                if rule.allow { &allow } else { &deny },
                &rule.v1_line(),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> String {
    let v = |o: Option<u32>| o.map_or_else(|| "max".to_string(), |n| n.to_string());
    format!("{dev} hca_handle={} hca_object={}", v(handles), v(objects))
}

fn limit_value(v: i64) -> String {
    if v < 0 {
        "-1".to_string()
    } else {
        v.to_string()
    }
}

fn memory(cg: &Cgroup, m: &LinuxMemory) -> Result<(), Error> {
    let d = dir(cg, "memory", "linux.resources.memory")?;
    let limit_f = d.join("memory.limit_in_bytes");
    let swap_f = d.join("memory.memsw.limit_in_bytes");
    let limit = m.limit().filter(|&l| l != 0);
    let swap = m.swap().filter(|&s| s != 0);
    if swap.is_some() && !fsio::exists(&swap_f) {
        return Err(Error::unsupported(
            "linux.resources.memory.swap",
            &swap_f,
            "swap accounting is not enabled on this kernel",
        ));
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // memsw must stay >= limit at every step: raise memsw first when growing.
            let cur_memsw = fsio::read_u64(&swap_f)?.unwrap_or(u64::MAX);
            let grow = l < 0 || (l as u64) > cur_memsw;
            let wl = || write("linux.resources.memory.limit", &limit_f, &limit_value(l));
            let ws = || write("linux.resources.memory.swap", &swap_f, &limit_value(s));
            if grow {
                ws()?;
                wl()?;
            } else {
                wl()?;
                ws()?;
            }
        }
        (Some(l), None) => write("linux.resources.memory.limit", &limit_f, &limit_value(l))?,
        (None, Some(s)) => write("linux.resources.memory.swap", &swap_f, &limit_value(s))?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(
            "linux.resources.memory.reservation",
            &d.join("memory.soft_limit_in_bytes"),
            &limit_value(r),
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::unsupported(
                "linux.resources.memory.swappiness",
                d.join("memory.swappiness"),
                format!("{s} is above 100"),
            ));
        }
        write(
            "linux.resources.memory.swappiness",
            &d.join("memory.swappiness"),
            &s.to_string(),
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(
            "linux.resources.memory.disableOOMKiller",
            &d.join("memory.oom_control"),
            "1",
        )?;
    }
    Ok(())
}

fn cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<(), Error> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            "linux.resources.cpu.realtimeRuntime",
            "cpu.rt_runtime_us",
            "real-time CPU scheduling limits are not supported",
        ));
    }
    let wants_cpu = c.shares().is_some_and(|s| s != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.burst().is_some()
        || c.idle().is_some();
    if wants_cpu {
        let d = dir(cg, "cpu", "linux.resources.cpu")?;
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            write(
                "linux.resources.cpu.shares",
                &d.join("cpu.shares"),
                &s.to_string(),
            )?;
        }
        if let Some(p) = c.period().filter(|&p| p != 0) {
            write(
                "linux.resources.cpu.period",
                &d.join("cpu.cfs_period_us"),
                &p.to_string(),
            )?;
        }
        if let Some(q) = c.quota().filter(|&q| q != 0) {
            write(
                "linux.resources.cpu.quota",
                &d.join("cpu.cfs_quota_us"),
                &limit_value(q),
            )?;
        }
        if let Some(b) = c.burst() {
            write(
                "linux.resources.cpu.burst",
                &d.join("cpu.cfs_burst_us"),
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
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let d = dir(cg, "cpuset", "linux.resources.cpu.cpus")?;
        if let Some(v) = cpus {
            write("linux.resources.cpu.cpus", &d.join("cpuset.cpus"), v)?;
        }
        if let Some(v) = mems {
            write("linux.resources.cpu.mems", &d.join("cpuset.mems"), v)?;
        }
    }
    Ok(())
}

fn throttle(
    d: &Path,
    field: &str,
    file: &str,
    list: &Option<Vec<LinuxThrottleDevice>>,
) -> Result<(), Error> {
    let f: PathBuf = d.join(file);
    for (i, t) in list.iter().flatten().enumerate() {
        write(
            &format!("{field}[{i}]"),
            &f,
            &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
        )?;
    }
    Ok(())
}

fn blkio(cg: &Cgroup, b: &LinuxBlockIo) -> Result<(), Error> {
    let d = dir(cg, "blkio", "linux.resources.blockIO")?;
    // blkio.weight (CFQ) is gone on modern kernels; BFQ exposes blkio.bfq.weight.
    let weight_file = |base: &str| {
        let plain = d.join(format!("blkio.{base}"));
        if fsio::exists(&plain) {
            plain
        } else {
            d.join(format!("blkio.bfq.{base}"))
        }
    };
    if let Some(w) = b.weight() {
        write(
            "linux.resources.blockIO.weight",
            &weight_file("weight"),
            &w.to_string(),
        )?;
    }
    if let Some(w) = b.leaf_weight() {
        write(
            "linux.resources.blockIO.leafWeight",
            &d.join("blkio.leaf_weight"),
            &w.to_string(),
        )?;
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        if let Some(w) = wd.weight() {
            write(
                &field,
                &weight_file("weight_device"),
                &format!("{}:{} {}", wd.major(), wd.minor(), w),
            )?;
        }
        if let Some(w) = wd.leaf_weight() {
            write(
                &field,
                &d.join("blkio.leaf_weight_device"),
                &format!("{}:{} {}", wd.major(), wd.minor(), w),
            )?;
        }
    }
    let base = "linux.resources.blockIO";
    throttle(
        d,
        &format!("{base}.throttleReadBpsDevice"),
        "blkio.throttle.read_bps_device",
        b.throttle_read_bps_device(),
    )?;
    throttle(
        d,
        &format!("{base}.throttleWriteBpsDevice"),
        "blkio.throttle.write_bps_device",
        b.throttle_write_bps_device(),
    )?;
    throttle(
        d,
        &format!("{base}.throttleReadIOPSDevice"),
        "blkio.throttle.read_iops_device",
        b.throttle_read_iops_device(),
    )?;
    throttle(
        d,
        &format!("{base}.throttleWriteIOPSDevice"),
        "blkio.throttle.write_iops_device",
        b.throttle_write_iops_device(),
    )
}
