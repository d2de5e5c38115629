//! What a pod takes from the ConfigMaps and Secrets of its namespace, decided the way the
//! kubelet decides it (`makeEnvironmentVariables`, the configMap, secret, projected and
//! downwardAPI volume plugins' `MakePayload`): the environment of `envFrom` and of
//! `valueFrom.configMapKeyRef`/`secretKeyRef` (with `optional`), and the files a volume
//! projects — path, content and mode (`items`, `mode`, `defaultMode`, `optional`). The agent
//! writes those files ([`Payload`]) and keeps them current; the errors carry the kubelet's
//! words (`configmap "x" not found`, `couldn't find key k in ConfigMap default/x`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapKeySelector, DownwardAPIVolumeFile, EnvFromSource, KeyToPath,
    ProjectedVolumeSource, Secret, SecretKeySelector,
};

use crate::field::FieldPath;
use crate::names;
use crate::workload::Object;

/// The mode of a projected file without `mode` or `defaultMode` (the API server's default).
pub const DEFAULT_MODE: i32 = 0o644;

/// The ConfigMaps and Secrets this node knows, by namespace and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigObjects {
    config_maps: BTreeMap<(String, String), ConfigMap>,
    secrets: BTreeMap<(String, String), Secret>,
}

impl ConfigObjects {
    /// The ConfigMaps and Secrets among `objects` (other kinds are left out).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Object>) -> ConfigObjects {
        let mut out = ConfigObjects::default();
        for o in objects {
            let key = (o.namespace().to_string(), o.name().to_string());
            match o {
                Object::ConfigMap(cm) => {
                    out.config_maps.insert(key, (**cm).clone());
                }
                Object::Secret(s) => {
                    out.secrets.insert(key, (**s).clone());
                }
                _ => {}
            }
        }
        out
    }
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .get(&(namespace.to_string(), name.to_string()))
    }
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Secret> {
        self.secrets.get(&(namespace.to_string(), name.to_string()))
    }
}

/// ConfigMap or Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    /// `configmap`, `secret`: the kubelet's resource word in "not found" errors.
    pub fn resource(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configmap",
            SourceKind::Secret => "secret",
        }
    }
    /// `ConfigMap`, `Secret`.
    pub fn kind(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        }
    }
    /// `configMap`, `secret`: the word in the InvalidEnvironmentVariableNames event.
    fn env_from_word(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configMap",
            SourceKind::Secret => "secret",
        }
    }
}

/// Why a pod cannot have what it asks of a ConfigMap or Secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A non-optional object that does not exist.
    #[error("{} {name:?} not found", kind.resource())]
    NotFound { kind: SourceKind, name: String },
    /// An env var's non-optional key the object does not have.
    #[error("couldn't find key {key} in {} {namespace}/{name}", kind.kind())]
    KeyNotFound {
        kind: SourceKind,
        namespace: String,
        name: String,
        key: String,
    },
    /// A volume item's non-optional key the object does not have.
    #[error("{}{key}", match kind {
        SourceKind::ConfigMap => "configmap references non-existent config key: ",
        SourceKind::Secret => "references non-existent secret key: ",
    })]
    VolumeKeyNotFound { kind: SourceKind, key: String },
    /// A field of the pod that cannot be used (a bad item path, a downward API field).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A projection this node can never provide (serviceAccountToken needs an API server).
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// Several sources of a projected volume failed (the kubelet's aggregate error).
    #[error("[{}]", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Several(Vec<ConfigError>),
}

/// The environment `envFrom` gives: variables in source order (a later source's name wins),
/// and the InvalidEnvironmentVariableNames event messages for keys that are not valid names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvFrom {
    pub vars: Vec<(String, String)>,
    pub skipped: Vec<String>,
}

fn set_var(vars: &mut Vec<(String, String)>, name: String, value: String) {
    match vars.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name, value)),
    }
}

/// The variables of a container's `envFrom` in namespace `namespace`. A missing object is
/// an error unless the source is optional; keys that are not valid environment variable
/// names (after the prefix) are skipped and reported.
pub fn env_from(
    sources: &[EnvFromSource],
    namespace: &str,
    objects: &ConfigObjects,
) -> Result<EnvFrom, ConfigError> {
    let mut out = EnvFrom::default();
    for src in sources {
        let prefix = src.prefix.as_deref().unwrap_or_default();
        let (kind, name, optional, data): (_, _, _, Option<Vec<(String, String)>>) =
            if let Some(r) = &src.config_map_ref {
                let data = objects.config_map(namespace, &r.name).map(|cm| {
                    cm.data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                });
                (
                    SourceKind::ConfigMap,
                    &r.name,
                    r.optional.unwrap_or(false),
                    data,
                )
            } else if let Some(r) = &src.secret_ref {
                let data = objects.secret(namespace, &r.name).map(|s| {
                    s.data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                        .collect()
                });
                (
                    SourceKind::Secret,
                    &r.name,
                    r.optional.unwrap_or(false),
                    data,
                )
            } else {
                continue;
            };
        let Some(data) = data else {
            if optional {
                continue;
            }
            return Err(ConfigError::NotFound {
                kind,
                name: name.clone(),
            });
        };
        let mut invalid = Vec::new();
        for (k, v) in data {
            let k = format!("{prefix}{k}");
            if names::env_var_name(&k).is_empty() {
                set_var(&mut out.vars, k, v);
            } else {
                invalid.push(k);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            out.skipped.push(format!(
                "Keys [{}] from the EnvFrom {} {namespace}/{name} were skipped since they are \
                 considered invalid environment variable names.",
                invalid.join(", "),
                kind.env_from_word(),
            ));
        }
    }
    Ok(out)
}

/// The value of `configMapKeyRef` (`data` only, as the kubelet); `None` when it is optional
/// and the object or key is missing (the variable is left out).
pub fn config_map_key(
    sel: &ConfigMapKeySelector,
    namespace: &str,
    objects: &ConfigObjects,
) -> Result<Option<String>, ConfigError> {
    let data = objects
        .config_map(namespace, &sel.name)
        .map(|cm| cm.data.as_ref().and_then(|d| d.get(&sel.key)).cloned());
    key_value(
        SourceKind::ConfigMap,
        &sel.name,
        &sel.key,
        sel.optional,
        namespace,
        data,
    )
}

/// The value of `secretKeyRef`; `None` when it is optional and the object or key is missing.
pub fn secret_key(
    sel: &SecretKeySelector,
    namespace: &str,
    objects: &ConfigObjects,
) -> Result<Option<String>, ConfigError> {
    let data = objects.secret(namespace, &sel.name).map(|s| {
        s.data
            .as_ref()
            .and_then(|d| d.get(&sel.key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    });
    key_value(
        SourceKind::Secret,
        &sel.name,
        &sel.key,
        sel.optional,
        namespace,
        data,
    )
}

/// `found`: `None` = no such object, `Some(None)` = no such key.
fn key_value(
    kind: SourceKind,
    name: &str,
    key: &str,
    optional: Option<bool>,
    namespace: &str,
    found: Option<Option<String>>,
) -> Result<Option<String>, ConfigError> {
    let optional = optional.unwrap_or(false);
    match found {
        Some(Some(v)) => Ok(Some(v)),
        _ if optional => Ok(None),
        None => Err(ConfigError::NotFound {
            kind,
            name: name.to_string(),
        }),
        Some(None) => Err(ConfigError::KeyNotFound {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            key: key.to_string(),
        }),
    }
}

/// One file of a volume: its content, permission bits and owner (`user`/`defaultUser`;
/// `None`: the writer's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
    pub user: Option<u32>,
}

/// A volume's files by relative path (`key`, `dir/file`).
pub type Payload = BTreeMap<String, FileProjection>;

/// Problems with `path` as a projected file's path: relative, no `..` element, not starting
/// with `..` (the writer's own names).
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("must not be empty")
    } else if path.starts_with('/') {
        Some("must be a relative path")
    } else if path.split('/').any(|c| c == "..") {
        Some("must not contain '..'")
    } else if path.starts_with("..") {
        Some("must not start with '..'")
    } else {
        None
    }
}

fn mode_bits(mode: Option<i32>, default_mode: Option<i32>) -> u32 {
    (mode.or(default_mode).unwrap_or(DEFAULT_MODE) as u32) & 0o7777
}

/// A file's owner from `user` or `defaultUser` (`field`: the item's).
fn owner(
    user: Option<i64>,
    default_user: Option<i64>,
    field: &FieldPath,
) -> Result<Option<u32>, ConfigError> {
    match user.or(default_user) {
        None => Ok(None),
        Some(u) => u32::try_from(u)
            .ok()
            .filter(|u| *u <= i32::MAX as u32)
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid {
                field: field.child("user").to_string(),
                reason: format!("Invalid value: {u}: must be between 0 and 2147483647"),
            }),
    }
}

/// The defaults of a volume's files.
#[derive(Clone, Copy, Debug, Default)]
struct Defaults {
    mode: Option<i32>,
    user: Option<i64>,
}

/// The files of one object's `data` (`None` = the object is missing) with `items` mapping
/// keys to paths, as `MakePayload` of the configMap and secret plugins. Without items every
/// key is a file named after it.
fn object_payload(
    kind: SourceKind,
    data: Option<BTreeMap<String, Vec<u8>>>,
    name: &str,
    items: Option<&[KeyToPath]>,
    defaults: Defaults,
    optional: bool,
    field: &FieldPath,
) -> Result<Payload, ConfigError> {
    let data = match data {
        Some(d) => d,
        None if optional => BTreeMap::new(),
        None => {
            return Err(ConfigError::NotFound {
                kind,
                name: name.to_string(),
            });
        }
    };
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            let user = owner(None, defaults.user, field)?;
            for (k, v) in data {
                let mode = mode_bits(None, defaults.mode);
                out.insert(
                    k,
                    FileProjection {
                        data: v,
                        mode,
                        user,
                    },
                );
            }
        }
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(p) = path_problem(&item.path) {
                    return Err(ConfigError::Invalid {
                        field: field.child("items").index(i).child("path").to_string(),
                        reason: format!("Invalid value: {:?}: {p}", item.path),
                    });
                }
                let Some(v) = data.get(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(ConfigError::VolumeKeyNotFound {
                        kind,
                        key: item.key.clone(),
                    });
                };
                let mode = mode_bits(item.mode, defaults.mode);
                let user = owner(item.user, defaults.user, &field.child("items").index(i))?;
                out.insert(
                    item.path.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode,
                        user,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// A ConfigMap's `data` and `binaryData` as bytes.
fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let text = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()));
    let binary = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()));
    text.chain(binary).collect()
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// The files of a `configMap` volume (`field`: `spec.volumes[i].configMap`).
pub fn config_map_volume(
    src: &k8s_openapi::api::core::v1::ConfigMapVolumeSource,
    namespace: &str,
    objects: &ConfigObjects,
    field: &FieldPath,
) -> Result<Payload, ConfigError> {
    object_payload(
        SourceKind::ConfigMap,
        objects
            .config_map(namespace, &src.name)
            .map(config_map_data),
        &src.name,
        src.items.as_deref(),
        Defaults {
            mode: src.default_mode,
            user: src.default_user,
        },
        src.optional.unwrap_or(false),
        field,
    )
}

/// The files of a `secret` volume (`field`: `spec.volumes[i].secret`).
pub fn secret_volume(
    src: &k8s_openapi::api::core::v1::SecretVolumeSource,
    namespace: &str,
    objects: &ConfigObjects,
    field: &FieldPath,
) -> Result<Payload, ConfigError> {
    let name = src.secret_name.as_deref().unwrap_or_default();
    object_payload(
        SourceKind::Secret,
        objects.secret(namespace, name).map(secret_data),
        name,
        src.items.as_deref(),
        Defaults {
            mode: src.default_mode,
            user: src.default_user,
        },
        src.optional.unwrap_or(false),
        field,
    )
}

/// The files of downward API `items` (`field`: the items' parent); `value` gives an item's
/// content (the agent resolves fieldRef and resourceFieldRef).
pub fn downward_api_files(
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    default_user: Option<i64>,
    field: &FieldPath,
    value: &dyn Fn(&DownwardAPIVolumeFile, &FieldPath) -> Result<String, ConfigError>,
) -> Result<Payload, ConfigError> {
    let mut out = Payload::new();
    for (i, item) in items.iter().enumerate() {
        let itf = field.child("items").index(i);
        if let Some(p) = path_problem(&item.path) {
            return Err(ConfigError::Invalid {
                field: itf.child("path").to_string(),
                reason: format!("Invalid value: {:?}: {p}", item.path),
            });
        }
        let data = value(item, &itf)?.into_bytes();
        let mode = mode_bits(item.mode, default_mode);
        let user = owner(item.user, default_user, &itf)?;
        out.insert(item.path.clone(), FileProjection { data, mode, user });
    }
    Ok(out)
}

/// The files of a `projected` volume: each source's files in order (a later source's path
/// wins); `serviceAccountToken`, `clusterTrustBundle` and `podCertificate` need an API
/// server and are refused. Every failing source is reported (the kubelet's aggregate).
pub fn projected_volume(
    src: &ProjectedVolumeSource,
    namespace: &str,
    objects: &ConfigObjects,
    field: &FieldPath,
    downward: &dyn Fn(&DownwardAPIVolumeFile, &FieldPath) -> Result<String, ConfigError>,
) -> Result<Payload, ConfigError> {
    let mut out = Payload::new();
    let mut errs = Vec::new();
    let defaults = Defaults {
        mode: src.default_mode,
        user: src.default_user,
    };
    for (i, s) in src.sources.iter().flatten().enumerate() {
        let sf = field.child("sources").index(i);
        let unsupported = [
            (s.service_account_token.is_some(), "serviceAccountToken"),
            (s.cluster_trust_bundle.is_some(), "clusterTrustBundle"),
            (s.pod_certificate.is_some(), "podCertificate"),
        ]
        .into_iter()
        .find(|(set, _)| *set);
        let files = if let Some((_, what)) = unsupported {
            return Err(ConfigError::Unsupported {
                field: sf.child(what).to_string(),
                reason: format!(
                    "{what} needs an API server to issue it; nodelet cannot project it"
                ),
            });
        } else if let Some(cm) = &s.config_map {
            object_payload(
                SourceKind::ConfigMap,
                objects.config_map(namespace, &cm.name).map(config_map_data),
                &cm.name,
                cm.items.as_deref(),
                defaults,
                cm.optional.unwrap_or(false),
                &sf.child("configMap"),
            )
        } else if let Some(sec) = &s.secret {
            object_payload(
                SourceKind::Secret,
                objects.secret(namespace, &sec.name).map(secret_data),
                &sec.name,
                sec.items.as_deref(),
                defaults,
                sec.optional.unwrap_or(false),
                &sf.child("secret"),
            )
        } else if let Some(da) = &s.downward_api {
            downward_api_files(
                da.items.as_deref().unwrap_or_default(),
                src.default_mode,
                src.default_user,
                &sf.child("downwardAPI"),
                downward,
            )
        } else {
            Err(ConfigError::Invalid {
                field: sf.to_string(),
                reason: "Required value: must specify a projection source".into(),
            })
        };
        match files {
            Ok(f) => out.extend(f),
            Err(e) => errs.push(e),
        }
    }
    match errs.len() {
        0 => Ok(out),
        1 => Err(errs.remove(0)),
        _ => Err(ConfigError::Several(errs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects() -> ConfigObjects {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg", "namespace": "default"},
            "data": {"color": "blue", "size": "L", "bad=key": "x"},
            "binaryData": {"logo": "AAEC"},
        }))
        .unwrap();
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds", "namespace": "default"},
            "data": {"user": "YWRtaW4=", "pass": "czNjcmV0"},
        }))
        .unwrap();
        let other: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg", "namespace": "other"},
            "data": {"color": "red"},
        }))
        .unwrap();
        ConfigObjects::from_objects(&[
            Object::ConfigMap(Box::new(cm)),
            Object::Secret(Box::new(s)),
            Object::ConfigMap(Box::new(other)),
        ])
    }

    fn env_from_json(v: serde_json::Value) -> Vec<EnvFromSource> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn env_from_sources() {
        let o = objects();
        type Want = Result<Vec<(&'static str, &'static str)>, &'static str>;
        let cases: Vec<(serde_json::Value, Want)> = vec![
            (
                json!([{"configMapRef": {"name": "cfg"}}]),
                Ok(vec![("color", "blue"), ("size", "L")]),
            ),
            (
                json!([{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                       {"secretRef": {"name": "creds"}}]),
                Ok(vec![
                    ("CFG_color", "blue"),
                    ("CFG_size", "L"),
                    ("pass", "s3cret"),
                    ("user", "admin"),
                ]),
            ),
            (
                // A later source's name wins.
                json!([{"secretRef": {"name": "creds"}, "prefix": "color"},
                       {"configMapRef": {"name": "cfg"}}, {"configMapRef": {"name": "cfg"}, "prefix": "s"}]),
                Ok(vec![
                    ("colorpass", "s3cret"),
                    ("coloruser", "admin"),
                    ("color", "blue"),
                    ("size", "L"),
                    ("scolor", "blue"),
                    ("ssize", "L"),
                ]),
            ),
            (
                json!([{"configMapRef": {"name": "nope", "optional": true}}]),
                Ok(vec![]),
            ),
            (
                json!([{"configMapRef": {"name": "nope"}}]),
                Err("configmap \"nope\" not found"),
            ),
            (
                json!([{"secretRef": {"name": "cfg"}}]),
                Err("secret \"cfg\" not found"),
            ),
        ];
        for (src, want) in cases {
            let got = env_from(&env_from_json(src.clone()), "default", &o);
            match want {
                Ok(vars) => {
                    let got = got.unwrap_or_else(|e| panic!("{src}: {e}"));
                    let got: Vec<(&str, &str)> = got
                        .vars
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    assert_eq!(got, vars, "{src}");
                }
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), msg, "{src}"),
            }
        }
        // Keys that are no valid names: skipped, one event per source, sorted.
        let got = env_from(
            &env_from_json(json!([{"configMapRef": {"name": "cfg"}}])),
            "default",
            &o,
        )
        .unwrap();
        assert_eq!(
            got.skipped,
            [
                "Keys [bad=key] from the EnvFrom configMap default/cfg were skipped since they \
              are considered invalid environment variable names."
            ]
        );
        // Objects of another namespace are not seen.
        let got = env_from(
            &env_from_json(json!([{"configMapRef": {"name": "cfg"}}])),
            "other",
            &o,
        )
        .unwrap();
        assert_eq!(got.vars, [("color".to_string(), "red".to_string())]);
    }

    #[test]
    fn key_refs() {
        let o = objects();
        let cm = |v: serde_json::Value| {
            config_map_key(&serde_json::from_value(v).unwrap(), "default", &o)
                .map_err(|e| e.to_string())
        };
        let sec = |v: serde_json::Value| {
            secret_key(&serde_json::from_value(v).unwrap(), "default", &o)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            cm(json!({"name": "cfg", "key": "color"})),
            Ok(Some("blue".into()))
        );
        assert_eq!(
            cm(json!({"name": "cfg", "key": "logo"})),
            Err("couldn't find key logo in ConfigMap default/cfg".into()),
            "binaryData is not for env"
        );
        assert_eq!(
            cm(json!({"name": "cfg", "key": "x", "optional": true})),
            Ok(None)
        );
        assert_eq!(
            cm(json!({"name": "x", "key": "k"})),
            Err("configmap \"x\" not found".into())
        );
        assert_eq!(
            cm(json!({"name": "x", "key": "k", "optional": true})),
            Ok(None)
        );
        assert_eq!(
            sec(json!({"name": "creds", "key": "user"})),
            Ok(Some("admin".into()))
        );
        assert_eq!(
            sec(json!({"name": "creds", "key": "k"})),
            Err("couldn't find key k in Secret default/creds".into())
        );
        assert_eq!(
            sec(json!({"name": "x", "key": "k"})),
            Err("secret \"x\" not found".into())
        );
    }

    fn files(p: &Payload) -> Vec<(&str, &str, u32)> {
        p.iter()
            .map(|(k, f)| {
                (
                    k.as_str(),
                    std::str::from_utf8(&f.data).unwrap_or("?"),
                    f.mode,
                )
            })
            .collect()
    }

    #[test]
    fn config_map_and_secret_volumes() {
        let o = objects();
        let f = FieldPath::new("spec").child("volumes").index(0);
        let cm = |v: serde_json::Value| {
            config_map_volume(&serde_json::from_value(v).unwrap(), "default", &o, &f)
                .map_err(|e| e.to_string())
        };
        let p = cm(json!({"name": "cfg"})).unwrap();
        assert_eq!(
            files(&p),
            [
                ("bad=key", "x", 0o644),
                ("color", "blue", 0o644),
                ("logo", "\0\u{1}\u{2}", 0o644),
                ("size", "L", 0o644),
            ]
        );
        assert_eq!(p["logo"].data, [0, 1, 2], "binaryData is a file");
        let p = cm(json!({"name": "cfg", "defaultMode": 0o400, "items": [
            {"key": "color", "path": "conf/color.txt"},
            {"key": "size", "path": "size", "mode": 0o600}]}))
        .unwrap();
        assert_eq!(
            files(&p),
            [("conf/color.txt", "blue", 0o400), ("size", "L", 0o600)]
        );
        assert_eq!(
            cm(json!({"name": "cfg", "items": [{"key": "nope", "path": "x"}]})),
            Err("configmap references non-existent config key: nope".into())
        );
        let p = cm(json!({"name": "cfg", "optional": true, "items": [
            {"key": "nope", "path": "x"}, {"key": "size", "path": "s"}]}))
        .unwrap();
        assert_eq!(files(&p), [("s", "L", 0o644)]);
        assert_eq!(
            cm(json!({"name": "gone"})),
            Err("configmap \"gone\" not found".into())
        );
        assert_eq!(
            cm(json!({"name": "gone", "optional": true})),
            Ok(Payload::new())
        );
        for (path, why) in [
            ("../x", "must not contain '..'"),
            ("/x", "must be a relative path"),
            ("..data", "must not start with '..'"),
        ] {
            let e =
                cm(json!({"name": "cfg", "items": [{"key": "size", "path": path}]})).unwrap_err();
            assert!(
                e.starts_with("spec.volumes[0].items[0].path: Invalid value") && e.ends_with(why),
                "{e}"
            );
        }

        let sec = |v: serde_json::Value| {
            secret_volume(&serde_json::from_value(v).unwrap(), "default", &o, &f)
                .map_err(|e| e.to_string())
        };
        let p = sec(json!({"secretName": "creds"})).unwrap();
        assert_eq!(
            files(&p),
            [("pass", "s3cret", 0o644), ("user", "admin", 0o644)]
        );
        assert_eq!(
            sec(json!({"secretName": "creds", "items": [{"key": "k", "path": "k"}]})),
            Err("references non-existent secret key: k".into())
        );
        assert_eq!(
            sec(json!({"secretName": "nope"})),
            Err("secret \"nope\" not found".into())
        );
    }

    #[test]
    fn projected_volumes() {
        let o = objects();
        let f = FieldPath::new("spec")
            .child("volumes")
            .index(2)
            .child("projected");
        let downward = |item: &DownwardAPIVolumeFile, field: &FieldPath| match &item.field_ref {
            Some(r) if r.field_path == "metadata.name" => Ok("web".to_string()),
            _ => Err(ConfigError::Invalid {
                field: field.child("fieldRef").to_string(),
                reason: "unsupported".into(),
            }),
        };
        let pv = |v: serde_json::Value| {
            projected_volume(
                &serde_json::from_value(v).unwrap(),
                "default",
                &o,
                &f,
                &downward,
            )
            .map_err(|e| e.to_string())
        };
        let p = pv(json!({"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "color", "path": "color"}]}},
            {"secret": {"name": "creds", "items": [{"key": "user", "path": "user", "mode": 0o400}]}},
            {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"configMap": {"name": "missing", "optional": true}},
        ]}))
        .unwrap();
        assert_eq!(
            files(&p),
            [
                ("color", "blue", 0o440),
                ("name", "web", 0o440),
                ("user", "admin", 0o400)
            ]
        );
        assert_eq!(
            pv(json!({"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "b"}}]})),
            Err("[configmap \"a\" not found, secret \"b\" not found]".into())
        );
        assert_eq!(
            pv(
                json!({"sources": [{"downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}]}}]})
            ),
            Err(
                "spec.volumes[2].projected.sources[0].downwardAPI.items[0].fieldRef: unsupported"
                    .into()
            )
        );
        let e = projected_volume(
            &serde_json::from_value(json!({"sources": [
                {"serviceAccountToken": {"path": "token"}}]}))
            .unwrap(),
            "default",
            &o,
            &f,
            &downward,
        )
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::Unsupported { field, .. }
                if field == "spec.volumes[2].projected.sources[0].serviceAccountToken"),
            "{e}"
        );
    }
}
