//! The static pod directory as the API's storage: which file (and which YAML document in it)
//! declares a pod, what a pod object looks like written back as a manifest, and atomic
//! writes. Hand-dropped files and files the API wrote are treated alike: a pod is found by
//! parsing every manifest file the source would read, exactly as the source does.
//!
//! Files the API creates are named `<namespace>-<name>.yaml` (another suffix `-2`, `-3`... if
//! that name is taken by a file declaring something else) and carry the annotation
//! `nodelet.io/append-node-name: "false"` so the pod keeps the name it was created with.
//! Other kinds (ConfigMaps, Deployments...) are found the same way, in the static pod
//! directory and in the controllers' directory (`NodeState::workload_dir`); their new files
//! are `<namespace>-<kind>-<name>.yaml`.
//! A pod of a file with several documents is rewritten in place: only its document's text
//! changes (or goes, on delete); the other documents keep their text and comments.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use nodelet_objects::manifest::{
    APPEND_NODE_NAME_ANNOTATION, CONFIG_HASH_ANNOTATION, CONFIG_SEEN_ANNOTATION,
    CONFIG_SOURCE_ANNOTATION, Manifest, ManifestError, StaticPod, parse_manifest,
    parse_manifest_all,
};
use nodelet_objects::workload::DeclaredObject;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("static pod directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding the manifest: {0}")]
    Encode(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a pod (or another object) is declared.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    /// Its document among the file's non-empty documents.
    pub document: usize,
    /// The file's content.
    pub text: String,
    /// The file's pods as the source parses them.
    pub pods: Vec<StaticPod>,
    /// The file's other objects as the source parses them.
    pub objects: Vec<DeclaredObject>,
}

/// The manifest files of `dir` the source reads, sorted.
fn manifest_paths(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let name = e.file_name();
        if nodelet_objects::manifest::is_manifest_name(&name.to_string_lossy())
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The first manifest file of `dirs` (in order, then by file name) one of whose pods or
/// objects `found` picks (its document index), parsed as the source parses it.
fn locate_by(
    dirs: &[&Path],
    node: &str,
    found: impl Fn(&Manifest) -> Option<usize>,
) -> Result<Option<Located>, StoreError> {
    for (path, text, m) in parsed_manifests(dirs, node)? {
        if let Some(document) = found(&m) {
            return Ok(Some(Located {
                path,
                document,
                text,
                pods: m.pods,
                objects: m.objects,
            }));
        }
    }
    Ok(None)
}

/// The manifest files of `dirs` (in order, then by file name) that read and parse, parsed as
/// the source parses them, one at a time: path, text, manifest. Others are skipped (their
/// last good version is the source's business).
fn parsed_manifests<'a>(
    dirs: &[&Path],
    node: &'a str,
) -> Result<impl Iterator<Item = (PathBuf, String, Manifest)> + 'a, StoreError> {
    let mut paths = vec![];
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        paths.extend(manifest_paths(dir)?);
    }
    Ok(paths.into_iter().filter_map(move |path| {
        let text = std::fs::read_to_string(&path).ok()?;
        let m = parse_manifest_all(&path, text.as_bytes(), node, jiff::Timestamp::now()).ok()?;
        Some((path, text, m))
    }))
}

/// The file of `dirs` (the static pod directory, the controllers' directory) declaring pod
/// `namespace/name` (its name as the API shows it).
pub fn locate(
    dirs: &[&Path],
    node: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Located>, StoreError> {
    locate_by(dirs, node, |m| {
        m.pods
            .iter()
            .find(|p| p.namespace() == namespace && p.name() == name)
            .map(|p| p.document)
    })
}

/// The file (of `dirs`: the static pod directory, the controllers' directory) declaring
/// object `kind` `namespace/name`.
pub fn locate_object(
    dirs: &[&Path],
    node: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Located>, StoreError> {
    locate_by(dirs, node, |m| {
        m.objects
            .iter()
            .find(|o| {
                o.object.kind() == kind
                    && o.object.namespace() == namespace
                    && o.object.name() == name
            })
            .map(|o| o.document)
    })
}

/// A file name for a new pod: `<namespace>-<name>.yaml`, or with `-2`, `-3`... if taken.
pub fn new_file(dir: &Path, namespace: &str, name: &str) -> PathBuf {
    numbered(dir, format!("{namespace}-{name}"))
}

/// A file name for a new object of another kind: `<namespace>-<kind>-<name>.yaml`
/// (`default-deployment-web.yaml`; a Namespace's is `namespace-<name>.yaml`), so that it
/// never takes the name a pod of the same name would get; `-2`, `-3`... if taken.
pub fn new_object_file(dir: &Path, kind: &str, namespace: &str, name: &str) -> PathBuf {
    let kind = kind.to_lowercase();
    if namespace.is_empty() {
        numbered(dir, format!("{kind}-{name}"))
    } else {
        numbered(dir, format!("{namespace}-{kind}-{name}"))
    }
}

fn numbered(dir: &Path, base: String) -> PathBuf {
    let mut p = dir.join(format!("{base}.yaml"));
    let mut n = 2;
    while p.exists() {
        p = dir.join(format!("{base}-{n}.yaml"));
        n += 1;
    }
    p
}

/// `pod` as a manifest document (see [`manifest_value`]).
pub fn manifest_form(pod: &Pod, node: &str) -> Value {
    manifest_value(serde_json::to_value(pod).unwrap_or(Value::Null), node)
}

/// An object a client sent (or a pod the API served) as a manifest document: what the server
/// adds (status, uid, resourceVersion, creation and deletion times, generation, managed
/// fields, the config annotations, nodeName, the static pods' NoExecute toleration) taken
/// out, the name as the file declares it (`<name>` of `<name>-<node>` unless the pod keeps
/// its name). Works on JSON so that unknown fields reach the strict manifest check.
pub fn manifest_value(v: Value, node: &str) -> Value {
    let mut v = object_manifest_value(v);
    let Some(o) = v.as_object_mut() else {
        return v;
    };
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        let keeps_name = m
            .get("annotations")
            .and_then(|a| a.get(APPEND_NODE_NAME_ANNOTATION))
            .is_some_and(|v| v == "false");
        if let Some(Value::Object(a)) = m.get_mut("annotations") {
            for k in [
                CONFIG_HASH_ANNOTATION,
                CONFIG_SEEN_ANNOTATION,
                CONFIG_SOURCE_ANNOTATION,
                "kubernetes.io/config.mirror",
            ] {
                a.remove(k);
            }
            if a.is_empty() {
                m.remove("annotations");
            }
        }
        let suffix = format!("-{}", node.to_lowercase());
        if !keeps_name
            && let Some(short) = m
                .get("name")
                .and_then(Value::as_str)
                .and_then(|n| n.strip_suffix(&suffix))
                .map(str::to_string)
        {
            m.insert("name".into(), Value::String(short));
        }
    }
    if let Some(Value::Object(spec)) = o.get_mut("spec") {
        spec.remove("nodeName");
        let static_toleration = serde_json::json!({"operator": "Exists", "effect": "NoExecute"});
        if let Some(Value::Array(t)) = spec.get_mut("tolerations") {
            t.retain(|t| *t != static_toleration);
            if t.is_empty() {
                spec.remove("tolerations");
            }
        }
    }
    v
}

/// An object a client sent (or the API served) as a manifest document: what the server adds
/// (status, uid, resourceVersion, creation and deletion times, generation, managed fields)
/// taken out, and null values (the same as absent: Go clients send `creationTimestamp:
/// null` in templates).
pub fn object_manifest_value(v: Value) -> Value {
    let mut v = strip_nulls(v);
    let Some(o) = v.as_object_mut() else {
        return v;
    };
    o.remove("status");
    if let Some(Value::Object(m)) = o.get_mut("metadata") {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    v
}

/// `v` without null map values, at any depth.
pub fn strip_nulls(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                *x = strip_nulls(std::mem::take(x));
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = strip_nulls(std::mem::take(x));
            }
        }
        _ => {}
    }
    v
}

/// One YAML document's text.
pub fn render(doc: &Value) -> Result<String, StoreError> {
    nodelet_objects::pod_yaml::to_yaml(doc).map_err(|e| StoreError::Encode(e.to_string()))
}

/// The file's text split into documents at `---` lines: (text of each, whether it holds
/// something). The source's document indices count only the non-empty ones.
fn split_documents(text: &str) -> Vec<(String, bool)> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let is_sep =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_sep {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
        }
    }
    docs.into_iter()
        .map(|d| {
            let full = d
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
            (d, full)
        })
        .collect()
}

/// The file's text with document `document` replaced by `new` (`None`: removed).
pub fn splice(text: &str, document: usize, new: Option<&str>) -> String {
    let docs = split_documents(text);
    let mut out: Vec<String> = vec![];
    let mut n = 0;
    for (d, full) in docs {
        if full {
            if n == document {
                if let Some(new) = new {
                    out.push(new.to_string());
                }
                n += 1;
                continue;
            }
            n += 1;
        } else if d.trim().is_empty() {
            continue;
        }
        out.push(d);
    }
    out.join("---\n")
}

/// Checks a file's would-be content the way the source will read it.
pub fn check(path: &Path, text: &str, node: &str) -> Result<Vec<StaticPod>, ManifestError> {
    parse_manifest(path, text.as_bytes(), node, jiff::Timestamp::now())
}

/// As [`check`], with the file's other objects.
pub fn check_all(path: &Path, text: &str, node: &str) -> Result<Manifest, ManifestError> {
    parse_manifest_all(path, text.as_bytes(), node, jiff::Timestamp::now())
}

/// Writes `text` to `path` atomically: a dotfile beside it (never read by the source), synced,
/// then renamed over `path`.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.nodelet-tmp"));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(io(path))
}

/// Removes document `document` of a located pod's (or object's) file: the file itself when it
/// is the only one.
pub fn remove(loc: &Located) -> Result<(), StoreError> {
    if loc.pods.len() + loc.objects.len() <= 1
        && split_documents(&loc.text).iter().filter(|d| d.1).count() <= 1
    {
        return std::fs::remove_file(&loc.path).map_err(io(&loc.path));
    }
    write_atomic(&loc.path, &splice(&loc.text, loc.document, None))
}

/// Removes from the manifest files of `dirs` every document declaring a pod or an object of
/// namespace `ns` (and a Namespace object named `ns`): a file left with nothing is removed,
/// others are rewritten atomically keeping their other documents as written. Files that do
/// not parse are left alone (their last good version is the source's business). The files
/// changed, with what went from each.
pub fn remove_namespace_documents(
    dirs: &[&Path],
    node: &str,
    ns: &str,
) -> Result<Vec<(PathBuf, Vec<String>)>, StoreError> {
    let mut changed = vec![];
    for (path, text, m) in parsed_manifests(dirs, node)? {
        let mut doomed: Vec<(usize, String)> = m
            .pods
            .iter()
            .filter(|p| p.namespace() == ns)
            .map(|p| (p.document, format!("Pod {ns}/{}", p.name())))
            .chain(
                m.objects
                    .iter()
                    .filter(|o| {
                        o.object.namespace() == ns
                            || (o.object.kind() == "Namespace" && o.object.name() == ns)
                    })
                    .map(|o| {
                        (
                            o.document,
                            format!("{} {ns}/{}", o.object.kind(), o.object.name()),
                        )
                    }),
            )
            .collect();
        if doomed.is_empty() {
            continue;
        }
        doomed.sort_by_key(|d| std::cmp::Reverse(d.0));
        doomed.dedup_by_key(|d| d.0);
        let full = split_documents(&text).iter().filter(|d| d.1).count();
        if doomed.len() >= full {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        } else {
            // Highest index first: removing a document renumbers those after it.
            let mut out = text.clone();
            for (doc, _) in &doomed {
                out = splice(&out, *doc, None);
            }
            write_atomic(&path, &out)?;
        }
        changed.push((path, doomed.into_iter().rev().map(|d| d.1).collect()));
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# web and db\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: a, image: x}]\n---\n# the db\napiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers: [{name: a, image: y}]\n";

    #[test]
    fn splice_replaces_or_removes_one_document_keeping_the_others() {
        let out = splice(TWO, 1, None);
        assert_eq!(
            out,
            "# web and db\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: a, image: x}]\n"
        );
        let out = splice(
            TWO,
            0,
            Some(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: web2}\nspec:\n  containers: [{name: a, image: x}]\n",
            ),
        );
        assert!(
            out.starts_with("apiVersion: v1\nkind: Pod\nmetadata: {name: web2}"),
            "{out}"
        );
        assert!(out.contains("---\n# the db\n"), "{out}");
        // A leading separator and empty documents do not count.
        let lead = format!("---\n{TWO}---\n");
        assert!(splice(&lead, 1, None).contains("name: web}"));
        assert!(!splice(&lead, 1, None).contains("name: db}"));
    }

    #[test]
    fn manifest_form_drops_what_the_server_added() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yaml");
        let pods = check(&path, TWO, "node1").unwrap();
        let mut pod = pods[0].pod.clone();
        pod.status = Some(Default::default());
        pod.metadata.resource_version = Some("7".into());
        let v = manifest_form(&pod, "node1");
        assert_eq!(v["metadata"]["name"], "web");
        assert!(v["metadata"].get("uid").is_none(), "{v}");
        assert!(v["metadata"].get("annotations").is_none(), "{v}");
        assert!(v["spec"].get("nodeName").is_none(), "{v}");
        assert!(v["spec"].get("tolerations").is_none(), "{v}");
        assert!(v.get("status").is_none());
        // Written back, it is the same pod (same UID: no restart).
        let text = render(&v).unwrap();
        let again = check(&path, &text, "node1").unwrap();
        assert_eq!(again[0].uid(), pods[0].uid());
    }

    #[test]
    fn files_are_found_named_and_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("two.yaml"), TWO).unwrap();
        let loc = locate(&[dir.path()], "node1", "default", "db-node1")
            .unwrap()
            .unwrap();
        assert_eq!((loc.document, loc.pods.len()), (1, 2));
        assert!(
            locate(&[dir.path()], "node1", "default", "db")
                .unwrap()
                .is_none()
        );
        remove(&loc).unwrap();
        let left = std::fs::read_to_string(dir.path().join("two.yaml")).unwrap();
        assert!(
            !left.contains("name: db") && left.contains("name: web"),
            "{left}"
        );
        let loc = locate(&[dir.path()], "node1", "default", "web-node1")
            .unwrap()
            .unwrap();
        remove(&loc).unwrap();
        assert!(!dir.path().join("two.yaml").exists());
        let p = new_file(dir.path(), "default", "web");
        assert_eq!(p, dir.path().join("default-web.yaml"));
        write_atomic(&p, "x").unwrap();
        assert_eq!(
            new_file(dir.path(), "default", "web"),
            dir.path().join("default-web-2.yaml")
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }

    #[test]
    fn a_namespace_s_documents_go_and_the_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mixed = "# keep me\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: lab}\n---\n# other\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: lab}\nspec:\n  containers: [{name: a, image: x}]\n";
        std::fs::write(dir.path().join("mixed.yaml"), mixed).unwrap();
        std::fs::write(
            dir.path().join("only.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: lab}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("untouched.yaml"), TWO).unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "kind: [\n").unwrap();
        let changed = remove_namespace_documents(&[dir.path()], "node1", "lab").unwrap();
        assert_eq!(
            changed,
            [
                (
                    dir.path().join("mixed.yaml"),
                    vec!["ConfigMap lab/a".to_string(), "Pod lab/p-node1".to_string()]
                ),
                (
                    dir.path().join("only.yaml"),
                    vec!["Secret lab/s".to_string()]
                ),
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("mixed.yaml")).unwrap(),
            "# other\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
        );
        assert!(!dir.path().join("only.yaml").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("untouched.yaml")).unwrap(),
            TWO
        );
        assert!(dir.path().join("broken.yaml").exists());
    }
}
