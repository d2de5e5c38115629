//! The local API (nodelet-api) over a real Unix socket in a temp dir, against a fake `NodeState`
//! (the pod manager's role; its logs read by nodelet's `node_api::container_log`), queried with nodelet's own client and raw HTTP: health, socket mode, pod
//! list and label selectors, Kubernetes Status errors, logs with previous/tail/follow, events
//! with aggregation, and metrics parsed by a Prometheus text parser.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use nodelet::logs;
use nodelet_api::{
    self as api, Client, ClientError, LogQuery, LogRequest, LogSink, Metrics, NodeState,
};
use nodelet_objects::events::{EventReason, EventStore, Involved};
use nodelet_shim::crilog::LogWriter;
use nodelet_shim_protocol::crilog::Stream;

struct FakeNode {
    pods: Mutex<Vec<Pod>>,
    events: EventStore,
    logs_dir: PathBuf,
}

impl NodeState for FakeNode {
    fn pods(&self) -> Vec<Pod> {
        self.pods.lock().unwrap().clone()
    }
    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        self.events.list(namespace, name)
    }
    fn container_log(
        &self,
        pod: &Pod,
        req: &LogRequest,
        sink: LogSink<'_>,
    ) -> Result<(), Box<Status>> {
        nodelet::node_api::container_log(self, &self.logs_dir, pod, req, sink)
    }
}

fn pod(ns: &str, name: &str, labels: serde_json::Value, containers: &[(&str, i32, bool)]) -> Pod {
    let specs: Vec<_> = containers
        .iter()
        .map(|(c, _, _)| serde_json::json!({"name": c, "image": "busybox"}))
        .collect();
    let statuses: Vec<_> = containers
        .iter()
        .map(|(c, restarts, running)| {
            let state = if *running {
                serde_json::json!({"running": {"startedAt": "2026-11-22T10:00:00Z"}})
            } else {
                serde_json::json!({"waiting": {"reason": "CrashLoopBackOff"}})
            };
            serde_json::json!({"name": c, "image": "busybox", "imageID": "", "ready": running,
                               "restartCount": restarts, "state": state})
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": ns, "name": name, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"containers": specs},
        "status": {"phase": "Running", "containerStatuses": statuses},
    }))
    .unwrap()
}

struct Server {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    node: Arc<FakeNode>,
    metrics: Arc<Metrics>,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/nodelet.sock");
    let node = Arc::new(FakeNode {
        pods: Mutex::new(vec![
            pod(
                "default",
                "web-n1",
                serde_json::json!({"app": "web", "tier": "front"}),
                &[("nginx", 3, true)],
            ),
            pod(
                "default",
                "multi-n1",
                serde_json::json!({"app": "multi"}),
                &[("a", 0, true), ("b", 0, true)],
            ),
            pod(
                "kube-system",
                "dns-n1",
                serde_json::json!({"app": "dns"}),
                &[("dns", 0, false)],
            ),
        ]),
        events: EventStore::new("n1", 100),
        logs_dir: dir.path().join("pods"),
    });
    let metrics = Arc::new(Metrics::new());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = api::router(node.clone(), metrics.clone());
    let listener = {
        let _g = rt.enter();
        api::bind_unix(&socket).unwrap()
    };
    rt.spawn(async move {
        api::serve(listener, router, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        _dir: dir,
        socket,
        node,
        metrics,
        rt,
        stop: Some(tx),
    }
}

impl Server {
    fn client(&self) -> Client {
        Client::new(&self.socket).unwrap()
    }
    /// Raw GET: status code and body.
    fn raw(&self, path: &str) -> (u16, String) {
        nodelet_images::tls::install_provider();
        let http = reqwest::Client::builder()
            .unix_socket(self.socket.clone())
            .build()
            .unwrap();
        self.rt.block_on(async {
            let r = http
                .get(format!("http://nodelet{path}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }
    fn log_dir(&self, ns: &str, name: &str, c: &str) -> PathBuf {
        logs::container_dir(&self.node.logs_dir, ns, name, &format!("uid-{name}"), c)
    }
    fn logs(&self, ns: &str, name: &str, q: LogQuery) -> Result<String, ClientError> {
        let c = self.client();
        self.rt.block_on(async {
            let mut s = c.logs(ns, name, &q).await?;
            let mut out = Vec::new();
            while let Some(b) = s.chunk().await? {
                out.extend_from_slice(&b);
            }
            Ok(String::from_utf8(out).unwrap())
        })
    }
}

#[test]
fn healthz_and_root_only_socket() {
    let s = start();
    assert_eq!(s.rt.block_on(s.client().healthz()).unwrap(), "ok");
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // A second server on the same live socket is refused; a stale socket file is replaced.
    let err = {
        let _g = s.rt.enter();
        api::bind_unix(&s.socket).unwrap_err()
    };
    assert!(matches!(err, api::ApiError::InUse { .. }), "{err}");
    let stale = s.socket.with_file_name("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let _g = s.rt.enter();
    assert!(api::bind_unix(&stale).is_ok());
    let file = s.socket.with_file_name("plain");
    std::fs::write(&file, "").unwrap();
    assert!(matches!(
        api::bind_unix(&file),
        Err(api::ApiError::NotASocket { .. })
    ));
}

/// A predecessor that was just killed still holds its listener for a moment (connections
/// are accepted into the backlog, nobody serves them): the new server waits for it to go
/// instead of failing with "another nodelet is serving it".
#[test]
fn bind_waits_for_a_dying_predecessors_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodelet.sock");
    let dying = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(800));
        drop(dying);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let t = std::time::Instant::now();
    let l = api::bind_unix(&path);
    closer.join().unwrap();
    assert!(l.is_ok(), "{:?}", l.err().map(|e| e.to_string()));
    assert!(t.elapsed() >= std::time::Duration::from_millis(700));
    assert!(t.elapsed() < std::time::Duration::from_secs(3));
}

/// Connections that never send a request are closed after the header timeout, and no more
/// than `MAX_CONNECTIONS` are served at once: a request beyond them waits for a free slot.
#[test]
fn idle_connections_are_closed_and_capped() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let s = start();
    let idle: Vec<_> = (0..api::limits::MAX_CONNECTIONS)
        .map(|_| std::os::unix::net::UnixStream::connect(&s.socket).unwrap())
        .collect();
    let t = Instant::now();
    let mut late = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n")
        .unwrap();
    late.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    late.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("ok"), "{answer}");
    let waited = t.elapsed();
    assert!(
        waited >= api::limits::HEADER_TIMEOUT - Duration::from_secs(2),
        "answered after {waited:?}: the cap did not hold"
    );
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Closed by the server: end of file (or a reset), not a read timeout.
        match c.read(&mut [0u8; 16]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("idle connection still open: {other:?}"),
        }
    }
}

#[test]
fn pod_list_json_namespaces_and_selectors() {
    let s = start();
    let (code, body) = s.raw("/api/v1/pods");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "PodList");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert_eq!(v["items"][0]["metadata"]["name"], "multi-n1");
    assert_eq!(
        v["items"][1]["status"]["containerStatuses"][0]["restartCount"],
        3
    );
    let c = s.client();
    let names = |pods: Vec<Pod>| -> Vec<String> {
        pods.into_iter().map(|p| p.metadata.name.unwrap()).collect()
    };
    let r = s.rt.block_on(c.pods(Some("default"), None)).unwrap();
    assert_eq!(names(r), ["multi-n1", "web-n1"]);
    let r =
        s.rt.block_on(c.pods(None, Some("app in (web,dns),!missing")))
            .unwrap();
    assert_eq!(names(r), ["web-n1", "dns-n1"]);
    let r =
        s.rt.block_on(c.pods(None, Some("app=web,tier!=front")))
            .unwrap();
    assert!(r.is_empty());
    let e = s.rt.block_on(c.pods(None, Some("app in web"))).unwrap_err();
    assert_eq!(e.reason(), Some("BadRequest"), "{e}");
    let p = s.rt.block_on(c.pod("default", "web-n1")).unwrap();
    assert_eq!(p.metadata.uid.as_deref(), Some("uid-web-n1"));
}

#[test]
fn unknown_pod_is_a_kubernetes_not_found_status() {
    let s = start();
    let (code, body) = s.raw("/api/v1/namespaces/default/pods/x");
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], "NotFound");
    assert_eq!(v["code"], 404);
    assert_eq!(v["message"], "pods \"x\" not found");
    assert_eq!(v["details"]["name"], "x");
    assert_eq!(v["details"]["kind"], "pods");
    let e = s.rt.block_on(s.client().pod("default", "x")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (NotFound): pods \"x\" not found"
    );
    let e = s.logs("default", "x", LogQuery::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (NotFound): pods \"x\" not found"
    );
    let (code, _) = s.raw("/api/v1/nothing");
    assert_eq!(code, 404);
    // axum's own rejections and method errors are Status objects too, never bare text.
    for (path, code, reason) in [
        ("/api/v1/pods?timeoutSeconds=soon", 400, "BadRequest"),
        (
            "/api/v1/namespaces/default/pods/x/exec?command=true",
            404,
            "NotFound",
        ),
    ] {
        let (c, body) = s.raw(path);
        assert_eq!(c, code, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["reason"].as_str()),
            (Some("Status"), Some(reason)),
            "{body}"
        );
        assert!(
            !v["message"].as_str().unwrap_or_default().is_empty(),
            "{body}"
        );
    }
}

#[test]
fn nodelet_not_running_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(Client::new(&sock).unwrap().pods(None, None))
        .unwrap_err();
    assert!(matches!(e, ClientError::NotRunning { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(sock.to_str().unwrap()) && msg.contains("is nodelet running?"),
        "{msg}"
    );
}

fn write_instance(dir: &Path, n: u32, lines: u32) {
    let mut w = LogWriter::open(&logs::instance_path(dir, n), 1 << 20, 5).unwrap();
    for i in 0..lines {
        w.write(Stream::Stdout, format!("run {n} line {i}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn logs_current_previous_tail_and_timestamps() {
    let s = start();
    let dir = s.log_dir("default", "web-n1", "nginx");
    for n in 0..=3 {
        write_instance(&dir, n, 5);
    }
    let q = |previous, tail| LogQuery {
        previous,
        tail_lines: tail,
        ..Default::default()
    };
    let cur = s.logs("default", "web-n1", q(0, None)).unwrap();
    assert_eq!(cur.lines().count(), 5);
    assert!(cur.starts_with("run 3 line 0\n"), "{cur}");
    assert_eq!(
        s.logs("default", "web-n1", q(1, Some(2))).unwrap(),
        "run 2 line 3\nrun 2 line 4\n"
    );
    assert_eq!(
        s.logs("default", "web-n1", q(3, Some(1))).unwrap(),
        "run 0 line 4\n"
    );
    let e = s.logs("default", "web-n1", q(4, None)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (BadRequest): previous terminated container \"nginx\" in pod \"web-n1\" not found"
    );
    let ts = s
        .logs(
            "default",
            "web-n1",
            LogQuery {
                timestamps: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    let (time, text) = ts.trim_end().split_once(' ').unwrap();
    assert_eq!(text, "run 3 line 4");
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
    // sinceSeconds: everything was written just now.
    let since = s
        .logs(
            "default",
            "web-n1",
            LogQuery {
                since_seconds: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(since.lines().count(), 5);
    // Raw query forms kubectl sends.
    let (code, body) =
        s.raw("/api/v1/namespaces/default/pods/web-n1/log?previous=true&tailLines=1");
    assert_eq!((code, body.as_str()), (200, "run 2 line 4\n"));
    let (code, _) = s.raw("/api/v1/namespaces/default/pods/web-n1/log?tailLines=x");
    assert_eq!(code, 400);
}

#[test]
fn logs_need_a_container_name_in_multi_container_pods() {
    let s = start();
    let e = s
        .logs("default", "multi-n1", LogQuery::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (BadRequest): a container name must be specified for pod multi-n1, choose one of: [a b]"
    );
    let e = s
        .logs(
            "default",
            "multi-n1",
            LogQuery {
                container: Some("zz".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("container zz is not valid for pod multi-n1"),
        "{e}"
    );
    // A running container that has not written yet has an empty log.
    let out = s
        .logs(
            "default",
            "multi-n1",
            LogQuery {
                container: Some("b".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out, "");
    // A container waiting with no logs at all.
    let e = s
        .logs("kube-system", "dns-n1", LogQuery::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (BadRequest): container \"dns\" in pod \"dns-n1\" is waiting to start: CrashLoopBackOff"
    );
}

#[test]
fn follow_streams_new_lines_until_the_instance_stops() {
    let s = start();
    let dir = s.log_dir("default", "web-n1", "nginx");
    write_instance(&dir, 3, 2);
    let c = s.client();
    let mut w = LogWriter::open(&logs::instance_path(&dir, 3), 1 << 20, 5).unwrap();
    let node = s.node.clone();
    let got = s.rt.block_on(async move {
        let mut stream = c
            .logs(
                "default",
                "web-n1",
                &LogQuery {
                    follow: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut out = String::new();
        let mut written = false;
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
                .await
                .expect("follow produced nothing for 10 s")
                .unwrap();
            let Some(b) = chunk else { break };
            out.push_str(std::str::from_utf8(&b).unwrap());
            if !written && out.contains("run 3 line 1\n") {
                written = true;
                w.write(Stream::Stdout, b"later 1\nlater 2\n").unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                // The container stops: its status no longer says running.
                let mut pods = node.pods.lock().unwrap();
                pods[0] = pod(
                    "default",
                    "web-n1",
                    serde_json::json!({}),
                    &[("nginx", 3, false)],
                );
            }
        }
        out
    });
    assert_eq!(got, "run 3 line 0\nrun 3 line 1\nlater 1\nlater 2\n");
}

#[test]
fn events_are_listed_aggregated() {
    let s = start();
    let p = Involved::pod("default", "web-n1", "uid-web-n1").container("nginx", false);
    for _ in 0..3 {
        s.node.events.record(
            &p,
            EventReason::BackOff,
            "Back-off restarting failed container",
        );
    }
    s.node.events.record(
        &Involved::pod("kube-system", "dns-n1", "uid-dns-n1"),
        EventReason::Pulled,
        "Container image \"busybox\" already present on machine",
    );
    let c = s.client();
    let ev =
        s.rt.block_on(c.events(Some("default"), Some("web-n1")))
            .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].count, Some(3));
    assert_eq!(ev[0].reason.as_deref(), Some("BackOff"));
    assert_eq!(ev[0].involved_object.name.as_deref(), Some("web-n1"));
    assert_eq!(s.rt.block_on(c.events(None, None)).unwrap().len(), 2);
    let (code, _) = s.raw("/api/v1/events?fieldSelector=spec.nodeName%3Dx");
    assert_eq!(code, 400);
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let s = start();
    let m = &s.metrics;
    // Pods by phase and containers by state are counted from the node's pods per scrape.
    let pods = s.node.pods();
    let waiting = pods
        .iter()
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .filter(|c| c.state.as_ref().is_some_and(|s| s.waiting.is_some()))
        .count();
    assert!(waiting > 0);
    m.container_restarted("default", "web-n1", "nginx");
    m.container_restarted("default", "web-n1", "nginx");
    m.probe(
        "Liveness",
        api::metrics::ProbeResult::Failed,
        "default",
        "web-n1",
        "nginx",
        Duration::from_millis(3),
    );
    m.pod_started(Duration::from_millis(1500));
    m.runtime_operation("create_container", Duration::from_millis(20), true);
    m.runtime_operation("create_container", Duration::from_millis(40), false);
    let text = s.rt.block_on(s.client().metrics()).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"));
        match &s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(b) => b.last().unwrap().count,
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(
        value("nodelet_pods", &[("phase", "Running")]),
        pods.len() as f64
    );
    assert_eq!(value("nodelet_pods", &[("phase", "Pending")]), 0.0);
    assert_eq!(
        value("nodelet_containers", &[("container_state", "waiting")]),
        waiting as f64
    );
    assert_eq!(
        value(
            "nodelet_container_restarts_total",
            &[("container", "nginx")]
        ),
        2.0
    );
    assert_eq!(
        value(
            "nodelet_prober_probe_total",
            &[("probe_type", "Liveness"), ("result", "failed")]
        ),
        1.0
    );
    assert_eq!(value("nodelet_pod_start_duration_seconds_count", &[]), 1.0);
    assert_eq!(
        value("nodelet_prober_probe_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        value(
            "nodelet_runtime_operations_duration_seconds_count",
            &[("operation_type", "create_container")]
        ),
        2.0
    );
    assert_eq!(
        value(
            "nodelet_runtime_operations_errors_total",
            &[("operation_type", "create_container")]
        ),
        1.0
    );
    // Gauges follow the pods: replaced per scrape, not accumulated.
    s.node.pods.lock().unwrap().truncate(1);
    let text = s.rt.block_on(s.client().metrics()).unwrap();
    assert!(text.contains("nodelet_pods{phase=\"Running\"} 1"), "{text}");
}

#[test]
fn optional_tcp_listener_serves_the_same_routes() {
    let s = start();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = api::router(s.node.clone(), s.metrics.clone());
    let listener =
        s.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = s.rt.spawn(async move {
        api::serve(listener, router, async {
            let _ = rx.await;
        })
        .await
    });
    let (code, body) = s.rt.block_on(async {
        let r = reqwest::get(format!("http://{addr}/api/v1/namespaces/default/pods/nope"))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(code, 404);
    assert!(body.contains("pods \\\"nope\\\" not found"), "{body}");
    let _ = tx.send(());
    s.rt.block_on(server).unwrap().unwrap();
}

#[test]
fn watch_streams_added_modified_deleted() {
    let s = start();
    let c = s.client();
    let mut w = s.rt.block_on(c.watch_pods(Some("default"), None)).unwrap();
    let next = |w: &mut api::client::PodWatch| {
        s.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), w.next())
                .await
                .expect("a watch event within 5s")
                .unwrap()
                .expect("the stream goes on")
        })
    };
    let mut first: Vec<(String, String)> = (0..2)
        .map(|_| {
            let e = next(&mut w);
            (e.type_, e.object.metadata.name.unwrap())
        })
        .collect();
    first.sort();
    assert_eq!(
        first,
        [
            ("ADDED".to_string(), "multi-n1".to_string()),
            ("ADDED".to_string(), "web-n1".to_string())
        ]
    );
    {
        let mut pods = s.node.pods.lock().unwrap();
        let web = pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some("web-n1"))
            .unwrap();
        web.status.as_mut().unwrap().phase = Some("Failed".into());
        // Another namespace's change is not this watch's business.
        let dns = pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some("dns-n1"))
            .unwrap();
        dns.status.as_mut().unwrap().phase = Some("Failed".into());
    }
    let e = next(&mut w);
    assert_eq!(e.type_, "MODIFIED");
    assert_eq!(e.object.metadata.name.as_deref(), Some("web-n1"));
    assert_eq!(e.object.status.unwrap().phase.as_deref(), Some("Failed"));
    s.node
        .pods
        .lock()
        .unwrap()
        .retain(|p| p.metadata.name.as_deref() != Some("multi-n1"));
    let e = next(&mut w);
    assert_eq!(
        (e.type_.as_str(), e.object.metadata.name.as_deref()),
        ("DELETED", Some("multi-n1"))
    );
}

#[test]
fn exec_target_and_pod_metrics_errors() {
    let s = start();
    // Unknown pod: NotFound; a node that runs no containers (the fake) cannot exec.
    let c = s.client();
    let e =
        s.rt.block_on(c.exec_target("default", "x", None))
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (NotFound): pods \"x\" not found"
    );
    let e =
        s.rt.block_on(c.exec_target("default", "web-n1", Some("zz")))
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error from server (BadRequest): container zz not found in pod web-n1"
    );
    let e =
        s.rt.block_on(c.exec_target("default", "web-n1", None))
            .unwrap_err();
    assert_eq!(e.reason(), Some("NotImplemented"));
    // No runtime state: no metrics, an empty list, NotFound for one pod.
    let items = s.rt.block_on(c.pod_metrics(None, None)).unwrap();
    assert!(items.is_empty());
    let (code, body) = s.raw("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-n1");
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains("podmetrics.metrics.k8s.io \\\"default/web-n1\\\" not found"),
        "{body}"
    );
}

/// A node whose pods are files: the static pod directory and the controllers' directory.
struct FilesNode {
    pods: Mutex<Vec<Pod>>,
    static_dir: PathBuf,
    workload_dir: PathBuf,
}

impl NodeState for FilesNode {
    fn pods(&self) -> Vec<Pod> {
        self.pods.lock().unwrap().clone()
    }
    fn events(&self, _: Option<&str>, _: Option<&str>) -> Vec<Event> {
        vec![]
    }
    fn container_log(&self, _: &Pod, _: &LogRequest, _: LogSink<'_>) -> Result<(), Box<Status>> {
        Err(Box::default())
    }
    fn static_pod_dir(&self) -> Option<&Path> {
        Some(&self.static_dir)
    }
    fn workload_dir(&self) -> Option<&Path> {
        Some(&self.workload_dir)
    }
}

#[test]
fn a_finished_pod_with_a_finalizer_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (static_dir, workload_dir) = (dir.path().join("manifests"), dir.path().join("workloads"));
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::create_dir_all(&workload_dir).unwrap();
    // A Job's pods as the controller writes them: JSON, its name kept, the tracking finalizer.
    let file = |name: &str| workload_dir.join(format!("Pod_default_{name}.json"));
    let manifest = |name: &str, finalizer: bool| {
        let mut v = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"nodelet.io/append-node-name": "false"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        });
        if finalizer {
            v["metadata"]["finalizers"] = serde_json::json!(["batch.kubernetes.io/job-tracking"]);
        }
        std::fs::write(file(name), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    let shown = |name: &str, phase: &str| {
        let mut p = pod("default", name, serde_json::json!({}), &[("c", 0, false)]);
        p.status.as_mut().unwrap().phase = Some(phase.into());
        p
    };
    manifest("done", true);
    manifest("running", true);
    manifest("counted", false);
    let node = Arc::new(FilesNode {
        pods: Mutex::new(vec![
            shown("done", "Succeeded"),
            shown("running", "Running"),
            shown("counted", "Failed"),
        ]),
        static_dir,
        workload_dir: workload_dir.clone(),
    });
    let socket = dir.path().join("api.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let router = api::router(node.clone(), Arc::new(Metrics::new()));
    let listener = {
        let _g = rt.enter();
        api::bind_unix(&socket).unwrap()
    };
    rt.spawn(async move {
        let _ = api::serve(listener, router, std::future::pending()).await;
    });
    nodelet_images::tls::install_provider();
    let http = reqwest::Client::builder()
        .unix_socket(socket)
        .build()
        .unwrap();
    let delete = |name: &str| -> (u16, serde_json::Value) {
        rt.block_on(async {
            let r = http
                .delete(format!(
                    "http://nodelet/api/v1/namespaces/default/pods/{name}"
                ))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        })
    };
    // Finished with its finalizer: kept, with deletionTimestamp, until the finalizer goes.
    let (code, body) = delete("done");
    assert_eq!(code, 200, "{body}");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    assert_eq!(body["metadata"]["deletionGracePeriodSeconds"], 0, "{body}");
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("done")).unwrap()).unwrap();
    assert!(kept["metadata"]["deletionTimestamp"].is_string(), "{kept}");
    assert_eq!(
        kept["metadata"]["finalizers"][0],
        "batch.kubernetes.io/job-tracking"
    );
    // The same pod's identity: the deletion time is no new version.
    let parse = |path: &Path| {
        nodelet_objects::manifest::parse_manifest(
            path,
            &std::fs::read(path).unwrap(),
            "n1",
            jiff::Timestamp::now(),
        )
        .unwrap()[0]
            .uid()
            .to_string()
    };
    let before = parse(&file("done"));
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("done")).unwrap()).unwrap();
    v["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    v["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionGracePeriodSeconds");
    std::fs::write(file("done"), v.to_string()).unwrap();
    assert_eq!(parse(&file("done")), before);
    // A running one is kept too (the node stops its containers), with its grace period.
    let (code, body) = delete("running");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["metadata"]["deletionGracePeriodSeconds"], 30, "{body}");
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("running")).unwrap()).unwrap();
    assert!(kept["metadata"]["deletionTimestamp"].is_string(), "{kept}");
    assert_eq!(kept["metadata"]["deletionGracePeriodSeconds"], 30, "{kept}");
    // One without finalizers (counted) goes at once.
    let (code, body) = delete("counted");
    assert_eq!(code, 200, "{body}");
    assert!(!file("counted").exists());
}
