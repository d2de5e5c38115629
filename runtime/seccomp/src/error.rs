//! Errors of profile validation, compilation and installation.

/// Everything that can go wrong turning an OCI `linux.seccomp` into an installed filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile is malformed; `field` is its JSON path, e.g.
    /// `linux.seccomp.syscalls[3].args[0].op`.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The profile is valid but asks for something this crate cannot do.
    #[error("unsupported seccomp profile feature: {0}")]
    Unsupported(String),
    /// The compiled filter exceeds the kernel's limit of 4096 instructions.
    #[error("compiled seccomp filter has {0} instructions, more than the kernel's limit of 4096")]
    TooLarge(usize),
    /// `Program::install` was called for a profile that uses SCMP_ACT_NOTIFY.
    #[error(
        "the seccomp profile uses SCMP_ACT_NOTIFY: install it with Program::install_with_listener and pass the fd to the agent"
    )]
    NotifyNeedsListener,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed (EACCES: neither no_new_privs nor
    /// CAP_SYS_ADMIN; EINVAL: a flag or action the kernel does not know).
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed: {0}")]
    Install(#[source] std::io::Error),
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
