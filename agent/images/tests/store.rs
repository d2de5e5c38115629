//! Store behaviour without a registry: offline import (docker save and OCI layout archives),
//! whiteouts and opaque dirs in a mounted overlay rootfs, crash cleanup, GC and prune.

mod common;

use std::path::Path;

use common::*;
use nodelet_images::{Platform, Store};

fn tar_files(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<E> = files.iter().map(|(n, d)| E::File(n, d, 0o644)).collect();
    tar_of(&entries)
}

fn lower() -> Vec<u8> {
    let bb = busybox();
    tar_of(&[
        E::Dir("bin/", 0o755),
        E::File("bin/busybox", &bb, 0o755),
        E::Symlink("bin/sh", "busybox"),
        E::Dir("a/", 0o755),
        E::File("a/keep", b"k", 0o644),
        E::File("a/drop", b"d", 0o644),
        E::File("b", b"b", 0o644),
        E::Dir("c/", 0o755),
        E::File("c/old1", b"1", 0o644),
        E::Dir("c/sub/", 0o755),
        E::File("c/sub/old2", b"2", 0o644),
    ])
}

fn upper() -> Vec<u8> {
    tar_of(&[
        E::File("a/.wh.drop", b"", 0o644),
        E::File(".wh.b", b"", 0o644),
        E::Dir("c/", 0o755),
        E::File("c/.wh..wh..opq", b"", 0o644),
        E::File("c/new", b"n", 0o644),
    ])
}

/// A `docker save`-format archive: manifest.json + config + layer tars in <id>/layer.tar.
fn docker_save(tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = layers.iter().map(|l| l.as_slice()).collect();
    let cfg = config_json(
        host_arch(),
        &refs,
        serde_json::json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"]}),
    );
    let cfg_name = format!("{}.json", &sha(&cfg)[7..]);
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", &sha(l)[7..19]))
        .collect();
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": layer_names}]);
    let mjson = serde_json::to_vec(&manifest).unwrap();
    let mut files: Vec<(&str, &[u8])> = vec![(cfg_name.as_str(), &cfg)];
    for (n, l) in layer_names.iter().zip(layers) {
        files.push((n.as_str(), l));
    }
    files.push(("manifest.json", &mjson));
    tar_files(&files)
}

/// An OCI image layout archive with one gzip and one zstd layer, named by annotation.
fn oci_layout(name: &str, layers: &[Vec<u8>]) -> (Vec<u8>, String) {
    let refs: Vec<&[u8]> = layers.iter().map(|l| l.as_slice()).collect();
    let cfg = config_json(host_arch(), &refs, serde_json::json!({}));
    let blobs: Vec<Vec<u8>> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| if i % 2 == 0 { gzip(l) } else { zstd(l) })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&cfg), "size": cfg.len()},
        "layers": blobs.iter().enumerate().map(|(i, b)| serde_json::json!({
            "mediaType": if i % 2 == 0 { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar+zstd" },
            "digest": sha(b), "size": b.len()})).collect::<Vec<_>>(),
    });
    let mbody = serde_json::to_vec(&manifest).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&mbody), "size": mbody.len(),
        "annotations": {"org.opencontainers.image.ref.name": name}}]});
    let ijson = serde_json::to_vec(&index).unwrap();
    let mut names = vec![
        format!("blobs/sha256/{}", &sha(&cfg)[7..]),
        format!("blobs/sha256/{}", &sha(&mbody)[7..]),
    ];
    let mut datas: Vec<&[u8]> = vec![&cfg, &mbody];
    for b in &blobs {
        names.push(format!("blobs/sha256/{}", &sha(b)[7..]));
        datas.push(b);
    }
    let mut files: Vec<(&str, &[u8])> = vec![
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &ijson),
    ];
    for (n, d) in names.iter().zip(datas) {
        files.push((n.as_str(), d));
    }
    (tar_files(&files), sha(&cfg))
}

struct RootfsGuard<'a>(&'a Store, &'a str);
impl Drop for RootfsGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove_rootfs(self.1);
    }
}

#[test]
fn docker_save_import_and_overlay_whiteouts() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let archive = root.path().join("../save.tar");
    let arch = tempfile::NamedTempFile::new().unwrap();
    let _ = archive;
    std::fs::write(
        arch.path(),
        docker_save("example.com/wh:1", &[lower(), upper()]),
    )
    .unwrap();
    let recs =
        nodelet_images::import::import_archive(&store, arch.path(), &Platform::host()).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].repo_tags, vec!["example.com/wh:1".to_string()]);
    let img = store.find_image("example.com/wh:1").unwrap().unwrap();

    let _g = RootfsGuard(&store, "ctr-1");
    let rootfs = store.create_rootfs("ctr-1", &img).unwrap();
    let _m = MountGuard(rootfs.clone());
    let tree = read_tree(&rootfs);
    assert_eq!(
        tree,
        vec![
            "a/",
            "a/keep",
            "bin/",
            "bin/busybox",
            "bin/sh",
            "c/",
            "c/new"
        ],
        "merged tree"
    );
    // Writes go to the container's upper dir, never to the shared layers.
    std::fs::write(rootfs.join("a/keep"), b"changed").unwrap();
    assert_eq!(
        std::fs::read(store.layer_dir(&img.layers[0].diff_id).join("a/keep")).unwrap(),
        b"k"
    );
    // The image is in use: rmi refuses, prune --all keeps it.
    let e = store.remove_image("example.com/wh:1").unwrap_err();
    assert!(
        e.to_string().contains("in use by container(s) ctr-1"),
        "{e}"
    );
    assert!(store.prune(true).unwrap().images.is_empty());
    // A second container shares the layers.
    let _g2 = RootfsGuard(&store, "ctr-2");
    let rootfs2 = store.create_rootfs("ctr-2", &img).unwrap();
    let _m2 = MountGuard(rootfs2.clone());
    assert_eq!(std::fs::read(rootfs2.join("a/keep")).unwrap(), b"k");

    store.remove_rootfs("ctr-1").unwrap();
    store.remove_rootfs("ctr-2").unwrap();
    assert!(!root.path().join("containers/ctr-1").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root.path().display().to_string()),
        "overlay left mounted"
    );
    assert!(store.create_rootfs("../x", &img).is_err());
}

#[test]
fn overlay_with_many_layers() {
    // 40 layers with long store paths would overflow a one-page lowerdir= option string.
    let root = tempfile::tempdir().unwrap();
    let deep = root
        .path()
        .join("a-rather-long-directory-name-to-make-the-paths-longer".repeat(2));
    let store = Store::open(&deep).unwrap();
    let layers: Vec<Vec<u8>> = (0..40)
        .map(|i| tar_files(&[(&format!("f{i}"), format!("{i}").as_bytes())]))
        .collect();
    let arch = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(arch.path(), docker_save("many:1", &layers)).unwrap();
    let img = nodelet_images::import::import_archive(&store, arch.path(), &Platform::host())
        .unwrap()
        .remove(0);
    assert_eq!(img.repo_tags, vec!["docker.io/library/many:1".to_string()]);
    let _g = RootfsGuard(&store, "many");
    let rootfs = store.create_rootfs("many", &img).unwrap();
    let _m = MountGuard(rootfs.clone());
    for i in 0..40 {
        assert_eq!(
            std::fs::read_to_string(rootfs.join(format!("f{i}"))).unwrap(),
            i.to_string()
        );
    }
}

#[test]
fn oci_layout_import_gzip_and_zstd() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let (archive, cfg) = oci_layout("registry.local:5000/team/app:3", &[lower(), upper()]);
    let f = tempfile::NamedTempFile::new().unwrap();
    // Compressed archives are accepted too.
    std::fs::write(f.path(), gzip(&archive)).unwrap();
    let recs = nodelet_images::import::import_archive(&store, f.path(), &Platform::host()).unwrap();
    assert_eq!(recs[0].id.as_str(), cfg);
    assert_eq!(
        recs[0].repo_tags,
        vec!["registry.local:5000/team/app:3".to_string()]
    );
    assert!(
        store
            .find_image("registry.local:5000/team/app:3")
            .unwrap()
            .is_some()
    );
    // Importing again is idempotent.
    let again =
        nodelet_images::import::import_archive(&store, f.path(), &Platform::host()).unwrap();
    assert_eq!(again[0].id, recs[0].id);
    assert_eq!(store.list_images().unwrap().len(), 1);

    // A blob that does not match its name is refused.
    let small = tar_files(&[("only", b"content")]);
    let (mut bad, _) = oci_layout("x:1", std::slice::from_ref(&small));
    let blob = gzip(&small);
    let pos = bad
        .windows(blob.len())
        .position(|w| w == blob.as_slice())
        .unwrap();
    bad[pos + blob.len() / 2] ^= 0xff;
    std::fs::write(f.path(), &bad).unwrap();
    let e =
        nodelet_images::import::import_archive(&store, f.path(), &Platform::host()).unwrap_err();
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert!(store.find_image("x:1").unwrap().is_none());
    std::fs::write(f.path(), b"garbage").unwrap();
    let e =
        nodelet_images::import::import_archive(&store, f.path(), &Platform::host()).unwrap_err();
    assert!(
        e.to_string().contains(&f.path().display().to_string()),
        "{e}"
    );
}

#[test]
fn crash_leftovers_are_cleaned_on_open() {
    let root = tempfile::tempdir().unwrap();
    drop(Store::open(root.path()).unwrap());
    let hex = "ab".repeat(32);
    std::fs::write(root.path().join("ingest").join(&hex), b"partial").unwrap();
    std::fs::create_dir_all(root.path().join("layers").join(format!(".tmp-{hex}/usr"))).unwrap();
    // A partial whose download is still running (lock held) stays.
    let busy = "cd".repeat(32);
    std::fs::write(root.path().join("ingest").join(&busy), b"partial").unwrap();
    let held = nodelet_images::lock::FileLock::acquire(
        &root.path().join("locks").join(format!("blob-{busy}.lock")),
    )
    .unwrap();
    let _store = Store::open(root.path()).unwrap();
    assert!(!root.path().join("ingest").join(&hex).exists());
    assert!(
        !root
            .path()
            .join("layers")
            .join(format!(".tmp-{hex}"))
            .exists()
    );
    assert!(root.path().join("ingest").join(&busy).exists());
    drop(held);
}

fn import_tagged(store: &Store, tag: &str, content: &str) -> nodelet_images::ImageRecord {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        docker_save(tag, &[tar_files(&[("f", content.as_bytes())])]),
    )
    .unwrap();
    nodelet_images::import::import_archive(store, f.path(), &Platform::host())
        .unwrap()
        .remove(0)
}

#[test]
fn gc_by_thresholds_removes_least_recently_used_unused_images() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let a = import_tagged(&store, "gc/a:1", "a");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = import_tagged(&store, "gc/b:1", "b");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let c = import_tagged(&store, "gc/c:1", "c");
    // c is used by a container; usage is modelled as 30% per image present.
    let _g = RootfsGuard(&store, "user");
    let rootfs = store.create_rootfs("user", &c).unwrap();
    let _m = MountGuard(rootfs);
    let usage = || Ok(30.0 * store.list_images().unwrap().len() as f64);
    // Below the high threshold nothing happens.
    let none = store.gc_with_usage(95, 80, usage).unwrap();
    assert!(none.images.is_empty());
    // 90% ≥ 85: remove LRU unused images until < 80 (one is enough: 60%).
    let rep = store.gc_with_usage(85, 80, usage).unwrap();
    assert_eq!(rep.images, vec![a.id.clone()]);
    assert!(rep.blobs >= 2 && rep.layers == 1, "{rep:?}");
    assert!(store.find_image("gc/b:1").unwrap().is_some());
    // Even a 0% low threshold never removes an image in use.
    let rep = store.gc_with_usage(10, 0, usage).unwrap();
    assert_eq!(rep.images, vec![b.id.clone()]);
    assert_eq!(store.list_images().unwrap().len(), 1);
    // The real statvfs probe works.
    let pct = store.disk_usage_percent().unwrap();
    assert!(pct > 0.0 && pct <= 100.0);
    assert!(store.gc_by_disk(100, 100).unwrap().images.is_empty() || pct >= 100.0);
}

#[test]
fn tags_move_and_prune_removes_dangling() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let one = import_tagged(&store, "t/app:1", "one");
    let two = import_tagged(&store, "t/app:1", "two");
    assert_ne!(one.id, two.id);
    let old = store.find_image(one.id.as_str()).unwrap().unwrap();
    assert!(old.repo_tags.is_empty(), "tag must move to the new image");
    let rep = store.prune(false).unwrap();
    assert_eq!(rep.images, vec![one.id.clone()]);
    assert_eq!(store.find_image("t/app:1").unwrap().unwrap().id, two.id);
    assert!(!Path::new(&store.layer_dir(&one.layers[0].diff_id)).exists());
    assert!(store.layer_dir(&two.layers[0].diff_id).exists());
}

#[test]
fn gc_waits_for_content_being_added() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    // A pull in progress holds the content guard: its blobs are not yet referenced by a record.
    let guard = store.content_guard().unwrap();
    let d = store
        .write_blob(b"downloaded but not yet recorded")
        .unwrap();
    let s2 = Store::open(root.path()).unwrap();
    let gc = std::thread::spawn(move || s2.prune(true).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!gc.is_finished(), "prune must wait for the pull");
    assert!(store.has_blob(&d));
    drop(guard);
    let rep = gc.join().unwrap();
    assert_eq!(rep.blobs, 1);
    assert!(!store.has_blob(&d));
}

#[test]
fn images_share_unpacked_layers_by_diff_id() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let base = lower();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        docker_save("share/a:1", &[base.clone(), tar_files(&[("a", b"a")])]),
    )
    .unwrap();
    let a = nodelet_images::import::import_archive(&store, f.path(), &Platform::host())
        .unwrap()
        .remove(0);
    std::fs::write(
        f.path(),
        docker_save("share/b:1", &[base.clone(), tar_files(&[("b", b"b")])]),
    )
    .unwrap();
    let b = nodelet_images::import::import_archive(&store, f.path(), &Platform::host())
        .unwrap()
        .remove(0);
    assert_ne!(a.id, b.id);
    assert_eq!(a.layers[0].diff_id, b.layers[0].diff_id);
    let layer_dirs = || {
        std::fs::read_dir(root.path().join("layers"))
            .unwrap()
            .count()
    };
    assert_eq!(layer_dirs(), 3, "the base layer is unpacked once");
    // Removing one image keeps the shared layer for the other.
    store.remove_image("share/a:1").unwrap();
    let rep = store.prune(false).unwrap();
    assert_eq!(rep.layers, 1);
    assert!(
        store
            .layer_dir(&b.layers[0].diff_id)
            .join("bin/busybox")
            .is_file()
    );
    assert_eq!(layer_dirs(), 2);
}

#[test]
fn prune_unused_keeps_young_and_used_images() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let old = import_tagged(&store, "age/old:1", "old");
    let used = import_tagged(&store, "age/used:1", "used");
    let _g = RootfsGuard(&store, "user");
    let rootfs = store.create_rootfs("user", &used).unwrap();
    let _m = MountGuard(rootfs);
    // Everything was imported just now: a minimum age of a minute keeps all.
    let rep = store
        .prune_unused(std::time::Duration::from_secs(60))
        .unwrap();
    assert!(rep.images.is_empty(), "{rep:?}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let young = import_tagged(&store, "age/young:1", "young");
    // Past 1 s: the old unused image goes; the young one and the one in use stay.
    let rep = store
        .prune_unused(std::time::Duration::from_secs(1))
        .unwrap();
    assert_eq!(rep.images, vec![old.id.clone()]);
    assert!(store.find_image(young.id.as_str()).unwrap().is_some());
    assert!(store.find_image(used.id.as_str()).unwrap().is_some());
    // GC by thresholds spares the young image too.
    let full = || Ok(100.0);
    let rep = store
        .gc_with_usage_aged(85, 80, std::time::Duration::from_secs(60), full)
        .unwrap();
    assert!(rep.images.is_empty(), "{rep:?}");
    let rep = store
        .gc_with_usage_aged(85, 80, std::time::Duration::ZERO, full)
        .unwrap();
    assert_eq!(rep.images, vec![young.id.clone()]);
}
