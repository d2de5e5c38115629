//! (being written: the job controller; see controllers/mod.rs)
