//! Applying one layer tar (gzip, zstd or uncompressed) into an empty directory, safely:
//! every path is resolved with `openat2(RESOLVE_BENEATH)` so nothing is written outside the
//! directory, `..`/absolute names and symlink or hardlink escapes are rejected, and OCI
//! whiteouts become overlayfs whiteouts (0/0 character devices, `trusted.overlay.opaque`).

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{
    AtFlags, Dev, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use crate::digest::{Digest, HashingReader};
use crate::error::{ImageError, IoContext, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// What unpacking a layer produced.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream (the OCI diffID).
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
}

/// Compression of a layer blob, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Decompresses `blob` (format detected from its magic bytes) into a plain tar stream.
pub fn decompress<'a, R: Read + 'a>(blob: R, layer: &str) -> Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(1 << 20, blob);
    let head = buf
        .fill_buf()
        .map_err(|e| bad(layer, "", format!("reading layer: {e}")))?;
    Ok(match detect(head) {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buf)
                .map_err(|e| bad(layer, "", format!("zstd: {e}")))?,
        ),
    })
}

fn hostile(layer: &str, entry: &str, reason: impl Into<String>) -> ImageError {
    ImageError::HostileLayer {
        layer: layer.to_string(),
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

fn bad(layer: &str, entry: &str, reason: impl Into<String>) -> ImageError {
    ImageError::BadLayer {
        layer: layer.to_string(),
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// Splits a tar entry name into its normal components, rejecting `..` and absolute names.
fn components(layer: &str, name: &Path) -> Result<Vec<String>> {
    let shown = name.to_string_lossy();
    let mut out = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(s) => out.push(
                s.to_str()
                    .ok_or_else(|| bad(layer, &shown, "name is not UTF-8"))?
                    .to_string(),
            ),
            Component::CurDir => {}
            Component::ParentDir => return Err(hostile(layer, &shown, "path contains '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(hostile(layer, &shown, "absolute path"));
            }
        }
    }
    Ok(out)
}

/// Unpacks a layer in one of the supported compressions into `dest` (an existing, empty
/// directory) and returns its diffID.
pub fn unpack_layer(blob: impl Read, dest: &Path, layer: &str) -> Result<Unpacked> {
    let tar = decompress(blob, layer)?;
    let mut hashing = HashingReader::new(tar);
    let size = apply_tar(&mut hashing, dest, layer)?;
    // Hash the tar's trailing padding too: the diffID covers the whole stream.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| bad(layer, "", format!("reading layer: {e}")))?;
    let (diff_id, _, _) = hashing.finish();
    Ok(Unpacked { diff_id, size })
}

struct Applier<'a> {
    root: OwnedFd,
    layer: &'a str,
    /// Directory mtimes, applied after all entries (creating children changes them).
    dir_times: Vec<(Vec<String>, Timestamps)>,
}

fn apply_tar(tar: impl Read, dest: &Path, layer: &str) -> Result<u64> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .at(dest)?;
    let mut ap = Applier {
        root,
        layer,
        dir_times: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar);
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| bad(layer, "", format!("not a tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(layer, "", format!("corrupt tar: {e}")))?;
        total += ap.apply_entry(&mut entry)?;
    }
    for (path, times) in std::mem::take(&mut ap.dir_times).into_iter().rev() {
        let shown = path.join("/");
        let fd = ap.open_dir(&path, &shown)?;
        rustix::fs::futimens(&fd, &times).map_err(|e| ap.errno(&shown, "set mtime", e))?;
    }
    Ok(total)
}

fn mode_of(h: &tar::Header) -> u32 {
    h.mode().unwrap_or(0o644) & 0o7777
}

impl Applier<'_> {
    fn errno(&self, entry: &str, what: &str, e: Errno) -> ImageError {
        if e == Errno::XDEV {
            hostile(
                self.layer,
                entry,
                format!("{what}: path escapes the layer through a symlink"),
            )
        } else if e == Errno::LOOP {
            hostile(self.layer, entry, format!("{what}: too many symlinks"))
        } else {
            bad(
                self.layer,
                entry,
                format!("{what}: {}", std::io::Error::from(e)),
            )
        }
    }

    /// Opens directory `path` below the root, never leaving it.
    fn open_dir(&self, path: &[String], shown: &str) -> Result<OwnedFd> {
        if path.is_empty() {
            return rustix::io::dup(&self.root).map_err(|e| self.errno(shown, "dup", e));
        }
        rustix::fs::openat2(
            &self.root,
            path.join("/"),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
        )
        .map_err(|e| self.errno(shown, "open parent directory", e))
    }

    /// Opens the parent of `path`, creating missing directories (mode 0755) on the way.
    fn parent(&self, path: &[String], shown: &str) -> Result<OwnedFd> {
        let parent = &path[..path.len() - 1];
        match self.open_dir(parent, shown) {
            Ok(fd) => return Ok(fd),
            Err(ImageError::BadLayer { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut fd = rustix::io::dup(&self.root).map_err(|e| self.errno(shown, "dup", e))?;
        for c in parent {
            match rustix::fs::mkdirat(&fd, c.as_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(self.errno(shown, "create parent directory", e)),
            }
            fd = rustix::fs::openat2(
                &fd,
                c.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
            )
            .map_err(|e| self.errno(shown, "open parent directory", e))?;
        }
        Ok(fd)
    }

    /// Removes a non-directory at `name` (tar streams may repeat a name: the last one wins).
    fn clear(&self, dir: &OwnedFd, name: &str, shown: &str) -> Result<()> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(self.errno(shown, "stat", e)),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Err(bad(
                self.layer,
                shown,
                "replaces a directory with a non-directory",
            )),
            Ok(_) => rustix::fs::unlinkat(dir, name, AtFlags::empty())
                .map_err(|e| self.errno(shown, "remove previous entry", e)),
        }
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<u64> {
        let raw_path = entry
            .path()
            .map_err(|e| bad(self.layer, "", format!("bad entry name: {e}")))?
            .into_owned();
        let shown = raw_path.to_string_lossy().into_owned();
        let path = components(self.layer, &raw_path)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let Some(name) = path.last().cloned() else {
            return Ok(0); // "./": the layer root itself
        };
        let dir = self.parent(&path, &shown)?;

        // Whiteouts.
        if name == OPAQUE {
            rustix::fs::fsetxattr(&dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(|e| self.errno(&shown, "mark directory opaque", e))?;
            return Ok(0);
        }
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
            if target.starts_with(WHITEOUT_PREFIX) {
                return Ok(0); // other AUFS metadata (.wh..wh.plnk ...): ignored
            }
            if target.is_empty() || target == "." || target == ".." {
                return Err(hostile(self.layer, &shown, "whiteout of an invalid name"));
            }
            self.clear(&dir, target, &shown)?;
            rustix::fs::mknodat(&dir, target, FileType::CharacterDevice, Mode::empty(), 0)
                .map_err(|e| self.errno(&shown, "create whiteout", e))?;
            return Ok(0);
        }

        let mtime = header.mtime().unwrap_or(0) as i64;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
            last_modification: Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
        };
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mode = mode_of(&header);
        let xattrs = xattrs_of(entry);
        let mut written = 0u64;

        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(|e| self.errno(&shown, "stat", e))?;
                        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                            rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
                                .map_err(|e| self.errno(&shown, "remove previous entry", e))?;
                            rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o700))
                                .map_err(|e| self.errno(&shown, "create directory", e))?;
                        }
                    }
                    Err(e) => return Err(self.errno(&shown, "create directory", e)),
                }
                let fd = self.open_dir(&path, &shown)?;
                self.own_and_mode(&fd, uid, gid, mode, &shown)?;
                set_xattrs(&fd, &xattrs);
                self.dir_times.push((path.clone(), times));
            }
            T::Regular | T::Continuous => {
                self.clear(&dir, &name, &shown)?;
                let fd = rustix::fs::openat(
                    &dir,
                    name.as_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| self.errno(&shown, "create file", e))?;
                let mut file = std::fs::File::from(fd);
                written = std::io::copy(entry, &mut file)
                    .map_err(|e| bad(self.layer, &shown, format!("writing file: {e}")))?;
                self.own_and_mode(&file, uid, gid, mode, &shown)?;
                set_xattrs(&file, &xattrs);
                rustix::fs::futimens(&file, &times)
                    .map_err(|e| self.errno(&shown, "set mtime", e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(self.layer, &shown, format!("bad symlink target: {e}")))?
                    .ok_or_else(|| bad(self.layer, &shown, "symlink without a target"))?
                    .into_owned();
                self.clear(&dir, &name, &shown)?;
                rustix::fs::symlinkat(target.as_path(), &dir, name.as_str())
                    .map_err(|e| self.errno(&shown, "create symlink", e))?;
                rustix::fs::chownat(
                    &dir,
                    name.as_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| self.errno(&shown, "chown", e))?;
                rustix::fs::utimensat(&dir, name.as_str(), &times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.errno(&shown, "set mtime", e))?;
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(self.layer, &shown, format!("bad hardlink target: {e}")))?
                    .ok_or_else(|| bad(self.layer, &shown, "hardlink without a target"))?
                    .into_owned();
                let tpath = components(self.layer, &target).map_err(|e| match e {
                    ImageError::HostileLayer { reason, .. } => hostile(
                        self.layer,
                        &shown,
                        format!("hardlink target {}: {reason}", target.display()),
                    ),
                    other => other,
                })?;
                let Some(tname) = tpath.last() else {
                    return Err(hostile(self.layer, &shown, "hardlink to the layer root"));
                };
                let tdir = self.open_dir(&tpath[..tpath.len() - 1], &shown)?;
                let st = rustix::fs::statat(&tdir, tname.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| {
                        self.errno(&shown, &format!("hardlink target {}", target.display()), e)
                    })?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(hostile(self.layer, &shown, "hardlink to a directory"));
                }
                self.clear(&dir, &name, &shown)?;
                rustix::fs::linkat(&tdir, tname.as_str(), &dir, name.as_str(), AtFlags::empty())
                    .map_err(|e| self.errno(&shown, "create hardlink", e))?;
            }
            T::Char | T::Block | T::Fifo => {
                let ft = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev: Dev = rustix::fs::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                self.clear(&dir, &name, &shown)?;
                rustix::fs::mknodat(&dir, name.as_str(), ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| self.errno(&shown, "create device node", e))?;
                let fd = rustix::fs::openat2(
                    &dir,
                    name.as_str(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                )
                .map_err(|e| self.errno(&shown, "open device node", e))?;
                // O_PATH fds: go through /proc so chmod/chown act on the node itself.
                let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
                rustix::fs::chown(
                    proc.as_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                )
                .map_err(|e| self.errno(&shown, "chown", e))?;
                rustix::fs::chmod(proc.as_str(), Mode::from_raw_mode(mode))
                    .map_err(|e| self.errno(&shown, "chmod", e))?;
                rustix::fs::utimensat(&dir, name.as_str(), &times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.errno(&shown, "set mtime", e))?;
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(bad(
                    self.layer,
                    &shown,
                    format!("unsupported tar entry type {:?}", other.as_byte() as char),
                ));
            }
        }
        Ok(written)
    }

    fn own_and_mode(
        &self,
        fd: &impl AsFd,
        uid: u32,
        gid: u32,
        mode: u32,
        shown: &str,
    ) -> Result<()> {
        rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| self.errno(shown, "chown", e))?;
        // After chown, which clears set-id bits.
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(|e| self.errno(shown, "chmod", e))
    }
}

/// PAX `SCHILY.xattr.*` records of an entry.
fn xattrs_of<R: Read>(entry: &mut tar::Entry<R>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(key) = ext.key()
                && let Some(name) = key.strip_prefix("SCHILY.xattr.")
            {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    out
}

/// Sets xattrs where the filesystem allows; refusals (EPERM, EOPNOTSUPP) are skipped.
/// `trusted.overlay.*` from a layer is never honoured: it would steer the overlay mount
/// (redirects, metacopy) outside the image.
fn set_xattrs(fd: &impl AsFd, xattrs: &[(String, Vec<u8>)]) {
    for (name, value) in xattrs {
        if name.starts_with("trusted.overlay.") {
            tracing::warn!(xattr = %name, "overlay xattr in a layer ignored");
            continue;
        }
        if let Err(e) = rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
            tracing::debug!(xattr = %name, error = %e, "xattr not set");
        }
    }
}
