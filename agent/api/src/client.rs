//! The API client `nodectl` uses: HTTP over nodelet's Unix socket (reqwest), Kubernetes JSON
//! decoded into k8s-openapi types, and errors worded as kubectl words them:
//! `Error from server (NotFound): pods "x" not found`, or a message naming the socket when
//! nodelet is not running.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error(
        "cannot connect to nodelet at {}: {reason} (is nodelet running?)",
        socket.display()
    )]
    NotRunning { socket: PathBuf, reason: String },
    /// The server answered with a Kubernetes `Status` error.
    #[error("Error from server ({}): {}", .0.reason.as_deref().unwrap_or("Unknown"), .0.message.as_deref().unwrap_or(""))]
    Api(Box<Status>),
    #[error("nodelet API at {}: {source}", socket.display())]
    Http {
        socket: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("nodelet API {what}: unexpected answer: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The Kubernetes reason (`NotFound`, `BadRequest`, ...) of a server error.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Api(s) => s.reason.as_deref(),
            _ => None,
        }
    }
}

/// What `nodectl logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub container: Option<String>,
    /// 0: the current instance; N: the N-th previous one (`--previous` is 1).
    pub previous: u32,
    pub tail_lines: Option<u64>,
    pub since_seconds: Option<u64>,
    pub timestamps: bool,
    pub follow: bool,
}

#[derive(serde::Deserialize)]
struct List<T> {
    items: Vec<T>,
}

/// A client of one nodelet's API socket.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    socket: PathBuf,
}

/// A log response body, read chunk by chunk (for `-f`).
pub struct LogStream {
    resp: reqwest::Response,
    socket: PathBuf,
}

impl LogStream {
    /// The next piece of log text, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, ClientError> {
        self.resp.chunk().await.map_err(|source| ClientError::Http {
            socket: self.socket.clone(),
            source,
        })
    }
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Result<Client, ClientError> {
        let socket = socket.into();
        // reqwest is built without a TLS provider (see the workspace's rustls entry); its
        // client refuses to build until one is installed, even for a Unix socket.
        static TLS: std::sync::Once = std::sync::Once::new();
        TLS.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        // Plain HTTP over the Unix socket: no TLS roots to load (a host without
        // ca-certificates must not make nodectl fail).
        let http = reqwest::Client::builder()
            .unix_socket(socket.clone())
            .tls_certs_only(std::iter::empty())
            .build()
            .map_err(|source| ClientError::Http {
                socket: socket.clone(),
                source,
            })?;
        Ok(Client { http, socket })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn url(&self, path: &str) -> reqwest::Url {
        // The host is not used on a Unix socket; path segments are escaped by the caller.
        let mut u = reqwest::Url::parse("http://nodelet/").expect("constant URL parses");
        u.set_path(path);
        u
    }

    fn send_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() {
            let mut reason = String::new();
            let mut src: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = src {
                reason = s.to_string();
                src = s.source();
            }
            ClientError::NotRunning {
                socket: self.socket.clone(),
                reason,
            }
        } else {
            ClientError::Http {
                socket: self.socket.clone(),
                source: e,
            }
        }
    }

    async fn get(&self, url: reqwest::Url) -> Result<reqwest::Response, ClientError> {
        self.send(self.http.get(url.clone()), &url).await
    }

    /// Sends `req` (made for `url`); a non-2xx answer is its `Status` as `ClientError::Api`.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &reqwest::Url,
    ) -> Result<reqwest::Response, ClientError> {
        let what = url.path().to_string();
        let resp = req.send().await.map_err(|e| self.send_error(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status();
        let body = resp.bytes().await.map_err(|e| self.send_error(e))?;
        let status = serde_json::from_slice::<Status>(&body).unwrap_or_else(|_| Status {
            code: Some(i32::from(code.as_u16())),
            reason: Some(code.canonical_reason().unwrap_or("Unknown").to_string()),
            message: Some(format!("{what}: {}", String::from_utf8_lossy(&body).trim())),
            ..Default::default()
        });
        Err(ClientError::Api(Box::new(status)))
    }

    async fn get_json<T: DeserializeOwned>(&self, url: reqwest::Url) -> Result<T, ClientError> {
        let what = url.path().to_string();
        let body = self
            .get(url)
            .await?
            .bytes()
            .await
            .map_err(|e| self.send_error(e))?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { what, source })
    }

    /// A write (`POST`, `PATCH`) of a JSON body with `content_type`; the answer decoded.
    async fn write_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        content_type: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let what = url.path().to_string();
        let req = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string());
        let body = self
            .send(req, &url)
            .await?
            .bytes()
            .await
            .map_err(|e| self.send_error(e))?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { what, source })
    }

    /// `<prefix>/namespaces/<ns>/<plural>[/<name>]` of kind `T`.
    fn object_path<T: nodelet_objects::workload::Kind>(
        namespace: &str,
        name: Option<&str>,
    ) -> String {
        let base = format!(
            "{}/namespaces/{}/{}",
            crate::objects::prefix::<T>(),
            Self::segment(namespace),
            T::URL_PATH_SEGMENT,
        );
        match name {
            Some(n) => format!("{base}/{}", Self::segment(n)),
            None => base,
        }
    }

    /// Creates `object` of kind `T` in `namespace` (`POST`); the object as created.
    pub async fn create_object<T: nodelet_objects::workload::Kind>(
        &self,
        namespace: &str,
        object: &T,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_value(object).map_err(|source| ClientError::Decode {
            what: T::KIND.to_string(),
            source,
        })?;
        let url = self.url(&Self::object_path::<T>(namespace, None));
        self.write_json(reqwest::Method::POST, url, "application/json", &body)
            .await
    }

    /// Patches object `namespace/name` of kind `T` (`PATCH` with `kind`'s content type); the
    /// object as patched.
    pub async fn patch_object<T: nodelet_objects::workload::Kind>(
        &self,
        namespace: &str,
        name: &str,
        kind: crate::patch::PatchType,
        patch: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let url = self.url(&Self::object_path::<T>(namespace, Some(name)));
        self.write_json(reqwest::Method::PATCH, url, kind.content_type(), patch)
            .await
    }

    /// Sets `spec.replicas` of `namespace/name` through its `scale` subresource (a merge
    /// patch, as `kubectl scale` sends); the Scale as answered.
    pub async fn scale<T: nodelet_objects::workload::Kind>(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<serde_json::Value, ClientError> {
        let url = self.url(&format!(
            "{}/scale",
            Self::object_path::<T>(namespace, Some(name))
        ));
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        self.write_json(
            reqwest::Method::PATCH,
            url,
            crate::patch::PatchType::Merge.content_type(),
            &patch,
        )
        .await
    }

    fn segment(s: &str) -> String {
        // Kubernetes names are DNS labels/subdomains; escape anything else anyway.
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> Result<String, ClientError> {
        let r = self.get(self.url("/healthz")).await?;
        r.text().await.map_err(|e| self.send_error(e))
    }

    /// `GET /metrics` (OpenMetrics text).
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let r = self.get(self.url("/metrics")).await?;
        r.text().await.map_err(|e| self.send_error(e))
    }

    /// Pods of one namespace (or all), optionally filtered by a label selector.
    pub async fn pods(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>, ClientError> {
        let mut url = match namespace {
            Some(ns) => self.url(&format!("/api/v1/namespaces/{}/pods", Self::segment(ns))),
            None => self.url("/api/v1/pods"),
        };
        if let Some(s) = label_selector {
            url.query_pairs_mut().append_pair("labelSelector", s);
        }
        Ok(self.get_json::<List<Pod>>(url).await?.items)
    }

    /// Objects of kind `T` (ConfigMaps, Jobs, Deployments...) of one namespace (or all),
    /// optionally filtered by a label selector.
    pub async fn objects<T: nodelet_objects::workload::Kind>(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<T>, ClientError> {
        let prefix = crate::objects::prefix::<T>();
        let plural = T::URL_PATH_SEGMENT;
        let mut url = match namespace {
            Some(ns) => self.url(&format!(
                "{prefix}/namespaces/{}/{plural}",
                Self::segment(ns)
            )),
            None => self.url(&format!("{prefix}/{plural}")),
        };
        if let Some(s) = label_selector {
            url.query_pairs_mut().append_pair("labelSelector", s);
        }
        Ok(self.get_json::<List<T>>(url).await?.items)
    }

    /// One object of kind `T`; a missing one is `ClientError::Api` with reason `NotFound`.
    pub async fn object<T: nodelet_objects::workload::Kind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<T, ClientError> {
        let url = self.url(&Self::object_path::<T>(namespace, Some(name)));
        self.get_json(url).await
    }

    /// The apps/v1 ControllerRevisions of a namespace (a DaemonSet's history), optionally
    /// filtered by a label selector.
    pub async fn controller_revisions(
        &self,
        namespace: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<k8s_openapi::api::apps::v1::ControllerRevision>, ClientError> {
        let mut url = self.url(&format!(
            "/apis/apps/v1/namespaces/{}/controllerrevisions",
            Self::segment(namespace)
        ));
        if let Some(s) = label_selector {
            url.query_pairs_mut().append_pair("labelSelector", s);
        }
        Ok(self.get_json::<List<_>>(url).await?.items)
    }

    /// One pod; a missing one is `ClientError::Api` with reason `NotFound`.
    pub async fn pod(&self, namespace: &str, name: &str) -> Result<Pod, ClientError> {
        let url = self.url(&format!(
            "/api/v1/namespaces/{}/pods/{}",
            Self::segment(namespace),
            Self::segment(name)
        ));
        self.get_json(url).await
    }

    /// Events of a namespace (or all), optionally only those about object `name`.
    pub async fn events(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Event>, ClientError> {
        let mut url = match namespace {
            Some(ns) => self.url(&format!("/api/v1/namespaces/{}/events", Self::segment(ns))),
            None => self.url("/api/v1/events"),
        };
        if let Some(n) = name {
            url.query_pairs_mut()
                .append_pair("fieldSelector", &format!("involvedObject.name={n}"));
        }
        Ok(self.get_json::<List<Event>>(url).await?.items)
    }

    /// A container's log; read it with `LogStream::chunk` (it ends unless `follow`).
    pub async fn logs(
        &self,
        namespace: &str,
        name: &str,
        q: &LogQuery,
    ) -> Result<LogStream, ClientError> {
        let mut url = self.url(&format!(
            "/api/v1/namespaces/{}/pods/{}/log",
            Self::segment(namespace),
            Self::segment(name)
        ));
        {
            let mut qp = url.query_pairs_mut();
            if let Some(c) = &q.container {
                qp.append_pair("container", c);
            }
            if q.previous > 0 {
                qp.append_pair("previous", &q.previous.to_string());
            }
            if let Some(n) = q.tail_lines {
                qp.append_pair("tailLines", &n.to_string());
            }
            if let Some(n) = q.since_seconds {
                qp.append_pair("sinceSeconds", &n.to_string());
            }
            if q.timestamps {
                qp.append_pair("timestamps", "true");
            }
            if q.follow {
                qp.append_pair("follow", "true");
            }
        }
        let resp = self.get(url).await?;
        Ok(LogStream {
            resp,
            socket: self.socket.clone(),
        })
    }
}

/// A pod watch: decoded events as they come.
pub struct PodWatch {
    resp: reqwest::Response,
    socket: PathBuf,
    buf: Vec<u8>,
    ready: std::collections::VecDeque<crate::watch::WatchEvent>,
}

impl PodWatch {
    /// The next event; `None` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<crate::watch::WatchEvent>, ClientError> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            let chunk = self
                .resp
                .chunk()
                .await
                .map_err(|source| ClientError::Http {
                    socket: self.socket.clone(),
                    source,
                })?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.buf.extend_from_slice(&chunk);
            let evs =
                crate::watch::take_events(&mut self.buf).map_err(|source| ClientError::Decode {
                    what: "pod watch".into(),
                    source,
                })?;
            self.ready.extend(evs);
        }
    }
}

impl Client {
    /// Watch the pods of one namespace (or all), optionally filtered by a label selector.
    pub async fn watch_pods(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<PodWatch, ClientError> {
        let mut url = match namespace {
            Some(ns) => self.url(&format!("/api/v1/namespaces/{}/pods", Self::segment(ns))),
            None => self.url("/api/v1/pods"),
        };
        {
            let mut qp = url.query_pairs_mut();
            if let Some(s) = label_selector {
                qp.append_pair("labelSelector", s);
            }
            qp.append_pair("watch", "true");
        }
        let resp = self.get(url).await?;
        Ok(PodWatch {
            resp,
            socket: self.socket.clone(),
            buf: vec![],
            ready: Default::default(),
        })
    }

    /// Where `container` (or the pod's default container) runs, checked to be running.
    pub async fn exec_target(
        &self,
        namespace: &str,
        name: &str,
        container: Option<&str>,
    ) -> Result<crate::ExecTarget, ClientError> {
        let mut url = self.url(&format!(
            "/api/v1/namespaces/{}/pods/{}/exectarget",
            Self::segment(namespace),
            Self::segment(name)
        ));
        if let Some(c) = container {
            url.query_pairs_mut().append_pair("container", c);
        }
        self.get_json(url).await
    }

    /// PodMetrics of one namespace (or all), optionally filtered by a label selector.
    pub async fn pod_metrics(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<nodelet_objects::pod_metrics::PodMetrics>, ClientError> {
        let api = crate::server::METRICS_API;
        let mut url = match namespace {
            Some(ns) => self.url(&format!("{api}/namespaces/{}/pods", Self::segment(ns))),
            None => self.url(&format!("{api}/pods")),
        };
        if let Some(s) = label_selector {
            url.query_pairs_mut().append_pair("labelSelector", s);
        }
        Ok(self
            .get_json::<List<nodelet_objects::pod_metrics::PodMetrics>>(url)
            .await?
            .items)
    }

    /// PodMetrics of one pod.
    pub async fn one_pod_metrics(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<nodelet_objects::pod_metrics::PodMetrics, ClientError> {
        let url = self.url(&format!(
            "{}/namespaces/{}/pods/{}",
            crate::server::METRICS_API,
            Self::segment(namespace),
            Self::segment(name)
        ));
        self.get_json(url).await
    }
}
