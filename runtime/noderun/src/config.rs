//! Loading and validating a bundle's `config.json`: everything that can be checked before a
//! process is forked is checked here, and every failure names the file, the JSON field path and
//! the reason. Nothing here touches the system beyond reading files.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result, config_err};

/// Oldest and newest runtime-spec versions we accept (1.0.0 through 1.3.x).
pub const OCI_VERSION_MIN: (u64, u64, u64) = (1, 0, 0);
pub const OCI_VERSION_MAX_MINOR: (u64, u64) = (1, 3);
/// The version we report in `state` and `features`.
pub const OCI_VERSION: &str = "1.3.0";

/// A validated bundle: the parsed spec plus absolute paths.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub config_file: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// Settings that are accepted but not applied (runc warns about the same ones); the caller
    /// prints them.
    pub warnings: Vec<String>,
}

/// The most noderun reads of a file it reads whole (config.json, state.json, `--process`):
/// real ones are kilobytes, and a symlink to /dev/zero must not grow the runtime.
pub const MAX_FILE_SIZE: u64 = 8 << 20;

/// Read a whole file, refusing one larger than [`MAX_FILE_SIZE`].
pub fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    // Sized like fs::read for a regular file (one allocation, one read); the cap holds for
    // anything else.
    let hint = f
        .metadata()
        .map(|m| m.len())
        .unwrap_or(0)
        .min(MAX_FILE_SIZE);
    let mut buf = Vec::with_capacity(hint as usize + 1);
    f.take(MAX_FILE_SIZE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {} MiB", MAX_FILE_SIZE >> 20),
        ));
    }
    Ok(buf)
}

impl Bundle {
    /// Read `<dir>/config.json` and validate it. `dir` is made absolute.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).map_err(|e| Error::Io {
            what: format!("bundle {}", dir.display()),
            source: e,
        })?;
        let config_file = dir.join("config.json");
        let bytes = read_capped(&config_file)
            .map_err(|e| config_err(&config_file, "(file)", format!("cannot read: {e}")))?;
        let spec = parse(&config_file, &bytes)?;
        let rootfs = validate(&config_file, &dir, &spec)?;
        let warnings = ignored_settings(&spec)
            .into_iter()
            .map(|(field, why)| format!("{}: {field}: {why}", config_file.display()))
            .collect();
        Ok(Bundle {
            dir,
            config_file,
            rootfs,
            spec,
            warnings,
        })
    }
}

/// Parse JSON into a Spec, reporting the JSON path of the first offending field.
pub fn parse(file: &Path, bytes: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "(document)".to_string()
        } else {
            path
        };
        config_err(file, field, e.into_inner().to_string())
    })
}

/// Parse "1.2.3" / "1.0.2-dev" into numbers.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

pub fn check_version(file: &Path, v: &str) -> Result<()> {
    let Some(parsed) = parse_version(v) else {
        return Err(config_err(
            file,
            "ociVersion",
            format!("{v:?} is not a version (want 1.0.0 through 1.3.x)"),
        ));
    };
    if parsed < OCI_VERSION_MIN || (parsed.0, parsed.1) > OCI_VERSION_MAX_MINOR {
        return Err(config_err(
            file,
            "ociVersion",
            format!("{v} is not supported (noderun accepts 1.0.0 through 1.3.x)"),
        ));
    }
    Ok(())
}

/// Lexically normalise an absolute container path; error if `..` would climb above `/`.
pub fn clean_container_path(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn escapes(p: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    false
}

/// Namespaced sysctls, as runc allows them, and the namespace each needs.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

fn validate(file: &Path, dir: &Path, spec: &Spec) -> Result<PathBuf> {
    check_version(file, spec.version())?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| config_err(file, "root", "missing (the container's root filesystem)"))?;
    if root.path().as_os_str().is_empty() {
        return Err(config_err(file, "root.path", "empty"));
    }
    let rootfs = dir.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(config_err(
                file,
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Err(e) => {
            return Err(config_err(
                file,
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| config_err(file, "process", "missing (noderun needs a process to run)"))?;
    validate_process(file, "process", process)?;
    if let Some(hostname) = spec.hostname()
        && hostname.len() > 64
    {
        return Err(config_err(file, "hostname", "longer than 64 bytes"));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let d = m.destination();
        if !d.is_absolute() {
            return Err(config_err(
                file,
                format!("mounts[{i}].destination"),
                format!("{} is not an absolute path", d.display()),
            ));
        }
        if escapes(d) {
            return Err(config_err(
                file,
                format!("mounts[{i}].destination"),
                format!("{} escapes the container's root through '..'", d.display()),
            ));
        }
        crate::mounts::MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
            .map_err(|reason| config_err(file, format!("mounts[{i}].options"), reason))?;
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(config_err(
                file,
                format!("mounts[{i}].uidMappings"),
                "id-mapped mounts are not supported by noderun",
            ));
        }
    }
    for (kind, hooks) in crate::hooks::all_kinds(spec) {
        for (i, h) in hooks.iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(config_err(
                    file,
                    format!("hooks.{kind}[{i}].path"),
                    format!("{} is not an absolute path", h.path().display()),
                ));
            }
            if let Some(t) = h.timeout()
                && t <= 0
            {
                return Err(config_err(
                    file,
                    format!("hooks.{kind}[{i}].timeout"),
                    format!("{t} must be a positive number of seconds"),
                ));
            }
        }
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| config_err(file, "linux", "missing (noderun runs Linux containers)"))?;
    let mut seen = HashSet::new();
    let mut has = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(config_err(
                file,
                format!("linux.namespaces[{i}].type"),
                format!("{} appears more than once", ns.typ()),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(config_err(
                    file,
                    format!("linux.namespaces[{i}].path"),
                    format!("{} is not an absolute path", p.display()),
                ));
            }
            if let Err(e) = std::fs::metadata(p) {
                return Err(config_err(
                    file,
                    format!("linux.namespaces[{i}].path"),
                    format!("{}: {e}", p.display()),
                ));
            }
        } else {
            has.insert(ns.typ());
        }
    }
    let has_userns = seen.contains(&LinuxNamespaceType::User);
    let maps = linux.uid_mappings().iter().flatten().count()
        + linux.gid_mappings().iter().flatten().count();
    if has.contains(&LinuxNamespaceType::User) && maps == 0 {
        return Err(config_err(
            file,
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if !has_userns && maps > 0 {
        return Err(config_err(
            file,
            "linux.uidMappings",
            "id mappings need a user namespace in linux.namespaces",
        ));
    }
    if linux.time_offsets().is_some() && !has.contains(&LinuxNamespaceType::Time) {
        return Err(config_err(
            file,
            "linux.timeOffsets",
            "time offsets need a new time namespace in linux.namespaces",
        ));
    }
    for (k, _) in linux.time_offsets().iter().flatten() {
        if k != "monotonic" && k != "boottime" {
            return Err(config_err(
                file,
                format!("linux.timeOffsets.{k}"),
                "only monotonic and boottime clocks can be offset",
            ));
        }
    }
    for (k, _) in linux.sysctl().iter().flatten() {
        match sysctl_namespace(k) {
            None => {
                return Err(config_err(
                    file,
                    format!("linux.sysctl.{k}"),
                    "not a namespaced sysctl; it would change the host",
                ));
            }
            Some(need) if !seen.contains(&need) => {
                return Err(config_err(
                    file,
                    format!("linux.sysctl.{k}"),
                    format!("needs a {need} namespace of the container's own"),
                ));
            }
            Some(_) => {}
        }
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') || escapes(Path::new(p)) {
                return Err(config_err(
                    file,
                    format!("{field}[{i}]"),
                    format!("{p:?} must be an absolute path inside the container"),
                ));
            }
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() || escapes(d.path()) {
            return Err(config_err(
                file,
                format!("linux.devices[{i}].path"),
                format!(
                    "{} must be an absolute path inside the container",
                    d.path().display()
                ),
            ));
        }
        check_device_node(file, i, d)?;
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        check_without_mount_ns(file, spec)?;
    }
    for (i, h) in linux
        .resources()
        .as_ref()
        .and_then(|r| r.hugepage_limits().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let sizes = host_huge_page_sizes();
        if !sizes.iter().any(|s| s == h.page_size()) {
            let have = if sizes.is_empty() {
                "this host has no huge pages".to_string()
            } else {
                format!("this host has {}", sizes.join(", "))
            };
            return Err(config_err(
                file,
                format!("linux.resources.hugepageLimits[{i}].pageSize"),
                format!(
                    "{:?} is not a huge page size of this host ({have})",
                    h.page_size()
                ),
            ));
        }
    }
    if let Some(p) = linux.rootfs_propagation()
        && !p.is_empty()
        && crate::mounts::propagation_flag(p).is_none()
    {
        return Err(config_err(
            file,
            "linux.rootfsPropagation",
            format!(
                "{p:?} is not one of shared, slave, private, unbindable (optionally r-prefixed)"
            ),
        ));
    }
    if linux.intel_rdt().is_some() {
        return Err(config_err(
            file,
            "linux.intelRdt",
            "not supported by noderun",
        ));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(config_err(
            file,
            "linux.netDevices",
            "not supported by noderun",
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(config_err(
            file,
            "linux.memoryPolicy",
            "not supported by noderun",
        ));
    }
    if let Some(p) = linux.personality() {
        crate::process::personality_value(p)
            .ok_or_else(|| config_err(file, "linux.personality.domain", "unsupported domain"))?;
    }
    if let Some(seccomp) = linux.seccomp() {
        noderun_seccomp::compile(seccomp)
            .map_err(|e| config_err(file, "linux.seccomp", e.to_string()))?;
    }
    Ok(rootfs)
}

/// One `linux.devices` entry is a node to make: a block, character or FIFO type, and for
/// devices real numbers (they also become the node's device cgroup rule, where -1 would mean
/// every device).
fn check_device_node(file: &Path, i: usize, d: &oci_spec::runtime::LinuxDevice) -> Result<()> {
    use oci_spec::runtime::LinuxDeviceType as T;
    match d.typ() {
        T::A => Err(config_err(
            file,
            format!("linux.devices[{i}].type"),
            "\"a\" is not a node type (it belongs in linux.resources.devices rules)",
        )),
        T::P => Ok(()),
        T::B | T::C | T::U => {
            for (field, n) in [("major", d.major()), ("minor", d.minor())] {
                if !(0..=i64::from(u32::MAX)).contains(&n) {
                    return Err(config_err(
                        file,
                        format!("linux.devices[{i}].{field}"),
                        format!("{n} is not a device number"),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Without a mount namespace of its own the container shares the runtime's: what would change
/// mounts outside the container's root (or the root's own mount) is refused, as runc refuses
/// masked and read-only paths.
fn check_without_mount_ns(file: &Path, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let why = "needs a mount namespace of the container's own (add {\"type\": \"mount\"} to linux.namespaces)";
    for (field, set) in [
        (
            "linux.maskedPaths",
            linux
                .and_then(|l| l.masked_paths().as_ref())
                .is_some_and(|v| !v.is_empty()),
        ),
        (
            "linux.readonlyPaths",
            linux
                .and_then(|l| l.readonly_paths().as_ref())
                .is_some_and(|v| !v.is_empty()),
        ),
        (
            "linux.rootfsPropagation",
            linux
                .and_then(|l| l.rootfs_propagation().as_ref())
                .is_some_and(|p| !p.is_empty()),
        ),
        (
            "root.readonly",
            spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
        ),
    ] {
        if set {
            return Err(config_err(file, field, why));
        }
    }
    Ok(())
}

/// The huge page sizes of this host in the OCI/runc spelling ("2MB", "1GB", "64KB"), from
/// /sys/kernel/mm/hugepages/hugepages-<N>kB.
pub fn host_huge_page_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return vec![];
    };
    let mut kbs: Vec<u64> = rd
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    kbs.sort_unstable();
    kbs.into_iter().map(page_size_name).collect()
}

/// 2048 (kB) → "2MB", 1048576 → "1GB", 64 → "64KB" (runc's binary units).
pub fn page_size_name(kb: u64) -> String {
    let mut v = kb;
    for unit in ["KB", "MB", "GB", "TB"] {
        if v < 1024 || !v.is_multiple_of(1024) {
            return format!("{v}{unit}");
        }
        v /= 1024;
    }
    format!("{v}PB")
}

/// Settings the spec allows that noderun accepts without applying, with the reason (runc warns
/// about the same): kernel memory limits, deprecated by the kernel.
pub fn ignored_settings(spec: &Spec) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![];
    let mem = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref());
    if let Some(m) = mem {
        #[allow(deprecated)]
        let kernel = m.kernel();
        if kernel.is_some() {
            out.push((
                "linux.resources.memory.kernel",
                "ignored: kernel memory limits are deprecated by the kernel and not applied",
            ));
        }
        if m.kernel_tcp().is_some() {
            out.push((
                "linux.resources.memory.kernelTCP",
                "ignored: kernel memory limits are deprecated by the kernel and not applied",
            ));
        }
    }
    out
}

/// Checks shared by config.json's process and `exec --process`.
pub fn validate_process(
    file: &Path,
    field: &str,
    process: &oci_spec::runtime::Process,
) -> Result<()> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(config_err(
            file,
            format!("{field}.args"),
            "must name a program to run",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(config_err(
            file,
            format!("{field}.cwd"),
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    let mut types = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !types.insert(crate::process::rlimit_resource(r.typ())) {
            return Err(config_err(
                file,
                format!("{field}.rlimits[{i}].type"),
                format!("{:?} appears more than once", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(config_err(
                file,
                format!("{field}.rlimits[{i}]"),
                "soft limit is above the hard limit",
            ));
        }
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return Err(config_err(
                file,
                format!("{field}.env[{i}]"),
                format!("{e:?} is not KEY=value"),
            ));
        }
    }
    if process.scheduler().is_some() {
        return Err(config_err(
            file,
            format!("{field}.scheduler"),
            "not supported by noderun",
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(config_err(
            file,
            format!("{field}.execCPUAffinity"),
            "not supported by noderun",
        ));
    }
    if let Some(p) = process.apparmor_profile()
        && !p.is_empty()
        && !crate::process::apparmor_enabled()
    {
        return Err(config_err(
            file,
            format!("{field}.apparmorProfile"),
            "AppArmor is not enabled on this host",
        ));
    }
    if let Some(l) = process.selinux_label()
        && !l.is_empty()
        && crate::process::selinux_enabled()
    {
        return Err(config_err(
            file,
            format!("{field}.selinuxLabel"),
            "SELinux labels are not supported by noderun",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let f = Path::new("config.json");
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0", "1.3.9"] {
            assert!(check_version(f, ok).is_ok(), "{ok}");
        }
        for bad in ["0.9.0", "1.4.0", "2.0.0", "", "1.x", "1.0"] {
            assert!(check_version(f, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping_paths() {
        assert!(escapes(Path::new("/../etc")));
        assert!(escapes(Path::new("/a/../../etc")));
        assert!(!escapes(Path::new("/a/../etc")));
        assert_eq!(
            clean_container_path(Path::new("/a/./b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(clean_container_path(Path::new("/..")), None);
    }

    #[test]
    fn parse_error_names_field() {
        let bad =
            br#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let err = parse(Path::new("/b/config.json"), bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/b/config.json: linux.namespaces[1].type: unknown variant `bogus`"),
            "{err}"
        );
        let bad = br#"{"ociVersion":"1.0.0","process":{"user":{"uid":"root","gid":0},"cwd":"/"}}"#;
        let err = parse(Path::new("c"), bad).unwrap_err().to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn page_size_names() {
        assert_eq!(page_size_name(64), "64KB");
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(32768), "32MB");
        assert_eq!(page_size_name(1048576), "1GB");
        assert_eq!(page_size_name(1536), "1536KB");
    }

    #[test]
    fn kernel_memory_is_ignored_with_a_reason() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.0","linux":{"resources":{"memory":{"kernelTCP":1024}}}}"#,
        )
        .unwrap();
        let w = ignored_settings(&spec);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, "linux.resources.memory.kernelTCP");
    }

    #[test]
    fn sysctls() {
        assert_eq!(
            sysctl_namespace("net.ipv4.ip_forward"),
            Some(LinuxNamespaceType::Network)
        );
        assert_eq!(
            sysctl_namespace("fs.mqueue.msg_max"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(sysctl_namespace("vm.swappiness"), None);
    }
}
