//! `nodectl` image commands end to end on a private root dir: import a `docker save` archive
//! built here from busybox, list it, remove it, prune.

use std::process::Command;

use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

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
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let layer = tar_of(&[("bin/busybox", &busybox, 0o755)]);
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]}
    }))
    .unwrap();
    let cfg_name = format!("{}.json", sha(&cfg));
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": cfg_name, "RepoTags": ["demo/busybox:1.0"], "Layers": ["l1/layer.tar"]}])).unwrap();
    let archive = tar_of(&[
        (&cfg_name, &cfg, 0o644),
        ("l1/layer.tar", &layer, 0o644),
        ("manifest.json", &manifest, 0o644),
    ]);
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
