//! Kubernetes validation of a (defaulted) Pod (`ValidatePodCreate` in k8s.io/kubernetes
//! pkg/apis/core/validation): names, containers, ports, env, resources, probes, lifecycle
//! hooks, volumes and mounts, security contexts. Errors name the field path the API server
//! would name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, KeyToPath, LifecycleHandler, Pod, PodSpec, Probe, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field::{FieldError, FieldPath};
use crate::names;
use crate::quantity::Quantity;

type Errs = Vec<FieldError>;

/// Most bytes of all annotations together.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

fn name_errors(errs: &mut Errs, path: &FieldPath, value: &str, msgs: Vec<String>) {
    for m in msgs {
        errs.push(FieldError::invalid(path, value, &m));
    }
}

fn one_of(errs: &mut Errs, path: &FieldPath, value: Option<&str>, supported: &[&str]) {
    if let Some(v) = value
        && !supported.contains(&v)
    {
        errs.push(FieldError::not_supported(path, v, supported));
    }
}

fn port_range(errs: &mut Errs, path: &FieldPath, port: i32) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(
            path,
            port,
            "must be between 1 and 65535, inclusive",
        ));
    }
}

fn id_range(errs: &mut Errs, path: &FieldPath, id: Option<i64>) {
    if let Some(id) = id
        && !(0..=i64::from(i32::MAX)).contains(&id)
    {
        errs.push(FieldError::invalid(
            path,
            id,
            "must be between 0 and 2147483647, inclusive",
        ));
    }
}

fn non_negative(errs: &mut Errs, path: &FieldPath, v: Option<i64>) {
    if let Some(v) = v
        && v < 0
    {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// Validates a defaulted pod. An empty result means the pod is valid.
pub fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(&mut errs, pod);
    let spec_path = FieldPath::new("spec");
    match &pod.spec {
        Some(spec) => validate_spec(&mut errs, &spec_path, spec),
        None => errs.push(FieldError::required(&spec_path, "")),
    }
    errs
}

fn validate_metadata(errs: &mut Errs, pod: &Pod) {
    let meta = FieldPath::new("metadata");
    let m = &pod.metadata;
    match m.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            &meta.child("name"),
            "name or generateName is required",
        )),
        Some(n) => name_errors(errs, &meta.child("name"), n, names::dns1123_subdomain(n)),
    }
    if let Some(ns) = m.namespace.as_deref() {
        name_errors(errs, &meta.child("namespace"), ns, names::dns1123_label(ns));
    }
    for (k, v) in m.labels.iter().flatten() {
        name_errors(errs, &meta.child("labels"), k, names::qualified_name(k));
        name_errors(errs, &meta.child("labels"), v, names::label_value(v));
    }
    let mut total = 0;
    for (k, v) in m.annotations.iter().flatten() {
        name_errors(
            errs,
            &meta.child("annotations"),
            k,
            names::qualified_name(&k.to_lowercase()),
        );
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            &meta.child("annotations"),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
}

fn validate_spec(errs: &mut Errs, p: &FieldPath, spec: &PodSpec) {
    let volumes = validate_volumes(errs, &p.child("volumes"), spec.volumes.as_deref());

    let mut all_names: HashSet<&str> = HashSet::new();
    let mut host_ports: HashSet<(i32, String, String)> = HashSet::new();
    let host_network = spec.host_network == Some(true);
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let cp = p.child("initContainers").index(i);
        let ctx = ContainerCtx {
            volumes: &volumes,
            host_network,
            init: true,
        };
        validate_container(errs, &cp, c, &ctx, &mut all_names, &mut host_ports);
    }
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&p.child("containers"), ""));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let cp = p.child("containers").index(i);
        let ctx = ContainerCtx {
            volumes: &volumes,
            host_network,
            init: false,
        };
        validate_container(errs, &cp, c, &ctx, &mut all_names, &mut host_ports);
    }
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &p.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }

    one_of(
        errs,
        &p.child("restartPolicy"),
        spec.restart_policy.as_deref(),
        &["Always", "OnFailure", "Never"],
    );
    one_of(
        errs,
        &p.child("dnsPolicy"),
        spec.dns_policy.as_deref(),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    );
    if spec.dns_policy.as_deref() == Some("None") && spec.dns_config.is_none() {
        errs.push(FieldError::required(
            &p.child("dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    if let Some(dns) = &spec.dns_config {
        let dp = p.child("dnsConfig");
        let ns = dns.nameservers.as_deref().unwrap_or_default();
        if ns.len() > 3 {
            errs.push(FieldError::invalid(
                &dp.child("nameservers"),
                ns.join(","),
                "must not have more than 3 nameservers",
            ));
        }
        for (i, n) in ns.iter().enumerate() {
            if n.parse::<IpAddr>().is_err() {
                errs.push(FieldError::invalid(
                    &dp.child("nameservers").index(i),
                    n,
                    "must be a valid IP address",
                ));
            }
        }
        for (i, o) in dns.options.iter().flatten().enumerate() {
            if o.name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(
                    &dp.child("options").index(i).child("name"),
                    "",
                ));
            }
        }
    }
    non_negative(
        errs,
        &p.child("terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
    );
    if let Some(a) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&a)
    {
        errs.push(FieldError::invalid(
            &p.child("activeDeadlineSeconds"),
            a,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            name_errors(errs, &p.child(field), v, names::dns1123_label(v));
        }
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        name_errors(
            errs,
            &p.child("serviceAccountName"),
            sa,
            names::dns1123_subdomain(sa),
        );
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            &p.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(sc) = &spec.security_context {
        let sp = p.child("securityContext");
        id_range(errs, &sp.child("runAsUser"), sc.run_as_user);
        id_range(errs, &sp.child("runAsGroup"), sc.run_as_group);
        id_range(errs, &sp.child("fsGroup"), sc.fs_group);
        for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
            id_range(errs, &sp.child("supplementalGroups").index(i), Some(*g));
        }
        if let Some(s) = &sc.seccomp_profile {
            validate_seccomp(errs, &sp.child("seccompProfile"), s);
        }
        for (i, s) in sc.sysctls.iter().flatten().enumerate() {
            let valid = !s.name.is_empty()
                && s.name.len() <= 253
                && s.name.split(['.', '/']).all(|part| {
                    !part.is_empty()
                        && part.bytes().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
                        })
                });
            if !valid {
                errs.push(FieldError::invalid(
                    &sp.child("sysctls").index(i).child("name"),
                    &s.name,
                    "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
                ));
            }
        }
    }
    if let Some(res) = &spec.resources {
        validate_resources(errs, &p.child("resources"), res);
    }
    for (i, a) in spec.host_aliases.iter().flatten().enumerate() {
        let ap = p.child("hostAliases").index(i);
        if a.ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                &ap.child("ip"),
                &a.ip,
                "must be a valid IP address",
            ));
        }
        for (j, h) in a.hostnames.iter().flatten().enumerate() {
            name_errors(
                errs,
                &ap.child("hostnames").index(j),
                h,
                names::dns1123_subdomain(h),
            );
        }
    }
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        let tp = p.child("tolerations").index(i);
        one_of(
            errs,
            &tp.child("operator"),
            t.operator.as_deref().filter(|o| !o.is_empty()),
            &["Equal", "Exists"],
        );
        one_of(
            errs,
            &tp.child("effect"),
            t.effect.as_deref().filter(|e| !e.is_empty()),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        );
        if t.operator.as_deref() == Some("Exists")
            && t.value.as_deref().is_some_and(|v| !v.is_empty())
        {
            errs.push(FieldError::invalid(
                &tp.child("operator"),
                t.value.as_deref().unwrap_or_default(),
                "value must be empty when `operator` is 'Exists'",
            ));
        }
        if let Some(k) = t.key.as_deref().filter(|k| !k.is_empty()) {
            name_errors(errs, &tp.child("key"), k, names::qualified_name(k));
        } else if t.operator.as_deref() != Some("Exists") {
            errs.push(FieldError::invalid(
                &tp.child("operator"),
                t.operator.as_deref().unwrap_or_default(),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            errs.push(FieldError::invalid(
                &tp.child("effect"),
                t.effect.as_deref().unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
    }
    if let Some(os) = &spec.os {
        one_of(
            errs,
            &p.child("os").child("name"),
            Some(&os.name),
            &["linux", "windows"],
        );
    }
}

/// Returns the names of valid volumes.
fn validate_volumes<'a>(
    errs: &mut Errs,
    p: &FieldPath,
    volumes: Option<&'a [Volume]>,
) -> HashSet<&'a str> {
    let mut names_seen = HashSet::new();
    for (i, v) in volumes.unwrap_or_default().iter().enumerate() {
        let vp = p.index(i);
        if v.name.is_empty() {
            errs.push(FieldError::required(&vp.child("name"), ""));
        } else {
            let e = names::dns1123_label(&v.name);
            if !e.is_empty() {
                name_errors(errs, &vp.child("name"), &v.name, e);
            } else if !names_seen.insert(v.name.as_str()) {
                errs.push(FieldError::duplicate(&vp.child("name"), &v.name));
            }
        }
        let sources: Vec<&str> = [
            ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
            ("azureDisk", v.azure_disk.is_some()),
            ("azureFile", v.azure_file.is_some()),
            ("cephfs", v.cephfs.is_some()),
            ("cinder", v.cinder.is_some()),
            ("configMap", v.config_map.is_some()),
            ("csi", v.csi.is_some()),
            ("downwardAPI", v.downward_api.is_some()),
            ("emptyDir", v.empty_dir.is_some()),
            ("ephemeral", v.ephemeral.is_some()),
            ("fc", v.fc.is_some()),
            ("flexVolume", v.flex_volume.is_some()),
            ("flocker", v.flocker.is_some()),
            ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
            ("gitRepo", v.git_repo.is_some()),
            ("glusterfs", v.glusterfs.is_some()),
            ("hostPath", v.host_path.is_some()),
            ("image", v.image.is_some()),
            ("iscsi", v.iscsi.is_some()),
            ("nfs", v.nfs.is_some()),
            ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
            ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
            ("portworxVolume", v.portworx_volume.is_some()),
            ("projected", v.projected.is_some()),
            ("quobyte", v.quobyte.is_some()),
            ("rbd", v.rbd.is_some()),
            ("scaleIO", v.scale_io.is_some()),
            ("secret", v.secret.is_some()),
            ("storageos", v.storageos.is_some()),
            ("vsphereVolume", v.vsphere_volume.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n)
        .collect();
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&vp, "must specify a volume type")),
            [_] => {}
            [_, second, ..] => errs.push(FieldError::forbidden(
                &vp.child(second),
                "may not specify more than 1 volume type",
            )),
        }
        if let Some(h) = &v.host_path {
            let hp = vp.child("hostPath");
            if h.path.is_empty() {
                errs.push(FieldError::required(&hp.child("path"), ""));
            } else if h.path.split('/').any(|c| c == "..") {
                errs.push(FieldError::invalid(
                    &hp.child("path"),
                    &h.path,
                    "must not contain '..'",
                ));
            }
            one_of(
                errs,
                &hp.child("type"),
                h.type_.as_deref(),
                &[
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ],
            );
        }
        validate_projections(errs, &vp, v);
        if let Some(e) = &v.empty_dir {
            let ep = vp.child("emptyDir");
            if let Some(m) = e.medium.as_deref()
                && !(m.is_empty()
                    || m == "Memory"
                    || m == "HugePages"
                    || m.starts_with("HugePages-"))
            {
                errs.push(FieldError::not_supported(
                    &ep.child("medium"),
                    m,
                    &["", "Memory", "HugePages"],
                ));
            }
            if let Some(q) = &e.size_limit {
                validate_quantity(errs, &ep.child("sizeLimit"), q);
            }
        }
    }
    names_seen
}

/// A file mode of a volume: `mode` and `defaultMode` are 0..=0777.
fn validate_mode(errs: &mut Errs, p: &FieldPath, mode: Option<i32>) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(
            p,
            m,
            "must be a number between 0 and 0777 (octal), both inclusive",
        ));
    }
}

/// A projected file's path: relative, without `..`, not starting with `..` (the writer's).
fn validate_local_path(errs: &mut Errs, p: &FieldPath, path: &str) {
    if path.is_empty() {
        errs.push(FieldError::required(p, ""));
    } else if path.starts_with('/') {
        errs.push(FieldError::invalid(p, path, "must be a relative path"));
    } else if path.split('/').any(|c| c == "..") {
        errs.push(FieldError::invalid(p, path, "must not contain '..'"));
    } else if path.starts_with("..") {
        errs.push(FieldError::invalid(p, path, "must not start with '..'"));
    }
}

/// `items` of a configMap or secret source; each path is added to `paths` (a projected
/// volume's paths must not collide).
fn validate_key_to_paths(
    errs: &mut Errs,
    p: &FieldPath,
    items: Option<&[KeyToPath]>,
    paths: &mut HashSet<String>,
) {
    for (k, item) in items.unwrap_or_default().iter().enumerate() {
        let ip = p.child("items").index(k);
        if item.key.is_empty() {
            errs.push(FieldError::required(&ip.child("key"), ""));
        }
        validate_local_path(errs, &ip.child("path"), &item.path);
        validate_mode(errs, &ip.child("mode"), item.mode);
        if !item.path.is_empty() && !paths.insert(item.path.clone()) {
            errs.push(FieldError::invalid(
                &ip.child("path"),
                &item.path,
                "conflicting duplicate paths",
            ));
        }
    }
}

/// The configMap, secret, projected and downwardAPI sources of volume `v` (`vp`: its field).
fn validate_projections(errs: &mut Errs, vp: &FieldPath, v: &Volume) {
    let required_name = |errs: &mut Errs, p: FieldPath, name: &str| {
        if name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        }
    };
    if let Some(cm) = &v.config_map {
        let p = vp.child("configMap");
        required_name(errs, p.child("name"), &cm.name);
        validate_mode(errs, &p.child("defaultMode"), cm.default_mode);
        validate_key_to_paths(errs, &p, cm.items.as_deref(), &mut HashSet::new());
    }
    if let Some(sec) = &v.secret {
        let p = vp.child("secret");
        required_name(
            errs,
            p.child("secretName"),
            sec.secret_name.as_deref().unwrap_or_default(),
        );
        validate_mode(errs, &p.child("defaultMode"), sec.default_mode);
        validate_key_to_paths(errs, &p, sec.items.as_deref(), &mut HashSet::new());
    }
    if let Some(da) = &v.downward_api {
        let p = vp.child("downwardAPI");
        validate_mode(errs, &p.child("defaultMode"), da.default_mode);
        for (k, item) in da.items.iter().flatten().enumerate() {
            let ip = p.child("items").index(k);
            validate_local_path(errs, &ip.child("path"), &item.path);
            validate_mode(errs, &ip.child("mode"), item.mode);
        }
    }
    if let Some(pr) = &v.projected {
        let p = vp.child("projected");
        validate_mode(errs, &p.child("defaultMode"), pr.default_mode);
        let mut paths = HashSet::new();
        for (i, src) in pr.sources.iter().flatten().enumerate() {
            let sp = p.child("sources").index(i);
            let kinds = [
                src.config_map.is_some(),
                src.secret.is_some(),
                src.downward_api.is_some(),
                src.service_account_token.is_some(),
                src.cluster_trust_bundle.is_some(),
                src.pod_certificate.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() > 1 {
                errs.push(FieldError::forbidden(
                    &sp,
                    "may not specify more than 1 volume type per source",
                ));
            }
            if let Some(cm) = &src.config_map {
                let cp = sp.child("configMap");
                required_name(errs, cp.child("name"), &cm.name);
                validate_key_to_paths(errs, &cp, cm.items.as_deref(), &mut paths);
            }
            if let Some(sec) = &src.secret {
                let cp = sp.child("secret");
                required_name(errs, cp.child("name"), &sec.name);
                validate_key_to_paths(errs, &cp, sec.items.as_deref(), &mut paths);
            }
            if let Some(da) = &src.downward_api {
                for (k, item) in da.items.iter().flatten().enumerate() {
                    let ip = sp.child("downwardAPI").child("items").index(k);
                    validate_local_path(errs, &ip.child("path"), &item.path);
                    validate_mode(errs, &ip.child("mode"), item.mode);
                    if !item.path.is_empty() && !paths.insert(item.path.clone()) {
                        errs.push(FieldError::invalid(
                            &ip.child("path"),
                            &item.path,
                            "conflicting duplicate paths",
                        ));
                    }
                }
            }
        }
    }
}

/// The object and key of a `configMapKeyRef`/`secretKeyRef` (`p`: its field).
fn validate_key_selector(errs: &mut Errs, p: &FieldPath, name: &str, key: &str) {
    if name.is_empty() {
        errs.push(FieldError::required(&p.child("name"), ""));
    }
    if key.is_empty() {
        errs.push(FieldError::required(&p.child("key"), ""));
    } else {
        for m in names::config_key(key) {
            errs.push(FieldError::invalid(&p.child("key"), key, &m));
        }
    }
}

struct ContainerCtx<'a> {
    volumes: &'a HashSet<&'a str>,
    host_network: bool,
    init: bool,
}

fn validate_container<'a>(
    errs: &mut Errs,
    p: &FieldPath,
    c: &'a Container,
    ctx: &ContainerCtx<'_>,
    all_names: &mut HashSet<&'a str>,
    host_ports: &mut HashSet<(i32, String, String)>,
) {
    if c.name.is_empty() {
        errs.push(FieldError::required(&p.child("name"), ""));
    } else {
        let e = names::dns1123_label(&c.name);
        if !e.is_empty() {
            name_errors(errs, &p.child("name"), &c.name, e);
        } else if !all_names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), &c.name));
        }
    }
    match c.image.as_deref() {
        None | Some("") => errs.push(FieldError::required(&p.child("image"), "")),
        Some(i) if i.trim() != i => errs.push(FieldError::invalid(
            &p.child("image"),
            i,
            "must not have leading or trailing whitespace",
        )),
        Some(_) => {}
    }
    one_of(
        errs,
        &p.child("imagePullPolicy"),
        c.image_pull_policy.as_deref(),
        &["Always", "IfNotPresent", "Never"],
    );
    one_of(
        errs,
        &p.child("terminationMessagePolicy"),
        c.termination_message_policy.as_deref(),
        &["File", "FallbackToLogsOnError"],
    );

    let mut port_names = HashSet::new();
    for (j, port) in c.ports.iter().flatten().enumerate() {
        let pp = p.child("ports").index(j);
        if let Some(n) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let e = names::iana_svc_name(n);
            if !e.is_empty() {
                name_errors(errs, &pp.child("name"), n, e);
            } else if !port_names.insert(n) {
                errs.push(FieldError::duplicate(&pp.child("name"), n));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&pp.child("containerPort"), ""));
        } else {
            port_range(errs, &pp.child("containerPort"), port.container_port);
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            port_range(errs, &pp.child("hostPort"), host_port);
        }
        if ctx.host_network && host_port != port.container_port {
            errs.push(FieldError::invalid(
                &pp.child("hostPort"),
                host_port,
                "must match `containerPort` when `hostNetwork` is true",
            ));
        }
        let protocol = port.protocol.clone().unwrap_or_default();
        one_of(
            errs,
            &pp.child("protocol"),
            Some(&protocol),
            &["SCTP", "TCP", "UDP"],
        );
        let host_ip = port.host_ip.clone().unwrap_or_default();
        if !host_ip.is_empty() && host_ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                &pp.child("hostIP"),
                &host_ip,
                "must be a valid IP address",
            ));
        }
        if host_port != 0 && !host_ports.insert((host_port, protocol.clone(), host_ip)) {
            errs.push(FieldError::duplicate(
                &pp.child("hostPort"),
                format!("{host_port}/{protocol}"),
            ));
        }
    }

    for (j, e) in c.env.iter().flatten().enumerate() {
        validate_env(errs, &p.child("env").index(j), e);
    }
    for (j, e) in c.env_from.iter().flatten().enumerate() {
        let ep = p.child("envFrom").index(j);
        if let Some(prefix) = e.prefix.as_deref().filter(|s| !s.is_empty()) {
            name_errors(
                errs,
                &ep.child("prefix"),
                prefix,
                names::env_var_name(prefix),
            );
        }
        let named = [
            (e.config_map_ref.as_ref().map(|r| &r.name), "configMapRef"),
            (e.secret_ref.as_ref().map(|r| &r.name), "secretRef"),
        ];
        for (name, field) in named {
            if name.is_some_and(|n| n.is_empty()) {
                errs.push(FieldError::required(&ep.child(field).child("name"), ""));
            }
        }
        match (e.config_map_ref.is_some(), e.secret_ref.is_some()) {
            (false, false) => errs.push(FieldError::invalid(
                &ep,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            )),
            (true, true) => errs.push(FieldError::invalid(
                &ep,
                "",
                "may not have more than one field specified at a time",
            )),
            _ => {}
        }
    }

    if let Some(r) = &c.resources {
        validate_resources(errs, &p.child("resources"), r);
    }

    let sidecar = ctx.init && crate::restart::is_sidecar(c);
    match (&c.restart_policy, ctx.init) {
        (Some(rp), true) => one_of(errs, &p.child("restartPolicy"), Some(rp), &["Always"]),
        (Some(_), false) => errs.push(FieldError::forbidden(
            &p.child("restartPolicy"),
            "may not be set for non-init containers",
        )),
        (None, _) => {}
    }
    let probes = [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ];
    for (name, probe) in probes {
        let Some(probe) = probe else { continue };
        let pp = p.child(name);
        if ctx.init && !sidecar {
            errs.push(FieldError::forbidden(
                &pp,
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        validate_probe(errs, &pp, probe, name);
    }
    if let Some(l) = &c.lifecycle {
        let lp = p.child("lifecycle");
        if ctx.init && !sidecar {
            errs.push(FieldError::forbidden(
                &lp,
                "may not be set for init containers without restartPolicy=Always",
            ));
        } else {
            for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
                if let Some(h) = h {
                    validate_lifecycle_handler(errs, &lp.child(name), h);
                }
            }
        }
    }

    let privileged = c
        .security_context
        .as_ref()
        .and_then(|s| s.privileged)
        .unwrap_or(false);
    let mut mount_paths = HashSet::new();
    for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mp = p.child("volumeMounts").index(j);
        if m.name.is_empty() {
            errs.push(FieldError::required(&mp.child("name"), ""));
        } else if !ctx.volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(&mp.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&mp.child("mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &mp.child("mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            validate_relative_path(errs, &mp.child("subPath"), sp);
        }
        if m.sub_path.as_deref().is_some_and(|s| !s.is_empty())
            && m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty())
        {
            errs.push(FieldError::invalid(
                &mp.child("subPathExpr"),
                m.sub_path_expr.as_deref().unwrap_or_default(),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
        one_of(
            errs,
            &mp.child("mountPropagation"),
            m.mount_propagation.as_deref(),
            &["Bidirectional", "HostToContainer", "None"],
        );
        if m.mount_propagation.as_deref() == Some("Bidirectional") && !privileged {
            errs.push(FieldError::forbidden(
                &mp.child("mountPropagation"),
                "Bidirectional mount propagation is available only to privileged containers",
            ));
        }
        if let Some(rro) = m.recursive_read_only.as_deref() {
            let rp = mp.child("recursiveReadOnly");
            one_of(errs, &rp, Some(rro), &["Disabled", "IfPossible", "Enabled"]);
            if rro != "Disabled" && m.read_only != Some(true) {
                errs.push(FieldError::forbidden(
                    &rp,
                    "may only be specified when readOnly is true",
                ));
            }
            if rro != "Disabled" && m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                errs.push(FieldError::forbidden(
                    &rp,
                    "may only be specified when mountPropagation is None or not specified",
                ));
            }
        }
    }
    if let Some(sc) = &c.security_context {
        validate_security_context(errs, &p.child("securityContext"), sc);
    }
}

fn validate_relative_path(errs: &mut Errs, p: &FieldPath, path: &str) {
    if path.starts_with('/') {
        errs.push(FieldError::invalid(p, path, "must be a relative path"));
    }
    if path.split('/').any(|c| c == "..") {
        errs.push(FieldError::invalid(p, path, "must not contain '..'"));
    }
}

const FIELD_REF_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_REFS: &[&str] = &[
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
];

fn validate_env(errs: &mut Errs, p: &FieldPath, e: &EnvVar) {
    if e.name.is_empty() {
        errs.push(FieldError::required(&p.child("name"), ""));
    } else {
        name_errors(
            errs,
            &p.child("name"),
            &e.name,
            names::env_var_name(&e.name),
        );
    }
    let Some(from) = &e.value_from else { return };
    let fp = p.child("valueFrom");
    if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::invalid(
            &fp,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    let count = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
        from.file_key_ref.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    if count == 0 {
        errs.push(FieldError::invalid(
            &fp,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`",
        ));
    } else if count > 1 {
        errs.push(FieldError::invalid(
            &fp,
            "",
            "may not have more than one field specified at a time",
        ));
    }
    if let Some(r) = &from.config_map_key_ref {
        validate_key_selector(errs, &fp.child("configMapKeyRef"), &r.name, &r.key);
    }
    if let Some(r) = &from.secret_key_ref {
        validate_key_selector(errs, &fp.child("secretKeyRef"), &r.name, &r.key);
    }
    if let Some(f) = &from.field_ref {
        let rp = fp.child("fieldRef");
        one_of(
            errs,
            &rp.child("apiVersion"),
            f.api_version.as_deref(),
            &["v1"],
        );
        let path = f.field_path.as_str();
        let subscript_ok = ["metadata.labels['", "metadata.annotations['"]
            .iter()
            .any(|pre| {
                path.strip_prefix(pre)
                    .is_some_and(|rest| rest.len() > 2 && rest.ends_with("']"))
            });
        if path.is_empty() {
            errs.push(FieldError::required(&rp.child("fieldPath"), ""));
        } else if !FIELD_REF_PATHS.contains(&path) && !subscript_ok {
            let mut supported = FIELD_REF_PATHS.to_vec();
            supported.extend(["metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"]);
            errs.push(FieldError::not_supported(
                &rp.child("fieldPath"),
                path,
                &supported,
            ));
        }
    }
    if let Some(r) = &from.resource_field_ref {
        let rp = fp.child("resourceFieldRef");
        let res = r.resource.as_str();
        if res.is_empty() {
            errs.push(FieldError::required(&rp.child("resource"), ""));
        } else if !RESOURCE_FIELD_REFS.contains(&res)
            && !res.starts_with("limits.hugepages-")
            && !res.starts_with("requests.hugepages-")
        {
            errs.push(FieldError::not_supported(
                &rp.child("resource"),
                res,
                RESOURCE_FIELD_REFS,
            ));
        }
        if let Some(d) = &r.divisor {
            validate_quantity(errs, &rp.child("divisor"), d);
        }
    }
}

fn parse_api_quantity(errs: &mut Errs, p: &FieldPath, q: &ApiQuantity) -> Option<Quantity> {
    match Quantity::parse(q.0.trim()) {
        Ok(v) => Some(v),
        Err(e) => {
            errs.push(FieldError::invalid(p, &q.0, &e.to_string()));
            None
        }
    }
}

fn validate_quantity(errs: &mut Errs, p: &FieldPath, q: &ApiQuantity) -> Option<Quantity> {
    let v = parse_api_quantity(errs, p, q)?;
    if v.is_negative() {
        errs.push(FieldError::invalid(
            p,
            &q.0,
            "must be greater than or equal to 0",
        ));
        return None;
    }
    Some(v)
}

fn is_standard_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage" | "storage")
        || name.starts_with("hugepages-")
}

fn validate_resource_map(
    errs: &mut Errs,
    p: &FieldPath,
    map: Option<&BTreeMap<String, ApiQuantity>>,
) -> HashMap<String, Quantity> {
    let mut out = HashMap::new();
    for (k, q) in map.into_iter().flatten() {
        let kp = p.key(k);
        if !is_standard_resource(k) {
            if !k.contains('/') {
                errs.push(FieldError::invalid(
                    &kp,
                    k,
                    "must be a standard resource type or fully qualified",
                ));
                continue;
            }
            let e = names::qualified_name(k);
            if !e.is_empty() {
                name_errors(errs, &kp, k, e);
                continue;
            }
        }
        if let Some(v) = validate_quantity(errs, &kp, q) {
            out.insert(k.clone(), v);
        }
    }
    out
}

fn validate_resources(errs: &mut Errs, p: &FieldPath, r: &ResourceRequirements) {
    let limits = validate_resource_map(errs, &p.child("limits"), r.limits.as_ref());
    let requests = validate_resource_map(errs, &p.child("requests"), r.requests.as_ref());
    let mut keys: Vec<&String> = requests.keys().collect();
    keys.sort();
    for k in keys {
        if let (Some(req), Some(lim)) = (requests.get(k), limits.get(k))
            && req > lim
        {
            let raw_req = r
                .requests
                .as_ref()
                .and_then(|m| m.get(k))
                .map(|q| q.0.clone())
                .unwrap_or_default();
            let raw_lim = r
                .limits
                .as_ref()
                .and_then(|m| m.get(k))
                .map(|q| q.0.clone())
                .unwrap_or_default();
            errs.push(FieldError::invalid(
                &p.child("requests").key(k),
                raw_req,
                &format!("must be less than or equal to {k} limit of {raw_lim}"),
            ));
        }
    }
}

fn validate_int_or_string_port(errs: &mut Errs, p: &FieldPath, port: &IntOrString) {
    match port {
        IntOrString::Int(i) => port_range(errs, p, *i),
        IntOrString::String(s) => {
            let e = names::iana_svc_name(s);
            name_errors(errs, p, s, e);
        }
    }
}

/// Checks that exactly one handler is set; returns false (with an error) otherwise.
fn one_handler(errs: &mut Errs, p: &FieldPath, handlers: &[(&str, bool)]) -> bool {
    let set: Vec<&str> = handlers
        .iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| *n)
        .collect();
    match set.as_slice() {
        [] => {
            errs.push(FieldError::required(p, "must specify a handler type"));
            false
        }
        [_] => true,
        [_, second, ..] => {
            errs.push(FieldError::forbidden(
                &p.child(second),
                "may not specify more than 1 handler type",
            ));
            false
        }
    }
}

fn validate_probe(errs: &mut Errs, p: &FieldPath, probe: &Probe, kind: &str) {
    let ok = one_handler(
        errs,
        p,
        &[
            ("exec", probe.exec.is_some()),
            ("httpGet", probe.http_get.is_some()),
            ("tcpSocket", probe.tcp_socket.is_some()),
            ("grpc", probe.grpc.is_some()),
        ],
    );
    if ok {
        if let Some(e) = &probe.exec
            && e.command.as_ref().is_none_or(|c| c.is_empty())
        {
            errs.push(FieldError::required(&p.child("exec").child("command"), ""));
        }
        if let Some(h) = &probe.http_get {
            let hp = p.child("httpGet");
            validate_int_or_string_port(errs, &hp.child("port"), &h.port);
            one_of(
                errs,
                &hp.child("scheme"),
                h.scheme.as_deref(),
                &["HTTP", "HTTPS"],
            );
        }
        if let Some(t) = &probe.tcp_socket {
            validate_int_or_string_port(errs, &p.child("tcpSocket").child("port"), &t.port);
        }
        if let Some(g) = &probe.grpc {
            port_range(errs, &p.child("grpc").child("port"), g.port);
        }
    }
    for (name, v) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        non_negative(errs, &p.child(name), v.map(i64::from));
    }
    if kind != "readinessProbe"
        && let Some(s) = probe.success_threshold
        && s != 1
    {
        errs.push(FieldError::invalid(
            &p.child("successThreshold"),
            s,
            "must be 1",
        ));
    }
    if let Some(t) = probe.termination_grace_period_seconds {
        let tp = p.child("terminationGracePeriodSeconds");
        if kind == "readinessProbe" {
            errs.push(FieldError::invalid(
                &tp,
                t,
                "must not be set for readinessProbes",
            ));
        } else if t <= 0 {
            errs.push(FieldError::invalid(&tp, t, "must be greater than 0"));
        }
    }
}

fn validate_lifecycle_handler(errs: &mut Errs, p: &FieldPath, h: &LifecycleHandler) {
    let ok = one_handler(
        errs,
        p,
        &[
            ("exec", h.exec.is_some()),
            ("httpGet", h.http_get.is_some()),
            ("tcpSocket", h.tcp_socket.is_some()),
            ("sleep", h.sleep.is_some()),
        ],
    );
    if !ok {
        return;
    }
    if let Some(e) = &h.exec
        && e.command.as_ref().is_none_or(|c| c.is_empty())
    {
        errs.push(FieldError::required(&p.child("exec").child("command"), ""));
    }
    if let Some(g) = &h.http_get {
        let hp = p.child("httpGet");
        validate_int_or_string_port(errs, &hp.child("port"), &g.port);
        one_of(
            errs,
            &hp.child("scheme"),
            g.scheme.as_deref(),
            &["HTTP", "HTTPS"],
        );
    }
    if let Some(t) = &h.tcp_socket {
        validate_int_or_string_port(errs, &p.child("tcpSocket").child("port"), &t.port);
    }
    if let Some(s) = &h.sleep {
        non_negative(errs, &p.child("sleep").child("seconds"), Some(s.seconds));
    }
}

fn validate_seccomp(errs: &mut Errs, p: &FieldPath, s: &SeccompProfile) {
    one_of(
        errs,
        &p.child("type"),
        Some(&s.type_),
        &["Localhost", "RuntimeDefault", "Unconfined"],
    );
    let lp = p.child("localhostProfile");
    match (s.type_.as_str(), s.localhost_profile.as_deref()) {
        ("Localhost", None | Some("")) => errs.push(FieldError::required(
            &lp,
            "must be set when seccomp type is Localhost",
        )),
        ("Localhost", Some(prof)) => validate_relative_path(errs, &lp, prof),
        (_, Some(prof)) if !prof.is_empty() => errs.push(FieldError::invalid(
            &lp,
            prof,
            "can only be set when seccomp type is Localhost",
        )),
        _ => {}
    }
}

fn validate_security_context(errs: &mut Errs, p: &FieldPath, sc: &SecurityContext) {
    id_range(errs, &p.child("runAsUser"), sc.run_as_user);
    id_range(errs, &p.child("runAsGroup"), sc.run_as_group);
    one_of(
        errs,
        &p.child("procMount"),
        sc.proc_mount.as_deref(),
        &["Default", "Unmasked"],
    );
    if let Some(s) = &sc.seccomp_profile {
        validate_seccomp(errs, &p.child("seccompProfile"), s);
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                p,
                "",
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| a.iter().any(|c| c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(FieldError::invalid(
                p,
                "",
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}
