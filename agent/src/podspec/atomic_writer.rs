//! The kubelet's AtomicWriter (`pkg/volume/util/atomic_writer.go`): a volume's files written
//! so that a reader never sees a mix of two versions. The payload goes into a fresh
//! `..<UTC timestamp>.<n>` directory; the `..data` symlink is then swapped to it with one
//! rename; each top-level name is a symlink `name -> ..data/name`; names no longer in the
//! payload and the previous timestamped directory are removed. A payload equal to what is on
//! disk (content, mode, owner) is not rewritten.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nodelet_objects::config_sources::{Payload, path_problem};

/// The symlink naming the current data directory.
pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// The mode a file or directory gets with `fsGroup` (the kubelet's `SetVolumeOwnership` of a
/// read-only volume: group-readable; directories setgid).
fn with_fs_group(mode: u32, dir: bool, fs_group: Option<u32>) -> u32 {
    match fs_group {
        None => mode,
        Some(_) if dir => mode | 0o440 | 0o2000,
        Some(_) => mode | 0o440,
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The top-level names of the payload's paths.
fn top_names(payload: &Payload) -> BTreeSet<&str> {
    payload.keys().filter_map(|p| p.split('/').next()).collect()
}

/// The current data directory's name (`..2026_12_07_11_00_57.1`), if any.
fn current(dir: &Path) -> Option<PathBuf> {
    std::fs::read_link(dir.join(DATA_DIR)).ok()
}

/// The files below `dir` as relative paths (directories left out).
fn files_below(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.file_type()?.is_dir() {
            files_below(&e.path(), &rel, out)?;
        } else {
            out.insert(rel);
        }
    }
    Ok(())
}

/// Whether the data directory `data` holds exactly `payload`, and every top-level name
/// links to it.
fn unchanged(dir: &Path, data: &Path, payload: &Payload, fs_group: Option<u32>) -> bool {
    let mut on_disk = BTreeSet::new();
    if files_below(data, "", &mut on_disk).is_err()
        || !on_disk.iter().eq(payload.keys())
        || top_names(payload)
            .iter()
            .any(|n| std::fs::symlink_metadata(dir.join(n)).is_err())
    {
        return false;
    }
    payload.iter().all(|(path, f)| {
        let p = data.join(path);
        let (Ok(md), Ok(content)) = (std::fs::metadata(&p), std::fs::read(&p)) else {
            return false;
        };
        content == f.data
            && md.mode() & 0o7777 == with_fs_group(f.mode, false, fs_group)
            && f.user.is_none_or(|u| md.uid() == u)
            && fs_group.is_none_or(|g| md.gid() == g)
    })
}

fn chown(path: &Path, user: Option<u32>, group: Option<u32>) -> io::Result<()> {
    if user.is_none() && group.is_none() {
        return Ok(());
    }
    nix::unistd::chown(
        path,
        user.map(nix::unistd::Uid::from_raw),
        group.map(nix::unistd::Gid::from_raw),
    )
    .map_err(io::Error::from)
}

/// A new, empty data directory in `dir`.
fn new_data_dir(dir: &Path) -> io::Result<(String, PathBuf)> {
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("..%Y_%m_%d_%H_%M_%S").to_string();
    for n in now.subsec_nanosecond()..now.subsec_nanosecond().saturating_add(1000) {
        let name = format!("{stamp}.{n}");
        let p = dir.join(&name);
        match std::fs::DirBuilder::new().mode(0o755).create(&p) {
            Ok(()) => return Ok((name, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free data directory name in {}", dir.display()),
    ))
}

fn write_payload(data: &Path, payload: &Payload, fs_group: Option<u32>) -> io::Result<()> {
    let dir_mode = with_fs_group(0o755, true, fs_group);
    for (path, f) in payload {
        let file = data.join(path);
        if let Some(parent) = file.parent() {
            let mut missing = vec![];
            let mut p = parent;
            while p != data && !p.exists() {
                missing.push(p.to_path_buf());
                p = p.parent().unwrap_or(data);
            }
            for d in missing.iter().rev() {
                std::fs::DirBuilder::new().mode(0o755).create(d)?;
                chown(d, None, fs_group)?;
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(dir_mode))?;
            }
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut w| io::Write::write_all(&mut w, &f.data))?;
        chown(&file, f.user, fs_group)?;
        // Explicitly: the umask does not apply, setuid/setgid bits survive the chown.
        std::fs::set_permissions(
            &file,
            std::fs::Permissions::from_mode(with_fs_group(f.mode, false, fs_group)),
        )?;
    }
    chown(data, None, fs_group)?;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(dir_mode))
}

/// Writes `payload` into `dir` (which must exist). Returns false when the files on disk were
/// already the payload (nothing written).
pub fn write(dir: &Path, payload: &Payload, fs_group: Option<u32>) -> io::Result<bool> {
    for path in payload.keys() {
        if let Some(p) = path_problem(path) {
            return Err(invalid(format!("invalid path {path:?}: {p}")));
        }
    }
    let old = current(dir);
    if let Some(old) = &old
        && unchanged(dir, &dir.join(old), payload, fs_group)
    {
        return Ok(false);
    }
    let (name, data) = new_data_dir(dir)?;
    if let Err(e) = write_payload(&data, payload, fs_group) {
        let _ = std::fs::remove_dir_all(&data);
        return Err(e);
    }
    let names = top_names(payload);
    for n in &names {
        let link = dir.join(n);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_DIR).join(n), &link)?;
        }
    }
    // The swap: a new symlink renamed over the old one.
    let tmp = dir.join(DATA_DIR_TMP);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA_DIR))?;
    // Names of the old payload that the new one lacks; the old data directory, and any a
    // write cut short (an agent killed mid-write) left.
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        if !n.starts_with("..") && t.is_symlink() && !names.contains(n.as_str()) {
            std::fs::remove_file(e.path())?;
        } else if n.starts_with("..") && t.is_dir() && n != name {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodelet_objects::config_sources::FileProjection;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                        user: None,
                    },
                )
            })
            .collect()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..2"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_swaps_and_cleans_up() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let p1 = payload(&[("a", "1", 0o644), ("conf/b", "2", 0o400)]);
        assert!(write(dir, &p1, None).unwrap());
        assert_eq!(entries(dir), ["..data", "a", "conf"]);
        assert_eq!(
            std::fs::read_link(dir.join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(std::fs::read_to_string(dir.join("conf/b")).unwrap(), "2");
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("a"), 0o644);
        assert_eq!(mode("conf/b"), 0o400);
        let first = current(dir).unwrap();
        assert!(first.to_string_lossy().starts_with("..20"), "{first:?}");

        // Unchanged: nothing written, same data directory.
        assert!(!write(dir, &p1, None).unwrap());
        assert_eq!(current(dir).unwrap(), first);

        // Changed: a new data directory, the old one gone, a dropped name unlinked.
        let p2 = payload(&[("a", "one", 0o600), ("c", "3", 0o644)]);
        assert!(write(dir, &p2, None).unwrap());
        let second = current(dir).unwrap();
        assert_ne!(second, first);
        assert!(!dir.join(&first).exists());
        assert_eq!(entries(dir), ["..data", "a", "c"]);
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "one");
        assert_eq!(mode("a"), 0o600);
        // A mode change alone is a change.
        let p3 = payload(&[("a", "one", 0o640), ("c", "3", 0o644)]);
        assert!(write(dir, &p3, None).unwrap());
        assert_eq!(mode("a"), 0o640);
        // Empty payload (an optional object that is gone): only `..data`.
        assert!(write(dir, &Payload::new(), None).unwrap());
        assert_eq!(entries(dir), ["..data"]);
        // A file opened before an update keeps its content (subPath mounts rely on it).
        assert!(write(dir, &p1, None).unwrap());
        let held = std::fs::File::open(dir.join("a")).unwrap();
        assert!(write(dir, &p2, None).unwrap());
        assert_eq!(std::io::read_to_string(held).unwrap(), "1");
        // What a write cut short left (a data directory, the temporary link) goes with the
        // next write.
        std::fs::create_dir(dir.join("..2026_01_01_00_00_00.1")).unwrap();
        std::os::unix::fs::symlink("..2026_01_01_00_00_00.1", dir.join(DATA_DIR_TMP)).unwrap();
        assert!(write(dir, &p1, None).unwrap());
        let dirs: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".."))
            .collect();
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        assert!(dirs.contains(&DATA_DIR.to_string()), "{dirs:?}");
    }

    #[test]
    fn refuses_paths_out_of_the_volume() {
        let t = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/x", "..data"] {
            let e = write(t.path(), &payload(&[(bad, "x", 0o644)]), None).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        assert_eq!(entries(t.path()), Vec::<String>::new());
    }

    #[test]
    fn fs_group_makes_files_group_readable() {
        let t = tempfile::tempdir().unwrap();
        let gid = nix::unistd::getegid().as_raw();
        assert!(write(t.path(), &payload(&[("a", "1", 0o600)]), Some(gid)).unwrap());
        let md = std::fs::metadata(t.path().join("a")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o640);
        assert_eq!(md.gid(), gid);
        assert!(!write(t.path(), &payload(&[("a", "1", 0o600)]), Some(gid)).unwrap());
    }
}
