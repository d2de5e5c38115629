//! Garbage collection: `prune` (dangling or all unused images, then unreferenced blobs and
//! layers) and the kubelet's disk-threshold GC (above `high`% used, delete least recently used
//! unused images until below `low`%).

use std::collections::HashSet;

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::records::ImageRecord;
use crate::store::{Store, remove_any};

/// What a GC run removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GcReport {
    pub images: Vec<Digest>,
    pub blobs: usize,
    pub layers: usize,
    pub bytes_freed: u64,
}

pub const DEFAULT_HIGH_PERCENT: u8 = 85;
pub const DEFAULT_LOW_PERCENT: u8 = 80;

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(m) = e.path().symlink_metadata() {
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.len();
                }
            }
        }
    }
    total
}

impl Store {
    fn delete_record(&self, rec: &ImageRecord) -> Result<()> {
        let p = self
            .root()
            .join("images")
            .join(format!("{}.json", rec.id.hex()));
        remove_any(&p)
    }

    /// Removes images no container uses: untagged ones, or all of them with `all`; then every
    /// blob and layer no remaining image references.
    pub fn prune(&self, all: bool) -> Result<GcReport> {
        let mut report = GcReport::default();
        {
            let _g = self.gc_exclusive()?;
            let _l = self.lock("records")?;
            for rec in self.list_images()? {
                if (all || rec.repo_tags.is_empty()) && self.containers_using(&rec.id)?.is_empty() {
                    self.delete_record(&rec)?;
                    report.images.push(rec.id);
                }
            }
        }
        self.sweep_unreferenced(&mut report)?;
        Ok(report)
    }

    /// The kubelet's `DeleteUnusedImages` (what eviction reclaims for disk first): removes
    /// every image no container uses whose last pull or use is at least `min_age` old (the
    /// kubelet's `imageMinimumGCAge`: an image just pulled or imported is not taken from the
    /// pod about to use it), then every blob and layer no remaining image references.
    pub fn prune_unused(&self, min_age: std::time::Duration) -> Result<GcReport> {
        let mut report = GcReport::default();
        let now = crate::records::now();
        {
            let _g = self.gc_exclusive()?;
            let _l = self.lock("records")?;
            for rec in self.list_images()? {
                let age = now.saturating_sub(rec.last_used);
                if age >= min_age.as_secs() && self.containers_using(&rec.id)?.is_empty() {
                    self.delete_record(&rec)?;
                    report.images.push(rec.id);
                }
            }
        }
        self.sweep_unreferenced(&mut report)?;
        Ok(report)
    }

    /// Deletes blobs and layers that no image record references.
    fn sweep_unreferenced(&self, report: &mut GcReport) -> Result<()> {
        let _g = self.gc_exclusive()?;
        let _l = self.lock("records")?;
        let images = self.list_images()?;
        let mut blobs: HashSet<String> = HashSet::new();
        let mut layers: HashSet<String> = HashSet::new();
        for i in &images {
            blobs.insert(i.id.hex().to_string());
            blobs.insert(i.manifest.hex().to_string());
            for d in &i.repo_digests {
                if let Some((_, dg)) = d.split_once('@')
                    && let Some(h) = dg.strip_prefix("sha256:")
                {
                    blobs.insert(h.to_string());
                }
            }
            for l in &i.layers {
                blobs.insert(l.blob.digest.hex().to_string());
                layers.insert(l.diff_id.hex().to_string());
            }
        }
        let bdir = self.root().join("blobs/sha256");
        for e in std::fs::read_dir(&bdir).at(&bdir)? {
            let e = e.at(&bdir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !blobs.contains(&name) {
                let Some(_bl) =
                    crate::lock::FileLock::try_acquire(&self.lock_path(&format!("blob-{name}")))?
                else {
                    continue; // being written right now
                };
                report.bytes_freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                remove_any(&e.path())?;
                report.blobs += 1;
            }
        }
        let ldir = self.root().join("layers");
        for e in std::fs::read_dir(&ldir).at(&ldir)? {
            let e = e.at(&ldir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || layers.contains(&name) {
                continue;
            }
            let Some(_ll) =
                crate::lock::FileLock::try_acquire(&self.lock_path(&format!("layer-{name}")))?
            else {
                continue;
            };
            report.bytes_freed += dir_size(&e.path());
            remove_any(&e.path())?;
            report.layers += 1;
        }
        Ok(())
    }

    /// Disk usage of the store's filesystem in percent (statvfs).
    pub fn disk_usage_percent(&self) -> Result<f64> {
        let st = rustix::fs::statvfs(self.root())
            .map_err(|e| crate::error::ImageError::io(self.root(), e.into()))?;
        let total = st.f_blocks as f64;
        if total == 0.0 {
            return Ok(0.0);
        }
        Ok(100.0 * (total - st.f_bfree as f64) / total)
    }

    /// Kubelet-style GC on the real filesystem usage.
    pub fn gc_by_disk(&self, high: u8, low: u8) -> Result<GcReport> {
        self.gc_with_usage(high, low, || self.disk_usage_percent())
    }

    /// [`Store::gc_by_disk`] sparing images pulled or used less than `min_age` ago (the
    /// kubelet's `imageMinimumGCAge`).
    pub fn gc_by_disk_aged(
        &self,
        high: u8,
        low: u8,
        min_age: std::time::Duration,
    ) -> Result<GcReport> {
        self.gc_with_usage_aged(high, low, min_age, || self.disk_usage_percent())
    }

    /// GC with a usage probe (tests pass a synthetic one): when `usage()` ≥ `high`, delete unused
    /// images least recently used first, sweeping after each, until `usage()` < `low`.
    pub fn gc_with_usage(
        &self,
        high: u8,
        low: u8,
        usage: impl Fn() -> Result<f64>,
    ) -> Result<GcReport> {
        self.gc_with_usage_aged(high, low, std::time::Duration::ZERO, usage)
    }

    /// [`Store::gc_with_usage`] sparing images pulled or used less than `min_age` ago.
    pub fn gc_with_usage_aged(
        &self,
        high: u8,
        low: u8,
        min_age: std::time::Duration,
        usage: impl Fn() -> Result<f64>,
    ) -> Result<GcReport> {
        let mut report = GcReport::default();
        if usage()? < f64::from(high) {
            return Ok(report);
        }
        let now = crate::records::now();
        let mut candidates: Vec<ImageRecord> = Vec::new();
        for rec in self.list_images()? {
            if now.saturating_sub(rec.last_used) >= min_age.as_secs()
                && self.containers_using(&rec.id)?.is_empty()
            {
                candidates.push(rec);
            }
        }
        candidates.sort_by_key(|r| r.last_used);
        for rec in candidates {
            if usage()? < f64::from(low) {
                break;
            }
            {
                let _g = self.gc_exclusive()?;
                let _l = self.lock("records")?;
                if !self.containers_using(&rec.id)?.is_empty() {
                    continue;
                }
                self.delete_record(&rec)?;
            }
            report.images.push(rec.id);
            self.sweep_unreferenced(&mut report)?;
        }
        Ok(report)
    }
}
