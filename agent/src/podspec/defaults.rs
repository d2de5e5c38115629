//! containerd's defaults for a CRI container: the base mounts (/proc, /dev, /dev/pts,
//! /dev/mqueue, /sys, /sys/fs/cgroup, /dev/shm; no /run), the masked and read-only paths, the
//! device cgroup allow list runc grants every container, and the host devices a privileged
//! container gets.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount};

/// containerd's masked paths (`pkg/oci/spec.go`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// containerd's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub fn masked_paths() -> Vec<String> {
    MASKED_PATHS.iter().map(|s| s.to_string()).collect()
}

pub fn readonly_paths() -> Vec<String> {
    READONLY_PATHS.iter().map(|s| s.to_string()).collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// A recursive, private bind mount of `src` at `dest`.
pub fn bind_mount(dest: &str, src: &Path, read_only: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some("bind".to_string()));
    m.set_source(Some(src.to_path_buf()));
    let rw = if read_only { "ro" } else { "rw" };
    m.set_options(Some(vec!["rbind".into(), "rprivate".into(), rw.into()]));
    m
}

/// The base mounts of every container. `/sys` and `/sys/fs/cgroup` are writable only when
/// privileged; `/dev/shm` is the pod's shared tmpfs when given, else a private one.
pub fn mounts(privileged: bool, shm: Option<&Path>) -> Vec<Mount> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    let mut m = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        ),
    ];
    m.push(match shm {
        Some(p) => bind_mount("/dev/shm", p, false),
        None => mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    });
    m
}

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Deny everything, then allow what runc allows every container: mknod of any device, the
/// standard character devices, ptys and /dev/net/tun.
pub fn device_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
        rule(true, C, Some(1), Some(3), "rwm"),
        rule(true, C, Some(1), Some(5), "rwm"),
        rule(true, C, Some(1), Some(7), "rwm"),
        rule(true, C, Some(1), Some(8), "rwm"),
        rule(true, C, Some(1), Some(9), "rwm"),
        rule(true, C, Some(5), Some(0), "rwm"),
        rule(true, C, Some(5), Some(1), "rwm"),
        rule(true, C, Some(5), Some(2), "rwm"),
        rule(true, C, Some(136), None, "rwm"),
        rule(true, C, Some(10), Some(200), "rwm"),
    ]
}

/// A privileged container may use every device.
pub fn allow_all_devices() -> Vec<LinuxDeviceCgroup> {
    vec![rule(true, LinuxDeviceType::A, None, None, "rwm")]
}

/// Directories of /dev that containerd's `HostDevices` skips.
const SKIPPED_DEV_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// The character and block devices under `dev` (recursively, as containerd's `HostDevices`),
/// for a privileged container. Unreadable entries are skipped.
pub fn host_devices(dev: &Path) -> Vec<LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![dev.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !SKIPPED_DEV_DIRS.iter().any(|s| name == *s) {
                    stack.push(p);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            if p == dev.join("console") {
                continue;
            }
            let rdev = md.rdev();
            let mut d = LinuxDevice::default();
            let rel = p.strip_prefix(dev).unwrap_or(&p);
            d.set_path(Path::new("/dev").join(rel));
            d.set_typ(typ);
            d.set_major(i64::from(nix::sys::stat::major(rdev) as u32));
            d.set_minor(i64::from(nix::sys::stat::minor(rdev) as u32));
            d.set_file_mode(Some(md.mode() & 0o7777));
            d.set_uid(Some(md.uid()));
            d.set_gid(Some(md.gid()));
            out.push(d);
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}
