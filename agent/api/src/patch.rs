//! Patching a Pod (or a workload object, whose pod template merges as a Pod) the three ways the API server takes: JSON patch (RFC 6902) and JSON merge
//! patch (RFC 7386) through the json-patch crate, and the strategic merge patch kubectl sends
//! for `apply`, `label`, `annotate`, `edit` and `patch` (its default), written here: no Rust
//! crate implements it. The Pod's list semantics come from its Go struct tags
//! (`patchMergeKey`/`patchStrategy`), tabled in [`list_strategy`]: `containers` merge by
//! `name`, `ports` by `containerPort`, `volumeMounts` by `mountPath`, ...; lists without a
//! strategy are replaced. Directives: `$patch: replace|delete|merge` in maps and list items,
//! `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`; a `null` value
//! deletes a key.

use serde_json::{Map, Value};

/// Which kind of patch a request body is (its Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply (`application/apply-patch+yaml`): not served.
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        Some(match base {
            "application/json-patch+json" => PatchType::Json,
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" => PatchType::Strategic,
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchType::Apply,
            _ => return None,
        })
    }

    /// The Content-Type a client sends this kind of patch with.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatchError {
    #[error("the body of the patch is not valid JSON: {0}")]
    Body(String),
    #[error("the JSON patch could not be applied: {0}")]
    Json(String),
    #[error("the strategic merge patch could not be applied: {0}")]
    Strategic(String),
}

/// `doc` with `patch` (the request body) applied.
pub fn apply(doc: &Value, kind: PatchType, body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body).map_err(|e| PatchError::Body(e.to_string()))?;
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch =
                serde_json::from_value(patch).map_err(|e| PatchError::Body(e.to_string()))?;
            let mut out = doc.clone();
            json_patch::patch(&mut out, &p).map_err(|e| PatchError::Json(e.to_string()))?;
            Ok(out)
        }
        PatchType::Merge => {
            let mut out = doc.clone();
            json_patch::merge(&mut out, &patch);
            Ok(out)
        }
        PatchType::Strategic => strategic(doc, &patch, &[]),
        PatchType::Apply => Err(PatchError::Body(
            "server-side apply is not supported".into(),
        )),
    }
}

/// How a list field of a Pod merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Replaced as a whole (no patchStrategy).
    Replace,
    /// Items are maps merged by this key.
    MergeBy(&'static str),
    /// A set of scalars (patchStrategy merge on a primitive list).
    Union,
}

/// The Pod's patch strategies by field path (field names only, list indices left out). The
/// pod templates of the workload kinds (`spec.template` of Deployments, ReplicaSets,
/// DaemonSets and Jobs, `spec.jobTemplate.spec.template` of CronJobs) merge as a Pod does.
pub fn list_strategy(path: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    if let ["spec", "template", rest @ ..] | ["spec", "jobTemplate", "spec", "template", rest @ ..] =
        path
        && !rest.is_empty()
    {
        return list_strategy(rest);
    }
    let containers = ["containers", "initContainers", "ephemeralContainers"];
    match path {
        ["metadata", "finalizers"] => Union,
        ["metadata", "ownerReferences"] => MergeBy("uid"),
        ["spec", c] if containers.contains(c) => MergeBy("name"),
        ["spec", c, "ports"] if containers.contains(c) => MergeBy("containerPort"),
        ["spec", c, "env"] if containers.contains(c) => MergeBy("name"),
        ["spec", c, "volumeMounts"] if containers.contains(c) => MergeBy("mountPath"),
        ["spec", c, "volumeDevices"] if containers.contains(c) => MergeBy("devicePath"),
        ["spec", c, "resizePolicy"] if containers.contains(c) => MergeBy("resourceName"),
        ["spec", "volumes"] => MergeBy("name"),
        ["spec", "imagePullSecrets"] => MergeBy("name"),
        ["spec", "hostAliases"] => MergeBy("ip"),
        ["spec", "topologySpreadConstraints"] => MergeBy("topologyKey"),
        ["spec", "resourceClaims"] => MergeBy("name"),
        ["spec", "schedulingGates"] => MergeBy("name"),
        ["status", "conditions"] => MergeBy("type"),
        ["status", "podIPs"] | ["status", "hostIPs"] => MergeBy("ip"),
        _ => Replace,
    }
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

fn err(path: &[&str], msg: &str) -> PatchError {
    PatchError::Strategic(format!("{}: {msg}", path.join(".")))
}

/// A strategic merge patch of `doc` (a map) at `path`.
pub fn strategic(doc: &Value, patch: &Value, path: &[&str]) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        return Ok(patch.clone());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = p.clone();
            m.remove("$patch");
            return Ok(Value::Object(m));
        }
        Some("delete") => return Ok(Value::Null),
        Some("merge") | None => {}
        Some(other) => return Err(err(path, &format!("unknown patch type {other:?}"))),
    }
    let mut out = match doc {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            let gone: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(list)) = out.get_mut(field) {
                list.retain(|x| !gone.contains(&x));
            }
            continue;
        }
        let mut sub: Vec<&str> = path.to_vec();
        sub.push(k);
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v) {
            (Some(old @ Value::Object(_)), Value::Object(_)) => strategic(old, v, &sub)?,
            (old, Value::Array(items)) => merge_list(old, items, &sub)?,
            (_, Value::Object(_)) => strategic(&Value::Null, v, &sub)?,
            (_, other) => other.clone(),
        };
        if merged.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), merged);
        }
    }
    // Lists the patch orders.
    for (k, order) in p {
        let Some(field) = k.strip_prefix(SET_ORDER) else {
            continue;
        };
        let (Some(Value::Array(list)), Some(order)) = (out.get(field), order.as_array()) else {
            continue;
        };
        let mut sub: Vec<&str> = path.to_vec();
        sub.push(field);
        let sorted = set_order(list, order, list_strategy(&sub));
        out.insert(field.to_string(), Value::Array(sorted));
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Value::Object(out))
}

fn merge_list(old: Option<&Value>, items: &[Value], path: &[&str]) -> Result<Value, PatchError> {
    let old_items: Vec<Value> = old.and_then(Value::as_array).cloned().unwrap_or_default();
    // `{"$patch": "replace"}` as an item: the list is the other items.
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    match list_strategy(path) {
        ListStrategy::Replace => Ok(Value::Array(items.to_vec())),
        ListStrategy::Union => {
            let mut out = old_items;
            for i in items {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListStrategy::MergeBy(key) => {
            let mut out = old_items;
            for item in items {
                let Some(k) = item.get(key) else {
                    return Err(err(path, &format!("an item has no merge key {key:?}")));
                };
                let at = out.iter().position(|o| o.get(key) == Some(k));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (at, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let merged = strategic(&out[i], item, path)?;
                        out[i] = merged;
                    }
                    (None, false) => out.push(strategic(&Value::Null, item, path)?),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

/// `list` ordered as `order` says (by merge key, or by value for scalars); items the order
/// does not name keep their place after the named ones.
fn set_order(list: &[Value], order: &[Value], strategy: ListStrategy) -> Vec<Value> {
    let key_of = |v: &Value| -> Value {
        match strategy {
            ListStrategy::MergeBy(k) => v.get(k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let mut out: Vec<Value> = vec![];
    for o in order {
        let want = key_of(o);
        if let Some(item) = list.iter().find(|i| key_of(i) == want) {
            out.push(item.clone());
        }
    }
    for i in list {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [
                {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}],
                 "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "y:1", "args": ["p", "q"]}
            ], "tolerations": [{"operator": "Exists"}]}
        })
    }

    #[test]
    fn containers_merge_by_name_and_scalars_lists_replace() {
        let p = json!({"spec": {"containers": [
            {"name": "b", "image": "y:2", "args": ["r"]},
            {"name": "c", "image": "z:1"}
        ]}});
        let out = strategic(&pod(), &p, &[]).unwrap();
        let cs = out["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0]["image"], "x:1");
        assert_eq!(cs[0]["env"][0]["value"], "1");
        assert_eq!(cs[1]["image"], "y:2");
        assert_eq!(cs[1]["args"], json!(["r"]));
        assert_eq!(cs[2]["name"], "c");
    }

    #[test]
    fn labels_null_deletes_and_directives() {
        let p = json!({"metadata": {"labels": {"tier": null, "env": "prod"}},
                       "spec": {"containers": [{"name": "a", "$patch": "delete"}],
                                "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}});
        let out = strategic(&pod(), &p, &[]).unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "env": "prod"})
        );
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(out["spec"]["tolerations"].as_array().unwrap().len(), 1);
        assert_eq!(out["spec"]["tolerations"][0]["effect"], "NoSchedule");
        // $setElementOrder reorders; env merges by name within a container.
        let p = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}});
        let out = strategic(&pod(), &p, &[]).unwrap();
        assert_eq!(out["spec"]["containers"][0]["name"], "b");
        assert_eq!(
            out["spec"]["containers"][1]["env"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // $patch: replace on a map, $retainKeys.
        let p = json!({"metadata": {"labels": {"$patch": "replace", "only": "me"}}});
        let out = strategic(&pod(), &p, &[]).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"only": "me"}));
        let p = json!({"metadata": {"$retainKeys": ["name"], "name": "web"}});
        let out = strategic(&pod(), &p, &[]).unwrap();
        assert_eq!(out["metadata"], json!({"name": "web"}));
    }

    #[test]
    fn pod_templates_of_workloads_merge_as_pods() {
        let d = json!({"spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "w"}},
            "spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}}});
        // kubectl rollout restart, kubectl set image.
        let p = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
            "spec": {"containers": [{"name": "b", "image": "y:2"}]}}}});
        let out = strategic(&d, &p, &[]).unwrap();
        let t = &out["spec"]["template"];
        assert_eq!(t["spec"]["containers"].as_array().unwrap().len(), 2);
        assert_eq!(t["spec"]["containers"][1]["image"], "y:2");
        assert_eq!(t["metadata"]["labels"]["app"], "w");
        assert_eq!(
            t["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "now"
        );
        let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]}]}}}}}});
        let p = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "a", "env": [{"name": "B", "value": "2"}]}]}}}}}});
        let out = strategic(&cj, &p, &[]).unwrap();
        let c = &out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            (c["image"].as_str(), c["env"].as_array().unwrap().len()),
            (Some("x:1"), 2)
        );
    }

    #[test]
    fn json_and_merge_patches() {
        let out = apply(
            &pod(),
            PatchType::Json,
            br#"[{"op": "replace", "path": "/spec/containers/0/image", "value": "x:2"}]"#,
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "x:2");
        let out = apply(
            &pod(),
            PatchType::Merge,
            br#"{"metadata": {"labels": {"app": null}}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"tier": "front"}));
        assert!(
            apply(
                &pod(),
                PatchType::Json,
                br#"[{"op": "remove", "path": "/nope"}]"#
            )
            .is_err()
        );
        assert!(apply(&pod(), PatchType::Merge, b"{nope").is_err());
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::Strategic)
        );
    }
}
