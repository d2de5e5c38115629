//! Unit tests of the translation. Host-side parts (emptyDir, hostPath, subPath) use temp dirs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use nodelet_images::manifest::RunConfig;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Mount, Spec};
use serde_json::{Value, json};

use super::*;
use nodelet_objects::pod_defaults::apply_defaults;

struct Fixture {
    tmp: tempfile::TempDir,
    ctx: PodContext,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        std::fs::create_dir_all(tmp.path().join("seccomp/profiles")).unwrap();
        let ctx = PodContext {
            namespaces: SandboxNamespaces {
                net: Some("/run/netns/p".into()),
                ipc: Some("/proc/42/ns/ipc".into()),
                uts: Some("/proc/42/ns/uts".into()),
                pid: Some("/proc/42/ns/pid".into()),
            },
            files: PodFiles {
                hosts: Some("/pods/u/etc-hosts".into()),
                resolv_conf: Some("/pods/u/resolv.conf".into()),
                hostname: Some("/pods/u/hostname".into()),
                shm: None,
            },
            hostname: "web".into(),
            pod_ips: vec!["10.244.0.5".into(), "fd00::5".into()],
            host_ips: vec!["192.168.1.10".into()],
            cgroup_parent: "pods/pod-u".into(),
            node: NodeResources {
                cpu_millis: 2000,
                memory_bytes: 4 << 30,
                ephemeral_storage_bytes: 100 << 30,
            },
            pids_limit: Some(1024),
            seccomp_root: tmp.path().join("seccomp"),
            oom_score_adj_floor: None,
            no_swap: false,
            config: Default::default(),
            apparmor: Default::default(),
        };
        Fixture { tmp, ctx }
    }
    fn rootfs(&self) -> PathBuf {
        self.tmp.path().join("rootfs")
    }
    fn volumes_dir(&self) -> PathBuf {
        self.tmp.path().join("volumes")
    }
    fn spec_with(
        &self,
        pod: &Pod,
        which: ContainerRef,
        image: Option<&RunConfig>,
    ) -> Result<Spec, SpecError> {
        let vols = volumes::prepare(pod, &self.volumes_dir(), &self.ctx.node, &self.ctx.config)?;
        let rootfs = self.rootfs();
        let tlog = self.tmp.path().join("termination-log");
        let input = ContainerInput {
            container: which,
            id: "c1",
            image,
            rootfs: &rootfs,
            termination_log: Some(&tlog),
        };
        container_spec(pod, &self.ctx, &vols, &input)
    }
    fn spec(&self, pod: &Pod) -> Result<Spec, SpecError> {
        self.spec_with(pod, ContainerRef::App(0), Some(&image()))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = volumes::teardown(&self.volumes_dir());
    }
}

fn image() -> RunConfig {
    RunConfig {
        user: None,
        env: Some(vec![
            "PATH=/bin".into(),
            "FROM_IMAGE=1".into(),
            "OVER=image".into(),
        ]),
        entrypoint: Some(vec!["/bin/entry".into()]),
        cmd: Some(vec!["default-arg".into()]),
        working_dir: None,
        ..Default::default()
    }
}

/// A defaulted pod with one container `c` merged over `container`, and `spec` merged over the
/// pod spec.
fn pod(container: Value, spec: Value) -> Pod {
    let mut c = json!({"name": "c", "image": "busybox"});
    merge(&mut c, container);
    let mut s = json!({"containers": [c], "nodeName": "node1"});
    merge(&mut s, spec);
    let mut p: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-node1", "namespace": "default", "uid": "u-1",
                     "labels": {"app": "web"}, "annotations": {"note": "hi"}},
        "spec": s,
    }))
    .unwrap();
    apply_defaults(&mut p);
    p
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(ao), Value::Object(bo)) = (a.as_object_mut(), &b) {
        for (k, v) in bo {
            match ao.get_mut(k) {
                Some(av) if av.is_object() && v.is_object() => merge(av, v.clone()),
                _ => {
                    ao.insert(k.clone(), v.clone());
                }
            }
        }
    } else if !b.is_null() {
        *a = b;
    }
}

fn env_of(s: &Spec) -> Vec<String> {
    s.process().as_ref().unwrap().env().clone().unwrap()
}
fn env_var(s: &Spec, k: &str) -> Option<String> {
    env_of(s)
        .iter()
        .find_map(|e| e.strip_prefix(&format!("{k}=")).map(str::to_string))
}
fn mount<'a>(s: &'a Spec, dest: &str) -> Option<&'a Mount> {
    s.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}
fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}
fn caps(s: &Spec) -> std::collections::HashSet<Capability> {
    s.process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap()
        .bounding()
        .clone()
        .unwrap()
}
fn err(r: Result<Spec, SpecError>) -> SpecError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

// ---- env ----

#[test]
fn expansion_follows_kubernetes_rules() {
    let env = vec![
        ("A".to_string(), "alpha".to_string()),
        ("B".to_string(), "".to_string()),
    ];
    let m = env::EnvMap::new(&env);
    let x = |s: &str| env::expand(s, &m);
    assert_eq!(x("$(A)"), "alpha");
    assert_eq!(x("pre-$(A)-post"), "pre-alpha-post");
    assert_eq!(x("$(B)x"), "x", "defined but empty");
    assert_eq!(x("$$(A)"), "$(A)", "$$ escapes");
    assert_eq!(x("$$$(A)"), "$alpha");
    assert_eq!(x("$$"), "$");
    assert_eq!(x("$(NOPE)"), "$(NOPE)", "unknown stays literal");
    assert_eq!(x("$A $"), "$A $", "plain $ kept");
    assert_eq!(x("$(A"), "$(A", "unterminated kept");
    assert_eq!(x("$(A)$(A)"), "alphaalpha");
    assert_eq!(x("ünï$(A)çø"), "ünïalphaçø");
}

#[test]
fn env_values_order_and_image_merge() {
    let f = Fixture::new();
    let p = pod(
        json!({"env": [
            {"name": "FIRST", "value": "1"},
            {"name": "REF", "value": "$(FIRST)-$(LATER)-$$(FIRST)"},
            {"name": "LATER", "value": "2"},
            {"name": "OVER", "value": "pod"},
            {"name": "FIRST", "value": "again"},
        ]}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    let env = env_of(&s);
    assert_eq!(
        env_var(&s, "REF").unwrap(),
        "1-$(LATER)-$(FIRST)",
        "only earlier vars expand"
    );
    assert_eq!(
        env_var(&s, "FIRST").unwrap(),
        "again",
        "a later definition wins"
    );
    assert_eq!(
        env_var(&s, "OVER").unwrap(),
        "pod",
        "pod env beats the image's"
    );
    assert_eq!(env_var(&s, "FROM_IMAGE").unwrap(), "1");
    assert_eq!(env_var(&s, "HOSTNAME").unwrap(), "web");
    let mut img = image();
    img.env.as_mut().unwrap().push("HOSTNAME=from-image".into());
    let s2 = f.spec_with(&p, ContainerRef::App(0), Some(&img)).unwrap();
    assert_eq!(
        env_var(&s2, "HOSTNAME").unwrap(),
        "from-image",
        "as containerd"
    );
    let pos = |k: &str| {
        env.iter()
            .position(|e| e.starts_with(&format!("{k}=")))
            .unwrap()
    };
    assert!(pos("PATH") < pos("OVER"), "image order kept: {env:?}");
    assert!(
        pos("FIRST") < pos("REF") && pos("REF") < pos("LATER"),
        "{env:?}"
    );
}

#[test]
fn command_and_args_are_expanded() {
    let f = Fixture::new();
    let p = pod(
        json!({"command": ["/bin/sh", "-c", "echo $(MSG) $$(MSG) $(NONE)"], "args": ["$(MSG)"],
               "env": [{"name": "MSG", "value": "hello"}]}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    assert_eq!(
        s.process().as_ref().unwrap().args().clone().unwrap(),
        ["/bin/sh", "-c", "echo hello $(MSG) $(NONE)", "hello"]
    );
    // args alone keep the image's ENTRYPOINT.
    let p = pod(
        json!({"args": ["$(X)"], "env": [{"name": "X", "value": "y"}]}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    assert_eq!(
        s.process().as_ref().unwrap().args().clone().unwrap(),
        ["/bin/entry", "y"]
    );
}

#[test]
fn field_refs_resolve_downward_api() {
    let f = Fixture::new();
    let refs = [
        ("N", "metadata.name", "web-node1"),
        ("NS", "metadata.namespace", "default"),
        ("UID", "metadata.uid", "u-1"),
        ("L", "metadata.labels['app']", "web"),
        ("L2", "metadata.labels['missing']", ""),
        ("A", "metadata.annotations['note']", "hi"),
        ("NODE", "spec.nodeName", "node1"),
        ("SA", "spec.serviceAccountName", "builder"),
        ("IP", "status.podIP", "10.244.0.5"),
        ("IPS", "status.podIPs", "10.244.0.5,fd00::5"),
        ("HIP", "status.hostIP", "192.168.1.10"),
        ("HIPS", "status.hostIPs", "192.168.1.10"),
    ];
    let env: Vec<Value> = refs
        .iter()
        .map(|(n, p, _)| json!({"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}}))
        .chain([json!({"name": "X", "value": "$(IP)"})])
        .collect();
    let p = pod(
        json!({"env": env}),
        json!({"serviceAccountName": "builder"}),
    );
    let s = f.spec(&p).unwrap();
    for (n, _, want) in refs {
        assert_eq!(env_var(&s, n).as_deref(), Some(want), "{n}");
    }
    assert_eq!(
        env_var(&s, "X").unwrap(),
        "10.244.0.5",
        "values may use fieldRef vars"
    );

    let p = pod(
        json!({"env": [{"name": "A", "value": "1"},
                        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}]}),
        json!({}),
    );
    let e = err(f.spec(&p));
    assert_eq!(
        e.field,
        "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath"
    );
    assert!(e.reason.contains("Unsupported value"), "{e}");
}

#[test]
fn resource_field_refs_use_divisor_and_node_capacity() {
    let f = Fixture::new();
    let rf = |n: &str, r: &str, d: Option<&str>| {
        let mut sel = json!({"resource": r});
        if let Some(d) = d {
            sel["divisor"] = json!(d);
        }
        json!({"name": n, "valueFrom": {"resourceFieldRef": sel}})
    };
    let p = pod(
        json!({"resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
               "env": [rf("LCPU", "limits.cpu", None), rf("LCPU_M", "limits.cpu", Some("1m")),
                       rf("RCPU", "requests.cpu", Some("1m")), rf("RCPU1", "requests.cpu", None),
                       rf("LMEM", "limits.memory", None), rf("LMEM_MI", "limits.memory", Some("1Mi")),
                       rf("RMEM", "requests.memory", Some("1Mi"))]}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    let v = |k: &str| env_var(&s, k).unwrap();
    assert_eq!(v("LCPU"), "2", "unset cpu limit = node capacity (2 cores)");
    assert_eq!(v("LCPU_M"), "2000");
    assert_eq!(v("RCPU"), "250");
    assert_eq!(v("RCPU1"), "1", "rounded up");
    assert_eq!(v("LMEM"), (64 << 20).to_string());
    assert_eq!(v("LMEM_MI"), "64");
    assert_eq!(v("RMEM"), "64", "request defaults to the limit");

    // Another container's resources by containerName.
    let mut p = pod(
        json!({"env": [{"name": "O", "valueFrom": {"resourceFieldRef":
        {"containerName": "side", "resource": "limits.memory", "divisor": "1Mi"}}}]}),
        json!({}),
    );
    let side: k8s_openapi::api::core::v1::Container = serde_json::from_value(
        json!({"name": "side", "image": "busybox", "resources": {"limits": {"memory": "32Mi"}}}),
    )
    .unwrap();
    p.spec.as_mut().unwrap().containers.push(side);
    assert_eq!(env_var(&f.spec(&p).unwrap(), "O").unwrap(), "32");
}

/// A ConfigMap `cfg` (color, size) and a Secret `creds` (user, pass) in `default`.
fn config_objects(color: &str) -> std::sync::Arc<nodelet_objects::config_sources::ConfigObjects> {
    use nodelet_objects::workload::Object;
    let cm = serde_json::from_value(json!({
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"color": color, "size": "L"}}))
    .unwrap();
    let sec = serde_json::from_value(json!({
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"user": "YWRtaW4=", "pass": "czNjcmV0"}}))
    .unwrap();
    std::sync::Arc::new(
        nodelet_objects::config_sources::ConfigObjects::from_objects(&[
            Object::ConfigMap(Box::new(cm)),
            Object::Secret(Box::new(sec)),
        ]),
    )
}

#[test]
fn env_from_config_maps_and_secrets() {
    let mut f = Fixture::new();
    f.ctx.config = config_objects("blue");
    let p = pod(
        json!({"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                           {"secretRef": {"name": "creds"}}],
               "env": [
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
            {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
            {"name": "pass", "value": "env wins over envFrom"},
            {"name": "SHOWN", "value": "$(CFG_size)-$(COLOR)"},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": true}}},
            {"name": "OPT2", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}}]}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    assert_eq!(env_var(&s, "CFG_color").as_deref(), Some("blue"));
    assert_eq!(env_var(&s, "CFG_size").as_deref(), Some("L"));
    assert_eq!(env_var(&s, "user").as_deref(), Some("admin"));
    assert_eq!(env_var(&s, "COLOR").as_deref(), Some("blue"));
    assert_eq!(env_var(&s, "USER").as_deref(), Some("admin"));
    assert_eq!(
        env_var(&s, "pass").as_deref(),
        Some("env wins over envFrom")
    );
    assert_eq!(env_var(&s, "SHOWN").as_deref(), Some("L-blue"));
    assert_eq!(env_var(&s, "OPT"), None);
    assert_eq!(env_var(&s, "OPT2"), None);

    // Missing objects and keys: CreateContainerConfigError in the kubelet's words.
    for (c, want) in [
        (
            json!({"env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}),
            "configmap \"cm\" not found",
        ),
        (
            json!({"env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}),
            "couldn't find key k in ConfigMap default/cfg",
        ),
        (
            json!({"env": [{"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}),
            "couldn't find key k in Secret default/creds",
        ),
        (
            json!({"envFrom": [{"secretRef": {"name": "s"}}]}),
            "secret \"s\" not found",
        ),
    ] {
        let e = err(f.spec(&pod(c, json!({}))));
        assert_eq!(e.to_string(), want);
        assert_eq!(e.kind, SpecErrorKind::Config);
        assert_eq!(e.kubelet_reason(), "CreateContainerConfigError");
    }
    let e = err(f.spec(&pod(
        json!({"env": [{"name": "B", "valueFrom": {"fileKeyRef": {"volumeName": "v", "path": "p", "key": "k"}}}]}),
        json!({}),
    )));
    assert_eq!(e.field, "spec.containers[0].env[0].valueFrom");
}

#[test]
fn init_containers_are_addressed_by_their_field() {
    let f = Fixture::new();
    let p = pod(
        json!({}),
        json!({"initContainers": [{"name": "init", "image": "busybox", "command": ["true"],
            "env": [{"name": "S", "valueFrom": {"fieldRef": {"fieldPath": "status.bogus"}}}]}]}),
    );
    let e = err(f.spec_with(&p, ContainerRef::Init(0), None));
    assert_eq!(
        e.field,
        "spec.initContainers[0].env[0].valueFrom.fieldRef.fieldPath"
    );
    let e = err(f.spec_with(&p, ContainerRef::Init(3), None));
    assert_eq!(e.field, "spec.initContainers[3]");
}

// ---- namespaces, default mounts, files ----

fn ns(s: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    s.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .clone()
        .unwrap()
        .into_iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

#[test]
fn namespaces_join_the_sandbox() {
    use LinuxNamespaceType::*;
    let f = Fixture::new();
    let s = f.spec(&pod(json!({}), json!({}))).unwrap();
    assert_eq!(
        ns(&s),
        vec![
            (Mount, None),
            (Pid, None),
            (Ipc, Some("/proc/42/ns/ipc".into())),
            (Network, Some("/run/netns/p".into())),
            (Uts, Some("/proc/42/ns/uts".into())),
            (Cgroup, None),
        ]
    );
    let s = f
        .spec(&pod(json!({}), json!({"shareProcessNamespace": true})))
        .unwrap();
    assert!(ns(&s).contains(&(Pid, Some("/proc/42/ns/pid".into()))));
    let s = f
        .spec(&pod(
            json!({}),
            json!({"hostNetwork": true, "hostPID": true, "hostIPC": true}),
        ))
        .unwrap();
    assert_eq!(ns(&s), vec![(Mount, None), (Cgroup, None)]);
}

#[test]
fn containerd_defaults_and_pod_files() {
    let f = Fixture::new();
    let s = f.spec(&pod(json!({}), json!({}))).unwrap();
    for (dest, typ) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", "cgroup"),
    ] {
        let m = mount(&s, dest).unwrap_or_else(|| panic!("{dest} missing"));
        assert_eq!(m.typ().as_deref(), Some(typ));
    }
    assert!(opts(mount(&s, "/sys").unwrap()).contains(&"ro".into()));
    assert!(mount(&s, "/run").is_none(), "containerd's CRI drops /run");
    for (dest, src) in [
        ("/etc/hosts", "/pods/u/etc-hosts"),
        ("/etc/resolv.conf", "/pods/u/resolv.conf"),
        ("/etc/hostname", "/pods/u/hostname"),
    ] {
        let m = mount(&s, dest).unwrap();
        assert_eq!(m.source().as_deref(), Some(Path::new(src)));
        assert_eq!(opts(m), ["rbind", "rprivate", "rw"]);
    }
    let t = mount(&s, "/dev/termination-log").unwrap();
    assert_eq!(
        t.source().as_deref(),
        Some(f.tmp.path().join("termination-log").as_path())
    );
    let l = s.linux().as_ref().unwrap();
    assert!(
        l.masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string())
    );
    assert!(
        l.readonly_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/sys".to_string())
    );
    assert_eq!(s.root().as_ref().unwrap().path(), &f.rootfs());
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
    assert_eq!(
        l.cgroups_path().as_deref(),
        Some(Path::new("pods/pod-u/c1"))
    );
    let devs = l.resources().as_ref().unwrap().devices().clone().unwrap();
    assert!(!devs[0].allow(), "deny all first");
    assert!(
        devs.iter()
            .any(|d| d.allow() && d.major() == Some(1) && d.minor() == Some(3))
    );
    assert!(l.seccomp().is_none(), "kubelet default: Unconfined");
    assert_eq!(s.process().as_ref().unwrap().cwd(), Path::new("/"));

    // A custom terminationMessagePath, and the shared shm.
    let mut f2 = Fixture::new();
    f2.ctx.files.shm = Some("/pods/u/shm".into());
    let s = f2
        .spec(&pod(
            json!({"terminationMessagePath": "/tmp/msg"}),
            json!({}),
        ))
        .unwrap();
    assert!(mount(&s, "/tmp/msg").is_some());
    assert!(mount(&s, "/dev/termination-log").is_none());
    assert_eq!(
        mount(&s, "/dev/shm").unwrap().typ().as_deref(),
        Some("bind")
    );
}

// ---- volumes ----

fn vol_pod(mounts: Value, volumes: Value) -> Pod {
    pod(json!({"volumeMounts": mounts}), json!({"volumes": volumes}))
}

#[test]
fn empty_dir_and_host_path_mounts() {
    let f = Fixture::new();
    let host = f.tmp.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    let p = vol_pod(
        json!([{"name": "cache", "mountPath": "/cache"},
               {"name": "data", "mountPath": "/data", "readOnly": true},
               {"name": "data", "mountPath": "/data2", "mountPropagation": "HostToContainer"}]),
        json!([{"name": "cache", "emptyDir": {}},
               {"name": "data", "hostPath": {"path": host, "type": "Directory"}}]),
    );
    let s = f.spec(&p).unwrap();
    let ed = volumes::empty_dir_path(&f.volumes_dir(), "cache");
    let md = std::fs::metadata(&ed).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.permissions().mode() & 0o7777, 0o777);
    let m = mount(&s, "/cache").unwrap();
    assert_eq!(m.source().as_deref(), Some(ed.as_path()));
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(opts(m), ["rbind", "rprivate", "rw"]);
    let m = mount(&s, "/data").unwrap();
    assert_eq!(m.source().as_deref(), Some(host.as_path()));
    assert_eq!(opts(m), ["rbind", "rprivate", "ro"]);
    assert_eq!(
        opts(mount(&s, "/data2").unwrap()),
        ["rbind", "rslave", "rw"]
    );
    assert_eq!(
        s.linux().as_ref().unwrap().rootfs_propagation().as_deref(),
        Some("rslave")
    );
}

#[test]
fn memory_empty_dir_is_a_shared_tmpfs_with_size_limit() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let f = Fixture::new();
    let p = vol_pod(
        json!([{"name": "mem", "mountPath": "/mem"}]),
        json!([{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}]),
    );
    let vols = volumes::prepare(&p, &f.volumes_dir(), &f.ctx.node, &f.ctx.config).unwrap();
    let dir = volumes::empty_dir_path(&f.volumes_dir(), "mem");
    assert_eq!(
        vols.get("mem").unwrap().kind,
        volumes::VolumeKind::MemoryEmptyDir
    );
    let st = nix::sys::statfs::statfs(&dir).unwrap();
    assert_eq!(st.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
    let size = st.blocks() * st.block_size() as u64;
    assert_eq!(size, 8 << 20);
    // Idempotent: preparing again does not stack a second tmpfs.
    volumes::prepare(&p, &f.volumes_dir(), &f.ctx.node, &f.ctx.config).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.display().to_string();
    assert_eq!(
        mounts
            .lines()
            .filter(|l| l.contains(&format!(" {d} ")))
            .count(),
        1
    );
    let s = f.spec(&p).unwrap();
    assert_eq!(
        mount(&s, "/mem").unwrap().source().as_deref(),
        Some(dir.as_path())
    );
    volumes::teardown(&f.volumes_dir()).unwrap();
    assert!(!dir.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&d), "tmpfs left mounted");
}

#[test]
fn host_path_type_checks() {
    let f = Fixture::new();
    let d = f.tmp.path();
    std::fs::write(d.join("file"), "x").unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    let check = |path: &Path, typ: &str| {
        volumes::check_host_path(path, typ, &FieldPath::from("spec.volumes[0].hostPath"))
    };
    assert!(check(&d.join("nothing"), "").is_ok(), "no type: no check");
    assert!(check(&d.join("dir"), "Directory").is_ok());
    assert!(check(&d.join("file"), "File").is_ok());
    assert!(check(&d.join("sock"), "Socket").is_ok());
    assert!(
        check(&d.join("sock"), "File").is_ok(),
        "File accepts any non-directory"
    );
    assert!(check(Path::new("/dev/null"), "CharDevice").is_ok());
    for (path, typ, msg) in [
        (d.join("file"), "Directory", "is not a directory"),
        (d.join("missing"), "Directory", "is not a directory"),
        (d.join("dir"), "File", "is not a file"),
        (d.join("missing"), "File", "is not a file"),
        (d.join("file"), "Socket", "is not a socket file"),
        (d.join("file"), "CharDevice", "is not a character device"),
        (
            PathBuf::from("/dev/null"),
            "BlockDevice",
            "is not a block device",
        ),
    ] {
        let e = check(&path, typ).unwrap_err();
        assert_eq!(e.field, "spec.volumes[0].hostPath");
        assert_eq!(e.kind, SpecErrorKind::Volume);
        assert_eq!(
            e.reason,
            format!("hostPath type check failed: {} {msg}", path.display())
        );
    }
    let e = check(&d.join("dir"), "Weird").unwrap_err();
    assert_eq!(e.field, "spec.volumes[0].hostPath.type");

    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    check(&d.join("new/deep"), "DirectoryOrCreate").unwrap();
    let md = std::fs::metadata(d.join("new/deep")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o777, 0o755);
    check(&d.join("dir/new-file"), "FileOrCreate").unwrap();
    let md = std::fs::metadata(d.join("dir/new-file")).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o777, 0o644);
    nix::sys::stat::umask(old);
    assert!(
        check(&d.join("no-parent/f"), "FileOrCreate").is_err(),
        "FileOrCreate does not create parents"
    );
    assert!(check(&d.join("file"), "DirectoryOrCreate").is_err());

    // Through prepare: the error names the volume's field.
    let p = vol_pod(
        json!([]),
        json!([{"name": "a", "emptyDir": {}},
               {"name": "b", "hostPath": {"path": d.join("file"), "type": "Directory"}}]),
    );
    let e = err(f.spec(&p));
    assert_eq!(e.field, "spec.volumes[1].hostPath");
    assert_eq!(e.kubelet_reason(), "FailedMount");
}

#[test]
fn unsupported_volume_types_are_errors() {
    let f = Fixture::new();
    for (v, field) in [
        (
            json!({"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}),
            "spec.volumes[0].projected.sources[0].serviceAccountToken",
        ),
        (
            json!({"name": "p", "persistentVolumeClaim": {"claimName": "x"}}),
            "spec.volumes[0].persistentVolumeClaim",
        ),
        (
            json!({"name": "n", "nfs": {"server": "s", "path": "/"}}),
            "spec.volumes[0].nfs",
        ),
    ] {
        let e = err(f.spec(&vol_pod(json!([]), json!([v]))));
        assert_eq!(e.field, field);
        assert_eq!(e.kind, SpecErrorKind::UnsupportedVolume);
        assert!(
            e.reason.contains("nodelet") || e.reason.contains("API server"),
            "{e}"
        );
    }
    let e = err(f.spec(&vol_pod(
        json!([]),
        json!([{"name": "h", "emptyDir": {"medium": "HugePages"}}]),
    )));
    assert_eq!(e.field, "spec.volumes[0].emptyDir.medium");
    let e = err(f.spec(&vol_pod(
        json!([{"name": "nope", "mountPath": "/x"}]),
        json!([]),
    )));
    assert_eq!(e.field, "spec.containers[0].volumeMounts[0].name");
}

#[test]
fn sub_paths_are_created_inside_and_never_escape() {
    let f = Fixture::new();
    let host = f.tmp.path().join("vol");
    let outside = f.tmp.path().join("outside");
    std::fs::create_dir_all(host.join("inner")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, host.join("escape")).unwrap();
    std::os::unix::fs::symlink("inner", host.join("ok-link")).unwrap();
    let vols = json!([{"name": "v", "hostPath": {"path": host}}]);

    let p = vol_pod(
        json!([{"name": "v", "mountPath": "/a", "subPath": "x/y"},
               {"name": "v", "mountPath": "/b", "subPath": "ok-link/z"},
               {"name": "v", "mountPath": "/c", "subPathExpr": "per-$(POD)"}]),
        vols.clone(),
    );
    let mut p = p;
    p.spec.as_mut().unwrap().containers[0].env = Some(vec![
        serde_json::from_value(
            json!({"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        )
        .unwrap(),
    ]);
    let s = f.spec(&p).unwrap();
    let canon = std::fs::canonicalize(&host).unwrap();
    assert_eq!(
        mount(&s, "/a").unwrap().source().as_deref(),
        Some(canon.join("x/y").as_path())
    );
    assert!(host.join("x/y").is_dir());
    assert_eq!(
        mount(&s, "/b").unwrap().source().as_deref(),
        Some(canon.join("inner/z").as_path())
    );
    assert!(host.join("per-web-node1").is_dir());

    for (sub, key, want) in [
        ("../x", "subPath", "must not contain '..'"),
        ("a/../../x", "subPath", "must not contain '..'"),
        ("/etc", "subPath", "must be a relative path"),
        ("escape/x", "subPath", "symlink out of the volume"),
        ("escape", "subPath", "symlink out of the volume"),
    ] {
        let p = vol_pod(
            json!([{"name": "v", "mountPath": "/a", key: sub}]),
            vols.clone(),
        );
        let e = err(f.spec(&p));
        assert_eq!(e.field, format!("spec.containers[0].volumeMounts[0].{key}"));
        assert!(e.reason.contains(want), "{sub}: {e}");
        assert_eq!(e.kubelet_reason(), "CreateContainerConfigError");
    }
    assert!(
        !outside.join("x").exists(),
        "nothing created outside the volume"
    );
}

#[test]
fn mount_propagation_and_overrides() {
    let f = Fixture::new();
    let host = f.tmp.path().join("h");
    std::fs::create_dir(&host).unwrap();
    let vols = json!([{"name": "v", "hostPath": {"path": host}}]);
    let p = vol_pod(
        json!([{"name": "v", "mountPath": "/b", "mountPropagation": "Bidirectional"}]),
        vols.clone(),
    );
    let e = err(f.spec(&p));
    assert_eq!(
        e.field,
        "spec.containers[0].volumeMounts[0].mountPropagation"
    );
    let mut p = p;
    p.spec.as_mut().unwrap().containers[0].security_context =
        Some(serde_json::from_value(json!({"privileged": true})).unwrap());
    let s = f.spec(&p).unwrap();
    assert_eq!(opts(mount(&s, "/b").unwrap()), ["rbind", "rshared", "rw"]);
    assert_eq!(
        s.linux().as_ref().unwrap().rootfs_propagation().as_deref(),
        Some("rshared")
    );

    // A volume at /etc/hosts replaces the pod's file; depth order puts parents first.
    let p = vol_pod(
        json!([{"name": "v", "mountPath": "/etc/hosts", "subPath": "hosts"},
               {"name": "v", "mountPath": "/x/y/z"}, {"name": "v", "mountPath": "/x"}]),
        vols,
    );
    let s = f.spec(&p).unwrap();
    let all = s.mounts().as_ref().unwrap();
    assert_eq!(
        all.iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .count(),
        1
    );
    assert!(
        mount(&s, "/etc/hosts")
            .unwrap()
            .source()
            .as_ref()
            .unwrap()
            .starts_with(std::fs::canonicalize(&host).unwrap())
    );
    let pos = |d: &str| {
        all.iter()
            .position(|m| m.destination() == Path::new(d))
            .unwrap()
    };
    assert!(pos("/x") < pos("/x/y/z"));
    assert!(pos("/proc") < pos("/etc/hosts"));
}

// ---- security ----

#[test]
fn users_and_groups() {
    let f = Fixture::new();
    let p = pod(
        json!({"securityContext": {"runAsUser": 1000}}),
        json!({"securityContext": {"runAsUser": 5, "runAsGroup": 3000,
            "supplementalGroups": [4000, 3000], "fsGroup": 5000}}),
    );
    let s = f.spec(&p).unwrap();
    let u = s.process().as_ref().unwrap().user();
    assert_eq!(u.uid(), 1000, "container wins");
    assert_eq!(u.gid(), 3000, "pod runAsGroup");
    // containerd: the primary group first, the image's groups of the user, then
    // supplementalGroups and fsGroup.
    assert_eq!(
        u.additional_gids().clone().unwrap(),
        [3000, 2000, 4000, 5000]
    );

    // The image's user by name.
    let mut img = image();
    img.user = Some("app".into());
    let s = f
        .spec_with(&pod(json!({}), json!({})), ContainerRef::App(0), Some(&img))
        .unwrap();
    let u = s.process().as_ref().unwrap().user();
    assert_eq!((u.uid(), u.gid()), (1000, 1000));
}

#[test]
fn run_as_non_root_is_verified() {
    let f = Fixture::new();
    let nr = json!({"securityContext": {"runAsNonRoot": true}});
    let e = err(f.spec(&pod(
        json!({"securityContext": {"runAsUser": 0}}),
        nr.clone(),
    )));
    assert_eq!(e.field, "spec.containers[0].securityContext.runAsUser");
    assert_eq!(
        e.reason,
        "container's runAsUser breaks non-root policy (pod: \"web-node1_default(u-1)\", container: c)"
    );
    assert_eq!(e.kubelet_reason(), "CreateContainerConfigError");
    let e = err(f.spec(&pod(json!({}), nr.clone())));
    assert_eq!(
        e.reason,
        "container has runAsNonRoot and image will run as root (pod: \"web-node1_default(u-1)\", container: c)"
    );
    let mut img = image();
    img.user = Some("0:0".into());
    assert!(
        err(f.spec_with(
            &pod(json!({}), nr.clone()),
            ContainerRef::App(0),
            Some(&img)
        ))
        .reason
        .contains("image will run as root")
    );
    img.user = Some("app".into());
    assert!(
        err(f.spec_with(
            &pod(json!({}), nr.clone()),
            ContainerRef::App(0),
            Some(&img)
        ))
        .reason
        .contains("image has non-numeric user (app)")
    );
    img.user = Some("1000".into());
    assert!(
        f.spec_with(
            &pod(json!({}), nr.clone()),
            ContainerRef::App(0),
            Some(&img)
        )
        .is_ok()
    );
    assert!(
        f.spec(&pod(json!({"securityContext": {"runAsUser": 1000}}), nr))
            .is_ok()
    );
}

fn cap(s: &str) -> Capability {
    use std::str::FromStr;
    Capability::from_str(s).unwrap()
}

#[test]
fn capabilities_add_drop_all() {
    let f = Fixture::new();
    let s = f.spec(&pod(json!({}), json!({}))).unwrap();
    let c = caps(&s);
    assert_eq!(c.len(), 14, "containerd's default set");
    assert!(c.contains(&cap("NET_RAW")) && !c.contains(&cap("SYS_ADMIN")));
    let pc = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    assert_eq!(pc.effective(), pc.bounding());
    assert_eq!(pc.permitted(), pc.bounding());
    assert!(pc.inheritable().is_none() && pc.ambient().is_none());

    let s = f
        .spec(&pod(
            json!({"securityContext": {"capabilities": {"add": ["SYS_ADMIN", "CAP_NET_ADMIN"], "drop": ["NET_RAW", "kill"]}}}),
            json!({}),
        ))
        .unwrap();
    let c = caps(&s);
    assert!(c.contains(&cap("SYS_ADMIN")) && c.contains(&cap("NET_ADMIN")));
    assert!(!c.contains(&cap("NET_RAW")) && !c.contains(&cap("KILL")));
    assert_eq!(c.len(), 14);

    let s = f
        .spec(&pod(
            json!({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}),
            json!({}),
        ))
        .unwrap();
    assert_eq!(
        caps(&s).into_iter().collect::<Vec<_>>(),
        [cap("NET_BIND_SERVICE")]
    );
    let s = f
        .spec(&pod(
            json!({"securityContext": {"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}}}),
            json!({}),
        ))
        .unwrap();
    let c = caps(&s);
    assert!(c.contains(&cap("SYS_ADMIN")) && !c.contains(&cap("CHOWN")));
    assert!(c.len() > 30);

    let e = err(f.spec(&pod(
        json!({"securityContext": {"capabilities": {"add": ["CHOWN", "FLY"]}}}),
        json!({}),
    )));
    assert_eq!(
        e.field,
        "spec.containers[0].securityContext.capabilities.add[1]"
    );
}

#[test]
fn privileged_containers() {
    let f = Fixture::new();
    let p = pod(
        json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}}}),
        json!({}),
    );
    let s = f.spec(&p).unwrap();
    assert!(caps(&s).contains(&cap("SYS_ADMIN")));
    let l = s.linux().as_ref().unwrap();
    assert!(l.seccomp().is_none());
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    let devs = l.resources().as_ref().unwrap().devices().clone().unwrap();
    assert_eq!(devs.len(), 1);
    assert!(devs[0].allow());
    let host_devs = l.devices().clone().unwrap();
    assert!(host_devs.iter().any(|d| d.path() == Path::new("/dev/null")));
    assert!(!host_devs.iter().any(|d| d.path().starts_with("/dev/pts")));
    assert!(opts(mount(&s, "/sys").unwrap()).contains(&"rw".into()));
    assert!(opts(mount(&s, "/sys/fs/cgroup").unwrap()).contains(&"rw".into()));
    assert_eq!(
        s.process().as_ref().unwrap().no_new_privileges(),
        Some(false)
    );
}

#[test]
fn read_only_root_and_no_new_privileges() {
    let f = Fixture::new();
    let s = f
        .spec(&pod(
            json!({"securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}}),
            json!({}),
        ))
        .unwrap();
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(
        s.process().as_ref().unwrap().no_new_privileges(),
        Some(true)
    );
    let s = f.spec(&pod(json!({}), json!({}))).unwrap();
    assert_eq!(
        s.process().as_ref().unwrap().no_new_privileges(),
        Some(false)
    );
}

#[test]
fn seccomp_profiles() {
    let f = Fixture::new();
    let sp = |v: Value| pod(json!({"securityContext": {"seccompProfile": v}}), json!({}));
    let s = f.spec(&sp(json!({"type": "RuntimeDefault"}))).unwrap();
    let sc = s.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(
        sc,
        noderun_seccomp::default_profile(
            &security::capabilities(&security::Effective::default()).unwrap()
        )
    );
    assert!(
        f.spec(&sp(json!({"type": "Unconfined"})))
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .is_none()
    );
    // Pod level applies when the container sets none.
    let p = pod(
        json!({}),
        json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}),
    );
    assert!(
        f.spec(&p)
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .is_some()
    );

    std::fs::write(
        f.ctx.seccomp_root.join("profiles/deny-mkdir.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let s = f
        .spec(&sp(
            json!({"type": "Localhost", "localhostProfile": "profiles/deny-mkdir.json"}),
        ))
        .unwrap();
    let sc = s.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(
        sc.syscalls().as_ref().unwrap()[0].names(),
        &["mkdir", "mkdirat"]
    );

    let e = err(f.spec(&sp(
        json!({"type": "Localhost", "localhostProfile": "missing.json"}),
    )));
    assert_eq!(
        e.field,
        "spec.containers[0].securityContext.seccompProfile.localhostProfile"
    );
    assert!(e.reason.contains("missing.json"), "{e}");
    let e = err(f.spec(&sp(
        json!({"type": "Localhost", "localhostProfile": "../x.json"}),
    )));
    assert!(e.reason.contains(".."), "{e}");
    std::fs::write(
        f.ctx.seccomp_root.join("bad.json"),
        r#"{"defaultAction": 3}"#,
    )
    .unwrap();
    let e = err(f.spec(&sp(
        json!({"type": "Localhost", "localhostProfile": "bad.json"}),
    )));
    assert!(e.reason.contains("defaultAction"), "{e}");
}

#[test]
fn sysctls_from_the_pod() {
    let f = Fixture::new();
    let p = pod(
        json!({}),
        json!({"securityContext": {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
                                                {"name": "kernel/shm_rmid_forced", "value": "1"}]}}),
    );
    let s = f.spec(&p).unwrap();
    let sys = s.linux().as_ref().unwrap().sysctl().clone().unwrap();
    assert_eq!(sys["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(sys["kernel.shm_rmid_forced"], "1");
    let p = pod(
        json!({}),
        json!({"hostNetwork": true, "securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]}}),
    );
    let e = err(f.spec(&p));
    assert_eq!(e.field, "spec.securityContext.sysctls[0].name");
    assert!(e.reason.contains("hostNetwork"), "{e}");
    let p = pod(
        json!({}),
        json!({"securityContext": {"sysctls": [{"name": "vm.swappiness", "value": "1"}]}}),
    );
    assert!(err(f.spec(&p)).reason.contains("not namespaced"));
}

// ---- resources ----

fn res_pod(containers: Value, inits: Value) -> Pod {
    let mut p = pod(json!({}), json!({}));
    let s = p.spec.as_mut().unwrap();
    s.containers = serde_json::from_value(containers).unwrap();
    s.init_containers = serde_json::from_value(inits).unwrap();
    apply_defaults(&mut p);
    p
}

fn c(name: &str, req: Value, lim: Value) -> Value {
    json!({"name": name, "image": "busybox", "resources": {"requests": req, "limits": lim}})
}

#[test]
fn container_resources_map_like_the_kubelet() {
    let f = Fixture::new();
    let s = f
        .spec(&pod(
            json!({"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}),
            json!({}),
        ))
        .unwrap();
    let r = s.linux().as_ref().unwrap().resources().clone().unwrap();
    let cpu = r.cpu().clone().unwrap();
    assert_eq!(cpu.shares(), Some(256));
    assert_eq!(cpu.quota(), Some(50_000));
    assert_eq!(cpu.period(), Some(100_000));
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(128 << 20));
    assert_eq!(r.pids().as_ref().unwrap().limit(), 1024);
    assert!(r.memory().as_ref().unwrap().swap().is_none());

    let mut f2 = Fixture::new();
    f2.ctx.no_swap = true;
    let s = f2
        .spec(&pod(
            json!({"resources": {"limits": {"memory": "128Mi"}}}),
            json!({}),
        ))
        .unwrap();
    let r = s.linux().as_ref().unwrap().resources().clone().unwrap();
    assert_eq!(
        r.memory().as_ref().unwrap().swap(),
        Some(128 << 20),
        "NoSwap"
    );

    let s = f.spec(&pod(json!({}), json!({}))).unwrap();
    let r = s.linux().as_ref().unwrap().resources().clone().unwrap();
    assert_eq!(
        r.cpu().as_ref().unwrap().shares(),
        Some(2),
        "no request: min shares"
    );
    assert!(r.cpu().as_ref().unwrap().quota().is_none());
    assert!(r.memory().is_none());

    assert_eq!(resources::cpu_shares(1), 2);
    assert_eq!(resources::cpu_shares(1000), 1024);
    assert_eq!(resources::cpu_shares(10_000_000), resources::MAX_SHARES);
    assert_eq!(
        resources::cpu_quota(5, 100_000),
        Some(1000),
        "at least 1 ms"
    );
    assert_eq!(resources::cpu_quota(0, 100_000), None);

    let e = err(f.spec(&pod(
        json!({"resources": {"limits": {"memory": "lots"}}}),
        json!({}),
    )));
    assert_eq!(e.field, "spec.containers[0].resources.limits[memory]");
}

#[test]
fn qos_classes() {
    use resources::{QosClass::*, qos_class};
    let g = res_pod(
        json!([c("a", json!({}), json!({"cpu": "1", "memory": "1Gi"}))]),
        json!([]),
    );
    assert_eq!(qos_class(&g).unwrap(), Guaranteed);
    let b = res_pod(
        json!([c(
            "a",
            json!({"cpu": "500m"}),
            json!({"cpu": "1", "memory": "1Gi"})
        )]),
        json!([]),
    );
    assert_eq!(qos_class(&b).unwrap(), Burstable);
    let b2 = res_pod(
        json!([c("a", json!({}), json!({"cpu": "1", "memory": "1Gi"})), {"name": "b", "image": "x"}]),
        json!([]),
    );
    assert_eq!(
        qos_class(&b2).unwrap(),
        Burstable,
        "one container without limits"
    );
    let be = res_pod(json!([{"name": "a", "image": "x"}]), json!([]));
    assert_eq!(qos_class(&be).unwrap(), BestEffort);
    let b3 = res_pod(
        json!([{"name": "a", "image": "x"}]),
        json!([c("i", json!({"memory": "10Mi"}), json!({}))]),
    );
    assert_eq!(qos_class(&b3).unwrap(), Burstable, "init containers count");
    assert_eq!(Guaranteed.as_str(), "Guaranteed");
}

#[test]
fn oom_score_adj_by_qos() {
    let f = Fixture::new();
    let adj = |p: &Pod| {
        f.spec(p)
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .oom_score_adj()
            .unwrap()
    };
    assert_eq!(
        adj(&pod(
            json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}),
            json!({})
        )),
        -997
    );
    assert_eq!(adj(&pod(json!({}), json!({}))), 1000);
    // Burstable: 1000 - 1000 * 1Gi / 4Gi = 750.
    assert_eq!(
        adj(&pod(
            json!({"resources": {"requests": {"memory": "1Gi"}}}),
            json!({})
        )),
        750
    );
    assert_eq!(
        adj(&pod(
            json!({"resources": {"requests": {"cpu": "1m"}}}),
            json!({})
        )),
        999
    );
    assert_eq!(
        adj(&pod(
            json!({"resources": {"requests": {"memory": "4Gi"}}}),
            json!({})
        )),
        3
    );
    assert_eq!(
        adj(&pod(
            json!({}),
            json!({"priorityClassName": "system-node-critical"})
        )),
        -997
    );
    // A sidecar takes the lowest score of the app containers.
    let p = res_pod(
        json!([c("a", json!({"memory": "2Gi"}), json!({}))]),
        json!([{"name": "s", "image": "x", "restartPolicy": "Always", "command": ["true"]}]),
    );
    let s = f.spec_with(&p, ContainerRef::Init(0), None).unwrap();
    assert_eq!(s.process().as_ref().unwrap().oom_score_adj(), Some(500));
    // Restricted to the agent's own score (no CAP_SYS_RESOURCE).
    let mut f = f;
    f.ctx.oom_score_adj_floor = Some(0);
    let s = f
        .spec(&pod(
            json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}),
            json!({}),
        ))
        .unwrap();
    assert_eq!(s.process().as_ref().unwrap().oom_score_adj(), Some(0));
}

#[test]
fn pod_cgroup_resources() {
    // Apps summed; the larger init container wins over the sum where it is larger.
    let p = res_pod(
        json!([
            c(
                "a",
                json!({"cpu": "100m", "memory": "10Mi"}),
                json!({"cpu": "200m", "memory": "20Mi"})
            ),
            c(
                "b",
                json!({"cpu": "100m", "memory": "10Mi"}),
                json!({"cpu": "200m", "memory": "20Mi"})
            )
        ]),
        json!([c(
            "i",
            json!({"cpu": "1", "memory": "5Mi"}),
            json!({"cpu": "1", "memory": "5Mi"})
        )]),
    );
    let t = resources::pod_totals(&p).unwrap();
    assert_eq!(t.cpu_request_millis, 1000);
    assert_eq!(t.cpu_limit_millis, 1000);
    assert_eq!(t.memory_request, 20 << 20);
    assert_eq!(t.memory_limit, 40 << 20);
    let r = resources::pod_resources(&p, Some(100)).unwrap();
    let cpu = r.cpu().clone().unwrap();
    assert_eq!(cpu.shares(), Some(1024));
    assert_eq!(cpu.quota(), Some(100_000));
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(40 << 20));
    assert_eq!(r.pids().as_ref().unwrap().limit(), 100);

    // A sidecar runs alongside later init containers and the apps.
    let p = res_pod(
        json!([c("a", json!({"cpu": "100m"}), json!({}))]),
        json!([{"name": "s", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
               c("i", json!({"cpu": "500m"}), json!({}))]),
    );
    let t = resources::pod_totals(&p).unwrap();
    assert_eq!(t.cpu_request_millis, 800, "max(100+300, 500+300)");
    let r = resources::pod_resources(&p, None).unwrap();
    assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(819));
    assert!(
        r.cpu().as_ref().unwrap().quota().is_none(),
        "Burstable without all cpu limits"
    );
    assert!(r.memory().is_none() && r.pids().is_none());

    let be = res_pod(json!([{"name": "a", "image": "x"}]), json!([]));
    let r = resources::pod_resources(&be, None).unwrap();
    assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(2));
}

/// A host that enforces AppArmor, faked: securityfs's `profiles` lists `k8s-web`, and a
/// stand-in `apparmor_parser` "loads" nodelet's default profile by listing it there.
fn apparmor_host(f: &Fixture) -> crate::apparmor::Host {
    use std::os::unix::fs::PermissionsExt;
    let sfs = f.tmp.path().join("securityfs");
    std::fs::create_dir_all(&sfs).unwrap();
    let profiles = sfs.join("profiles");
    std::fs::write(&profiles, "k8s-web (enforce)\n").unwrap();
    let parser = f.tmp.path().join("apparmor_parser");
    std::fs::write(
        &parser,
        format!(
            "#!/bin/sh\necho 'nodelet-default (enforce)' >> {}\n",
            profiles.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&parser, std::fs::Permissions::from_mode(0o755)).unwrap();
    crate::apparmor::Host {
        support: crate::apparmor::Support::Enabled,
        parser: Some(parser),
        securityfs: sfs,
        policy_dir: f.tmp.path().join("apparmor.d"),
        state_dir: f.tmp.path().join("state/apparmor"),
    }
}

fn with_annotation(mut p: Pod, container: &str, value: &str) -> Pod {
    p.metadata.annotations.get_or_insert_default().insert(
        format!("container.apparmor.security.beta.kubernetes.io/{container}"),
        value.into(),
    );
    p
}

/// The profile each container gets: the kubelet's precedence (container field, annotation,
/// pod field) and containerd's rules (default profile unless privileged or Unconfined;
/// Localhost only if loaded).
#[test]
fn app_armor_profiles() {
    let mut f = Fixture::new();
    f.ctx.apparmor = apparmor_host(&f);
    let profile = |p: &Pod| -> Option<String> {
        f.spec(p)
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .apparmor_profile()
            .clone()
    };
    let local = |n: &str| json!({"securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": n}}});
    let ty = |t: &str| json!({"securityContext": {"appArmorProfile": {"type": t}}});
    let privileged = json!({"securityContext": {"privileged": true}});
    let cases: Vec<(&str, Pod, Option<&str>)> = vec![
        (
            "unset: the default profile",
            pod(json!({}), json!({})),
            Some("nodelet-default"),
        ),
        (
            "RuntimeDefault",
            pod(ty("RuntimeDefault"), json!({})),
            Some("nodelet-default"),
        ),
        ("Unconfined", pod(ty("Unconfined"), json!({})), None),
        (
            "privileged, unset",
            pod(privileged.clone(), json!({})),
            None,
        ),
        (
            "privileged, RuntimeDefault",
            pod(
                json!({"securityContext": {"privileged": true, "appArmorProfile": {"type": "RuntimeDefault"}}}),
                json!({}),
            ),
            None,
        ),
        (
            "privileged, Localhost: applied (containerd)",
            pod(
                json!({"securityContext": {"privileged": true, "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}}}),
                json!({}),
            ),
            Some("k8s-web"),
        ),
        (
            "container field over pod field",
            pod(local("k8s-web"), ty("RuntimeDefault")),
            Some("k8s-web"),
        ),
        (
            "pod field",
            pod(json!({}), local("k8s-web")),
            Some("k8s-web"),
        ),
        ("pod Unconfined", pod(json!({}), ty("Unconfined")), None),
        (
            "annotation localhost/",
            with_annotation(pod(json!({}), json!({})), "c", "localhost/k8s-web"),
            Some("k8s-web"),
        ),
        (
            "annotation over pod field",
            with_annotation(pod(json!({}), ty("Unconfined")), "c", "localhost/k8s-web"),
            Some("k8s-web"),
        ),
        (
            "container field over annotation",
            with_annotation(pod(ty("Unconfined"), json!({})), "c", "localhost/k8s-web"),
            None,
        ),
        (
            "annotation unconfined",
            with_annotation(pod(json!({}), json!({})), "c", "unconfined"),
            None,
        ),
        (
            "annotation runtime/default",
            with_annotation(pod(json!({}), ty("Unconfined")), "c", "runtime/default"),
            Some("nodelet-default"),
        ),
        (
            "another container's annotation",
            with_annotation(pod(json!({}), json!({})), "other", "unconfined"),
            Some("nodelet-default"),
        ),
        (
            "an invalid annotation value is ignored",
            with_annotation(pod(json!({}), local("k8s-web")), "c", "docker/default"),
            Some("k8s-web"),
        ),
    ];
    for (what, p, want) in cases {
        assert_eq!(profile(&p).as_deref(), want, "{what}");
    }
    let text =
        std::fs::read_to_string(f.tmp.path().join("state/apparmor/nodelet-default")).unwrap();
    assert!(text.contains("profile nodelet-default "), "{text}");

    // A Localhost profile the host has not loaded: CreateContainerError naming it.
    let e = err(f.spec(&pod(local("k8s-missing"), json!({}))));
    assert_eq!(e.kind, SpecErrorKind::Create);
    assert_eq!(
        e.field,
        "spec.containers[0].securityContext.appArmorProfile"
    );
    assert!(
        e.reason
            .starts_with("apparmor profile not found k8s-missing"),
        "{e}"
    );
    let e = err(f.spec(&with_annotation(
        pod(json!({}), json!({})),
        "c",
        "localhost/k8s-gone",
    )));
    assert_eq!(e.kind, SpecErrorKind::Create);
    assert_eq!(
        e.field,
        "metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]"
    );
    assert!(
        e.reason.starts_with("apparmor profile not found k8s-gone"),
        "{e}"
    );
    // Localhost without a name, an unknown type: configuration errors.
    let e = err(f.spec(&pod(json!({}), ty("Localhost"))));
    assert_eq!(e.kind, SpecErrorKind::Config);
    assert_eq!(
        e.field,
        "spec.securityContext.appArmorProfile.localhostProfile"
    );
    let e = err(f.spec(&pod(ty("Strict"), json!({}))));
    assert_eq!(
        e.field,
        "spec.containers[0].securityContext.appArmorProfile.type"
    );
}

/// A host without AppArmor: nothing applied, asking for a profile is an error (admission
/// keeps such pods Pending first). A kernel with it but no apparmor_parser: the default
/// cannot be loaded, so unset means none and RuntimeDefault is an error.
#[test]
fn app_armor_without_apparmor() {
    use crate::apparmor::Support;
    let mut f = Fixture::new();
    let local = json!({"securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}}});
    let ty = |t: &str| json!({"securityContext": {"appArmorProfile": {"type": t}}});
    let none = |f: &Fixture, p: Pod| {
        f.spec(&p)
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .apparmor_profile()
            .is_none()
    };
    assert!(none(&f, pod(json!({}), json!({}))));
    assert!(none(&f, pod(ty("Unconfined"), json!({}))));
    for p in [
        pod(ty("RuntimeDefault"), json!({})),
        pod(local.clone(), json!({})),
    ] {
        let e = err(f.spec(&p));
        assert_eq!(e.kind, SpecErrorKind::Create);
        assert_eq!(
            e.reason,
            "apparmor is not supported: AppArmor is not enabled on the host"
        );
    }
    f.ctx.apparmor = crate::apparmor::Host {
        support: Support::NoParser,
        parser: None,
        ..apparmor_host(&f)
    };
    assert!(none(&f, pod(json!({}), json!({}))));
    let e = err(f.spec(&pod(ty("RuntimeDefault"), json!({}))));
    assert!(e.reason.contains("apparmor_parser is not installed"), "{e}");
    assert_eq!(
        f.spec(&pod(local, json!({})))
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .apparmor_profile()
            .as_deref(),
        Some("k8s-web")
    );
}

#[test]
fn user_namespaces_refused() {
    let f = Fixture::new();
    let e = err(f.spec(&pod(json!({}), json!({"hostUsers": false}))));
    assert_eq!(e.field, "spec.hostUsers");
}

#[test]
fn cgroups_paths() {
    assert_eq!(cgroups_path("pods/p1/", "c"), Path::new("pods/p1/c"));
    assert_eq!(
        cgroups_path("/nodelet/pods/p1", "c"),
        Path::new("/nodelet/pods/p1/c")
    );
    assert_eq!(cgroups_path("", "c"), Path::new("c"));
}

#[test]
fn missing_untyped_host_path_is_created_as_a_directory() {
    let f = Fixture::new();
    let host = f.tmp.path().join("not/yet");
    let p = vol_pod(
        json!([{"name": "v", "mountPath": "/v"}]),
        json!([{"name": "v", "hostPath": {"path": host}}]),
    );
    let s = f.spec(&p).unwrap();
    assert!(host.is_dir(), "as containerd does for bind sources");
    assert_eq!(
        mount(&s, "/v").unwrap().source().as_deref(),
        Some(host.as_path())
    );
}

#[test]
fn downward_api_volumes() {
    let f = Fixture::new();
    let mut p = vol_pod(
        json!([{"name": "info", "mountPath": "/etc/podinfo"}]),
        json!([{"name": "info", "downwardAPI": {"defaultMode": 0o640, "items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
            {"path": "meta/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600},
            {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        ]}}]),
    );
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("tier".into(), "front \"end\"".into());
    let s = f.spec(&p).unwrap();
    let dir = f
        .volumes_dir()
        .join(volumes::DOWNWARD_API_PLUGIN)
        .join("info");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    assert_eq!(read("labels"), "app=\"web\"\ntier=\"front \\\"end\\\"\"");
    assert!(read("annotations").contains("note=\"hi\""));
    assert_eq!(read("meta/name"), "web-node1");
    assert_eq!(read("app"), "web");
    assert_eq!(read("mem"), "4096", "unset limit: node capacity");
    let mode = |n: &str| std::fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("labels"), 0o640);
    assert_eq!(mode("meta/name"), 0o600);
    let m = mount(&s, "/etc/podinfo").unwrap();
    assert_eq!(opts(m), ["rbind", "rprivate", "ro"], "always read-only");

    for (item, field) in [
        (
            json!({"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}),
            "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath",
        ),
        (
            json!({"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}),
            "spec.volumes[0].downwardAPI.items[0].path",
        ),
        (
            json!({"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}),
            "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName",
        ),
    ] {
        let p = vol_pod(
            json!([]),
            json!([{"name": "d", "downwardAPI": {"items": [item]}}]),
        );
        assert_eq!(err(f.spec(&p)).field, field);
    }
    volumes::teardown(&f.volumes_dir()).unwrap();
    assert!(!dir.exists());
}

#[test]
fn pod_level_resources_set_the_pod_cgroup_and_class() {
    let mut p = res_pod(
        json!([c("a", json!({"cpu": "100m"}), json!({})), {"name": "b", "image": "x"}]),
        json!([]),
    );
    p.spec.as_mut().unwrap().resources =
        serde_json::from_value(json!({"limits": {"cpu": "500m", "memory": "64Mi"}})).unwrap();
    let t = resources::pod_totals(&p).unwrap();
    assert_eq!((t.cpu_request_millis, t.cpu_limit_millis), (500, 500));
    assert_eq!((t.memory_request, t.memory_limit), (64 << 20, 64 << 20));
    assert_eq!(resources::qos_class(&p).unwrap(), QosClass::Guaranteed);
    let r = resources::pod_resources(&p, None).unwrap();
    assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
    // Requests below the limits: Burstable, still limited.
    p.spec.as_mut().unwrap().resources = serde_json::from_value(
        json!({"requests": {"memory": "32Mi"}, "limits": {"memory": "64Mi"}}),
    )
    .unwrap();
    assert_eq!(resources::qos_class(&p).unwrap(), QosClass::Burstable);
    let r = resources::pod_resources(&p, None).unwrap();
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
    assert_eq!(resources::pod_totals(&p).unwrap().cpu_request_millis, 100);
}

#[test]
fn config_map_secret_and_projected_volumes() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (secret volumes are tmpfs mounts)");
        return;
    }
    let mut f = Fixture::new();
    f.ctx.config = config_objects("blue");
    let p = vol_pod(
        json!([{"name": "cfg", "mountPath": "/etc/cfg"},
               {"name": "one", "mountPath": "/etc/color", "subPath": "color"},
               {"name": "sec", "mountPath": "/etc/sec"},
               {"name": "all", "mountPath": "/etc/all"}]),
        json!([
            {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o600,
                "items": [{"key": "color", "path": "conf/color.txt", "mode": 0o440}, {"key": "size", "path": "size"}]}},
            {"name": "one", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "creds"}},
            {"name": "all", "projected": {"sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "color", "path": "color"}]}},
                {"secret": {"name": "creds", "items": [{"key": "user", "path": "user"}]}},
                {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}},
        ]),
    );
    let s = f.spec(&p).unwrap();
    let vd = f.volumes_dir();
    let cfg = vd.join(config_volumes::CONFIG_MAP_PLUGIN).join("cfg");
    let read = |d: &Path, n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    let mode = |d: &Path, n: &str| std::fs::metadata(d.join(n)).unwrap().mode() & 0o7777;
    assert_eq!(read(&cfg, "conf/color.txt"), "blue");
    assert_eq!(mode(&cfg, "conf/color.txt"), 0o440);
    assert_eq!(mode(&cfg, "size"), 0o600);
    assert_eq!(
        std::fs::read_link(cfg.join("size")).unwrap(),
        Path::new("..data/size")
    );
    let sec = vd.join(config_volumes::SECRET_PLUGIN).join("sec");
    assert_eq!(read(&sec, "user"), "admin");
    assert_eq!(mode(&sec, "pass"), 0o644, "defaultMode 0644, secrets too");
    let fs = nix::sys::statfs::statfs(&sec).unwrap();
    assert_eq!(fs.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
    let all = vd.join(config_volumes::PROJECTED_PLUGIN).join("all");
    assert_eq!(
        (read(&all, "color"), read(&all, "user"), read(&all, "name")),
        ("blue".into(), "admin".into(), "web-node1".into())
    );
    for (dest, src) in [("/etc/cfg", &cfg), ("/etc/sec", &sec), ("/etc/all", &all)] {
        let m = mount(&s, dest).unwrap();
        assert_eq!(m.source().as_deref(), Some(src.as_path()), "{dest}");
        assert_eq!(opts(m), ["rbind", "rprivate", "ro"], "{dest}: read-only");
    }
    // subPath: the file itself, in the current data directory (not updated later).
    let one = vd.join(config_volumes::CONFIG_MAP_PLUGIN).join("one");
    let sub = mount(&s, "/etc/color").unwrap().source().clone().unwrap();
    assert!(
        sub.starts_with(std::fs::canonicalize(&one).unwrap()),
        "{sub:?}"
    );
    assert!(sub.to_string_lossy().contains("/..20"), "{sub:?}");

    // An update: rewritten with a new `..data`, the subPath's file left alone.
    let before = std::fs::read_link(one.join("..data")).unwrap();
    let errs = volumes::refresh(&p, &vd, &f.ctx.node, &config_objects("red"));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(read(&cfg, "conf/color.txt"), "red");
    assert_eq!(read(&all, "color"), "red");
    assert_ne!(std::fs::read_link(one.join("..data")).unwrap(), before);
    // The objects gone: the files stay, refresh says why.
    let errs = volumes::refresh(&p, &vd, &f.ctx.node, &Default::default());
    assert_eq!(
        errs[0].to_string(),
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"cfg\" not found"
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert_eq!(read(&cfg, "conf/color.txt"), "red");

    volumes::teardown(&vd).unwrap();
    assert!(!sec.exists() && !cfg.exists() && !all.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&vd.display().to_string()),
        "tmpfs left mounted"
    );
}

#[test]
fn missing_objects_fail_the_mount_in_the_kubelets_words() {
    let f = Fixture::new();
    for (v, want) in [
        (
            json!({"name": "x", "configMap": {"name": "x"}}),
            "MountVolume.SetUp failed for volume \"x\" : configmap \"x\" not found",
        ),
        (
            json!({"name": "c", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "k"}]}}),
            "MountVolume.SetUp failed for volume \"c\" : configmap \"cfg\" not found",
        ),
    ] {
        let e = err(f.spec(&vol_pod(json!([]), json!([v]))));
        assert_eq!(e.to_string(), want);
        assert_eq!(e.kubelet_reason(), "FailedMount");
        assert_eq!(e.kind, SpecErrorKind::Volume);
    }
    // Optional: an empty volume.
    let p = vol_pod(
        json!([{"name": "o", "mountPath": "/o"}]),
        json!([{"name": "o", "configMap": {"name": "nope", "optional": true}}]),
    );
    f.spec(&p).unwrap();
    let dir = f
        .volumes_dir()
        .join(config_volumes::CONFIG_MAP_PLUGIN)
        .join("o");
    assert!(dir.join("..data").is_dir());
}

#[test]
fn systemd_scopes_stop_after_the_grace_period() {
    let mut ps = k8s_openapi::api::core::v1::PodSpec::default();
    assert_eq!(super::systemd_annotations("/nodelet/pod1", &ps), None);
    let a = super::systemd_annotations("kubepods-pod1.slice", &ps).unwrap();
    assert_eq!(
        a.get("org.systemd.property.TimeoutStopUSec")
            .map(String::as_str),
        Some("uint64 30000000"),
        "the kubelet's default grace period, 30 s"
    );
    ps.termination_grace_period_seconds = Some(2);
    let a = super::systemd_annotations("kubepods-pod1.slice", &ps).unwrap();
    assert_eq!(
        a.get("org.systemd.property.TimeoutStopUSec")
            .map(String::as_str),
        Some("uint64 2000000")
    );
    assert_eq!(
        cgroups_path("kubepods-pod1.slice", "c"),
        Path::new("kubepods-pod1.slice:nodelet:c")
    );
}
