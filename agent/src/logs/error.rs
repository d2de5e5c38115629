//! Errors reading or pruning container logs.

use std::path::PathBuf;

/// Errors reading or pruning container logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No log file of this container instance exists (never written or already pruned).
    #[error("{}: no log of instance {instance}", dir.display())]
    NoInstance { dir: PathBuf, instance: u32 },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.into(),
            source,
        }
    }
}
