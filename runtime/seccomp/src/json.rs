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
