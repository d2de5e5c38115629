//! One manifest document (JSON) → a typed Kubernetes object: wrong types are errors at their
//! field path, unknown fields are dropped and listed (`spec.containers[0].foo`), as the
//! kubelet drops them. A leaf: `manifest` (pods) and `workload` (the other kinds) use it.

use crate::field::{FieldError, FieldPath};

/// Turns a `serde_ignored` path into a Kubernetes field path.
fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    use serde_ignored::Path as P;
    match path {
        P::Root => FieldPath::default(),
        P::Seq { parent, index } => ignored_path(parent).index(*index),
        P::Map { parent, key } => ignored_path(parent).child(key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Decodes one document into a `T`: wrong types are errors, unknown fields are dropped and
/// returned beside it.
pub fn decode<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<(T, Vec<FieldPath>), Vec<FieldError>> {
    let mut unknown = Vec::new();
    let mut on_ignored = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
    let de = serde_ignored::Deserializer::new(value, &mut on_ignored);
    let decoded: Result<T, _> = serde_path_to_error::deserialize(de);
    match decoded {
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // A missing required key is reported at its own path.
            let field = FieldPath::from(if path == "." { "" } else { path.as_str() });
            if let Some(rest) = inner.strip_prefix("missing field `")
                && let Some(key) = rest.strip_suffix('`')
            {
                return Err(vec![FieldError::required(&field.child(key), "")]);
            }
            Err(vec![FieldError::type_error(&field, &inner)])
        }
        Ok(v) => Ok((v, unknown)),
    }
}
