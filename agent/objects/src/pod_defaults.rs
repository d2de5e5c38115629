//! Kubernetes API defaulting for Pods (`SetDefaults_Pod` and friends in k8s.io/kubernetes
//! pkg/apis/core/v1/defaults.go): what the API server fills in before a kubelet ever sees a pod.

use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, LifecycleHandler, Pod, PodSpec, Probe, Volume,
};

/// The Kubernetes default namespace.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Default `terminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn set_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

/// `imagePullPolicy` default: `Always` for `:latest` or no tag (without digest), else
/// `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    // The tag is after the last ':' that comes after the last '/' (a registry port is not a tag).
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.rsplit_once(':').map(|(_, t)| t);
    match tag {
        Some("latest") => "Always",
        Some(_) => "IfNotPresent",
        None if digest => "IfNotPresent",
        None => "Always",
    }
}

/// Applies the API server's defaults to a pod in place.
pub fn apply_defaults(pod: &mut Pod) {
    set_str(&mut pod.metadata.namespace, DEFAULT_NAMESPACE);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    set_str(&mut spec.restart_policy, "Always");
    set_str(&mut spec.dns_policy, "ClusterFirst");
    set(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    );
    set_str(&mut spec.scheduler_name, "default-scheduler");
    set(&mut spec.security_context, Default::default());
    set(&mut spec.enable_service_links, true);
    let host_network = spec.host_network == Some(true);
    for c in spec.init_containers.iter_mut().flatten() {
        container_defaults(c, host_network);
    }
    for c in spec.containers.iter_mut() {
        container_defaults(c, host_network);
    }
    for v in spec.volumes.iter_mut().flatten() {
        volume_defaults(v);
    }
}

fn container_defaults(c: &mut Container, host_network: bool) {
    if let Some(image) = c.image.as_deref() {
        let policy = default_pull_policy(image.trim());
        set_str(&mut c.image_pull_policy, policy);
    }
    set_str(&mut c.termination_message_path, "/dev/termination-log");
    set_str(&mut c.termination_message_policy, "File");
    for p in c.ports.iter_mut().flatten() {
        set_str(&mut p.protocol, "TCP");
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            set_str(&mut f.api_version, "v1");
        }
    }
    // A limit without a request: the request defaults to the limit.
    if let Some(res) = c.resources.as_mut()
        && let Some(limits) = res.limits.clone()
    {
        let requests = res.requests.get_or_insert_with(Default::default);
        for (k, v) in limits {
            requests.entry(k).or_insert(v);
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe_defaults(probe);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            handler_defaults(h);
        }
    }
}

fn positive_or(field: &mut Option<i32>, value: i32) {
    if field.unwrap_or(0) == 0 {
        *field = Some(value);
    }
}

fn probe_defaults(p: &mut Probe) {
    positive_or(&mut p.timeout_seconds, 1);
    positive_or(&mut p.period_seconds, 10);
    positive_or(&mut p.success_threshold, 1);
    positive_or(&mut p.failure_threshold, 3);
    if let Some(h) = p.http_get.as_mut() {
        http_get_defaults(h);
    }
}

fn handler_defaults(h: &mut LifecycleHandler) {
    if let Some(g) = h.http_get.as_mut() {
        http_get_defaults(g);
    }
}

fn http_get_defaults(h: &mut HTTPGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

fn volume_defaults(v: &mut Volume) {
    let has_source = v.aws_elastic_block_store.is_some()
        || v.azure_disk.is_some()
        || v.azure_file.is_some()
        || v.cephfs.is_some()
        || v.cinder.is_some()
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.fc.is_some()
        || v.flex_volume.is_some()
        || v.flocker.is_some()
        || v.gce_persistent_disk.is_some()
        || v.git_repo.is_some()
        || v.glusterfs.is_some()
        || v.host_path.is_some()
        || v.image.is_some()
        || v.iscsi.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
        || v.photon_persistent_disk.is_some()
        || v.portworx_volume.is_some()
        || v.projected.is_some()
        || v.quobyte.is_some()
        || v.rbd.is_some()
        || v.scale_io.is_some()
        || v.secret.is_some()
        || v.storageos.is_some()
        || v.vsphere_volume.is_some();
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(h) = v.host_path.as_mut() {
        set(&mut h.type_, String::new());
    }
    if let Some(c) = v.config_map.as_mut() {
        set(&mut c.default_mode, 0o644);
    }
    if let Some(s) = v.secret.as_mut() {
        set(&mut s.default_mode, 0o644);
    }
    if let Some(d) = v.downward_api.as_mut() {
        set(&mut d.default_mode, 0o644);
    }
    if let Some(p) = v.projected.as_mut() {
        set(&mut p.default_mode, 0o644);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abcd"), "IfNotPresent");
        assert_eq!(default_pull_policy("busybox:latest@sha256:abcd"), "Always");
    }
}
