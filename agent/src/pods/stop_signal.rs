//! The signal that stops a container (the kubelet's ContainerStopSignals, containerd's rule):
//! `lifecycle.stopSignal`, else the image's `StopSignal` (nginx-style images: SIGQUIT), else
//! SIGTERM. Decided when an instance is created and kept in its bundle as `stop-signal` only
//! when it is not SIGTERM, so stopping a container without one reads nothing more than the
//! absent file.

use std::path::Path;

use crate::sandbox::paths;

const FILE: &str = "stop-signal";

/// A signal by name (`SIGQUIT`, `QUIT`, `SIGRTMIN+3`) or number, as Docker images and
/// Kubernetes write them.
pub fn parse(s: &str) -> Result<i32, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(format!("unknown signal number {n}"))
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = |base: i32, off: &str, sign: i32| -> Result<i32, String> {
        let n: i32 = off.parse().map_err(|_| format!("unknown signal {s:?}"))?;
        let sig = base + sign * n;
        if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) {
            Ok(sig)
        } else {
            Err(format!("unknown signal {s:?}"))
        }
    };
    if let Some(off) = name.strip_prefix("RTMIN+") {
        return rt(libc::SIGRTMIN(), off, 1);
    }
    if let Some(off) = name.strip_prefix("RTMAX-") {
        return rt(libc::SIGRTMAX(), off, -1);
    }
    match name {
        "RTMIN" => return Ok(libc::SIGRTMIN()),
        "RTMAX" => return Ok(libc::SIGRTMAX()),
        _ => {}
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| format!("unknown signal {s:?}"))
}

/// `lifecycle.stopSignal`, else the image's `StopSignal`, else SIGTERM. A signal that cannot be
/// parsed is an error naming where it came from.
pub fn decide(lifecycle: Option<&str>, image: Option<&str>) -> Result<i32, String> {
    if let Some(s) = lifecycle {
        return parse(s).map_err(|e| format!("lifecycle.stopSignal: {e}"));
    }
    match image.filter(|s| !s.trim().is_empty()) {
        Some(s) => parse(s).map_err(|e| format!("image StopSignal: {e}")),
        None => Ok(libc::SIGTERM),
    }
}

/// Keeps `sig` in the instance's bundle directory (nothing for SIGTERM).
pub fn record(bundle: &Path, sig: i32) -> std::io::Result<()> {
    if sig == libc::SIGTERM {
        return Ok(());
    }
    std::fs::write(bundle.join(FILE), sig.to_string())
}

/// Decides and records the stop signal of container `which` of `pod` whose image's run
/// configuration is `image`, in the new instance's `bundle`.
pub fn of_container(
    pod: &k8s_openapi::api::core::v1::Pod,
    which: crate::podspec::ContainerRef,
    image: Option<&nodelet_images::manifest::RunConfig>,
    bundle: &Path,
) -> Result<(), String> {
    let lifecycle = which
        .get(pod)
        .ok()
        .and_then(|c| c.lifecycle.as_ref())
        .and_then(|l| l.stop_signal.as_deref());
    let from_image = image.and_then(|c| c.stop_signal.as_deref());
    let sig = decide(lifecycle, from_image)?;
    record(bundle, sig).map_err(|e| format!("{}: {e}", bundle.join(FILE).display()))
}

/// The stop signal of instance `id` of pod `uid`: what [`record`] kept, else SIGTERM.
pub fn of_instance(root_dir: &Path, uid: &str, id: &str) -> i32 {
    std::fs::read_to_string(paths::container_bundle_dir(root_dir, uid, id).join(FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(libc::SIGTERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_precedence() {
        assert_eq!(parse("SIGQUIT"), Ok(libc::SIGQUIT));
        assert_eq!(parse("quit"), Ok(libc::SIGQUIT));
        assert_eq!(parse("3"), Ok(3));
        assert_eq!(parse("SIGRTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse("SIGRTMAX-2"), Ok(libc::SIGRTMAX() - 2));
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("99").is_err());
        assert_eq!(decide(None, None), Ok(libc::SIGTERM));
        assert_eq!(decide(None, Some("SIGQUIT")), Ok(libc::SIGQUIT));
        assert_eq!(decide(Some("SIGUSR1"), Some("SIGQUIT")), Ok(libc::SIGUSR1));
        assert_eq!(
            decide(None, Some("SIGBOGUS")),
            Err("image StopSignal: unknown signal \"SIGBOGUS\"".into())
        );
    }

    #[test]
    fn kept_in_the_bundle_unless_sigterm() {
        let d = tempfile::tempdir().unwrap();
        let bundle = paths::container_bundle_dir(d.path(), "u", "c1");
        std::fs::create_dir_all(&bundle).unwrap();
        record(&bundle, libc::SIGTERM).unwrap();
        assert!(!bundle.join(FILE).exists());
        assert_eq!(of_instance(d.path(), "u", "c1"), libc::SIGTERM);
        record(&bundle, libc::SIGQUIT).unwrap();
        assert_eq!(of_instance(d.path(), "u", "c1"), libc::SIGQUIT);
    }
}
