//! The runtime library's error type: every variant says what was wrong and where (file, field,
//! path or syscall), so the CLI can print it as one line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json could not be read or does not match the runtime spec.
    #[error("{file}: {field}: {reason}")]
    Config {
        file: PathBuf,
        field: String,
        reason: String,
    },
    #[error(
        "container id {0:?} is not valid: use 1-1024 characters from [A-Za-z0-9_+.-], not starting with '.'"
    )]
    InvalidId(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {id:?} is {status}: {what}")]
    WrongState {
        id: String,
        status: String,
        what: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] noderun_cgroups::Error),
    #[error(transparent)]
    Seccomp(#[from] noderun_seccomp::Error),
    /// An error that happened inside the container's init or exec process, reported back over the
    /// sync socket.
    #[error("{0}")]
    Child(String),
    #[error("hook {path}: {reason}")]
    Hook { path: PathBuf, reason: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a description to io / nix errors at the call site: `fs::read(p).ctx(|| format!(..))`.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what().into(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what().into(),
            source,
        })
    }
}

pub fn config_err(
    file: &std::path::Path,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::Config {
        file: file.to_path_buf(),
        field: field.into(),
        reason: reason.into(),
    }
}
