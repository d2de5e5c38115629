//! Image records (`images/<config-hex>.json`): config, manifest, layers, tags and repo
//! digests; listing, lookup by name or ID, tag moves and removal.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, IoContext, Result};
use crate::manifest::Descriptor;
use crate::reference::ImageRef;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub blob: Descriptor,
    pub diff_id: Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The image ID: the config digest.
    pub id: Digest,
    /// `registry/repository:tag` names pointing at this image.
    pub repo_tags: Vec<String>,
    /// `registry/repository@sha256:...` (the digest the registry knows it by).
    pub repo_digests: Vec<String>,
    pub manifest: Digest,
    pub layers: Vec<LayerRecord>,
    /// Compressed size: config plus layer blobs.
    pub size: u64,
    /// Unix seconds of the last pull or use; GC removes least recently used first.
    pub last_used: u64,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root()
            .join("images")
            .join(format!("{}.json", id.hex()))
    }

    pub(crate) fn write_record(&self, rec: &ImageRecord) -> Result<()> {
        let p = self.record_path(&rec.id);
        let tmp = p.with_extension("json.tmp");
        let data =
            serde_json::to_vec_pretty(rec).map_err(|e| ImageError::bad("image record", e))?;
        std::fs::write(&tmp, data).at(&tmp)?;
        std::fs::rename(&tmp, &p).at(&p)
    }

    /// All image records, sorted by name.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root().join("images");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).at(&dir)? {
            let p = e.at(&dir)?.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let data = std::fs::read(&p).at(&p)?;
            let rec: ImageRecord = serde_json::from_slice(&data)
                .map_err(|e| ImageError::bad(p.display().to_string(), e))?;
            out.push(rec);
        }
        out.sort_by(|a, b| a.repo_tags.cmp(&b.repo_tags).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds an image by name (`busybox:1.36`, normalized), `name@digest`, full or short
    /// ID (`sha256:...`, 12+ hex digits).
    pub fn find_image(&self, name: &str) -> Result<Option<ImageRecord>> {
        let images = self.list_images()?;
        let id = name.strip_prefix("sha256:").unwrap_or(name);
        if id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<_> = images
                .iter()
                .filter(|i| i.id.hex().starts_with(id))
                .collect();
            if hits.len() == 1 {
                return Ok(Some(hits[0].clone()));
            }
        }
        let Ok(r) = ImageRef::parse(name) else {
            return Ok(None);
        };
        if let Some(d) = r.digest() {
            let want = format!("{}@{d}", r.name());
            return Ok(images.into_iter().find(|i| {
                i.repo_digests.contains(&want)
                    || (i.manifest == d
                        && i.repo_tags
                            .iter()
                            .chain(&i.repo_digests)
                            .any(|t| t.starts_with(&r.name())))
            }));
        }
        let Some(tagged) = r.tagged_name() else {
            return Ok(None);
        };
        Ok(images.into_iter().find(|i| i.repo_tags.contains(&tagged)))
    }

    /// Records an image, moving its tags away from any other image (which may become dangling).
    pub(crate) fn put_image(&self, mut rec: ImageRecord) -> Result<ImageRecord> {
        let _l = self.lock("records")?;
        for mut other in self.list_images()? {
            if other.id == rec.id {
                for t in other.repo_tags {
                    if !rec.repo_tags.contains(&t) {
                        rec.repo_tags.push(t);
                    }
                }
                for d in other.repo_digests {
                    if !rec.repo_digests.contains(&d) {
                        rec.repo_digests.push(d);
                    }
                }
                continue;
            }
            let before = other.repo_tags.len();
            other.repo_tags.retain(|t| !rec.repo_tags.contains(t));
            if other.repo_tags.len() != before {
                self.write_record(&other)?;
            }
        }
        rec.repo_tags.sort();
        rec.repo_digests.sort();
        self.write_record(&rec)?;
        Ok(rec)
    }

    /// Marks an image used now (for GC ordering).
    pub fn touch_image(&self, id: &Digest) -> Result<()> {
        let _l = self.lock("records")?;
        if let Some(mut rec) = self.find_image(id.as_str())? {
            rec.last_used = now();
            self.write_record(&rec)?;
        }
        Ok(())
    }

    /// `rmi`: removes tag `name` if it is one of several on the image, else the whole image
    /// (refused while a container uses it). Blobs and layers go at the next `prune`/GC.
    /// Returns what was done: `Untagged` or `Deleted`.
    pub fn remove_image(&self, name: &str) -> Result<Removed> {
        let _l = self.lock("records")?;
        let rec = self
            .find_image(name)?
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
        let tag = ImageRef::parse(name).ok().and_then(|r| {
            if r.digest().is_none() {
                r.tagged_name()
            } else {
                None
            }
        });
        if let Some(tag) = tag
            && rec.repo_tags.len() > 1
            && rec.repo_tags.contains(&tag)
        {
            let mut rec = rec;
            rec.repo_tags.retain(|t| t != &tag);
            self.write_record(&rec)?;
            return Ok(Removed::Untagged(tag));
        }
        let users = self.containers_using(&rec.id)?;
        if !users.is_empty() {
            return Err(ImageError::InUse {
                image: name.to_string(),
                containers: users.join(", "),
            });
        }
        let p = self.record_path(&rec.id);
        std::fs::remove_file(&p).at(&p)?;
        Ok(Removed::Deleted(rec.id))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}
