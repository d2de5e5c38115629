//! Layer unpacking on the real filesystem: formats, file kinds and metadata, whiteouts,
//! and hostile layers rejected with nothing written outside.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::*;
use nodelet_images::ImageError;
use nodelet_images::unpack::unpack_layer;

fn unpack(
    blob: &[u8],
) -> (
    tempfile::TempDir,
    Result<nodelet_images::unpack::Unpacked, ImageError>,
) {
    let d = tempfile::tempdir().unwrap();
    let r = unpack_layer(blob, &d.path().join("layer").tap_mkdir(), "test-layer");
    (d, r)
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir(&self).unwrap();
        self
    }
}

fn sample() -> Vec<u8> {
    tar_of(&[
        E::Dir("./", 0o755),
        E::Dir("./usr/", 0o755),
        E::File("./usr/data", b"hello", 0o4750),
        E::Symlink("./usr/link", "/etc/shadow"),
        E::Hardlink("./usr/hard", "usr/data"),
        E::Char("./dev-null", 1, 3),
        E::Fifo("./fifo"),
        E::File("./implicit/parent/file", b"x", 0o600),
        E::File("./usr/data2", b"first", 0o644),
        E::File("./usr/data2", b"second", 0o644),
    ])
}

fn check_sample(root: &std::path::Path) {
    let data = root.join("usr/data");
    assert_eq!(std::fs::read(&data).unwrap(), b"hello");
    let m = data.symlink_metadata().unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4750);
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!((m.uid(), m.gid()), (0, 0));
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        root.join("usr/hard").symlink_metadata().unwrap().ino(),
        m.ino()
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/link")).unwrap().to_str(),
        Some("/etc/shadow")
    );
    let dev = root.join("dev-null").symlink_metadata().unwrap();
    assert!(dev.file_type().is_char_device());
    assert_eq!(dev.rdev(), nix::sys::stat::makedev(1, 3));
    assert!(
        root.join("fifo")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        std::fs::read(root.join("implicit/parent/file")).unwrap(),
        b"x"
    );
    assert_eq!(std::fs::read(root.join("usr/data2")).unwrap(), b"second");
    assert_eq!(root.join("usr").metadata().unwrap().mtime(), 1_600_000_000);
}

#[test]
fn unpacks_plain_gzip_and_zstd_with_metadata() {
    let tar = sample();
    let want = sha(&tar);
    for blob in [tar.clone(), gzip(&tar), zstd(&tar)] {
        let (d, r) = unpack(&blob);
        let u = r.unwrap();
        assert_eq!(u.diff_id.as_str(), want);
        check_sample(&d.path().join("layer"));
    }
}

#[test]
fn pax_xattrs_are_applied() {
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.color", &b"blue"[..]),
        ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
    ])
    .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_path("f").unwrap();
    h.set_size(1);
    h.set_mode(0o640);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_cksum();
    b.append(&h, &b"z"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let (d, r) = unpack(&tar);
    r.unwrap();
    let f = d.path().join("layer/f");
    let m = f.symlink_metadata().unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    let v = xattr_get(&f, "user.color");
    assert_eq!(v.as_deref(), Some(&b"blue"[..]));
    assert_eq!(
        xattr_get(&f, "trusted.overlay.redirect"),
        None,
        "overlay xattrs from a layer must be ignored"
    );
}

fn xattr_get(p: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let tar = tar_of(&[
        E::Dir("a/", 0o755),
        E::File("a/.wh.gone", b"", 0o644),
        E::File("c/.wh..wh..opq", b"", 0o644),
    ]);
    let (d, r) = unpack(&tar);
    r.unwrap();
    let wh = d.path().join("layer/a/gone").symlink_metadata().unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!d.path().join("layer/a/.wh.gone").exists());
    assert_eq!(
        xattr_get(&d.path().join("layer/c"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
}

#[test]
fn hostile_layers_are_rejected_and_nothing_escapes() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", tar_of(&[E::File("../escape", b"x", 0o644)])),
        (
            "nested dotdot",
            tar_of(&[E::Dir("a/", 0o755), E::File("a/../../escape", b"x", 0o644)]),
        ),
        ("absolute", tar_of(&[E::File("/escape", b"x", 0o644)])),
        (
            "symlink dir then write",
            tar_of(&[
                E::Symlink("evil", "../.."),
                E::File("evil/escape", b"x", 0o644),
            ]),
        ),
        (
            "absolute symlink then write",
            tar_of(&[
                E::Symlink("evil", "/"),
                E::File("evil/tmp/escape", b"x", 0o644),
            ]),
        ),
        (
            "hardlink outside",
            tar_of(&[E::Hardlink("h", "../outside-target")]),
        ),
        (
            "hardlink through symlink",
            tar_of(&[E::Symlink("s", "/etc"), E::Hardlink("h", "s/passwd")]),
        ),
        ("whiteout dotdot", tar_of(&[E::File(".wh...", b"", 0o644)])),
    ];
    for (name, tar) in cases {
        let d = tempfile::tempdir().unwrap();
        // "outside" is the parent of the layer dir; a sentinel target lives there.
        let outside = d.path().join("x");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("outside-target"), b"secret").unwrap();
        let layer = outside.join("y").join("layer");
        std::fs::create_dir_all(&layer).unwrap();
        let err = unpack_layer(&gzip(&tar)[..], &layer, "hostile").expect_err(name);
        assert!(
            matches!(err, ImageError::HostileLayer { .. }),
            "{name}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("hostile") && msg.contains("hostile entry"),
            "{name}: {msg}"
        );
        let mut all = read_tree(d.path());
        all.retain(|p| !p.starts_with("x/y/layer/"));
        assert_eq!(
            all,
            vec!["x/", "x/outside-target", "x/y/"],
            "{name}: wrote outside"
        );
        assert!(
            !std::path::Path::new("/escape").exists()
                && !std::path::Path::new("/tmp/escape").exists()
        );
        assert_eq!(
            std::fs::read(outside.join("outside-target")).unwrap(),
            b"secret"
        );
    }
}

#[test]
fn corrupt_streams_give_clear_errors() {
    let (_d, r) = unpack(&[0x1f, 0x8b, 8, 0, 1, 2, 3]);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("test-layer"), "{e}");
    let (_d, r) = unpack(b"this is not a tar archive at all, just some text that is long enough..........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................");
    assert!(r.is_err());
}
