//! noderun-seccomp: OCI `linux.seccomp` profiles compiled to a classic-BPF seccomp filter in
//! pure Rust (no libseccomp), installed allocation-free in the container's init just before
//! execve, plus containerd's default profile (Kubernetes `RuntimeDefault`).
//!
//! ```no_run
//! let profile = noderun_seccomp::default_profile(&["CAP_CHOWN".to_string()]);
//! let program = noderun_seccomp::compile(&profile)?;
//! // in the forked child, after prctl(PR_SET_NO_NEW_PRIVS):
//! program.install()?;
//! # Ok::<(), noderun_seccomp::Error>(())
//! ```

mod action;
mod arch;
mod bpf;
mod compile;
mod condition;
mod default_profile;
mod error;
mod json;
mod program;
mod syscall_table;

pub use arch::{Abi, NATIVE};
pub use compile::compile;
pub use default_profile::default_profile;
pub use error::Error;
pub use json::from_json;
pub use program::{Program, SyscallData};
