//! The controllers' files. `<rootDir>/workloads/` holds what controllers made — pods, a
//! CronJob's Jobs, a Deployment's ReplicaSets — one JSON manifest per object, named
//! `<kind>_<namespace>_<name>.json` (`_` is in no Kubernetes name, so the name is
//! unambiguous). A second static pod source reads the directory, so these are pods and
//! objects like those of the static pod directory: they survive restarts, a `kill -9` leaves
//! nothing half-made (files are written atomically), and the API edits and deletes them as
//! files. `<rootDir>/workload-status/<uid>.json` holds each controller-run object's
//! [`Record`]: status, creation time, generation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::disk::{DiskError, write_atomic};

/// What is kept of an object between syncs and across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// When nodelet first saw the object (its `creationTimestamp`).
    pub created: jiff::Timestamp,
    /// `metadata.generation`: 1, then +1 for every change of the spec.
    pub generation: i64,
    /// A hash of the spec the generation counts.
    pub spec_hash: String,
    /// The object's `status` as its controller last returned it.
    #[serde(default)]
    pub status: serde_json::Value,
    /// Annotations the controller keeps on the object itself (a Deployment's
    /// `deployment.kubernetes.io/revision`), shown over the manifest's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The two directories.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    status_dir: PathBuf,
}

impl Store {
    pub fn new(root_dir: &Path) -> Store {
        Store {
            dir: crate::config::workloads_dir(root_dir),
            status_dir: root_dir.join("workload-status"),
        }
    }

    /// The directory of controller-made objects (read by the second source).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates both directories.
    pub fn create(&self) -> Result<(), DiskError> {
        for d in [&self.dir, &self.status_dir] {
            std::fs::create_dir_all(d).map_err(|e| DiskError::io("create directory", d, e))?;
        }
        Ok(())
    }

    /// The file of object `kind` `namespace/name`.
    pub fn file(&self, kind: &str, namespace: &str, name: &str) -> PathBuf {
        self.dir.join(format!(
            "{}_{namespace}_{name}.json",
            kind.to_ascii_lowercase()
        ))
    }

    /// Writes an object's manifest. With `create_only`, an existing file is left alone and
    /// `false` returned (a name already taken, or made by a sync before a crash).
    pub fn write(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &serde_json::Value,
        create_only: bool,
    ) -> Result<bool, DiskError> {
        crate::disk::check_component("namespace", namespace)?;
        crate::disk::check_component("name", name)?;
        let path = self.file(kind, namespace, name);
        if create_only && path.exists() {
            return Ok(false);
        }
        let text = serde_json::to_vec_pretty(object)
            .map_err(|e| DiskError::invalid(path.display().to_string(), e.to_string()))?;
        write_atomic(&path, &text, 0o600)?;
        Ok(true)
    }

    /// Removes an object's manifest (absent is fine).
    pub fn remove(&self, kind: &str, namespace: &str, name: &str) -> Result<(), DiskError> {
        remove(&self.file(kind, namespace, name))
    }

    /// The record of object `uid`, if one was kept (an unreadable one counts as none: the
    /// status is rebuilt from what the object owns).
    pub fn load(&self, uid: &str) -> Option<Record> {
        let text = std::fs::read(self.status_dir.join(format!("{uid}.json"))).ok()?;
        match nodelet_objects::decode::from_slice(&text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(uid, "unreadable workload record, starting afresh: {e}");
                None
            }
        }
    }

    /// Every kept record, by UID.
    pub fn load_all(&self) -> std::collections::BTreeMap<String, Record> {
        let mut out = std::collections::BTreeMap::new();
        for e in std::fs::read_dir(&self.status_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(uid) = name.strip_suffix(".json")
                && !uid.starts_with('.')
                && let Some(r) = self.load(uid)
            {
                out.insert(uid.to_string(), r);
            }
        }
        out
    }

    /// Keeps object `uid`'s record (atomically).
    pub fn save(&self, uid: &str, record: &Record) -> Result<(), DiskError> {
        crate::disk::check_component("uid", uid)?;
        let path = self.status_dir.join(format!("{uid}.json"));
        let text = serde_json::to_vec(record)
            .map_err(|e| DiskError::invalid(path.display().to_string(), e.to_string()))?;
        write_atomic(&path, &text, 0o600)
    }

    /// Forgets object `uid`'s record.
    pub fn forget(&self, uid: &str) -> Result<(), DiskError> {
        crate::disk::check_component("uid", uid)?;
        remove(&self.status_dir.join(format!("{uid}.json")))
    }
}

fn remove(path: &Path) -> Result<(), DiskError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DiskError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_records_round_trip() {
        let root = tempfile::tempdir().expect("tempdir");
        let s = Store::new(root.path());
        s.create().expect("create");
        let v = serde_json::json!({"kind": "Pod"});
        assert!(
            s.write("Pod", "default", "web-abcde", &v, true)
                .expect("write")
        );
        assert!(
            !s.write("Pod", "default", "web-abcde", &v, true)
                .expect("write")
        );
        assert!(
            s.file("Pod", "default", "web-abcde")
                .ends_with("pod_default_web-abcde.json")
        );
        // Names that would leave the directory are refused.
        assert!(s.write("Pod", "default", "../x", &v, false).is_err());
        s.remove("Pod", "default", "web-abcde").expect("remove");
        s.remove("Pod", "default", "web-abcde")
            .expect("remove again");
        let r = Record {
            kind: "Job".into(),
            namespace: "default".into(),
            name: "pi".into(),
            created: jiff::Timestamp::UNIX_EPOCH,
            generation: 2,
            spec_hash: "h".into(),
            status: serde_json::json!({"succeeded": 3}),
            annotations: Default::default(),
        };
        s.save("u1", &r).expect("save");
        assert_eq!(s.load("u1"), Some(r.clone()));
        assert_eq!(s.load_all().get("u1"), Some(&r));
        s.forget("u1").expect("forget");
        assert_eq!(s.load("u1"), None);
    }
}
