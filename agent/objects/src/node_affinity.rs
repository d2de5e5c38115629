//! Whether a pod may run on a node by its labels (the scheduler's `NodeAffinity` filter, which
//! the kubelet also runs at admission): `spec.nodeSelector` and the required node affinity
//! (`requiredDuringSchedulingIgnoredDuringExecution`), both of which must match.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

/// A node as the affinity rules see it: its name (for `matchFields` on `metadata.name`) and
/// its labels.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// True when `spec`'s nodeSelector and required node affinity both match `node`.
pub fn matches(spec: &PodSpec, node: NodeFacts<'_>) -> bool {
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        // The terms are ORed; a term without requirements matches nothing.
        Some(sel) => sel
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
    }
}

fn term_matches(t: &NodeSelectorTerm, node: NodeFacts<'_>) -> bool {
    let exprs = t.match_expressions.as_deref().unwrap_or_default();
    let fields = t.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name_fields: BTreeMap<String, String> =
        [("metadata.name".to_string(), node.name.to_string())].into();
    exprs.iter().all(|r| requirement_matches(r, node.labels))
        && fields.iter().all(|r| requirement_matches(r, &name_fields))
}

fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let value = labels.get(&r.key);
    // Gt/Lt compare whole numbers; a value that is not one never matches.
    let number = |s: &str| s.parse::<i64>().ok();
    let compare = |f: fn(i64, i64) -> bool| match (value.and_then(|v| number(v)), values) {
        (Some(have), [want]) => number(want).is_some_and(|want| f(have, want)),
        _ => false,
    };
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(|a, b| a > b),
        "Lt" => compare(|a, b| a < b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    #[test]
    fn selector_and_required_affinity() {
        let labels: BTreeMap<String, String> = [
            ("kubernetes.io/hostname", "node1"),
            ("kubernetes.io/os", "linux"),
            ("disktype", "ssd"),
            ("cores", "8"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let node = NodeFacts {
            name: "node1",
            labels: &labels,
        };
        let aff = |term: &str| {
            format!(
                "{{containers: [], affinity: {{nodeAffinity: \
                 {{requiredDuringSchedulingIgnoredDuringExecution: \
                 {{nodeSelectorTerms: [{term}]}}}}}}}}"
            )
        };
        for (yaml, want) in [
            ("{containers: []}".to_string(), true),
            (
                "{containers: [], nodeSelector: {disktype: ssd}}".into(),
                true,
            ),
            (
                "{containers: [], nodeSelector: {disktype: hdd}}".into(),
                false,
            ),
            (
                "{containers: [], nodeSelector: {disktype: ssd, zone: a}}".into(),
                false,
            ),
            (
                aff("{matchExpressions: [{key: disktype, operator: In, values: [ssd, nvme]}]}"),
                true,
            ),
            (
                aff("{matchExpressions: [{key: disktype, operator: NotIn, values: [ssd]}]}"),
                false,
            ),
            (
                aff("{matchExpressions: [{key: zone, operator: NotIn, values: [a]}]}"),
                true,
            ),
            (
                aff("{matchExpressions: [{key: zone, operator: Exists}]}"),
                false,
            ),
            (
                aff("{matchExpressions: [{key: zone, operator: DoesNotExist}]}"),
                true,
            ),
            (
                aff("{matchExpressions: [{key: cores, operator: Gt, values: ['4']}]}"),
                true,
            ),
            (
                aff("{matchExpressions: [{key: cores, operator: Lt, values: ['4']}]}"),
                false,
            ),
            (
                aff("{matchExpressions: [{key: disktype, operator: Gt, values: ['4']}]}"),
                false,
            ),
            // Terms are ORed, expressions in a term ANDed.
            (
                aff("{matchExpressions: [{key: zone, operator: Exists}]}, \
                     {matchExpressions: [{key: disktype, operator: In, values: [ssd]}]}"),
                true,
            ),
            (
                aff(
                    "{matchExpressions: [{key: disktype, operator: In, values: [ssd]}, \
                     {key: zone, operator: Exists}]}",
                ),
                false,
            ),
            (aff("{}"), false),
            (
                aff("{matchFields: [{key: metadata.name, operator: In, values: [node1]}]}"),
                true,
            ),
            (
                aff("{matchFields: [{key: metadata.name, operator: In, values: [node2]}]}"),
                false,
            ),
        ] {
            assert_eq!(matches(&spec(&yaml), node), want, "{yaml}");
        }
    }
}
