//! nodelet-shim: the small single-threaded process that sits between nodelet and one pod's
//! containers. It is their parent (a child subreaper), holds their stdout/stderr pipes and
//! writes the CRI-format log files, records every exit durably, and takes commands from the
//! agent over a Unix socket. It outlives agent restarts, so restarting nodelet never restarts
//! a container. No async runtime: one poll loop. It runs the `noderun` binary for each
//! container operation (as conmon runs runc), so it stays small: one per pod. What it shares
//! with the agent (protocol, exit records, log format) is `nodelet-shim-protocol`.

pub mod crilog;
pub mod runtime;
pub mod server;
