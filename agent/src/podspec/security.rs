//! The security context of a container (pod-level values with the container's winning) → user
//! and groups, runAsNonRoot verification, capabilities on top of containerd's default set,
//! no_new_privs, seccomp (RuntimeDefault = containerd's profile, Unconfined, Localhost from
//! `<rootDir>/seccomp`), AppArmor (the kubelet's choice of profile, containerd's rules for
//! applying it: [`app_armor_profile`], [`app_armor`]), and the pod's sysctls.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};
use std::str::FromStr;

use k8s_openapi::api::core::v1::{AppArmorProfile, Container, Pod, PodSpec, SeccompProfile};
use nodelet_images::process::UserSpec;
use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxSeccomp, User};

use super::error::SpecError;
use nodelet_objects::field::FieldPath;

/// containerd's default capabilities of a container.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The security settings in force for one container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effective {
    /// The uid and the field it comes from.
    pub run_as_user: Option<(u32, FieldPath)>,
    pub run_as_group: Option<(u32, FieldPath)>,
    pub run_as_non_root: bool,
    pub supplemental_groups: Vec<u32>,
    pub fs_group: Option<u32>,
    pub privileged: bool,
    /// Capability names as written, each with its field path.
    pub add: Vec<(String, FieldPath)>,
    pub drop: Vec<(String, FieldPath)>,
    pub read_only_root_filesystem: bool,
    pub allow_privilege_escalation: Option<bool>,
    pub seccomp: Option<(SeccompProfile, FieldPath)>,
    pub app_armor: Option<(AppArmorProfile, FieldPath)>,
}

fn id(v: i64, field: &FieldPath) -> Result<u32, SpecError> {
    u32::try_from(v).map_err(|_| {
        SpecError::config(
            field,
            format!("Invalid value: {v}: must be between 0 and 4294967295"),
        )
    })
}

impl Effective {
    /// Merges `spec.securityContext` with the container's `securityContext`.
    pub fn of(pod: &Pod, c: &Container, cf: &FieldPath) -> Result<Effective, SpecError> {
        let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
        let csc = c.security_context.as_ref();
        let pf = FieldPath::new("spec").child("securityContext");
        let cscf = cf.child("securityContext");
        let pick = |cv: Option<i64>,
                    pv: Option<i64>,
                    name: &str|
         -> Result<Option<(u32, FieldPath)>, SpecError> {
            match (cv, pv) {
                (Some(v), _) => {
                    let f = cscf.child(name);
                    Ok(Some((id(v, &f)?, f)))
                }
                (None, Some(v)) => {
                    let f = pf.child(name);
                    Ok(Some((id(v, &f)?, f)))
                }
                _ => Ok(None),
            }
        };
        let mut e = Effective {
            run_as_user: pick(
                csc.and_then(|s| s.run_as_user),
                psc.and_then(|s| s.run_as_user),
                "runAsUser",
            )?,
            run_as_group: pick(
                csc.and_then(|s| s.run_as_group),
                psc.and_then(|s| s.run_as_group),
                "runAsGroup",
            )?,
            run_as_non_root: csc
                .and_then(|s| s.run_as_non_root)
                .or(psc.and_then(|s| s.run_as_non_root))
                .unwrap_or(false),
            privileged: csc.and_then(|s| s.privileged).unwrap_or(false),
            read_only_root_filesystem: csc
                .and_then(|s| s.read_only_root_filesystem)
                .unwrap_or(false),
            allow_privilege_escalation: csc.and_then(|s| s.allow_privilege_escalation),
            ..Default::default()
        };
        if let Some(p) = psc {
            for (i, g) in p.supplemental_groups.iter().flatten().enumerate() {
                e.supplemental_groups
                    .push(id(*g, &pf.child("supplementalGroups").index(i))?);
            }
            if let Some(g) = p.fs_group {
                e.fs_group = Some(id(g, &pf.child("fsGroup"))?);
            }
        }
        if let Some(caps) = csc.and_then(|s| s.capabilities.as_ref()) {
            let capf = cscf.child("capabilities");
            for (i, n) in caps.add.iter().flatten().enumerate() {
                e.add.push((n.clone(), capf.child("add").index(i)));
            }
            for (i, n) in caps.drop.iter().flatten().enumerate() {
                e.drop.push((n.clone(), capf.child("drop").index(i)));
            }
        }
        e.seccomp = match (
            csc.and_then(|s| s.seccomp_profile.as_ref()),
            psc.and_then(|s| s.seccomp_profile.as_ref()),
        ) {
            (Some(p), _) => Some((p.clone(), cscf.child("seccompProfile"))),
            (None, Some(p)) => Some((p.clone(), pf.child("seccompProfile"))),
            _ => None,
        };
        e.app_armor = app_armor_profile(pod, c, cf);
        Ok(e)
    }

    /// no_new_privs: only with `allowPrivilegeEscalation: false` and not privileged.
    pub fn no_new_privileges(&self) -> bool {
        !self.privileged && self.allow_privilege_escalation == Some(false)
    }
}

/// `<name>_<namespace>(<uid>)`, as the kubelet names a pod in messages.
pub fn pod_desc(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// The kubelet's `verifyRunAsNonRoot`: with runAsNonRoot, runAsUser must not be 0, and without
/// runAsUser the image's user must be a non-zero number (an image without a user runs as root).
pub fn check_run_as_non_root(
    pod: &Pod,
    c: &Container,
    cf: &FieldPath,
    sc: &Effective,
    user: &UserSpec,
) -> Result<(), SpecError> {
    if !sc.run_as_non_root {
        return Ok(());
    }
    let pod = pod_desc(pod);
    let name = &c.name;
    if let Some((uid, f)) = &sc.run_as_user {
        if *uid == 0 {
            return Err(SpecError::config(
                f,
                format!(
                    "container's runAsUser breaks non-root policy (pod: {pod:?}, container: {name})"
                ),
            ));
        }
        return Ok(());
    }
    let field = cf.child("securityContext").child("runAsNonRoot");
    let image_user = user.user.as_str();
    match image_user.parse::<u32>() {
        _ if image_user.is_empty() => Err(SpecError::config(
            &field,
            format!(
                "container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {name})"
            ),
        )),
        Ok(0) => Err(SpecError::config(
            &field,
            format!(
                "container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {name})"
            ),
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(SpecError::config(
            &field,
            format!(
                "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root (pod: {pod:?}, container: {name})"
            ),
        )),
    }
}

/// Adds supplementalGroups and fsGroup to the process's additional groups.
pub fn apply_user(sc: &Effective, user: &mut User) {
    let mut gids = user.additional_gids().clone().unwrap_or_default();
    for g in sc.supplemental_groups.iter().chain(sc.fs_group.iter()) {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    user.set_additional_gids((!gids.is_empty()).then_some(gids));
}

/// "All capabilities" as containerd means it (`cap.Current()`): our own bounding set, which
/// is what a process we start can get (`CAP_*` names, sorted).
pub fn host_capabilities() -> Vec<String> {
    let set = caps::read(None, caps::CapSet::Bounding)
        .or_else(|_| caps::runtime::procfs_all_supported(None))
        .unwrap_or_else(|_| caps::all());
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}

fn cap_name(raw: &str, field: &FieldPath) -> Result<String, SpecError> {
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if caps::Capability::from_str(&name).is_err() {
        return Err(SpecError::config(
            field,
            format!("Unsupported value: {raw:?}: not a Linux capability"),
        ));
    }
    Ok(name)
}

/// The container's capability set (`CAP_*` names) as containerd computes it: the default set
/// (all of the kernel's when privileged); `ALL` in add → all, `ALL` in drop → none; then the
/// named adds, then the named drops.
pub fn capabilities(sc: &Effective) -> Result<Vec<String>, SpecError> {
    let all = host_capabilities();
    if sc.privileged {
        return Ok(all);
    }
    let is_all = |n: &str| n.eq_ignore_ascii_case("ALL");
    let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    if sc.add.iter().any(|(n, _)| is_all(n)) {
        caps = all;
    }
    if sc.drop.iter().any(|(n, _)| is_all(n)) {
        caps.clear();
    }
    for (n, f) in sc.add.iter().filter(|(n, _)| !is_all(n)) {
        let name = cap_name(n, f)?;
        if !caps.contains(&name) {
            caps.push(name);
        }
    }
    for (n, f) in sc.drop.iter().filter(|(n, _)| !is_all(n)) {
        let name = cap_name(n, f)?;
        caps.retain(|c| *c != name);
    }
    Ok(caps)
}

/// The OCI capability sets: bounding, effective and permitted (no inheritable or ambient, as
/// containerd since 1.7). Names oci-spec does not know are left out.
pub fn capability_sets(names: &[String]) -> LinuxCapabilities {
    let set: HashSet<Capability> = names
        .iter()
        .filter_map(|n| Capability::from_str(n.trim_start_matches("CAP_")).ok())
        .collect();
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    c.set_effective(Some(set.clone()));
    c.set_permitted(Some(set));
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// The seccomp filter: none when privileged, Unconfined or unset (the kubelet's default with
/// `seccompDefault: false`); containerd's profile for RuntimeDefault; the JSON file
/// `<seccomp_root>/<localhostProfile>` (OCI `linux.seccomp` format) for Localhost.
pub fn seccomp(
    sc: &Effective,
    caps: &[String],
    seccomp_root: &Path,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    if sc.privileged {
        return Ok(None);
    }
    let Some((profile, field)) = &sc.seccomp else {
        return Ok(None);
    };
    match profile.type_.as_str() {
        "Unconfined" => Ok(None),
        "RuntimeDefault" => Ok(Some(noderun_seccomp::default_profile(caps))),
        "Localhost" => {
            let lf = field.child("localhostProfile");
            let rel = profile
                .localhost_profile
                .as_deref()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| SpecError::config(&lf, "Required value: for Localhost profiles"))?;
            let rel_path = Path::new(rel);
            if !rel_path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            {
                return Err(SpecError::config(
                    &lf,
                    format!("Invalid value: {rel:?}: must be a relative path without '..'"),
                ));
            }
            let path = seccomp_root.join(rel_path);
            let data = std::fs::read(&path).map_err(|e| {
                SpecError::create(
                    &lf,
                    format!("cannot load seccomp profile {}: {e}", path.display()),
                )
            })?;
            let de = &mut serde_json::Deserializer::from_slice(&data);
            let prof: LinuxSeccomp = serde_path_to_error::deserialize(de).map_err(|e| {
                SpecError::create(
                    &lf,
                    format!(
                        "seccomp profile {}: {}: {}",
                        path.display(),
                        e.path(),
                        e.inner()
                    ),
                )
            })?;
            Ok(Some(prof))
        }
        other => Err(SpecError::config(
            &field.child("type"),
            format!(
                "Unsupported value: {other:?}: supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
            ),
        )),
    }
}

/// Is `name` a sysctl of the IPC namespace?
fn ipc_sysctl(name: &str) -> bool {
    matches!(
        name,
        "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
            | "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
    ) || name.starts_with("fs.mqueue.")
}

/// The pod's sysctls (`/` separators normalised to `.`). Only namespaced sysctls are allowed,
/// and not those of a namespace shared with the host (net.* with hostNetwork, IPC ones with
/// hostIPC).
pub fn sysctls(spec: &PodSpec) -> Result<Option<HashMap<String, String>>, SpecError> {
    let Some(list) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref())
        .filter(|l| !l.is_empty())
    else {
        return Ok(None);
    };
    let base = FieldPath::new("spec")
        .child("securityContext")
        .child("sysctls");
    let mut out = HashMap::new();
    for (i, s) in list.iter().enumerate() {
        let f = base.index(i).child("name");
        let name = s.name.replace('/', ".");
        let net = name.starts_with("net.");
        let ipc = ipc_sysctl(&name);
        let uts = name == "kernel.hostname" || name == "kernel.domainname";
        if !(net || ipc || uts) {
            return Err(SpecError::config(
                &f,
                format!("Forbidden: sysctl {name:?} is not namespaced and would change the node"),
            ));
        }
        if net && spec.host_network.unwrap_or(false) {
            return Err(SpecError::config(
                &f,
                format!("Forbidden: sysctl {name:?} not allowed with hostNetwork enabled"),
            ));
        }
        if ipc && spec.host_ipc.unwrap_or(false) {
            return Err(SpecError::config(
                &f,
                format!("Forbidden: sysctl {name:?} not allowed with hostIPC enabled"),
            ));
        }
        if uts {
            return Err(SpecError::config(
                &f,
                format!("Forbidden: sysctl {name:?}: set the pod's hostname instead"),
            ));
        }
        out.insert(name, s.value.clone());
    }
    Ok(Some(out))
}

/// The kubelet's `apparmor.GetProfile`: the container's `securityContext.appArmorProfile`,
/// else the deprecated annotation `container.apparmor.security.beta.kubernetes.io/<name>`
/// (`runtime/default`, `unconfined`, `localhost/<profile>`; any other value is ignored, as
/// the kubelet does: static pods' annotations are not synced to the fields), else the pod's
/// `securityContext.appArmorProfile`; with the field it came from.
pub fn app_armor_profile(
    pod: &Pod,
    c: &Container,
    cf: &FieldPath,
) -> Option<(AppArmorProfile, FieldPath)> {
    if let Some(p) = c
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
    {
        return Some((
            p.clone(),
            cf.child("securityContext").child("appArmorProfile"),
        ));
    }
    let key = format!("{}{}", crate::apparmor::ANNOTATION_PREFIX, c.name);
    if let Some(v) = pod.metadata.annotations.as_ref().and_then(|a| a.get(&key)) {
        let profile = |t: &str, name: Option<&str>| AppArmorProfile {
            type_: t.to_string(),
            localhost_profile: name.map(str::to_string),
        };
        let from_annotation = match v.as_str() {
            "runtime/default" => Some(profile("RuntimeDefault", None)),
            "unconfined" => Some(profile("Unconfined", None)),
            v => v
                .strip_prefix("localhost/")
                .map(|n| profile("Localhost", Some(n))),
        };
        if let Some(p) = from_annotation {
            return Some((p, FieldPath::new("metadata").child("annotations").key(&key)));
        }
    }
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.app_armor_profile.clone())
        .map(|p| {
            (
                p,
                FieldPath::new("spec")
                    .child("securityContext")
                    .child("appArmorProfile"),
            )
        })
}

/// The confinement a container gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppArmorPlan {
    /// No profile.
    Unconfined,
    /// nodelet's default profile (`nodelet-default`), loaded on demand.
    RuntimeDefault,
    /// A profile the host has loaded, by name; the container is not created without it.
    Localhost(String),
}

/// The container's AppArmor confinement, by containerd's rules (`generateApparmorSpecOpts`):
/// where the kernel enforces AppArmor, unset and RuntimeDefault mean nodelet's default
/// profile, except for privileged containers; Unconfined means none; Localhost names a loaded
/// profile (privileged or not). Where it does not, unset and Unconfined mean none and asking
/// for a profile is an error (admission keeps such pods Pending before they get here). A host
/// whose kernel enforces it without `apparmor_parser` cannot load the default profile: unset
/// means none there (as containerd, which calls that host unsupported), RuntimeDefault is an
/// error.
pub fn app_armor(
    sc: &Effective,
    host: crate::apparmor::Support,
) -> Result<AppArmorPlan, SpecError> {
    use crate::apparmor::Support;
    let default = || {
        if sc.privileged {
            AppArmorPlan::Unconfined
        } else {
            AppArmorPlan::RuntimeDefault
        }
    };
    let Some((profile, field)) = &sc.app_armor else {
        return Ok(match host {
            Support::Enabled => default(),
            Support::Disabled | Support::NoParser => AppArmorPlan::Unconfined,
        });
    };
    let plan = match profile.type_.as_str() {
        "Unconfined" => return Ok(AppArmorPlan::Unconfined),
        "RuntimeDefault" => default(),
        "Localhost" => {
            let name = profile
                .localhost_profile
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    SpecError::config(
                        &field.child("localhostProfile"),
                        "Required value: must be set when AppArmor type is Localhost",
                    )
                })?;
            AppArmorPlan::Localhost(name.to_string())
        }
        other => {
            return Err(SpecError::config(
                &field.child("type"),
                format!(
                    "Unsupported value: {other:?}: supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
                ),
            ));
        }
    };
    match (&plan, host) {
        (_, Support::Disabled) => Err(SpecError::create(
            field,
            "apparmor is not supported: AppArmor is not enabled on the host",
        )),
        (AppArmorPlan::RuntimeDefault, Support::NoParser) => Err(SpecError::create(
            field,
            crate::apparmor::Error::NoParser.to_string(),
        )),
        _ => Ok(plan),
    }
}
