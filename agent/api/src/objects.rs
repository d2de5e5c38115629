//! Reads of the workload and configuration kinds — ConfigMaps, Secrets (`/api/v1`), Jobs,
//! CronJobs (`/apis/batch/v1`), Deployments, ReplicaSets, DaemonSets (`/apis/apps/v1`): get,
//! list and watch, namespaced and across namespaces, with label selectors, the field
//! selectors of `nodelet_objects::field_selector`, server-side Tables
//! (`nodelet_objects::workload_table`) and the `status` subresource. Everything comes from
//! `NodeState::objects` (declared and controller-made objects with their status), versioned by
//! `Kube::object_revisions`; writes are `super::object_writes`.

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use nodelet_objects::field_selector::{FieldSelector, Selectable};
use nodelet_objects::selector::Selector;
use nodelet_objects::table::Printable;
use nodelet_objects::workload::{Kind, Object};

use super::kube::{Kube, ListParams, respond_in, selectors, truthy, watch_object, watch_versioned};
use super::response::status_response;
use super::{NodeState, status};

/// A kind the API serves: typed, printable, selectable.
pub trait Served: Kind + Printable + Selectable {}
impl<T: Kind + Printable + Selectable> Served for T {}

/// `/api/v1` or `/apis/<group>/v1`.
pub fn prefix<T: Kind>() -> String {
    if T::GROUP.is_empty() {
        "/api/v1".into()
    } else {
        format!("/apis/{}/{}", T::GROUP, T::VERSION)
    }
}

/// The resource as the API server names it in messages: `configmaps`, `deployments.apps`.
pub fn resource_name<T: Kind>() -> String {
    if T::GROUP.is_empty() {
        T::URL_PATH_SEGMENT.to_string()
    } else {
        format!("{}.{}", T::URL_PATH_SEGMENT, T::GROUP)
    }
}

/// `$add::<S, T>(router)` for every served kind `T`: the one list of the kinds the routes
/// are made for (reads here, writes in `object_writes`).
macro_rules! each_kind {
    ($router:expr, $add:ident, $s:ty) => {{
        use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
        use k8s_openapi::api::batch::v1::{CronJob, Job};
        use k8s_openapi::api::core::v1::{ConfigMap, Secret};
        let r = $add::<$s, ConfigMap>($router);
        let r = $add::<$s, Secret>(r);
        let r = $add::<$s, Job>(r);
        let r = $add::<$s, CronJob>(r);
        let r = $add::<$s, Deployment>(r);
        let r = $add::<$s, ReplicaSet>(r);
        let r = $add::<$s, DaemonSet>(r);
        $add::<$s, ControllerRevision>(r)
    }};
}
pub(crate) use each_kind;

/// The read routes of every served kind.
pub fn routes<S: NodeState>(kube: Kube<S>) -> Router {
    each_kind!(Router::new(), kind_routes, S).with_state(kube)
}

fn kind_routes<S: NodeState, T: Served>(r: Router<Kube<S>>) -> Router<Kube<S>> {
    let p = prefix::<T>();
    let plural = T::URL_PATH_SEGMENT;
    r.route(
        &format!("{p}/{plural}"),
        get(
            |State(k): State<Kube<S>>, h: HeaderMap, Query(q): Query<ListParams>| async move {
                list::<S, T>(k, None, &h, q)
            },
        ),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/{plural}"),
        get(
            |State(k): State<Kube<S>>,
             UrlPath(ns): UrlPath<String>,
             h: HeaderMap,
             Query(q): Query<ListParams>| async move { list::<S, T>(k, Some(ns), &h, q) },
        ),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/{plural}/{{name}}"),
        get(get_one::<S, T>),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/{plural}/{{name}}/status"),
        get(get_one::<S, T>),
    )
}

fn matches<T: Served>(o: &T, ns: Option<&str>, labels: &Selector, fields: &FieldSelector) -> bool {
    ns.is_none_or(|n| o.object_meta().namespace.as_deref().unwrap_or_default() == n)
        && labels.matches(o.object_meta().labels.as_ref())
        && fields.matches(o)
}

fn list<S: NodeState, T: Served>(
    k: Kube<S>,
    ns: Option<String>,
    h: &HeaderMap,
    q: ListParams,
) -> Response {
    let (labels, fields) = match selectors::<T>(&q) {
        Ok(s) => s,
        Err(s) => return status_response(s),
    };
    if truthy(q.watch.as_deref()) {
        let revisions = k.object_revisions.clone();
        return watch_versioned(
            move || k.objects().1,
            revisions,
            move |o: &Object, rv, table| {
                let t = T::from_object(o)?;
                matches(t, ns.as_deref(), &labels, &fields).then(|| watch_object(t, rv, table))
            },
            (T::API_VERSION, T::KIND),
            h,
            q,
        );
    }
    let (rv, items) = k.objects_of::<T>();
    let items: Vec<T> = items
        .into_iter()
        .filter(|o| matches(o, ns.as_deref(), &labels, &fields))
        .collect();
    let list_kind = format!("{}List", T::KIND);
    respond_in(h, &q, items, rv, Some((T::API_VERSION, &list_kind)))
}

async fn get_one<S: NodeState, T: Served>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    h: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    match k.object::<T>(&ns, &name) {
        Some(o) => {
            let rv = k.object_revisions.current();
            respond_in(&h, &q, vec![o], rv, None)
        }
        None => status_response(status::not_found(&resource_name::<T>(), &name)),
    }
}
