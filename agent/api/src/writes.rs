//! Pod writes through the API go to the static pod directory (the single source of truth):
//! create (POST), replace (PUT), patch (PATCH: JSON, merge, strategic), delete (DELETE, one
//! pod or a labelled collection) write, rewrite or remove manifest files (`manifest_files`);
//! the pod manager then does what it does with a changed file (start, replace or stop the
//! pod). Every write is checked first exactly as the source will read the file: invalid
//! input is a 422 naming the field and nothing is written. A write answers once the node's
//! view shows the result (at most [`SETTLE`]), so the next `kubectl get` sees it.
//!
//! Namespaces: deleting one deletes its pods; creating one is remembered while the agent runs
//! (namespaces are otherwise those of the pods plus the four well-known ones).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{delete, patch, post, put};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, Time};
use serde::Deserialize;
use serde_json::Value;

use super::kube::Kube;
use super::manifest_files::{self as files, Located};
use super::patch::{self as patching, PatchType};
use super::response::{json_response, status_response};
use super::{NodeState, status};
use nodelet_objects::field::{FieldError, FieldPath};
use nodelet_objects::manifest::{APPEND_NODE_NAME_ANNOTATION, ManifestError, Problem};
use nodelet_objects::selector::Selector;

/// How long a write waits for the node's view to show its result.
pub const SETTLE: Duration = Duration::from_secs(3);

/// The write routes (sharing `kube` with the reads).
pub fn routes<S: NodeState>(kube: Kube<S>) -> Router {
    Router::new()
        .route("/api/v1/namespaces/{ns}/pods", post(create::<S>))
        .route(
            "/api/v1/namespaces/{ns}/pods",
            delete(delete_collection::<S>),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}", put(replace::<S>))
        .route("/api/v1/namespaces/{ns}/pods/{name}", patch(patch_pod::<S>))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            delete(delete_pod::<S>),
        )
        .route("/api/v1/namespaces/{name}", delete(delete_namespace::<S>))
        .route("/api/v1/namespaces", post(create_namespace::<S>))
        .with_state(kube)
}

#[derive(Debug, Default, Deserialize)]
pub struct WriteParams {
    #[serde(rename = "dryRun")]
    pub(crate) dry_run: Option<String>,
    #[serde(rename = "gracePeriodSeconds")]
    pub(crate) grace_period_seconds: Option<i64>,
    #[serde(rename = "labelSelector")]
    pub(crate) label_selector: Option<String>,
    /// `Strict` (kubectl's default), `Warn` or `Ignore`.
    #[serde(rename = "fieldValidation")]
    pub(crate) field_validation: Option<String>,
}

impl WriteParams {
    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run.as_deref() == Some("All")
    }

    /// Whether unknown fields fail the write: unless the client asked to be warned or to
    /// have them ignored (a manifest file dropped by hand keeps the kubelet's leniency).
    pub(crate) fn strict(&self) -> bool {
        !matches!(self.field_validation.as_deref(), Some("Warn" | "Ignore"))
    }
}

/// A write whose object has fields the Pod API does not know fails as the API server's
/// strict field validation does (400 BadRequest naming them), before anything is written.
pub(crate) fn unknown_fields(strict: bool, ignored_fields: &[String]) -> Result<(), Box<Status>> {
    if !strict || ignored_fields.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = ignored_fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    Err(status::bad_request(format!(
        "strict decoding error: {}",
        list.join(", ")
    )))
}

pub(crate) type Reply = Result<Response, Box<Status>>;

pub(crate) fn reply(r: Reply) -> Response {
    r.unwrap_or_else(status_response)
}

pub(crate) fn static_dir<S: NodeState>(k: &Kube<S>) -> Result<PathBuf, Box<Status>> {
    k.node
        .static_pod_dir()
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            status::failure(
                405,
                "MethodNotAllowed",
                "this node's API is read-only (no static pod directory)".into(),
            )
        })
}

/// A request body: JSON, or YAML (`application/yaml`).
pub(crate) fn body_value(h: &HeaderMap, body: &[u8]) -> Result<Value, Box<Status>> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let parsed = if ct.starts_with(super::protobuf::CONTENT_TYPE) {
        super::protobuf::decode(body)
    } else if ct.contains("yaml") {
        std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_saphyr::from_str::<Value>(t).map_err(|e| e.to_string()))
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    let v = parsed.map_err(|e| {
        status::bad_request(format!(
            "the request body ({ct}) is not a valid object: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(status::bad_request(
            "the request body must be an object".into(),
        ));
    }
    Ok(v)
}

/// The body must be a v1 Pod (when it says what it is).
fn check_kind(v: &Value) -> Result<(), Box<Status>> {
    match (
        v.get("apiVersion").and_then(Value::as_str),
        v.get("kind").and_then(Value::as_str),
    ) {
        (Some("v1") | None, Some("Pod") | None) => Ok(()),
        (api, kind) => Err(status::bad_request(format!(
            "the object is a {} {}: only v1 Pods can be written to pods",
            api.unwrap_or("v1"),
            kind.unwrap_or("Pod")
        ))),
    }
}

/// A manifest check's errors as the API server's answer: field errors → 422 Invalid with
/// their causes, a file-level problem → 400.
fn manifest_status(name: &str, e: &ManifestError) -> Box<Status> {
    manifest_status_of("Pod", name, e)
}

/// As `manifest_status`, for an object of kind `kind`.
pub(crate) fn manifest_status_of(kind: &str, name: &str, e: &ManifestError) -> Box<Status> {
    let mut fields: Vec<FieldError> = vec![];
    for p in &e.problems {
        match p {
            Problem::Field { error, .. } => fields.push(error.clone()),
            Problem::File(msg) => return status::bad_request(msg.clone()),
        }
    }
    status::invalid(kind, name, &fields)
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// Whether the view's pod `p` is the version `want` declares (UID, labels, annotations).
fn is_version(p: &Pod, want: &nodelet_objects::manifest::StaticPod) -> bool {
    let node = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let meta = |v: serde_json::Value| v.get("metadata").cloned();
    p.metadata.uid.as_deref() == Some(want.uid())
        && meta(files::manifest_form(p, &node)) == meta(files::manifest_form(&want.pod, &node))
}

/// Waits until the node's view shows version `want` of pod `ns/name`.
async fn settle<S: NodeState>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    want: &nodelet_objects::manifest::StaticPod,
) -> Option<Pod> {
    let t = tokio::time::Instant::now();
    loop {
        let p = k.pod(ns, name);
        if let Some(p) = &p
            && is_version(p, want)
        {
            return Some(p.clone());
        }
        if t.elapsed() >= SETTLE {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The name a create gives object `v` (of `kind`) in `ns`: its `metadata.name`, else one made
/// from `generateName`; written into `v` with the namespace. 400 if the object names another
/// namespace, 422 without a name.
pub(crate) fn claim_name(v: &mut Value, ns: &str, kind: &str) -> Result<String, Box<Status>> {
    if let Some(body_ns) = str_at(v, &["metadata", "namespace"])
        && body_ns != ns
    {
        return Err(namespace_mismatch());
    }
    let name = match (
        str_at(v, &["metadata", "name"]),
        str_at(v, &["metadata", "generateName"]),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_string(),
        (_, Some(g)) if !g.is_empty() => generated(g),
        _ => {
            return Err(status::invalid(
                kind,
                "",
                &[FieldError::required(
                    &FieldPath::new("metadata").child("name"),
                    "name or generateName is required",
                )],
            ));
        }
    };
    if let Some(Value::Object(m)) = v.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()))
    }) {
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("namespace".into(), Value::String(ns.to_string()));
        m.remove("generateName");
    }
    Ok(name)
}

fn namespace_mismatch() -> Box<Status> {
    status::bad_request(
        "the namespace of the provided object does not match the namespace sent on the request"
            .into(),
    )
}

/// An update's object must be the one of the URL: 400 if it names another object or
/// namespace.
pub(crate) fn check_identity(v: &Value, ns: &str, name: &str) -> Result<(), Box<Status>> {
    if let Some(n) = str_at(v, &["metadata", "name"])
        && n != name
    {
        return Err(status::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if str_at(v, &["metadata", "namespace"]).is_some_and(|n| n != ns) {
        return Err(namespace_mismatch());
    }
    Ok(())
}

/// The patch type of a PATCH request (its Content-Type), 415 for any other body type.
pub(crate) fn patch_type(h: &HeaderMap) -> Result<PatchType, Box<Status>> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(|| status::unsupported_media_type(ct))
}

/// A patch that cannot be applied: 400 for a body that is not a patch, else 422.
pub(crate) fn patch_status(e: patching::PatchError) -> Box<Status> {
    match e {
        patching::PatchError::Body(m) => status::bad_request(m),
        other => status::failure(422, "Invalid", other.to_string()),
    }
}

/// A name for `generateName`: the prefix and five characters.
pub(crate) fn generated(prefix: &str) -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n =
        jiff::Timestamp::now().as_nanosecond().unsigned_abs() ^ u128::from(std::process::id());
    let mut s = prefix.to_string();
    for _ in 0..5 {
        s.push(CHARS[(n % CHARS.len() as u128) as usize] as char);
        n /= CHARS.len() as u128;
    }
    s
}

/// The pod a checked manifest declares, as the API will show it (before status).
fn shown(p: &nodelet_objects::manifest::StaticPod) -> Pod {
    let mut pod = p.pod.clone();
    pod.metadata.creation_timestamp = Some(Time(jiff::Timestamp::now()));
    pod
}

async fn create<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    reply(create_pod(&k, &ns, &q, &h, &body).await)
}

async fn create_pod<S: NodeState>(
    k: &Kube<S>,
    ns: &str,
    q: &WriteParams,
    h: &HeaderMap,
    body: &[u8],
) -> Reply {
    let v = body_value(h, body)?;
    create_value(k, ns, q, v).await
}

/// Creates pod `v` (a Pod object) in `ns`.
async fn create_value<S: NodeState>(k: &Kube<S>, ns: &str, q: &WriteParams, mut v: Value) -> Reply {
    let dir = static_dir(k)?;
    let node = k.node.node_facts().name;
    check_kind(&v)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), "v1".into());
        o.insert("kind".into(), "Pod".into());
    }
    let name = claim_name(&mut v, ns, "Pod")?;
    let meta = v.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()))
    });
    if let Some(Value::Object(m)) = meta {
        let a = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(a) = a {
            a.insert(APPEND_NODE_NAME_ANNOTATION.into(), "false".into());
        }
    }
    if k.pod(ns, &name).is_some()
        || files::locate(&dir_refs(&object_dirs(k)?), &node, ns, &name)
            .map_err(|e| status::internal(e.to_string()))?
            .is_some()
    {
        return Err(status::already_exists("pods", &name));
    }
    let doc = files::manifest_value(v, &node);
    let text = files::render(&doc).map_err(|e| status::internal(e.to_string()))?;
    let path = files::new_file(&dir, ns, &name);
    let pods = files::check(&path, &text, &node).map_err(|e| manifest_status(&name, &e))?;
    let Some(new) = pods.first() else {
        return Err(status::internal("the manifest declares no pod".into()));
    };
    unknown_fields(q.strict(), &new.ignored_fields)?;
    if q.dry_run() {
        return Ok(json_response(StatusCode::CREATED, &shown(new)));
    }
    files::write_atomic(&path, &text).map_err(|e| status::internal(e.to_string()))?;
    tracing::info!(pod = %format!("{ns}/{name}"), file = %path.display(), "created through the API");
    let pod = settle(k, ns, &name, new)
        .await
        .unwrap_or_else(|| shown(new));
    Ok(json_response(StatusCode::CREATED, &pod))
}

/// The file of pod `ns/name`; 404 if no pod has that name, 409 if the pod runs but no valid
/// file declares it now (its file turned invalid: the last good version keeps running).
fn find<S: NodeState>(
    k: &Kube<S>,
    dir: &Path,
    ns: &str,
    name: &str,
) -> Result<(Pod, Located), Box<Status>> {
    let node = k.node.node_facts().name;
    let current = k.pod(ns, name);
    // Its file is in the static pod directory, or (a controller's pod) in the controllers'.
    let mut dirs = object_dirs(k)?;
    if !dirs.iter().any(|d| d == dir) {
        dirs.insert(0, dir.to_path_buf());
    }
    let loc = files::locate(&dir_refs(&dirs), &node, ns, name)
        .map_err(|e| status::internal(e.to_string()))?;
    match (current, loc) {
        (Some(p), Some(l)) => Ok((p, l)),
        (None, Some(l)) => {
            // Written, not yet picked up: the file's version.
            let p = l
                .pods
                .iter()
                .find(|p| p.name() == name)
                .map(shown)
                .unwrap_or_default();
            Ok((p, l))
        }
        (Some(_), None) => Err(status::conflict(
            "pods",
            name,
            &format!(
                "no valid manifest in {} declares it now (the pod runs from the last valid version of its file); fix or remove that file",
                dir.display()
            ),
        )),
        (None, None) => Err(status::pod_not_found(name)),
    }
}

/// Writes `new` (an object for pod `ns/name`) over its manifest document.
async fn update<S: NodeState>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    current: &Pod,
    loc: &Located,
    new: Value,
    q: &WriteParams,
) -> Reply {
    let (dry_run, strict) = (q.dry_run(), q.strict());
    let node = k.node.node_facts().name;
    check_kind(&new)?;
    check_identity(&new, ns, name)?;
    if let Some(rv) = str_at(&new, &["metadata", "resourceVersion"])
        && current
            .metadata
            .resource_version
            .as_deref()
            .is_some_and(|c| c != rv)
    {
        return Err(status::conflict(
            "pods",
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if let Some(uid) = str_at(&new, &["metadata", "uid"])
        && current.metadata.uid.as_deref().is_some_and(|c| c != uid)
    {
        return Err(status::conflict(
            "pods",
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                current.metadata.uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    // A pod created through the API keeps its name whatever the new object says about it
    // (`kubectl replace -f` of the user's own file has no such annotation).
    let mut new = new;
    let keeps_name = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPEND_NODE_NAME_ANNOTATION))
        .is_some_and(|v| v == "false");
    if keeps_name
        && let Some(Value::Object(m)) = new.as_object_mut().map(|o| {
            o.entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()))
        })
    {
        let a = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(a) = a {
            a.entry(APPEND_NODE_NAME_ANNOTATION)
                .or_insert_with(|| "false".into());
        }
    }
    let mut doc = files::manifest_value(new, &node);
    if let Some(Value::Object(m)) = doc.get_mut("metadata") {
        m.insert("namespace".into(), Value::String(ns.to_string()));
        // The file's namespace spelling: left out if it was.
        if ns == "default" && !loc.text.contains("namespace:") {
            m.remove("namespace");
        }
    }
    let yaml = files::render(&doc).map_err(|e| status::internal(e.to_string()))?;
    let text = files::splice(&loc.text, loc.document, Some(&yaml));
    let pods = files::check(&loc.path, &text, &node).map_err(|e| manifest_status(name, &e))?;
    let Some(new) = pods.iter().find(|p| p.name() == name) else {
        return Err(status::internal(
            "the rewritten manifest lost the pod".into(),
        ));
    };
    unknown_fields(strict, &new.ignored_fields)?;
    let declared = loc.pods.iter().find(|p| p.name() == name);
    if declared.is_some_and(|d| {
        files::manifest_form(&d.pod, &node) == files::manifest_form(&new.pod, &node)
    }) {
        // Nothing changed: the file stays as it is.
        return Ok(json_response(StatusCode::OK, current));
    }
    if dry_run {
        return Ok(json_response(StatusCode::OK, &shown(new)));
    }
    files::write_atomic(&loc.path, &text).map_err(|e| status::internal(e.to_string()))?;
    tracing::info!(pod = %format!("{ns}/{name}"), file = %loc.path.display(), "rewritten through the API");
    let pod = settle(k, ns, name, new).await.unwrap_or_else(|| shown(new));
    Ok(json_response(StatusCode::OK, &pod))
}

async fn replace<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    reply(
        async {
            let dir = static_dir(&k)?;
            let new = body_value(&h, &body)?;
            let (current, loc) = find(&k, &dir, &ns, &name)?;
            update(&k, &ns, &name, &current, &loc, new, &q).await
        }
        .await,
    )
}

async fn patch_pod<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    reply(
        async {
            let dir = static_dir(&k)?;
            let kind = match patch_type(&h)? {
                PatchType::Apply => {
                    // Server-side apply with one field manager: the applied object becomes the
                    // pod's manifest, created if there is none.
                    let v = body_value(&h, &body)?;
                    check_identity(&v, &ns, &name)?;
                    return match find(&k, &dir, &ns, &name) {
                        Ok((current, loc)) => update(&k, &ns, &name, &current, &loc, v, &q).await,
                        Err(s) if s.code == Some(404) => create_value(&k, &ns, &q, v).await,
                        Err(s) => Err(s),
                    };
                }
                k => k,
            };
            let (current, loc) = find(&k, &dir, &ns, &name)?;
            let doc =
                serde_json::to_value(&current).map_err(|e| status::internal(e.to_string()))?;
            let new = patching::apply(&doc, kind, &body).map_err(patch_status)?;
            update(&k, &ns, &name, &current, &loc, new, &q).await
        }
        .await,
    )
}

/// Removes pod `ns/name`'s manifest (document); the pod is stopped with its grace period, or
/// with `grace` seconds if the deletion gave one.
async fn remove_pod<S: NodeState>(
    k: &Kube<S>,
    dir: &Path,
    ns: &str,
    name: &str,
    dry_run: bool,
    grace: Option<i64>,
) -> Result<Pod, Box<Status>> {
    let (mut pod, loc) = find(k, dir, ns, name)?;
    if let Some(p) = held_by_finalizers(k, &pod, &loc, dry_run, grace)? {
        return Ok(p);
    }
    if !dry_run {
        if let (Some(g), Some(uid)) = (grace, pod.metadata.uid.as_deref()) {
            k.node
                .set_deletion_grace(uid, Duration::from_secs(g.max(0) as u64));
        }
        files::remove(&loc).map_err(|e| status::internal(e.to_string()))?;
        tracing::info!(pod = %format!("{ns}/{name}"), file = %loc.path.display(), "deleted through the API");
    }
    let grace = grace.unwrap_or_else(|| {
        pod.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
    });
    if !dry_run && let Some(uid) = pod.metadata.uid.as_deref() {
        k.mark_deleting(uid, grace);
    }
    pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    Ok(pod)
}

/// A controller's pod that still has finalizers (a Job's `batch.kubernetes.io/job-tracking`,
/// before the Job counted it) is not removed yet, as the API server keeps an object with
/// finalizers: its file gets `deletionTimestamp` and `deletionGracePeriodSeconds`. The pod
/// manager stops a running one's containers with that grace period and keeps it, terminal;
/// the Job controller sees it terminating, counts it and removes its finalizer; the engine
/// then removes the file. The pod as it is then; `None` for every other pod (its file goes
/// at once).
fn held_by_finalizers<S: NodeState>(
    k: &Kube<S>,
    pod: &Pod,
    loc: &Located,
    dry_run: bool,
    grace: Option<i64>,
) -> Result<Option<Pod>, Box<Status>> {
    let in_controllers_dir = k
        .node
        .workload_dir()
        .is_some_and(|d| loc.path.parent() == Some(d));
    let file_pod = loc.pods.iter().find(|p| p.document == loc.document);
    let has_finalizers = file_pod.is_some_and(|p| {
        p.pod
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
    });
    if !(in_controllers_dir && has_finalizers) {
        return Ok(None);
    }
    // The API server's default: the pod's own grace period, none for a finished pod.
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    let grace = grace
        .unwrap_or_else(|| {
            if finished {
                return 0;
            }
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
        })
        .max(0);
    if !dry_run && let Some(uid) = pod.metadata.uid.as_deref() {
        k.node
            .set_deletion_grace(uid, Duration::from_secs(grace as u64));
    }
    let mut pod = pod.clone();
    if let Some(fp) = file_pod {
        pod.metadata.finalizers = fp.pod.metadata.finalizers.clone();
    }
    let at = pod
        .metadata
        .deletion_timestamp
        .clone()
        .unwrap_or(Time(jiff::Timestamp::now()));
    pod.metadata.deletion_timestamp = Some(at.clone());
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    if !dry_run {
        // The controllers' pod files are JSON, one pod each.
        let internal = |e: String| status::internal(format!("{}: {e}", loc.path.display()));
        let mut v: Value = serde_json::from_str(&loc.text).map_err(|e| internal(e.to_string()))?;
        if let Some(Value::Object(m)) = v.get_mut("metadata") {
            m.entry("deletionTimestamp")
                .or_insert_with(|| serde_json::to_value(&at).unwrap_or(Value::Null));
            m.insert("deletionGracePeriodSeconds".into(), grace.into());
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| internal(e.to_string()))?;
        files::write_atomic(&loc.path, &text).map_err(|e| internal(e.to_string()))?;
        tracing::info!(pod = %format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default()), file = %loc.path.display(), "deletion through the API waits for the pod's finalizers");
    }
    Ok(Some(pod))
}

/// The grace period of a deletion: `?gracePeriodSeconds=`, else the DeleteOptions body's.
pub(crate) fn grace(q: &WriteParams, body: &[u8]) -> Option<i64> {
    q.grace_period_seconds.or_else(|| {
        serde_json::from_slice::<Value>(body)
            .ok()?
            .get("gracePeriodSeconds")?
            .as_i64()
    })
}

async fn delete_pod<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let dir = static_dir(&k)?;
            let pod = remove_pod(&k, &dir, &ns, &name, q.dry_run(), grace(&q, &body)).await?;
            Ok(json_response(StatusCode::OK, &pod))
        }
        .await,
    )
}

/// Deletes the pods of `ns` matching the label selector; their list.
async fn delete_matching<S: NodeState>(
    k: &Kube<S>,
    ns: &str,
    q: &WriteParams,
) -> Result<Vec<Pod>, Box<Status>> {
    let dir = static_dir(k)?;
    let sel = Selector::parse(q.label_selector.as_deref().unwrap_or(""))
        .map_err(|e| status::bad_request(e.to_string()))?;
    let mut out = vec![];
    for p in k.pods().1 {
        if p.metadata.namespace.as_deref().unwrap_or("default") != ns
            || !sel.matches(p.metadata.labels.as_ref())
        {
            continue;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        out.push(remove_pod(k, &dir, ns, &name, q.dry_run(), q.grace_period_seconds).await?);
    }
    Ok(out)
}

async fn delete_collection<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<WriteParams>,
) -> Response {
    reply(
        async {
            let pods = delete_matching(&k, &ns, &q).await?;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}),
            ))
        }
        .await,
    )
}

async fn delete_namespace<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<WriteParams>,
) -> Response {
    reply(
        async {
            if matches!(
                name.as_str(),
                "default" | "kube-system" | "kube-public" | "kube-node-lease"
            ) {
                return Err(status::failure(
                    403,
                    "Forbidden",
                    format!(
                        "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                    ),
                ));
            }
            let known = super::kube::all_namespaces(&k)
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(name.as_str()));
            if !known {
                return Err(status::not_found("namespaces", &name));
            }
            let q = WriteParams {
                label_selector: None,
                ..q
            };
            delete_matching(&k, &name, &q).await?;
            if !q.dry_run() {
                remove_namespace_objects(&k, &name)?;
                k.namespaces
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&name);
            }
            let mut ns = super::node_object::namespace(&name, k.node.node_facts().started);
            if let Some(s) = ns.status.as_mut() {
                s.phase = Some("Terminating".into());
            }
            ns.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
            Ok(json_response(StatusCode::OK, &ns))
        }
        .await,
    )
}

/// The directories objects are declared in: the static pod directory, then the
/// controllers'.
pub(crate) fn object_dirs<S: NodeState>(k: &Kube<S>) -> Result<Vec<PathBuf>, Box<Status>> {
    let mut d = vec![static_dir(k)?];
    if let Some(w) = k.node.workload_dir() {
        d.push(w.to_path_buf());
    }
    Ok(d)
}

/// `dirs` as the paths `manifest_files::locate*` take.
pub(crate) fn dir_refs(dirs: &[PathBuf]) -> Vec<&Path> {
    dirs.iter().map(PathBuf::as_path).collect()
}

/// Removes the documents declaring the objects of namespace `ns` (ConfigMaps, Deployments...,
/// controller-made ones included) and the Namespace object itself.
fn remove_namespace_objects<S: NodeState>(k: &Kube<S>, ns: &str) -> Result<(), Box<Status>> {
    let node = k.node.node_facts().name;
    let dirs = object_dirs(k)?;
    let dir_refs = dir_refs(&dirs);
    let internal = |e: files::StoreError| status::internal(e.to_string());
    let mut targets: Vec<(String, String, String)> = k
        .objects()
        .1
        .iter()
        .filter(|o| o.namespace() == ns)
        .map(|o| (o.kind().to_string(), ns.to_string(), o.name().to_string()))
        .collect();
    targets.push(("Namespace".into(), String::new(), ns.to_string()));
    for (kind, o_ns, name) in targets {
        // Located again each time: removing a document renumbers its file's others.
        if let Some(loc) =
            files::locate_object(&dir_refs, &node, &kind, &o_ns, &name).map_err(internal)?
        {
            files::remove(&loc).map_err(internal)?;
            tracing::info!(object = %format!("{kind} {o_ns}/{name}"), file = %loc.path.display(), "deleted with its namespace");
        }
    }
    Ok(())
}

/// Creates a namespace: a `namespace-<name>.yaml` manifest in the static pod directory (so
/// it outlives an agent restart), and remembered at once (the source reads the file
/// within a moment). A node without a static pod directory remembers it while it runs.
async fn create_namespace<S: NodeState>(
    State(k): State<Kube<S>>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    reply(
        async {
            let v = body_value(&h, &body)?;
            match (
                v.get("apiVersion").and_then(Value::as_str),
                v.get("kind").and_then(Value::as_str),
            ) {
                (Some("v1") | None, Some("Namespace") | None) => {}
                _ => {
                    return Err(status::bad_request(
                        "the object is not a v1 Namespace".into(),
                    ));
                }
            }
            let name = str_at(&v, &["metadata", "name"])
                .unwrap_or_default()
                .to_string();
            let path = FieldPath::new("metadata").child("name");
            let errs: Vec<FieldError> = if name.is_empty() {
                vec![FieldError::required(
                    &path,
                    "name or generateName is required",
                )]
            } else {
                nodelet_objects::names::dns1123_label(&name)
                    .into_iter()
                    .map(|m| FieldError::invalid(&path, &name, &m))
                    .collect()
            };
            if !errs.is_empty() {
                return Err(status::invalid("Namespace", &name, &errs));
            }
            if super::kube::all_namespaces(&k)
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(name.as_str()))
            {
                return Err(status::already_exists("namespaces", &name));
            }
            let now = jiff::Timestamp::now();
            let mut ns = super::node_object::namespace(&name, now);
            ns.metadata.labels = v
                .pointer("/metadata/labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok());
            if !q.dry_run() {
                if let Some(dir) = k.node.static_pod_dir() {
                    let node = k.node.node_facts().name;
                    let doc = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": name, "labels": ns.metadata.labels}});
                    let doc = files::object_manifest_value(doc);
                    let text = files::render(&doc).map_err(|e| status::internal(e.to_string()))?;
                    let path = files::new_object_file(dir, "Namespace", "", &name);
                    files::check_all(&path, &text, &node)
                        .map_err(|e| manifest_status_of("Namespace", &name, &e))?;
                    files::write_atomic(&path, &text)
                        .map_err(|e| status::internal(e.to_string()))?;
                }
                k.namespaces
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.clone(), now);
            }
            Ok(json_response(StatusCode::CREATED, &ns))
        }
        .await,
    )
}
