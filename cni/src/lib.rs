//! nodenet: a CNI plugin (spec 0.4.0–1.1.0) giving each node a bridge with file-locked IPAM
//! and joining nodes with a static-peer VXLAN overlay (flannel's design, no daemon).

pub mod config;
pub mod env;
pub mod error;
pub mod ethtool;
pub mod hostport;
pub mod ipam;
pub mod masq;
pub mod netns;
pub mod nl;
pub mod node;
pub mod overlay;
pub mod plugin;
pub mod pod;
pub mod reaper;
pub mod result;
pub mod stamp;
pub mod sysctl;
pub mod underlay;
pub mod version;
