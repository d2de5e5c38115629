//! Objects as kubectl's `-o yaml` prints them: keys sorted (kubectl goes through a JSON map),
//! two-space indent, list items not indented below their key, empty maps as `{}`. Written with
//! serde-saphyr (serde_yaml is unmaintained).

/// `v` as one YAML document (no `---`), ending in a newline.
pub fn to_yaml(v: &serde_json::Value) -> Result<String, serde_saphyr::SerializeError> {
    let mut s = serde_saphyr::to_string(&sorted(v))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// `v` with every map's keys in order (independent of serde_json's `preserve_order`).
fn sorted(v: &serde_json::Value) -> Sorted<'_> {
    Sorted(v)
}

struct Sorted<'a>(&'a serde_json::Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    map.serialize_entry(k, &Sorted(&m[k]))?;
                }
                map.end()
            }
            serde_json::Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(&Sorted(x))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_layout() {
        let v = serde_json::json!({
            "metadata": {"name": "web", "labels": {"b": "2", "a": "1"}},
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["sleep", "1"],
                                      "resources": {}}]},
            "status": {"startTime": "2026-11-22T10:00:00Z", "phase": "Running"},
        });
        let y = to_yaml(&v).unwrap();
        assert_eq!(
            y,
            "apiVersion: v1\n\
             kind: Pod\n\
             metadata:\n  labels:\n    a: \"1\"\n    b: \"2\"\n  name: web\n\
             spec:\n  containers:\n  - args:\n    - sleep\n    - \"1\"\n    image: busybox\n    name: c\n    resources: {}\n\
             status:\n  phase: Running\n  startTime: \"2026-11-22T10:00:00Z\"\n"
        );
    }
}
