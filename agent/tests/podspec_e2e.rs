//! End to end: a Pod container translated by `nodelet::podspec` into the config.json of a
//! bundle over a busybox-static rootfs (a plain directory), run with the real noderun library
//! from this single-threaded process (no test harness: the library refuses to fork from a
//! multi-threaded one), as the per-pod shim will. The container prints what it sees: env and
//! downward-API values, a read-only hostPath, a writable emptyDir, its uid/gids, its bounding
//! capabilities and its memory limit.
//!
//! Needs root and Debian's busybox-static (`/bin/busybox`).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use nodelet::podspec::{
    self, ContainerInput, ContainerRef, NodeResources, PodContext, PodFiles, SandboxNamespaces,
};
use noderun::{CreateOptions, Exit, Runtime};
use serde_json::json;

const BUSYBOX: &str = "/bin/busybox";

fn make_rootfs(dir: &Path) {
    nodelet_testkit::busybox_rootfs(
        dir,
        &[nodelet_testkit::User {
            name: "app",
            id: 1000,
            group: "app",
        }],
    );
}

/// Our own cgroup path in the v1 hierarchy of `controller`.
fn own_cgroup(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

/// Deletes the container, the pod's volumes and the pod cgroup even when the test fails.
struct Cleanup {
    rt: Runtime,
    ids: Vec<String>,
    volumes_dirs: Vec<PathBuf>,
    pod_cgroup: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt.delete(id, true);
        }
        for v in &self.volumes_dirs {
            let _ = podspec::volumes::teardown(v);
        }
        for ctrl in [
            "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio",
        ] {
            if let Some(own) = own_cgroup(ctrl) {
                let p = Path::new("/sys/fs/cgroup")
                    .join(ctrl)
                    .join(own.trim_start_matches('/'))
                    .join(&self.pod_cgroup);
                let _ = std::fs::remove_dir(p);
            }
        }
        let unified = Path::new("/sys/fs/cgroup/unified");
        if let Some(own) = own_cgroup("") {
            let _ = std::fs::remove_dir(
                unified
                    .join(own.trim_start_matches('/'))
                    .join(&self.pod_cgroup),
            );
        }
    }
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("podspec_e2e: skipped: needs root");
        return;
    }
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: apt-get install busybox-static"
    );
    noderun::become_subreaper().unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("podspec-e2e-")
        .tempdir()
        .unwrap();
    let t = tmp.path();
    let rootfs = t.join("rootfs");
    make_rootfs(&rootfs);
    let bundle = t.join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let host_dir = t.join("host");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello.txt"), "from-host\n").unwrap();
    let files = t.join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("hosts"), "127.0.0.1 localhost\n10.244.0.5 web\n").unwrap();
    std::fs::write(files.join("resolv.conf"), "nameserver 10.96.0.10\n").unwrap();
    std::fs::write(files.join("hostname"), "web\n").unwrap();
    podspec::create_termination_log(&files.join("termination-log")).unwrap();

    let script = r#"
        echo "GREETING=$GREETING"
        echo "EXPANDED=$EXPANDED"
        echo "POD_NAME=$POD_NAME"
        echo "POD_IP=$POD_IP"
        echo "NODE=$NODE"
        echo "MEM_MI=$MEM_MI"
        echo "HOSTNAME_ENV=$HOSTNAME"
        echo "ARG=$1"
        echo "UID=$(id -u) GID=$(id -g) GROUPS=$(id -G)"
        echo "HOST_FILE=$(cat /host/hello.txt)"
        if echo x > /host/new 2>/dev/null; then echo HOST_RW; else echo HOST_RO; fi
        if echo cached > /cache/file; then echo CACHE_OK; fi
        echo "HOSTS=$(grep -c web /etc/hosts)"
        echo "LABELS=$(cat /etc/podinfo/labels)"
        echo "CAPBND=$(grep CapBnd /proc/self/status | cut -f2)"
        echo "MEMLIMIT=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
        echo "MEMSW=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo none)"
        echo "PIDSMAX=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
        echo done > /dev/termination-log
    "#;
    let mut pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-node1", "namespace": "default", "uid": "e2e-uid",
                     "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node1",
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "supplementalGroups": [3000]},
            "containers": [{
                "name": "c", "image": "busybox",
                "command": ["sh", "-c", script, "sh"],
                "args": ["$(GREETING)-arg"],
                "env": [
                    {"name": "GREETING", "value": "hello"},
                    {"name": "EXPANDED", "value": "$(GREETING)-world"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "MEM_MI", "valueFrom": {"resourceFieldRef":
                        {"resource": "limits.memory", "divisor": "1Mi"}}},
                ],
                "resources": {"limits": {"memory": "48Mi", "cpu": "500m"}},
                "securityContext": {"capabilities": {"drop": ["NET_RAW", "MKNOD"]}},
                "volumeMounts": [
                    {"name": "host", "mountPath": "/host", "readOnly": true},
                    {"name": "cache", "mountPath": "/cache"},
                    {"name": "info", "mountPath": "/etc/podinfo"},
                ],
            }],
            "volumes": [
                {"name": "host", "hostPath": {"path": host_dir, "type": "Directory"}},
                {"name": "cache", "emptyDir": {}},
                {"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            ],
        },
    }))
    .unwrap();
    nodelet_objects::pod_defaults::apply_defaults(&mut pod);

    let pod_cgroup = format!("podspec-e2e-{}", std::process::id());
    let id = format!("podspec-e2e-{}-c", std::process::id());
    let volumes_dir = t.join("pods/e2e-uid/volumes");
    let rt = Runtime::new(t.join("state"));
    let volumes_dir2 = t.join("pods/e2e-uid-2/volumes");
    let _cleanup = Cleanup {
        rt: rt.clone(),
        ids: ["c", "init", "app", "priv"]
            .iter()
            .map(|s| format!("podspec-e2e-{}-{s}", std::process::id()))
            .collect(),
        volumes_dirs: vec![volumes_dir.clone(), volumes_dir2.clone()],
        pod_cgroup: pod_cgroup.clone(),
    };
    let ctx = PodContext {
        namespaces: SandboxNamespaces::default(),
        files: PodFiles {
            hosts: Some(files.join("hosts")),
            resolv_conf: Some(files.join("resolv.conf")),
            hostname: Some(files.join("hostname")),
            shm: None,
        },
        hostname: "web".into(),
        pod_ips: vec!["10.244.0.5".into()],
        host_ips: vec!["192.168.1.10".into()],
        cgroup_parent: pod_cgroup.clone(),
        node: NodeResources::of_host(t).unwrap(),
        pids_limit: Some(64),
        seccomp_root: t.join("seccomp"),
        oom_score_adj_floor: podspec::resources::oom_score_adj_floor(),
        no_swap: podspec::resources::swap_controller_available(),
        config: Default::default(),
        apparmor: nodelet::apparmor::Host::detect(t),
    };
    let vols = podspec::volumes::prepare(&pod, &volumes_dir, &ctx.node, &ctx.config).unwrap();
    let tlog = files.join("termination-log");
    let input = ContainerInput {
        container: ContainerRef::App(0),
        id: &id,
        image: None,
        rootfs: &rootfs,
        termination_log: Some(&tlog),
    };
    let spec = podspec::container_spec(&pod, &ctx, &vols, &input).unwrap();
    spec.save(bundle.join("config.json")).unwrap();

    let (exit, text) = run(&rt, &bundle, &id, t);
    assert_eq!(exit, Exit::Code(0), "container failed:\n{text}");
    let line = |k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in output:\n{text}"))
            .to_string()
    };
    let mut passed = 0;
    let mut check = |what: &str, ok: bool| {
        assert!(ok, "{what}: output:\n{text}");
        passed += 1;
    };
    check("env value", line("GREETING") == "hello");
    check("$(VAR) expansion in env", line("EXPANDED") == "hello-world");
    check("$(VAR) expansion in args", line("ARG") == "hello-arg");
    check("fieldRef metadata.name", line("POD_NAME") == "web-node1");
    check("fieldRef status.podIP", line("POD_IP") == "10.244.0.5");
    check("fieldRef spec.nodeName", line("NODE") == "node1");
    check("resourceFieldRef limits.memory", line("MEM_MI") == "48");
    check("HOSTNAME env", line("HOSTNAME_ENV") == "web");
    check(
        "runAsUser/runAsGroup/supplementalGroups",
        line("UID") == "1000 GID=1000 GROUPS=1000 3000",
    );
    check("hostPath readable", line("HOST_FILE") == "from-host");
    check("readOnly mount", text.lines().any(|l| l == "HOST_RO"));
    check("emptyDir writable", text.lines().any(|l| l == "CACHE_OK"));
    let cached = podspec::volumes::empty_dir_path(&volumes_dir, "cache").join("file");
    check(
        "emptyDir on the host",
        std::fs::read_to_string(cached).unwrap_or_default() == "cached\n",
    );
    check("pod /etc/hosts", line("HOSTS") == "1");
    check("downwardAPI volume", line("LABELS") == "app=\"web\"");
    let bnd = u64::from_str_radix(&line("CAPBND"), 16).unwrap();
    let bit = |c: caps::Capability| bnd & (1u64 << c.index()) != 0;
    check(
        "capabilities drop",
        !bit(caps::Capability::CAP_NET_RAW)
            && !bit(caps::Capability::CAP_MKNOD)
            && bit(caps::Capability::CAP_CHOWN)
            && !bit(caps::Capability::CAP_SYS_ADMIN),
    );
    check(
        "memory limit",
        line("MEMLIMIT") == (48u64 << 20).to_string(),
    );
    check("pids limit", line("PIDSMAX") == "64");
    if ctx.no_swap && Path::new("/sys/fs/cgroup/memory").exists() {
        check(
            "no swap (v1 memsw)",
            line("MEMSW") == (48u64 << 20).to_string(),
        );
    }
    check(
        "termination log",
        std::fs::read_to_string(&tlog).unwrap_or_default() == "done\n",
    );
    second_pod(&rt, t, &ctx, &volumes_dir2, &mut passed);
    privileged_pod(&rt, t, &ctx, &mut passed);
    println!("podspec_e2e: {passed} checks passed");
}

/// Creates, starts and waits for container `id` of `bundle`; returns its exit and output.
fn run(rt: &Runtime, bundle: &Path, id: &str, t: &Path) -> (Exit, String) {
    let out_path = t.join(format!("{id}.out"));
    let out = std::fs::File::create(&out_path).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let opts = CreateOptions {
        stdio: Some([null.as_raw_fd(), out.as_raw_fd(), out.as_raw_fd()]),
        ..Default::default()
    };
    let created = rt.create(id, bundle, &opts).unwrap();
    rt.start(id).unwrap();
    let pid = created.pid;
    created.wait_exec().unwrap();
    let exit = Runtime::wait(pid).unwrap();
    rt.delete(id, false).unwrap();
    (exit, std::fs::read_to_string(&out_path).unwrap())
}

/// An init container writes into a memory emptyDir that the app container reads; the app has
/// a read-only root, RuntimeDefault seccomp (pod level), no_new_privs and runAsNonRoot.
fn second_pod(rt: &Runtime, t: &Path, ctx: &PodContext, volumes_dir: &Path, passed: &mut usize) {
    let rootfs = t.join("rootfs2");
    make_rootfs(&rootfs);
    let mut pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "two-node1", "namespace": "default", "uid": "e2e-uid-2"},
        "spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 1000,
                                "runAsNonRoot": true},
            "initContainers": [{
                "name": "init", "image": "busybox",
                "command": ["sh", "-c", "echo from-init > /shared/msg"],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }],
            "containers": [{
                "name": "app", "image": "busybox",
                "command": ["sh", "-c", r#"
                    echo "MSG=$(cat /shared/msg)"
                    if touch /newfile 2>/dev/null; then echo ROOT_RW; else echo ROOT_RO; fi
                    echo "NNP=$(grep NoNewPrivs /proc/self/status | cut -f2)"
                    echo "SECCOMP=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
                    echo "SHM_KB=$(df -k /shared | tail -1 | awk '{print $2}')"
                "#],
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false},
                "volumeMounts": [{"name": "shared", "mountPath": "/shared", "readOnly": true}],
            }],
            "volumes": [{"name": "shared", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}}],
        },
    }))
    .unwrap();
    nodelet_objects::pod_defaults::apply_defaults(&mut pod);
    let vols = podspec::volumes::prepare(&pod, volumes_dir, &ctx.node, &ctx.config).unwrap();
    let mut outputs = Vec::new();
    for (which, name) in [
        (ContainerRef::Init(0), "init"),
        (ContainerRef::App(0), "app"),
    ] {
        let id = format!("podspec-e2e-{}-{name}", std::process::id());
        let bundle = t.join(format!("bundle-{name}"));
        std::fs::create_dir(&bundle).unwrap();
        let input = ContainerInput {
            container: which,
            id: &id,
            image: None,
            rootfs: &rootfs,
            termination_log: None,
        };
        let spec = podspec::container_spec(&pod, ctx, &vols, &input).unwrap();
        spec.save(bundle.join("config.json")).unwrap();
        let (exit, text) = run(rt, &bundle, &id, t);
        assert_eq!(exit, Exit::Code(0), "{name} failed:\n{text}");
        outputs.push(text);
    }
    let text = &outputs[1];
    let line = |k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in output:\n{text}"))
            .to_string()
    };
    let mut check = |what: &str, ok: bool| {
        assert!(ok, "{what}: output:\n{text}");
        *passed += 1;
    };
    check(
        "memory emptyDir shared with the init container",
        line("MSG") == "from-init",
    );
    check("memory emptyDir size", line("SHM_KB") == "4096");
    check(
        "readOnlyRootFilesystem",
        text.lines().any(|l| l == "ROOT_RO"),
    );
    check("allowPrivilegeEscalation=false", line("NNP") == "1");
    check("RuntimeDefault seccomp", line("SECCOMP") == "2");
}

/// A privileged container: every capability we have, no seccomp, all devices, /sys writable.
fn privileged_pod(rt: &Runtime, t: &Path, ctx: &PodContext, passed: &mut usize) {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "priv-node1", "namespace": "default", "uid": "e2e-uid-3"},
        "spec": {"containers": [{
            "name": "priv", "image": "busybox",
            "securityContext": {"privileged": true},
            "command": ["sh", "-c", r#"
                if mount -t tmpfs t /tmp; then echo MOUNT_OK; umount /tmp; fi
                echo "SECCOMP=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
                echo "CAPEFF=$(grep CapEff /proc/self/status | cut -f2)"
                if grep -q '^sysfs /sys sysfs rw' /proc/mounts; then echo SYS_RW; fi
                if head -c 1 /dev/kmsg >/dev/null 2>&1 || test -c /dev/kmsg; then echo HOST_DEV; fi
            "#],
        }]},
    }))
    .unwrap();
    let id = format!("podspec-e2e-{}-priv", std::process::id());
    let bundle = t.join("bundle-priv");
    std::fs::create_dir(&bundle).unwrap();
    let rootfs = t.join("rootfs");
    let input = ContainerInput {
        container: ContainerRef::App(0),
        id: &id,
        image: None,
        rootfs: &rootfs,
        termination_log: None,
    };
    let vols = podspec::PodVolumes::default();
    let spec = podspec::container_spec(&pod, ctx, &vols, &input).unwrap();
    spec.save(bundle.join("config.json")).unwrap();
    let (exit, text) = run(rt, &bundle, &id, t);
    assert_eq!(exit, Exit::Code(0), "privileged container failed:\n{text}");
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let our_bnd = ours
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    let mut check = |what: &str, ok: bool| {
        assert!(ok, "{what}: output:\n{text}");
        *passed += 1;
    };
    let has = |l: &str| text.lines().any(|x| x == l);
    check("privileged: mount works", has("MOUNT_OK"));
    check("privileged: no seccomp", has("SECCOMP=0"));
    check(
        "privileged: all our capabilities",
        has(&format!("CAPEFF={our_bnd}")),
    );
    check("privileged: /sys writable", has("SYS_RW"));
    check("privileged: host devices", has("HOST_DEV"));
}
