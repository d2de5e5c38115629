//! Offline import of image archives: OCI image layout tars (`oci-layout`, `index.json`,
//! `blobs/sha256/...`) and `docker save` tars (`manifest.json` + config and layer files),
//! optionally gzip/zstd compressed. Every blob is verified and every image recorded as a pull
//! would record it.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{ImageError, IoContext, Result};
use crate::manifest::{self, Descriptor, Document, Manifest};
use crate::platform::{self, Platform};
use crate::pull::{check_layers, install_record};
use crate::records::ImageRecord;
use crate::reference::ImageRef;
use crate::store::{Store, remove_any};
use crate::unpack;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Deserialize)]
struct LayoutIndex {
    manifests: Vec<LayoutEntry>,
}

#[derive(Deserialize)]
struct LayoutEntry {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: Digest,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct DockerSaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove_any(&self.0);
    }
}

fn archive_err(path: &Path, reason: impl Into<String>) -> ImageError {
    ImageError::Archive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Imports every image in the archive at `file`.
pub fn import_archive(store: &Store, file: &Path, platform: &Platform) -> Result<Vec<ImageRecord>> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "import-{}-{}-{}",
        std::process::id(),
        crate::records::now(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // Held while importing so a concurrent `Store::open` does not sweep the scratch dir.
    let _lock = store.lock(&name)?;
    let _guard = store.content_guard()?;
    let scratch = Scratch(store.root().join("ingest").join(&name));
    std::fs::create_dir(&scratch.0).at(&scratch.0)?;
    extract_files(file, &scratch.0)?;
    let dir = &scratch.0;
    if dir.join("index.json").is_file() {
        import_oci_layout(store, file, dir, platform)
    } else if dir.join("manifest.json").is_file() {
        import_docker_save(store, file, dir)
    } else {
        Err(archive_err(
            file,
            "neither an OCI image layout (index.json) nor a docker save archive (manifest.json)",
        ))
    }
}

/// Extracts the regular files of the archive (names checked like layer entries).
fn extract_files(file: &Path, dest: &Path) -> Result<()> {
    let f = File::open(file).at(file)?;
    let what = file.display().to_string();
    let tar = unpack::decompress(f, &what)?;
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| archive_err(file, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_err(file, format!("corrupt tar: {e}")))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue; // symlinks in docker save archives point at files we read by name anyway
        }
        let p = entry
            .path()
            .map_err(|e| archive_err(file, format!("bad entry name: {e}")))?
            .into_owned();
        let mut out = dest.to_path_buf();
        for c in p.components() {
            match c {
                std::path::Component::Normal(s) => out.push(s),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(archive_err(
                        file,
                        format!("entry {}: path leaves the archive", p.display()),
                    ));
                }
            }
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&out).at(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        let mut w = File::create(&out).at(&out)?;
        std::io::copy(&mut entry, &mut w)
            .map_err(|e| archive_err(file, format!("entry {}: {e}", p.display())))?;
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(archive: &Path, p: &Path) -> Result<T> {
    let data =
        std::fs::read(p).map_err(|e| archive_err(archive, format!("{}: {e}", p.display())))?;
    serde_json::from_slice(&data).map_err(|e| {
        archive_err(
            archive,
            format!(
                "{}: {e}",
                p.file_name().unwrap_or_default().to_string_lossy()
            ),
        )
    })
}

fn tags_from(annotations: &std::collections::HashMap<String, String>) -> Vec<String> {
    let name = annotations.get(CONTAINERD_NAME).or_else(|| {
        annotations
            .get(REF_NAME)
            .filter(|n| n.contains('/') || n.contains(':'))
    });
    name.and_then(|n| ImageRef::parse(n).ok())
        .and_then(|r| r.tagged_name())
        .into_iter()
        .collect()
}

fn import_oci_layout(
    store: &Store,
    file: &Path,
    dir: &Path,
    platform: &Platform,
) -> Result<Vec<ImageRecord>> {
    let index: LayoutIndex = read_json(file, &dir.join("index.json"))?;
    let blob = |d: &Digest| -> Result<Vec<u8>> {
        let p = dir.join("blobs/sha256").join(d.hex());
        let data = std::fs::read(&p).map_err(|e| archive_err(file, format!("blob {d}: {e}")))?;
        let actual = Digest::of(&data);
        if &actual != d {
            return Err(ImageError::DigestMismatch {
                what: format!("{}: blob {d}", file.display()),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    };
    let mut out = Vec::new();
    for entry in &index.manifests {
        let what = format!("{}: manifest {}", file.display(), entry.digest);
        let mut mdigest = entry.digest.clone();
        let mut body = blob(&mdigest)?;
        if let Document::Index(idx) = manifest::parse(&what, &body, Some(&entry.media_type))? {
            let e = platform::pick(&idx.manifests, platform).ok_or_else(|| {
                archive_err(
                    file,
                    format!(
                        "index {}: no manifest for {}/{}",
                        entry.digest, platform.os, platform.architecture
                    ),
                )
            })?;
            mdigest = Digest::parse(&e.digest)?;
            body = blob(&mdigest)?;
        }
        let Document::Image(m) = manifest::parse(&what, &body, None)? else {
            return Err(archive_err(file, format!("{what}: nested index")));
        };
        for d in std::iter::once(&m.config).chain(&m.layers) {
            let src = dir.join("blobs/sha256").join(d.digest.hex());
            if !store.has_blob(&d.digest) {
                if !src.is_file() {
                    return Err(archive_err(file, format!("blob {} is missing", d.digest)));
                }
                store.adopt_blob_file(&src, Some(&d.digest))?;
            }
        }
        let cfg = manifest::parse_config(
            &format!("config {}", m.config.digest),
            &store.read_blob(&m.config.digest)?,
        )?;
        check_layers(&m, &cfg.rootfs.diff_ids, &what)?;
        store.write_blob(&body)?;
        let tags = tags_from(&entry.annotations);
        let digests = tags
            .iter()
            .filter_map(|t| ImageRef::parse(t).ok())
            .map(|r| format!("{}@{}", r.name(), entry.digest))
            .collect();
        out.push(install_record(
            store,
            &m,
            &cfg.rootfs.diff_ids,
            mdigest,
            tags,
            digests,
        )?);
    }
    Ok(out)
}

fn media_type_of(store: &Store, d: &Digest) -> Result<&'static str> {
    Ok(match unpack::detect(&store.blob_head(d, 8)?) {
        unpack::Compression::None => manifest::OCI_LAYER_TAR,
        unpack::Compression::Gzip => manifest::OCI_LAYER_GZIP,
        unpack::Compression::Zstd => manifest::OCI_LAYER_ZSTD,
    })
}

fn import_docker_save(store: &Store, file: &Path, dir: &Path) -> Result<Vec<ImageRecord>> {
    let entries: Vec<DockerSaveEntry> = read_json(file, &dir.join("manifest.json"))?;
    let mut out = Vec::new();
    for e in entries {
        let member = |name: &str| -> Result<PathBuf> {
            let p = Path::new(name);
            if p.components().any(|c| {
                !matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            }) {
                return Err(archive_err(
                    file,
                    format!("manifest.json names {name:?} outside the archive"),
                ));
            }
            let full = dir.join(p);
            if !full.is_file() {
                return Err(archive_err(
                    file,
                    format!("manifest.json names {name:?}, which the archive lacks"),
                ));
            }
            Ok(full)
        };
        let cfg_path = member(&e.config)?;
        let cfg_body = std::fs::read(&cfg_path).at(&cfg_path)?;
        let config = Descriptor {
            media_type: manifest::OCI_CONFIG.into(),
            digest: store.write_blob(&cfg_body)?,
            size: cfg_body.len() as u64,
        };
        let mut layers = Vec::new();
        for l in &e.layers {
            let p = member(l)?;
            let size = p.metadata().at(&p)?.len();
            // The same layer file may be listed by several images: copy before adopting.
            let copy = p.with_extension(format!("adopt-{}", layers.len()));
            std::fs::copy(&p, &copy).at(&copy)?;
            let digest = store.adopt_blob_file(&copy, None)?;
            layers.push(Descriptor {
                media_type: media_type_of(store, &digest)?.into(),
                digest,
                size,
            });
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.into()),
            config,
            layers,
        };
        let what = format!("{}: image {}", file.display(), e.config);
        let cfg = manifest::parse_config(&what, &cfg_body)?;
        check_layers(&m, &cfg.rootfs.diff_ids, &what)?;
        let body = serde_json::to_vec(&m).map_err(|err| ImageError::bad(&what, err))?;
        let mdigest = store.write_blob(&body)?;
        let mut tags = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            let r =
                ImageRef::parse(&t).map_err(|err| archive_err(file, format!("RepoTags: {err}")))?;
            tags.extend(r.tagged_name());
        }
        out.push(install_record(
            store,
            &m,
            &cfg.rootfs.diff_ids,
            mdigest,
            tags,
            Vec::new(),
        )?);
    }
    Ok(out)
}
