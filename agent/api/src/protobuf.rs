//! The little Kubernetes protobuf the API reads: kubectl's typed clients send some objects as
//! `application/vnd.kubernetes.protobuf` (`kubectl create namespace`, `create configmap`,
//! `create secret generic` do), an envelope (`k8s\0` + `runtime.Unknown{typeMeta, raw}`)
//! around the object's message. What those commands send is decoded — type meta,
//! `metadata.name`/`generateName`/`namespace`/`labels`/`annotations`, a ConfigMap's `data`,
//! `binaryData` and `immutable`, a Secret's `data`, `stringData`, `type` and `immutable` — into
//! the JSON the rest of the API works on (bytes as base64, as in JSON). Of a Job only the
//! metadata is decoded (with its owner references): `kubectl create job --from=cronjob/NAME`
//! sends the CronJob's job template as the spec, which the API takes from that CronJob
//! (`object_writes`). Other kinds are an error naming the kind (`kubectl create deployment`
//! or `create job --image` send a whole pod template: not decoded; `kubectl create -f` and
//! `apply` send JSON).

use base64::Engine;
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// One field's value: a varint, length-delimited bytes, or a fixed-width value (skipped).
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Wire<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Wire::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// The fields of a protobuf message, in order: (number, value).
fn fields(mut b: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&x, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    let mut out = vec![];
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Wire::Varint(varint(&mut b)?))),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                b = b.get(n..).ok_or("truncated fixed field")?;
                out.push((num, Wire::Fixed));
            }
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|e| e.to_string())?;
                let v = b.get(..len).ok_or("truncated field")?;
                b = &b[len..];
                out.push((num, Wire::Bytes(v)));
            }
            w => return Err(format!("unsupported wire type {w}")),
        }
    }
    Ok(out)
}

fn string(v: Wire<'_>) -> String {
    String::from_utf8_lossy(v.bytes()).into_owned()
}

/// One entry of a protobuf map (`key = 1`, `value = 2`); the value as a string, or as base64
/// for `map<string, bytes>`.
fn map_entry(entry: Wire<'_>, bytes: bool) -> Result<(String, Value), String> {
    let (mut k, mut val) = (String::new(), Value::String(String::new()));
    for (e, x) in fields(entry.bytes())? {
        match e {
            1 => k = string(x),
            2 if bytes => {
                val = base64::engine::general_purpose::STANDARD
                    .encode(x.bytes())
                    .into()
            }
            2 => val = string(x).into(),
            _ => {}
        }
    }
    Ok((k, val))
}

/// Adds one map entry to `obj[key]`.
fn add_entry(
    obj: &mut Map<String, Value>,
    key: &str,
    entry: Wire<'_>,
    bytes: bool,
) -> Result<(), String> {
    let (k, v) = map_entry(entry, bytes)?;
    if let Value::Object(m) = obj.entry(key).or_insert_with(|| json!({})) {
        m.insert(k, v);
    }
    Ok(())
}

/// ObjectMeta: the fields a typed client's `create` sets.
fn object_meta(b: &[u8]) -> Result<Map<String, Value>, String> {
    let mut meta = Map::new();
    for (m, w) in fields(b)? {
        match m {
            1 => {
                meta.insert("name".into(), string(w).into());
            }
            2 => {
                meta.insert("generateName".into(), string(w).into());
            }
            3 => {
                meta.insert("namespace".into(), string(w).into());
            }
            11 => add_entry(&mut meta, "labels", w, false)?,
            12 => add_entry(&mut meta, "annotations", w, false)?,
            13 => {
                let refs = meta.entry("ownerReferences").or_insert_with(|| json!([]));
                if let Value::Array(a) = refs {
                    a.push(owner_reference(w.bytes())?);
                }
            }
            _ => {}
        }
    }
    meta.retain(|_, v| v.as_str() != Some(""));
    Ok(meta)
}

/// An OwnerReference (kind 1, name 3, uid 4, apiVersion 5, controller 6,
/// blockOwnerDeletion 7).
fn owner_reference(b: &[u8]) -> Result<Value, String> {
    let mut r = Map::new();
    for (n, w) in fields(b)? {
        let key = match n {
            1 => "kind",
            3 => "name",
            4 => "uid",
            5 => "apiVersion",
            6 => "controller",
            7 => "blockOwnerDeletion",
            _ => continue,
        };
        let v = match w {
            Wire::Varint(x) => Value::Bool(x != 0),
            other => string(other).into(),
        };
        r.insert(key.into(), v);
    }
    Ok(Value::Object(r))
}

/// A protobuf-encoded Namespace, ConfigMap or Secret as JSON.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let env = body
        .strip_prefix(b"k8s\0")
        .ok_or("not a Kubernetes protobuf envelope (no k8s\\0 prefix)")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), Wire::Fixed);
    for (n, v) in fields(env)? {
        match n {
            1 => {
                for (m, w) in fields(v.bytes())? {
                    match m {
                        1 => api_version = string(w),
                        2 => kind = string(w),
                        _ => {}
                    }
                }
            }
            2 => raw = v,
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "Secret" | "Job") {
        return Err(format!(
            "protobuf bodies are read for Namespaces, ConfigMaps, Secrets and Jobs made from a CronJob only (got kind {kind:?}); send JSON (kubectl create -f)"
        ));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.clone().into());
    for (n, w) in fields(raw.bytes())? {
        match (kind.as_str(), n) {
            (_, 1) => {
                obj.insert("metadata".into(), Value::Object(object_meta(w.bytes())?));
            }
            ("ConfigMap", 2) => add_entry(&mut obj, "data", w, false)?,
            ("ConfigMap", 3) => add_entry(&mut obj, "binaryData", w, true)?,
            ("Secret", 2) => add_entry(&mut obj, "data", w, true)?,
            ("Secret", 4) => add_entry(&mut obj, "stringData", w, false)?,
            ("Secret", 3) => {
                let t = string(w);
                if !t.is_empty() {
                    obj.insert("type".into(), t.into());
                }
            }
            ("ConfigMap", 4) | ("Secret", 5) => {
                if let Wire::Varint(b) = w {
                    obj.insert("immutable".into(), (b != 0).into());
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u8, v: &[u8]) -> Vec<u8> {
        let mut out = vec![(num << 3) | 2, v.len() as u8];
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn namespace_from_kubectls_envelope() {
        let type_meta = [ld(1, b"v1"), ld(2, b"Namespace")].concat();
        let label = [ld(1, b"team"), ld(2, b"a")].concat();
        let meta = [ld(1, b"dev"), ld(11, &label)].concat();
        let ns = [ld(1, &meta), ld(2, b""), ld(3, b"")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, &ns)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "dev");
        assert_eq!(v["metadata"]["labels"]["team"], "a");
        assert!(decode(b"{}").is_err());
        let pod = [
            b"k8s\0".to_vec(),
            ld(1, &[ld(1, b"v1"), ld(2, b"Pod")].concat()),
        ]
        .concat();
        assert!(decode(&pod).unwrap_err().contains("CronJob only"));
    }

    /// What `kubectl create configmap x --from-literal=a=b` and `kubectl create secret generic
    /// s --from-literal=a=b` (1.32) send, byte for byte.
    #[test]
    fn configmaps_and_secrets_as_kubectl_sends_them() {
        let cm = b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\x1b\n\x11\n\x01x\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x06\n\x01a\x12\x01b\x1a\x00\"\x00";
        let v = decode(cm).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
                   "data": {"a": "b"}})
        );
        let secret = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x1d\n\x11\n\x01s\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x06\n\x01a\x12\x01b\x1a\x00\x1a\x00\"\x00";
        let v = decode(secret).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"a": "Yg=="}})
        );
        // A typed ConfigMap with binary data, labels and immutable.
        let label = [ld(1, b"app"), ld(2, b"web")].concat();
        let meta = [ld(1, b"c"), ld(3, b"dev"), ld(11, &label)].concat();
        let bin = [ld(1, b"k"), ld(2, &[0, 1, 2])].concat();
        let raw = [ld(1, &meta), ld(3, &bin), vec![4 << 3, 1]].concat();
        let type_meta = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "c", "namespace": "dev", "labels": {"app": "web"}})
        );
        assert_eq!(v["binaryData"]["k"], "AAEC");
        assert_eq!(v["immutable"], true);
        // A Job's metadata with its owner reference; the spec is not decoded.
        let owner = [
            ld(1, b"CronJob"),
            ld(3, b"hello"),
            ld(4, b"u-1"),
            ld(5, b"batch/v1"),
            vec![6 << 3, 1],
        ]
        .concat();
        let ann = [
            ld(1, b"cronjob.kubernetes.io/instantiate"),
            ld(2, b"manual"),
        ]
        .concat();
        let meta = [ld(1, b"manual-1"), ld(12, &ann), ld(13, &owner)].concat();
        let raw = [ld(1, &meta), ld(2, b"\x0a\x00")].concat();
        let type_meta = [ld(1, b"batch/v1"), ld(2, b"Job")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
                "name": "manual-1",
                "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                "ownerReferences": [{"kind": "CronJob", "name": "hello", "uid": "u-1",
                                     "apiVersion": "batch/v1", "controller": true}]}})
        );
    }
}
