//! Pod volumes on the host and the bind mounts of a container's volumeMounts.
//!
//! [`prepare`] (once per pod, before any container) makes each emptyDir directory under
//! `<rootDir>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>` (a tmpfs there for medium
//! Memory, so that all containers of the pod share it) and runs the hostPath `type` checks;
//! [`teardown`] undoes it. [`container_mounts`] turns volumeMounts into OCI bind mounts with
//! readOnly, subPath / subPathExpr (created inside the volume, never escaping it) and
//! mountPropagation. configMap, secret, projected and downwardAPI volumes are files written
//! by [`prepare`] ([`super::config_volumes`]), kept current by [`refresh`] and mounted
//! read-only, as the kubelet does.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, Volume};
use oci_spec::runtime::Mount;

use super::config_volumes::{self, Projection};
use super::env::{EnvMap, expand};
use super::error::{SpecError, SpecErrorKind};
use super::host_dir;
use super::resources::NodeResources;
use nodelet_objects::config_sources::ConfigObjects;
use nodelet_objects::field::FieldPath;
use nodelet_objects::quantity::Quantity;

/// Directory of emptyDir volumes below the pod's volumes directory (the kubelet's plugin name).
pub const EMPTY_DIR_PLUGIN: &str = "kubernetes.io~empty-dir";
pub use super::config_volumes::DOWNWARD_API_PLUGIN;

/// What backs a volume on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    EmptyDir,
    /// emptyDir with `medium: Memory`: a tmpfs mounted at `host_path`.
    MemoryEmptyDir,
    HostPath,
    /// Files from ConfigMaps, Secrets and the pod ([`super::config_volumes`]), written at
    /// prepare time and kept current; always mounted read-only.
    Files(Projection),
}

impl VolumeKind {
    /// Mounted read-only whatever the volumeMount says (the kubelet's projected volumes).
    pub fn read_only(self) -> bool {
        matches!(self, VolumeKind::Files(_))
    }
}

/// One prepared volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVolume {
    pub name: String,
    pub host_path: PathBuf,
    pub kind: VolumeKind,
}

/// The pod's prepared volumes, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodVolumes(pub Vec<PodVolume>);

impl PodVolumes {
    pub fn get(&self, name: &str) -> Option<&PodVolume> {
        self.0.iter().find(|v| v.name == name)
    }
}

/// `<volumes_dir>/kubernetes.io~empty-dir/<name>`.
pub fn empty_dir_path(volumes_dir: &Path, name: &str) -> PathBuf {
    volumes_dir.join(EMPTY_DIR_PLUGIN).join(name)
}

/// The volume source's field name, for volume types nodelet cannot provide.
fn unsupported_type(v: &Volume) -> Option<(&'static str, &'static str)> {
    const API: &str = "needs an API server; static pods cannot use it";
    const NO: &str = "is not supported by nodelet";
    let checks: [(bool, &str, &str); 24] = [
        (
            v.persistent_volume_claim.is_some(),
            "persistentVolumeClaim",
            API,
        ),
        (v.ephemeral.is_some(), "ephemeral", API),
        (v.csi.is_some(), "csi", NO),
        (v.image.is_some(), "image", NO),
        (v.nfs.is_some(), "nfs", NO),
        (v.iscsi.is_some(), "iscsi", NO),
        (v.git_repo.is_some(), "gitRepo", NO),
        (v.fc.is_some(), "fc", NO),
        (v.rbd.is_some(), "rbd", NO),
        (v.cephfs.is_some(), "cephfs", NO),
        (v.glusterfs.is_some(), "glusterfs", NO),
        (v.flex_volume.is_some(), "flexVolume", NO),
        (v.flocker.is_some(), "flocker", NO),
        (v.cinder.is_some(), "cinder", NO),
        (
            v.aws_elastic_block_store.is_some(),
            "awsElasticBlockStore",
            NO,
        ),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk", NO),
        (v.azure_disk.is_some(), "azureDisk", NO),
        (v.azure_file.is_some(), "azureFile", NO),
        (v.vsphere_volume.is_some(), "vsphereVolume", NO),
        (v.quobyte.is_some(), "quobyte", NO),
        (
            v.photon_persistent_disk.is_some(),
            "photonPersistentDisk",
            NO,
        ),
        (v.portworx_volume.is_some(), "portworxVolume", NO),
        (v.scale_io.is_some(), "scaleIO", NO),
        (v.storageos.is_some(), "storageos", NO),
    ];
    checks
        .into_iter()
        .find(|(set, _, _)| *set)
        .map(|(_, name, why)| (name, why))
}

fn io_err(field: &FieldPath, what: &str, path: &Path, e: impl std::fmt::Display) -> SpecError {
    SpecError::volume(field, format!("{what} {}: {e}", path.display()))
}

/// Creates the pod's emptyDirs, checks its hostPaths and writes the files of its configMap,
/// secret, projected and downwardAPI volumes from `objects`. Idempotent: an emptyDir that exists
/// (and its tmpfs) is kept, so a restarted agent can call it again.
pub fn prepare(
    pod: &Pod,
    volumes_dir: &Path,
    node: &NodeResources,
    objects: &ConfigObjects,
) -> Result<PodVolumes, SpecError> {
    let spec = pod.spec.as_ref();
    let fs_group = spec
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.fs_group)
        .and_then(|g| u32::try_from(g).ok());
    let mut out = Vec::new();
    for (i, v) in spec
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let vf = FieldPath::new("spec").child("volumes").index(i);
        if let Some(ed) = &v.empty_dir {
            let ef = vf.child("emptyDir");
            let dir = empty_dir_path(volumes_dir, &v.name);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(&dir)
                .map_err(|e| io_err(&ef, "cannot create", &dir, e))?;
            let kind = match ed.medium.as_deref().unwrap_or("") {
                "" => VolumeKind::EmptyDir,
                "Memory" => {
                    let mut data = String::from("mode=0777");
                    if let Some(q) = &ed.size_limit {
                        let size = Quantity::parse(&q.0).map_err(|e| {
                            SpecError::volume(&ef.child("sizeLimit"), format!("{:?}: {e}", q.0))
                        })?;
                        if size.value() > 0 {
                            data.push_str(&format!(",size={}", size.value()));
                        }
                    }
                    host_dir::mount_tmpfs(&dir, &data)
                        .map_err(|e| io_err(&ef, "cannot mount tmpfs on", &dir, e))?;
                    VolumeKind::MemoryEmptyDir
                }
                other => {
                    return Err(SpecError::volume(
                        &ef.child("medium"),
                        format!("Unsupported value: {other:?}: supported values: \"\", \"Memory\""),
                    ));
                }
            };
            let mode = if fs_group.is_some() { 0o2777 } else { 0o777 };
            if let Some(g) = fs_group {
                nix::unistd::chown(&dir, None, Some(nix::unistd::Gid::from_raw(g)))
                    .map_err(|e| io_err(&ef, "cannot chown", &dir, e))?;
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io_err(&ef, "cannot chmod", &dir, e))?;
            out.push(PodVolume {
                name: v.name.clone(),
                host_path: dir,
                kind,
            });
        } else if let Some(hp) = &v.host_path {
            let hf = vf.child("hostPath");
            let path = PathBuf::from(&hp.path);
            if !path.is_absolute() {
                return Err(SpecError::volume(
                    &hf.child("path"),
                    format!("Invalid value: {:?}: must be an absolute path", hp.path),
                ));
            }
            check_host_path(&path, hp.type_.as_deref().unwrap_or(""), &hf)?;
            out.push(PodVolume {
                name: v.name.clone(),
                host_path: path,
                kind: VolumeKind::HostPath,
            });
        } else if let Some(p) = Projection::of(v) {
            let dir = config_volumes::volume_dir(volumes_dir, p, &v.name);
            match config_volumes::set_up(pod, node, v, &vf, volumes_dir, objects, fs_group) {
                Some(Ok(_)) => {}
                // Written before (a pod adopted after a restart): its files stay as they
                // are, and [`refresh`] reports why they cannot be brought up to date.
                Some(Err(e))
                    if e.kind == SpecErrorKind::Volume && config_volumes::written(&dir) => {}
                Some(Err(e)) => return Err(e),
                None => continue,
            }
            out.push(PodVolume {
                name: v.name.clone(),
                host_path: dir,
                kind: VolumeKind::Files(p),
            });
        } else if let Some((name, why)) = unsupported_type(v) {
            return Err(SpecError::unsupported_volume(
                &vf.child(name),
                format!("volume {:?}: {name} {why}", v.name),
            ));
        } else {
            return Err(SpecError::volume(
                &vf,
                format!(
                    "volume {:?}: Required value: must specify a volume type",
                    v.name
                ),
            ));
        }
    }
    Ok(PodVolumes(out))
}

/// The kubelet's hostPath type check (`checkTypeInternal`), creating the path for
/// DirectoryOrCreate (0755) and FileOrCreate (0644, parent must exist).
pub fn check_host_path(path: &Path, typ: &str, field: &FieldPath) -> Result<(), SpecError> {
    let md = std::fs::metadata(path).ok();
    let fail = |what: &str| {
        Err(SpecError::volume(
            field,
            format!(
                "hostPath type check failed: {} is not {what}",
                path.display()
            ),
        ))
    };
    let ft = md.as_ref().map(|m| m.file_type());
    match typ {
        "" => Ok(()),
        "DirectoryOrCreate" | "Directory" => match ft {
            None if typ == "DirectoryOrCreate" => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(path)
                .map_err(|e| io_err(field, "cannot create directory", path, e)),
            Some(t) if t.is_dir() => Ok(()),
            _ => fail("a directory"),
        },
        "FileOrCreate" | "File" => match ft {
            None if typ == "FileOrCreate" => std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map(drop)
                .map_err(|e| io_err(field, "cannot create file", path, e)),
            Some(t) if !t.is_dir() => Ok(()),
            _ => fail("a file"),
        },
        "Socket" => match ft {
            Some(t) if t.is_socket() => Ok(()),
            _ => fail("a socket file"),
        },
        "CharDevice" => match ft {
            Some(t) if t.is_char_device() => Ok(()),
            _ => fail("a character device"),
        },
        "BlockDevice" => match ft {
            Some(t) if t.is_block_device() => Ok(()),
            _ => fail("a block device"),
        },
        other => Err(SpecError::volume(
            &field.child("type"),
            format!("{other} is an invalid volume type"),
        )),
    }
}

/// Brings the files of the pod's configMap, secret, projected and downwardAPI volumes up to
/// date with `objects` (after [`prepare`]); unchanged files are not rewritten. Returns why a
/// volume could not be (its files stay as they were, as on a kubelet).
pub fn refresh(
    pod: &Pod,
    volumes_dir: &Path,
    node: &NodeResources,
    objects: &ConfigObjects,
) -> Vec<SpecError> {
    let spec = pod.spec.as_ref();
    let fs_group = spec
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.fs_group)
        .and_then(|g| u32::try_from(g).ok());
    let mut errs = Vec::new();
    for (i, v) in spec
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let vf = FieldPath::new("spec").child("volumes").index(i);
        if let Some(Err(e)) =
            config_volumes::set_up(pod, node, v, &vf, volumes_dir, objects, fs_group)
        {
            errs.push(e);
        }
    }
    errs
}

/// Unmounts the pod's memory emptyDirs and secret/projected tmpfs mounts and removes the
/// directories of its emptyDir, configMap, secret, projected and downwardAPI volumes
/// (hostPaths are never touched). Missing directories are fine.
pub fn teardown(volumes_dir: &Path) -> std::io::Result<()> {
    let plugins = std::iter::once(EMPTY_DIR_PLUGIN).chain(Projection::ALL.map(Projection::plugin));
    for plugin in plugins {
        let dir = volumes_dir.join(plugin);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in rd {
            let p = e?.path();
            while host_dir::is_mountpoint(&p) {
                nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH)
                    .map_err(std::io::Error::from)?;
            }
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Creates `sub` inside `volume` (directories with the volume's mode) and returns its host
/// path. `sub` must be relative without `..`, and no symlink on the way may lead out of the
/// volume.
pub fn prepare_sub_path(volume: &Path, sub: &str, field: &FieldPath) -> Result<PathBuf, SpecError> {
    let p = Path::new(sub);
    if p.is_absolute() {
        return Err(SpecError::config(
            field,
            format!("Invalid value: {sub:?}: must be a relative path"),
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(SpecError::config(
            field,
            format!("Invalid value: {sub:?}: must not contain '..'"),
        ));
    }
    let err = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        SpecError::config(field, format!("{what} {}: {e}", path.display()))
    };
    let base =
        std::fs::canonicalize(volume).map_err(|e| err("cannot resolve volume", volume, &e))?;
    let mode = std::fs::metadata(&base)
        .map(|m| m.mode() & 0o7777)
        .map_err(|e| err("cannot stat volume", &base, &e))?;
    let mut cur = base.clone();
    for comp in p.components() {
        let Component::Normal(name) = comp else {
            continue;
        };
        let next = cur.join(name);
        match std::fs::symlink_metadata(&next) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = std::fs::canonicalize(&next)
                    .map_err(|e| err("cannot resolve symlink", &next, &e))?;
                if !target.starts_with(&base) {
                    return Err(SpecError::config(
                        field,
                        format!(
                            "Invalid value: {sub:?}: {} is a symlink out of the volume",
                            next.display()
                        ),
                    ));
                }
                cur = target;
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&next)
                    .map_err(|e| err("cannot create subPath", &next, &e))?;
                std::fs::set_permissions(&next, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| err("cannot chmod subPath", &next, &e))?;
                cur = next;
            }
            Err(e) => return Err(err("cannot stat", &next, &e)),
        }
    }
    Ok(cur)
}

/// The container's volume mounts as OCI bind mounts, in the order of `volumeMounts`.
pub fn container_mounts(
    c: &Container,
    cf: &FieldPath,
    volumes: &PodVolumes,
    env: &[(String, String)],
    privileged: bool,
) -> Result<Vec<Mount>, SpecError> {
    let envmap = EnvMap::new(env);
    let mut out = Vec::new();
    for (j, vm) in c.volume_mounts.iter().flatten().enumerate() {
        let mf = cf.child("volumeMounts").index(j);
        let vol = volumes.get(&vm.name).ok_or_else(|| {
            SpecError::config(
                &mf.child("name"),
                format!(
                    "Not found: {:?}: no volume of this name in spec.volumes",
                    vm.name
                ),
            )
        })?;
        if vm.mount_path.is_empty() {
            return Err(SpecError::config(&mf.child("mountPath"), "Required value"));
        }
        let dest = if vm.mount_path.starts_with('/') {
            vm.mount_path.clone()
        } else {
            format!("/{}", vm.mount_path)
        };
        let propagation = match vm.mount_propagation.as_deref().unwrap_or("None") {
            "None" | "" => "rprivate",
            "HostToContainer" => "rslave",
            "Bidirectional" if privileged => "rshared",
            "Bidirectional" => {
                return Err(SpecError::config(
                    &mf.child("mountPropagation"),
                    "Forbidden: Bidirectional mount propagation is available only to privileged containers",
                ));
            }
            other => {
                return Err(SpecError::config(
                    &mf.child("mountPropagation"),
                    format!(
                        "Unsupported value: {other:?}: supported values: \"Bidirectional\", \"HostToContainer\", \"None\""
                    ),
                ));
            }
        };
        let sub = vm.sub_path.as_deref().filter(|s| !s.is_empty());
        let sub_expr = vm.sub_path_expr.as_deref().filter(|s| !s.is_empty());
        let source = match (sub, sub_expr) {
            (Some(s), _) => prepare_sub_path(&vol.host_path, s, &mf.child("subPath"))?,
            (None, Some(e)) => {
                let expanded = expand(e, &envmap);
                prepare_sub_path(&vol.host_path, &expanded, &mf.child("subPathExpr"))?
            }
            (None, None) => {
                // containerd creates a missing bind source as a directory (hostPath without a
                // type relies on it).
                if vol.kind == VolumeKind::HostPath
                    && std::fs::symlink_metadata(&vol.host_path).is_err()
                {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(&vol.host_path)
                        .map_err(|e| {
                            SpecError::create(
                                &mf,
                                format!("cannot create {}: {e}", vol.host_path.display()),
                            )
                        })?;
                }
                vol.host_path.clone()
            }
        };
        let read_only = vm.read_only.unwrap_or(false) || vol.kind.read_only();
        let mut options = vec!["rbind".to_string(), propagation.to_string()];
        options.push(if read_only { "ro" } else { "rw" }.to_string());
        match vm.recursive_read_only.as_deref().unwrap_or("Disabled") {
            "Disabled" | "" => {}
            "Enabled" | "IfPossible" if read_only => options.push("rro".into()),
            other => {
                return Err(SpecError::config(
                    &mf.child("recursiveReadOnly"),
                    format!("Invalid value: {other:?}: requires readOnly to be true"),
                ));
            }
        }
        let mut m = Mount::default();
        m.set_destination(PathBuf::from(dest));
        m.set_typ(Some("bind".into()));
        m.set_source(Some(source));
        m.set_options(Some(options));
        out.push(m);
    }
    Ok(out)
}

/// `linux.rootfsPropagation` the mounts need: rshared for Bidirectional, rslave for
/// HostToContainer, else the runtime's default.
pub fn rootfs_propagation(mounts: &[Mount]) -> Option<String> {
    let has = |p: &str| {
        mounts
            .iter()
            .any(|m| m.options().iter().flatten().any(|o| o == p))
    };
    if has("rshared") {
        Some("rshared".into())
    } else if has("rslave") {
        Some("rslave".into())
    } else {
        None
    }
}

fn depth(m: &Mount) -> usize {
    m.destination()
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// containerd's mount merge: `extra` (pod files, termination log, volumes; a later one replaces
/// an earlier one with the same destination) override base mounts of the same destination (a
/// mount at /dev replaces every base mount under /dev); extra mounts are ordered by depth so
/// that parents are mounted first.
pub fn merge_mounts(base: Vec<Mount>, extra: Vec<Mount>) -> Vec<Mount> {
    let mut dedup: Vec<Mount> = Vec::new();
    for m in extra {
        dedup.retain(|d| d.destination() != m.destination());
        dedup.push(m);
    }
    let has_dev = dedup.iter().any(|m| m.destination() == Path::new("/dev"));
    let mut out: Vec<Mount> = base
        .into_iter()
        .filter(|b| {
            let replaced = dedup.iter().any(|m| m.destination() == b.destination());
            let under_dev = has_dev && b.destination().starts_with("/dev");
            !replaced && !under_dev
        })
        .collect();
    dedup.sort_by_key(depth);
    out.extend(dedup);
    out
}
