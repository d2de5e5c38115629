//! noderun: an OCI runtime library (create, start, signal, wait, exec, delete, state) and the
//! runc-compatible `noderun` CLI built on it. nodelet's per-pod shim calls this library
//! directly. See ARCHITECTURE.md for the process model.

pub mod config;
pub mod container;
pub mod error;
pub mod features;
pub mod hooks;
pub mod init;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod safe_path;
pub mod state;
pub mod sync;
pub mod syscall;
pub mod tty;

pub use container::{CreateOptions, ExecOptions, Exit, Runtime, become_subreaper};
pub use error::{Error, Result};
pub use state::{OciState, Status};
