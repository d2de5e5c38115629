//! The on-disk cache of ADD results, like libcni's `/var/lib/cni/results`: one JSON file per
//! attachment, `<cacheDir>/<containerID>-<ifname>.json`, holding the network configuration
//! list used for ADD, the CNI_ARGS and the final result. DEL uses it (the same plugins and
//! configuration as ADD even if the configuration directory changed since, and the result as
//! `prevResult`), and the agent reads pod IPs back from it after a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::CniError;

/// One cached attachment (libcni's `cniCacheV1` layout, with the configuration as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedAttachment {
    pub kind: String,
    pub container_id: String,
    pub if_name: String,
    pub network_name: String,
    pub cni_args: Vec<(String, String)>,
    /// The network configuration list used for ADD.
    pub config: Value,
    /// The final ADD result.
    pub result: Value,
}

pub const KIND: &str = "cniCacheV1";

/// `<dir>/<containerID>-<ifname>.json`.
pub fn path(dir: &Path, container_id: &str, ifname: &str) -> PathBuf {
    dir.join(format!("{container_id}-{ifname}.json"))
}

/// Writes the attachment atomically.
pub fn save(dir: &Path, a: &CachedAttachment) -> Result<(), CniError> {
    let p = path(dir, &a.container_id, &a.if_name);
    let data = serde_json::to_vec_pretty(a).map_err(|e| CniError::Cache {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    crate::disk::write_atomic(&p, &data, 0o600).map_err(|e| CniError::Cache {
        path: p,
        reason: e.to_string(),
    })
}

/// The cached attachment, `None` if there is none; an unreadable cache file is an error.
pub fn load(
    dir: &Path,
    container_id: &str,
    ifname: &str,
) -> Result<Option<CachedAttachment>, CniError> {
    let p = path(dir, container_id, ifname);
    let data = match std::fs::read(&p) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CniError::io("read", &p, e)),
    };
    let a: CachedAttachment = serde_json::from_slice(&data).map_err(|e| CniError::Cache {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    if a.kind != KIND {
        return Err(CniError::Cache {
            path: p,
            reason: format!("kind {:?} is not {KIND}", a.kind),
        });
    }
    Ok(Some(a))
}

/// Removes the cached attachment (ok if absent).
pub fn remove(dir: &Path, container_id: &str, ifname: &str) -> Result<(), CniError> {
    let p = path(dir, container_id, ifname);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CniError::io("remove", &p, e)),
    }
}
