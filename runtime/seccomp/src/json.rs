//! Parsing `linux.seccomp` from raw JSON with errors that name the offending field
//! (`linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`), which plain serde
//! deserialization of the OCI types does not give.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

const ROOT: &str = "linux.seccomp";

/// Parses the JSON value of `linux.seccomp`, checking every field first so that an error names
/// its path.
pub fn from_json(value: &Value) -> Result<LinuxSeccomp, Error> {
    let obj = value.as_object().ok_or_else(|| {
        Error::invalid(ROOT, format!("expected an object, found {}", kind(value)))
    })?;
    match obj.get("defaultAction") {
        Some(v) => check_enum::<LinuxSeccompAction>(v, &format!("{ROOT}.defaultAction"), "action")?,
        None => return Err(Error::invalid(format!("{ROOT}.defaultAction"), "missing")),
    }
    check_u32(
        obj.get("defaultErrnoRet"),
        &format!("{ROOT}.defaultErrnoRet"),
    )?;
    for (i, v) in array(obj.get("architectures"), &format!("{ROOT}.architectures"))?
        .iter()
        .enumerate()
    {
        check_enum::<Arch>(v, &format!("{ROOT}.architectures[{i}]"), "architecture")?;
    }
    for (i, v) in array(obj.get("flags"), &format!("{ROOT}.flags"))?
        .iter()
        .enumerate()
    {
        check_enum::<LinuxSeccompFilterFlag>(v, &format!("{ROOT}.flags[{i}]"), "flag")?;
    }
    for (i, sc) in array(obj.get("syscalls"), &format!("{ROOT}.syscalls"))?
        .iter()
        .enumerate()
    {
        check_syscall(sc, &format!("{ROOT}.syscalls[{i}]"))?;
    }
    serde_json::from_value(value.clone()).map_err(|e| Error::invalid(ROOT, e.to_string()))
}

fn check_syscall(sc: &Value, field: &str) -> Result<(), Error> {
    let obj = sc
        .as_object()
        .ok_or_else(|| Error::invalid(field, format!("expected an object, found {}", kind(sc))))?;
    match obj.get("names") {
        Some(Value::Array(names)) => {
            for (k, n) in names.iter().enumerate() {
                if !n.is_string() {
                    return Err(Error::invalid(
                        format!("{field}.names[{k}]"),
                        format!("expected a string, found {}", kind(n)),
                    ));
                }
            }
        }
        Some(other) => {
            return Err(Error::invalid(
                format!("{field}.names"),
                format!("expected an array, found {}", kind(other)),
            ));
        }
        None => return Err(Error::invalid(format!("{field}.names"), "missing")),
    }
    match obj.get("action") {
        Some(v) => check_enum::<LinuxSeccompAction>(v, &format!("{field}.action"), "action")?,
        None => return Err(Error::invalid(format!("{field}.action"), "missing")),
    }
    check_u32(obj.get("errnoRet"), &format!("{field}.errnoRet"))?;
    for (j, a) in array(obj.get("args"), &format!("{field}.args"))?
        .iter()
        .enumerate()
    {
        let af = format!("{field}.args[{j}]");
        let aobj = a
            .as_object()
            .ok_or_else(|| Error::invalid(&af, format!("expected an object, found {}", kind(a))))?;
        match aobj.get("op") {
            Some(v) => check_enum::<LinuxSeccompOperator>(v, &format!("{af}.op"), "operator")?,
            None => return Err(Error::invalid(format!("{af}.op"), "missing")),
        }
        for key in ["index", "value", "valueTwo"] {
            if let Some(v) = aobj.get(key)
                && v.as_u64().is_none()
            {
                return Err(Error::invalid(
                    format!("{af}.{key}"),
                    format!("expected an unsigned integer, found {}", kind(v)),
                ));
            }
        }
        if let Some(index) = aobj.get("index").and_then(Value::as_u64)
            && index > 5
        {
            return Err(Error::invalid(
                format!("{af}.index"),
                format!("{index} is out of range: syscalls have arguments 0 to 5"),
            ));
        }
        serde_json::from_value::<LinuxSeccompArg>(a.clone())
            .map_err(|e| Error::invalid(&af, e.to_string()))?;
    }
    Ok(())
}

fn array<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a [Value], Error> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(Error::invalid(
            field,
            format!("expected an array, found {}", kind(other)),
        )),
    }
}

fn check_u32(v: Option<&Value>, field: &str) -> Result<(), Error> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_u64().is_some_and(|n| n <= u32::MAX as u64) => Ok(()),
        Some(v) => Err(Error::invalid(
            field,
            format!("expected an unsigned 32-bit integer, found {v}"),
        )),
    }
}

fn check_enum<T: DeserializeOwned>(v: &Value, field: &str, what: &str) -> Result<(), Error> {
    match v {
        Value::String(s) => serde_json::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|_| Error::invalid(field, format!("unknown {what} {s:?}"))),
        other => Err(Error::invalid(
            field,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(v: Value) -> String {
        from_json(&v).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_valid_profile() {
        let p = from_json(&json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }))
        .unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(38));
        assert_eq!(p.syscalls().as_ref().unwrap().len(), 3);
        assert_eq!(p.architectures().as_ref().unwrap()[2], Arch::ScmpArchX32);
        crate::compile(&p).unwrap();
    }

    #[test]
    fn every_malformed_field_is_named() {
        let sc = |s: Value| {
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"}, s]})
        };
        let cases = [
            (
                json!([]),
                "linux.seccomp: expected an object, found an array",
            ),
            (json!({}), "linux.seccomp.defaultAction: missing"),
            (
                json!({"defaultAction": "SCMP_ACT_NOPE"}),
                "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_NOPE\"",
            ),
            (
                json!({"defaultAction": 1}),
                "linux.seccomp.defaultAction: expected a string, found a number",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}),
                "linux.seccomp.defaultErrnoRet: expected an unsigned 32-bit integer, found -1",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_PDP11"]}),
                "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_PDP11\"",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": "SCMP_ARCH_X86_64"}),
                "linux.seccomp.architectures: expected an array, found a string",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
                "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FAST\"",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}),
                "linux.seccomp.syscalls: expected an array, found an object",
            ),
            (
                sc(json!("read")),
                "linux.seccomp.syscalls[1]: expected an object, found a string",
            ),
            (
                sc(json!({"action": "SCMP_ACT_ERRNO"})),
                "linux.seccomp.syscalls[1].names: missing",
            ),
            (
                sc(json!({"names": "read", "action": "SCMP_ACT_ERRNO"})),
                "linux.seccomp.syscalls[1].names: expected an array, found a string",
            ),
            (
                sc(json!({"names": ["read", 3], "action": "SCMP_ACT_ERRNO"})),
                "linux.seccomp.syscalls[1].names[1]: expected a string, found a number",
            ),
            (
                sc(json!({"names": ["read"]})),
                "linux.seccomp.syscalls[1].action: missing",
            ),
            (
                sc(json!({"names": ["read"], "action": "SCMP_ACT_DENY"})),
                "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_DENY\"",
            ),
            (
                sc(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "EPERM"})),
                "linux.seccomp.syscalls[1].errnoRet: expected an unsigned 32-bit integer, found \"EPERM\"",
            ),
            (
                sc(
                    json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1}]}),
                ),
                "linux.seccomp.syscalls[1].args[0].op: missing",
            ),
            (
                sc(
                    json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}),
                ),
                "linux.seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_FOO\"",
            ),
            (
                sc(
                    json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
                ),
                "linux.seccomp.syscalls[1].args[0].index: 6 is out of range: syscalls have arguments 0 to 5",
            ),
            (
                sc(
                    json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": "0", "value": 1, "op": "SCMP_CMP_EQ"}]}),
                ),
                "linux.seccomp.syscalls[1].args[0].index: expected an unsigned integer, found a string",
            ),
            (
                sc(
                    json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}),
                ),
                "linux.seccomp.syscalls[1].args[0].value: expected an unsigned integer, found a number",
            ),
            (
                sc(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [7]})),
                "linux.seccomp.syscalls[1].args[0]: expected an object, found a number",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input.clone()), want, "input {input}");
        }
    }
}
