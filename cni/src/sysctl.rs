//! The few sysctls the node needs (IPv4 forwarding), written only when they differ.

use crate::error::{CniError, Result};

/// Make sure `/proc/sys/<path>` holds `value` in the calling thread's network namespace.
pub fn ensure(path: &str, value: &str) -> Result<()> {
    let full = format!("/proc/sys/{path}");
    match std::fs::read_to_string(&full) {
        Ok(v) if v.trim() == value => Ok(()),
        _ => std::fs::write(&full, value)
            .map_err(|e| CniError::kernel(format!("writing {value} to {full}"), e)),
    }
}
