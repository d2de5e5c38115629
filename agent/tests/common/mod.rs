//! Test support shared by the agent's tests: a `docker save` archive of an image holding only
//! the host's busybox-static (built here, no registry needed).

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

/// A `docker save` archive tagged `tag`: one layer with /bin/busybox, `Cmd` busybox sh,
/// `PATH=/bin`, for the host's architecture.
pub fn busybox_archive(tag: &str) -> Vec<u8> {
    busybox_archive_with(tag, &[])
}

/// [`busybox_archive`] with more keys in the image's `config` (e.g. `StopSignal`).
pub fn busybox_archive_with(tag: &str, config: &[(&str, serde_json::Value)]) -> Vec<u8> {
    archive(tag, config, 0)
}

/// [`busybox_archive`] whose layer also holds `/pad`, `pad` zero bytes (an image of a size
/// the test chooses, sharing no layer with the others).
#[allow(dead_code)]
pub fn busybox_archive_padded(tag: &str, pad: usize) -> Vec<u8> {
    archive(tag, &[], pad)
}

fn archive(tag: &str, config: &[(&str, serde_json::Value)], pad: usize) -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let zeros = vec![0u8; pad];
    let mut files: Vec<(&str, &[u8], u32)> = vec![("bin/busybox", &busybox, 0o755)];
    if pad > 0 {
        files.push(("pad", &zeros, 0o644));
    }
    let layer = tar_of(&files);
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let mut run = serde_json::json!({"Cmd": ["/bin/busybox", "sh"], "Env": ["PATH=/bin"]});
    for (k, v) in config {
        run[*k] = v.clone();
    }
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]}
    }))
    .unwrap();
    let cfg_name = format!("{}.json", sha(&cfg));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": [tag], "Layers": ["l1/layer.tar"]}
    ]))
    .unwrap();
    tar_of(&[
        (&cfg_name, &cfg, 0o644),
        ("l1/layer.tar", &layer, 0o644),
        ("manifest.json", &manifest, 0o644),
    ])
}
