//! Proves the cgroup v2 code (controllers, eBPF device filter, cgroup.freeze) on a real kernel:
//! boots Debian's stock kernel under qemu (TCG) with tests/vm/run-vm.sh and runs the `cgcheck`
//! binary of this crate inside it. Needs root, qemu-system-x86, cpio, busybox-static, kmod and
//! apt access to linux-image-amd64 (downloaded once into the VM cache).

use nodelet_testkit::vm::{Vm, require_root};

#[test]
fn vm_cgroup2() {
    require_root("apt-get download of the kernel, qemu");
    Vm::new("cgroup2.sh")
        .binary(env!("CARGO_BIN_EXE_cgcheck"))
        .env("VM_MODULES", "brd")
        .run()
        .assert_passed(&[
            "memory.max set and OOM kill counted",
            "cpu.max and cpu.weight",
            "pids.max enforced",
            "freeze and thaw",
            "device filter (eBPF) denies and allows /dev/null",
            "io.max and io.weight",
            "delete removes everything",
        ]);
}
