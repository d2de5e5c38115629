//! Manifest and index documents (OCI and Docker v2 schema 2) as this crate reads them.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::platform::IndexEntry;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Manifest media types accepted from registries.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Index {
    pub manifests: Vec<IndexEntry>,
}

/// A parsed manifest document: an image manifest or a multi-arch index.
pub(crate) enum Document {
    Image(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
}

pub(crate) fn parse(what: &str, body: &[u8], content_type: Option<&str>) -> Result<Document> {
    let probe: Probe = serde_json::from_slice(body).map_err(|e| ImageError::bad(what, e))?;
    let mt = probe
        .media_type
        .as_deref()
        .or(content_type)
        .unwrap_or("")
        .to_string();
    let is_index =
        mt == OCI_INDEX || mt == DOCKER_LIST || (mt.is_empty() && probe.manifests.is_some());
    if is_index {
        let idx: Index = serde_json::from_slice(body).map_err(|e| ImageError::bad(what, e))?;
        return Ok(Document::Index(idx));
    }
    if !(mt.is_empty() || mt == OCI_MANIFEST || mt == DOCKER_MANIFEST) {
        return Err(ImageError::bad(
            what,
            format!("unsupported manifest media type {mt:?}"),
        ));
    }
    let m: Manifest = serde_json::from_slice(body).map_err(|e| ImageError::bad(what, e))?;
    if m.schema_version != 2 {
        return Err(ImageError::bad(
            what,
            format!("unsupported schemaVersion {}", m.schema_version),
        ));
    }
    for l in &m.layers {
        if l.media_type.contains("nondistributable") || l.media_type.contains("foreign") {
            return Err(ImageError::bad(
                what,
                format!("layer {}: foreign layers are not supported", l.digest),
            ));
        }
    }
    Ok(Document::Image(m))
}

/// The parts of an image config this crate needs (the full document stays in the blob store).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfigDoc {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// The `config` section of an image config: how to run it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RunConfig {
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    /// The signal that stops the container (Docker's `STOPSIGNAL`), e.g. `SIGQUIT`.
    #[serde(rename = "StopSignal", default)]
    pub stop_signal: Option<String>,
}

pub fn parse_config(what: &str, body: &[u8]) -> Result<ImageConfigDoc> {
    serde_json::from_slice(body).map_err(|e| ImageError::bad(what, e))
}
