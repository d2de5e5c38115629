//! Kubernetes label selectors as `kubectl -l` takes them: `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist), comma-separated (AND);
//! and the structured `LabelSelector` of workload specs (matchLabels + matchExpressions), its
//! API-server validation and its conversion to the same requirements.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::field::{FieldError, FieldPath};
use crate::names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: String,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Split on commas that are not inside parentheses.
fn terms(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".to_string());
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".to_string());
    }
    out.push(&s[start..]);
    Ok(out)
}

fn set_values(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a value set like (a,b), found {rest:?}"))?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if let Some(v) = vals.iter().find(|v| !valid_value(v)) {
        return Err(format!("invalid value {v:?}"));
    }
    Ok(vals)
}

fn term(t: &str) -> Result<Requirement, String> {
    let t = t.trim();
    if t.is_empty() {
        return Err("empty requirement".to_string());
    }
    let key_ok = |k: &str| -> Result<String, String> {
        let k = k.trim();
        if valid_key(k) {
            Ok(k.to_string())
        } else {
            Err(format!("invalid label key {k:?}"))
        }
    };
    let val_ok = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if valid_value(v) {
            Ok(v.to_string())
        } else {
            Err(format!("invalid label value {v:?}"))
        }
    };
    if let Some(k) = t.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key_ok(k)?));
    }
    if let Some((k, v)) = t.split_once("!=") {
        return Ok(Requirement::NotEquals(key_ok(k)?, val_ok(v)?));
    }
    if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
        return Ok(Requirement::Equals(key_ok(k)?, val_ok(v)?));
    }
    let mut words = t.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or("").trim_start();
    if rest.is_empty() {
        return Ok(Requirement::Exists(key_ok(key)?));
    }
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(key_ok(key)?, set_values(r)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(Requirement::In(key_ok(key)?, set_values(r)?));
    }
    Err(format!("unknown operator in {t:?}"))
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let err = |reason: String| SelectorError {
            selector: s.to_string(),
            reason,
        };
        if s.trim().is_empty() {
            return Ok(Selector::default());
        }
        let mut reqs = Vec::new();
        for t in terms(s).map_err(err)? {
            reqs.push(term(t).map_err(err)?);
        }
        Ok(Selector(reqs))
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// The operators a `matchExpressions` entry may use.
const EXPRESSION_OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

impl Selector {
    /// A structured `LabelSelector` as requirements (`metav1.LabelSelectorAsSelector`):
    /// matchLabels are equalities, matchExpressions In/NotIn/Exists/DoesNotExist. The empty
    /// selector matches everything (callers that must refuse it check
    /// [`label_selector_is_empty`]). An operator outside those four, In/NotIn without values
    /// or Exists/DoesNotExist with values is an error.
    pub fn from_label_selector(sel: &LabelSelector) -> Result<Selector, SelectorError> {
        let err = |reason: String| SelectorError {
            selector: format!("{sel:?}"),
            reason,
        };
        let mut reqs: Vec<Requirement> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let key = e.key.clone();
            reqs.push(match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(err(format!(
                        "for 'in', 'notin' operators, values set can't be empty (key {key:?})"
                    )));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(err(format!(
                        "values set must be empty for exists and does not exist (key {key:?})"
                    )));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                op => {
                    return Err(err(format!(
                        "{op:?} is not a valid label selector operator"
                    )));
                }
            });
        }
        Ok(Selector(reqs))
    }
}

/// True when the selector has neither matchLabels nor matchExpressions (it selects every
/// pod; workload specs refuse it).
pub fn label_selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// The API server's checks of a `LabelSelector` at `path` (`ValidateLabelSelector`): keys
/// are qualified names, values label values, operators one of the four, In/NotIn with values
/// and Exists/DoesNotExist without.
pub fn validate_label_selector(sel: &LabelSelector, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let n_values = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if n_values == 0 => errs.push(FieldError::required(
                &p.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if n_values > 0 => errs.push(FieldError::forbidden(
                &p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            op if !EXPRESSION_OPERATORS.contains(&op) => errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "not a valid selector operator",
            )),
            _ => {}
        }
        for m in names::qualified_name(&e.key) {
            errs.push(FieldError::invalid(&p.child("key"), &e.key, &m));
        }
    }
    let labels = path.child("matchLabels");
    for (k, v) in sel.match_labels.iter().flatten() {
        for m in names::qualified_name(k) {
            errs.push(FieldError::invalid(&labels, k, &m));
        }
        for m in names::label_value(v) {
            errs.push(FieldError::invalid(&labels, v, &m));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("env", "prod")]);
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "tier in (front, back)",
            "env notin (dev,test)",
            "app",
            "!missing",
            "app=web,tier in (front),!missing",
            "missing notin (x)",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
        }
        let no = [
            "app=db",
            "app!=web",
            "tier in (back)",
            "env notin (prod)",
            "missing",
            "!app",
            "missing in (x)",
        ];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
        }
        assert!(Selector::parse("!app").unwrap().matches(None));
    }

    #[test]
    fn bad_selectors_are_errors() {
        for s in ["app in web", "a=b,", "x y", "tier in (a", "=v", "k=v v"] {
            let e = Selector::parse(s).unwrap_err();
            assert_eq!(e.selector, s);
        }
    }

    fn label_selector(yaml: &str) -> LabelSelector {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    #[test]
    fn structured_selectors_match_like_the_api() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (yaml, want) in [
            ("{}", true),
            ("{matchLabels: {app: web}}", true),
            ("{matchLabels: {app: db}}", false),
            (
                "{matchExpressions: [{key: tier, operator: In, values: [front, back]}]}",
                true,
            ),
            (
                "{matchExpressions: [{key: tier, operator: NotIn, values: [front]}]}",
                false,
            ),
            (
                "{matchExpressions: [{key: env, operator: DoesNotExist}]}",
                true,
            ),
            ("{matchExpressions: [{key: env, operator: Exists}]}", false),
            (
                "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: Exists}]}",
                true,
            ),
        ] {
            let sel = Selector::from_label_selector(&label_selector(yaml)).unwrap();
            assert_eq!(sel.matches(Some(&l)), want, "{yaml}");
        }
        assert!(label_selector_is_empty(&label_selector(
            "{matchLabels: {}}"
        )));
        assert!(!label_selector_is_empty(&label_selector(
            "{matchLabels: {a: b}}"
        )));
    }

    #[test]
    fn structured_selector_errors() {
        let p = FieldPath::new("spec").child("selector");
        for (yaml, want) in [
            (
                "{matchExpressions: [{key: a, operator: In}]}",
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ),
            (
                "{matchExpressions: [{key: a, operator: Exists, values: [x]}]}",
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            (
                "{matchExpressions: [{key: a, operator: Gt, values: ['1']}]}",
                "spec.selector.matchExpressions[0].operator: Invalid value: \"Gt\": not a valid selector operator",
            ),
            (
                "{matchLabels: {app: 'a b'}}",
                "spec.selector.matchLabels: Invalid value: \"a b\": a valid label must be",
            ),
        ] {
            let sel = label_selector(yaml);
            let errs = validate_label_selector(&sel, &p);
            assert!(
                errs.first()
                    .is_some_and(|e| e.to_string().starts_with(want)),
                "{yaml}: {errs:?}"
            );
            if !yaml.contains("matchLabels") {
                assert!(Selector::from_label_selector(&sel).is_err(), "{yaml}");
            }
        }
    }
}
