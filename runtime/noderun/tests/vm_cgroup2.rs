//! `noderun run` on a pure cgroup v2 kernel: boots Debian's stock kernel under qemu (TCG) with
//! tests/vm/run-vm.sh, the `noderun` binary and busybox, and runs tests/vm/payloads/noderun.sh,
//! which builds a busybox bundle inside the VM and runs the configs made here (from
//! `noderun spec`): memory.max read back through a cgroup2 mount in a cgroup namespace and an
//! OOM kill (exit 137, memory.events oom_kill), cpu.max/cpu.weight, pids.max enforced, the eBPF
//! device filter, pause/resume via cgroup.freeze, and nothing left after delete.
//! Needs root, qemu-system-x86, cpio, busybox-static, kmod and apt access to linux-image-amd64.

use std::path::{Path, PathBuf};
use std::process::Command;

use nodelet_testkit::vm::{Vm, require_root};

use serde_json::{Value, json};

const MEM_MAX: u64 = 32 << 20;
const CPU_QUOTA: i64 = 20_000;
const CPU_PERIOD: u64 = 100_000;
const CPU_SHARES: u64 = 512;
const PIDS_MAX: i64 = 8;

/// `noderun spec` in `dir`, parsed.
fn base_spec(dir: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_noderun"))
        .arg("spec")
        .arg("--bundle")
        .arg(dir)
        .output()
        .expect("noderun spec");
    assert!(
        o.status.success(),
        "noderun spec: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

/// A config for container `id` running `sh -c script`, in cgroup "noderun-vm/<id>" (relative:
/// below the payload's own cgroup, the root), with a cgroup namespace and `resources`.
fn config(base: &Value, id: &str, script: &str, resources: Value) -> Value {
    let mut v = base.clone();
    v["process"]["args"] = json!(["sh", "-c", script]);
    v["process"]["terminal"] = json!(false);
    v["root"]["readonly"] = json!(false);
    let linux = &mut v["linux"];
    linux["cgroupsPath"] = json!(format!("noderun-vm/{id}"));
    let ns = linux["namespaces"]
        .as_array_mut()
        .expect("spec has linux.namespaces");
    if !ns.iter().any(|n| n["type"] == "cgroup") {
        ns.push(json!({"type": "cgroup"}));
    }
    let res = linux["resources"]
        .as_object_mut()
        .expect("spec has linux.resources");
    // Deny every device first, as `runc spec` does (noderun adds the default nodes after).
    res.insert("devices".into(), json!([{"allow": false, "access": "rwm"}]));
    for (k, val) in resources.as_object().unwrap() {
        res.insert(k.clone(), val.clone());
    }
    let mounts = v["mounts"].as_array().expect("spec has mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/sys/fs/cgroup" && m["type"] == "cgroup"),
        "noderun spec has no cgroup mount at /sys/fs/cgroup"
    );
    v
}

fn write_configs(dir: &Path) -> Vec<(PathBuf, String)> {
    let base = base_spec(dir);
    let mut files = vec![];
    let mut add = |name: &str, v: Value| {
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        files.push((p, format!("/cfg/{name}.json")));
    };
    add(
        "mem",
        config(
            &base,
            "mem",
            "echo MAX=$(cat /sys/fs/cgroup/memory.max); echo CGROUP=$(cat /proc/self/cgroup); \
             echo FS=$(awk '$2==\"/sys/fs/cgroup\" {print $3}' /proc/mounts); \
             a=0123456789abcdef; while :; do a=$a$a; done",
            json!({"memory": {"limit": MEM_MAX}}),
        ),
    );
    add(
        "cpu",
        config(
            &base,
            "cpu",
            "echo MAX=$(cat /sys/fs/cgroup/cpu.max); echo WEIGHT=$(cat /sys/fs/cgroup/cpu.weight); \
             end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done; \
             echo THROTTLED=$(sed -n 's/^nr_throttled //p' /sys/fs/cgroup/cpu.stat)",
            json!({"cpu": {"quota": CPU_QUOTA, "period": CPU_PERIOD, "shares": CPU_SHARES}}),
        ),
    );
    add(
        "pids",
        config(
            &base,
            "pids",
            "echo PMAX=$(cat /sys/fs/cgroup/pids.max); i=0; \
             while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); echo started $i; done; echo survived",
            json!({"pids": {"limit": PIDS_MAX}}),
        ),
    );
    // hugetlb on cgroup v2: a limit of the host's page size is applied; an unknown size is
    // refused naming the field.
    add(
        "huge",
        config(
            &base,
            "huge",
            "echo HMAX=$(cat /sys/fs/cgroup/hugetlb.2MB.max)",
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
        ),
    );
    add(
        "hugebad",
        config(
            &base,
            "hugebad",
            "true",
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 4194304}]}),
        ),
    );
    let dev_script = "if head -c 512 /ram0 >/tmp/r 2>/tmp/e; then echo RAM0=open:$(wc -c </tmp/r); \
                      else echo RAM0=denied:$(sed 's/.*: //' /tmp/e); fi; \
                      if echo x >/dev/null; then echo NULL=ok; fi";
    let ram0 =
        json!({"destination": "/ram0", "type": "bind", "source": "/dev/ram0", "options": ["bind"]});
    let mut dev = config(&base, "dev", dev_script, json!({}));
    dev["mounts"].as_array_mut().unwrap().push(ram0.clone());
    add("dev", dev);
    let mut allow = config(&base, "devallow", dev_script, json!({}));
    allow["mounts"].as_array_mut().unwrap().push(ram0);
    allow["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "b", "major": 1, "minor": 0, "access": "r"}));
    add("devallow", allow);
    add(
        "pause",
        config(
            &base,
            "pz",
            "i=0; while :; do i=$((i+1)); echo $i > /tick.new; mv /tick.new /tick; usleep 20000; done",
            json!({}),
        ),
    );
    let expect = dir.join("expect.env");
    std::fs::write(
        &expect,
        format!(
            "MEM_MAX={MEM_MAX}\nCPU_MAX='{CPU_QUOTA} {CPU_PERIOD}'\nCPU_WEIGHT={}\nPIDS_MAX={PIDS_MAX}\n",
            noderun_cgroups::shares_to_weight(CPU_SHARES)
        ),
    )
    .unwrap();
    files.push((expect, "/cfg/expect.env".into()));
    files
}

#[test]
fn vm_cgroup2() {
    require_root("apt-get download of the kernel, qemu");
    let tmp = tempfile::Builder::new()
        .prefix("noderun-vm-")
        .tempdir()
        .unwrap();
    let mut vm = Vm::new("noderun.sh")
        .binary(env!("CARGO_BIN_EXE_noderun"))
        .env("VM_SWITCH_ROOT", "1")
        .env("VM_MODULES", "brd");
    for (src, dest) in write_configs(tmp.path()) {
        vm = vm.file(&src, &dest);
    }
    vm.run().assert_passed(&[
        "memory.max set, read back inside, OOM kill",
        "cpu.max",
        "pids.max",
        "hugetlb.2MB.max set from hugepageLimits",
        "device filter denies",
        "pause/resume via cgroup.freeze",
        "delete leaves no cgroup and no state",
    ]);
}
