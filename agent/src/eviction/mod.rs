//! Node-pressure and local-storage eviction (the kubelet's eviction manager): `rules` decides
//! (pure, table-tested), `stats` measures the node and its pods; the pod manager's
//! housekeeping (`pods::housekeeping`) runs them every 10 s and evicts through the pod tasks.

pub mod rules;
pub mod stats;
