//! The pod manager: runs exactly the pods of the static pod source's latest snapshot, matched
//! by UID, one tokio task per pod ([`worker`]).
//!
//! Per pod, in order: state dir `<rootDir>/pods/<uid>/` with `state.json` ([`state`]), the pod
//! cgroup ([`cgroup`]), the pod's own `nodelet-shim` ([`shim`]), the pause sandbox run by the
//! shim, netns pin, CNI ADD (unless hostNetwork), hosts/resolv.conf, volumes ([`setup`]); then
//! init containers strictly in order and the app containers ([`containers`]), restarted per
//! restartPolicy with CrashLoopBackOff. Status is recomputed every sync and published in a
//! [`PodsView`]; events go to a bounded per-pod list.
//!
//! Crash safety ([`manager`]): on start the manager reads every `state.json`, adopts pods whose
//! shim answers and whose UID is still desired (containers keep running), and tears down what
//! no desired pod owns: pod dirs, shims, netns pins, CNI cache entries, rootfs mounts, cgroups.
//! Stopping the manager leaves pods running.
//!
//! Use (what `nodelet` does):
//!
//! ```text
//! let mut m = Manager::new(cfg, ManagerOptions::next_to(&exe))?;
//! let view = m.view();                 // PodsView: pods with status + events, for the API
//! let seeds = m.recover().await;       // adopt live pods, GC the rest
//! let source = StaticPodSource::start(SourceOptions::from_config(&cfg), seeds)?;
//! m.run(source.subscribe(), shutdown).await;
//! ```

pub mod agent_cgroup;
pub mod cgroup;
pub mod containers;
pub mod ctx;
pub mod error;
pub mod hooks;
pub mod housekeeping;
pub mod manager;
pub mod plan;
pub mod probes;
pub mod setup;
pub mod shim;
pub mod state;
pub mod stop_signal;
pub mod terminate;
pub mod termination;
pub mod view;
pub mod worker;

pub use ctx::ManagerOptions;
pub use error::Error;
pub use manager::Manager;
pub use view::{PodView, PodsView};
