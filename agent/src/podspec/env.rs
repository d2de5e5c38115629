//! A container's environment as the kubelet computes it (`makeEnvironmentVariables`):
//! `envFrom` first (ConfigMaps and Secrets, with prefixes), then `env` in order, `value` with
//! `$(VAR)` expansion against the variables defined before it, `valueFrom.fieldRef`
//! (downward API), `valueFrom.resourceFieldRef`, `configMapKeyRef` and `secretKeyRef` (the
//! rules in [`nodelet_objects::config_sources`]); and the `$(VAR)` expansion used for
//! command, args and subPathExpr. A missing non-optional object or key is a
//! `CreateContainerConfigError` in the kubelet's words.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{EnvVarSource, Pod};

use super::container_ref::ContainerRef;
use super::context::PodContext;
use super::error::SpecError;
use super::resources::{self, NodeResources, Resource};
use nodelet_objects::config_sources;
use nodelet_objects::field::FieldPath;
use nodelet_objects::quantity::Quantity;

/// Name → value of a container's env; the last definition of a name wins.
pub struct EnvMap<'a>(HashMap<&'a str, &'a str>);

impl<'a> EnvMap<'a> {
    pub fn new(env: &'a [(String, String)]) -> EnvMap<'a> {
        EnvMap(env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
    }
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).copied()
    }
}

/// Kubernetes' `$(VAR)` expansion (`third_party/forked/golang/expansion`): `$(NAME)` becomes the
/// value of NAME, or stays literally when NAME is undefined; `$$` is an escaped `$`; any other
/// `$` (and an unterminated `$(`) is kept as is.
pub fn expand(input: &str, env: &EnvMap<'_>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if after.is_empty() {
            out.push('$');
            rest = after;
            break;
        }
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            match r.find(')') {
                Some(end) => {
                    let name = &r[..end];
                    match env.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &r[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = r;
                }
            }
        } else {
            // `$x`: both characters kept; x is not re-read as an operator.
            let ch = after.chars().next().unwrap_or_default();
            out.push('$');
            out.push(ch);
            rest = &after[ch.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

/// The container's env, in the order of `env`, values resolved.
pub fn container_env(
    pod: &Pod,
    which: ContainerRef,
    ctx: &PodContext,
) -> Result<Vec<(String, String)>, SpecError> {
    let c = which.get(pod)?;
    let cf = which.field();
    let mut env: Vec<(String, String)> = env_from(pod, which, ctx)?.vars;
    for (j, e) in c.env.iter().flatten().enumerate() {
        let ef = cf.child("env").index(j);
        let value = match &e.value_from {
            Some(src) => match value_from(pod, which, ctx, src, &ef.child("valueFrom"))? {
                Some(v) => v,
                // An optional key or object that is missing: no variable.
                None => continue,
            },
            None => {
                let defined = EnvMap::new(&env);
                expand(e.value.as_deref().unwrap_or_default(), &defined)
            }
        };
        match env.iter_mut().find(|(k, _)| *k == e.name) {
            Some(slot) => slot.1 = value,
            None => env.push((e.name.clone(), value)),
        }
    }
    Ok(env)
}

/// The pod's namespace (`default` when unset).
fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The variables of the container's `envFrom` and the InvalidEnvironmentVariableNames event
/// messages of keys it skipped.
pub fn env_from(
    pod: &Pod,
    which: ContainerRef,
    ctx: &PodContext,
) -> Result<config_sources::EnvFrom, SpecError> {
    let c = which.get(pod)?;
    config_sources::env_from(
        c.env_from.as_deref().unwrap_or_default(),
        namespace(pod),
        &ctx.config,
    )
    .map_err(|e| SpecError::config_message(e.to_string()))
}

/// A `valueFrom`'s value; `None`: an optional ConfigMap/Secret key or object is missing.
fn value_from(
    pod: &Pod,
    which: ContainerRef,
    ctx: &PodContext,
    src: &EnvVarSource,
    field: &FieldPath,
) -> Result<Option<String>, SpecError> {
    if let Some(f) = &src.field_ref {
        return field_ref(
            pod,
            &ctx.pod_ips,
            &ctx.host_ips,
            &f.field_path,
            &field.child("fieldRef").child("fieldPath"),
        )
        .map(Some);
    }
    if let Some(r) = &src.resource_field_ref {
        return resource_field_ref(
            pod,
            Some(which),
            &ctx.node,
            r,
            &field.child("resourceFieldRef"),
        )
        .map(Some);
    }
    let ns = namespace(pod);
    let found = if let Some(sel) = &src.config_map_key_ref {
        config_sources::config_map_key(sel, ns, &ctx.config)
    } else if let Some(sel) = &src.secret_key_ref {
        config_sources::secret_key(sel, ns, &ctx.config)
    } else {
        let what = if src.file_key_ref.is_some() {
            "fileKeyRef is not supported by nodelet"
        } else {
            "no source given"
        };
        return Err(SpecError::config(field, what));
    };
    found.map_err(|e| SpecError::config_message(e.to_string()))
}

/// The downward API value of `path` (`metadata.labels['app']`, `status.podIP`, ...).
pub fn field_ref(
    pod: &Pod,
    pod_ips: &[String],
    host_ips: &[String],
    path: &str,
    field: &FieldPath,
) -> Result<String, SpecError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str| -> Option<String> {
        let rest = path
            .strip_prefix(prefix)?
            .strip_prefix('[')?
            .strip_suffix(']')?;
        let key = rest
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
        Some(key.to_string())
    };
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    Ok(match path {
        "metadata.name" => s(meta.name.as_ref()),
        "metadata.namespace" => s(meta.namespace.as_ref()),
        "metadata.uid" => s(meta.uid.as_ref()),
        "spec.nodeName" => s(spec.and_then(|s| s.node_name.as_ref())),
        "spec.serviceAccountName" => s(spec.and_then(|s| s.service_account_name.as_ref())),
        "status.podIP" => pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => pod_ips.join(","),
        "status.hostIP" => host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => host_ips.join(","),
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                s(meta.labels.as_ref().and_then(|l| l.get(&k)))
            } else if let Some(k) = map_key("metadata.annotations") {
                s(meta.annotations.as_ref().and_then(|a| a.get(&k)))
            } else {
                return Err(SpecError::config(
                    field,
                    format!(
                        "Unsupported value: {path:?}: supported values: \"metadata.name\", \
                         \"metadata.namespace\", \"metadata.uid\", \"metadata.labels['<KEY>']\", \
                         \"metadata.annotations['<KEY>']\", \"spec.nodeName\", \
                         \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \
                         \"status.podIP\", \"status.podIPs\""
                    ),
                ));
            }
        }
    })
}

/// The value of `resourceFieldRef`: the container's request or limit divided by `divisor`
/// (default 1) and rounded up; an unset limit is the node's capacity.
/// `which` is the container asking (env); `None` for volumes, which must name the container.
pub fn resource_field_ref(
    pod: &Pod,
    which: Option<ContainerRef>,
    node: &NodeResources,
    r: &k8s_openapi::api::core::v1::ResourceFieldSelector,
    field: &FieldPath,
) -> Result<String, SpecError> {
    let spec = pod.spec.as_ref();
    let (c, cf) = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => match which {
            Some(w) => (w.get(pod)?, w.field()),
            None => {
                return Err(SpecError::config(
                    &field.child("containerName"),
                    "Required value: must be specified in volumes",
                ));
            }
        },
        Some(name) => {
            let all = spec.map(|s| {
                let apps = s
                    .containers
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (ContainerRef::App(i), c));
                let inits = s
                    .init_containers
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c)| (ContainerRef::Init(i), c));
                apps.chain(inits).find(|(_, c)| c.name == name)
            });
            match all.flatten() {
                Some((w, c)) => (c, w.field()),
                None => {
                    return Err(SpecError::config(
                        &field.child("containerName"),
                        format!("no container named {name:?} in the pod"),
                    ));
                }
            }
        }
    };
    let res = resources::Requirements::of(c, &cf)?;
    let divisor = match &r.divisor {
        Some(d) => Quantity::parse(&d.0)
            .map_err(|e| SpecError::config(&field.child("divisor"), e.to_string()))?,
        None => Quantity::from_units(1),
    };
    let (resource, is_limit) = match r.resource.as_str() {
        "limits.cpu" => (Resource::Cpu, true),
        "requests.cpu" => (Resource::Cpu, false),
        "limits.memory" => (Resource::Memory, true),
        "requests.memory" => (Resource::Memory, false),
        "limits.ephemeral-storage" => (Resource::EphemeralStorage, true),
        "requests.ephemeral-storage" => (Resource::EphemeralStorage, false),
        other => {
            return Err(SpecError::config(
                &field.child("resource"),
                format!(
                    "Unsupported value: {other:?}: supported values: \"limits.cpu\", \
                     \"limits.memory\", \"limits.ephemeral-storage\", \"requests.cpu\", \
                     \"requests.memory\", \"requests.ephemeral-storage\""
                ),
            ));
        }
    };
    let ceil_div = |n: i64, d: i64| -> Result<String, SpecError> {
        if d <= 0 {
            return Err(SpecError::config(
                &field.child("divisor"),
                "must be greater than zero",
            ));
        }
        Ok((n / d + i64::from(n % d != 0)).to_string())
    };
    match resource {
        Resource::Cpu => {
            let m = if is_limit {
                res.cpu_limit_millis.unwrap_or(node.cpu_millis)
            } else {
                res.cpu_request_millis.unwrap_or(0)
            };
            ceil_div(m, divisor.milli_value())
        }
        Resource::Memory => {
            let b = if is_limit {
                res.memory_limit.unwrap_or(node.memory_bytes)
            } else {
                res.memory_request.unwrap_or(0)
            };
            ceil_div(b, divisor.value())
        }
        Resource::EphemeralStorage => {
            let b = if is_limit {
                res.ephemeral_limit.unwrap_or(node.ephemeral_storage_bytes)
            } else {
                res.ephemeral_request.unwrap_or(0)
            };
            ceil_div(b, divisor.value())
        }
    }
}
