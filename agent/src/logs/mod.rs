//! Container logs as the node keeps them: where each container instance's CRI log files live
//! (`files`), pruning to the last N instances of a container (`files::prune_instances`), and
//! reading them back for `nodectl logs` and the API (`read`, `follow`). The writing side is the
//! shim's `crilog` (CRI line format and naming in `nodelet_shim_protocol::crilog`); what a
//! reader asks for is `nodelet_objects::log_options`.

pub mod error;
pub mod files;
pub mod follow;
pub mod read;

pub use error::LogError;
pub use files::{
    DEFAULT_MAX_INSTANCES, container_dir, instance_files, instance_path, instances,
    prune_instances, select_instance,
};
pub use follow::Follower;
pub use nodelet_objects::log_options::{ReadOptions, Which};
pub use read::{LogEntry, read, render};
