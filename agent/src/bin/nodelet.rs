//! `nodelet`: the node agent. Watches the static pod path and runs exactly its pods through
//! the pod manager until SIGTERM/SIGINT; then it exits and leaves the pods running (their
//! shims outlive it), so a restart adopts them without restarting any container.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nodelet::config::{Config, ConfigFlags};
use nodelet::pods::{Manager, ManagerOptions};
use nodelet::source::{SourceOptions, StaticPodSource};

#[derive(Parser, Debug)]
#[command(
    name = "nodelet",
    version,
    about = "nodelet: a node agent running static pods"
)]
struct Args {
    #[command(flatten)]
    config: ConfigFlags,
    /// The per-pod shim binary [default: nodelet-shim next to this binary].
    #[arg(long, value_name = "PATH")]
    shim_binary: Option<PathBuf>,
    /// The pause binary [default: nodelet-pause next to this binary].
    #[arg(long, value_name = "PATH")]
    pause_binary: Option<PathBuf>,
    /// The OCI runtime the shims run for each container operation [default: noderun next to
    /// this binary].
    #[arg(long, value_name = "PATH")]
    runtime_binary: Option<PathBuf>,
    /// How often a pod with something pending (set-up, image pulls, back-off, errors) is
    /// synced, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    sync_period_ms: u64,
    /// How often a settled pod is re-checked when no container exit or due probe woke it, in
    /// milliseconds (exits are pushed by the pod's shim).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    idle_resync_ms: u64,
}

/// Log lines on stderr. Under systemd (`JOURNAL_STREAM` set: stderr is a journal stream) each
/// line starts with its syslog priority (`<4>` for WARN, sd-daemon(3)) and carries no time
/// stamp (the journal has its own), so `journalctl -u nodelet -p warning` finds the warnings.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder
            .event_format(JournalPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .init();
    } else {
        builder.init();
    }
}

/// Prefixes each formatted event with its syslog priority for journald.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// sd-daemon(3) priorities: err 3, warning 4, info 6, debug 7.
fn syslog_priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        tracing::Level::DEBUG | tracing::Level::TRACE => 7,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging();
    nodelet::memory::limit_arenas();
    let mut cfg = Config::load(&args.config)?;
    // cgroup v2 with cgroupfs: the agent moves into a leaf so that its cgroup can hold the
    // pods' cgroups. With systemd the pods live in kubepods.slice and the agent stays put.
    if cfg.cgroup_driver == nodelet::config::CgroupDriver::Cgroupfs {
        cfg.cgroup_root = nodelet::pods::agent_cgroup::prepare(cfg.cgroup_root.as_deref())
            .context("preparing the agent's cgroup")?;
    }
    let exe = std::env::current_exe().context("locating the nodelet binary")?;
    let mut opts = ManagerOptions::next_to(&exe);
    if let Some(p) = args.shim_binary {
        opts.shim_binary = p;
    }
    if let Some(p) = args.pause_binary {
        opts.pause_binary = p;
    }
    if let Some(p) = args.runtime_binary {
        opts.runtime_binary = p;
    }
    opts.sync_period = Duration::from_millis(args.sync_period_ms.max(10));
    opts.idle_resync = Duration::from_millis(args.idle_resync_ms.max(10));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work (image unpacking, bundles, cgroup writes, CNI) is short; a burst of
        // pods must not leave a hundred idle threads and their stacks behind.
        .max_blocking_threads(16)
        .thread_keep_alive(Duration::from_secs(2))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        tokio::spawn(nodelet::memory::trim_periodically());
        let metrics = opts.metrics.clone();
        let mut manager = Manager::new(cfg.clone(), opts)?;
        // The kubelet's first node events: it started, and the pods' cgroup limits (node
        // allocatable) are in place (the manager set up the pods' parent cgroup).
        {
            use nodelet_objects::events::NodeEventReason;
            let view = manager.view();
            view.node_event(NodeEventReason::Starting, "Starting kubelet.");
            view.node_event(
                NodeEventReason::NodeAllocatableEnforced,
                "Updated Node Allocatable limit across pods",
            );
        }
        // The local API (root-only Unix socket, optional TCP) reads the manager's view.
        let node = std::sync::Arc::new(nodelet::node_api::NodeView::new(
            manager.view(),
            cfg.pod_logs_dir.clone(),
            cfg.run_dir.clone(),
            nodelet_api::node_object::NodeFacts {
                name: cfg.node_name.clone(),
                ip: nodelet::node_ip::node_ip(cfg.node_ip),
                max_pods: cfg.max_pods,
                started: jiff::Timestamp::now(),
                labels: cfg.node_labels.clone(),
                conditions: Vec::new(),
            },
            cfg.static_pod_path.clone(),
        ));
        let router = nodelet_api::router(node.clone(), metrics);
        let (stop_api, api_stopped) = tokio::sync::watch::channel(false);
        let listener = nodelet_api::bind_unix(&cfg.api_socket)?;
        let mut stopped = api_stopped.clone();
        tokio::spawn(nodelet_api::serve(listener, router.clone(), async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        if let Some(addr) = cfg.api_tcp_address {
            // TCP is TLS with client certificates only; the admin kubeconfig holds one.
            let tcp_opts = nodelet_api::tls::TcpOptions {
                node_name: cfg.node_name.clone(),
                node_ip: nodelet::node_ip::node_ip(cfg.node_ip),
                pki_dir: cfg.root_dir.join("pki"),
                admin_kubeconfig: cfg.admin_kubeconfig.clone(),
            };
            let tls = nodelet_api::tls::serve_tcp(&tcp_opts, addr)
                .await
                .with_context(|| format!("apiTcpAddress {addr}"))?;
            let mut stopped = api_stopped.clone();
            tokio::spawn(nodelet_api::serve(tls, router, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        // The node shutdown manager (graceful node shutdown over systemd-logind).
        node.set_node_shutdown(manager.node_shutdown());
        tokio::spawn(nodelet::shutdown::logind::run(
            cfg.shutdown_groups.clone(),
            manager.node_shutdown(),
            manager.stopper(),
        ));
        let seeds = manager.recover().await;
        // The controllers' pods and objects are files in their own directory, read by a
        // second source; the manager runs the pods of both.
        let workloads = nodelet::workloads::Workloads::new(
            &cfg.root_dir,
            &cfg.static_pod_path,
            manager.view(),
            nodelet_objects::controllers::NodeInfo {
                name: cfg.node_name.clone(),
                labels: cfg.node_labels.clone(),
            },
        )
        .context("preparing the workload controllers' directories")?;
        let wdir = workloads.dir().to_path_buf();
        let (wseeds, seeds): (Vec<_>, Vec<_>) = seeds
            .into_iter()
            .partition(|p| p.manifest.parent() == Some(wdir.as_path()));
        let source = StaticPodSource::start(SourceOptions::from_config(&cfg), seeds)
            .with_context(|| format!("watching {}", cfg.static_pod_path.display()))?;
        let wsource = StaticPodSource::start(
            SourceOptions {
                dir: wdir.clone(),
                ..SourceOptions::from_config(&cfg)
            },
            wseeds,
        )
        .with_context(|| format!("watching {}", wdir.display()))?;
        let snapshots = nodelet::source::merge(source.subscribe(), wsource.subscribe());
        node.set_workloads(workloads.read_side(snapshots.clone()));
        let (stop_controllers, controllers_stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(workloads.run(snapshots.clone(), controllers_stopped));
        tracing::info!(node = %cfg.node_name, path = %cfg.static_pod_path.display(), "nodelet running");
        // systemd (Type=notify): ready once pods are adopted and the source runs; watchdog
        // pings at half the configured interval. Without NOTIFY_SOCKET these are no-ops.
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!("sd_notify READY: {e}");
        }
        if let Some(every) = sd_notify::watchdog_enabled() {
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every / 2);
                loop {
                    t.tick().await;
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            });
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("shutting down; pods keep running");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        };
        manager.run(snapshots, shutdown).await;
        let _ = stop_controllers.send(true);
        let _ = stop_api.send(true);
        let _ = std::fs::remove_file(&cfg.api_socket);
        drop(source);
        drop(wsource);
        anyhow::Ok(())
    })?;
    // Pod tasks are detached; don't wait for blocking shim calls in flight.
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}
