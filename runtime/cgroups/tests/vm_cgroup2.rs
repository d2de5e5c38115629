//! Proves the cgroup v2 code (controllers, eBPF device filter, cgroup.freeze) on a real kernel:
//! boots Debian's stock kernel under qemu (TCG) with tests/vm/run-vm.sh and runs the `cgcheck`
//! binary of this crate inside it. Needs root, qemu-system-x86, cpio, busybox-static, kmod and
//! apt access to linux-image-amd64 (downloaded once into the VM cache).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn vm_cgroup2() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: vm_cgroup2 needs root (apt-get download of the kernel, qemu)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/vm/run-vm.sh");
    let payload = root.join("tests/vm/payloads/cgroup2.sh");
    let t = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .arg(&payload)
        .arg(env!("CARGO_BIN_EXE_cgcheck"))
        .env("VM_MODULES", "brd")
        .output()
        .expect("running tests/vm/run-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    eprintln!("vm_cgroup2: VM run took {:?}", t.elapsed());
    assert!(out.status.success(), "VM checks failed: {}", out.status);
    for check in [
        "memory.max set and OOM kill counted",
        "cpu.max and cpu.weight",
        "pids.max enforced",
        "freeze and thaw",
        "device filter (eBPF) denies and allows /dev/null",
        "io.max and io.weight",
        "delete removes everything",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("PASS: {check}"))),
            "no PASS line for {check:?}"
        );
    }
    assert!(!stdout.contains("FAIL"), "a check failed");
}
