//! (being written: the cronjob controller; see controllers/mod.rs)
