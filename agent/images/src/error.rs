//! The typed error of the image library, and how each error maps to the kubelet's
//! container waiting reasons (`ErrImagePull`, `ErrImageNeverPull`, `InvalidImageName`).

use std::path::PathBuf;

/// What went wrong talking to a registry, so callers can tell a missing image from a
/// refused login or a network problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryFailure {
    /// The repository, tag or digest does not exist.
    NotFound,
    /// The registry wants credentials, or refused the ones given.
    Unauthorized,
    /// Connection refused, TLS failure, timeout...
    Network,
    /// The registry answered something this client cannot use.
    Protocol,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("pulling {reference} from {registry}: {reason}")]
    Registry {
        reference: String,
        registry: String,
        failure: RegistryFailure,
        reason: String,
    },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: {reason}")]
    BadContent { what: String, reason: String },
    #[error("image {0:?} is not in the image store")]
    NotFound(String),
    #[error("image {reference} is not present and the pull policy is Never")]
    NeverPull { reference: String },
    #[error("layer {layer}: rejected hostile entry {entry:?}: {reason}")]
    HostileLayer {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    BadLayer {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("image {image} is in use by container(s) {containers}")]
    InUse { image: String, containers: String },
    #[error("auth file {path}: {reason}")]
    AuthFile { path: PathBuf, reason: String },
    #[error("archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    /// The message already includes the I/O error, so it is not chained as a source.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn bad(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        ImageError::BadContent {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// The kubelet's waiting reason for a failed image pull with this error.
    pub fn kubelet_reason(&self) -> &'static str {
        match self {
            ImageError::InvalidReference { .. } => "InvalidImageName",
            ImageError::NeverPull { .. } => "ErrImageNeverPull",
            _ => "ErrImagePull",
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Adds the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| ImageError::io(path, e))
    }
}
