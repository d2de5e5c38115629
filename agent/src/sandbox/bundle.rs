//! The pause sandbox as an OCI bundle the shim runs: `config.json` plus a `rootfs/` that is an
//! empty directory. Inside, the root is read-only and holds only a read-only bind mount of the
//! `nodelet-pause` binary at `/pause` (plus the host's library directories when the binary is
//! dynamically linked), `/proc` (the runtime needs it; containerd's masked and read-only
//! paths), a small tmpfs `/dev`, no capabilities, no_new_privs, containerd's
//! default seccomp profile, uid/gid 65535 (as the upstream pause image). Namespaces: mount
//! always; pid unless hostPID (the pause is pid 1 and reaps); net and uts unless hostNetwork;
//! ipc unless hostIPC. Hostname = the pod's hostname when the uts namespace is new.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::error::{Error, Result};
use super::netns::NamespaceOptions;
use super::paths;
use crate::cni::{POD_IFNAME, PodNetwork};

/// Where the pause binary appears inside the sandbox.
pub const PAUSE_PATH: &str = "/pause";
/// uid and gid the pause runs as (the upstream pause image's user).
pub const PAUSE_USER: u32 = 65535;
/// containerd's default masked paths below /proc (nothing else is mounted to mask).
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
];
/// containerd's default read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
/// Host library directories bound into the sandbox for a dynamically linked pause binary
/// (symlinks among them, e.g. merged-usr `/lib -> usr/lib`, are recreated, not bound).
pub const LIBRARY_DIRS: &[&str] = &[
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
];

/// Everything needed to write one pod's sandbox bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The sandbox's container id (noderun id, CNI_CONTAINERID, K8S_POD_INFRA_CONTAINER_ID).
    pub id: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// The pod's hostname (see [`pod_hostname`]); ignored with hostNetwork.
    pub hostname: String,
    pub namespaces: NamespaceOptions,
    /// The pod's cgroup (OCI `cgroupsPath` syntax: relative = below the shim's own cgroup);
    /// the sandbox's cgroup is `<cgroup_parent>/<id>`.
    pub cgroup_parent: PathBuf,
    /// The host's `nodelet-pause` binary.
    pub pause_binary: PathBuf,
    /// nodelet's rootDir; the bundle goes to `<rootDir>/pods/<uid>/sandbox`.
    pub root_dir: PathBuf,
    /// Namespaced sysctls of the pod (`spec.securityContext.sysctls`), set in the sandbox.
    pub sysctls: BTreeMap<String, String>,
    /// `oom_score_adj` of the pause (the kubelet uses -998; lowering needs CAP_SYS_RESOURCE).
    pub oom_score_adj: Option<i32>,
}

impl SandboxSpec {
    /// The sandbox's attachment to the pod network on [`POD_IFNAME`], its network namespace
    /// pinned at `netns`.
    pub fn pod_network(&self, netns: &Path) -> PodNetwork {
        PodNetwork {
            container_id: self.id.clone(),
            netns: Some(netns.to_path_buf()),
            pod_name: self.pod_name.clone(),
            pod_namespace: self.pod_namespace.clone(),
            pod_uid: self.pod_uid.clone(),
            ifname: POD_IFNAME.to_string(),
            port_mappings: vec![],
        }
    }
}

impl SandboxSpec {
    /// The sandbox of a static pod: namespaces, hostname and sysctls from its spec.
    pub fn for_pod(
        pod: &nodelet_objects::manifest::StaticPod,
        id: &str,
        cgroup_parent: &Path,
        pause_binary: &Path,
        root_dir: &Path,
    ) -> SandboxSpec {
        let spec = pod.pod.spec.clone().unwrap_or_default();
        let sysctls = spec
            .security_context
            .as_ref()
            .and_then(|s| s.sysctls.as_ref())
            .map(|v| {
                v.iter()
                    .map(|s| (s.name.clone(), s.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        SandboxSpec {
            id: id.to_string(),
            pod_name: pod.name().to_string(),
            pod_namespace: pod.namespace().to_string(),
            pod_uid: pod.uid().to_string(),
            hostname: pod_hostname(pod.name(), spec.hostname.as_deref()),
            namespaces: NamespaceOptions::from_pod_spec(&spec),
            cgroup_parent: cgroup_parent.to_path_buf(),
            pause_binary: pause_binary.to_path_buf(),
            root_dir: root_dir.to_path_buf(),
            sysctls,
            oom_score_adj: None,
        }
    }

    /// `<rootDir>/pods/<uid>/sandbox`.
    pub fn bundle_dir(&self) -> PathBuf {
        paths::sandbox_bundle_dir(&self.root_dir, &self.pod_uid)
    }
}

/// The kubelet's pod hostname: `spec.hostname` if set, else the pod name truncated to 63
/// bytes with trailing `-` and `.` removed.
pub fn pod_hostname(pod_name: &str, spec_hostname: Option<&str>) -> String {
    if let Some(h) = spec_hostname.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    let mut h = &pod_name[..pod_name.len().min(63)];
    h = h.trim_end_matches(['-', '.']);
    h.to_string()
}

/// Whether the ELF file at `path` names a program interpreter (is dynamically linked).
/// Anything that is not a readable little-endian ELF64 counts as dynamic (the safe answer:
/// the library directories get mounted).
pub fn is_dynamic(path: &Path) -> Result<bool> {
    use std::io::Read;
    // The ELF header and the program headers are all that is needed: read those, not the
    // whole binary (a pod start must not copy its pause binary into memory).
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut head = Vec::with_capacity(4096);
    f.take(4096)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("read", path, e))?;
    if let Some(found) = elf64_interp(&head) {
        return Ok(found);
    }
    // Program headers beyond the first page (unusual): read the whole file.
    let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    Ok(elf64_interp(&data).unwrap_or(true))
}

/// `Some(has PT_INTERP)` for a little-endian ELF64 image whose program headers lie within
/// `d`, `None` otherwise.
fn elf64_interp(d: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if d.len() < 64 || &d[..4] != b"\x7fELF" || d[4] != 2 || d[5] != 1 {
        return None;
    }
    let u16at = |o: usize| Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?));
    let u32at = |o: usize| Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?));
    let u64at = |o: usize| Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64at(0x20)?).ok()?;
    let phentsize = usize::from(u16at(0x36)?);
    let phnum = usize::from(u16at(0x38)?);
    for i in 0..phnum {
        if u32at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// How a host library directory appears in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LibDir {
    /// A symlink recreated as is (e.g. `/lib -> usr/lib`).
    Link(String, PathBuf),
    /// A directory bound read-only.
    Bind(String),
}

fn library_dirs() -> Vec<LibDir> {
    let mut out = vec![];
    for d in LIBRARY_DIRS {
        match std::fs::symlink_metadata(d) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(t) = std::fs::read_link(d) {
                    out.push(LibDir::Link(d.to_string(), t));
                }
            }
            Ok(m) if m.is_dir() => out.push(LibDir::Bind(d.to_string())),
            _ => {}
        }
    }
    out
}

/// The OCI runtime spec of the sandbox. `libs` are the host library directories to expose
/// (empty for a static pause binary).
fn config(spec: &SandboxSpec, libs: &[LibDir]) -> Result<Value> {
    let ns = spec.namespaces;
    let mut namespaces = vec![json!({"type": "mount"})];
    if !ns.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    if !ns.host_network {
        namespaces.push(json!({"type": "network"}));
        namespaces.push(json!({"type": "uts"}));
    }
    if !ns.host_ipc {
        namespaces.push(json!({"type": "ipc"}));
    }
    let ro_bind = json!(["bind", "ro", "nosuid", "nodev"]);
    // /proc is needed by the runtime itself (the exec fifo is reopened through
    // /proc/self/fd, sysctls are written under /proc/sys), so it is there, masked as usual.
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=64k"]}),
        json!({"destination": PAUSE_PATH, "type": "bind",
               "source": spec.pause_binary, "options": ro_bind}),
    ];
    for l in libs {
        if let LibDir::Bind(d) = l {
            mounts.push(json!({"destination": d, "type": "bind", "source": d,
                               "options": ["rbind", "ro", "nosuid", "nodev"]}));
        }
    }
    let seccomp = serde_json::to_value(noderun_seccomp::default_profile(&[]))
        .map_err(|e| Error::invalid("linux.seccomp", e.to_string()))?;
    let mut linux = json!({
        "namespaces": namespaces,
        // In a systemd pod slice the pause's scope is `nodelet-<id>.scope`, as the
        // containers' (podspec::SCOPE_PREFIX).
        "cgroupsPath": noderun_cgroups::systemd::child_path(&spec.cgroup_parent.to_string_lossy(), "nodelet", &spec.id),
        "seccomp": seccomp,
        "sysctl": spec.sysctls,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if spec.sysctls.is_empty() {
        linux.as_object_mut().map(|o| o.remove("sysctl"));
    }
    let no_caps: Vec<String> = vec![];
    let mut process = json!({
        "terminal": false,
        "user": {"uid": PAUSE_USER, "gid": PAUSE_USER},
        "args": [PAUSE_PATH],
        "env": ["PATH=/"],
        "cwd": "/",
        "capabilities": {"bounding": no_caps, "effective": no_caps,
                         "inheritable": no_caps, "permitted": no_caps, "ambient": no_caps},
        "noNewPrivileges": true,
    });
    if let Some(adj) = spec.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    let mut cfg = json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": true},
        "process": process,
        "mounts": mounts,
        "linux": linux,
        "annotations": {
            "io.kubernetes.cri.container-type": "sandbox",
            "io.kubernetes.cri.sandbox-id": spec.id,
            "io.kubernetes.cri.sandbox-name": spec.pod_name,
            "io.kubernetes.cri.sandbox-namespace": spec.pod_namespace,
            "io.kubernetes.cri.sandbox-uid": spec.pod_uid,
        },
    });
    if !ns.host_network {
        cfg["hostname"] = json!(spec.hostname);
    }
    // Type-check against the OCI runtime spec before anything is written.
    serde_json::from_value::<oci_spec::runtime::Spec>(cfg.clone())
        .map_err(|e| Error::invalid("sandbox config.json", e.to_string()))?;
    Ok(cfg)
}

fn validate(spec: &SandboxSpec) -> Result<()> {
    crate::disk::check_component("sandbox id", &spec.id)?;
    crate::disk::check_component("metadata.uid", &spec.pod_uid)?;
    if !spec.namespaces.host_network {
        let problems = nodelet_objects::names::dns1123_label(&spec.hostname);
        if !problems.is_empty() {
            return Err(Error::invalid(
                "hostname",
                format!("{:?}: {}", spec.hostname, problems.join("; ")),
            ));
        }
    }
    for name in spec.sysctls.keys() {
        let ipc = name.starts_with("kernel.shm")
            || name.starts_with("kernel.msg")
            || name == "kernel.sem"
            || name.starts_with("fs.mqueue.");
        let host = if name.starts_with("net.") && spec.namespaces.host_network {
            Some("hostNetwork")
        } else if ipc && spec.namespaces.host_ipc {
            Some("hostIPC")
        } else {
            None
        };
        if let Some(h) = host {
            return Err(Error::invalid(
                format!("spec.securityContext.sysctls[{name}]"),
                format!("a namespaced sysctl cannot be set with {h}: it would change the node"),
            ));
        }
    }
    if !spec.pause_binary.is_absolute() {
        return Err(Error::invalid(
            "pause binary",
            format!("{} is not an absolute path", spec.pause_binary.display()),
        ));
    }
    Ok(())
}

/// Writes (or rewrites) the sandbox bundle and returns its directory. `config.json` is
/// written atomically; the rootfs is an empty directory plus the library-directory symlinks.
pub fn write(spec: &SandboxSpec) -> Result<PathBuf> {
    validate(spec)?;
    let meta = std::fs::metadata(&spec.pause_binary)
        .map_err(|e| Error::io("pause binary", &spec.pause_binary, e))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            "pause binary",
            format!("{} is not a regular file", spec.pause_binary.display()),
        ));
    }
    let libs = if is_dynamic(&spec.pause_binary)? {
        library_dirs()
    } else {
        vec![]
    };
    let cfg = config(spec, &libs)?;
    let dir = spec.bundle_dir();
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| Error::io("create directory", &rootfs, e))?;
    for l in &libs {
        if let LibDir::Link(d, target) = l {
            let p = rootfs.join(d.trim_start_matches('/'));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("create directory", parent, e))?;
            }
            match std::os::unix::fs::symlink(target, &p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("symlink", &p, e)),
            }
        }
    }
    let data = serde_json::to_vec_pretty(&cfg)
        .map_err(|e| Error::invalid("sandbox config.json", e.to_string()))?;
    crate::disk::write_atomic(&dir.join("config.json"), &data, 0o600)?;
    Ok(dir)
}

/// Removes the sandbox bundle of pod `uid` (ok if already gone). Call after the shim deleted
/// the container.
pub fn remove(root_dir: &Path, uid: &str) -> Result<()> {
    crate::disk::check_component("metadata.uid", uid)?;
    let dir = paths::sandbox_bundle_dir(root_dir, uid);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: NamespaceOptions) -> SandboxSpec {
        SandboxSpec {
            id: "sb1".into(),
            pod_name: "web-node1".into(),
            pod_namespace: "default".into(),
            pod_uid: "uid1".into(),
            hostname: "web-node1".into(),
            namespaces: ns,
            cgroup_parent: "kubepods/poduid1".into(),
            pause_binary: "/usr/bin/true".into(),
            root_dir: "/var/lib/nodelet".into(),
            sysctls: BTreeMap::new(),
            oom_score_adj: None,
        }
    }

    fn ns_types(v: &Value) -> Vec<String> {
        v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn default_sandbox() {
        let libs = vec![
            LibDir::Link("/lib".into(), "usr/lib".into()),
            LibDir::Bind("/usr/lib".into()),
        ];
        let v = config(&spec(NamespaceOptions::default()), &libs).unwrap();
        assert_eq!(ns_types(&v), ["mount", "pid", "network", "uts", "ipc"]);
        assert_eq!(v["hostname"], "web-node1");
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["process"]["args"], json!(["/pause"]));
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            assert_eq!(v["process"]["capabilities"][set], json!([]), "{set}");
        }
        assert_eq!(v["linux"]["cgroupsPath"], "kubepods/poduid1/sb1");
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests, ["/proc", "/dev", "/pause", "/usr/lib"]);
        assert!(v.get("sysctl").is_none());
    }

    #[test]
    fn host_namespaces() {
        let v = config(
            &spec(NamespaceOptions {
                host_network: true,
                host_pid: true,
                host_ipc: true,
                share_process_namespace: false,
            }),
            &[],
        )
        .unwrap();
        assert_eq!(ns_types(&v), ["mount"]);
        assert!(
            v.get("hostname").is_none(),
            "hostNetwork keeps the host's name"
        );
        let v = config(
            &spec(NamespaceOptions {
                host_ipc: true,
                share_process_namespace: true,
                ..Default::default()
            }),
            &[],
        )
        .unwrap();
        assert_eq!(ns_types(&v), ["mount", "pid", "network", "uts"]);
    }

    #[test]
    fn sysctls_and_oom() {
        let mut s = spec(NamespaceOptions::default());
        s.sysctls
            .insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        s.oom_score_adj = Some(-998);
        let v = config(&s, &[]).unwrap();
        assert_eq!(
            v["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
        assert_eq!(v["process"]["oomScoreAdj"], -998);
    }

    #[test]
    fn hostnames() {
        assert_eq!(pod_hostname("web-node1", None), "web-node1");
        assert_eq!(pod_hostname("web-node1", Some("h")), "h");
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(pod_hostname(&long, None), "a".repeat(62));
    }

    #[test]
    fn bad_input_is_named() {
        let mut s = spec(NamespaceOptions::default());
        s.pod_uid = "../x".into();
        let e = write(&s).unwrap_err().to_string();
        assert!(e.starts_with("metadata.uid: "), "{e}");
        let mut s = spec(NamespaceOptions::default());
        s.hostname = "Bad_Name".into();
        let e = write(&s).unwrap_err().to_string();
        assert!(e.starts_with("hostname: "), "{e}");
        let mut s = spec(NamespaceOptions {
            host_network: true,
            ..Default::default()
        });
        s.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        let e = write(&s).unwrap_err().to_string();
        assert!(
            e.starts_with("spec.securityContext.sysctls[net.ipv4.ip_forward]: ")
                && e.contains("hostNetwork"),
            "{e}"
        );
        let mut s = spec(NamespaceOptions {
            host_ipc: true,
            ..Default::default()
        });
        s.sysctls.insert("kernel.shmmax".into(), "1".into());
        assert!(write(&s).unwrap_err().to_string().contains("hostIPC"));
    }

    #[test]
    fn elf_detection() {
        // /bin/busybox from busybox-static is static; /bin/sh (dash) is dynamic.
        if Path::new("/bin/busybox").exists() {
            assert!(!is_dynamic(Path::new("/bin/busybox")).unwrap());
        }
        assert!(is_dynamic(Path::new("/bin/sh")).unwrap());
        assert_eq!(elf64_interp(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn written_bundle() {
        let t = tempfile::tempdir().unwrap();
        let mut s = spec(NamespaceOptions::default());
        s.root_dir = t.path().to_path_buf();
        s.pause_binary = "/bin/sh".into(); // dynamic: library dirs are exposed
        let dir = write(&s).unwrap();
        assert_eq!(dir, t.path().join("pods/uid1/sandbox"));
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(v["mounts"][2]["source"], "/bin/sh");
        let rootfs: Vec<_> = std::fs::read_dir(dir.join("rootfs")).unwrap().collect();
        for l in library_dirs() {
            if let LibDir::Link(d, t) = l {
                let p = dir.join("rootfs").join(d.trim_start_matches('/'));
                assert_eq!(std::fs::read_link(p).unwrap(), t);
            }
        }
        assert!(rootfs.len() <= LIBRARY_DIRS.len());
        write(&s).unwrap(); // rewriting is fine
        remove(t.path(), "uid1").unwrap();
        assert!(!dir.exists());
        remove(t.path(), "uid1").unwrap();
    }
}
