//! Objects other than pods that a manifest may declare — ConfigMap, Secret, Namespace (v1),
//! Job, CronJob (batch/v1), Deployment, ReplicaSet, DaemonSet (apps/v1) — as one [`Object`]
//! type: decoding (as pods: wrong types are errors, unknown fields dropped and listed),
//! the API server's defaulting and validation per kind, and identity.
//!
//! Identity: an object's UID is a hash of node, file, kind, namespace and name — not of its
//! content. Editing a Deployment's image is an update of the same Deployment (a rollout), not
//! a new object, as `kubectl apply` is on a cluster. Removing the object from its file (or
//! the file) deletes it; the engine then deletes what it owns.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::field::{FieldError, FieldPath};
use crate::names;

/// A workload or configuration object.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    Namespace(Box<Namespace>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    DaemonSet(Box<DaemonSet>),
    /// A DaemonSet's revision (what its controller makes; `rollout history|undo`).
    ControllerRevision(Box<ControllerRevision>),
}

/// Calls `$f` on the typed object inside any variant.
macro_rules! each {
    ($o:expr, $x:ident => $e:expr) => {
        match $o {
            Object::ConfigMap($x) => $e,
            Object::Secret($x) => $e,
            Object::Namespace($x) => $e,
            Object::Job($x) => $e,
            Object::CronJob($x) => $e,
            Object::Deployment($x) => $e,
            Object::ReplicaSet($x) => $e,
            Object::DaemonSet($x) => $e,
            Object::ControllerRevision($x) => $e,
        }
    };
}

impl Object {
    /// `Job`, `Deployment`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::Namespace(_) => "Namespace",
            Object::Job(_) => "Job",
            Object::CronJob(_) => "CronJob",
            Object::Deployment(_) => "Deployment",
            Object::ReplicaSet(_) => "ReplicaSet",
            Object::DaemonSet(_) => "DaemonSet",
            Object::ControllerRevision(_) => "ControllerRevision",
        }
    }
    /// `v1`, `batch/v1`, `apps/v1`.
    pub fn api_version(&self) -> &'static str {
        match self {
            Object::ConfigMap(_) | Object::Secret(_) | Object::Namespace(_) => "v1",
            Object::Job(_) | Object::CronJob(_) => "batch/v1",
            Object::Deployment(_)
            | Object::ReplicaSet(_)
            | Object::DaemonSet(_)
            | Object::ControllerRevision(_) => "apps/v1",
        }
    }
    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, x => &x.metadata)
    }
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, x => &mut x.metadata)
    }
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
    /// The namespace; empty for a Namespace (cluster-scoped).
    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or_default()
    }
    pub fn uid(&self) -> &str {
        self.metadata().uid.as_deref().unwrap_or_default()
    }
    /// The object as the API shows it (with `kind` and `apiVersion`).
    pub fn to_value(&self) -> serde_json::Value {
        let mut v = each!(self, x => serde_json::to_value(x)).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("kind".into(), self.kind().into());
            m.insert("apiVersion".into(), self.api_version().into());
        }
        v
    }
    /// Decodes a value of kind `kind` (its `kind`/`apiVersion` already checked).
    pub fn decode(
        kind: &str,
        value: serde_json::Value,
    ) -> Result<(Object, Vec<FieldPath>), Vec<FieldError>> {
        use crate::decode::decode;
        Ok(match kind {
            "ConfigMap" => decode(value).map(|(x, u)| (Object::ConfigMap(Box::new(x)), u))?,
            "Secret" => decode(value).map(|(x, u)| (Object::Secret(Box::new(x)), u))?,
            "Namespace" => decode(value).map(|(x, u)| (Object::Namespace(Box::new(x)), u))?,
            "Job" => decode(value).map(|(x, u)| (Object::Job(Box::new(x)), u))?,
            "CronJob" => decode(value).map(|(x, u)| (Object::CronJob(Box::new(x)), u))?,
            "Deployment" => decode(value).map(|(x, u)| (Object::Deployment(Box::new(x)), u))?,
            "ReplicaSet" => decode(value).map(|(x, u)| (Object::ReplicaSet(Box::new(x)), u))?,
            "DaemonSet" => decode(value).map(|(x, u)| (Object::DaemonSet(Box::new(x)), u))?,
            "ControllerRevision" => {
                decode(value).map(|(x, u)| (Object::ControllerRevision(Box::new(x)), u))?
            }
            other => {
                return Err(vec![FieldError::not_supported(
                    &"kind".into(),
                    other,
                    &[
                        "ConfigMap",
                        "Secret",
                        "Namespace",
                        "Job",
                        "CronJob",
                        "Deployment",
                        "ReplicaSet",
                        "DaemonSet",
                        "ControllerRevision",
                    ],
                )]);
            }
        })
    }
}

/// A kind an [`Object`] holds, typed: the API's routes and printers work on `T`, the node
/// hands out [`Object`]s. Names and paths come from [`k8s_openapi::Resource`].
pub trait Kind:
    k8s_openapi::Resource
    + Clone
    + Default
    + PartialEq
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    fn from_object(o: &Object) -> Option<&Self>;
    fn into_object(self) -> Object;
    fn object_meta(&self) -> &ObjectMeta;
    fn object_meta_mut(&mut self) -> &mut ObjectMeta;
}

macro_rules! kind {
    ($t:ident) => {
        impl Kind for $t {
            fn from_object(o: &Object) -> Option<&Self> {
                match o {
                    Object::$t(x) => Some(x),
                    _ => None,
                }
            }
            fn into_object(self) -> Object {
                Object::$t(Box::new(self))
            }
            fn object_meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn object_meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
kind!(ConfigMap);
kind!(Secret);
kind!(Namespace);
kind!(Job);
kind!(CronJob);
kind!(Deployment);
kind!(ReplicaSet);
kind!(DaemonSet);
kind!(ControllerRevision);

/// An object declared by a manifest file, defaulted and validated, with its UID.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredObject {
    pub object: Object,
    /// The file it comes from.
    pub manifest: PathBuf,
    /// Index of its document in that file (0-based).
    pub document: usize,
    /// Fields the type does not know, dropped (`spec.template.foo`).
    pub ignored_fields: Vec<String>,
}

/// The object's UID: node, file, kind, namespace and name (not the content), 32 hex digits
/// in the UUID layout the API server uses.
pub fn object_uid(node_name: &str, path: &Path, kind: &str, namespace: &str, name: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        node_name,
        &path.display().to_string(),
        kind,
        namespace,
        name,
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    let hex: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// One manifest document of kind `kind` (not Pod) → the declared object, defaulted,
/// validated and given its UID; or the field errors, as the API server words them.
pub fn from_document(
    kind: &str,
    value: serde_json::Value,
    node_name: &str,
    path: &Path,
    document: usize,
) -> Result<DeclaredObject, Vec<FieldError>> {
    let (mut object, unknown) = Object::decode(kind, value)?;
    let cluster_scoped = matches!(object, Object::Namespace(_));
    let meta = object.metadata_mut();
    if cluster_scoped {
        meta.namespace = None;
    } else if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some("default".into());
    }
    let errs = validate_meta(&object);
    if !errs.is_empty() {
        return Err(errs);
    }
    // The UID first: a Job's defaulted selector names it. A `creationTimestamp` written in the
    // document (controllers write one into what they make) is part of the identity: a
    // ReplicaSet deleted and made again under the same name is a new object, as on a cluster
    // (`kubectl delete` waits for the UID it deleted to be gone).
    let identity = match &object.metadata().creation_timestamp {
        Some(t) => format!("{}@{}", object.name(), t.0),
        None => object.name().to_string(),
    };
    let uid = object_uid(node_name, path, kind, object.namespace(), &identity);
    object.metadata_mut().uid = Some(uid);
    defaults(&mut object);
    let errs = validate(&object);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(DeclaredObject {
        object,
        manifest: path.to_path_buf(),
        document,
        ignored_fields: unknown.iter().map(ToString::to_string).collect(),
    })
}

/// Name and namespace rules of every kind.
fn validate_meta(o: &Object) -> Vec<FieldError> {
    let meta = o.metadata();
    let path = FieldPath::new("metadata");
    let mut errs = Vec::new();
    match meta.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        )),
        Some(name) => {
            let problems = match o {
                // Namespaces are DNS labels.
                Object::Namespace(_) => names::dns1123_label(name),
                _ => names::dns1123_subdomain(name),
            };
            for m in problems {
                errs.push(FieldError::invalid(&path.child("name"), name, &m));
            }
            // A CronJob's jobs append 11 characters (`-<minutes>`) to its name, and a
            // job's name must stay a label value.
            if matches!(o, Object::CronJob(_)) && name.len() > 52 {
                errs.push(FieldError::invalid(
                    &path.child("name"),
                    name,
                    "must be no more than 52 characters",
                ));
            }
        }
    }
    if let Some(ns) = meta.namespace.as_deref() {
        for m in names::dns1123_label(ns) {
            errs.push(FieldError::invalid(&path.child("namespace"), ns, &m));
        }
    }
    errs
}

/// The API server's defaulting per kind.
fn defaults(o: &mut Object) {
    match o {
        Object::Job(j) => crate::controllers::job::defaults(j),
        Object::CronJob(c) => crate::controllers::cronjob::defaults(c),
        Object::Deployment(d) => crate::controllers::deployment::defaults(d),
        Object::ReplicaSet(r) => crate::controllers::replicaset::defaults(r),
        Object::DaemonSet(d) => crate::controllers::daemonset::defaults(d),
        _ => {}
    }
    if let Object::Secret(s) = o {
        // `stringData` is write-only: merged into `data` (its keys win), then dropped.
        if let Some(sd) = s.string_data.take() {
            let data = s.data.get_or_insert_with(Default::default);
            for (k, v) in sd {
                data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
            }
        }
        if s.type_.as_deref().is_none_or(str::is_empty) {
            s.type_ = Some("Opaque".into());
        }
    }
}

/// The most a ConfigMap's or Secret's data may hold (the API server's 1 MiB).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`
/// (the rule lives in [`names::config_key`]; pod validation checks key refs with it).
pub use crate::names::config_key as data_key_problems;

/// The API server's validation per kind (beyond name and namespace).
fn validate(o: &Object) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match o {
        Object::ConfigMap(cm) => {
            let mut size = 0;
            let data = cm.data.iter().flatten().map(|(k, v)| (k, v.len(), "data"));
            let binary = cm
                .binary_data
                .iter()
                .flatten()
                .map(|(k, v)| (k, v.0.len(), "binaryData"));
            let mut seen = std::collections::BTreeSet::new();
            for (k, len, field) in data.chain(binary) {
                let p = FieldPath::new(field).key(k);
                for m in data_key_problems(k) {
                    errs.push(FieldError::invalid(&p, k, &m));
                }
                if !seen.insert(k.clone()) {
                    errs.push(FieldError::invalid(
                        &p,
                        k,
                        "duplicate of key present in data",
                    ));
                }
                size += k.len() + len;
            }
            if size > MAX_DATA_SIZE {
                errs.push(FieldError::too_long(&FieldPath::default(), MAX_DATA_SIZE));
            }
        }
        Object::Secret(s) => {
            let mut size = 0;
            for (k, v) in s.data.iter().flatten() {
                let p = FieldPath::new("data").key(k);
                for m in data_key_problems(k) {
                    errs.push(FieldError::invalid(&p, k, &m));
                }
                size += v.0.len();
            }
            if size > MAX_DATA_SIZE {
                errs.push(FieldError::too_long(&FieldPath::new("data"), MAX_DATA_SIZE));
            }
            let has = |k: &str| s.data.as_ref().is_some_and(|d| d.contains_key(k));
            let required: &[&str] = match s.type_.as_deref().unwrap_or("Opaque") {
                "kubernetes.io/tls" => &["tls.crt", "tls.key"],
                "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
                "kubernetes.io/dockercfg" => &[".dockercfg"],
                "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
                _ => &[],
            };
            for k in required {
                if !has(k) {
                    errs.push(FieldError::required(&FieldPath::new("data").key(k), ""));
                }
            }
            if s.type_.as_deref() == Some("kubernetes.io/basic-auth")
                && !has("username")
                && !has("password")
            {
                errs.push(FieldError::required(
                    &FieldPath::new("data").child("username"),
                    "either username or password is required",
                ));
            }
        }
        Object::Namespace(_) => {}
        Object::Job(j) => errs.extend(crate::controllers::job::validate(j)),
        Object::CronJob(c) => errs.extend(crate::controllers::cronjob::validate(c)),
        Object::Deployment(d) => errs.extend(crate::controllers::deployment::validate(d)),
        Object::ReplicaSet(r) => errs.extend(crate::controllers::replicaset::validate(r)),
        Object::DaemonSet(d) => errs.extend(crate::controllers::daemonset::validate(d)),
        Object::ControllerRevision(r) => {
            if r.revision.is_some_and(|v| v < 0) {
                errs.push(FieldError::invalid(
                    &FieldPath::new("revision"),
                    r.revision.unwrap_or_default(),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    errs
}

/// The API server's update rules of a ConfigMap or Secret (`ValidateConfigMapUpdate`,
/// `ValidateSecretUpdate`): once `immutable: true`, it stays so and its data cannot change;
/// a Secret's `type` never changes. Other kinds: no rules here.
pub fn validate_update(old: &Object, new: &Object) -> Vec<FieldError> {
    const FROZEN: &str = "field is immutable when `immutable` is set";
    let mut errs = Vec::new();
    let mut frozen = |was: Option<bool>, is: Option<bool>, changed: &[(bool, &str)]| {
        if was == Some(true) {
            if is != Some(true) {
                errs.push(FieldError::forbidden(&FieldPath::new("immutable"), FROZEN));
            }
            for (c, field) in changed {
                if *c {
                    errs.push(FieldError::forbidden(&FieldPath::new(field), FROZEN));
                }
            }
        }
    };
    match (old, new) {
        (Object::ConfigMap(a), Object::ConfigMap(b)) => frozen(
            a.immutable,
            b.immutable,
            &[
                (a.data != b.data, "data"),
                (a.binary_data != b.binary_data, "binaryData"),
            ],
        ),
        (Object::Secret(a), Object::Secret(b)) => {
            frozen(a.immutable, b.immutable, &[(a.data != b.data, "data")]);
            if a.type_ != b.type_ {
                errs.push(FieldError::invalid(
                    &FieldPath::new("type"),
                    b.type_.as_deref().unwrap_or_default(),
                    "field is immutable",
                ));
            }
        }
        _ => {}
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<DeclaredObject, Vec<String>> {
        let v: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
        let kind = v["kind"].as_str().expect("kind").to_string();
        from_document(&kind, v, "node1", Path::new("/m/x.yaml"), 0)
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn secrets_merge_string_data_and_default_their_type() {
        let o = parse(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: aGk=\n  b: eA==\nstringData:\n  b: two\n",
        )
        .expect("valid");
        let Object::Secret(s) = &o.object else {
            panic!("not a secret")
        };
        let data = s.data.as_ref().expect("data");
        assert_eq!(data["a"].0, b"hi");
        assert_eq!(data["b"].0, b"two");
        assert_eq!(s.string_data, None);
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert_eq!(o.object.namespace(), "default");
    }

    #[test]
    fn invalid_objects_name_field_and_reason() {
        let cases = [
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  'a b': x\n",
                "data[a b]: Invalid value: \"a b\": a valid config key",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad\n",
                "metadata.name: Invalid value: \"Bad\"",
            ),
            (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: t\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n",
                "data[tls.key]: Required value",
            ),
            (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n",
                "metadata.name: Invalid value: \"a.b\"",
            ),
            (
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a23456789012345678901234567890123456789012345678901234\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: []\n",
                "must be no more than 52 characters",
            ),
            (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: '%%%'\n",
                "data.a",
            ),
        ];
        for (yaml, want) in cases {
            let errs = parse(yaml).expect_err(yaml);
            assert!(errs.iter().any(|e| e.contains(want)), "{yaml}: {errs:?}");
        }
    }

    #[test]
    fn uid_is_identity_not_content() {
        let a = object_uid("n", Path::new("/m/a.yaml"), "Deployment", "default", "web");
        assert_eq!(a.len(), 36);
        assert_eq!(
            a,
            object_uid("n", Path::new("/m/a.yaml"), "Deployment", "default", "web")
        );
        assert_ne!(
            a,
            object_uid("n", Path::new("/m/a.yaml"), "ReplicaSet", "default", "web")
        );
        assert_ne!(
            a,
            object_uid("n", Path::new("/m/b.yaml"), "Deployment", "default", "web")
        );
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let old = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nimmutable: true\ndata:\n  a: v1\n",
        )
        .expect("valid")
        .object;
        let errs = |new: &str| -> Vec<String> {
            let new = parse(new).expect("valid").object;
            validate_update(&old, &new)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            errs(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nimmutable: true\ndata:\n  a: v2\n"
            ),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        assert_eq!(
            errs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: v1\n"),
            ["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
        assert!(
            errs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: b}\nimmutable: true\ndata:\n  a: v1\n")
                .is_empty(),
            "metadata may change"
        );
        // A mutable object may change, and may become immutable.
        let mutable =
            parse("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: v1\n")
                .expect("valid")
                .object;
        let frozen = parse("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nimmutable: true\nstringData:\n  a: v2\n")
            .expect("valid")
            .object;
        assert!(validate_update(&mutable, &frozen).is_empty());
        let errs: Vec<String> = validate_update(&frozen, &mutable)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
        let tls = parse("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: kubernetes.io/basic-auth\nstringData:\n  username: x\n")
            .expect("valid")
            .object;
        let errs: Vec<String> = validate_update(&mutable, &tls)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("type: Invalid value"), "{errs:?}");
    }
}
