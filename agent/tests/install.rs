//! scripts/install.sh, staged into a temp dir (`--destdir`) with this build's binaries: every
//! file lands where the unit and the defaults expect it, the configuration it writes is one
//! nodelet accepts, an existing configuration is never overwritten, and bad options are
//! refused with a message naming them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn install(args: &[&str]) -> Output {
    Command::new(repo().join("scripts/install.sh"))
        .args(args)
        .output()
        .unwrap()
}

fn staged(dest: &Path, prefix: &str) -> Output {
    let bins = bin_dir();
    for b in ["nodenet", "noderun", "nodelet-shim", "nodelet-pause"] {
        assert!(
            bins.join(b).exists(),
            "{b} missing in {}: run `cargo build --workspace` first",
            bins.display()
        );
    }
    install(&[
        "--destdir",
        dest.to_str().unwrap(),
        "--prefix",
        prefix,
        "--bin-dir",
        bins.to_str().unwrap(),
        "--subnet",
        "10.244.5.0/24",
    ])
}

#[test]
fn staged_install_puts_everything_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = staged(d, "/opt/nodelet");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for b in [
        "nodelet",
        "nodectl",
        "nodelet-shim",
        "nodelet-pause",
        "noderun",
    ] {
        let p = d.join("opt/nodelet/bin").join(b);
        let mode = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{}", p.display());
    }
    assert!(d.join("opt/cni/bin/nodenet").is_file());
    assert!(d.join("etc/kubernetes/manifests").is_dir());

    // The unit starts the installed binary and keeps the properties pods rely on.
    let unit = std::fs::read_to_string(d.join("etc/systemd/system/nodelet.service")).unwrap();
    for line in [
        "ExecStart=/opt/nodelet/bin/nodelet",
        "Type=notify",
        "Delegate=yes",
        "KillMode=process",
        "Restart=always",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line:?} not in:\n{unit}");
    }

    // The configuration is one nodelet loads, with the documented defaults.
    let conf = d.join("etc/nodelet/config.yaml");
    let flags = nodelet::config::ConfigFlags {
        config: Some(conf.clone()),
        ..Default::default()
    };
    let cfg = nodelet::config::Config::load(&flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.static_pod_path,
        PathBuf::from("/etc/kubernetes/manifests")
    );
    assert_eq!(cfg.cni_bin_dir, PathBuf::from("/opt/cni/bin"));
    assert_eq!(cfg.max_pods, 110);
    assert_eq!(
        cfg.cgroup_driver,
        nodelet::config::CgroupDriver::Systemd,
        "the packaged configuration has the systemd cgroup driver"
    );

    // The CNI configuration names nodenet with the subnet asked for and its first address
    // as the gateway.
    let net: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.join("etc/cni/net.d/10-nodenet.conflist")).unwrap(),
    )
    .unwrap();
    assert_eq!(net["plugins"][0]["type"], "nodenet");
    assert_eq!(net["plugins"][0]["subnet"], "10.244.5.0/24");
    assert_eq!(net["plugins"][0]["gateway"], "10.244.5.1");

    // A second install keeps an edited configuration and replaces the binaries.
    std::fs::write(
        &conf,
        "apiVersion: nodelet.io/v1alpha1\nkind: NodeletConfiguration\nmaxPods: 7\n",
    )
    .unwrap();
    let out = staged(d, "/opt/nodelet");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("/etc/nodelet/config.yaml (kept"));
    assert!(
        std::fs::read_to_string(&conf)
            .unwrap()
            .contains("maxPods: 7")
    );
}

#[test]
fn bad_options_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().to_str().unwrap();
    for (args, want) in [
        (
            vec!["--destdir", dest, "--subnet", "10.0.0.0"],
            "--subnet: 10.0.0.0",
        ),
        (
            vec!["--destdir", dest, "--prefix", "usr"],
            "--prefix must be absolute",
        ),
        (
            vec!["--destdir", dest, "--frobnicate"],
            "unknown option --frobnicate",
        ),
        (
            vec!["--destdir", dest, "--bin-dir", "/nonexistent"],
            "/nonexistent/nodelet missing",
        ),
    ] {
        let out = install(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "wrote files"
    );
}
