//! One static pod manifest file → the pods it declares: YAML/JSON decoding (wrong types are
//! errors; unknown fields are dropped, as the kubelet drops them, and listed in
//! [`StaticPod::ignored_fields`] so the user can be told), Kubernetes defaulting and validation, then what the kubelet does to a
//! static pod: name `<name>-<nodeName>`, UID = config hash of node, path and content,
//! `spec.nodeName`, the `kubernetes.io/config.*` annotations and the NoExecute toleration.
//!
//! Unlike the kubelet, a `metadata.uid` written in the file is replaced by the hash, so that
//! every edit is a new pod — except an edit of labels or annotations only, which the hash
//! leaves out: the running pod takes the new metadata (`pods::view`). The hash covers the parsed, defaulted pod, so comments and
//! formatting do not change it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Toleration};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::field::{FieldError, FieldPath};
use crate::names;
use crate::pod_defaults::apply_defaults;
use crate::pod_validation::validate_pod;

/// Annotation holding the pod's config hash (equal to its UID).
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Annotation naming the pod's source: `file` for static pods (hand-placed files), `api` for
/// pods made through the API or by a workload controller (they carry
/// [`APPEND_NODE_NAME_ANNOTATION`] `"false"`), as the kubelet marks pods from the API server.
/// The kubelet's rule `source != "api"` makes a pod static, hence critical (never evicted).
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// Annotation with the time this version of the pod was first seen (RFC 3339).
pub const CONFIG_SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";
/// Set to `"false"` (pods created through the API), the pod keeps its `metadata.name` instead
/// of the static pod name `<name>-<nodeName>`: `kubectl run foo` makes pod `foo`.
pub const APPEND_NODE_NAME_ANNOTATION: &str = "nodelet.io/append-node-name";
/// Larger manifest files are rejected unread.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// A pod declared by a static pod manifest, ready to run: defaulted, validated, named and
/// hashed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaticPod {
    /// The full pod. `metadata.name` is `<name>-<nodeName>`, `metadata.uid` and the
    /// `kubernetes.io/config.hash` annotation hold the config hash, `spec.nodeName` is set.
    pub pod: Pod,
    /// The manifest file it comes from.
    pub manifest: PathBuf,
    /// Index of its YAML document in that file (0-based).
    pub document: usize,
    /// Fields of the document that this Pod type does not know (e.g. from a newer API
    /// version), dropped: `spec.containers[0].foo`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<String>,
}

impl StaticPod {
    /// The pod's UID, a hash of node name, manifest path and pod content.
    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or_default()
    }
    /// `<metadata.name>-<nodeName>`.
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }
    /// `namespace/name`, unique on a node.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace(), self.name())
    }
    /// When this version was first seen (RFC 3339), from `kubernetes.io/config.seen`.
    pub fn seen(&self) -> &str {
        self.pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONFIG_SEEN_ANNOTATION))
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// The longest problem list a [`ManifestError`] prints.
pub const MESSAGE_MAX: usize = 8192;

/// One problem of a manifest file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file as a whole: unreadable, not UTF-8, YAML syntax, empty, too large.
    File(String),
    /// A field of one document (0-based index).
    Field { document: usize, error: FieldError },
}

/// Why a manifest file yields no pods. `Display`: `<path>: <problem>; <problem>...`, with
/// `document N: ` (1-based) before field errors of multi-document files.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    pub path: PathBuf,
    /// Documents in the file (0 if it could not be split into documents).
    pub documents: usize,
    pub problems: Vec<Problem>,
}

impl ManifestError {
    /// An error about the whole file.
    /// The reason is bounded (a parser's message can quote the input).
    pub fn file(path: &Path, reason: impl Into<String>) -> ManifestError {
        let reason: String = reason.into();
        ManifestError {
            path: path.to_path_buf(),
            documents: 0,
            problems: vec![Problem::File(
                crate::field::bounded_to(&reason, 4 * crate::field::QUOTE_MAX).into_owned(),
            )],
        }
    }

    /// Each problem as a line without the file name (`spec.containers[1].image: Required value`).
    pub fn messages(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| match p {
                Problem::File(r) => r.clone(),
                Problem::Field { document, error } if self.documents > 1 => {
                    format!("document {}: {error}", document + 1)
                }
                Problem::Field { error, .. } => error.to_string(),
            })
            .collect()
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every problem is bounded, and so is their list (a file can have thousands).
        let all = self.messages().join("; ");
        write!(
            f,
            "{}: {}",
            self.path.display(),
            crate::field::bounded_to(&all, MESSAGE_MAX)
        )
    }
}

impl StaticPod {
    /// What the user is told about [`StaticPod::ignored_fields`] (an `UnknownField` Warning
    /// event and the agent log), or `None` when every field was known.
    pub fn ignored_fields_message(&self) -> Option<String> {
        if self.ignored_fields.is_empty() {
            return None;
        }
        let list: Vec<String> = self
            .ignored_fields
            .iter()
            .map(|f| format!("{f:?}"))
            .collect();
        let s = if list.len() == 1 { "" } else { "s" };
        Some(format!(
            "{}: unknown field{s} {} ignored (not in this node's Pod API; the kubelet drops them too)",
            self.manifest.display(),
            list.join(", ")
        ))
    }
}

/// The kinds a manifest document may have, with their apiVersion.
pub const KINDS: &[(&str, &str)] = &[
    ("Pod", "v1"),
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("Namespace", "v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("Deployment", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("ControllerRevision", "apps/v1"),
];

/// The document's kind and apiVersion, checked against [`KINDS`].
fn document_kind(value: &serde_json::Value) -> Result<&'static str, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::type_error(
            &FieldPath::default(),
            "a manifest document must be an object",
        )]);
    };
    let kind = match obj.get("kind") {
        None => {
            let mut errs = vec![FieldError::required(&"kind".into(), "")];
            if !obj.contains_key("apiVersion") {
                errs.push(FieldError::required(&"apiVersion".into(), ""));
            }
            return Err(errs);
        }
        Some(serde_json::Value::String(k)) => match KINDS.iter().find(|(n, _)| n == k) {
            Some((n, v)) => (*n, *v),
            None => {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                return Err(vec![FieldError::not_supported(&"kind".into(), k, &names)]);
            }
        },
        Some(k) => {
            return Err(vec![FieldError::type_error(
                &"kind".into(),
                &format!("expected a string, not {k}"),
            )]);
        }
    };
    match obj.get("apiVersion") {
        None => Err(vec![FieldError::required(&"apiVersion".into(), "")]),
        Some(serde_json::Value::String(v)) if v == kind.1 => Ok(kind.0),
        Some(v) => Err(vec![FieldError::not_supported(
            &"apiVersion".into(),
            v.as_str().unwrap_or(&v.to_string()),
            &[kind.1],
        )]),
    }
}

pub use crate::decode::decode;

/// A manifest's documents as written (YAML or JSON, empty ones dropped), before decoding and
/// defaulting: what the API patches, so a patch never writes defaults into a file.
pub fn documents(path: &Path, content: &[u8]) -> Result<Vec<serde_json::Value>, ManifestError> {
    split_documents(path, content)
}

/// Splits a manifest into YAML documents (JSON is YAML), dropping empty ones.
fn split_documents(path: &Path, content: &[u8]) -> Result<Vec<serde_json::Value>, ManifestError> {
    let text = std::str::from_utf8(content)
        .map_err(|e| ManifestError::file(path, format!("not UTF-8 text: {e}")))?;
    // Booleans are only true/false (`name: n` stays a string); `0644` is octal as in the
    // YAML 1.1 parser Kubernetes uses (file modes).
    let options = serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
        with_snippet: false,
    };
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| {
            let msg = e.without_snippet().to_string();
            // Drop the library's advice to its programmer.
            let msg = msg.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            ManifestError::file(path, format!("invalid YAML: {}", msg.trim()))
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The config hash: SHA-256 over node name, manifest path and the defaulted pod without its
/// labels, annotations, owner references, finalizers and deletion time, as 32 hex
/// digits (the width of the kubelet's MD5 hash).
pub fn config_hash(node_name: &str, path: &Path, pod: &Pod) -> String {
    let mut h = Sha256::new();
    h.update(format!("host:{node_name}").as_bytes());
    h.update(b"\0");
    h.update(format!("file:{}", path.display()).as_bytes());
    h.update(b"\0");
    // Labels and annotations are not part of a version: editing them relabels the running
    // pod (the pod manager passes the file's metadata on to the view) instead of replacing it,
    // as `kubectl label` does to a pod in a cluster.
    let mut p = pod.clone();
    p.metadata.labels = None;
    p.metadata.annotations = None;
    // Owner references change when a controller adopts or releases a pod, finalizers when
    // the Job controller has counted it; the pod runs on.
    p.metadata.owner_references = None;
    p.metadata.finalizers = None;
    // A finished pod whose deletion waits for its finalizers (the API writes its
    // `deletionTimestamp`) is the same pod.
    p.metadata.deletion_timestamp = None;
    p.metadata.deletion_grace_period_seconds = None;
    // Serializing a Pod cannot fail (string keys only); an empty body would still hash node
    // and path.
    h.update(serde_json::to_vec(&p).unwrap_or_default());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses, defaults, validates and names every Pod of a manifest file's content.
/// `seen` becomes the `kubernetes.io/config.seen` annotation. Documents of other kinds
/// ([`KINDS`]) are accepted and left out; [`parse_manifest_all`] returns them too.
pub fn parse_manifest(
    path: &Path,
    content: &[u8],
    node_name: &str,
    seen: jiff::Timestamp,
) -> Result<Vec<StaticPod>, ManifestError> {
    parse_manifest_all(path, content, node_name, seen).map(|m| m.pods)
}

/// What one manifest file declares: pods to run and workload objects (ConfigMaps, Secrets,
/// Namespaces, Jobs, CronJobs, Deployments, ReplicaSets, DaemonSets).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub pods: Vec<StaticPod>,
    pub objects: Vec<crate::workload::DeclaredObject>,
}

/// Parses, defaults and validates every document of a manifest file: pods as
/// [`parse_manifest`] makes them, other kinds through [`crate::workload`]. One invalid
/// document makes the whole file an error (nothing of it is used), as for pods.
pub fn parse_manifest_all(
    path: &Path,
    content: &[u8],
    node_name: &str,
    seen: jiff::Timestamp,
) -> Result<Manifest, ManifestError> {
    if content.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(ManifestError::file(
            path,
            format!("file is larger than {MAX_MANIFEST_SIZE} bytes"),
        ));
    }
    let docs = split_documents(path, content)?;
    if docs.is_empty() {
        return Err(ManifestError::file(path, "file is empty: no document"));
    }
    let documents = docs.len();
    let mut problems = Vec::new();
    let mut pods = Vec::new();
    let mut objects = Vec::new();
    let mut names_seen: HashMap<String, usize> = HashMap::new();
    for (document, value) in docs.into_iter().enumerate() {
        let mut field_errors = |errors: Vec<FieldError>| {
            problems.extend(
                errors
                    .into_iter()
                    .map(|error| Problem::Field { document, error }),
            )
        };
        let kind = match document_kind(&value) {
            Ok(k) => k,
            Err(e) => {
                field_errors(e);
                continue;
            }
        };
        if kind != "Pod" {
            match crate::workload::from_document(kind, value, node_name, path, document) {
                Ok(o) => {
                    let key = format!("{kind}/{}/{}", o.object.namespace(), o.object.name());
                    if let Some(first) = names_seen.insert(key, document) {
                        let mut e = FieldError::duplicate(
                            &FieldPath::new("metadata").child("name"),
                            o.object.name(),
                        );
                        e.detail = format!("also declared by document {}", first + 1);
                        field_errors(vec![e]);
                    } else {
                        objects.push(o);
                    }
                }
                Err(e) => field_errors(e),
            }
            continue;
        }
        let (mut pod, ignored) = match crate::decode::decode::<Pod>(value) {
            Ok(p) => p,
            Err(e) => {
                field_errors(e);
                continue;
            }
        };
        apply_defaults(&mut pod);
        let mut errs = validate_pod(&pod);
        // The kubelet sets `spec.nodeName` to its own name before validating a static pod, and
        // a pod with a node may have no scheduling gates left: it refuses such a file.
        if pod
            .spec
            .as_ref()
            .is_some_and(|s| s.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()))
        {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let keep_name = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPEND_NODE_NAME_ANNOTATION))
            .is_some_and(|v| v == "false");
        let full_name = if keep_name {
            name.clone()
        } else {
            format!("{name}-{}", node_name.to_lowercase())
        };
        let name_path = FieldPath::new("metadata").child("name");
        if errs.is_empty() {
            for m in names::dns1123_subdomain(&full_name) {
                errs.push(FieldError::invalid(
                    &name_path,
                    &full_name,
                    &format!("{m} (the pod name with the node name appended)"),
                ));
            }
        }
        let key = format!(
            "{}/{full_name}",
            pod.metadata.namespace.as_deref().unwrap_or_default()
        );
        if errs.is_empty()
            && let Some(first) = names_seen.insert(key, document)
        {
            let mut e = FieldError::duplicate(&name_path, &name);
            e.detail = format!("also declared by document {}", first + 1);
            errs.push(e);
        }
        if !errs.is_empty() {
            field_errors(errs);
            continue;
        }
        let hash = config_hash(node_name, path, &pod);
        pod.metadata.name = Some(full_name);
        pod.metadata.uid = Some(hash.clone());
        let annotations = pod
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert(CONFIG_HASH_ANNOTATION.into(), hash);
        let source = if keep_name { "api" } else { "file" };
        annotations.insert(CONFIG_SOURCE_ANNOTATION.into(), source.into());
        annotations.insert(CONFIG_SEEN_ANNOTATION.into(), seen.to_string());
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = Some(node_name.to_string());
            let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
            let no_execute = Toleration {
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                ..Default::default()
            };
            if !tolerations.contains(&no_execute) {
                tolerations.push(no_execute);
            }
        }
        pods.push(StaticPod {
            pod,
            manifest: path.to_path_buf(),
            document,
            ignored_fields: ignored.iter().map(ToString::to_string).collect(),
        });
    }
    if problems.is_empty() {
        Ok(Manifest { pods, objects })
    } else {
        Err(ManifestError {
            path: path.to_path_buf(),
            documents,
            problems,
        })
    }
}

/// Is `name` a manifest file name the static pod source reads (`.yaml`, `.yml`, `.json`, not
/// hidden)?
pub fn is_manifest_name(name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
}
