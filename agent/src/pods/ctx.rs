//! What the pod manager and its pod tasks share: the node's configuration and options, the
//! CNI client, the image service, back-off books, node resources, the published view, the
//! metrics and the ConfigMaps and Secrets of the latest snapshot. Depends on nothing else in
//! `pods` but the view, so every pod module can take it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodelet_images::{ImageService, PullBackoff};
use nodelet_objects::config_sources::ConfigObjects;
use nodelet_objects::workload::DeclaredObject;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::cni::Cni;
use crate::config::Config;
use crate::podspec::NodeResources;

use super::view::PodsView;

/// What the manager needs besides the node configuration.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// The `nodelet-shim` binary.
    pub shim_binary: PathBuf,
    /// The `nodelet-pause` binary.
    pub pause_binary: PathBuf,
    /// The `noderun` binary, which the shims run for each container operation.
    pub runtime_binary: PathBuf,
    /// How often a pod with something pending (set-up, pulls, back-off, errors) is synced.
    pub sync_period: Duration,
    /// How often a settled pod is synced when no event (container exit, due probe) woke it.
    pub idle_resync: Duration,
    /// Where the pods' metrics go (the API serves them).
    pub metrics: Arc<nodelet_api::Metrics>,
}

impl ManagerOptions {
    /// Shim, pause and runtime binaries from the directory of `exe`, 1 s sync period.
    pub fn next_to(exe: &Path) -> ManagerOptions {
        let dir = exe.parent().unwrap_or(Path::new("/"));
        ManagerOptions {
            shim_binary: dir.join("nodelet-shim"),
            pause_binary: dir.join("nodelet-pause"),
            runtime_binary: dir.join("noderun"),
            sync_period: Duration::from_secs(1),
            idle_resync: Duration::from_secs(10),
            metrics: Arc::new(nodelet_api::Metrics::new()),
        }
    }
}

/// Shared by the manager and its pod tasks.
pub struct Ctx {
    pub cfg: Config,
    pub opts: ManagerOptions,
    pub cni: Cni,
    pub images: ImageService,
    pub pull_backoff: Mutex<PullBackoff>,
    pub backoff: Mutex<Backoff>,
    pub node: NodeResources,
    /// The node's IP (pods' hostIP), if it has one.
    pub node_ip: Option<std::net::IpAddr>,
    pub view: PodsView,
    pub metrics: Arc<nodelet_api::Metrics>,
    /// The ConfigMaps and Secrets the manifests declare (as of the latest snapshot); pod
    /// tasks with such volumes watch it to rewrite their files.
    pub config: watch::Sender<Arc<ConfigObjects>>,
}

impl Ctx {
    /// Publishes the ConfigMaps and Secrets among `objects` if they differ from the current
    /// ones (watchers wake only on a change).
    pub fn set_config_objects<'a>(&self, objects: impl IntoIterator<Item = &'a DeclaredObject>) {
        let next = ConfigObjects::from_objects(objects.into_iter().map(|o| &o.object));
        self.config.send_if_modified(|cur| {
            let changed = **cur != next;
            if changed {
                *cur = Arc::new(next);
            }
            changed
        });
    }
    /// The current ConfigMaps and Secrets.
    pub fn config_objects(&self) -> Arc<ConfigObjects> {
        self.config.borrow().clone()
    }
}
