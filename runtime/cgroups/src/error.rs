//! The crate's error type: every variant names the file or directory involved, and errors from
//! `apply` also name the OCI field being applied.

use std::io;
use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// A system call on a cgroup file or directory failed.
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Writing an OCI resource value to a cgroup file failed.
    #[error("{field}: writing {value:?} to {path}: {source}")]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// An OCI field has a value this host cannot apply (or that is invalid).
    #[error("{field}: {reason} ({path})")]
    Unsupported {
        field: String,
        path: PathBuf,
        reason: String,
    },
    /// A kernel file (mountinfo, /proc/self/cgroup, a cgroup stat file) has unexpected content.
    #[error("{path}: cannot parse: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A cgroup the caller asked to treat as its own cannot be (`owning_parent_of_own`).
    #[error("refusing to create {path} in the {hierarchy} hierarchy: {reason}")]
    Refused {
        path: PathBuf,
        hierarchy: String,
        reason: String,
    },
    /// systemd refused or failed a request of the systemd cgroup driver.
    #[error("systemd: {op} {unit}: {reason}")]
    Systemd {
        unit: String,
        op: &'static str,
        reason: String,
    },
    /// Waiting for a freezer state change timed out.
    #[error("{path}: timed out waiting for {what}")]
    Timeout { path: PathBuf, what: String },
    /// A bpf() system call for the v2 device filter failed.
    #[error("{path}: bpf {op}: {source}{}", if log.is_empty() { String::new() } else { format!("; verifier log: {log}") })]
    Bpf {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
        log: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn unsupported(
        field: impl Into<String>,
        path: impl Into<PathBuf>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Unsupported {
            field: field.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The OS error number, when the error came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Write { source, .. } | Error::Bpf { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }
}
