//! Resolving container paths (mount destinations, devices, masked paths, cwd) against the
//! rootfs on the host without ever leaving it: symlinks are followed the way the container
//! would see them (absolute targets start again at the rootfs), and a path that climbs out of
//! the rootfs with `..` — written in the path or hidden in a relative symlink — is an error.

use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

const MAX_SYMLINKS: usize = 40;

/// What to create for a missing final component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    Nothing,
    Dir,
    File,
}

/// Resolve `path` (absolute, as seen in the container) below `rootfs`, creating missing
/// directories (and the final component as `create` says). Returns the host path.
pub fn resolve(rootfs: &Path, path: &Path, create: Create) -> Result<PathBuf, String> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components_rev(path);
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            if resolved.pop().is_none() {
                return Err(format!(
                    "{} escapes the container's root through '..'",
                    path.display()
                ));
            }
            continue;
        }
        let mut host = rootfs.to_path_buf();
        host.extend(&resolved);
        host.push(&comp);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(format!(
                        "{}: too many levels of symbolic links",
                        path.display()
                    ));
                }
                let target = std::fs::read_link(&host)
                    .map_err(|e| format!("{}: readlink {}: {e}", path.display(), host.display()))?;
                if target.is_absolute() {
                    resolved.clear();
                } else {
                    // A relative link may not climb above the root.
                    let mut depth = resolved.len() as i64;
                    for c in target.components() {
                        match c {
                            Component::ParentDir => depth -= 1,
                            Component::Normal(_) => depth += 1,
                            _ => {}
                        }
                        if depth < 0 {
                            return Err(format!(
                                "{} escapes the container's root through the symlink {} -> {}",
                                path.display(),
                                display_rel(&resolved, &comp),
                                target.display()
                            ));
                        }
                    }
                }
                pending.extend(components_rev(&target));
            }
            Ok(m) => {
                if !pending.is_empty() && !m.is_dir() {
                    return Err(format!(
                        "{}: {} is not a directory",
                        path.display(),
                        host.display()
                    ));
                }
                resolved.push(comp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let last = pending.is_empty();
                match (last, create) {
                    (_, Create::Nothing) => {
                        return Err(format!(
                            "{}: {} does not exist",
                            path.display(),
                            host.display()
                        ));
                    }
                    (true, Create::File) => {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .custom_flags(libc::O_NOFOLLOW)
                            .mode(0o644)
                            .open(&host)
                            .map_err(|e| format!("create {}: {e}", host.display()))?;
                    }
                    _ => {
                        std::fs::create_dir(&host)
                            .or_else(|e| {
                                if e.kind() == std::io::ErrorKind::AlreadyExists {
                                    Ok(())
                                } else {
                                    Err(e)
                                }
                            })
                            .map_err(|e| format!("mkdir {}: {e}", host.display()))?;
                    }
                }
                resolved.push(comp);
            }
            Err(e) => return Err(format!("{}: {}: {e}", path.display(), host.display())),
        }
    }
    let mut host = rootfs.to_path_buf();
    host.extend(&resolved);
    Ok(host)
}

fn display_rel(resolved: &[OsString], comp: &OsString) -> String {
    let mut p = PathBuf::from("/");
    p.extend(resolved);
    p.push(comp);
    p.display().to_string()
}

fn components_rev(p: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_and_rejects() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("run")).unwrap();
        std::fs::create_dir_all(r.join("var")).unwrap();
        symlink("/run", r.join("var/run")).unwrap();
        symlink("../run", r.join("var/rel")).unwrap();
        symlink("../../../../etc", r.join("evil")).unwrap();
        assert_eq!(
            resolve(r, Path::new("/var/run/x"), Create::Dir).unwrap(),
            r.join("run/x")
        );
        assert!(r.join("run/x").is_dir());
        assert_eq!(
            resolve(r, Path::new("/var/rel/y"), Create::File).unwrap(),
            r.join("run/y")
        );
        assert!(r.join("run/y").is_file());
        let e = resolve(r, Path::new("/evil/passwd"), Create::File).unwrap_err();
        assert!(
            e.contains("escapes the container's root through the symlink /evil"),
            "{e}"
        );
        let e = resolve(r, Path::new("/a/../../b"), Create::Dir).unwrap_err();
        assert!(e.contains("escapes"), "{e}");
        assert!(!r.join("a").exists() || r.join("a").is_dir());
        assert!(resolve(r, Path::new("/missing"), Create::Nothing).is_err());
    }
}
