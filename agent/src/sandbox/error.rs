//! The sandbox's error type: every error names the file or field and the reason.

use std::path::PathBuf;

use crate::cni::CniError;
use crate::disk::DiskError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A caller-supplied value is unusable (`field` names it).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Cni(#[from] CniError),
    #[error(transparent)]
    Disk(#[from] DiskError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
