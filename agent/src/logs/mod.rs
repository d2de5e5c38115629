//! Container logs as the node keeps them: where each container instance's CRI log files live
//! (`files`), pruning to the last N instances of a container (`files::prune_instances`), and
//! reading them back for `nodectl logs` and the API (`read`, `follow`). The writing side is the
//! shim's `crilog` (CRI line format and naming in `nodelet_shim_protocol::crilog`); what a
//! reader asks for is `nodelet_objects::log_options`.

pub mod files;
pub mod follow;
pub mod read;

pub use files::{
    DEFAULT_MAX_INSTANCES, container_dir, instance_files, instance_path, instances,
    prune_instances, select_instance,
};
pub use follow::Follower;
pub use nodelet_objects::log_options::{ReadOptions, Which};
pub use read::{LogEntry, read, render};

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
