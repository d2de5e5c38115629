//! CNI error type: the spec's well-known error codes and the JSON error object the plugin prints.

use serde::Serialize;

/// Error codes defined by the CNI specification (1.1), plus plugin-specific codes (>= 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: incompatible CNI version.
    IncompatibleVersion = 1,
    /// 2: unsupported field in the network configuration.
    UnsupportedField = 2,
    /// 3: container unknown or does not exist.
    UnknownContainer = 3,
    /// 4: invalid necessary environment variables.
    InvalidEnv = 4,
    /// 5: I/O failure.
    Io = 5,
    /// 6: failed to decode content.
    Decode = 6,
    /// 7: invalid network configuration.
    InvalidConfig = 7,
    /// 11: try again later.
    TryAgain = 11,
    /// 50: the plugin is not available (cannot service ADD).
    NotAvailable = 50,
    /// 100: plugin specific: no free address left in the node subnet.
    SubnetExhausted = 100,
    /// 101: plugin specific: a kernel (netlink/ioctl/sysctl) operation failed.
    Kernel = 101,
    /// 102: plugin specific: the firewall (nftables) could not be programmed.
    Firewall = 102,
    /// 103: plugin specific: CHECK found the attachment differs from what ADD made.
    CheckFailed = 103,
}

/// An error reported to the runtime as a CNI error object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}{}", details_suffix(.details))]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

fn details_suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(": {details}")
    }
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(code: Code, msg: impl Into<String>, details: impl ToString) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.to_string(),
        }
    }

    /// Invalid network configuration naming the offending field.
    pub fn config(field: &str, reason: impl std::fmt::Display) -> Self {
        CniError::new(
            Code::InvalidConfig,
            format!("network config field `{field}`: {reason}"),
        )
    }

    /// A failed kernel operation, with what was being done.
    pub fn kernel(what: impl Into<String>, err: impl ToString) -> Self {
        CniError::with_details(Code::Kernel, what, err)
    }

    pub fn io(what: impl Into<String>, err: impl ToString) -> Self {
        CniError::with_details(Code::Io, what, err)
    }

    pub fn code_number(&self) -> u32 {
        self.code as u32
    }

    /// The JSON error object (spec "Error" section) for the given negotiated version.
    pub fn to_json(&self, cni_version: &str) -> String {
        let obj = ErrorJson {
            cni_version,
            code: self.code_number(),
            msg: &self.msg,
            details: &self.details,
        };
        serde_json::to_string(&obj).unwrap_or_else(|_| {
            format!(
                "{{\"cniVersion\":\"{cni_version}\",\"code\":{},\"msg\":\"error\"}}",
                self.code_number()
            )
        })
    }
}

pub type Result<T> = std::result::Result<T, CniError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_code_msg_and_details() {
        let e = CniError::with_details(Code::Io, "reading lease", "No such file");
        let v: serde_json::Value = serde_json::from_str(&e.to_json("1.1.0")).unwrap();
        assert_eq!(v["code"], 5);
        assert_eq!(v["msg"], "reading lease");
        assert_eq!(v["details"], "No such file");
        assert_eq!(v["cniVersion"], "1.1.0");
        let e = CniError::config("subnet", "not a CIDR");
        let v: serde_json::Value = serde_json::from_str(&e.to_json("1.0.0")).unwrap();
        assert_eq!(v["code"], 7);
        assert!(v.get("details").is_none());
        assert!(v["msg"].as_str().unwrap().contains("`subnet`"));
    }
}
