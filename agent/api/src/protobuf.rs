//! The little Kubernetes protobuf the API reads: kubectl's typed clients send some objects as
//! `application/vnd.kubernetes.protobuf` (`kubectl create namespace` does), an envelope
//! (`k8s\0` + `runtime.Unknown{typeMeta, raw}`) around the object's message. Only what a
//! Namespace needs is decoded — type meta, and `metadata.name`/`generateName`/`labels` — into
//! the JSON the rest of the API works on; anything else is an error naming the content type.

use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// One field of a protobuf message: number and, for length-delimited fields, the bytes
/// (varints and fixed-width values are skipped).
type Field<'a> = (u64, Option<&'a [u8]>);

fn fields(mut b: &[u8]) -> Result<Vec<Field<'_>>, String> {
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
            0 => {
                varint(&mut b)?;
                out.push((num, None));
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                b = b.get(n..).ok_or("truncated fixed field")?;
                out.push((num, None));
            }
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|e| e.to_string())?;
                let v = b.get(..len).ok_or("truncated field")?;
                b = &b[len..];
                out.push((num, Some(v)));
            }
            w => return Err(format!("unsupported wire type {w}")),
        }
    }
    Ok(out)
}

fn string(v: Option<&[u8]>) -> String {
    String::from_utf8_lossy(v.unwrap_or_default()).into_owned()
}

/// A protobuf-encoded Namespace as JSON.
pub fn namespace(body: &[u8]) -> Result<Value, String> {
    let env = body
        .strip_prefix(b"k8s\0")
        .ok_or("not a Kubernetes protobuf envelope (no k8s\\0 prefix)")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for (n, v) in fields(env)? {
        match n {
            1 => {
                for (m, w) in fields(v.unwrap_or_default())? {
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
    if kind != "Namespace" {
        return Err(format!(
            "protobuf bodies are read for Namespaces only (got kind {kind:?})"
        ));
    }
    let mut meta = Map::new();
    for (n, v) in fields(raw.unwrap_or_default())? {
        if n != 1 {
            continue;
        }
        for (m, w) in fields(v.unwrap_or_default())? {
            match m {
                1 => {
                    meta.insert("name".into(), string(w).into());
                }
                2 => {
                    meta.insert("generateName".into(), string(w).into());
                }
                11 => {
                    let (mut k, mut val) = (String::new(), String::new());
                    for (e, x) in fields(w.unwrap_or_default())? {
                        match e {
                            1 => k = string(x),
                            2 => val = string(x),
                            _ => {}
                        }
                    }
                    let labels = meta.entry("labels").or_insert_with(|| json!({}));
                    labels[k] = val.into();
                }
                _ => {}
            }
        }
    }
    Ok(json!({"apiVersion": api_version, "kind": kind, "metadata": meta}))
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
        let v = namespace(&body).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "dev");
        assert_eq!(v["metadata"]["labels"]["team"], "a");
        assert!(namespace(b"{}").is_err());
        let pod = [
            b"k8s\0".to_vec(),
            ld(1, &[ld(1, b"v1"), ld(2, b"Pod")].concat()),
        ]
        .concat();
        assert!(namespace(&pod).unwrap_err().contains("Namespaces only"));
    }
}
