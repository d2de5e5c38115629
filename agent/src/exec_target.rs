//! Where `nodectl exec` runs its process: the running instance of a container, checked in its
//! noderun state (`nodelet_api::ExecTarget`, what the API answers). `nodectl` then creates the
//! process itself through the noderun library, so the async agent never forks into a container.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use nodelet_api::{ExecTarget, status};
use nodelet_objects::default_container::has_container;

/// The running instance of `container` in `pod`, whose containers live under `runtime_root`.
/// A container that is not in the pod is a BadRequest as the API server words it; one that
/// is not running is the kubelet's "container not found".
pub fn resolve(pod: &Pod, container: &str, runtime_root: &Path) -> Result<ExecTarget, Box<Status>> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    if !has_container(pod, container) {
        return Err(status::bad_request(format!(
            "container {container} is not valid for pod {pod_name}"
        )));
    }
    let not_found = || status::bad_request(format!("container not found ({container:?})"));
    let st = pod.status.as_ref().ok_or_else(not_found)?;
    let cs = st
        .container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .find(|c| c.name == container)
        .ok_or_else(not_found)?;
    if cs.state.as_ref().and_then(|s| s.running.as_ref()).is_none() {
        return Err(not_found());
    }
    let id = cs
        .container_id
        .as_deref()
        .and_then(|id| id.split_once("://").map(|(_, id)| id))
        .filter(|id| !id.is_empty())
        .ok_or_else(not_found)?;
    let saved = noderun::state::Saved::load(runtime_root, id).map_err(|_| not_found())?;
    if saved.status(runtime_root) != noderun::Status::Running {
        return Err(not_found());
    }
    Ok(ExecTarget {
        container: container.to_string(),
        runtime_root: runtime_root.to_path_buf(),
        container_id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resolve_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = pod(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"containerStatuses": [{"name": "a", "image": "", "imageID": "",
                "ready": false, "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
        }));
        let e = resolve(&p, "zz", dir.path()).unwrap_err();
        assert_eq!(
            e.message.as_deref(),
            Some("container zz is not valid for pod web")
        );
        let e = resolve(&p, "a", dir.path()).unwrap_err();
        assert_eq!(e.message.as_deref(), Some("container not found (\"a\")"));
        assert_eq!(e.reason.as_deref(), Some("BadRequest"));
    }
}
