//! The pod network by the standard CNI contract (spec 0.3.0 – 1.1.0; conf and conflist):
//! ADD runs the plugins of the first configuration in order, each getting the previous one's
//! result as `prevResult`, caches the final result on disk and extracts the pod IPs; DEL runs
//! them in reverse order with the cached configuration and result, and succeeds with the
//! namespace already gone (empty `CNI_NETNS`). A failed ADD is undone by a DEL before its error
//! is returned, as containerd does.
//!
//! Async (tokio::process); each plugin run has a timeout and its child is killed on drop.
//! ADD and DEL of one attachment hold its lock file, which the plugin inherits
//! ([`lock`]), so a DEL never overtakes an ADD that is still running, even one orphaned by a
//! killed agent; [`Cni::gc`] sends `GC` with `cni.dev/valid-attachments` (spec 1.1).

pub mod cache;
pub mod capabilities;
pub mod conf;
pub mod error;
pub mod invoke;
pub mod lock;
pub mod result;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

pub use capabilities::PortMapping;
pub use conf::NetworkConfigList;
pub use error::CniError;

/// The interface name pods get.
pub const POD_IFNAME: &str = "eth0";
/// Default timeout of one plugin run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where CNI configurations, plugins and the result cache are.
#[derive(Debug, Clone)]
pub struct Cni {
    /// `cniConfDir`.
    pub conf_dir: PathBuf,
    /// `cniBinDir` (several directories allowed, searched in order; also CNI_PATH).
    pub bin_dirs: Vec<PathBuf>,
    /// `<rootDir>/cni-cache`.
    pub cache_dir: PathBuf,
    /// Limit for one plugin run.
    pub timeout: Duration,
}

/// The pod attachment a CNI call is about.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    /// The sandbox's id (CNI_CONTAINERID, K8S_POD_INFRA_CONTAINER_ID).
    pub container_id: String,
    /// The pod's network namespace (the pin); `None` or a missing path means gone (DEL only).
    pub netns: Option<PathBuf>,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// Interface in the pod, normally [`POD_IFNAME`].
    pub ifname: String,
    /// Host ports, passed as `runtimeConfig.portMappings` to plugins that declare the
    /// capability (ADD only; plugins record what they mapped for DEL).
    pub port_mappings: Vec<PortMapping>,
}

impl PodNetwork {
    /// The attachment a cached ADD describes (garbage collection of pods nobody owns any
    /// more: DEL with what ADD was given). `netns` is the pin if it still exists.
    pub fn from_cached(c: &cache::CachedAttachment, netns: Option<&Path>) -> PodNetwork {
        PodNetwork::from_pending(
            &lock::Pending {
                container_id: c.container_id.clone(),
                if_name: c.if_name.clone(),
                cni_args: c.cni_args.clone(),
            },
            netns,
        )
    }

    /// The attachment a lock file records (an ADD that started, cached or not).
    pub fn from_pending(c: &lock::Pending, netns: Option<&Path>) -> PodNetwork {
        let arg = |k: &str| {
            c.cni_args
                .iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        PodNetwork {
            container_id: c.container_id.clone(),
            netns: netns.map(Path::to_path_buf),
            pod_name: arg("K8S_POD_NAME"),
            pod_namespace: arg("K8S_POD_NAMESPACE"),
            pod_uid: arg("K8S_POD_UID"),
            ifname: c.if_name.clone(),
            port_mappings: vec![],
        }
    }

    /// `CNI_ARGS` as the kubelet/containerd pass them.
    pub fn cni_args(&self) -> Vec<(String, String)> {
        vec![
            ("IgnoreUnknown".into(), "1".into()),
            ("K8S_POD_NAMESPACE".into(), self.pod_namespace.clone()),
            ("K8S_POD_NAME".into(), self.pod_name.clone()),
            (
                "K8S_POD_INFRA_CONTAINER_ID".into(),
                self.container_id.clone(),
            ),
            ("K8S_POD_UID".into(), self.pod_uid.clone()),
        ]
    }

    fn validate(&self) -> Result<(), CniError> {
        let inv = |field: &str, reason: String| CniError::Invalid {
            field: field.into(),
            reason,
        };
        crate::disk::check_component("CNI container id", &self.container_id)
            .map_err(|e| inv("CNI container id", e.to_string()))?;
        if self.ifname.is_empty()
            || self.ifname.len() > 15
            || self.ifname.contains(['/', ':'])
            || self.ifname.chars().any(char::is_whitespace)
        {
            return Err(inv(
                "CNI ifname",
                format!("{:?} is not an interface name", self.ifname),
            ));
        }
        for (k, v) in self.cni_args() {
            if v.contains([';', '=']) {
                return Err(inv(
                    &format!("CNI_ARGS {k}"),
                    format!("{v:?} contains ';' or '='"),
                ));
            }
        }
        Ok(())
    }
}

/// What ADD produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub network_name: String,
    /// The pod's IPs on its interface, IPv4 first; the first one is the pod IP.
    pub ips: Vec<IpAddr>,
    /// The final CNI result.
    pub result: Value,
    /// Host ports were asked for but no plugin of the network declares `portMappings`, so
    /// none is mapped.
    pub port_mappings_unsupported: bool,
}

impl Attachment {
    pub fn pod_ip(&self) -> Option<IpAddr> {
        self.ips.first().copied()
    }
}

fn args_string(args: &[(String, String)]) -> String {
    args.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// One plugin's stdin: its configuration plus the list's `name` and `cniVersion`, and
/// `prevResult` when given (libcni's `buildOneConfig`).
fn plugin_config(
    list: &NetworkConfigList,
    plugin: &Map<String, Value>,
    prev: Option<&Value>,
    ports: &[PortMapping],
) -> Value {
    let mut c = plugin.clone();
    capabilities::inject(&mut c, plugin, ports);
    c.insert("name".into(), Value::String(list.name.clone()));
    c.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
    match prev {
        Some(p) => {
            c.insert("prevResult".into(), p.clone());
        }
        None => {
            c.remove("prevResult");
        }
    }
    Value::Object(c)
}

fn plugin_type(p: &Map<String, Value>) -> &str {
    p.get("type").and_then(Value::as_str).unwrap_or("")
}

impl Cni {
    /// A CNI runner with the configured directories and the default timeout.
    pub fn new(conf_dir: &Path, bin_dirs: &[PathBuf], cache_dir: &Path) -> Cni {
        Cni {
            conf_dir: conf_dir.to_path_buf(),
            bin_dirs: bin_dirs.to_vec(),
            cache_dir: cache_dir.to_path_buf(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The network configuration ADD would use now.
    pub fn network(&self) -> Result<NetworkConfigList, CniError> {
        conf::load(&self.conf_dir)
    }

    fn invocation<'a>(
        &'a self,
        command: &'a str,
        pod: &'a PodNetwork,
        netns: &'a str,
        args: &'a str,
        inherit: &'a [std::os::fd::RawFd],
    ) -> invoke::Invocation<'a> {
        invoke::Invocation {
            command,
            container_id: &pod.container_id,
            netns,
            ifname: &pod.ifname,
            args,
            bin_dirs: &self.bin_dirs,
            timeout: self.timeout,
            inherit,
        }
    }

    /// Takes the attachment's lock (waiting up to the CNI timeout for a plugin still running
    /// for it, orphaned or not).
    async fn lock(&self, pod: &PodNetwork) -> Result<lock::Held, CniError> {
        lock::acquire_async(
            lock::path(&self.cache_dir, &pod.container_id, &pod.ifname),
            true,
            self.timeout,
        )
        .await
    }

    /// ADD: attach the pod to the network, cache the result, return the pod IPs. On failure
    /// the plugins are DELeted (best effort) before the error is returned.
    pub async fn add(&self, pod: &PodNetwork) -> Result<Attachment, CniError> {
        pod.validate()?;
        let netns = match &pod.netns {
            Some(p) if invoke::exists(p) => p.display().to_string(),
            _ => {
                return Err(CniError::Invalid {
                    field: "CNI_NETNS".into(),
                    reason: format!(
                        "ADD needs an existing network namespace, got {:?}",
                        pod.netns
                    ),
                });
            }
        };
        let list = self.network()?;
        let args = args_string(&pod.cni_args());
        // GC waits for every ADD (shared lock); DEL of this attachment waits for this one.
        let gc = lock::acquire_async(lock::gc_path(&self.cache_dir), false, self.timeout).await?;
        let held = self.lock(pod).await?;
        held.record(&lock::Pending {
            container_id: pod.container_id.clone(),
            if_name: pod.ifname.clone(),
            cni_args: pod.cni_args(),
        })?;
        let fds = [gc.raw_fd(), held.raw_fd()];
        let inv = self.invocation("ADD", pod, &netns, &args, &fds);
        let mut prev: Option<Value> = None;
        for p in &list.plugins {
            let cfg = plugin_config(&list, p, prev.as_ref(), &pod.port_mappings);
            match invoke::run(plugin_type(p), &cfg, &inv).await {
                Ok(r) => prev = Some(r),
                Err(e) => {
                    match self.del_list(&list, None, pod, &netns, &args, &fds).await {
                        Ok(()) => {
                            if let Err(d) = held.remove() {
                                tracing::warn!(error = %d, "CNI lock file after a failed ADD");
                            }
                        }
                        Err(d) => tracing::warn!(error = %d, "cleanup DEL after a failed CNI ADD"),
                    }
                    return Err(e);
                }
            }
        }
        let result = prev.unwrap_or(Value::Null);
        let last = list
            .plugins
            .last()
            .map(plugin_type)
            .unwrap_or("")
            .to_string();
        let ips = result::pod_ips(&result, &pod.ifname).map_err(|reason| CniError::BadResult {
            plugin: last,
            command: "ADD".into(),
            reason,
        })?;
        let attachment = cache::CachedAttachment {
            kind: cache::KIND.into(),
            container_id: pod.container_id.clone(),
            if_name: pod.ifname.clone(),
            network_name: list.name.clone(),
            cni_args: pod.cni_args(),
            config: list.raw.clone(),
            result: result.clone(),
        };
        if let Err(e) = cache::save(&self.cache_dir, &attachment) {
            let _ = self
                .del_list(&list, Some(&result), pod, &netns, &args, &fds)
                .await;
            return Err(e);
        }
        let port_mappings_unsupported = !pod.port_mappings.is_empty()
            && !capabilities::any_declares(&list, capabilities::PORT_MAPPINGS);
        Ok(Attachment {
            network_name: list.name,
            ips,
            result,
            port_mappings_unsupported,
        })
    }

    /// DEL: detach the pod, using the cached configuration and result of its ADD when there is
    /// one (else the current configuration, without `prevResult`). Works with the namespace
    /// gone; removes the cache entry on success. Nothing cached and no configuration → Ok.
    pub async fn del(&self, pod: &PodNetwork) -> Result<(), CniError> {
        pod.validate()?;
        let netns = match &pod.netns {
            Some(p) if invoke::exists(p) => p.display().to_string(),
            _ => String::new(),
        };
        let args = args_string(&pod.cni_args());
        // After any ADD still running for it (an orphan of a killed agent included): what it
        // allocates is then freed by this DEL.
        let held = self.lock(pod).await?;
        let fds = [held.raw_fd()];
        let cached = cache::load(&self.cache_dir, &pod.container_id, &pod.ifname)?;
        let (list, prev) = match cached {
            Some(c) => {
                let path = cache::path(&self.cache_dir, &pod.container_id, &pod.ifname);
                (conf::from_value(c.config, &path)?, Some(c.result))
            }
            None => match self.network() {
                Ok(l) => (l, None),
                Err(CniError::NoConfig { dir }) => {
                    tracing::warn!(dir = %dir.display(), container = %pod.container_id,
                        "CNI DEL: nothing cached and no network configuration; nothing to do");
                    return held.remove();
                }
                Err(e) => return Err(e),
            },
        };
        self.del_list(&list, prev.as_ref(), pod, &netns, &args, &fds)
            .await?;
        cache::remove(&self.cache_dir, &pod.container_id, &pod.ifname)?;
        held.remove()
    }

    /// CNI GC (spec 1.1): every plugin of the current configuration that speaks 1.1 or later
    /// is told the attachments that are valid (all cached ones of this network and every one
    /// whose ADD started: its lock file exists) and frees the rest. Waits for running ADDs
    /// (the GC lock). Returns false when the configuration is older than 1.1 (nothing sent).
    pub async fn gc(&self) -> Result<bool, CniError> {
        let list = match self.network() {
            Ok(l) => l,
            Err(CniError::NoConfig { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if conf::parse_version(&list.cni_version).is_none_or(|v| v < (1, 1, 0)) {
            return Ok(false);
        }
        let gc = lock::acquire_async(lock::gc_path(&self.cache_dir), true, self.timeout).await?;
        let mut valid: Vec<(String, String)> = self
            .list_cached()?
            .into_iter()
            .filter(|c| c.network_name == list.name)
            .map(|c| (c.container_id, c.if_name))
            .collect();
        valid.extend(
            lock::list_prefixed(&self.cache_dir, "")
                .into_iter()
                .map(|p| (p.container_id, p.if_name)),
        );
        valid.sort();
        valid.dedup();
        let attachments: Vec<Value> = valid
            .iter()
            .map(|(c, i)| serde_json::json!({"containerID": c, "ifname": i}))
            .collect();
        let fds = [gc.raw_fd()];
        let inv = invoke::Invocation {
            command: "GC",
            container_id: "",
            netns: "",
            ifname: "",
            args: "",
            bin_dirs: &self.bin_dirs,
            timeout: self.timeout,
            inherit: &fds,
        };
        for p in &list.plugins {
            let mut cfg = plugin_config(&list, p, None, &[]);
            if let Value::Object(m) = &mut cfg {
                m.insert(
                    "cni.dev/valid-attachments".into(),
                    Value::Array(attachments.clone()),
                );
            }
            invoke::run(plugin_type(p), &cfg, &inv).await?;
        }
        Ok(true)
    }

    /// Every attachment of this node whose container ID starts with `prefix`: the cached
    /// ones and those whose ADD started but never reached the cache (a lock file only).
    pub fn attachments_prefixed(&self, prefix: &str) -> Result<Vec<lock::Pending>, CniError> {
        let mut out: Vec<lock::Pending> = self
            .list_cached_prefixed(prefix)?
            .into_iter()
            .map(|c| lock::Pending {
                container_id: c.container_id,
                if_name: c.if_name,
                cni_args: c.cni_args,
            })
            .collect();
        for p in lock::list_prefixed(&self.cache_dir, prefix) {
            if !out
                .iter()
                .any(|c| c.container_id == p.container_id && c.if_name == p.if_name)
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    async fn del_list(
        &self,
        list: &NetworkConfigList,
        prev: Option<&Value>,
        pod: &PodNetwork,
        netns: &str,
        args: &str,
        inherit: &[std::os::fd::RawFd],
    ) -> Result<(), CniError> {
        // The cached result is passed on DEL from spec 0.4.0 on (libcni's DelNetworkList).
        let prev =
            prev.filter(|_| conf::parse_version(&list.cni_version).is_some_and(|v| v >= (0, 4, 0)));
        let inv = self.invocation("DEL", pod, netns, args, inherit);
        for p in list.plugins.iter().rev() {
            let cfg = plugin_config(list, p, prev, &[]);
            invoke::run(plugin_type(p), &cfg, &inv).await?;
        }
        Ok(())
    }

    /// Every cached attachment (for garbage collection after a restart). Unreadable entries
    /// are skipped with a warning.
    pub fn list_cached(&self) -> Result<Vec<cache::CachedAttachment>, CniError> {
        self.list_cached_prefixed("")
    }

    /// The cached attachments whose container ID starts with `prefix` (the cache files are
    /// named `<containerID>-<ifname>.json`, so only those files are read).
    pub fn list_cached_prefixed(
        &self,
        prefix: &str,
    ) -> Result<Vec<cache::CachedAttachment>, CniError> {
        let rd = match std::fs::read_dir(&self.cache_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(CniError::io("read", &self.cache_dir, e)),
        };
        let mut out = vec![];
        for e in rd.filter_map(|e| e.ok()) {
            if !e
                .file_name()
                .as_encoded_bytes()
                .starts_with(prefix.as_bytes())
            {
                continue;
            }
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let parsed = std::fs::read(&p).map_err(|e| e.to_string()).and_then(|d| {
                serde_json::from_slice::<cache::CachedAttachment>(&d).map_err(|e| e.to_string())
            });
            match parsed {
                Ok(a) if a.kind == cache::KIND => out.push(a),
                Ok(a) => {
                    tracing::warn!(path = %p.display(), kind = %a.kind, "unknown CNI cache kind")
                }
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "unreadable CNI cache entry")
                }
            }
        }
        out.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        Ok(out)
    }

    /// The cached attachment of `container_id` (pod IPs after an agent restart), if any.
    pub fn cached(&self, container_id: &str, ifname: &str) -> Result<Option<Attachment>, CniError> {
        let Some(c) = cache::load(&self.cache_dir, container_id, ifname)? else {
            return Ok(None);
        };
        let ips = result::pod_ips(&c.result, ifname).map_err(|reason| CniError::Cache {
            path: cache::path(&self.cache_dir, container_id, ifname),
            reason,
        })?;
        Ok(Some(Attachment {
            network_name: c.network_name,
            ips,
            result: c.result,
            port_mappings_unsupported: false,
        }))
    }
}
