//! The API's routes and listeners. Routes (Kubernetes paths where one exists):
//! `/healthz`, `/metrics`, `/api/v1/namespaces/{ns}/pods/{name}/log` (the Kubernetes
//! resources themselves, lists, watches, tables and writes are `crate::kube`, `crate::writes`,
//! `crate::remote_exec` and `crate::port_forward`, merged in here);
//! `/api/v1/namespaces/{ns}/pods/{name}/exectarget` tells
//! `nodectl exec` where the running container is; container CPU and memory under
//! `/apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]`. Logs, metrics and exec
//! targets come from the [`NodeState`] (on the blocking pool). Errors are Kubernetes `Status`
//! JSON.
//!
//! The Unix socket is made root-only (mode 0600) right after `bind`; a stale socket file left
//! by a dead nodelet is replaced, a live one is an error.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::Deserialize;

use crate::response::{json_response, status_response};
use crate::{LogRequest, Metrics, NodeState, status};
use nodelet_objects::log_options::{ReadOptions, Which};
use nodelet_objects::pod_metrics::{API_VERSION as METRICS_API_VERSION, PodMetrics};
use nodelet_objects::selector::Selector;

/// Where the pod metrics are served.
pub use nodelet_objects::pod_metrics::API_PATH as METRICS_API;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("API socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("API socket {}: another nodelet is serving it", path.display())]
    InUse { path: PathBuf },
    #[error("API socket {}: exists and is not a socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("API server: {0}")]
    Serve(#[source] std::io::Error),
}

struct App<S> {
    node: Arc<S>,
    metrics: Arc<Metrics>,
}

impl<S> Clone for App<S> {
    fn clone(&self) -> Self {
        App {
            node: self.node.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// The API's routes over `node` and `metrics`.
pub fn router<S: NodeState>(node: Arc<S>, metrics: Arc<Metrics>) -> Router {
    let kube = super::kube::Kube::new(node.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text::<S>))
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log::<S>))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/exectarget",
            get(exec_target::<S>),
        )
        .route(&format!("{METRICS_API}/pods"), get(all_pod_metrics::<S>))
        .route(
            &format!("{METRICS_API}/namespaces/{{ns}}/pods"),
            get(ns_pod_metrics::<S>),
        )
        .route(
            &format!("{METRICS_API}/namespaces/{{ns}}/pods/{{name}}"),
            get(one_pod_metrics::<S>),
        )
        .fallback(|| async {
            status_response(status::failure(
                404,
                "NotFound",
                "the server could not find the requested resource".to_string(),
            ))
        })
        .with_state(App { node, metrics })
        .merge(super::writes::routes(kube.clone()))
        .merge(super::remote_exec::routes(kube.clone()))
        .merge(super::port_forward::routes(kube.clone()))
        .merge(super::objects::routes(kube.clone()))
        .merge(super::object_writes::routes(kube.clone()))
        .merge(super::kube::routes(kube))
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                status_response(status::method_not_allowed(method.as_str(), uri.path()))
            },
        )
        .layer(axum::middleware::map_response(super::errors::as_status))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::limits::MAX_BODY,
        ))
        .layer(axum::middleware::from_fn(crate::limits::read_body))
}

/// How long an existing socket must keep accepting connections to count as another
/// nodelet's (see [`bind_unix`]).
pub const IN_USE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Bind the API's Unix socket at `path`, root-only (0600). Creates the parent directory. A
/// socket that accepts connections for [`IN_USE_WAIT`] is another nodelet's ([`ApiError::InUse`]);
/// one that stops within it (a dying predecessor) or refuses them is replaced.
pub fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, ApiError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let err = |source| ApiError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            // A predecessor killed a moment ago can still accept connections (its threads
            // hold the listener while its leader is already a zombie): only a socket that
            // stays connectable for IN_USE_WAIT is another nodelet's.
            let t = std::time::Instant::now();
            while std::os::unix::net::UnixStream::connect(path).is_ok() {
                if t.elapsed() >= IN_USE_WAIT {
                    return Err(ApiError::InUse {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            std::fs::remove_file(path).map_err(err)?;
        }
        Ok(_) => {
            return Err(ApiError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let l = tokio::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(l)
}

/// Serve `router` on `listener` (a `tokio::net::UnixListener` from `bind_unix`, or a
/// `tokio::net::TcpListener` for the optional TCP address) until `shutdown` completes.
pub async fn serve<L>(
    listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    // At most `limits::MAX_CONNECTIONS` at once; a request header must come in time.
    axum::serve(crate::limits::Limited::new(listener), router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ApiError::Serve)
}

/// Pods by phase and containers by state, counted from the pods as they are now.
fn gauges(metrics: &Metrics, pods: &[Pod]) {
    let phases = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];
    let mut by_phase = [0i64; 5];
    let mut by_state = [0i64; 3];
    for p in pods {
        let st = p.status.as_ref();
        let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        if let Some(i) = phases.iter().position(|x| *x == phase) {
            by_phase[i] += 1;
        }
        let all = st
            .into_iter()
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .filter_map(|c| c.state.as_ref());
        for state in all {
            if state.running.is_some() {
                by_state[1] += 1;
            } else if state.terminated.is_some() {
                by_state[2] += 1;
            } else {
                by_state[0] += 1;
            }
        }
    }
    metrics.set_pods_by_phase(phases.iter().copied().zip(by_phase));
    metrics.set_containers_by_state(
        ["waiting", "running", "terminated"]
            .into_iter()
            .zip(by_state),
    );
}

async fn metrics_text<S: NodeState>(State(app): State<App<S>>) -> Response {
    gauges(&app.metrics, &app.node.pods());
    match app.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => status_response(status::internal(format!("encoding metrics: {e}"))),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "labelSelector")]
    label_selector: Option<String>,
}

/// The pods of `ns` (or all) matching `sel`, sorted by namespace and name.
fn select(pods: Vec<Pod>, ns: Option<&str>, sel: &Selector) -> Vec<Pod> {
    let mut items: Vec<Pod> = pods
        .into_iter()
        .filter(|p| ns.is_none_or(|n| p.metadata.namespace.as_deref().unwrap_or("default") == n))
        .filter(|p| sel.matches(p.metadata.labels.as_ref()))
        .collect();
    items.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    items
}

#[derive(Debug, Default, Deserialize)]
struct LogParams {
    container: Option<String>,
    previous: Option<String>,
    #[serde(rename = "tailLines")]
    tail_lines: Option<String>,
    #[serde(rename = "sinceSeconds")]
    since_seconds: Option<String>,
    #[serde(rename = "sinceTime")]
    since_time: Option<String>,
    timestamps: Option<String>,
    follow: Option<String>,
    #[serde(rename = "limitBytes")]
    limit_bytes: Option<String>,
}

fn parse_bool(field: &str, v: Option<&str>) -> Result<bool, Box<Status>> {
    match v {
        None | Some("false") | Some("0") | Some("False") => Ok(false),
        Some("") | Some("true") | Some("1") | Some("True") => Ok(true),
        Some(x) => Err(status::bad_request(format!(
            "{field}: {x:?} is not a boolean"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(field: &str, v: Option<&str>) -> Result<Option<T>, Box<Status>> {
    v.map(|s| {
        s.parse::<T>().map_err(|_| {
            status::bad_request(format!("{field}: {s:?} is not a non-negative integer"))
        })
    })
    .transpose()
}

fn container_names(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let spec = pod.spec.as_ref();
    let names = |v: Option<&Vec<k8s_openapi::api::core::v1::Container>>| {
        v.map(|cs| cs.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    };
    (
        names(spec.map(|s| &s.containers)),
        names(spec.and_then(|s| s.init_containers.as_ref())),
    )
}

fn log_request(pod: &Pod, name: &str, p: &LogParams) -> Result<LogRequest, Box<Status>> {
    let (app, init) = container_names(pod);
    let container = match &p.container {
        Some(c) if !c.is_empty() => {
            if !app.contains(c) && !init.contains(c) {
                return Err(status::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        _ if app.len() == 1 => app[0].clone(),
        _ => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                app.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(status::bad_request(msg));
        }
    };
    let which = match p.previous.as_deref() {
        None | Some("false") | Some("0") | Some("False") => Which::Current,
        Some("") | Some("true") | Some("True") => Which::Previous(1),
        Some(n) => match n.parse::<u32>() {
            Ok(n) => Which::Previous(n),
            Err(_) => {
                return Err(status::bad_request(format!(
                    "previous: {n:?} is neither a boolean nor a count"
                )));
            }
        },
    };
    let tail = parse_num::<usize>("tailLines", p.tail_lines.as_deref())?;
    let since_seconds = parse_num::<u64>("sinceSeconds", p.since_seconds.as_deref())?;
    let since = match (since_seconds, p.since_time.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(status::bad_request(
                "at most one of sinceTime or sinceSeconds may be specified".to_string(),
            ));
        }
        (Some(s), None) => {
            let d = jiff::SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX / 2));
            Some(
                jiff::Timestamp::now()
                    .checked_sub(d)
                    .unwrap_or(jiff::Timestamp::MIN),
            )
        }
        (None, Some(t)) => Some(t.parse::<jiff::Timestamp>().map_err(|e| {
            status::bad_request(format!("sinceTime: {t:?} is not an RFC 3339 time: {e}"))
        })?),
        (None, None) => None,
    };
    Ok(LogRequest {
        container,
        which,
        opts: ReadOptions { tail, since },
        timestamps: parse_bool("timestamps", p.timestamps.as_deref())?,
        follow: parse_bool("follow", p.follow.as_deref())?,
        limit: parse_num::<usize>("limitBytes", p.limit_bytes.as_deref())?,
    })
}

/// One message from a log reader: a chunk of lines, or the error that ends it.
type LogMsg = Result<Bytes, Box<Status>>;

async fn pod_log<S: NodeState>(
    State(app): State<App<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(p): Query<LogParams>,
) -> Response {
    let Some(pod) = app.node.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    let req = match log_request(&pod, &name, &p) {
        Ok(r) => r,
        Err(s) => return status_response(s),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<LogMsg>(16);
    let node = app.node.clone();
    tokio::task::spawn_blocking(move || {
        // `limitBytes`: at most that much log text, then the read stops (as the client hung
        // up). Empty chunks (a follower's "still there?") go through until then.
        let mut left = req.limit.unwrap_or(usize::MAX);
        let mut sink = |mut chunk: Vec<u8>| {
            if left == 0 {
                return false;
            }
            chunk.truncate(left);
            left -= chunk.len();
            tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()
        };
        if let Err(s) = node.container_log(&pod, &req, &mut sink) {
            let _ = tx.blocking_send(Err(s));
        }
    });
    // An error before the first chunk is the response; later ones end the stream in-band.
    let first = match rx.recv().await {
        None => return text(Vec::new()),
        Some(Err(s)) => return status_response(s),
        Some(Ok(b)) => b,
    };
    // Empty chunks (a follower checking that the client is still there) are not sent.
    let stream =
        futures_util::stream::unfold((Some(first), rx), |(mut first, mut rx)| async move {
            loop {
                let msg = match first.take() {
                    Some(b) => Ok(b),
                    None => rx.recv().await?,
                };
                match msg {
                    Ok(b) if b.is_empty() => continue,
                    Ok(b) => return Some((Ok::<_, Infallible>(b), (None, rx))),
                    Err(s) => {
                        rx.close();
                        let msg = s.message.unwrap_or_default();
                        return Some((Ok(Bytes::from(format!("error: {msg}\n"))), (None, rx)));
                    }
                }
            }
        });
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn text(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct ExecTargetParams {
    container: Option<String>,
}

async fn exec_target<S: NodeState>(
    State(app): State<App<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    Query(p): Query<ExecTargetParams>,
) -> Response {
    let Some(pod) = app.node.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    let container =
        match nodelet_objects::default_container::default_container(&pod, p.container.as_deref()) {
            Ok((c, _)) => c,
            Err(e) => return status_response(status::bad_request(e)),
        };
    let node = app.node.clone();
    let r = tokio::task::spawn_blocking(move || node.exec_target(&pod, &container)).await;
    match r {
        Ok(Ok(t)) => json_response(StatusCode::OK, &t),
        Ok(Err(s)) => status_response(s),
        Err(e) => status_response(status::internal(e.to_string())),
    }
}

/// PodMetrics of `pods` (blocking sampling off the async threads).
async fn pod_metrics<S: NodeState>(
    app: &App<S>,
    pods: Vec<Pod>,
) -> Result<Vec<PodMetrics>, Box<Status>> {
    let node = app.node.clone();
    tokio::task::spawn_blocking(move || node.pod_metrics(pods))
        .await
        .map_err(|e| status::internal(e.to_string()))
}

async fn metrics_list<S: NodeState>(app: &App<S>, ns: Option<&str>, q: &ListQuery) -> Response {
    let sel = match Selector::parse(q.label_selector.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return status_response(status::bad_request(e.to_string())),
    };
    let pods = select(app.node.pods(), ns, &sel);
    match pod_metrics(app, pods).await {
        Ok(items) => json_response(
            StatusCode::OK,
            &serde_json::json!({
                "apiVersion": METRICS_API_VERSION,
                "kind": "PodMetricsList",
                "metadata": {},
                "items": items,
            }),
        ),
        Err(s) => status_response(s),
    }
}

async fn all_pod_metrics<S: NodeState>(
    State(app): State<App<S>>,
    Query(q): Query<ListQuery>,
) -> Response {
    metrics_list(&app, None, &q).await
}

async fn ns_pod_metrics<S: NodeState>(
    State(app): State<App<S>>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    metrics_list(&app, Some(&ns), &q).await
}

async fn one_pod_metrics<S: NodeState>(
    State(app): State<App<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> Response {
    let Some(pod) = app.node.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    match pod_metrics(&app, vec![pod]).await {
        Ok(mut items) if !items.is_empty() => json_response(StatusCode::OK, &items.remove(0)),
        Ok(_) => status_response(status::failure(
            404,
            "NotFound",
            format!("podmetrics.metrics.k8s.io \"{ns}/{name}\" not found"),
        )),
        Err(s) => status_response(s),
    }
}
