//! The workload and configuration kinds through the API's router over TCP, against a fake
//! `NodeState` whose `objects()` is what its static pod directory and controllers'
//! directory declare (parsed as the source parses them, so writes show at once), plus a
//! status the test gives: discovery, reads with Tables and selectors, watches, and writes as
//! manifest files (create, 422, 409, strategic patch of a pod template, scale, label of a
//! controller-made object, delete).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use nodelet_api::node_object::NodeFacts;
use nodelet_api::{LogRequest, LogSink, Metrics, NodeState};
use nodelet_objects::manifest::{is_manifest_name, parse_manifest_all};
use nodelet_objects::workload::Object;
use serde_json::{Value, json};

struct FakeNode {
    static_dir: PathBuf,
    workload_dir: PathBuf,
    /// Status by `Kind/namespace/name`, put on the declared objects (the engine's part).
    statuses: Mutex<BTreeMap<String, Value>>,
}

impl FakeNode {
    /// What the source would read: every manifest of both directories.
    fn manifests(&self) -> Vec<nodelet_objects::manifest::Manifest> {
        let mut out = vec![];
        for dir in [&self.static_dir, &self.workload_dir] {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .filter(|e| is_manifest_name(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read(&p).unwrap();
                if let Ok(m) = parse_manifest_all(&p, &text, "node1", jiff::Timestamp::now()) {
                    out.push(m);
                }
            }
        }
        out
    }

    fn declared(&self) -> Vec<Object> {
        self.manifests()
            .into_iter()
            .flat_map(|m| m.objects.into_iter().map(|o| o.object))
            .collect()
    }
}

impl NodeState for FakeNode {
    fn pods(&self) -> Vec<Pod> {
        self.manifests()
            .into_iter()
            .flat_map(|m| m.pods.into_iter().map(|p| p.pod))
            .collect()
    }
    fn objects(&self) -> Vec<Object> {
        let statuses = self.statuses.lock().unwrap();
        self.declared()
            .into_iter()
            .map(|o| {
                let key = format!("{}/{}/{}", o.kind(), o.namespace(), o.name());
                match statuses.get(&key) {
                    Some(st) => {
                        let mut v = o.to_value();
                        v["status"] = st.clone();
                        Object::decode(o.kind(), v).unwrap().0
                    }
                    None => o,
                }
            })
            .collect()
    }
    fn workload_dir(&self) -> Option<&Path> {
        Some(&self.workload_dir)
    }
    fn static_pod_dir(&self) -> Option<&Path> {
        Some(&self.static_dir)
    }
    fn node_facts(&self) -> NodeFacts {
        NodeFacts {
            name: "node1".into(),
            ..Default::default()
        }
    }
    fn events(&self, _: Option<&str>, _: Option<&str>) -> Vec<Event> {
        vec![]
    }
    fn container_log(&self, _: &Pod, _: &LogRequest, _: LogSink<'_>) -> Result<(), Box<Status>> {
        Ok(())
    }
}

struct Api {
    _dir: tempfile::TempDir,
    node: Arc<FakeNode>,
    base: String,
    http: reqwest::Client,
}

async fn start() -> Api {
    // reqwest is built without a TLS provider (plain HTTP here, but the client wants one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(FakeNode {
        static_dir: dir.path().join("manifests"),
        workload_dir: dir.path().join("workloads"),
        statuses: Mutex::default(),
    });
    std::fs::create_dir_all(&node.static_dir).unwrap();
    std::fs::create_dir_all(&node.workload_dir).unwrap();
    let router = nodelet_api::router(node.clone(), Arc::new(Metrics::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    Api {
        _dir: dir,
        node,
        base,
        http: reqwest::Client::new(),
    }
}

impl Api {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut r = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        let resp = r.send().await.unwrap();
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, &[], None).await
    }
    async fn table(&self, path: &str) -> Value {
        let (code, v) = self
            .send(
                "GET",
                path,
                &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
                None,
            )
            .await;
        assert_eq!(code, 200, "{v}");
        v
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await
    }
    async fn patch(&self, path: &str, ct: &str, body: Value) -> (u16, Value) {
        self.send(
            "PATCH",
            path,
            &[("content-type", ct)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }
    fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.node.static_dir.join(name)).ok()
    }
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                                      {"name": "log", "image": "busybox"}]}}}
    })
}

fn cells(t: &Value, name: &str) -> Vec<Value> {
    t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == name)
        .unwrap_or_else(|| panic!("no row {name} in {t}"))["cells"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn discovery_lists_the_kinds() {
    let api = start().await;
    let (_, apps) = api.get("/apis/apps/v1").await;
    let names: Vec<&str> = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for want in [
        "deployments",
        "deployments/scale",
        "replicasets",
        "daemonsets",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let (_, groups) = api.get("/apis").await;
    assert!(groups["groups"].to_string().contains("batch/v1"));
    let (code, _) = api.get("/apis/nope/v1").await;
    assert_eq!(code, 404);
    let (_, core) = api.get("/api/v1").await;
    assert!(core.to_string().contains("\"configmaps\""));
}

#[tokio::test]
async fn configmaps_and_secrets_are_written_as_files_and_read_back() {
    let api = start().await;
    let (code, cm) = api
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "labels": {"tier": "a"}},
                   "data": {"a": "1", "b": "2"}}),
        )
        .await;
    assert_eq!(code, 201, "{cm}");
    assert!(cm["metadata"]["uid"].is_string(), "{cm}");
    let file = api
        .file("default-configmap-cfg.yaml")
        .expect("file written");
    assert!(
        file.contains("kind: ConfigMap") && file.contains("a: '1'") || file.contains("a: \"1\""),
        "{file}"
    );
    // Again: 409.
    let (code, st) = api
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "cfg"}}),
        )
        .await;
    assert_eq!(
        (code, st["reason"].as_str()),
        (409, Some("AlreadyExists")),
        "{st}"
    );
    // An invalid key: 422 naming the field; nothing written.
    let (code, st) = api
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "bad"}, "data": {"a b": "x"}}),
        )
        .await;
    assert_eq!(code, 422, "{st}");
    assert_eq!(st["details"]["causes"][0]["field"], "data[a b]", "{st}");
    assert!(api.file("default-configmap-bad.yaml").is_none());
    // Unknown fields under strict validation: 400.
    let (code, st) = api
        .post(
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            json!({"metadata": {"name": "odd"}, "dta": {"a": "1"}}),
        )
        .await;
    assert_eq!(code, 400, "{st}");
    assert!(st["message"].as_str().unwrap().contains("dta"), "{st}");
    // Reads: get, list with selectors, Table.
    let (code, got) = api.get("/api/v1/namespaces/default/configmaps/cfg").await;
    assert_eq!((code, &got["data"]["b"]), (200, &json!("2")), "{got}");
    let (_, list) = api.get("/api/v1/configmaps?labelSelector=tier%3Da").await;
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = api
        .get("/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dother")
        .await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (code, _) = api
        .get("/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3D1")
        .await;
    assert_eq!(code, 400);
    let t = api.table("/api/v1/namespaces/default/configmaps").await;
    assert_eq!(cells(&t, "cfg")[1], 2);
    // A Secret: stringData becomes data, served base64.
    let (code, s) = api
        .post(
            "/api/v1/namespaces/default/secrets",
            json!({"metadata": {"name": "pw"}, "stringData": {"user": "admin"}}),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(s["data"]["user"], "YWRtaW4=");
    assert_eq!(s["type"], "Opaque");
    let t = api.table("/api/v1/namespaces/default/secrets").await;
    assert_eq!(cells(&t, "pw")[1..3], [json!("Opaque"), json!(1)]);
    // Namespaces: those objects are in, and declared Namespace objects.
    let (code, _) = api
        .post(
            "/api/v1/namespaces/dev/configmaps",
            json!({"metadata": {"name": "devcfg"}, "data": {"x": "y"}}),
        )
        .await;
    assert_eq!(code, 201);
    std::fs::write(
        api.node.static_dir.join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {owner: me}\n",
    )
    .unwrap();
    let (_, nss) = api.get("/api/v1/namespaces").await;
    let names: Vec<&str> = nss["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"dev") && names.contains(&"team"),
        "{names:?}"
    );
    let (_, team) = api.get("/api/v1/namespaces/team").await;
    assert_eq!(team["metadata"]["labels"]["owner"], "me", "{team}");
    assert_eq!(
        team["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
    assert_eq!(team["status"]["phase"], "Active");
    // Deleting a namespace removes its objects' files.
    let (code, _) = api
        .send("DELETE", "/api/v1/namespaces/dev", &[], None)
        .await;
    assert_eq!(code, 200);
    assert!(api.file("dev-configmap-devcfg.yaml").is_none());
    let (code, _) = api
        .send("DELETE", "/api/v1/namespaces/team", &[], None)
        .await;
    assert_eq!(code, 200);
    assert!(api.file("ns.yaml").is_none());
    // Delete: the file goes, then 404.
    let (code, st) = api
        .send(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/cfg",
            &[],
            None,
        )
        .await;
    assert_eq!(
        (code, st["status"].as_str()),
        (200, Some("Success")),
        "{st}"
    );
    assert!(api.file("default-configmap-cfg.yaml").is_none());
    let (code, _) = api.get("/api/v1/namespaces/default/configmaps/cfg").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn deployments_patch_scale_status_and_controller_made_objects() {
    let api = start().await;
    let (code, d) = api
        .post(
            "/apis/apps/v1/namespaces/default/deployments",
            deployment("web", 3),
        )
        .await;
    assert_eq!(code, 201, "{d}");
    assert!(api.file("default-deployment-web.yaml").is_some());
    api.node.statuses.lock().unwrap().insert(
        "Deployment/default/web".into(),
        json!({"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
    );
    let t = api.table("/apis/apps/v1/deployments").await;
    assert_eq!(
        cells(&t, "web")[..4],
        [json!("web"), json!("2/3"), json!(3), json!(2)]
    );
    assert_eq!(cells(&t, "web")[5], "web,log");
    // kubectl set image / rollout restart: a strategic merge of the pod template; the other
    // container and the labels stay; the status is not written into the file.
    let (code, d) = api
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/web",
            "application/strategic-merge-patch+json",
            json!({"spec": {"template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-07T10:00:00Z"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}),
        )
        .await;
    assert_eq!(code, 200, "{d}");
    let file = api.file("default-deployment-web.yaml").unwrap();
    assert!(
        file.contains("nginx:1.28") && file.contains("busybox"),
        "{file}"
    );
    assert!(
        file.contains("restartedAt") && !file.contains("readyReplicas"),
        "{file}"
    );
    // kubectl rollout undo: a JSON patch replacing /metadata/annotations, which the file
    // (created without annotations) does not have.
    let (code, d) = api
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/web",
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/metadata/annotations",
                    "value": {"deployment.kubernetes.io/revision-note": "undo"}}]),
        )
        .await;
    assert_eq!(code, 200, "{d}");
    let file = api.file("default-deployment-web.yaml").unwrap();
    assert!(file.contains("revision-note: undo"), "{file}");
    // kubectl scale: a merge patch of the scale subresource.
    let (code, s) = api
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            "application/merge-patch+json",
            json!({"spec": {"replicas": 5}}),
        )
        .await;
    assert_eq!((code, &s["spec"]["replicas"]), (200, &json!(5)), "{s}");
    assert_eq!(s["status"]["selector"], "app=web");
    let file = api.file("default-deployment-web.yaml").unwrap();
    assert!(file.contains("replicas: 5"), "{file}");
    // The API shows the API server's defaults; the file keeps what was written.
    assert!(
        !file.contains("dnsPolicy") && !file.contains("revisionHistoryLimit"),
        "{file}"
    );
    let (_, d) = api
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await;
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate", "{d}");
    assert_eq!(
        d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst",
        "{d}"
    );
    let (_, s) = api
        .get("/apis/apps/v1/namespaces/default/deployments/web/scale")
        .await;
    assert_eq!(s["spec"]["replicas"], 5);
    // A write with a stale resourceVersion: 409.
    let mut stale = deployment("web", 1);
    stale["metadata"]["resourceVersion"] = json!("1");
    let (code, st) = api
        .send(
            "PUT",
            "/apis/apps/v1/namespaces/default/deployments/web",
            &[("content-type", "application/json")],
            Some(stale.to_string().into_bytes()),
        )
        .await;
    assert_eq!(
        (code, st["reason"].as_str()),
        (409, Some("Conflict")),
        "{st}"
    );
    // A ReplicaSet a controller made (in the controllers' directory): readable, and a label
    // edits its file there.
    std::fs::write(
        api.node.workload_dir.join("default-replicaset-web-abc.yaml"),
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-abc\n  labels: {app: web}\n\
         spec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    \
         metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n",
    )
    .unwrap();
    let (code, rs) = api
        .get("/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3Dweb")
        .await;
    assert_eq!(code, 200);
    assert_eq!(rs["items"][0]["metadata"]["name"], "web-abc", "{rs}");
    let (code, r) = api
        .patch(
            "/apis/apps/v1/namespaces/default/replicasets/web-abc",
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"seen": "yes"}}}),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    let file = std::fs::read_to_string(
        api.node
            .workload_dir
            .join("default-replicaset-web-abc.yaml"),
    )
    .unwrap();
    assert!(file.contains("seen: \"yes\""), "{file}");
    // An invalid template image type: 422 naming the field; the file keeps its content.
    let (code, st) = api
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/web",
            "application/merge-patch+json",
            json!({"metadata": {"name": "Web!"}}),
        )
        .await;
    assert_eq!(code, 400, "{st}");
    // A pod the ReplicaSet made (its file in the controllers' directory): relabelled out of
    // the selector (the exercise), then deleted, in its file there.
    let pod_file = api.node.workload_dir.join("default-web-abc-x1y2z.yaml");
    std::fs::write(
        &pod_file,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-abc-x1y2z\n  labels: {app: web}\n  \
         annotations: {nodelet.io/append-node-name: 'false'}\nspec:\n  containers: [{name: web, image: nginx}]\n",
    )
    .unwrap();
    let (code, p) = api
        .patch(
            "/api/v1/namespaces/default/pods/web-abc-x1y2z",
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"app": "debug"}}}),
        )
        .await;
    assert_eq!(code, 200, "{p}");
    let text = std::fs::read_to_string(&pod_file).unwrap();
    assert!(text.contains("app: debug"), "{text}");
    assert_eq!(
        std::fs::read_dir(&api.node.static_dir).unwrap().count(),
        1,
        "only the Deployment's file"
    );
    let (code, _) = api
        .send(
            "DELETE",
            "/api/v1/namespaces/default/pods/web-abc-x1y2z",
            &[],
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert!(!pod_file.exists());
    // Delete the ReplicaSet: its file in the controllers' directory goes.
    let (code, _) = api
        .send(
            "DELETE",
            "/apis/apps/v1/namespaces/default/replicasets/web-abc",
            &[],
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        !api.node
            .workload_dir
            .join("default-replicaset-web-abc.yaml")
            .exists()
    );
}

#[tokio::test]
async fn jobs_cronjobs_apply_and_watch() {
    let api = start().await;
    // Server-side apply creates, then updates.
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"completions": 5, "parallelism": 2, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}});
    let (code, j) = api
        .patch(
            "/apis/batch/v1/namespaces/default/jobs/pi?fieldManager=kubectl",
            "application/apply-patch+yaml",
            job,
        )
        .await;
    assert_eq!(code, 201, "{j}");
    api.node.statuses.lock().unwrap().insert(
        "Job/default/pi".into(),
        json!({"succeeded": 2, "startTime": "2026-12-07T09:00:00Z",
               "completionTime": "2026-12-07T09:00:30Z",
               "conditions": [{"type": "Complete", "status": "True"}]}),
    );
    let t = api.table("/apis/batch/v1/namespaces/default/jobs").await;
    assert_eq!(
        cells(&t, "pi")[..4],
        [json!("pi"), json!("Complete"), json!("2/5"), json!("30s")]
    );
    // A CronJob, and a watch of cronjobs from now: ADDED for it, then for a second one.
    let cj = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    };
    let (code, c) = api
        .post("/apis/batch/v1/namespaces/default/cronjobs", cj("hello"))
        .await;
    assert_eq!(code, 201, "{c}");
    let watch = api.http.get(format!(
        "{}/apis/batch/v1/namespaces/default/cronjobs?watch=1&timeoutSeconds=2",
        api.base
    ));
    let watching = tokio::spawn(async move { watch.send().await.unwrap().text().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (code, _) = api
        .post("/apis/batch/v1/namespaces/default/cronjobs", cj("later"))
        .await;
    assert_eq!(code, 201);
    let lines = watching.await.unwrap();
    let events: Vec<(String, String)> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("ADDED".into(), "hello".into()),
            ("ADDED".into(), "later".into())
        ],
        "{lines}"
    );
    let (_, list) = api.get("/apis/batch/v1/cronjobs").await;
    assert_eq!(list["apiVersion"], "batch/v1");
    assert_eq!(list["kind"], "CronJobList");
    // Delete by label selector (kubectl delete --all sends none).
    let (code, gone) = api
        .send(
            "DELETE",
            "/apis/batch/v1/namespaces/default/cronjobs",
            &[],
            None,
        )
        .await;
    assert_eq!(code, 200, "{gone}");
    assert_eq!(gone["items"].as_array().unwrap().len(), 2);
    assert!(api.file("default-cronjob-hello.yaml").is_none());
}
