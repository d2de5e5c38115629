//! CNI spec versions this plugin speaks and the negotiation rules between them.

use crate::error::{CniError, Code, Result};

/// Versions accepted in `cniVersion`, oldest first.
pub const SUPPORTED: &[&str] = &["0.4.0", "1.0.0", "1.1.0"];

/// The newest version, used when the input does not say (VERSION, errors before parsing).
pub const LATEST: &str = "1.1.0";

/// A parsed, supported spec version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecVersion {
    V040,
    V100,
    V110,
}

impl SpecVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V040 => "0.4.0",
            SpecVersion::V100 => "1.0.0",
            SpecVersion::V110 => "1.1.0",
        }
    }

    /// Parse `value` (taken from the config field `field`), rejecting versions we do not speak.
    pub fn parse(field: &str, value: &str) -> Result<SpecVersion> {
        match value {
            "0.4.0" => Ok(SpecVersion::V040),
            "1.0.0" => Ok(SpecVersion::V100),
            "1.1.0" => Ok(SpecVersion::V110),
            other => Err(CniError::with_details(
                Code::IncompatibleVersion,
                format!("network config field `{field}`: unsupported CNI version {other:?}"),
                format!("supported versions: {}", SUPPORTED.join(", ")),
            )),
        }
    }

    /// Pick the newest version we support from a `cniVersions` list (conflist, spec 1.1).
    pub fn negotiate(list: &[String]) -> Option<SpecVersion> {
        list.iter()
            .filter_map(|v| SpecVersion::parse("cniVersions", v).ok())
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_negotiate() {
        assert_eq!(
            SpecVersion::parse("cniVersion", "1.0.0").unwrap(),
            SpecVersion::V100
        );
        let e = SpecVersion::parse("cniVersion", "0.3.1").unwrap_err();
        assert_eq!(e.code, Code::IncompatibleVersion);
        assert!(e.msg.contains("cniVersion"));
        let list = vec![
            "0.3.1".to_string(),
            "1.0.0".into(),
            "0.4.0".into(),
            "2.0.0".into(),
        ];
        assert_eq!(SpecVersion::negotiate(&list), Some(SpecVersion::V100));
        assert_eq!(SpecVersion::negotiate(&["9.9.9".to_string()]), None);
    }
}
