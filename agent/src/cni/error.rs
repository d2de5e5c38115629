//! The CNI client's errors; plugin errors carry the plugin's CNI error code and message.

use std::path::PathBuf;
use std::time::Duration;

/// Errors of CNI operations; plugin errors carry the plugin's CNI error code and message.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("no CNI network configuration (*.conf, *.conflist, *.json) in {}", dir.display())]
    NoConfig { dir: PathBuf },
    #[error("CNI config {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("CNI plugin {plugin:?} not found in {dirs:?}")]
    PluginNotFound { plugin: String, dirs: Vec<PathBuf> },
    #[error("CNI plugin {plugin} {command} failed: code {code}: {msg}{}",
            if details.is_empty() { String::new() } else { format!(" ({details})") })]
    Plugin {
        plugin: String,
        command: String,
        code: u64,
        msg: String,
        details: String,
    },
    #[error("CNI plugin {plugin} {command} failed ({status}): {output}")]
    PluginFailed {
        plugin: String,
        command: String,
        status: String,
        output: String,
    },
    #[error("CNI plugin {plugin} {command}: {reason}")]
    BadResult {
        plugin: String,
        command: String,
        reason: String,
    },
    #[error("CNI plugin {plugin} {command} timed out after {timeout:?}")]
    Timeout {
        plugin: String,
        command: String,
        timeout: Duration,
    },
    #[error("CNI attachment lock {}: still locked after {timeout:?} (a plugin run for it has not finished)", path.display())]
    Locked { path: PathBuf, timeout: Duration },
    #[error("CNI result cache {}: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CniError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CniError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
