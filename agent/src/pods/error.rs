//! The pod manager's error: what was being done and why it failed.

/// A pod manager error: what was being done and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct Error {
    pub what: String,
    pub reason: String,
}

impl Error {
    pub fn new(what: impl Into<String>, e: impl std::fmt::Display) -> Error {
        Error {
            what: what.into(),
            reason: e.to_string(),
        }
    }
    pub fn msg(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
