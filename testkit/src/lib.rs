//! Helpers the workspace's tests share (a dev-dependency only; nothing shipped uses it):
//! container root filesystems from the host's busybox-static, building the binaries the way
//! we ship them, reading a process's resident set, and (`vm`) booting a qemu VM with a payload.

pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// A user (and a group of the same name and id) for [`busybox_rootfs`]'s /etc/passwd and
/// /etc/group, besides root.
pub struct User<'a> {
    pub name: &'a str,
    pub id: u32,
    pub group: &'a str,
}

/// Makes a busybox root filesystem at `dir`: bin/busybox with a symlink per applet, the
/// mount points a container needs (proc, sys, dev, tmp), /root, and /etc/passwd and /etc/group
/// with root and `users`. Panics on failure (tests only).
pub fn busybox_rootfs(dir: &Path, users: &[User]) {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(d))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(d).display()));
    }
    std::fs::copy(BUSYBOX, dir.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("{BUSYBOX} (apt-get install busybox-static): {e}"));
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
    let mut group = String::from("root:x:0:\n");
    for u in users {
        passwd += &format!("{0}:x:{1}:{1}:{0}:/:/bin/sh\n", u.name, u.id);
        group += &format!("{}:x:{}:\n", u.group, u.id);
    }
    std::fs::write(dir.join("etc/passwd"), passwd).expect("write etc/passwd");
    std::fs::write(dir.join("etc/group"), group).expect("write etc/group");
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the shipped (static) binaries of `packages` with scripts/build-static.sh, the way
/// scripts/build-dist.sh does, and returns their paths in the same order. Uses the cargo
/// that runs the tests (`$CARGO`), not whichever is first on PATH. Panics on failure.
pub fn build_static(packages: &[&str]) -> Vec<PathBuf> {
    let root = workspace_root();
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/build-static.sh")
        .args(packages)
        .current_dir(&root)
        .stderr(Stdio::inherit());
    if let Some(dir) = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|c| c.parent().map(Path::to_path_buf))
    {
        let mut paths = vec![dir];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        cmd.env(
            "PATH",
            std::env::join_paths(paths).expect("PATH entries without ':'"),
        );
    }
    let out = cmd.output().expect("run scripts/build-static.sh");
    assert!(out.status.success(), "build-static.sh: {:?}", out.status);
    let built: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| root.join(l))
        .collect();
    assert_eq!(
        built.len(),
        packages.len(),
        "build-static.sh printed {built:?}"
    );
    for p in &built {
        assert!(p.is_file(), "{} not built", p.display());
    }
    built
}

/// The resident set of process `pid` in KiB (`Rss` of /proc/PID/smaps_rollup: every page
/// mapped, shared ones included). Panics if the process is gone.
pub fn rss_kib(pid: i32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/smaps_rollup: {e}"));
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Rss:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Rss in smaps_rollup: {rollup}"))
}

/// Fails the calling test unless it runs as root: a test that needs root never passes by
/// returning early. `why` says what needs it.
pub fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test needs root ({why}); run it as root (sudo -E cargo test ...) \
         or skip it with --skip; euid is {euid}"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn rootfs_has_applets_and_users() {
        assert!(
            std::path::Path::new(super::BUSYBOX).exists(),
            "{} missing: apt-get install busybox-static",
            super::BUSYBOX
        );
        let t = std::env::temp_dir().join(format!("testkit-rootfs-{}", std::process::id()));
        let users = [super::User {
            name: "app",
            id: 1000,
            group: "app",
        }];
        super::busybox_rootfs(&t, &users);
        assert!(t.join("bin/sh").exists() && t.join("bin/sleep").exists());
        let passwd = std::fs::read_to_string(t.join("etc/passwd")).unwrap();
        assert_eq!(
            passwd,
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/:/bin/sh\n"
        );
        let group = std::fs::read_to_string(t.join("etc/group")).unwrap();
        assert_eq!(group, "root:x:0:\napp:x:1000:\n");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn own_rss_is_read() {
        let kib = super::rss_kib(std::process::id() as i32);
        assert!(kib > 100, "{kib} KiB");
    }
}
