//! kubectl's client-side container rules for `exec` and `logs`: the default container
//! (annotation `kubectl.kubernetes.io/default-container`, else the first one, with a
//! "Defaulted container" notice) and no exec into a completed pod.

use k8s_openapi::api::core::v1::Pod;

/// kubectl's annotation naming the container `exec`/`logs` use by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Every container name of the pod the way kubectl lists them: `a, b, i (init)`.
pub fn all_container_names(pod: &Pod) -> String {
    let Some(spec) = pod.spec.as_ref() else {
        return String::new();
    };
    let mut names: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    names.extend(
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| format!("{} (init)", c.name)),
    );
    names.extend(
        spec.ephemeral_containers
            .iter()
            .flatten()
            .map(|c| format!("{} (ephem)", c.name)),
    );
    names.join(", ")
}

/// The pod has an app or init container `name`.
pub fn has_container(pod: &Pod, name: &str) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.name == name)
            || s.init_containers.iter().flatten().any(|c| c.name == name)
    })
}

/// kubectl's `FindOrDefaultContainerByName`: the requested container, or the annotated default,
/// or the first container. Returns the name and, when kubectl would print one, the
/// "Defaulted container ..." notice for stderr.
pub fn default_container(
    pod: &Pod,
    requested: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Some(c) = requested.filter(|c| !c.is_empty()) {
        if !has_container(pod, c) {
            return Err(format!("container {c} not found in pod {pod_name}"));
        }
        return Ok((c.to_string(), None));
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let no_containers = || format!("pod {namespace}/{pod_name} does not have any containers");
    let spec = pod.spec.as_ref().ok_or_else(no_containers)?;
    let first = spec.containers.first().ok_or_else(no_containers)?;
    if let Some(a) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        && has_container(pod, a)
    {
        return Ok((a.clone(), None));
    }
    let several = spec.containers.len() > 1
        || spec.init_containers.as_ref().is_some_and(|v| !v.is_empty())
        || spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|v| !v.is_empty());
    let notice = several.then(|| {
        format!(
            "Defaulted container {:?} out of: {}",
            first.name,
            all_container_names(pod)
        )
    });
    Ok((first.name.clone(), notice))
}

/// kubectl refuses to exec into a pod that has finished.
pub fn completed_pod_error(pod: &Pod) -> Option<String> {
    let phase = pod.status.as_ref()?.phase.as_deref()?;
    matches!(phase, "Succeeded" | "Failed").then(|| {
        format!("cannot exec into a container in a completed pod; current phase is {phase}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn two() -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                     "initContainers": [{"name": "setup"}]},
        }))
    }

    #[test]
    fn defaults_to_first_with_notice() {
        let (c, n) = default_container(&two(), None).unwrap();
        assert_eq!(c, "a");
        assert_eq!(
            n.unwrap(),
            "Defaulted container \"a\" out of: a, b, setup (init)"
        );
    }

    #[test]
    fn single_container_is_silent() {
        let p = pod(serde_json::json!({"metadata": {"name": "x"},
                                       "spec": {"containers": [{"name": "only"}]}}));
        assert_eq!(default_container(&p, None).unwrap(), ("only".into(), None));
    }

    #[test]
    fn annotation_wins_when_it_names_a_container() {
        let mut p = two();
        p.metadata.annotations = Some(
            [(DEFAULT_CONTAINER_ANNOTATION.to_string(), "b".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(default_container(&p, None).unwrap(), ("b".into(), None));
        p.metadata.annotations = Some(
            [(DEFAULT_CONTAINER_ANNOTATION.to_string(), "zz".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(default_container(&p, None).unwrap().0, "a");
    }

    #[test]
    fn requested_must_exist() {
        assert_eq!(
            default_container(&two(), Some("b")).unwrap(),
            ("b".into(), None)
        );
        assert_eq!(
            default_container(&two(), Some("nope")).unwrap_err(),
            "container nope not found in pod web"
        );
    }

    #[test]
    fn completed_pods_are_refused() {
        let mut p = two();
        assert!(completed_pod_error(&p).is_none());
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        assert_eq!(
            completed_pod_error(&p).unwrap(),
            "cannot exec into a container in a completed pod; current phase is Succeeded"
        );
    }
}
