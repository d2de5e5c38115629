//! The sandbox's error type: every error names the file or field and the reason.

use std::path::PathBuf;

use crate::cni::CniError;
use crate::disk::DiskError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed, or a caller-supplied value is unusable: the
    /// path or field and the reason.
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Cni(#[from] CniError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Disk(DiskError::Io {
            op,
            path: path.into(),
            source,
        })
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Disk(DiskError::Invalid {
            field: field.into(),
            reason: reason.into(),
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
