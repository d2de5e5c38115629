//! nodelet on a pure cgroup v2 kernel (this machine is v1 "hybrid"): boots Debian's stock
//! kernel under qemu with tests/vm/run-vm.sh and runs tests/vm/payloads/nodelet.sh: nodelet,
//! started alone in a cgroup as systemd's `Delegate=yes` would start it, moves itself into a
//! leaf, enables the controllers for its cgroup's children and runs a pod whose cgroups sit
//! beside that leaf with their memory and CPU limits; removing the manifest removes them.
//! Needs root, qemu-system-x86, cpio, busybox-static, kmod and apt access to linux-image-amd64.

use std::path::Path;
use std::process::Command;

use nodelet_testkit::vm::{Vm, require_root};

fn bin(name: &str) -> String {
    let p = Path::new(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .unwrap()
        .join(name);
    assert!(
        p.exists(),
        "{} missing: cargo build --workspace",
        p.display()
    );
    p.display().to_string()
}

#[test]
fn nodelet_on_cgroup_v2() {
    require_root("apt-get download of the kernel, qemu");
    let root = nodelet_testkit::workspace_root();
    let tmp = tempfile::Builder::new()
        .prefix("nodelet-vm-")
        .tempdir()
        .unwrap();
    let image = tmp.path().join("busybox.tar");
    let made = Command::new(root.join("scripts/busybox-image.sh"))
        .arg(&image)
        .arg("busybox:local")
        .status()
        .unwrap();
    assert!(made.success());
    Vm::new("nodelet.sh")
        .binary(bin("nodelet"))
        .binary(bin("nodectl"))
        .binary(bin("nodelet-shim"))
        .binary(bin("nodelet-pause"))
        .binary(bin("noderun"))
        .env("VM_SWITCH_ROOT", "1")
        .env("VM_MODULES", "overlay")
        .env("VM_MEM", "768")
        .env("VM_TIMEOUT", "300")
        .file(&image, "/cfg/busybox.tar")
        .run()
        .assert_passed(&[
            "nodelet moved itself into the leaf",
            "/svc hands memory and pids to its children",
            "pod Running",
            "pod cgroup beside the agent's leaf",
            "container memory.max 33554432 read inside",
            "container cpu.max 20000 100000",
            "manifest removed: pod cgroups and state gone",
            "only the agent's leaf is left",
        ]);
}
