//! Kubernetes label selectors as `kubectl -l` takes them: `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist), comma-separated (AND).

use std::collections::BTreeMap;

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

    /// An object's `LabelSelector` (`matchLabels` and `matchExpressions`) as a selector; an
    /// unknown operator is an error naming it.
    pub fn from_label_selector(
        sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Selector, String> {
        let mut reqs: Vec<Requirement> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let (k, vs) = (e.key.clone(), e.values.clone().unwrap_or_default());
            reqs.push(match e.operator.as_str() {
                "In" => Requirement::In(k, vs),
                "NotIn" => Requirement::NotIn(k, vs),
                "Exists" => Requirement::Exists(k),
                "DoesNotExist" => Requirement::DoesNotExist(k),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
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
}
