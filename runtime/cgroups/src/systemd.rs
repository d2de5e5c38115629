//! The systemd cgroup driver's pure part: a `linux.cgroupsPath` of the form
//! `slice:prefix:name` → the unit (`prefix-name.scope`, or `name` when it is a `.slice`) in its
//! slice and the cgroup directory systemd gives it; OCI resources → the properties of the
//! transient unit that systemd knows (runc's mapping). Talking to systemd is `systemd_dbus`
//! (feature `systemd`); whatever has no property is written to the cgroup files afterwards.

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::Error;

const FIELD: &str = "linux.cgroupsPath";

/// The slice of a path whose slice part is empty (runc's default).
pub const DEFAULT_SLICE: &str = "system.slice";

/// A systemd unit holding a cgroup: a scope (a container) or a slice (a pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `prefix-name.scope` or `name.slice`.
    pub name: String,
    /// The slice it is placed in (`Slice=` of a scope, the parent of a slice).
    pub slice: String,
}

impl Unit {
    /// Parses `slice:prefix:name` as runc does (empty slice → `system.slice`; a name ending in
    /// `.slice` is a slice and the prefix is ignored); an absent or empty path is
    /// `system.slice:<default_prefix>:<id>`, an empty prefix is `default_prefix` and an empty
    /// name the container id.
    pub fn parse(
        cgroups_path: Option<&str>,
        id: &str,
        default_prefix: &str,
    ) -> Result<Unit, Error> {
        let path = cgroups_path.unwrap_or_default();
        let (slice, prefix, name) = if path.is_empty() {
            ("", "", "")
        } else {
            let parts: Vec<&str> = path.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(Error::unsupported(
                    FIELD,
                    path,
                    "the systemd cgroup driver (--systemd-cgroup) expects \"slice:prefix:name\"",
                ));
            };
            (slice, prefix, name)
        };
        let slice = if slice.is_empty() {
            DEFAULT_SLICE
        } else {
            slice
        };
        expand_slice(slice).map_err(|why| Error::unsupported(FIELD, path, why))?;
        let name = if name.is_empty() { id } else { name };
        let prefix = if prefix.is_empty() {
            default_prefix
        } else {
            prefix
        };
        let unit = if name.ends_with(".slice") {
            expand_slice(name).map_err(|why| Error::unsupported(FIELD, path, why))?;
            name.to_string()
        } else {
            format!("{prefix}-{name}.scope")
        };
        check_unit_name(&unit).map_err(|why| Error::unsupported(FIELD, path, why))?;
        Ok(Unit {
            name: unit,
            slice: slice.to_string(),
        })
    }

    /// A slice unit given by its name alone (`a-b-c.slice`), placed in its parent slice
    /// (`a-b.slice`; `-.slice` for a top-level one).
    pub fn slice(name: &str) -> Result<Unit, Error> {
        expand_slice(name).map_err(|why| Error::unsupported(FIELD, name, why))?;
        Ok(Unit {
            name: name.to_string(),
            slice: parent_slice(name),
        })
    }

    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }

    /// The unit's cgroup below the hierarchy root: `/<expanded slice>/<unit>` (for a slice
    /// unit, its own expansion).
    pub fn cgroup_path(&self) -> String {
        if self.is_slice() {
            expand_slice(&self.name).unwrap_or_default()
        } else {
            format!(
                "{}/{}",
                expand_slice(&self.slice).unwrap_or_default(),
                self.name
            )
        }
    }
}

/// The path of a slice as systemd lays it out: `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`,
/// `-.slice` → `` (the root). Errors in runc's words.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(format!(
            "invalid slice name {slice:?}: it must end in \".slice\""
        ));
    };
    if slice.contains('/') {
        return Err(format!(
            "invalid slice name {slice:?}: it must not contain '/'"
        ));
    }
    if stem == "-" {
        return Ok(String::new());
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(format!(
                "invalid slice name {slice:?}: empty component between dashes"
            ));
        }
        out.push('/');
        out.push_str(&prefix);
        out.push_str(part);
        out.push_str(".slice");
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(out)
}

/// The parent of a slice: `a-b.slice` → `a.slice`, `a.slice` → `-.slice`.
pub fn parent_slice(slice: &str) -> String {
    match slice
        .strip_suffix(".slice")
        .and_then(|s| s.rsplit_once('-'))
    {
        Some((parent, _)) if !parent.is_empty() => format!("{parent}.slice"),
        _ => "-.slice".to_string(),
    }
}

/// systemd's unit name rules: at most 255 bytes of `[A-Za-z0-9:_.\-\\]`, a non-empty stem.
fn check_unit_name(unit: &str) -> Result<(), String> {
    let stem_ok = unit
        .rsplit_once('.')
        .is_some_and(|(stem, _)| !stem.is_empty());
    if unit.len() > 255
        || !stem_ok
        || !unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b))
    {
        return Err(format!(
            "{unit:?} is not a valid systemd unit name (at most 255 of A-Z a-z 0-9 : _ . - \\)"
        ));
    }
    Ok(())
}

/// The cgroupsPath of a container in a pod's cgroup `parent`: for a systemd pod slice
/// (`parent` ends in `.slice`) `parent:prefix:id`, the unit `prefix-id.scope` in it;
/// otherwise the cgroupfs path `parent/id` (just `id` without a parent).
pub fn child_path(parent: &str, prefix: &str, id: &str) -> String {
    let parent = parent.trim_end_matches('/');
    if parent.ends_with(".slice") && !parent.contains('/') {
        format!("{parent}:{prefix}:{id}")
    } else if parent.is_empty() {
        id.to_string()
    } else {
        format!("{parent}/{id}")
    }
}

/// Whether a cgroupsPath is in the systemd driver's form (`slice:prefix:name`).
pub fn is_systemd_path(path: &str) -> bool {
    !path.contains('/') && path.matches(':').count() == 2
}

/// A property value of a transient unit (the D-Bus types systemd expects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prop {
    Bool(bool),
    U64(u64),
    Str(String),
    /// `as`: unit names of a dependency (`Wants=`).
    Strs(Vec<String>),
    /// `ay`: a CPU or NUMA node bit mask.
    Bytes(Vec<u8>),
    /// `au`: the PIDs of a scope.
    U32s(Vec<u32>),
}

/// Properties of a new transient unit: what it is (Description, Slice/Wants, Delegate for a
/// scope, PIDs), accounting on, and the limits systemd knows ([`resource_properties`]).
pub fn unit_properties(
    unit: &Unit,
    pid: Option<u32>,
    description: &str,
    r: &LinuxResources,
    unified: bool,
) -> Vec<(&'static str, Prop)> {
    let mut p = vec![("Description", Prop::Str(description.to_string()))];
    if unit.is_slice() {
        // A slice's parent is implied by its name; runc adds Wants= on it.
        p.push(("Wants", Prop::Strs(vec![unit.slice.clone()])));
    } else {
        p.push(("Slice", Prop::Str(unit.slice.clone())));
        p.push(("Delegate", Prop::Bool(true)));
    }
    if let Some(pid) = pid {
        p.push(("PIDs", Prop::U32s(vec![pid])));
    }
    p.push(("DefaultDependencies", Prop::Bool(false)));
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "TasksAccounting",
        "IOAccounting",
    ] {
        if unified || a != "IOAccounting" {
            p.push((a, Prop::Bool(true)));
        }
    }
    p.extend(resource_properties(r, unified));
    p
}

/// OCI resources → unit properties, as runc maps them: memory limit (`MemoryMax`, v1
/// `MemoryLimit`), reservation (`MemoryLow`), swap (`MemorySwapMax`), CPU shares (`CPUWeight`,
/// v1 `CPUShares`), quota (`CPUQuotaPerSecUSec`, rounded up to 10 ms as systemd stores it;
/// `CPUQuotaPeriodUSec`), cpuset (`AllowedCPUs`, `AllowedMemoryNodes`), pids (`TasksMax`),
/// block I/O weight (`IOWeight`). Everything else (devices, hugetlb, unified keys...) goes
/// only to the cgroup files.
pub fn resource_properties(r: &LinuxResources, unified: bool) -> Vec<(&'static str, Prop)> {
    let mut p = Vec::new();
    if let Some(m) = r.memory() {
        let limit = m.limit();
        match limit {
            Some(l) if l > 0 => {
                p.push((mem_max(unified), Prop::U64(l as u64)));
            }
            Some(-1) => p.push((mem_max(unified), Prop::U64(u64::MAX))),
            _ => {}
        }
        if let Some(res) = m.reservation().filter(|&v| v > 0)
            && unified
        {
            p.push(("MemoryLow", Prop::U64(res as u64)));
        }
        if let Some(swap) = m.swap()
            && unified
            && let Ok(Some(v)) = crate::convert::swap_to_v2(limit, swap)
        {
            let v = if v == "max" {
                u64::MAX
            } else {
                v.parse().unwrap_or(u64::MAX)
            };
            p.push(("MemorySwapMax", Prop::U64(v)));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|&s| s > 0) {
            if unified {
                p.push(("CPUWeight", Prop::U64(crate::shares_to_weight(s))));
            } else {
                p.push(("CPUShares", Prop::U64(s)));
            }
        }
        let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
        if period != 0 {
            p.push(("CPUQuotaPeriodUSec", Prop::U64(period)));
        }
        if quota != 0 || period != 0 {
            p.push((
                "CPUQuotaPerSecUSec",
                Prop::U64(quota_per_sec(quota, period)),
            ));
        }
        if unified {
            if let Some(mask) = c.cpus().as_deref().and_then(range_to_bits) {
                p.push(("AllowedCPUs", Prop::Bytes(mask)));
            }
            if let Some(mask) = c.mems().as_deref().and_then(range_to_bits) {
                p.push(("AllowedMemoryNodes", Prop::Bytes(mask)));
            }
        }
    }
    if let Some(limit) = r.pids().as_ref().map(|x| x.limit()) {
        match limit {
            l if l > 0 => p.push(("TasksMax", Prop::U64(l as u64))),
            -1 => p.push(("TasksMax", Prop::U64(u64::MAX))),
            _ => {}
        }
    }
    if unified && let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        p.push(("IOWeight", Prop::U64(crate::blkio_weight_to_io_weight(w))));
    }
    p
}

fn mem_max(unified: bool) -> &'static str {
    if unified { "MemoryMax" } else { "MemoryLimit" }
}

/// Annotation prefix of unit properties set by the caller (runc's
/// `org.systemd.property.<Name>`, e.g. `org.systemd.property.TimeoutStopUSec: "uint64 30000000"`).
pub const PROPERTY_ANNOTATION: &str = "org.systemd.property.";

/// The unit properties asked for in `annotations` (runc's `org.systemd.property.<Name>`),
/// values in the GVariant text forms engines use: `uint64 N`, `uint32 N`, `@t N` (all taken
/// as 64-bit unsigned, as systemd's time and limit properties are), `true`/`false`,
/// `'string'`. Anything else is an error naming the annotation.
pub fn annotation_properties<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<(String, Prop)>, Error> {
    let mut out = Vec::new();
    for (k, v) in annotations {
        let Some(name) = k.strip_prefix(PROPERTY_ANNOTATION) else {
            continue;
        };
        let field = format!("annotations.{k}");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::unsupported(field, v, "not a systemd property name"));
        }
        let v2 = v.trim();
        let num = ["uint64 ", "uint32 ", "@t ", "@u "]
            .iter()
            .find_map(|p| v2.strip_prefix(p))
            .map(|n| n.trim().parse::<u64>());
        let prop = match (num, v2) {
            (Some(Ok(n)), _) => Prop::U64(n),
            (None, "true") => Prop::Bool(true),
            (None, "false") => Prop::Bool(false),
            (None, s) if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') => {
                Prop::Str(s[1..s.len() - 1].to_string())
            }
            _ => {
                return Err(Error::unsupported(
                    field,
                    v,
                    "unsupported value: give \"uint64 N\", \"true\"/\"false\" or \"'string'\"",
                ));
            }
        };
        out.push((name.to_string(), prop));
    }
    Ok(out)
}

/// runc's CPUQuotaPerSecUSec: quota per second of wall time in µs, rounded up to a multiple
/// of 10 ms (systemd's unit); no positive quota → unlimited.
pub fn quota_per_sec(quota: i64, period: u64) -> u64 {
    if quota <= 0 {
        return u64::MAX;
    }
    let period = if period == 0 { 100_000 } else { period };
    let v = (quota as u64).saturating_mul(1_000_000) / period;
    v.div_ceil(10_000) * 10_000
}

/// A cpuset list (`0-3,5`) → systemd's bit mask (byte i holds CPUs 8i..8i+7, lowest bit
/// first). None for an empty or invalid list (the file write reports it).
pub fn range_to_bits(list: &str) -> Option<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    let mut set = |n: usize| {
        if bits.len() <= n / 8 {
            bits.resize(n / 8 + 1, 0);
        }
        bits[n / 8] |= 1 << (n % 8);
    };
    let mut any = false;
    for part in list.trim().split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if a > b || b > 8191 {
            return None;
        }
        for n in a..=b {
            set(n);
            any = true;
        }
    }
    any.then_some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    #[test]
    fn parse_paths_as_runc() {
        let u = |p: Option<&str>| Unit::parse(p, "abc", "noderun");
        assert_eq!(
            u(Some("system.slice:noderun:abc")).unwrap(),
            Unit {
                name: "noderun-abc.scope".into(),
                slice: "system.slice".into()
            }
        );
        // runc's defaults for empty parts.
        assert_eq!(u(Some("::")).unwrap().name, "noderun-abc.scope");
        assert_eq!(u(Some("::")).unwrap().slice, "system.slice");
        assert_eq!(u(None).unwrap().name, "noderun-abc.scope");
        assert_eq!(u(Some("")).unwrap().slice, "system.slice");
        assert_eq!(
            u(Some("kubepods-burstable-pod1.slice:cri-containerd:x1")).unwrap(),
            Unit {
                name: "cri-containerd-x1.scope".into(),
                slice: "kubepods-burstable-pod1.slice".into()
            }
        );
        // A name ending in .slice makes a slice; the prefix is ignored.
        let s = u(Some("kubepods.slice:x:kubepods-burstable.slice")).unwrap();
        assert!(s.is_slice());
        assert_eq!(s.name, "kubepods-burstable.slice");
        for bad in [
            "a:b",
            "a:b:c:d",
            "nodot:p:n",
            "a/b.slice:p:n",
            "a--b.slice:p:n",
            "system.slice:p:bad name",
        ] {
            let e = u(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }

    #[test]
    fn slices_expand_as_systemd_lays_them_out() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("kubepods-burstable-pod1.slice").unwrap(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "");
        assert!(expand_slice("-a.slice").is_err());
        assert!(expand_slice("a-.slice").is_err());
        assert!(expand_slice("a.scope").is_err());
        assert_eq!(parent_slice("a-b-c.slice"), "a-b.slice");
        assert_eq!(parent_slice("kubepods.slice"), "-.slice");
        let scope = Unit::parse(Some("a-b.slice:p:n"), "id", "x").unwrap();
        assert_eq!(scope.cgroup_path(), "/a.slice/a-b.slice/p-n.scope");
        let pod = Unit::slice("kubepods-besteffort-pod1_2.slice").unwrap();
        assert_eq!(pod.slice, "kubepods-besteffort.slice");
        assert_eq!(
            pod.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice"
        );
        assert_eq!(Unit::slice("kubepods.slice").unwrap().slice, "-.slice");
    }

    #[test]
    fn child_paths_by_driver() {
        assert_eq!(
            child_path("kubepods-pod1.slice", "nodelet", "c1"),
            "kubepods-pod1.slice:nodelet:c1"
        );
        assert_eq!(
            child_path("/nodelet/pod1/", "nodelet", "c1"),
            "/nodelet/pod1/c1"
        );
        assert_eq!(child_path("", "nodelet", "c1"), "c1");
        assert!(is_systemd_path("kubepods-pod1.slice:nodelet:c1"));
        assert!(!is_systemd_path("/a:b:c/d"));
    }

    #[test]
    fn properties_as_runc_maps_them() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(25_000i64)
                    .period(100_000u64)
                    .cpus("0-1,3")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
            .build()
            .unwrap();
        let unit = Unit::parse(Some("system.slice:noderun:c"), "c", "noderun").unwrap();
        let p = unit_properties(&unit, Some(42), "noderun container c", &r, true);
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("Slice"), Some(Prop::Str("system.slice".into())));
        assert_eq!(get("Delegate"), Some(Prop::Bool(true)));
        assert_eq!(get("PIDs"), Some(Prop::U32s(vec![42])));
        assert_eq!(get("MemoryMax"), Some(Prop::U64(64 << 20)));
        assert_eq!(get("CPUWeight"), Some(Prop::U64(20)));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(Prop::U64(250_000)));
        assert_eq!(get("CPUQuotaPeriodUSec"), Some(Prop::U64(100_000)));
        assert_eq!(get("AllowedCPUs"), Some(Prop::Bytes(vec![0b1011])));
        assert_eq!(get("TasksMax"), Some(Prop::U64(100)));
        // v1 names.
        let v1 = resource_properties(&r, false);
        assert!(v1.contains(&("MemoryLimit", Prop::U64(64 << 20))));
        assert!(v1.contains(&("CPUShares", Prop::U64(512))));
        // A slice has no Delegate, Slice or PIDs: it wants its parent.
        let pod = Unit::slice("kubepods-pod1.slice").unwrap();
        let p = unit_properties(&pod, None, "pod", &LinuxResources::default(), true);
        assert!(p.contains(&("Wants", Prop::Strs(vec!["kubepods.slice".into()]))));
        assert!(
            !p.iter()
                .any(|(n, _)| matches!(*n, "Delegate" | "PIDs" | "Slice"))
        );
    }

    #[test]
    fn annotations_as_runc_reads_them() {
        let a: std::collections::HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopUSec", "uint64 2000000"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.SendSIGKILL", "true"),
            ("io.kubernetes.cri.container-type", "container"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut p = annotation_properties(&a).unwrap();
        p.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            p,
            vec![
                (
                    "CollectMode".to_string(),
                    Prop::Str("inactive-or-failed".into())
                ),
                ("SendSIGKILL".to_string(), Prop::Bool(true)),
                ("TimeoutStopUSec".to_string(), Prop::U64(2_000_000)),
            ]
        );
        for (k, v) in [
            ("org.systemd.property.TimeoutStopUSec", "2s"),
            ("org.systemd.property.Bad-Name", "true"),
        ] {
            let a: std::collections::HashMap<String, String> =
                [(k.to_string(), v.to_string())].into_iter().collect();
            let e = annotation_properties(&a).unwrap_err().to_string();
            assert!(e.contains(&format!("annotations.{k}")), "{e}");
        }
    }

    #[test]
    fn quota_and_masks() {
        assert_eq!(quota_per_sec(-1, 100_000), u64::MAX);
        assert_eq!(quota_per_sec(50_000, 0), 500_000);
        // 1234 µs per 100 ms = 12340 µs/s → rounded up to 20 ms.
        assert_eq!(quota_per_sec(1234, 100_000), 20_000);
        assert_eq!(range_to_bits("0"), Some(vec![1]));
        assert_eq!(range_to_bits("8-9"), Some(vec![0, 3]));
        assert_eq!(range_to_bits(""), None);
        assert_eq!(range_to_bits("3-1"), None);
    }
}
