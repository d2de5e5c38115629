//! One YAML/JSON document → a typed Kubernetes object, as the kubelet and the API server
//! decode: a wrong type is an error naming its field path (`spec.containers[0].ports:
//! invalid type`), a missing required key is `Required value` at its own path, and unknown
//! fields are dropped and returned (`spec.containers[0].foo`) so the caller can report them.
//! Used by the manifest decoding of every kind (pods and workload objects).
//!
//! It owns the one deserializer every Kubernetes object in the agent is decoded with
//! ([`from_value`], [`from_slice`] for state files, stored objects and request bodies too):
//! k8s-openapi's decoding code is generic over the deserializer, and each deserializer type
//! (a JSON slice, a `Value`, this tracking wrapper with each caller's closure) compiled the
//! whole Pod tree again — `PodSpec`'s and `Volume`'s visitors were in the binary 7 times
//! (1.3 MiB of text). The unknown-field callback is a trait object for the same reason.

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
    let decoded: Result<T, _> = tracked(value, &mut |p| unknown.push(ignored_path(&p)));
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

/// Called with the path of each unknown field.
type OnIgnored<'a> = &'a mut dyn FnMut(serde_ignored::Path<'_>);

/// `value` decoded through the one deserializer type (see the module's first lines).
fn tracked<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    mut on_ignored: OnIgnored<'_>,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    let de = serde_ignored::Deserializer::new(value, &mut on_ignored);
    serde_path_to_error::deserialize(de)
}

/// `serde_json::from_value` for Kubernetes objects (and anything holding one): the same
/// result and error, through the one shared deserializer; unknown fields are dropped.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, serde_json::Error> {
    tracked(value, &mut |_| {}).map_err(serde_path_to_error::Error::into_inner)
}

/// `serde_json::from_slice` for Kubernetes objects (and anything holding one): the JSON
/// parsed into a `Value`, then [`from_value`].
pub fn from_slice<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, serde_json::Error> {
    from_value(serde_json::from_slice(json)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn from_slice_decodes_as_serde_json_does() {
        let json = br#"{"metadata":{"name":"a","labels":{"x":"y"}},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]},"extra":1}"#;
        let ours: Pod = from_slice(json).expect("decodes");
        let theirs: Pod = serde_json::from_slice(json).expect("decodes");
        assert_eq!(ours, theirs);
        // Errors are serde_json's, also for a wrong type deep inside.
        let bad = br#"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":"x"}]}]}}"#;
        let e = from_slice::<Pod>(bad).expect_err("wrong type");
        assert!(e.to_string().contains("invalid type"), "{e}");
        assert!(from_slice::<Pod>(b"{not json").is_err());
    }

    #[test]
    fn decode_names_unknown_fields_and_wrong_types() {
        let v = serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "foo": 1}]}});
        let (_, unknown) = decode::<Pod>(v).expect("decodes");
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].to_string(), "spec.containers[0].foo");
        let v = serde_json::json!({"spec": {"containers": [{"name": "c", "ports": "x"}]}});
        let errs = decode::<Pod>(v).expect_err("wrong type");
        assert!(
            errs[0].to_string().contains("spec.containers[0].ports"),
            "{}",
            errs[0]
        );
    }
}
