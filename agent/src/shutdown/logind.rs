//! The node shutdown manager's shell (the kubelet's `nodeshutdown_manager_linux.go`), over
//! systemd-logind on the system D-Bus: raise logind's `InhibitDelayMaxSec` by a drop-in and a
//! reload when it is shorter than the groups' grace periods, take a `delay` inhibitor lock for
//! `shutdown` (the fd is the lock), and on `PrepareForShutdown(true)` raise [`NodeShutdown`]
//! (new pods refused, Node not Ready), stop the pods group by group through the pod manager
//! (`pods::manager::Stopper`, each group waited for until its pods finished or its grace
//! period passed), then release the lock so that the shutdown goes on. `PrepareForShutdown
//! (false)` (a cancelled shutdown) lowers the flag and takes the lock again. Without logind:
//! one warning, nothing else. What to do is decided in [`super`].
//!
//! zbus's blocking API in its own threads (as the systemd cgroup driver uses it): one thread
//! waits for the signals and hands them to the async task.

use std::time::Duration;

use nodelet_objects::events::NodeEventReason;
use tokio::sync::mpsc;
use zbus::blocking::{Connection, Proxy, proxy};

use super::{Group, InhibitDelay, NodeShutdown};
use crate::pods::manager::Stopper;

const LOGIND: &str = "org.freedesktop.login1";
const LOGIND_PATH: &str = "/org/freedesktop/login1";
const LOGIND_MANAGER: &str = "org.freedesktop.login1.Manager";

/// The lock on logind and the bus connection it was taken on.
struct Logind {
    conn: Connection,
    /// The inhibitor lock: logind holds the shutdown until it is closed.
    lock: Option<zbus::zvariant::OwnedFd>,
}

fn manager(conn: &Connection) -> zbus::Result<Proxy<'static>> {
    Proxy::new(conn, LOGIND, LOGIND_PATH, LOGIND_MANAGER)
}

/// logind's `InhibitDelayMaxUSec`, read anew each time (no property cache).
fn inhibit_delay_max(conn: &Connection) -> zbus::Result<Duration> {
    let p: Proxy<'_> = proxy::Builder::new(conn)
        .destination(LOGIND)?
        .path(LOGIND_PATH)?
        .interface(LOGIND_MANAGER)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()?;
    Ok(Duration::from_micros(
        p.get_property::<u64>("InhibitDelayMaxUSec")?,
    ))
}

impl Logind {
    /// Connects, raises `InhibitDelayMaxSec` to `total` if needed, subscribes to
    /// `PrepareForShutdown` (its values come on the returned channel) and takes the lock.
    fn start(total: Duration) -> Result<(Logind, mpsc::Receiver<bool>), String> {
        let conn = Connection::system()
            .map_err(|e| format!("cannot connect to the system bus ({e}; is dbus running?)"))?;
        let current = inhibit_delay_max(&conn)
            .map_err(|e| format!("systemd-logind is not reachable on the system bus ({e})"))?;
        if let InhibitDelay::Raise(text) = super::inhibit_delay(current, total) {
            raise_inhibit_delay(&conn, &text)?;
            let mut updated = current;
            // logind reloads on SIGHUP in its own time: a few reads.
            for _ in 0..20 {
                updated = inhibit_delay_max(&conn).map_err(|e| e.to_string())?;
                if updated >= total {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(e) = super::inhibit_delay_error(updated, total) {
                // As the kubelet's start fails; the lock is still worth its shorter delay.
                tracing::warn!("{e}");
            } else {
                tracing::info!(
                    "logind's InhibitDelayMaxSec raised from {}s to {}s ({})",
                    current.as_secs(),
                    updated.as_secs(),
                    super::LOGIND_DROP_IN
                );
            }
        }
        let signals = manager(&conn)
            .and_then(|m| m.receive_signal("PrepareForShutdown"))
            .map_err(|e| format!("watching logind's PrepareForShutdown: {e}"))?;
        let (tx, rx) = mpsc::channel(4);
        std::thread::Builder::new()
            .name("logind-watch".into())
            .spawn(move || {
                for msg in signals {
                    match msg.body().deserialize::<bool>() {
                        Ok(start) => {
                            if tx.blocking_send(start).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("PrepareForShutdown: {e}"),
                    }
                }
            })
            .map_err(|e| format!("starting the logind watch thread: {e}"))?;
        let mut l = Logind { conn, lock: None };
        l.take_lock()?;
        Ok((l, rx))
    }

    /// `Inhibit("shutdown", "nodelet", ..., "delay")`: logind now waits for this process (at
    /// most `InhibitDelayMaxSec`) before a shutdown.
    fn take_lock(&mut self) -> Result<(), String> {
        let fd: zbus::zvariant::OwnedFd = manager(&self.conn)
            .and_then(|m| {
                m.call(
                    "Inhibit",
                    &(
                        "shutdown",
                        "nodelet",
                        "nodelet needs time to handle node shutdown",
                        "delay",
                    ),
                )
            })
            .map_err(|e| format!("taking logind's delay inhibitor lock: {e}"))?;
        self.lock = Some(fd);
        tracing::info!("graceful node shutdown: took logind's delay inhibitor lock for shutdown");
        Ok(())
    }

    fn release_lock(&mut self) {
        if self.lock.take().is_some() {
            tracing::info!("graceful node shutdown: released logind's inhibitor lock");
        }
    }
}

/// Writes the drop-in and makes logind read it (SIGHUP to its main process through systemd,
/// as the kubelet's `ReloadLogindConf`).
fn raise_inhibit_delay(conn: &Connection, text: &str) -> Result<(), String> {
    let path = std::path::Path::new(super::LOGIND_DROP_IN);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    crate::disk::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let systemd = Proxy::new(
        conn,
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
    )
    .map_err(|e| e.to_string())?;
    let _: () = systemd
        .call(
            "KillUnit",
            &("systemd-logind.service", "main", libc::SIGHUP),
        )
        .map_err(|e| format!("reloading systemd-logind: {e}"))?;
    Ok(())
}

/// The node shutdown manager: off without groups; else as the module says, until the agent
/// ends (its lock then goes with the process).
pub async fn run(groups: Vec<Group>, flag: NodeShutdown, stopper: Stopper) {
    if groups.is_empty() {
        tracing::info!(
            "no graceful shutdown configured (shutdownGracePeriod 0): node shutdown will be immediate"
        );
        return;
    }
    let total = super::period_requested(&groups);
    tracing::info!(
        "creating node shutdown manager: shutdownGracePeriod {}s, groups (priority: seconds) {}",
        total.as_secs(),
        groups
            .iter()
            .map(|g| format!("{}: {}", g.priority, g.grace.as_secs()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (mut logind, mut events) =
        match tokio::task::spawn_blocking(move || Logind::start(total)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::warn!(
                    "graceful node shutdown is off: {e}; pods are not stopped before a shutdown"
                );
                return;
            }
            Err(e) => {
                tracing::warn!("graceful node shutdown is off: {e}");
                return;
            }
        };
    while let Some(start) = events.recv().await {
        tracing::info!(
            "shutdown manager detected new shutdown event: {}",
            if start { "shutdown" } else { "cancelled" }
        );
        flag.set(start);
        let view = &stopper.view;
        if start {
            view.node_event(
                NodeEventReason::NodeShutdown,
                "Shutdown manager detected shutdown event",
            );
            stop_pods(&groups, &stopper).await;
            logind.release_lock();
            tracing::info!(
                "shutdown manager completed processing shutdown event, node will shutdown shortly"
            );
        } else {
            view.node_event(
                NodeEventReason::NodeShutdown,
                "Shutdown manager detected shutdown cancellation",
            );
            match tokio::task::spawn_blocking(move || {
                let r = logind.take_lock();
                (logind, r)
            })
            .await
            {
                Ok((l, r)) => {
                    logind = l;
                    if let Err(e) = r {
                        tracing::warn!("{e}");
                    }
                }
                Err(e) => {
                    tracing::warn!("graceful node shutdown is off: {e}");
                    return;
                }
            }
        }
    }
    tracing::warn!("graceful node shutdown: the watch for logind's PrepareForShutdown ended");
}

/// The kubelet's `processShutdownEvent`: the running pods in their groups, lowest priority
/// first, each group stopped together and waited for at most its grace period.
async fn stop_pods(groups: &[Group], stopper: &Stopper) {
    let pods = stopper.pods().await;
    let list: Vec<(String, std::sync::Arc<k8s_openapi::api::core::v1::Pod>)> = pods
        .iter()
        .map(|p| (p.uid.clone(), p.pod.clone()))
        .collect();
    let steps = super::plan(groups, &super::active(&list));
    let view = &stopper.view;
    let mut changes = view.subscribe();
    for step in steps {
        tracing::info!(
            "shutdown manager: stopping {} pod(s) of priority group {} within {}s",
            step.pods.len(),
            step.priority,
            step.wait.as_secs()
        );
        for (uid, grace) in &step.pods {
            if let Some(p) = pods.iter().find(|p| p.uid == *uid) {
                p.shut_down(*grace);
            }
        }
        let deadline = tokio::time::Instant::now() + step.wait;
        while !super::step_done(&step, |uid| view.get(uid).map(|v| v.pod)) {
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                tracing::info!(
                    "shutdown manager pod killing time out: gracePeriod {}s, priority {}",
                    step.wait.as_secs(),
                    step.priority
                );
                break;
            }
        }
    }
}
