//! The little Kubernetes protobuf the API reads: kubectl's typed clients send some objects as
//! `application/vnd.kubernetes.protobuf` (`kubectl create namespace|configmap|secret|
//! deployment|job|cronjob`), an envelope (`k8s\0` + `runtime.Unknown{typeMeta, raw}`) around
//! the object's message, decoded into the JSON the rest of the API works on (bytes as base64,
//! as in JSON): ObjectMeta's name, generateName, namespace, labels, annotations and owner
//! references; a ConfigMap's and a Secret's data; of Deployments, Jobs and CronJobs the fields
//! kubectl's generators set (replicas, selector, pod template with containers' name, image,
//! command, args, ports..., restart policy, schedule...), tabled in [`SCHEMAS`] with their
//! field numbers. A field not in the table with a non-zero value is an error naming it, so
//! nothing is dropped silently (send JSON: `kubectl create -f`). A Job made from a CronJob
//! (`kubectl create job --from=cronjob/NAME`) is decoded as its metadata only: its spec is
//! the CronJob's job template, which the API takes from that CronJob (`object_writes`).

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

/// How a field is read.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    /// `repeated string`.
    Strings,
    /// `map<string, string>`.
    StrMap,
    /// ObjectMeta (read by `object_meta`).
    Meta,
    Msg(&'static Schema),
    /// `repeated` message.
    Msgs(&'static Schema),
}

/// One field of a message: number, JSON name, type, and whether Go sends it only when set
/// (a pointer: `replicas: 0` is kept; other zero values are what Go sends for unset).
struct F(u64, &'static str, Ty, bool);

/// A message's fields, by the numbers of Kubernetes' `generated.proto`.
struct Schema {
    name: &'static str,
    fields: &'static [F],
}

use Ty::*;

static LABEL_REQ: Schema = Schema {
    name: "LabelSelectorRequirement",
    fields: &[
        F(1, "key", Str, false),
        F(2, "operator", Str, false),
        F(3, "values", Strings, false),
    ],
};
static LABEL_SELECTOR: Schema = Schema {
    name: "LabelSelector",
    fields: &[
        F(1, "matchLabels", StrMap, false),
        F(2, "matchExpressions", Msgs(&LABEL_REQ), false),
    ],
};
static PORT: Schema = Schema {
    name: "ContainerPort",
    fields: &[
        F(1, "name", Str, false),
        F(2, "hostPort", Int, false),
        F(3, "containerPort", Int, false),
        F(4, "protocol", Str, false),
        F(5, "hostIP", Str, false),
    ],
};
static RESOURCES: Schema = Schema {
    name: "ResourceRequirements",
    fields: &[],
};
static CONTAINER: Schema = Schema {
    name: "Container",
    fields: &[
        F(1, "name", Str, false),
        F(2, "image", Str, false),
        F(3, "command", Strings, false),
        F(4, "args", Strings, false),
        F(5, "workingDir", Str, false),
        F(6, "ports", Msgs(&PORT), false),
        F(8, "resources", Msg(&RESOURCES), false),
        F(13, "terminationMessagePath", Str, false),
        F(14, "imagePullPolicy", Str, false),
        F(16, "stdin", Bool, false),
        F(17, "stdinOnce", Bool, false),
        F(18, "tty", Bool, false),
        F(20, "terminationMessagePolicy", Str, false),
    ],
};
static POD_SPEC: Schema = Schema {
    name: "PodSpec",
    fields: &[
        F(2, "containers", Msgs(&CONTAINER), false),
        F(3, "restartPolicy", Str, false),
        F(4, "terminationGracePeriodSeconds", Int, true),
        F(5, "activeDeadlineSeconds", Int, true),
        F(6, "dnsPolicy", Str, false),
        F(7, "nodeSelector", StrMap, false),
        F(8, "serviceAccountName", Str, false),
        F(9, "serviceAccount", Str, false),
        F(10, "nodeName", Str, false),
        F(11, "hostNetwork", Bool, false),
        F(12, "hostPID", Bool, false),
        F(13, "hostIPC", Bool, false),
        F(16, "hostname", Str, false),
        F(17, "subdomain", Str, false),
        F(19, "schedulerName", Str, false),
        F(20, "initContainers", Msgs(&CONTAINER), false),
        F(24, "priorityClassName", Str, false),
    ],
};
static POD_TEMPLATE: Schema = Schema {
    name: "PodTemplateSpec",
    fields: &[
        F(1, "metadata", Meta, false),
        F(2, "spec", Msg(&POD_SPEC), false),
    ],
};
static STRATEGY: Schema = Schema {
    name: "DeploymentStrategy",
    fields: &[F(1, "type", Str, false)],
};
static DEPLOYMENT_SPEC: Schema = Schema {
    name: "DeploymentSpec",
    fields: &[
        F(1, "replicas", Int, true),
        F(2, "selector", Msg(&LABEL_SELECTOR), false),
        F(3, "template", Msg(&POD_TEMPLATE), false),
        F(4, "strategy", Msg(&STRATEGY), false),
        F(5, "minReadySeconds", Int, false),
        F(6, "revisionHistoryLimit", Int, true),
        F(7, "paused", Bool, false),
        F(9, "progressDeadlineSeconds", Int, true),
    ],
};
static JOB_SPEC: Schema = Schema {
    name: "JobSpec",
    fields: &[
        F(1, "parallelism", Int, true),
        F(2, "completions", Int, true),
        F(3, "activeDeadlineSeconds", Int, true),
        F(4, "selector", Msg(&LABEL_SELECTOR), false),
        F(5, "manualSelector", Bool, true),
        F(6, "template", Msg(&POD_TEMPLATE), false),
        F(7, "backoffLimit", Int, true),
        F(8, "ttlSecondsAfterFinished", Int, true),
        F(9, "completionMode", Str, true),
        F(10, "suspend", Bool, true),
    ],
};
static JOB_TEMPLATE: Schema = Schema {
    name: "JobTemplateSpec",
    fields: &[
        F(1, "metadata", Meta, false),
        F(2, "spec", Msg(&JOB_SPEC), false),
    ],
};
static CRONJOB_SPEC: Schema = Schema {
    name: "CronJobSpec",
    fields: &[
        F(1, "schedule", Str, false),
        F(2, "startingDeadlineSeconds", Int, true),
        F(3, "concurrencyPolicy", Str, false),
        F(4, "suspend", Bool, true),
        F(5, "jobTemplate", Msg(&JOB_TEMPLATE), false),
        F(6, "successfulJobsHistoryLimit", Int, true),
        F(7, "failedJobsHistoryLimit", Int, true),
        F(8, "timeZone", Str, true),
    ],
};
/// Status (field 3) is the server's: not read.
static DEPLOYMENT: Schema = Schema {
    name: "Deployment",
    fields: &[
        F(1, "metadata", Meta, false),
        F(2, "spec", Msg(&DEPLOYMENT_SPEC), false),
    ],
};
static JOB: Schema = Schema {
    name: "Job",
    fields: &[
        F(1, "metadata", Meta, false),
        F(2, "spec", Msg(&JOB_SPEC), false),
    ],
};
static CRONJOB: Schema = Schema {
    name: "CronJob",
    fields: &[
        F(1, "metadata", Meta, false),
        F(2, "spec", Msg(&CRONJOB_SPEC), false),
    ],
};

/// The kinds read through [`Schema`]s.
pub const SCHEMAS: &[&str] = &["Deployment", "Job", "CronJob"];

fn top_schema(kind: &str) -> Option<&'static Schema> {
    match kind {
        "Deployment" => Some(&DEPLOYMENT),
        "Job" => Some(&JOB),
        "CronJob" => Some(&CRONJOB),
        _ => None,
    }
}

/// Whether a field's value is what Go sends for an unset non-pointer field.
fn is_zero(w: Wire<'_>) -> bool {
    match w {
        Wire::Varint(v) => v == 0,
        Wire::Bytes(b) => b.is_empty(),
        Wire::Fixed => false,
    }
}

/// A message read by `schema` as a JSON object (`path`: where it is, for errors). The
/// top-level status (field 3) is skipped.
fn message(b: &[u8], schema: &Schema, path: &str) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for (n, w) in fields(b)? {
        let Some(F(_, name, ty, ptr)) = schema.fields.iter().find(|f| f.0 == n) else {
            let top_status = n == 3 && SCHEMAS.contains(&schema.name);
            if is_zero(w) || top_status {
                continue;
            }
            return Err(format!(
                "{path}: field {n} of {} is not read from protobuf; send the object as JSON (kubectl create -f)",
                schema.name
            ));
        };
        let name = *name;
        let at = format!("{path}.{name}");
        match ty {
            Str => {
                if *ptr || !is_zero(w) {
                    obj.insert(name.into(), string(w).into());
                }
            }
            Int | Bool => {
                let Wire::Varint(v) = w else {
                    return Err(format!("{at}: not a varint"));
                };
                if *ptr || v != 0 {
                    let value = if matches!(ty, Bool) {
                        Value::Bool(v != 0)
                    } else {
                        // int32/int64 as two's complement.
                        Value::from(v as i64)
                    };
                    obj.insert(name.into(), value);
                }
            }
            Strings => {
                if let Value::Array(a) = obj.entry(name).or_insert_with(|| json!([])) {
                    a.push(string(w).into());
                }
            }
            StrMap => add_entry(&mut obj, name, w, false)?,
            Meta => {
                let m = object_meta(w.bytes())?;
                if !m.is_empty() {
                    obj.insert(name.into(), Value::Object(m));
                }
            }
            Msg(s) => {
                let m = message(w.bytes(), s, &at)?;
                if !m.is_empty() {
                    obj.insert(name.into(), Value::Object(m));
                }
            }
            Msgs(s) => {
                let m = message(w.bytes(), s, &at)?;
                if let Value::Array(a) = obj.entry(name).or_insert_with(|| json!([])) {
                    a.push(Value::Object(m));
                }
            }
        }
    }
    Ok(obj)
}

/// A protobuf-encoded object (see the module's list) as JSON.
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
    if let Some(schema) = top_schema(&kind) {
        // `kubectl create job --from=cronjob/X`: the spec is the CronJob's job template,
        // which the API takes from the CronJob; only the metadata is read.
        let meta = match fields(raw.bytes())?.into_iter().find(|(n, _)| *n == 1) {
            Some((_, w)) => object_meta(w.bytes())?,
            None => Map::new(),
        };
        let from_cronjob = meta
            .get("ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| r["kind"] == "CronJob"));
        let mut obj = if kind == "Job" && from_cronjob {
            Map::from_iter([("metadata".to_string(), Value::Object(meta))])
        } else {
            message(raw.bytes(), schema, &kind)?
        };
        obj.insert("apiVersion".into(), api_version.into());
        obj.insert("kind".into(), kind.into());
        return Ok(Value::Object(obj));
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "Secret") {
        return Err(format!(
            "protobuf bodies are read for Namespaces, ConfigMaps, Secrets, Deployments, Jobs and CronJobs only (got kind {kind:?}); send JSON (kubectl create -f)"
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
        assert!(
            decode(&pod)
                .unwrap_err()
                .contains("Deployments, Jobs and CronJobs only")
        );
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

    /// What `kubectl create deployment web --image=nginx:1.27 --replicas=0 --port=80 -- sleep
    /// 10`, `create job pi --image=perl -- perl -e 1` and `create cronjob hello --image=busybox
    /// --schedule='*/1 * * * *' --restart=Never -- echo hi` (1.32) send, byte for byte.
    #[test]
    fn what_kubectls_generators_send() {
        let d = b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment\x12\xc8\x01\x0a\x1f\x0a\x03web\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12\x96\x01\x08\x00\x12\x0c\x0a\x0a\x0a\x03app\x12\x03web\x1a|\x0a\x1c\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12\x5c\x12>\x0a\x05nginx\x12\x0anginx:1.27\x1a\x05sleep\x1a\x0210*\x002\x0a\x0a\x00\x10\x00\x18P\x22\x00*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x22\x02\x0a\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00\x22\x00";
        assert_eq!(
            decode(d).unwrap(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "labels": {"app": "web"}},
                   "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                                                  "command": ["sleep", "10"],
                                                                  "ports": [{"containerPort": 80}]}]}}}})
        );
        let j = b"k8s\x00\x0a\x0f\x0a\x08batch/v1\x12\x03Job\x12\x84\x01\x0a\x12\x0a\x02pi\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12d2b\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12N\x12+\x0a\x02pi\x12\x04perl\x1a\x04perl\x1a\x02-e\x1a\x011*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x08 \x00(\x000\x00:\x00\x1a\x00\x22\x00";
        assert_eq!(
            decode(j).unwrap(),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
                   "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                       {"name": "pi", "image": "perl", "command": ["perl", "-e", "1"]}]}}}})
        );
        let c = b"k8s\x00\x0a\x13\x0a\x08batch/v1\x12\x07CronJob\x12\xae\x01\x0a\x15\x0a\x05hello\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x92\x01\x0a\x0b*/1 * * * *\x1a\x00*\x80\x01\x0a\x15\x0a\x05hello\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12g2e\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12Q\x12.\x0a\x05hello\x12\x07busybox\x1a\x04echo\x1a\x02hi*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x00\x1a\x00\x22\x00";
        assert_eq!(
            decode(c).unwrap(),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
                   "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"metadata": {"name": "hello"},
                       "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                           {"name": "hello", "image": "busybox", "command": ["echo", "hi"]}]}}}}}})
        );
        // A field the table does not read (a liveness probe, field 10 of Container) is an
        // error, not dropped.
        let type_meta = [ld(1, b"batch/v1"), ld(2, b"Job")].concat();
        let container = [ld(1, b"a"), ld(2, b"x"), ld(10, &ld(1, b"p"))].concat();
        let pod_spec = ld(2, &container);
        let spec = ld(6, &ld(2, &pod_spec));
        let raw = [ld(1, &ld(1, b"j")), ld(2, &spec)].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &type_meta), ld(2, &raw)].concat();
        let err = decode(&body).unwrap_err();
        assert!(
            err.contains("Job.spec.template.spec.containers: field 10 of Container is not read"),
            "{err}"
        );
    }
}
