//! Workloads without a control plane: the engine side of the Job, CronJob, Deployment,
//! ReplicaSet and DaemonSet controllers (their decisions are pure functions in
//! `nodelet_objects::controllers`). `store` owns the controllers' files (what they made, one
//! manifest per object, read back by a second static pod source; their records), `dispatch`
//! picks each controller's inputs, `expectations` covers writes the node does not show yet,
//! `runner` is the loop that syncs, acts, records events and collects garbage.

pub mod dispatch;
pub mod expectations;
pub mod runner;
pub mod store;

pub use runner::{Workloads, WorkloadsView};
