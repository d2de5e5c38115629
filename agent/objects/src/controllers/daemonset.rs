//! (being written: the daemonset controller; see controllers/mod.rs)
