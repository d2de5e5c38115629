//! Where a pod's sandbox files live:
//!
//! ```text
//! <rootDir>/pods/<uid>/sandbox/{config.json,rootfs/}   the pause bundle
//! <rootDir>/pods/<uid>/etc-hosts                        managed /etc/hosts
//! <rootDir>/pods/<uid>/resolv.conf                      managed /etc/resolv.conf
//! <rootDir>/cni-cache/<containerID>-<ifname>.json       cached CNI ADD results
//! <runDir>/netns/<uid>                                  the network namespace pin
//! ```

use std::path::{Path, PathBuf};

/// `<rootDir>/pods/<uid>`.
pub fn pod_dir(root_dir: &Path, uid: &str) -> PathBuf {
    root_dir.join("pods").join(uid)
}

/// `<rootDir>/pods/<uid>/containers/<id>`: a container instance's bundle (config.json, its
/// termination log, its stop signal).
pub fn container_bundle_dir(root_dir: &Path, uid: &str, id: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("containers").join(id)
}

/// `<rootDir>/pods/<uid>/sandbox`: the pause bundle.
pub fn sandbox_bundle_dir(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("sandbox")
}

/// `<rootDir>/pods/<uid>/etc-hosts`.
pub fn hosts_path(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("etc-hosts")
}

/// `<rootDir>/pods/<uid>/resolv.conf`.
pub fn resolv_conf_path(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("resolv.conf")
}

/// `<rootDir>/cni-cache`.
pub fn cni_cache_dir(root_dir: &Path) -> PathBuf {
    root_dir.join("cni-cache")
}

/// `<runDir>/netns/<uid>`.
pub fn netns_pin_path(run_dir: &Path, uid: &str) -> PathBuf {
    run_dir.join("netns").join(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let r = Path::new("/var/lib/nodelet");
        assert_eq!(
            sandbox_bundle_dir(r, "u1"),
            Path::new("/var/lib/nodelet/pods/u1/sandbox")
        );
        assert_eq!(
            netns_pin_path(Path::new("/run/nodelet"), "u1"),
            Path::new("/run/nodelet/netns/u1")
        );
    }
}
