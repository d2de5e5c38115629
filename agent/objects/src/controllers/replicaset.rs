//! (being written: the replicaset controller; see controllers/mod.rs)
