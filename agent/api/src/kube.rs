//! The Kubernetes read API kubectl uses: discovery (`/version`, `/api`, `/api/v1`, `/apis`,
//! metrics.k8s.io, `/openapi/v3`), pods (get, list, watch with resourceVersion, bookmarks,
//! label and field selectors, server-side Tables, the `status` subresource), events (list and
//! watch with the field selectors `kubectl describe` sends), this node (`nodes`, its Lease, its
//! NodeMetrics) and namespaces. Writes are `super::writes`; logs, exec targets and pod metrics
//! stay in `super::server`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::Deserialize;
use serde_json::{Value, json};

use super::node_object::{self, Machine, NodeFacts};
use super::response::{json_response, status_response};
use super::revisions::{Change, Revisions, Versioned};
use super::{NodeState, discovery, status};
use nodelet_objects::field_selector::{FieldSelector, Selectable};
use nodelet_objects::selector::Selector;
use nodelet_objects::table::{self, Include, Printable};
use nodelet_objects::workload::{Kind, Object};

/// State shared by the Kubernetes routes (reads and writes).
pub struct Kube<S> {
    pub node: Arc<S>,
    pub revisions: Arc<Revisions>,
    /// Resource versions of the workload objects (`NodeState::objects`).
    pub object_revisions: Arc<Revisions<Object>>,
    /// Namespaces created through the API (with their creation time), kept while the agent
    /// runs; a namespace with pods exists anyway.
    pub namespaces: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Timestamp>>>,
    /// Pods deleted through the API, by UID: when, and the grace period; they show
    /// `deletionTimestamp` (STATUS Terminating) until the node has stopped them.
    pub deleting: Arc<std::sync::Mutex<std::collections::HashMap<String, (Timestamp, i64)>>>,
}

impl<S> Clone for Kube<S> {
    fn clone(&self) -> Self {
        Kube {
            node: self.node.clone(),
            revisions: self.revisions.clone(),
            object_revisions: self.object_revisions.clone(),
            namespaces: self.namespaces.clone(),
            deleting: self.deleting.clone(),
        }
    }
}

impl<S: NodeState> Kube<S> {
    pub fn new(node: Arc<S>) -> Kube<S> {
        Kube {
            node,
            revisions: Arc::default(),
            object_revisions: Arc::default(),
            namespaces: Arc::default(),
            deleting: Arc::default(),
        }
    }

    /// Pod `uid` is being deleted (its manifest is gone) with `grace` seconds.
    pub fn mark_deleting(&self, uid: &str, grace: i64) {
        self.deleting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), (Timestamp::now(), grace));
    }

    /// Every pod with resource version and creation time, sorted by namespace and name; the
    /// list's resource version.
    pub fn pods(&self) -> (u64, Vec<Pod>) {
        let mut pods = self.node.shared_pods();
        {
            let mut deleting = self.deleting.lock().unwrap_or_else(|p| p.into_inner());
            if !deleting.is_empty() {
                // Forget pods the node no longer has.
                deleting.retain(|uid, _| {
                    pods.iter()
                        .any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
                });
                for p in &mut pods {
                    if let Some((at, grace)) =
                        p.metadata.uid.as_deref().and_then(|u| deleting.get(u))
                    {
                        let p = Arc::make_mut(p);
                        p.metadata.deletion_timestamp =
                            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(*at));
                        p.metadata.deletion_grace_period_seconds = Some(*grace);
                    }
                }
            }
        }
        let (rv, mut pods) = self.revisions.observe(pods);
        pods.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        (rv, pods)
    }

    /// Every workload object with resource version and creation time, sorted by kind,
    /// namespace and name; the list's resource version.
    pub fn objects(&self) -> (u64, Vec<Object>) {
        let (rv, mut objects) = self.object_revisions.observe(self.node.objects());
        objects.sort_by(|a, b| {
            (a.kind(), a.namespace(), a.name()).cmp(&(b.kind(), b.namespace(), b.name()))
        });
        (rv, objects)
    }

    /// The objects of kind `T`, as [`Kube::objects`].
    pub fn objects_of<T: Kind>(&self) -> (u64, Vec<T>) {
        let (rv, all) = self.objects();
        let typed = all
            .iter()
            .filter_map(T::from_object)
            .cloned()
            .collect::<Vec<T>>();
        (rv, typed)
    }

    /// Object `ns/name` of kind `T`.
    pub fn object<T: Kind>(&self, ns: &str, name: &str) -> Option<T> {
        self.objects_of::<T>().1.into_iter().find(|o| {
            o.object_meta().namespace.as_deref().unwrap_or_default() == ns
                && o.object_meta().name.as_deref() == Some(name)
        })
    }

    pub fn pod(&self, ns: &str, name: &str) -> Option<Pod> {
        self.pods().1.into_iter().find(|p| {
            p.metadata.namespace.as_deref().unwrap_or("default") == ns
                && p.metadata.name.as_deref() == Some(name)
        })
    }
}

/// The query of a list, get or watch.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(rename = "labelSelector")]
    pub label_selector: Option<String>,
    #[serde(rename = "fieldSelector")]
    pub field_selector: Option<String>,
    pub watch: Option<String>,
    #[serde(rename = "resourceVersion")]
    pub resource_version: Option<String>,
    #[serde(rename = "timeoutSeconds")]
    pub timeout_seconds: Option<u64>,
    #[serde(rename = "allowWatchBookmarks")]
    pub allow_watch_bookmarks: Option<String>,
    #[serde(rename = "sendInitialEvents")]
    pub send_initial_events: Option<String>,
    #[serde(rename = "includeObject")]
    pub include_object: Option<String>,
}

pub(crate) fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("true") | Some("1") | Some("True") | Some(""))
}

/// The routes; `kube` is shared with the write routes.
pub fn routes<S: NodeState>(kube: Kube<S>) -> Router {
    let doc = |v: fn() -> Value| get(move || async move { json_response(StatusCode::OK, &v()) });
    Router::new()
        .route("/version", doc(discovery::version))
        .route(
            "/api",
            get(|h: HeaderMap| async move {
                negotiated(&h, discovery::api_versions, discovery::aggregated_core)
            }),
        )
        .route("/api/v1", doc(discovery::core_v1))
        .route(
            "/apis",
            get(|h: HeaderMap| async move {
                negotiated(&h, discovery::api_groups, discovery::aggregated_groups)
            }),
        )
        .route("/apis/metrics.k8s.io", doc(discovery::metrics_group))
        .route(
            "/apis/metrics.k8s.io/v1beta1",
            doc(discovery::metrics_v1beta1),
        )
        .route("/openapi/v3", doc(discovery::openapi_v3_root))
        .route("/openapi/v3/api/v1", doc(discovery::openapi_v3_core))
        .route(
            "/apis/{group}",
            get(|UrlPath(g): UrlPath<String>| async move { group_doc(&g, discovery::group) }),
        )
        .route(
            "/apis/{group}/v1",
            get(|UrlPath(g): UrlPath<String>| async move { group_doc(&g, discovery::group_v1) }),
        )
        .route(
            "/openapi/v3/apis/{group}/v1",
            get(|UrlPath(g): UrlPath<String>| async move {
                group_doc(&g, discovery::openapi_v3_group)
            }),
        )
        .route("/api/v1/pods", get(list_pods::<S>))
        .route("/api/v1/namespaces/{ns}/pods", get(list_ns_pods::<S>))
        .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod::<S>))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/status",
            get(get_pod::<S>),
        )
        .route("/api/v1/events", get(list_events::<S>))
        .route("/api/v1/namespaces/{ns}/events", get(list_ns_events::<S>))
        .route("/api/v1/nodes", get(list_nodes::<S>))
        .route("/api/v1/nodes/{name}", get(get_node::<S>))
        .route("/api/v1/namespaces", get(list_namespaces::<S>))
        .route("/api/v1/namespaces/{name}", get(get_namespace::<S>))
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
            get(get_lease::<S>),
        )
        .route(
            &format!("{}/nodes", nodelet_objects::pod_metrics::API_PATH),
            get(list_node_metrics::<S>),
        )
        .route(
            &format!("{}/nodes/{{name}}", nodelet_objects::pod_metrics::API_PATH),
            get(get_node_metrics::<S>),
        )
        .with_state(kube)
}

/// `/api` or `/apis`: aggregated discovery when the client asks for it (its media type as
/// the content type, or client-go falls back), else the plain document.
fn negotiated(h: &HeaderMap, plain: fn() -> Value, aggregated: fn() -> Value) -> Response {
    if !discovery::wants_aggregated(accept(h)) {
        return json_response(StatusCode::OK, &plain());
    }
    let mut r = json_response(StatusCode::OK, &aggregated());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(discovery::AGGREGATED),
    );
    r.headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    r
}

/// A discovery document of one of the groups served (`apps`, `batch`), else 404.
fn group_doc(group: &str, doc: fn(&str) -> Value) -> Response {
    if discovery::GROUPS.contains(&group) {
        json_response(StatusCode::OK, &doc(group))
    } else {
        status_response(status::not_found("groups", group))
    }
}

fn accept(h: &HeaderMap) -> Option<&str> {
    h.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// A v1 list, serialized straight from the items (no JSON tree in between: a list of 110
/// pods is built often, by watchers, kubectl and `nodectl ps`).
#[derive(serde::Serialize)]
struct List<'a, T> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    metadata: ListMeta,
    items: &'a [T],
}

#[derive(serde::Serialize)]
struct ListMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: String,
}

/// An object, a v1 list of them or a Table, as the client asked.
fn respond<T: Printable>(
    h: &HeaderMap,
    q: &ListParams,
    items: Vec<T>,
    rv: u64,
    list_kind: Option<&'static str>,
) -> Response {
    respond_in(h, q, items, rv, list_kind.map(|k| ("v1", k)))
}

/// An object, a list of them (`(apiVersion, kind)` of the list) or a Table, as the client
/// asked.
pub(crate) fn respond_in<T: Printable>(
    h: &HeaderMap,
    q: &ListParams,
    items: Vec<T>,
    rv: u64,
    list: Option<(&str, &str)>,
) -> Response {
    if table::wants_table(accept(h)) {
        let inc = Include::parse(q.include_object.as_deref());
        return json_response(
            StatusCode::OK,
            &table::table(&items, &rv.to_string(), Timestamp::now(), inc),
        );
    }
    match list {
        Some((api_version, kind)) => json_response(
            StatusCode::OK,
            &List {
                api_version,
                kind,
                metadata: ListMeta {
                    resource_version: rv.to_string(),
                },
                items: &items,
            },
        ),
        None => match items.into_iter().next() {
            Some(o) => json_response(StatusCode::OK, &o),
            None => status_response(status::internal("no object".into())),
        },
    }
}

/// Label and field selectors of a request, checked against kind `T`.
pub(crate) fn selectors<T: Selectable + Default>(
    q: &ListParams,
) -> Result<(Selector, FieldSelector), Box<Status>> {
    let labels = Selector::parse(q.label_selector.as_deref().unwrap_or(""))
        .map_err(|e| status::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(q.field_selector.as_deref().unwrap_or(""))
        .map_err(|e| status::bad_request(e.to_string()))?;
    fields
        .check::<T>()
        .map_err(|e| status::bad_request(e.to_string()))?;
    Ok((labels, fields))
}

/// Whether `p` belongs to a pod list of `ns` with these selectors.
fn pod_matches(p: &Pod, ns: Option<&str>, labels: &Selector, fields: &FieldSelector) -> bool {
    ns.is_none_or(|n| p.metadata.namespace.as_deref().unwrap_or("default") == n)
        && labels.matches(p.metadata.labels.as_ref())
        && fields.matches(p)
}

fn pod_list<S: NodeState>(
    k: Kube<S>,
    ns: Option<String>,
    h: &HeaderMap,
    q: ListParams,
) -> Response {
    let (labels, fields) = match selectors::<Pod>(&q) {
        Ok(s) => s,
        Err(s) => return status_response(s),
    };
    if truthy(q.watch.as_deref()) {
        return watch_pods(k, ns, labels, fields, h, q);
    }
    let (rv, pods) = k.pods();
    let items: Vec<Pod> = pods
        .into_iter()
        .filter(|p| pod_matches(p, ns.as_deref(), &labels, &fields))
        .collect();
    respond(h, &q, items, rv, Some("PodList"))
}

async fn list_pods<S: NodeState>(
    State(k): State<Kube<S>>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    pod_list(k, None, &h, q)
}

async fn list_ns_pods<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    pod_list(k, Some(ns), &h, q)
}

async fn get_pod<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    match k.pod(&ns, &name) {
        Some(p) => {
            let rv = k.revisions.current();
            respond(&h, &q, vec![p], rv, None)
        }
        None => status_response(status::pod_not_found(&name)),
    }
}

/// One watch event line.
fn event_line(type_: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The object of a watch event: the object itself, or a one-row Table.
pub(crate) fn watch_object<T: Printable>(obj: &T, rv: u64, table: Option<Include>) -> Value {
    match table {
        Some(inc) => table::table(
            std::slice::from_ref(obj),
            &rv.to_string(),
            Timestamp::now(),
            inc,
        ),
        None => serde_json::to_value(obj).unwrap_or(Value::Null),
    }
}

fn bookmark((api_version, kind): (&str, &str), rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": meta})
}

fn stream(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        [(header::CONTENT_TYPE, "application/json;stream=watch")],
        Body::from_stream(body),
    )
        .into_response()
}

/// How often a bookmark is sent to a watcher that allows them, when nothing else was.
pub const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// A pod watch: from `resourceVersion` (what changed after it), or from now with ADDED for
/// every pod (no or `0` resourceVersion); then every change, until the client hangs up or
/// `timeoutSeconds` passes.
fn watch_pods<S: NodeState>(
    k: Kube<S>,
    ns: Option<String>,
    labels: Selector,
    fields: FieldSelector,
    h: &HeaderMap,
    q: ListParams,
) -> Response {
    let revisions = k.revisions.clone();
    watch_versioned(
        move || k.pods().1,
        revisions,
        move |p: &Pod, rv, table| {
            pod_matches(p, ns.as_deref(), &labels, &fields).then(|| watch_object(p, rv, table))
        },
        ("v1", "Pod"),
        h,
        q,
    )
}

/// A watch of versioned objects (pods, workload objects): from `resourceVersion` (what
/// changed after it), or from now with ADDED for every object (no or `0` resourceVersion);
/// then every change, until the client hangs up or `timeoutSeconds` passes. `render` selects
/// an object (`None`: not watched) and makes its event object; bookmarks are of kind
/// `bookmark` (`(apiVersion, kind)`).
pub(crate) fn watch_versioned<V, O, R>(
    observe: O,
    revisions: Arc<Revisions<V>>,
    render: R,
    bookmark_kind: (&'static str, &'static str),
    h: &HeaderMap,
    q: ListParams,
) -> Response
where
    V: Versioned + Send + Sync + 'static,
    O: Fn() -> Vec<V> + Send + 'static,
    R: Fn(&V, u64, Option<Include>) -> Option<Value> + Send + 'static,
{
    let since = match q.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return status_response(status::bad_request(format!(
                    "resourceVersion: {v:?} is not a resource version of this server"
                )));
            }
        },
    };
    let table = table::wants_table(accept(h)).then(|| Include::parse(q.include_object.as_deref()));
    let bookmarks = truthy(q.allow_watch_bookmarks.as_deref());
    let initial_end = bookmarks && truthy(q.send_initial_events.as_deref());
    let deadline = q
        .timeout_seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut last = since.unwrap_or(0);
        let mut first = true;
        let mut quiet_since = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(crate::watch::POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tx.is_closed() || deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return;
            }
            let objects = observe();
            let (rv, changes) = match revisions.changes_since(last, &objects) {
                Ok(c) => c,
                Err(e) => {
                    let st = status::gone(format!(
                        "too old resource version: {} ({})",
                        e.asked, e.oldest
                    ));
                    let _ = tx
                        .send(event_line(
                            "ERROR",
                            &serde_json::to_value(&*st).unwrap_or_default(),
                        ))
                        .await;
                    return;
                }
            };
            let mut sent = false;
            for (c, o) in changes {
                // A watch from "now" starts with every object as ADDED.
                let c = if since.is_none() && first {
                    Change::Added
                } else {
                    c
                };
                if first && since.is_none() && matches!(c, Change::Deleted) {
                    continue;
                }
                let orv = o
                    .meta()
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(rv);
                let Some(object) = render(&o, orv, table) else {
                    continue;
                };
                if tx.send(event_line(c.as_str(), &object)).await.is_err() {
                    return;
                }
                sent = true;
            }
            last = rv;
            let now = tokio::time::Instant::now();
            if sent {
                quiet_since = now;
            }
            let due = bookmarks && now.duration_since(quiet_since) >= BOOKMARK_EVERY;
            if (first && initial_end) || due {
                quiet_since = now;
                if tx
                    .send(event_line(
                        "BOOKMARK",
                        &bookmark(bookmark_kind, rv, first && initial_end),
                    ))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            first = false;
        }
    });
    stream(rx)
}

fn event_list<S: NodeState>(
    k: Kube<S>,
    ns: Option<String>,
    h: &HeaderMap,
    q: ListParams,
) -> Response {
    let (labels, fields) = match selectors::<Event>(&q) {
        Ok(s) => s,
        Err(s) => return status_response(s),
    };
    let select = move |k: &Kube<S>| -> Vec<Event> {
        let ns_f = ns.as_deref().or(fields.equals("involvedObject.namespace"));
        k.node
            .events(ns_f, fields.equals("involvedObject.name"))
            .into_iter()
            .filter(|e| {
                ns.as_deref()
                    .is_none_or(|n| e.metadata.namespace.as_deref() == Some(n))
            })
            .filter(|e| labels.matches(e.metadata.labels.as_ref()))
            .filter(|e| fields.matches(e))
            .collect()
    };
    let rv = k.revisions.current();
    if !truthy(q.watch.as_deref()) {
        return respond(h, &q, select(&k), rv, Some("EventList"));
    }
    diff_watch(move || select(&k), h, &q)
}

/// A watch of objects without resource versions of their own (events, the node,
/// namespaces): `list` is polled and compared by name — ADDED, MODIFIED, DELETED. A watch
/// that names a resource version starts from the objects as they are (the list the client just
/// got); otherwise with ADDED for each.
fn diff_watch<T, F>(list: F, h: &HeaderMap, q: &ListParams) -> Response
where
    T: Printable + PartialEq + Clone + Send + Sync + 'static,
    F: Fn() -> Vec<T> + Send + 'static,
{
    let table = table::wants_table(accept(h)).then(|| Include::parse(q.include_object.as_deref()));
    let from_now = matches!(q.resource_version.as_deref(), Some(v) if !v.is_empty() && v != "0");
    let deadline = q
        .timeout_seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let name = |o: &T| o.meta().name.clone().unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut seen: std::collections::BTreeMap<String, T> = if from_now {
            list().into_iter().map(|o| (name(&o), o)).collect()
        } else {
            Default::default()
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if tx.is_closed() || deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return;
            }
            let now: std::collections::BTreeMap<String, T> =
                list().into_iter().map(|o| (name(&o), o)).collect();
            let mut lines = vec![];
            for (n, o) in &now {
                match seen.get(n) {
                    None => lines.push(event_line("ADDED", &watch_object(o, 1, table))),
                    Some(old) if old != o => {
                        lines.push(event_line("MODIFIED", &watch_object(o, 1, table)))
                    }
                    Some(_) => {}
                }
            }
            for (n, o) in &seen {
                if !now.contains_key(n) {
                    lines.push(event_line("DELETED", &watch_object(o, 1, table)));
                }
            }
            for l in lines {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
            seen = now;
        }
    });
    stream(rx)
}

async fn list_events<S: NodeState>(
    State(k): State<Kube<S>>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    event_list(k, None, &h, q)
}

async fn list_ns_events<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(ns): UrlPath<String>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    event_list(k, Some(ns), &h, q)
}

fn this_node<S: NodeState>(k: &Kube<S>) -> k8s_openapi::api::core::v1::Node {
    node_object::node(&k.node.node_facts(), &Machine::read())
}

async fn list_nodes<S: NodeState>(
    State(k): State<Kube<S>>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    let n = this_node(&k);
    let labels = match Selector::parse(q.label_selector.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return status_response(status::bad_request(e.to_string())),
    };
    let items: Vec<_> = [n]
        .into_iter()
        .filter(|n| labels.matches(n.metadata.labels.as_ref()))
        .collect();
    if truthy(q.watch.as_deref()) {
        return diff_watch(
            move || {
                let n = this_node(&k);
                // Heartbeat times change on every read; a watcher sees the node change when
                // something else does.
                vec![node_object::without_heartbeats(n)]
            },
            &h,
            &q,
        );
    }
    respond(&h, &q, items, 1, Some("NodeList"))
}

async fn get_node<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(name): UrlPath<String>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    let n = this_node(&k);
    if n.metadata.name.as_deref() != Some(name.as_str()) {
        return status_response(status::not_found("nodes", &name));
    }
    respond(&h, &q, vec![n], 1, None)
}

pub fn all_namespaces<S: NodeState>(k: &Kube<S>) -> Vec<k8s_openapi::api::core::v1::Namespace> {
    let mut all = node_object::namespaces(&k.pods().1, k.node.node_facts().started);
    let created = k
        .namespaces
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Namespaces declared by manifests (their own objects, with labels), and those other
    // objects are in (as pods' are).
    let started = k.node.node_facts().started;
    for o in k.objects().1 {
        match o {
            Object::Namespace(n) => {
                all.retain(|x| x.metadata.name != n.metadata.name);
                let mut n = *n;
                let name = n.metadata.name.clone().unwrap_or_default();
                n.metadata
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert("kubernetes.io/metadata.name".into(), name);
                n.status
                    .get_or_insert_with(Default::default)
                    .phase
                    .get_or_insert_with(|| "Active".into());
                all.push(n);
            }
            other => {
                let ns = other.namespace();
                if !all.iter().any(|x| x.metadata.name.as_deref() == Some(ns)) {
                    all.push(node_object::namespace(ns, started));
                }
            }
        }
    }
    for (name, at) in created {
        if !all
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(name.as_str()))
        {
            all.push(node_object::namespace(&name, at));
        }
    }
    all.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    all
}

async fn list_namespaces<S: NodeState>(
    State(k): State<Kube<S>>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    if truthy(q.watch.as_deref()) {
        return diff_watch(move || all_namespaces(&k), &h, &q);
    }
    let items = all_namespaces(&k);
    respond(&h, &q, items, 1, Some("NamespaceList"))
}

async fn get_namespace<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(name): UrlPath<String>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    match all_namespaces(&k)
        .into_iter()
        .find(|n| n.metadata.name.as_deref() == Some(name.as_str()))
    {
        Some(n) => respond(&h, &q, vec![n], 1, None),
        None => status_response(status::not_found("namespaces", &name)),
    }
}

async fn get_lease<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let f = k.node.node_facts();
    if name != f.name {
        return status_response(status::not_found("leases.coordination.k8s.io", &name));
    }
    let now = Timestamp::now();
    json_response(
        StatusCode::OK,
        &json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease",
                         "creationTimestamp": f.started.to_string()},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()},
        }),
    )
}

/// NodeMetrics of this node: CPU over a short sample of `/proc/stat`, memory in use
/// (MemTotal − MemAvailable).
async fn node_metrics<S: NodeState>(k: &Kube<S>) -> Value {
    let facts: NodeFacts = k.node.node_facts();
    let (cpu_nanos, mem_kib) = tokio::task::spawn_blocking(node_object::usage)
        .await
        .unwrap_or((0, 0));
    json!({
        "kind": "NodeMetrics",
        "apiVersion": nodelet_objects::pod_metrics::API_VERSION,
        "metadata": {"name": facts.name, "labels": node_object::node(&facts, &Machine::default()).metadata.labels},
        "timestamp": Timestamp::now().to_string(),
        "window": "250ms",
        "usage": {"cpu": format!("{cpu_nanos}n"), "memory": format!("{mem_kib}Ki")},
    })
}

async fn list_node_metrics<S: NodeState>(State(k): State<Kube<S>>) -> Response {
    let m = node_metrics(&k).await;
    json_response(
        StatusCode::OK,
        &json!({"kind": "NodeMetricsList", "apiVersion": nodelet_objects::pod_metrics::API_VERSION,
                "metadata": {}, "items": [m]}),
    )
}

async fn get_node_metrics<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    if name != k.node.node_facts().name {
        return status_response(status::not_found("nodemetrics.metrics.k8s.io", &name));
    }
    json_response(StatusCode::OK, &node_metrics(&k).await)
}
