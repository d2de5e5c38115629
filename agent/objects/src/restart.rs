//! Restart policies: the pod's `spec.restartPolicy`, what applies to one container, and
//! sidecars (init containers with `restartPolicy: Always`). The one place these rules are
//! written; the pod worker, pod status, validation and resource accounting ask here.

use k8s_openapi::api::core::v1::{Container, Pod};

/// A pod's or a container's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// The policy a `restartPolicy` field names; unset is `Always` (the API's default). Values
    /// other than the three are rejected by validation before a pod gets here; they read as
    /// `Always`, as the default.
    pub fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }

    /// Whether a container that exited with `exit_code` is started again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// The pod's `spec.restartPolicy` (default `Always`).
pub fn pod_policy(pod: &Pod) -> RestartPolicy {
    RestartPolicy::parse(pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()))
}

/// Whether an init container is a sidecar: its own `restartPolicy` is `Always`, so it keeps
/// running beside the app containers and only has to have started for the next init
/// container to start.
pub fn is_sidecar(init_container: &Container) -> bool {
    init_container.restart_policy.as_deref() == Some("Always")
}

/// The init container `name` of `pod` is a sidecar.
pub fn is_sidecar_named(pod: &Pod, name: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|ics| ics.iter().find(|c| c.name == name))
        .is_some_and(is_sidecar)
}

/// The restart policy that applies to container `c` of a pod whose policy is `pod`: a sidecar
/// is always restarted; a regular init container is restarted on failure unless the pod's
/// policy is `Never` (a pod can't start with a failed init container); an app container
/// follows the pod.
pub fn effective(pod: RestartPolicy, c: &Container, init: bool) -> RestartPolicy {
    match (init, is_sidecar(c), pod) {
        (true, true, _) => RestartPolicy::Always,
        (true, false, RestartPolicy::Never) => RestartPolicy::Never,
        (true, false, _) => RestartPolicy::OnFailure,
        (false, _, p) => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            restart_policy: policy.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn parse_defaults_to_always() {
        assert_eq!(RestartPolicy::parse(None), RestartPolicy::Always);
        for p in [
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ] {
            assert_eq!(RestartPolicy::parse(Some(p.as_str())), p);
        }
    }

    #[test]
    fn restarts_by_policy_and_exit_code() {
        use RestartPolicy::*;
        for (policy, code, want) in [
            (Always, 0, true),
            (Always, 1, true),
            (OnFailure, 0, false),
            (OnFailure, 137, true),
            (Never, 0, false),
            (Never, 1, false),
        ] {
            assert_eq!(policy.restarts(code), want, "{policy:?} exit {code}");
        }
    }

    #[test]
    fn sidecars_are_init_containers_with_always() {
        assert!(is_sidecar(&container(Some("Always"))));
        assert!(!is_sidecar(&container(None)));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"initContainers": [{"name": "side", "restartPolicy": "Always"},
                                        {"name": "init"}],
                     "containers": [{"name": "app"}]}
        }))
        .unwrap();
        assert!(is_sidecar_named(&pod, "side"));
        assert!(!is_sidecar_named(&pod, "init"));
        assert!(!is_sidecar_named(&pod, "app"));
        assert_eq!(pod_policy(&pod), RestartPolicy::Always);
    }

    #[test]
    fn effective_policy_per_container_kind() {
        use RestartPolicy::*;
        let side = container(Some("Always"));
        let plain = container(None);
        for (pod, c, init, want) in [
            (Never, &side, true, Always),
            (OnFailure, &side, true, Always),
            (Always, &plain, true, OnFailure),
            (OnFailure, &plain, true, OnFailure),
            (Never, &plain, true, Never),
            (Always, &plain, false, Always),
            (OnFailure, &plain, false, OnFailure),
            (Never, &plain, false, Never),
        ] {
            assert_eq!(effective(pod, c, init), want, "{pod:?} init={init}");
        }
    }
}
