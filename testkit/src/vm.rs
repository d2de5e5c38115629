//! The qemu VM runner the cgroup v2 tests share: runs tests/vm/run-vm.sh (Debian's stock kernel
//! under qemu TCG with a throw-away initramfs) with a payload script and binaries, and checks
//! its PASS/FAIL lines. One copy for noderun, noderun-cgroups and nodelet's vm_cgroup2 tests.

pub use crate::require_root;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One boot of tests/vm/run-vm.sh.
pub struct Vm {
    payload: PathBuf,
    binaries: Vec<PathBuf>,
    env: Vec<(String, OsString)>,
    files: Vec<String>,
}

/// What a boot printed.
pub struct VmOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Vm {
    /// A VM that runs tests/vm/payloads/`payload` (a name relative to that directory).
    pub fn new(payload: &str) -> Self {
        Vm {
            payload: crate::workspace_root()
                .join("tests/vm/payloads")
                .join(payload),
            binaries: vec![],
            env: vec![],
            files: vec![],
        }
    }

    /// Copies `path` (and the libraries it links) into the VM's /bin.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binaries.push(path.into());
        self
    }

    /// Sets one of run-vm.sh's knobs (`VM_MODULES`, `VM_MEM`, `VM_SWITCH_ROOT`, ...).
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Copies the host file `src` to `dest` (absolute) in the VM.
    pub fn file(mut self, src: &Path, dest: &str) -> Self {
        self.files.push(format!("{}:{dest}", src.display()));
        self
    }

    /// Boots the VM and waits for it to power off. Panics if run-vm.sh cannot be started.
    pub fn run(self) -> VmOutput {
        let script = crate::workspace_root().join("tests/vm/run-vm.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg(&self.payload).args(&self.binaries);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if !self.files.is_empty() {
            cmd.env("VM_FILES", self.files.join(" "));
        }
        let t = Instant::now();
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let vm = VmOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: t.elapsed(),
        };
        println!("{}", vm.stdout);
        eprintln!("{}", vm.stderr);
        eprintln!("VM run took {:?}", vm.elapsed);
        vm
    }
}

impl VmOutput {
    /// Asserts the boot succeeded, printed `PASS: <check>` for every one of `checks` and no
    /// FAIL line.
    pub fn assert_passed(&self, checks: &[&str]) {
        assert!(self.success, "VM checks failed (run-vm.sh exited non-zero)");
        for check in checks {
            assert!(
                self.stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("PASS: {check}"))),
                "no PASS line for {check:?}"
            );
        }
        assert!(!self.stdout.contains("FAIL"), "a check failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assert_passed_needs_every_check() {
        let out = VmOutput {
            success: true,
            stdout: "PASS: a one\nPASS: b\n".into(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        out.assert_passed(&["a one", "b"]);
        let missing = std::panic::catch_unwind(|| out.assert_passed(&["c"]));
        assert!(missing.is_err());
        let failed = VmOutput {
            stdout: "PASS: a one\nFAIL: b: no\n".into(),
            ..out
        };
        assert!(std::panic::catch_unwind(|| failed.assert_passed(&["a one"])).is_err());
    }

    #[test]
    fn payload_paths_are_in_the_repository() {
        let vm = Vm::new("cgroup2.sh");
        assert!(vm.payload.is_file(), "{}", vm.payload.display());
    }
}
