//! Container lifecycle hooks: postStart right after a container starts (a failure is event
//! `FailedPostStartHook` and the container is killed), preStop before SIGTERM when a
//! container is stopped (bounded by the grace period). Handlers: exec (through the pod's shim
//! with the container's process settings), httpGet, tcpSocket and sleep.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Probe};

use crate::probe::{self, ExecFn, Outcome, ProbeSpec};
use crate::sandbox::paths;

/// Runs one hook handler of container `c`; `Err` carries the kubelet-style message.
pub async fn run(
    handler: &LifecycleHandler,
    c: &Container,
    field: &str,
    pod_ip: &str,
    exec: &ExecFn,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(s) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64).min(timeout)).await;
        return Ok(());
    }
    let as_probe = Probe {
        exec: handler.exec.clone(),
        http_get: handler.http_get.clone(),
        tcp_socket: handler.tcp_socket.clone(),
        ..Default::default()
    };
    let spec = ProbeSpec::from_k8s(&as_probe, c, pod_ip, field)?;
    match probe::run_once(&spec.handler, timeout, Some(exec)).await {
        Outcome::Success => Ok(()),
        Outcome::Failure(m) => Err(m),
    }
}

/// The container of `pod` whose instance is runtime id `id` (`<uid>-<init|app>-<name>-<n>`),
/// with its field path.
pub fn container_of<'p>(pod: &'p Pod, uid: &str, id: &str) -> Option<(&'p Container, String)> {
    let spec = pod.spec.as_ref()?;
    let (list, kind, rest) = if let Some(r) = id.strip_prefix(&format!("{uid}-app-")) {
        (&spec.containers, "containers", r)
    } else {
        let r = id.strip_prefix(&format!("{uid}-init-"))?;
        (spec.init_containers.as_ref()?, "initContainers", r)
    };
    let (name, _) = rest.rsplit_once('-')?;
    let i = list.iter().position(|c| c.name == name)?;
    Some((&list[i], format!("spec.{kind}[{i}]")))
}

/// Runs the preStop hooks of the given running instances in parallel, for at most `grace`.
pub async fn pre_stop(
    root_dir: &Path,
    pod: &Pod,
    uid: &str,
    pod_ip: &str,
    sock: &Path,
    ids: &[String],
    grace: Duration,
) {
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let Some((c, field)) = container_of(pod, uid, id) else {
            continue;
        };
        let Some(h) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()) else {
            continue;
        };
        let bundle = paths::pod_dir(root_dir, uid).join("containers").join(id);
        let exec: Arc<ExecFn> = super::probes::exec_fn(sock.to_path_buf(), id.clone(), &bundle);
        let (c, ip, id) = (c.clone(), pod_ip.to_string(), id.clone());
        set.spawn(async move {
            if let Err(e) = run(
                &h,
                &c,
                &format!("{field}.lifecycle.preStop"),
                &ip,
                &*exec,
                grace,
            )
            .await
            {
                tracing::warn!(container = %id, "preStop hook failed: {e}");
            }
        });
    }
    let _ = tokio::time::timeout(grace, async { while set.join_next().await.is_some() {} }).await;
}
