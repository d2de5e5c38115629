//! Field selectors (`?fieldSelector=status.phase=Running,spec.nodeName!=x`) over the fields
//! the API server indexes for each kind: pods (`metadata.name`, `metadata.namespace`,
//! `spec.nodeName`, `spec.restartPolicy`, `spec.schedulerName`, `spec.serviceAccountName`,
//! `spec.hostNetwork`, `status.phase`, `status.podIP`, `status.nominatedNodeName`) and events
//! (`involvedObject.*`, `reason`, `type`, `source`, `reportingComponent`). An unsupported
//! field is the API server's error: `field label not supported: <field>`.

use k8s_openapi::api::core::v1::{Event, Pod};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector (AND of its terms); empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<Term>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldSelectorError {
    #[error("invalid field selector {0:?}: expected field=value, field==value or field!=value")]
    Syntax(String),
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// A kind whose fields can be selected on.
pub trait Selectable {
    /// The value of `field`, `None` if the field is not selectable for the kind.
    fn field(&self, field: &str) -> Option<String>;
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = vec![];
        for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, negated) = if let Some((f, v)) = t.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = t.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = t.split_once('=') {
                (f, v, false)
            } else {
                return Err(FieldSelectorError::Syntax(s.to_string()));
            };
            if field.trim().is_empty() {
                return Err(FieldSelectorError::Syntax(s.to_string()));
            }
            terms.push(Term {
                field: field.trim().to_string(),
                value: value.trim().to_string(),
                negated,
            });
        }
        Ok(FieldSelector(terms))
    }

    /// Checks every field is selectable on `T` (using an empty object).
    pub fn check<T: Selectable + Default>(&self) -> Result<(), FieldSelectorError> {
        let probe = T::default();
        for t in &self.0 {
            if probe.field(&t.field).is_none() {
                return Err(FieldSelectorError::Unsupported(t.field.clone()));
            }
        }
        Ok(())
    }

    pub fn matches<T: Selectable>(&self, obj: &T) -> bool {
        self.0.iter().all(|t| {
            let v = obj.field(&t.field).unwrap_or_default();
            (v == t.value) != t.negated
        })
    }

    /// The value an equality term requires for `field`.
    pub fn equals(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }
}

impl Selectable for Pod {
    fn field(&self, field: &str) -> Option<String> {
        let spec = self.spec.as_ref();
        let st = self.status.as_ref();
        let s = |v: Option<&String>| v.cloned().unwrap_or_default();
        Some(match field {
            "metadata.name" => s(self.metadata.name.as_ref()),
            "metadata.namespace" => s(self.metadata.namespace.as_ref()),
            "spec.nodeName" => s(spec.and_then(|x| x.node_name.as_ref())),
            "spec.restartPolicy" => s(spec.and_then(|x| x.restart_policy.as_ref())),
            "spec.schedulerName" => s(spec.and_then(|x| x.scheduler_name.as_ref())),
            "spec.serviceAccountName" => s(spec.and_then(|x| x.service_account_name.as_ref())),
            "spec.hostNetwork" => spec
                .and_then(|x| x.host_network)
                .unwrap_or(false)
                .to_string(),
            "status.phase" => s(st.and_then(|x| x.phase.as_ref())),
            "status.podIP" => s(st.and_then(|x| x.pod_ip.as_ref())),
            "status.nominatedNodeName" => s(st.and_then(|x| x.nominated_node_name.as_ref())),
            _ => return None,
        })
    }
}

/// The workload and configuration kinds: `metadata.name` and `metadata.namespace`, plus
/// what the API server adds per kind (Secrets' `type`, Jobs' `status.successful`,
/// ReplicaSets' `status.replicas`).
macro_rules! by_meta {
    ($t:ty, |$o:ident| { $($f:literal => $e:expr),* }) => {
        impl Selectable for $t {
            fn field(&self, field: &str) -> Option<String> {
                let $o = self;
                Some(match field {
                    "metadata.name" => $o.metadata.name.clone().unwrap_or_default(),
                    "metadata.namespace" => $o.metadata.namespace.clone().unwrap_or_default(),
                    $($f => $e,)*
                    _ => return None,
                })
            }
        }
    };
}
by_meta!(k8s_openapi::api::core::v1::ConfigMap, |_o| {});
by_meta!(k8s_openapi::api::core::v1::Secret, |o| {
    "type" => o.type_.clone().unwrap_or_default()
});
by_meta!(k8s_openapi::api::core::v1::Namespace, |o| {
    "status.phase" => o.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
});
by_meta!(k8s_openapi::api::batch::v1::Job, |o| {
    "status.successful" => o.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0).to_string()
});
by_meta!(k8s_openapi::api::batch::v1::CronJob, |_o| {});
by_meta!(k8s_openapi::api::apps::v1::Deployment, |_o| {});
by_meta!(k8s_openapi::api::apps::v1::ReplicaSet, |o| {
    "status.replicas" => o.status.as_ref().map_or(0, |s| s.replicas).to_string()
});
by_meta!(k8s_openapi::api::apps::v1::DaemonSet, |_o| {});
by_meta!(k8s_openapi::api::apps::v1::ControllerRevision, |_o| {});

impl Selectable for Event {
    fn field(&self, field: &str) -> Option<String> {
        let o = &self.involved_object;
        let s = |v: Option<&String>| v.cloned().unwrap_or_default();
        Some(match field {
            "metadata.name" => s(self.metadata.name.as_ref()),
            "metadata.namespace" => s(self.metadata.namespace.as_ref()),
            "involvedObject.kind" => s(o.kind.as_ref()),
            "involvedObject.namespace" => s(o.namespace.as_ref()),
            "involvedObject.name" => s(o.name.as_ref()),
            "involvedObject.uid" => s(o.uid.as_ref()),
            "involvedObject.apiVersion" => s(o.api_version.as_ref()),
            "involvedObject.resourceVersion" => s(o.resource_version.as_ref()),
            "involvedObject.fieldPath" => s(o.field_path.as_ref()),
            "reason" => s(self.reason.as_ref()),
            "reportingComponent" => s(self.reporting_component.as_ref()),
            "source" => s(self.source.as_ref().and_then(|x| x.component.as_ref())),
            "type" => s(self.type_.as_ref()),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_fields() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "default"},
            "spec": {"nodeName": "node1", "containers": []},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        for (s, want) in [
            ("status.phase=Running", true),
            ("status.phase!=Running", false),
            ("spec.nodeName==node1,metadata.name=a", true),
            (
                "spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed",
                true,
            ),
            ("metadata.name=b", false),
            ("", true),
        ] {
            let f = FieldSelector::parse(s).unwrap();
            f.check::<Pod>().unwrap();
            assert_eq!(f.matches(&p), want, "{s}");
        }
        assert_eq!(
            FieldSelector::parse("spec.image=x")
                .unwrap()
                .check::<Pod>()
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.image"
        );
        assert!(FieldSelector::parse("phase").is_err());
    }

    #[test]
    fn event_fields_kubectl_describe_sends() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "a", "namespace": "default", "uid": "u1"}
        }))
        .unwrap();
        let f = FieldSelector::parse(
            "involvedObject.name=a,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=u1",
        )
        .unwrap();
        f.check::<Event>().unwrap();
        assert!(f.matches(&e));
        assert!(
            !FieldSelector::parse("involvedObject.uid=u2")
                .unwrap()
                .matches(&e)
        );
    }
}
