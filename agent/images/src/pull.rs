//! Pulling an image: resolve the reference (picking the host platform from an index), fetch
//! config and layer blobs into the store (digest-verified, one download per blob even across
//! processes), unpack layers in parallel, and record the image. Also `ensure` with a pull
//! policy, as the agent calls it.

use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use tokio::io::AsyncWriteExt;

use crate::digest::{Digest, Hasher};
use crate::error::{ImageError, IoContext, Result};
use crate::manifest::{self, Descriptor, Document, Manifest};
use crate::platform;
use crate::policy::PullPolicy;
use crate::records::{ImageRecord, LayerRecord, now};
use crate::reference::ImageRef;
use crate::registry::{Registries, RegistryConfig, registry_error};
use crate::store::Store;

/// Progress of a pull, for progress bars and logs.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// The manifest was resolved; `layers` blobs follow.
    Resolved {
        reference: String,
        manifest: Digest,
        layers: Vec<Descriptor>,
    },
    /// A layer blob was already in the store.
    LayerCached {
        digest: Digest,
    },
    /// `done` bytes of `total` downloaded.
    LayerProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    LayerDownloaded {
        digest: Digest,
    },
    LayerUnpacked {
        digest: Digest,
    },
    Done {
        id: Digest,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, ev: PullEvent);
}

/// Ignores progress.
pub struct NoProgress;
impl Progress for NoProgress {
    fn event(&self, _ev: PullEvent) {}
}

/// Why a container's image is not ready, as the kubelet reports it in the container's waiting
/// state: `reason` is `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull` or
/// `InvalidImageName`; `message` carries the registry's reason.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{reason}: {message}")]
pub struct PullFailure {
    pub reason: &'static str,
    pub message: String,
}

fn lock(
    b: &std::sync::Mutex<crate::policy::PullBackoff>,
) -> std::sync::MutexGuard<'_, crate::policy::PullBackoff> {
    match b.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The image service: a store plus registry access.
pub struct ImageService {
    store: Arc<Store>,
    registries: Registries,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ImageError::bad("background task", format!("panicked or cancelled: {e}")))?
}

impl ImageService {
    pub fn new(store: Store, config: RegistryConfig) -> Result<Self> {
        Ok(ImageService {
            store: Arc::new(store),
            registries: Registries::new(config)?,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The platform picked from multi-arch indexes.
    pub fn platform(&self) -> &crate::platform::Platform {
        &self.registries.config().platform
    }

    pub fn registries_mut(&mut self) -> &mut Registries {
        &mut self.registries
    }

    /// Makes `reference` present according to `policy` and returns its record.
    pub async fn ensure(
        &self,
        reference: &str,
        policy: PullPolicy,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        let r = ImageRef::parse(reference)?;
        let present = self.store.find_image(&r.to_string())?;
        match (policy.needs_pull(present.is_some()), present) {
            (false, Some(rec)) => Ok(rec),
            (false, None) => Err(ImageError::NeverPull {
                reference: r.to_string(),
            }),
            (true, _) => self.pull(reference, progress).await,
        }
    }

    /// `ensure` with the kubelet's per-image backoff: a failed pull reports `ErrImagePull`;
    /// asking again within the backoff window reports `ImagePullBackOff` (with the last
    /// registry error) without contacting the registry.
    pub async fn ensure_with_backoff(
        &self,
        reference: &str,
        policy: PullPolicy,
        backoff: &std::sync::Mutex<crate::policy::PullBackoff>,
        now: std::time::Instant,
        progress: &dyn Progress,
    ) -> std::result::Result<ImageRecord, PullFailure> {
        let fail = |e: ImageError| PullFailure {
            reason: e.kubelet_reason(),
            message: e.to_string(),
        };
        let r = ImageRef::parse(reference).map_err(fail)?;
        let present = self
            .store
            .find_image(&r.to_string())
            .map_err(fail)?
            .is_some();
        if policy.needs_pull(present) {
            let b = lock(backoff);
            if b.in_backoff(reference, now).is_some() {
                let last = b.last_error(reference).unwrap_or("previous pull failed");
                return Err(PullFailure {
                    reason: "ImagePullBackOff",
                    message: format!("Back-off pulling image {reference:?}: {last}"),
                });
            }
        }
        match self.ensure(reference, policy, progress).await {
            Ok(rec) => {
                lock(backoff).succeeded(reference);
                Ok(rec)
            }
            Err(e) => {
                if e.kubelet_reason() == "ErrImagePull" {
                    lock(backoff).failed_with(reference, now, e.to_string());
                }
                Err(fail(e))
            }
        }
    }

    /// Pulls `reference` from its registry.
    pub async fn pull(&self, reference: &str, progress: &dyn Progress) -> Result<ImageRecord> {
        let r = ImageRef::parse(reference)?;
        let store = self.store.clone();
        let _guard = blocking(move || store.content_guard()).await?;
        let client = self.registries.client_for(&r);
        let auth = self.registries.auth_for(&r);
        let what = format!("manifest {r}");
        let (body, top_digest) = client
            .pull_manifest_raw(r.oci(), &auth, manifest::ACCEPTED)
            .await
            .map_err(|e| registry_error(&r, "fetching manifest", e))?;
        let top = Digest::of(&body);
        if let Some(want) = r.digest()
            && want != top
        {
            return Err(ImageError::DigestMismatch {
                what,
                expected: want.to_string(),
                actual: top.to_string(),
            });
        }
        if top_digest != top.as_str() {
            tracing::debug!(header = %top_digest, computed = %top, "registry digest header differs");
        }
        let (manifest_body, manifest_digest) = match manifest::parse(&what, &body, None)? {
            Document::Image(_) => (body.to_vec(), top.clone()),
            Document::Index(idx) => {
                let plat = &self.registries.config().platform;
                let entry = platform::pick(&idx.manifests, plat).ok_or_else(|| {
                    ImageError::bad(
                        &what,
                        format!(
                            "no manifest for {}/{}{} in the index",
                            plat.os,
                            plat.architecture,
                            plat.variant
                                .as_deref()
                                .map(|v| format!("/{v}"))
                                .unwrap_or_default()
                        ),
                    )
                })?;
                let d = Digest::parse(&entry.digest)?;
                let by_digest = r.oci().clone_with_digest(d.to_string());
                let (b, _) = client
                    .pull_manifest_raw(&by_digest, &auth, manifest::ACCEPTED)
                    .await
                    .map_err(|e| registry_error(&r, "fetching platform manifest", e))?;
                let got = Digest::of(&b);
                if got != d {
                    return Err(ImageError::DigestMismatch {
                        what: format!("manifest {d}"),
                        expected: d.to_string(),
                        actual: got.to_string(),
                    });
                }
                (b.to_vec(), d)
            }
        };
        let m = match manifest::parse(&what, &manifest_body, None)? {
            Document::Image(m) => m,
            Document::Index(_) => return Err(ImageError::bad(&what, "index inside an index")),
        };
        progress.event(PullEvent::Resolved {
            reference: r.to_string(),
            manifest: manifest_digest.clone(),
            layers: m.layers.clone(),
        });

        // Config first: it names the diffIDs the layers must unpack to.
        self.fetch_blob(&r, &m.config, progress, false).await?;
        let config_body = self.store.read_blob(&m.config.digest)?;
        let cfg = manifest::parse_config(&format!("config {}", m.config.digest), &config_body)?;
        check_layers(&m, &cfg.rootfs.diff_ids, &what)?;

        let rr = &r;
        let jobs = m
            .layers
            .iter()
            .zip(cfg.rootfs.diff_ids.iter())
            .map(|(l, diff)| async move {
                self.fetch_blob(rr, l, progress, true).await?;
                let store = self.store.clone();
                let (blob, diff) = (l.digest.clone(), diff.clone());
                blocking(move || store.ensure_layer(&blob, &diff)).await?;
                progress.event(PullEvent::LayerUnpacked {
                    digest: l.digest.clone(),
                });
                Ok::<_, ImageError>(())
            });
        let results: Vec<Result<()>> = futures_util::stream::iter(jobs)
            .buffer_unordered(self.registries.config().max_concurrent_downloads.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;

        let stored_manifest = self.store.write_blob(&manifest_body)?;
        debug_assert_eq!(stored_manifest, manifest_digest);
        if top != manifest_digest {
            self.store.write_blob(&body)?;
        }
        let rec = self.record(
            &m,
            &cfg.rootfs.diff_ids,
            manifest_digest,
            r.tagged_name().into_iter().collect(),
            vec![format!("{}@{top}", r.name())],
        )?;
        progress.event(PullEvent::Done { id: rec.id.clone() });
        Ok(rec)
    }

    fn record(
        &self,
        m: &Manifest,
        diff_ids: &[Digest],
        manifest: Digest,
        repo_tags: Vec<String>,
        repo_digests: Vec<String>,
    ) -> Result<ImageRecord> {
        install_record(&self.store, m, diff_ids, manifest, repo_tags, repo_digests)
    }

    /// Downloads one blob into the store unless present.
    async fn fetch_blob(
        &self,
        r: &ImageRef,
        desc: &Descriptor,
        progress: &dyn Progress,
        report: bool,
    ) -> Result<()> {
        let d = desc.digest.clone();
        if self.store.has_blob(&d) {
            if report {
                progress.event(PullEvent::LayerCached { digest: d });
            }
            return Ok(());
        }
        let store = self.store.clone();
        let key = format!("blob-{}", d.hex());
        let _lock = blocking(move || store.lock(&key)).await?;
        if self.store.has_blob(&d) {
            if report {
                progress.event(PullEvent::LayerCached { digest: d });
            }
            return Ok(());
        }
        let partial = self.store.ingest_path(&d);
        let result = self.download(r, desc, &partial, progress, report).await;
        match result {
            Ok(()) => {
                self.store.publish_blob(&partial, &d)?;
                if report {
                    progress.event(PullEvent::LayerDownloaded { digest: d });
                }
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    async fn download(
        &self,
        r: &ImageRef,
        desc: &Descriptor,
        partial: &std::path::Path,
        progress: &dyn Progress,
        report: bool,
    ) -> Result<()> {
        let client = self.registries.client_for(r);
        let auth = self.registries.auth_for(r);
        client
            .store_auth_if_needed(r.oci().resolve_registry(), &auth)
            .await;
        let od = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.to_string(),
            size: desc.size as i64,
            ..Default::default()
        };
        let mut stream = client
            .pull_blob_stream(r.oci(), &od)
            .await
            .map_err(|e| registry_error(r, &format!("fetching blob {}", desc.digest), e))?;
        let mut file = tokio::fs::File::create(partial).await.at(partial)?;
        let mut hasher = Hasher::new();
        let mut done = 0u64;
        let mut last_report = 0u64;
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| ImageError::Registry {
                reference: r.to_string(),
                registry: r.registry().to_string(),
                failure: if e.to_string().contains("igest") {
                    crate::error::RegistryFailure::Protocol
                } else {
                    crate::error::RegistryFailure::Network
                },
                reason: format!("fetching blob {}: {e}", desc.digest),
            })?;
            hasher.update(&chunk);
            done += chunk.len() as u64;
            if done > desc.size {
                return Err(ImageError::bad(
                    format!("blob {}", desc.digest),
                    format!(
                        "registry sent more than the {} bytes the manifest declares",
                        desc.size
                    ),
                ));
            }
            file.write_all(&chunk).await.at(partial)?;
            if report && done - last_report >= 1 << 20 {
                last_report = done;
                progress.event(PullEvent::LayerProgress {
                    digest: desc.digest.clone(),
                    done,
                    total: desc.size,
                });
            }
        }
        let actual = hasher.finish();
        if actual != desc.digest {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {} from {}", desc.digest, r.registry()),
                expected: desc.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        file.sync_all().await.at(partial)?;
        Ok(())
    }
}

pub(crate) fn check_layers(m: &Manifest, diff_ids: &[Digest], what: &str) -> Result<()> {
    if m.layers.len() != diff_ids.len() {
        return Err(ImageError::bad(
            what,
            format!(
                "{} layers but the config lists {} diff_ids",
                m.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    Ok(())
}

/// Unpacks every layer (blobs must be in the store) and writes the image record.
pub(crate) fn install_record(
    store: &Store,
    m: &Manifest,
    diff_ids: &[Digest],
    manifest: Digest,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
) -> Result<ImageRecord> {
    let mut layers = Vec::new();
    let mut size = m.config.size;
    for (l, diff) in m.layers.iter().zip(diff_ids) {
        store.ensure_layer(&l.digest, diff)?;
        size += l.size;
        layers.push(LayerRecord {
            blob: l.clone(),
            diff_id: diff.clone(),
        });
    }
    store.put_image(ImageRecord {
        id: m.config.digest.clone(),
        repo_tags,
        repo_digests,
        manifest,
        layers,
        size,
        last_used: now(),
    })
}
