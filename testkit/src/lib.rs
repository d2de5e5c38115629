//! Helpers the workspace's tests share (a dev-dependency only; nothing shipped uses it):
//! building the binaries the way we ship them, and reading a process's resident set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

#[cfg(test)]
mod tests {
    #[test]
    fn own_rss_is_read() {
        let kib = super::rss_kib(std::process::id() as i32);
        assert!(kib > 100, "{kib} KiB");
    }
}
