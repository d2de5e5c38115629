//! The pod sandbox: the pause process that holds a pod's shared namespaces, the pin that keeps
//! its network namespace reachable after any crash, the pod network set up by CNI plugins, and
//! the pod's managed `/etc/hosts` and `/etc/resolv.conf`.
//!
//! The pod manager drives it in this order (the shim runs the bundle; nothing here forks into
//! a container):
//!
//! 1. [`bundle::write`] the pause bundle under `<rootDir>/pods/<uid>/sandbox/`;
//! 2. the shim `Create`s and `Start`s it; with the pause pid, [`netns::pin`] the network
//!    namespace at `<runDir>/netns/<uid>` and [`netns::loopback_up`] inside it;
//! 3. `crate::cni::Cni::add` (skipped for hostNetwork pods) → the pod IP, with the pod's
//!    [`host_ports`] for plugins that declare the `portMappings` capability;
//! 4. [`dns::write_files`] the pod's hosts and resolv.conf; [`netns::container_namespaces`]
//!    tells the app containers which namespaces to join.
//!
//! Teardown: kill the pause, `crate::cni::Cni::del` (works with the namespace gone), [`netns::unpin`],
//! [`bundle::remove`].

pub mod bundle;
pub mod dns;
pub mod error;
pub mod host_ports;
pub mod netns;
pub mod paths;

pub use error::Error;
pub use netns::NamespaceOptions;
