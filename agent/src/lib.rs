//! nodelet: a node agent that runs static pods the way a kubelet does.
//!
//! Library layout (one job per module):
//! - [`config`]: the agent's configuration (file + flags).
//! - [`quantity`], [`duration`]: Kubernetes quantities and Go durations.
//! - [`field`], [`names`]: Kubernetes field errors and name rules.

pub mod config;
pub mod duration;
pub mod field;
pub mod names;
pub mod quantity;
