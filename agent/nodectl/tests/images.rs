//! `nodectl` image commands end to end on a private root dir: import a `docker save` archive
//! built here from busybox, list it, remove it, prune.

use std::process::Command;

// The busybox `docker save` archive the agent's tests build too.
#[path = "../../tests/common/mod.rs"]
mod common;

fn nodectl(root: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nodectl"))
        .arg("--root-dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn import_list_remove() {
    nodelet_testkit::require_root("image store under a temp root, mounts");
    let t = tempfile::tempdir().unwrap();
    let archive = common::busybox_archive("demo/busybox:1.0");
    let file = t.path().join("busybox.tar");
    std::fs::write(&file, archive).unwrap();
    let root = t.path().join("root");

    let (ok, out, err) = nodectl(&root, &["import", file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = nodectl(&root, &["images"]);
    assert!(ok, "{err}");
    let header = out.lines().next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"] {
        assert!(header.contains(col), "{out}");
    }
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(2)
            .eq(["demo/busybox", "1.0"]),
        "{out}"
    );
    let (ok, _, err) = nodectl(&root, &["rmi", "demo/busybox:1.0"]);
    assert!(ok, "{err}");
    let (_, out, _) = nodectl(&root, &["images", "--quiet"]);
    assert_eq!(out.trim(), "", "{out}");
    let (ok, _, err) = nodectl(&root, &["image", "prune", "--all"]);
    assert!(ok, "{err}");
    let (ok, _, err) = nodectl(&root, &["rmi", "nope:1"]);
    assert!(!ok);
    assert!(
        err.contains("\"nope:1\" is not in the image store"),
        "{err}"
    );
    assert_eq!(
        nodectl(&root, &["version"]).1.trim(),
        format!("nodectl {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A reader that goes away (`nodectl images | head -1`) ends nodectl quietly, no panic.
#[test]
fn closed_pipe_is_not_a_panic() {
    use std::process::Stdio;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let file = t.path().join("busybox.tar");
    std::fs::write(&file, common::busybox_archive("demo/busybox:1.0")).unwrap();
    let (ok, out, err) = nodectl(&root, &["import", file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodectl"))
        .arg("--root-dir")
        .arg(&root)
        .arg("images")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing: the pipe has no reader by the time nodectl writes.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}
