//! One container of a pod → the OCI runtime spec (`config.json`) of its bundle, the way the
//! kubelet and containerd's CRI plugin build it together: containerd's default mounts,
//! devices, masked and read-only paths; the sandbox's namespaces joined by path; the pod's
//! /etc/hosts, /etc/resolv.conf and /etc/hostname; env, volumes, security context and resources
//! from the Pod. Submodules own one part each; [`container_spec`] puts them together.
//!
//! Everything here is a translation except the host-side steps the kubelet also does before
//! a container starts: [`volumes::prepare`] (emptyDir directories and tmpfs, hostPath `type`
//! checks, the files of configMap/secret/projected/downwardAPI volumes; once per pod, then
//! [`volumes::refresh`] when ConfigMaps or Secrets change) and subPath creation inside a
//! volume (per container); containerd's steps too: where the kernel enforces AppArmor, the
//! default profile is loaded and a Localhost profile looked up ([`crate::apparmor::Host`]). ConfigMaps and Secrets come in [`PodContext::config`].
//!
//! How the pod manager uses it, per pod: [`volumes::prepare`] → for each container
//! [`create_termination_log`], [`container_spec`], `spec.save(<bundle>/config.json)` with
//! `root.path` the overlay rootfs → create/start with noderun. The pod cgroup gets
//! [`resources::pod_resources`]; `status.qosClass` is [`resources::qos_class`]; when the pod
//! is gone, [`volumes::teardown`]. A [`SpecError`] names the field and carries the kubelet's
//! reason ([`SpecError::kubelet_reason`]).

pub mod atomic_writer;
pub mod config_volumes;
pub mod container_ref;
pub mod context;
pub mod defaults;
pub mod env;
pub mod error;
pub mod host_dir;
pub mod resources;
pub mod security;
pub mod volumes;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use nodelet_images::process::{self, ContainerOverrides};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Process, Root, Spec, User};

use nodelet_objects::field::FieldPath;

pub use container_ref::ContainerRef;
pub use context::{ContainerInput, PodContext, PodFiles, SandboxNamespaces};
pub use error::{SpecError, SpecErrorKind};
pub use resources::{NodeResources, QosClass};
pub use volumes::PodVolumes;

/// Builds the OCI runtime spec of one container.
pub fn container_spec(
    pod: &Pod,
    ctx: &PodContext,
    volumes: &PodVolumes,
    input: &ContainerInput<'_>,
) -> Result<Spec, SpecError> {
    let c = input.container.get(pod)?;
    let cf = input.container.field();
    let pod_spec = pod.spec.clone().unwrap_or_default();

    // Env first: command, args and subPathExpr are expanded with it.
    let mut env = env::container_env(pod, input.container, ctx)?;
    let lookup = env::EnvMap::new(&env);
    let command: Vec<String> = c
        .command
        .iter()
        .flatten()
        .map(|s| env::expand(s, &lookup))
        .collect();
    let args: Vec<String> = c
        .args
        .iter()
        .flatten()
        .map(|s| env::expand(s, &lookup))
        .collect();
    drop(lookup);

    if pod_spec.host_users == Some(false) {
        return Err(SpecError::config(
            &FieldPath::new("spec").child("hostUsers"),
            "Unsupported value: false: user namespaces are not supported by nodelet",
        ));
    }
    let sc = security::Effective::of(pod, c, &cf)?;
    // containerd sets HOSTNAME before the image's env, so an image's HOSTNAME wins over it (and
    // the pod's env over both).
    let image_sets_hostname = input
        .image
        .and_then(|i| i.env.as_ref())
        .is_some_and(|e| e.iter().any(|kv| kv.starts_with("HOSTNAME=")));
    if !image_sets_hostname {
        env.insert(0, ("HOSTNAME".to_string(), ctx.hostname.clone()));
    }
    let overrides = ContainerOverrides {
        command,
        args,
        env: env.clone(),
        working_dir: c.working_dir.clone(),
        run_as_user: sc.run_as_user.as_ref().map(|(u, _)| *u),
        run_as_group: sc.run_as_group.as_ref().map(|(g, _)| *g),
    };
    let merged = process::merge(input.image, &overrides).map_err(|e| {
        let field = match e {
            process::MergeError::RelativeWorkingDir(_) => cf.child("workingDir"),
            process::MergeError::User { .. } => cf.child("securityContext"),
            process::MergeError::NoCommand => cf.child("command"),
        };
        SpecError::create(&field, e.to_string())
    })?;
    security::check_run_as_non_root(pod, c, &cf, &sc, &merged.user)?;
    let user = process::resolve_user(input.rootfs, &merged.user)
        .map_err(|e| SpecError::create(&cf.child("securityContext"), e.to_string()))?;

    let mut proc = Process::default();
    proc.set_user(User::default());
    merged.apply_to(&mut proc, &user);
    proc.set_terminal(Some(c.tty.unwrap_or(false)));
    proc.set_rlimits(None);
    proc.set_apparmor_profile(app_armor_profile(&sc, &cf, &ctx.apparmor)?);
    proc.set_selinux_label(None);
    security::apply_user(&sc, proc.user_mut());
    let caps = security::capabilities(&sc)?;
    proc.set_capabilities(Some(security::capability_sets(&caps)));
    proc.set_no_new_privileges(Some(sc.no_new_privileges()));
    let qos = resources::qos_class(pod)?;
    let adj = resources::oom_score_adj(pod, c, &cf, qos, ctx.node.memory_bytes)?;
    proc.set_oom_score_adj(Some(adj.max(ctx.oom_score_adj_floor.unwrap_or(i32::MIN))));

    // Mounts: containerd's defaults, the pod's files, the termination log, then volumes.
    let user_mounts = volumes::container_mounts(c, &cf, volumes, &env, sc.privileged)?;
    let base = defaults::mounts(sc.privileged, ctx.files.shm.as_deref());
    let mut extra = Vec::new();
    let bind = |dest: &str, src: &Path| defaults::bind_mount(dest, src, false);
    if let Some(p) = &ctx.files.hosts {
        extra.push(bind("/etc/hosts", p));
    }
    if let Some(p) = &ctx.files.hostname {
        extra.push(bind("/etc/hostname", p));
    }
    if let Some(p) = &ctx.files.resolv_conf {
        extra.push(bind("/etc/resolv.conf", p));
    }
    if let Some(p) = input.termination_log {
        let dest = c
            .termination_message_path
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("/dev/termination-log");
        extra.push(bind(dest, p));
    }
    let propagation = volumes::rootfs_propagation(&user_mounts);
    extra.extend(user_mounts);
    let mounts = volumes::merge_mounts(base, extra);

    let mut spec = Spec::default();
    spec.set_version("1.2.0".to_string());
    spec.set_hostname(None);
    spec.set_annotations(systemd_annotations(&ctx.cgroup_parent, &pod_spec));
    let mut root = Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(sc.read_only_root_filesystem));
    spec.set_root(Some(root));
    spec.set_process(Some(proc));
    spec.set_mounts(Some(mounts));

    let mut linux = oci_spec::runtime::Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_namespaces(Some(namespaces(&pod_spec, &ctx.namespaces)));
    let mut res = resources::container_resources(c, &cf, ctx.pids_limit, ctx.no_swap)?;
    res.set_devices(Some(if sc.privileged {
        defaults::allow_all_devices()
    } else {
        defaults::device_cgroup_rules()
    }));
    linux.set_resources(Some(res));
    linux.set_cgroups_path(Some(cgroups_path(&ctx.cgroup_parent, input.id)));
    linux.set_devices(if sc.privileged {
        Some(defaults::host_devices(Path::new("/dev")))
    } else {
        None
    });
    if sc.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(defaults::masked_paths()));
        linux.set_readonly_paths(Some(defaults::readonly_paths()));
    }
    linux.set_sysctl(security::sysctls(&pod_spec)?);
    linux.set_seccomp(security::seccomp(&sc, &caps, &ctx.seccomp_root)?);
    linux.set_rootfs_propagation(propagation);
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The profile to exec into ([`security::app_armor`]'s plan made real on the host): the
/// default profile loaded if need be, a Localhost profile only if the host has it loaded
/// (else `CreateContainerError`: "apparmor profile not found <name>", as containerd).
fn app_armor_profile(
    sc: &security::Effective,
    cf: &FieldPath,
    host: &crate::apparmor::Host,
) -> Result<Option<String>, SpecError> {
    let field = sc
        .app_armor
        .as_ref()
        .map(|(_, f)| f.clone())
        .unwrap_or_else(|| cf.child("securityContext").child("appArmorProfile"));
    let fail = |e: crate::apparmor::Error| SpecError::create(&field, e.to_string());
    match security::app_armor(sc, host.support)? {
        security::AppArmorPlan::Unconfined => Ok(None),
        security::AppArmorPlan::RuntimeDefault => host
            .ensure_default()
            .map(|p| Some(p.to_string()))
            .map_err(fail),
        security::AppArmorPlan::Localhost(name) => {
            host.require_loaded(&name).map(Some).map_err(fail)
        }
    }
}

/// `<pod cgroup>/<container id>` (just the ID without a pod cgroup); in a systemd pod slice
/// `<slice>:nodelet:<id>` (the scope `nodelet-<id>.scope`, noderun `--systemd-cgroup`).
pub fn cgroups_path(parent: &str, id: &str) -> PathBuf {
    PathBuf::from(noderun_cgroups::systemd::child_path(
        parent,
        SCOPE_PREFIX,
        id,
    ))
}

/// In a systemd pod slice (the systemd cgroup driver), the container's scope gets the pod's
/// grace period as its stop timeout (runc's `org.systemd.property.` annotation): when systemd
/// stops the scope itself (a shutdown stops `kubepods.slice`) it sends SIGTERM and SIGKILL
/// after the grace period, not after its default 90 s.
fn systemd_annotations(
    cgroup_parent: &str,
    pod_spec: &k8s_openapi::api::core::v1::PodSpec,
) -> Option<std::collections::HashMap<String, String>> {
    if !cgroup_parent.ends_with(".slice") {
        return None;
    }
    let grace = pod_spec
        .termination_grace_period_seconds
        .unwrap_or(30)
        .max(1) as u64;
    Some(
        [(
            format!(
                "{}TimeoutStopUSec",
                noderun_cgroups::systemd::PROPERTY_ANNOTATION
            ),
            format!("uint64 {}", grace * 1_000_000),
        )]
        .into_iter()
        .collect(),
    )
}

/// The scope prefix of containers in a systemd pod slice (containerd's is `cri-containerd`;
/// `sandbox::bundle` names the pause's scope with it too).
pub const SCOPE_PREFIX: &str = "nodelet";

/// Creates (or empties) the host file bind-mounted at a container's terminationMessagePath,
/// world-writable as the kubelet makes it (the container may run as any user).
pub fn create_termination_log(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::File::create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

/// The container's namespaces: a new mount and cgroup namespace; net, ipc, uts joined from the
/// sandbox (absent with hostNetwork/hostIPC: the host's); pid new, the sandbox's with
/// shareProcessNamespace, absent with hostPID.
pub fn namespaces(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    ns: &SandboxNamespaces,
) -> Vec<LinuxNamespace> {
    let entry = |typ: LinuxNamespaceType, path: Option<&PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path.cloned());
        n
    };
    let mut out = vec![entry(LinuxNamespaceType::Mount, None)];
    if !spec.host_pid.unwrap_or(false) {
        let share = spec.share_process_namespace.unwrap_or(false);
        out.push(entry(
            LinuxNamespaceType::Pid,
            if share { ns.pid.as_ref() } else { None },
        ));
    }
    if !spec.host_ipc.unwrap_or(false) {
        out.push(entry(LinuxNamespaceType::Ipc, ns.ipc.as_ref()));
    }
    if !spec.host_network.unwrap_or(false) {
        out.push(entry(LinuxNamespaceType::Network, ns.net.as_ref()));
        out.push(entry(LinuxNamespaceType::Uts, ns.uts.as_ref()));
    }
    out.push(entry(LinuxNamespaceType::Cgroup, None));
    out
}

#[cfg(test)]
mod tests;
