//! The content store under a root directory: blobs by digest (verified, written atomically),
//! layers unpacked once and shared by diffID, and crash cleanup of partial downloads.
//!
//! Layout: `blobs/sha256/<hex>`, `ingest/<hex>` (partial downloads), `layers/<diffid-hex>/`
//! (unpacked, read-only lowerdirs), `layers/.tmp-<hex>` (unpacks in progress), `images/`
//! (records, see `records`), `containers/<id>/` (see `rootfs`), `locks/`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::error::{ImageError, IoContext, Result};
use crate::lock::FileLock;
use crate::unpack;

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating) a store at `root` and removes partial downloads and unpacks left by
    /// a crashed process (those whose lock nobody holds).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in [
            "blobs/sha256",
            "ingest",
            "layers",
            "images",
            "containers",
            "locks",
        ] {
            std::fs::create_dir_all(root.join(d)).at(root.join(d))?;
        }
        let store = Store { root };
        store.sweep()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn sweep(&self) -> Result<()> {
        let ingest = self.root.join("ingest");
        for e in std::fs::read_dir(&ingest).at(&ingest)? {
            let e = e.at(&ingest)?;
            let name = e.file_name().to_string_lossy().into_owned();
            // Import scratch dirs are locked under their own name, downloads per blob.
            let key = if name.starts_with("import-") {
                name.clone()
            } else {
                format!("blob-{}", name.split('.').next().unwrap_or(&name))
            };
            if let Some(_l) = FileLock::try_acquire(&self.lock_path(&key))? {
                remove_any(&e.path())?;
            }
        }
        let layers = self.root.join("layers");
        for e in std::fs::read_dir(&layers).at(&layers)? {
            let e = e.at(&layers)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_prefix(".tmp-")
                && let Some(_l) = FileLock::try_acquire(&self.lock_path(&format!("layer-{hex}")))?
            {
                remove_any(&e.path())?;
            }
        }
        Ok(())
    }

    pub(crate) fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }

    /// Serializes work on `key` across threads and processes.
    pub fn lock(&self, key: &str) -> Result<FileLock> {
        FileLock::acquire(&self.lock_path(key))
    }

    /// Held (shared) by pulls, imports and rootfs creation while they add content that no
    /// record references yet; GC sweeps take it exclusively, so they never delete such content.
    pub fn content_guard(&self) -> Result<FileLock> {
        FileLock::acquire_shared(&self.lock_path("gc"))
    }

    pub(crate) fn gc_exclusive(&self) -> Result<FileLock> {
        self.lock("gc")
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Where a download of `d` is written before it is verified.
    pub(crate) fn ingest_path(&self, d: &Digest) -> PathBuf {
        self.root.join("ingest").join(d.hex())
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let data = std::fs::read(&p).at(&p)?;
        let actual = Digest::of(&data);
        if &actual != d {
            return Err(ImageError::DigestMismatch {
                what: format!("stored blob {}", p.display()),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Stores a small blob (manifest, config) and returns its digest.
    pub fn write_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of(data);
        if self.has_blob(&d) {
            return Ok(d);
        }
        let _l = self.lock(&format!("blob-{}", d.hex()))?;
        if self.has_blob(&d) {
            return Ok(d);
        }
        let tmp = self.ingest_path(&d);
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(data).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        self.publish_blob(&tmp, &d)?;
        Ok(d)
    }

    /// Moves a verified file into place; the caller holds the blob's lock.
    pub(crate) fn publish_blob(&self, verified: &Path, d: &Digest) -> Result<()> {
        let dest = self.blob_path(d);
        std::fs::rename(verified, &dest).at(&dest)
    }

    /// Verifies `file` (a file on the store's filesystem) against `expected` (or just hashes it)
    /// and moves it into the blob store. Used by import.
    pub fn adopt_blob_file(&self, file: &Path, expected: Option<&Digest>) -> Result<Digest> {
        let f = File::open(file).at(file)?;
        let mut r = HashingReader::new(f);
        std::io::copy(&mut r, &mut std::io::sink()).at(file)?;
        let (d, _, _) = r.finish();
        if let Some(e) = expected
            && e != &d
        {
            return Err(ImageError::DigestMismatch {
                what: file.display().to_string(),
                expected: e.to_string(),
                actual: d.to_string(),
            });
        }
        let _l = self.lock(&format!("blob-{}", d.hex()))?;
        if self.has_blob(&d) {
            std::fs::remove_file(file).at(file)?;
        } else {
            self.publish_blob(file, &d)?;
        }
        Ok(d)
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// Unpacks blob `blob` as layer `diff_id` unless already there; verifies the diffID before
    /// the directory becomes visible. Safe to call concurrently from threads and processes.
    pub fn ensure_layer(&self, blob: &Digest, diff_id: &Digest) -> Result<()> {
        if self.has_layer(diff_id) {
            return Ok(());
        }
        let _l = self.lock(&format!("layer-{}", diff_id.hex()))?;
        if self.has_layer(diff_id) {
            return Ok(());
        }
        let tmp = self
            .root
            .join("layers")
            .join(format!(".tmp-{}", diff_id.hex()));
        if tmp.symlink_metadata().is_ok() {
            remove_any(&tmp)?; // left by a crashed unpack
        }
        std::fs::create_dir(&tmp).at(&tmp)?;
        let result = (|| {
            let src = self.blob_path(blob);
            let f = File::open(&src).at(&src)?;
            let got = unpack::unpack_layer(f, &tmp, blob.as_str())?;
            if &got.diff_id != diff_id {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {blob} (uncompressed)"),
                    expected: diff_id.to_string(),
                    actual: got.diff_id.to_string(),
                });
            }
            let dest = self.layer_dir(diff_id);
            std::fs::rename(&tmp, &dest).at(&dest)
        })();
        if result.is_err() {
            let _ = remove_any(&tmp);
        }
        result
    }

    /// Reads `len` bytes-or-less of a blob, e.g. to sniff compression.
    pub(crate) fn blob_head(&self, d: &Digest, len: usize) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let mut f = File::open(&p).at(&p)?;
        let mut buf = vec![0; len];
        let mut n = 0;
        while n < len {
            let k = f.read(&mut buf[n..]).at(&p)?;
            if k == 0 {
                break;
            }
            n += k;
        }
        buf.truncate(n);
        Ok(buf)
    }
}

/// Removes a file or a whole directory tree (without following symlinks).
pub(crate) fn remove_any(p: &Path) -> Result<()> {
    match p.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(p, e)),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).at(p),
        Ok(_) => std::fs::remove_file(p).at(p),
    }
}
