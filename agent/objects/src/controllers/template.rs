//! The pod templates of the apps/v1 workloads (ReplicaSet, Deployment, DaemonSet): their
//! defaulting and validation as the API server does them, the spec checks the three kinds
//! share (selector, replicas, int-or-percent fields), the template hash the controllers name
//! things by (`pod-template-hash`, `controller-revision-hash`), and the pods made from a
//! template.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Suffixes;
use crate::field::{FieldError, FieldPath};
use crate::names;
use crate::pod_defaults;
use crate::pod_validation;
use crate::selector::{self, Selector};

/// The API server's `generateName` keeps at most this much of the base (63 - 5 random).
const MAX_GENERATED_BASE: usize = 58;

/// Applies the API server's pod defaults to a workload's template (`SetDefaults_PodSpec` runs
/// on templates too).
pub fn default_template(template: &mut PodTemplateSpec) {
    let mut pod = Pod {
        metadata: ObjectMeta::default(),
        spec: template.spec.take(),
        status: None,
    };
    pod_defaults::apply_defaults(&mut pod);
    template.spec = pod.spec;
}

/// A value as the API server prints it in a field error: simple values as they are, others
/// as JSON (`{"app":"web"}`, `"25%"`, `null`).
pub struct JsonValue(String);

impl JsonValue {
    pub fn of(v: &impl serde::Serialize) -> JsonValue {
        JsonValue(serde_json::to_string(v).unwrap_or_else(|_| "null".to_string()))
    }
}

impl fmt::Debug for JsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The checks a ReplicaSet, Deployment and DaemonSet share on `spec`: a non-empty valid
/// selector that matches the template's labels, and the template itself
/// (`ValidatePodTemplateSpecForReplicaSet`): a valid pod, `restartPolicy: Always`, no
/// `activeDeadlineSeconds`. `kind` names the object in the API server's messages
/// (`empty selector is invalid for deployment`).
pub fn validate_selector_and_template(
    errs: &mut Vec<FieldError>,
    kind: &str,
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
) {
    let spec = FieldPath::new("spec");
    let sel_path = spec.child("selector");
    errs.extend(selector::validate_label_selector(selector, &sel_path));
    if selector::label_selector_is_empty(selector) {
        errs.push(FieldError::invalid(
            &sel_path,
            JsonValue::of(&serde_json::json!({})),
            &format!("empty selector is invalid for {}", kind.to_lowercase()),
        ));
    }
    let tpath = spec.child("template");
    let Some(template) = template else {
        errs.push(FieldError::required(&tpath, ""));
        return;
    };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if let Ok(sel) = Selector::from_label_selector(selector)
        && !selector::label_selector_is_empty(selector)
        && !sel.matches(labels)
    {
        errs.push(FieldError::invalid(
            &tpath.child("metadata").child("labels"),
            JsonValue::of(&labels),
            "`selector` does not match template `labels`",
        ));
    }
    // The template as a pod: the pod validation's paths, under `spec.template`.
    let mut meta = template.metadata.clone().unwrap_or_default();
    meta.name = Some("template".to_string());
    meta.namespace = None;
    let pod = Pod {
        metadata: meta,
        spec: template.spec.clone(),
        status: None,
    };
    for mut e in pod_validation::validate_pod(&pod) {
        e.field = FieldPath::from(format!("spec.template.{}", e.field).as_str());
        errs.push(e);
    }
    let pod_spec = tpath.child("spec");
    if let Some(spec) = &template.spec {
        let policy = spec.restart_policy.as_deref().unwrap_or("Always");
        if policy != "Always" {
            errs.push(FieldError::not_supported(
                &pod_spec.child("restartPolicy"),
                policy,
                &["Always"],
            ));
        }
        if let Some(ads) = spec.active_deadline_seconds {
            errs.push(FieldError::invalid(
                &pod_spec.child("activeDeadlineSeconds"),
                ads,
                &format!("activeDeadlineSeconds in {kind} is not Supported"),
            ));
        }
    }
}

/// The object's name as the API server checks it for apps/v1 kinds (a DNS-1123 subdomain).
pub fn validate_name(errs: &mut Vec<FieldError>, meta: &ObjectMeta) {
    let path = FieldPath::new("metadata").child("name");
    match meta.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            &path,
            "name or generateName is required",
        )),
        Some(n) => {
            for m in names::dns1123_subdomain(n) {
                errs.push(FieldError::invalid(&path, n, &m));
            }
        }
    }
}

/// `value` at `path` must be ≥ 0 when set.
pub fn non_negative(errs: &mut Vec<FieldError>, path: &FieldPath, value: Option<i32>) {
    if let Some(v) = value
        && v < 0
    {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// A `maxSurge`/`maxUnavailable` value (`ValidatePositiveIntOrPercent`, and
/// `IsNotMoreThan100Percent` when `at_most_100`).
pub fn validate_int_or_percent(
    errs: &mut Vec<FieldError>,
    path: &FieldPath,
    v: &IntOrString,
    at_most_100: bool,
) {
    match v {
        IntOrString::Int(i) => non_negative(errs, path, Some(*i)),
        IntOrString::String(s) => match percent(s) {
            None => errs.push(FieldError::invalid(
                path,
                s,
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )),
            Some(p) if at_most_100 && p > 100 => {
                errs.push(FieldError::invalid(path, s, "must not be greater than 100%"))
            }
            Some(_) => {}
        },
    }
}

/// `N%` → N.
fn percent(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// True when an int-or-percent is zero (`0` or `0%`).
pub fn is_zero(v: Option<&IntOrString>) -> bool {
    match v {
        None => true,
        Some(IntOrString::Int(i)) => *i == 0,
        Some(IntOrString::String(s)) => percent(s) == Some(0),
    }
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, a percent of `total` rounded up or
/// down. A value validation would refuse counts as 0.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = percent(s) else { return 0 };
            let scaled = p * i64::from(total);
            let v = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            i32::try_from(v).unwrap_or(i32::MAX)
        }
    }
}

/// The template hash the controllers use (`controller.ComputeHash`): FNV-32a over the
/// template and the collision count, the 32-bit number in decimal mapped onto the API
/// server's safe alphabet (`rand.SafeEncodeString`). kube-controller-manager hashes Go's
/// `spew` dump of the template; we hash its JSON (stable: fields in schema order, maps
/// sorted), so the hash has the same shape (`7d4b9c5f6`) but not the same value.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    // Serializing a PodTemplateSpec (strings, numbers, maps with string keys) cannot fail.
    write(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(c) = collision_count {
        write(&c.to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The template's labels without `key` (and no map when none is left), for comparing
/// templates that differ only by a controller's hash label.
pub fn without_label(template: &PodTemplateSpec, key: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(key);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
        if meta.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            meta.annotations = None;
        }
        if *meta == ObjectMeta::default() {
            t.metadata = None;
        }
    }
    t
}

/// A name `<base>-<suffix>` as `generateName: <base>-` gives (the base cut to 58 bytes), not
/// one of `taken`.
pub fn generated_name(base: &str, taken: &BTreeSet<String>, suffixes: &mut dyn Suffixes) -> String {
    let mut prefix = format!("{base}-");
    if prefix.len() > MAX_GENERATED_BASE {
        let mut cut = MAX_GENERATED_BASE;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    // A suffix source that keeps repeating itself cannot loop us forever: after a few tries
    // the name is taken as is and the API's AlreadyExists makes the shell sync again.
    let mut name = format!("{prefix}{}", suffixes.next_suffix());
    for _ in 0..16 {
        if !taken.contains(&name) {
            break;
        }
        name = format!("{prefix}{}", suffixes.next_suffix());
    }
    name
}

/// A pod made from `template`: the template's labels, annotations and spec, `generateName`
/// `<base>-`, the given name, namespace and controller reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    generate_base: &str,
    name: String,
    namespace: Option<String>,
    owner: OwnerReference,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            generate_name: Some(format!("{generate_base}-")),
            namespace,
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.clone().unwrap_or_default()),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(yaml: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    #[test]
    fn hash_is_stable_safe_and_depends_on_template_and_collisions() {
        let a = template(
            "{metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: nginx:1.25}]}}",
        );
        let b = template(
            "{metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: nginx:1.26}]}}",
        );
        let h = template_hash(&a, None);
        assert_eq!(h, template_hash(&a.clone(), None));
        assert_ne!(h, template_hash(&b, None));
        assert_ne!(h, template_hash(&a, Some(1)));
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(
            h.bytes()
                .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c)),
            "{h}"
        );
    }

    #[test]
    fn scaled_values_round_like_the_controller() {
        let pct = |s: &str| IntOrString::String(s.to_string());
        for (v, total, up, want) in [
            (pct("25%"), 10, true, 3),
            (pct("25%"), 10, false, 2),
            (pct("25%"), 1, true, 1),
            (pct("25%"), 1, false, 0),
            (pct("100%"), 7, false, 7),
            (IntOrString::Int(3), 10, false, 3),
            (pct("x%"), 10, true, 0),
        ] {
            assert_eq!(scaled_value(Some(&v), total, up), want, "{v:?} of {total}");
        }
        assert!(is_zero(Some(&pct("0%"))) && is_zero(None) && !is_zero(Some(&pct("1%"))));
    }

    #[test]
    fn generated_names_are_cut_and_unique() {
        let mut n = 0;
        let mut next = || {
            n += 1;
            if n < 3 {
                "aaaaa".to_string()
            } else {
                format!("b{n:04}")
            }
        };
        let taken: BTreeSet<String> = ["web-aaaaa".to_string()].into();
        assert_eq!(generated_name("web", &taken, &mut next), "web-b0003");
        let long = "x".repeat(80);
        let name = generated_name(&long, &BTreeSet::new(), &mut || "zzzzz".to_string());
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("xzzzzz"));
    }

    #[test]
    fn template_validation_names_template_paths() {
        let sel: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"app": "web"}})).unwrap();
        let mut errs = Vec::new();
        let t = template(
            "{metadata: {labels: {app: db}}, spec: {restartPolicy: Never, activeDeadlineSeconds: 5, containers: [{name: c}]}}",
        );
        validate_selector_and_template(&mut errs, "ReplicaSet", &sel, Some(&t));
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let want = [
            "spec.template.metadata.labels: Invalid value: {\"app\":\"db\"}: `selector` does not match template `labels`",
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.template.spec.activeDeadlineSeconds: Invalid value: 5: activeDeadlineSeconds in ReplicaSet is not Supported",
        ];
        for w in want {
            assert!(text.iter().any(|t| t == w), "missing {w:?} in {text:#?}");
        }
        let mut errs = Vec::new();
        validate_selector_and_template(
            &mut errs,
            "Deployment",
            &LabelSelector::default(),
            Some(&t),
        );
        assert!(
            errs.iter().any(|e| e.to_string()
                == "spec.selector: Invalid value: {}: empty selector is invalid for deployment"),
            "{errs:?}"
        );
    }
}
