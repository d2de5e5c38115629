//! Volumes of projected files: configMap, secret, projected and downwardAPI. Their files are
//! decided by [`nodelet_objects::config_sources`] from the node's ConfigMaps and Secrets
//! and the pod, and written by the [`atomic_writer`](super::atomic_writer) into
//! `<volumes>/kubernetes.io~{configmap,secret,projected,downward-api}/<name>` (the kubelet's
//! plugin directories). secret and projected volumes get a tmpfs of their own there, as the
//! kubelet keeps secrets off the disk. [`set_up`] is also how a volume is brought up to date
//! when the objects change (unchanged files are not rewritten).

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Pod, Volume};
use nodelet_objects::config_sources::{self, ConfigError, ConfigObjects, Payload};
use nodelet_objects::field::FieldPath;

use super::atomic_writer;
use super::env;
use super::error::{SpecError, SpecErrorKind};
use super::host_dir;
use super::resources::NodeResources;

pub const CONFIG_MAP_PLUGIN: &str = "kubernetes.io~configmap";
pub const SECRET_PLUGIN: &str = "kubernetes.io~secret";
pub const PROJECTED_PLUGIN: &str = "kubernetes.io~projected";
pub const DOWNWARD_API_PLUGIN: &str = "kubernetes.io~downward-api";

/// A volume of projected files, by source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    ConfigMap,
    Secret,
    Projected,
    DownwardApi,
}

impl Projection {
    pub const ALL: [Projection; 4] = [
        Projection::ConfigMap,
        Projection::Secret,
        Projection::Projected,
        Projection::DownwardApi,
    ];
    /// Which `v` is, if it is a volume of projected files.
    pub fn of(v: &Volume) -> Option<Projection> {
        if v.config_map.is_some() {
            Some(Projection::ConfigMap)
        } else if v.secret.is_some() {
            Some(Projection::Secret)
        } else if v.projected.is_some() {
            Some(Projection::Projected)
        } else if v.downward_api.is_some() {
            Some(Projection::DownwardApi)
        } else {
            None
        }
    }
    /// Its directory below the pod's volumes directory (the kubelet's plugin name).
    pub fn plugin(self) -> &'static str {
        match self {
            Projection::ConfigMap => CONFIG_MAP_PLUGIN,
            Projection::Secret => SECRET_PLUGIN,
            Projection::Projected => PROJECTED_PLUGIN,
            Projection::DownwardApi => DOWNWARD_API_PLUGIN,
        }
    }
    /// The volume source's field.
    pub fn field(self) -> &'static str {
        match self {
            Projection::ConfigMap => "configMap",
            Projection::Secret => "secret",
            Projection::Projected => "projected",
            Projection::DownwardApi => "downwardAPI",
        }
    }
    /// Its volumes are tmpfs mounts (what may hold secrets stays off the disk).
    pub fn tmpfs(self) -> bool {
        matches!(self, Projection::Secret | Projection::Projected)
    }
}

/// `k="v"` lines sorted by key, as the kubelet writes labels and annotations.
pub fn format_map(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a downwardAPI volume file's fieldRef: only `metadata.*` (whole label and
/// annotation maps included).
fn volume_field(pod: &Pod, path: &str, field: &FieldPath) -> Result<String, SpecError> {
    match path {
        "metadata.labels" => Ok(format_map(pod.metadata.labels.as_ref())),
        "metadata.annotations" => Ok(format_map(pod.metadata.annotations.as_ref())),
        p if p.starts_with("metadata.") => env::field_ref(pod, &[], &[], p, field),
        p => Err(SpecError::volume(
            field,
            format!(
                "Unsupported value: {p:?}: supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\""
            ),
        )),
    }
}

/// The content of one downward API file (`field`: the item's).
fn downward_value(
    pod: &Pod,
    node: &NodeResources,
    item: &DownwardAPIVolumeFile,
    field: &FieldPath,
) -> Result<String, ConfigError> {
    let res = match (&item.field_ref, &item.resource_field_ref) {
        (Some(f), _) => volume_field(
            pod,
            &f.field_path,
            &field.child("fieldRef").child("fieldPath"),
        ),
        (None, Some(r)) => {
            env::resource_field_ref(pod, None, node, r, &field.child("resourceFieldRef"))
        }
        (None, None) => Err(SpecError::volume(
            field,
            "Required value: one of fieldRef and resourceFieldRef",
        )),
    };
    res.map_err(|e| ConfigError::Invalid {
        field: e.field,
        reason: e.reason,
    })
}

/// The files volume `v` (`field`: `spec.volumes[i]`) should hold now.
pub fn payload(
    pod: &Pod,
    node: &NodeResources,
    v: &Volume,
    field: &FieldPath,
    objects: &ConfigObjects,
) -> Result<Payload, SpecError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let downward = |item: &DownwardAPIVolumeFile, f: &FieldPath| downward_value(pod, node, item, f);
    let res = if let Some(cm) = &v.config_map {
        config_sources::config_map_volume(cm, ns, objects, &field.child("configMap"))
    } else if let Some(s) = &v.secret {
        config_sources::secret_volume(s, ns, objects, &field.child("secret"))
    } else if let Some(p) = &v.projected {
        config_sources::projected_volume(p, ns, objects, &field.child("projected"), &downward)
    } else if let Some(da) = &v.downward_api {
        config_sources::downward_api_files(
            da.items.as_deref().unwrap_or_default(),
            da.default_mode,
            da.default_user,
            &field.child("downwardAPI"),
            &downward,
        )
    } else {
        Ok(Payload::new())
    };
    res.map_err(|e| match e {
        ConfigError::Invalid { field, reason } => SpecError {
            kind: SpecErrorKind::Volume,
            field,
            reason,
        },
        ConfigError::Unsupported { field, reason } => SpecError {
            kind: SpecErrorKind::UnsupportedVolume,
            field,
            reason,
        },
        // The kubelet's words: the volume, then the object's error.
        other => SpecError {
            kind: SpecErrorKind::Volume,
            field: String::new(),
            reason: format!("MountVolume.SetUp failed for volume {:?} : {other}", v.name),
        },
    })
}

/// `<volumes_dir>/<plugin>/<name>`.
pub fn volume_dir(volumes_dir: &Path, p: Projection, name: &str) -> PathBuf {
    volumes_dir.join(p.plugin()).join(name)
}

/// Whether the volume's files were written before (a `..data` link exists).
pub fn written(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(atomic_writer::DATA_DIR)).is_ok()
}

/// Sets volume `v` up, or brings its files up to date: the directory (a tmpfs for secret and
/// projected volumes), then the payload through the atomic writer. `fs_group`: the pod's
/// `fsGroup` (files group-owned and group-readable). Returns the directory; `None` if `v` is
/// no such volume.
pub fn set_up(
    pod: &Pod,
    node: &NodeResources,
    v: &Volume,
    field: &FieldPath,
    volumes_dir: &Path,
    objects: &ConfigObjects,
    fs_group: Option<u32>,
) -> Option<Result<PathBuf, SpecError>> {
    let p = Projection::of(v)?;
    let dir = volume_dir(volumes_dir, p, &v.name);
    let vf = field.child(p.field());
    let io = |what: &str, e: std::io::Error| {
        SpecError::volume(&vf, format!("{what} {}: {e}", dir.display()))
    };
    let res = (|| {
        let payload = payload(pod, node, v, field, objects)?;
        host_dir::create(&dir, 0o755).map_err(|e| io("cannot create", e))?;
        if p.tmpfs() {
            host_dir::mount_tmpfs(&dir, "mode=0755").map_err(|e| io("cannot mount tmpfs on", e))?;
        }
        atomic_writer::write(&dir, &payload, fs_group).map_err(|e| io("cannot write", e))?;
        Ok(dir.clone())
    })();
    Some(res)
}
