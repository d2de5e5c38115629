//! Writes of the workload and configuration kinds (ConfigMaps, Secrets, Jobs, CronJobs,
//! Deployments, ReplicaSets, DaemonSets) as manifest files, as pods are written
//! (`super::writes`): create (POST), replace (PUT), patch (JSON, merge, strategic — the pod
//! templates merge as Pods —, server-side apply as "the applied object is the manifest"),
//! delete (one, or a labelled collection) and the `scale` subresource of Deployments and
//! ReplicaSets (GET/PUT/PATCH of an autoscaling/v1 Scale → `spec.replicas` in the object's
//! file). Every write is checked exactly as the source will read the file
//! (`manifest::parse_manifest_all`): 422 with field causes, 400 for unknown fields under
//! strict validation, 409 AlreadyExists / Conflict; nothing is written then.
//!
//! An object is found where it is declared: a file of the static pod directory, or of the
//! controllers' directory (`NodeState::workload_dir`: a Deployment's ReplicaSets, a CronJob's
//! Jobs) — its file there is edited or removed the same way. New objects go to the static pod
//! directory as `<namespace>-<kind>-<name>.yaml`. A write answers once `NodeState::objects`
//! shows its result (at most `writes::SETTLE`).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post, put};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Status, Time};
use serde_json::{Value, json};

use super::kube::Kube;
use super::manifest_files::{self as files, Located};
use super::objects::{Served, prefix, resource_name};
use super::patch::{self as patching, PatchType};
use super::response::json_response;
use super::writes::{
    Reply, SETTLE, WriteParams, body_value, check_identity, claim_name, dir_refs,
    manifest_status_of, object_dirs, patch_status, patch_type, reply, static_dir, str_at,
    unknown_fields,
};
use super::{NodeState, status};
use nodelet_objects::field::{FieldError, FieldPath};
use nodelet_objects::selector::Selector;
use nodelet_objects::workload::{DeclaredObject, Kind};

/// The write routes of every served kind (sharing `kube` with the reads).
pub fn routes<S: NodeState>(kube: Kube<S>) -> Router {
    super::objects::each_kind!(Router::new(), kind_routes, S).with_state(kube)
}

fn kind_routes<S: NodeState, T: Served>(r: Router<Kube<S>>) -> Router<Kube<S>> {
    let p = prefix::<T>();
    let plural = T::URL_PATH_SEGMENT;
    let r = r
        .route(
            &format!("{p}/namespaces/{{ns}}/{plural}"),
            post(create::<S, T>).delete(delete_collection::<S, T>),
        )
        .route(
            &format!("{p}/namespaces/{{ns}}/{plural}/{{name}}"),
            put(replace::<S, T>)
                .patch(patch_one::<S, T>)
                .delete(delete_one::<S, T>),
        );
    let scalable = super::discovery::RESOURCES
        .iter()
        .any(|res| res.plural == plural && res.scale);
    if scalable {
        r.route(
            &format!("{p}/namespaces/{{ns}}/{plural}/{{name}}/scale"),
            get(get_scale::<S, T>)
                .put(put_scale::<S, T>)
                .patch(patch_scale::<S, T>),
        )
    } else {
        r
    }
}

fn internal(e: impl std::fmt::Display) -> Box<Status> {
    status::internal(e.to_string())
}

/// The body must be the kind of the URL (when it says what it is); it is made to say so.
fn check_kind<T: Kind>(v: &mut Value) -> Result<(), Box<Status>> {
    let api = v.get("apiVersion").and_then(Value::as_str);
    let kind = v.get("kind").and_then(Value::as_str);
    if api.is_some_and(|a| a != T::API_VERSION) || kind.is_some_and(|x| x != T::KIND) {
        return Err(status::bad_request(format!(
            "the object is a {} {}: only {} {}s can be written to {}",
            api.unwrap_or(T::API_VERSION),
            kind.unwrap_or(T::KIND),
            T::API_VERSION,
            T::KIND,
            T::URL_PATH_SEGMENT
        )));
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), T::API_VERSION.into());
        o.insert("kind".into(), T::KIND.into());
    }
    Ok(())
}

/// The declared object of kind `T` named `ns/name` among a file's objects.
fn declared<'a, T: Kind>(
    objects: &'a [DeclaredObject],
    ns: &str,
    name: &str,
) -> Option<&'a DeclaredObject> {
    objects.iter().find(|o| {
        o.object.kind() == T::KIND && o.object.namespace() == ns && o.object.name() == name
    })
}

fn typed<T: Kind>(d: &DeclaredObject) -> Result<T, Box<Status>> {
    T::from_object(&d.object)
        .cloned()
        .ok_or_else(|| status::internal("the manifest declares another kind".into()))
}

/// The object a checked manifest declares, as the API shows it before the node has it.
fn shown<T: Kind>(d: &DeclaredObject) -> Result<T, Box<Status>> {
    let mut o = typed::<T>(d)?;
    o.object_meta_mut()
        .creation_timestamp
        .get_or_insert(Time(jiff::Timestamp::now()));
    Ok(o)
}

/// What a write changes that the node's view must show before the write answers: labels and
/// everything but metadata and status (spec, data, type...).
fn version_form<T: Kind>(o: &T) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    let labels = v
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        m.insert("metadata".into(), json!({ "labels": labels }));
    }
    v
}

/// Waits (at most [`SETTLE`]) until the node's view shows `want` as object `ns/name` (or,
/// with `None`, no such object); the object as the view has it then, `None` if it did not
/// (the caller answers with what it wrote).
async fn settle<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    want: Option<&T>,
) -> Option<T> {
    let t = tokio::time::Instant::now();
    let want = want.map(version_form);
    loop {
        let cur = k.object::<T>(ns, name);
        match (&want, cur) {
            (Some(w), Some(c)) if *w == version_form(&c) => return Some(c),
            (None, None) => return None,
            _ => {}
        }
        if t.elapsed() >= SETTLE {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ok_object<T: Kind>(code: StatusCode, o: &T) -> Reply {
    Ok(json_response(code, o))
}

async fn create<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    reply(
        async {
            let mut v = body_value(&h, &body)?;
            if content_type(&h).starts_with(super::protobuf::CONTENT_TYPE) && T::KIND == "Job" {
                job_from_cronjob(&k, &ns, &mut v)?;
            }
            create_value::<S, T>(&k, &ns, &q, v).await
        }
        .await,
    )
}

/// A Job kubectl sent as protobuf made from a CronJob (`kubectl create job NAME
/// --from=cronjob/CJ`): its spec is the job template of the CronJob its controller owner
/// reference names (kubectl copies it whole; the API takes it from the CronJob rather than
/// decoding any pod template from protobuf). Other Jobs are left as decoded.
fn job_from_cronjob<S: NodeState>(k: &Kube<S>, ns: &str, v: &mut Value) -> Result<(), Box<Status>> {
    let owner = v
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r["kind"] == "CronJob" && r["controller"] == true)
        })
        .cloned();
    let Some(owner) = owner else {
        // `kubectl create job --image`: decoded whole.
        return Ok(());
    };
    let name = owner["name"].as_str().unwrap_or_default();
    let cj = k
        .object::<CronJob>(ns, name)
        .filter(|cj| cj.metadata.uid.as_deref() == owner["uid"].as_str())
        .ok_or_else(|| status::not_found("cronjobs.batch", name))?;
    let spec = serde_json::to_value(&cj.spec.job_template.spec).map_err(internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("spec".into(), spec);
    }
    Ok(())
}

/// Creates object `v` of kind `T` in `ns`: a new file in the static pod directory.
async fn create_value<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    q: &WriteParams,
    mut v: Value,
) -> Reply {
    let dir = static_dir(k)?;
    let node = k.node.node_facts().name;
    check_kind::<T>(&mut v)?;
    let name = claim_name(&mut v, ns, T::KIND)?;
    let dirs = object_dirs(k)?;
    let dir_refs = dir_refs(&dirs);
    if k.object::<T>(ns, &name).is_some()
        || files::locate_object(&dir_refs, &node, T::KIND, ns, &name)
            .map_err(internal)?
            .is_some()
    {
        return Err(status::already_exists(&resource_name::<T>(), &name));
    }
    let doc = files::object_manifest_value(v);
    let text = files::render(&doc).map_err(internal)?;
    let path = files::new_object_file(&dir, T::KIND, ns, &name);
    let m = files::check_all(&path, &text, &node)
        .map_err(|e| manifest_status_of(T::KIND, &name, &e))?;
    let new = declared::<T>(&m.objects, ns, &name)
        .ok_or_else(|| status::internal("the manifest declares no such object".into()))?;
    unknown_fields(q.strict(), &new.ignored_fields)?;
    let shown = shown::<T>(new)?;
    if q.dry_run() {
        return ok_object(StatusCode::CREATED, &shown);
    }
    files::write_atomic(&path, &text).map_err(internal)?;
    tracing::info!(object = %format!("{} {ns}/{name}", T::KIND), file = %path.display(), "created through the API");
    let o = settle::<S, T>(k, ns, &name, Some(&shown))
        .await
        .unwrap_or(shown);
    ok_object(StatusCode::CREATED, &o)
}

/// Object `ns/name` of kind `T` and its file; 404 if there is none, 409 if the node has it
/// but no valid file declares it now (its file turned invalid).
fn find<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
) -> Result<(T, Located), Box<Status>> {
    let node = k.node.node_facts().name;
    let dirs = object_dirs(k)?;
    let dir_refs = dir_refs(&dirs);
    let current = k.object::<T>(ns, name);
    let loc = files::locate_object(&dir_refs, &node, T::KIND, ns, name).map_err(internal)?;
    match (current, loc) {
        (Some(o), Some(l)) => Ok((o, l)),
        (None, Some(l)) => {
            // Written, not yet picked up: the file's version.
            let d = declared::<T>(&l.objects, ns, name)
                .ok_or_else(|| status::internal("the manifest lost the object".into()))?;
            Ok((shown::<T>(d)?, l))
        }
        (Some(_), None) => Err(status::conflict(
            &resource_name::<T>(),
            name,
            "no valid manifest declares it now (the node keeps the last valid version of its file); fix or remove that file",
        )),
        (None, None) => Err(status::not_found(&resource_name::<T>(), name)),
    }
}

/// The object's document as its file has it (not defaulted), with the node's identity and
/// version: the base of a patch, so neither the status, nor what the node adds, nor the API
/// server's defaults are written back into the file.
fn declared_value<T: Served>(current: &T, loc: &Located) -> Value {
    let written = nodelet_objects::manifest::documents(&loc.path, loc.text.as_bytes())
        .ok()
        .and_then(|docs| docs.into_iter().nth(loc.document));
    let mut v = match written {
        Some(doc) => doc,
        None => serde_json::to_value(current).unwrap_or(Value::Null),
    };
    let meta = current.object_meta();
    if let Some(Value::Object(m)) = v.get_mut("metadata") {
        for (key, val) in [
            ("uid", &meta.uid),
            ("resourceVersion", &meta.resource_version),
        ] {
            if let Some(x) = val {
                m.insert(key.into(), Value::String(x.clone()));
            }
        }
    }
    v
}

/// Adds empty `metadata.labels` / `metadata.annotations` maps where `doc` has none; the ones
/// added.
fn ensure_maps(doc: &mut Value) -> Vec<&'static str> {
    let mut added = vec![];
    if let Some(Value::Object(m)) = doc.get_mut("metadata") {
        for key in ["labels", "annotations"] {
            if !m.contains_key(key) {
                m.insert(key.into(), json!({}));
                added.push(key);
            }
        }
    }
    added
}

/// Removes the maps [`ensure_maps`] added if they are still empty.
fn drop_empty_maps(doc: &mut Value, added: &[&str]) {
    if let Some(Value::Object(m)) = doc.get_mut("metadata") {
        for key in added {
            if m.get(*key).is_some_and(|v| v == &json!({})) {
                m.remove(*key);
            }
        }
    }
}

/// Writes `new` (an object for `ns/name`) over its manifest document.
async fn update<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    current: &T,
    loc: &Located,
    mut new: Value,
    q: &WriteParams,
) -> Reply {
    let node = k.node.node_facts().name;
    let resource = resource_name::<T>();
    check_kind::<T>(&mut new)?;
    check_identity(&new, ns, name)?;
    let meta = current.object_meta();
    if let Some(rv) = str_at(&new, &["metadata", "resourceVersion"])
        && meta.resource_version.as_deref().is_some_and(|c| c != rv)
    {
        return Err(status::conflict(
            &resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if let Some(uid) = str_at(&new, &["metadata", "uid"])
        && meta.uid.as_deref().is_some_and(|c| c != uid)
    {
        return Err(status::conflict(
            &resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta.uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    let mut doc = files::object_manifest_value(new);
    if let Some(Value::Object(m)) = doc.get_mut("metadata") {
        m.insert("name".into(), Value::String(name.to_string()));
        m.insert("namespace".into(), Value::String(ns.to_string()));
        // The file's namespace spelling: left out if it was.
        if ns == "default" && !loc.text.contains("namespace:") {
            m.remove("namespace");
        }
    }
    let yaml = files::render(&doc).map_err(internal)?;
    let text = files::splice(&loc.text, loc.document, Some(&yaml));
    let m = files::check_all(&loc.path, &text, &node)
        .map_err(|e| manifest_status_of(T::KIND, name, &e))?;
    let new = declared::<T>(&m.objects, ns, name)
        .ok_or_else(|| status::internal("the rewritten manifest lost the object".into()))?;
    unknown_fields(q.strict(), &new.ignored_fields)?;
    if declared::<T>(&loc.objects, ns, name).is_some_and(|d| d.object == new.object) {
        // Nothing changed: the file stays as it is.
        return ok_object(StatusCode::OK, current);
    }
    let shown = shown::<T>(new)?;
    if q.dry_run() {
        return ok_object(StatusCode::OK, &shown);
    }
    files::write_atomic(&loc.path, &text).map_err(internal)?;
    tracing::info!(object = %format!("{} {ns}/{name}", T::KIND), file = %loc.path.display(), "rewritten through the API");
    let o = settle::<S, T>(k, ns, name, Some(&shown))
        .await
        .unwrap_or(shown);
    ok_object(StatusCode::OK, &o)
}

async fn replace<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    reply(
        async {
            let new = body_value(&h, &body)?;
            let (current, loc) = find::<S, T>(&k, &ns, &name)?;
            update::<S, T>(&k, &ns, &name, &current, &loc, new, &q).await
        }
        .await,
    )
}

fn content_type(h: &HeaderMap) -> &str {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn patch_one<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    reply(
        async {
            let kind = match patch_type(&h)? {
                PatchType::Apply => {
                    // Server-side apply with one field manager: the applied object becomes the
                    // object's manifest, created if there is none.
                    let v = body_value(&h, &body)?;
                    return match find::<S, T>(&k, &ns, &name) {
                        Ok((current, loc)) => {
                            update::<S, T>(&k, &ns, &name, &current, &loc, v, &q).await
                        }
                        Err(s) if s.code == Some(404) => {
                            check_identity(&v, &ns, &name)?;
                            let mut v = v;
                            if let Some(Value::Object(m)) = v.as_object_mut().map(|o| {
                                o.entry("metadata")
                                    .or_insert_with(|| Value::Object(Default::default()))
                            }) {
                                m.insert("name".into(), Value::String(name.clone()));
                            }
                            create_value::<S, T>(&k, &ns, &q, v).await
                        }
                        Err(s) => Err(s),
                    };
                }
                kind => kind,
            };
            let (current, loc) = find::<S, T>(&k, &ns, &name)?;
            let mut doc = declared_value(&current, &loc);
            // A JSON patch's paths were made against the object as the API shows it, which
            // has labels and annotations maps (`kubectl rollout undo` replaces
            // /metadata/annotations); the file may leave them out.
            let added = ensure_maps(&mut doc);
            let mut new = patching::apply(&doc, kind, &body).map_err(patch_status)?;
            drop_empty_maps(&mut new, &added);
            update::<S, T>(&k, &ns, &name, &current, &loc, new, &q).await
        }
        .await,
    )
}

/// Removes object `ns/name`'s document (its file when it is the only one) and waits until
/// the node no longer shows it; the object as it was.
async fn remove<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    dry_run: bool,
) -> Result<T, Box<Status>> {
    let (o, loc) = find::<S, T>(k, ns, name)?;
    if !dry_run {
        files::remove(&loc).map_err(internal)?;
        tracing::info!(object = %format!("{} {ns}/{name}", T::KIND), file = %loc.path.display(), "deleted through the API");
        settle::<S, T>(k, ns, name, None).await;
    }
    Ok(o)
}

async fn delete_one<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
) -> axum::response::Response {
    reply(
        async {
            let o = remove::<S, T>(&k, &ns, &name, q.dry_run()).await?;
            // What the API server answers for kinds deleted at once: a Success Status.
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "group": T::GROUP, "kind": T::URL_PATH_SEGMENT,
                                "uid": o.object_meta().uid},
                }),
            ))
        }
        .await,
    )
}

async fn delete_collection<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<WriteParams>,
) -> axum::response::Response {
    reply(
        async {
            let sel = Selector::parse(q.label_selector.as_deref().unwrap_or(""))
                .map_err(|e| status::bad_request(e.to_string()))?;
            let mut gone = vec![];
            for o in k.objects_of::<T>().1 {
                let m = o.object_meta();
                if m.namespace.as_deref() != Some(ns.as_str()) || !sel.matches(m.labels.as_ref()) {
                    continue;
                }
                let name = m.name.clone().unwrap_or_default();
                gone.push(remove::<S, T>(&k, &ns, &name, q.dry_run()).await?);
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"apiVersion": T::API_VERSION, "kind": format!("{}List", T::KIND),
                        "metadata": {}, "items": gone}),
            ))
        }
        .await,
    )
}

/// The autoscaling/v1 Scale of a Deployment or ReplicaSet: `spec.replicas` (default 1),
/// `status.replicas` and the selector as a string.
fn scale_of<T: Kind>(o: &T) -> Value {
    let v = serde_json::to_value(o).unwrap_or(Value::Null);
    let selector: Option<LabelSelector> = v
        .pointer("/spec/selector")
        .and_then(|s| nodelet_objects::decode::from_value(s.clone()).ok());
    let meta = o.object_meta();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.name, "namespace": meta.namespace, "uid": meta.uid,
            "resourceVersion": meta.resource_version,
            "creationTimestamp": meta.creation_timestamp,
        },
        "spec": {"replicas": v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": v.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": nodelet_objects::workload_table::selector_string(selector.as_ref()),
        },
    })
}

async fn get_scale<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> axum::response::Response {
    reply(match k.object::<T>(&ns, &name) {
        Some(o) => Ok(json_response(StatusCode::OK, &scale_of(&o))),
        None => Err(status::not_found(&resource_name::<T>(), &name)),
    })
}

/// Sets `spec.replicas` of `ns/name` from a Scale; the new Scale.
async fn set_replicas<S: NodeState, T: Served>(
    k: &Kube<S>,
    ns: &str,
    name: &str,
    scale: &Value,
    q: &WriteParams,
) -> Reply {
    let Some(replicas) = scale.pointer("/spec/replicas").and_then(Value::as_i64) else {
        return Err(status::invalid(
            "Scale",
            name,
            &[FieldError::required(
                &FieldPath::new("spec").child("replicas"),
                "",
            )],
        ));
    };
    if replicas < 0 {
        return Err(status::invalid(
            "Scale",
            name,
            &[FieldError::invalid(
                &FieldPath::new("spec").child("replicas"),
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let (current, loc) = find::<S, T>(k, ns, name)?;
    let mut doc = declared_value(&current, &loc);
    if let Some(Value::Object(spec)) = doc.get_mut("spec") {
        spec.insert("replicas".into(), json!(replicas));
    }
    update::<S, T>(k, ns, name, &current, &loc, doc, q).await?;
    let (o, _) = find::<S, T>(k, ns, name)?;
    let mut s = scale_of(&o);
    // The file says so even if the node has not caught up yet.
    s["spec"]["replicas"] = json!(replicas);
    Ok(json_response(StatusCode::OK, &s))
}

async fn put_scale<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    reply(
        async {
            let v = body_value(&h, &body)?;
            set_replicas::<S, T>(&k, &ns, &name, &v, &q).await
        }
        .await,
    )
}

async fn patch_scale<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(q): Query<WriteParams>,
    h: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    reply(
        async {
            let kind = match patch_type(&h)? {
                PatchType::Apply => {
                    let v = body_value(&h, &body)?;
                    return set_replicas::<S, T>(&k, &ns, &name, &v, &q).await;
                }
                kind => kind,
            };
            let (current, _) = find::<S, T>(&k, &ns, &name)?;
            let new = patching::apply(&scale_of(&current), kind, &body).map_err(patch_status)?;
            set_replicas::<S, T>(&k, &ns, &name, &new, &q).await
        }
        .await,
    )
}
