//! (being written: the deployment controller; see controllers/mod.rs)
