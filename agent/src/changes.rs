//! What changed between two static pod [`Snapshot`]s, in the terms a pod manager acts on:
//! pods to start, pods to stop, pods replaced by a new version (stop the old one with its grace
//! period, then start the new one), and manifest errors that appeared or were cleared (for
//! events and logs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::source::Snapshot;
use nodelet_objects::manifest::{ManifestError, StaticPod};

/// The difference between two snapshots. Pods are matched by UID; a replacement is a UID
/// that went away while a new UID with the same namespace/name appeared.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// New pods (no pod of that name before).
    pub added: Vec<Arc<StaticPod>>,
    /// Pods whose name is no longer declared.
    pub removed: Vec<Arc<StaticPod>>,
    /// `(old, new)`: the same namespace/name with a new UID (an edited manifest).
    pub replaced: Vec<(Arc<StaticPod>, Arc<StaticPod>)>,
    /// Files whose error is new or different.
    pub new_errors: Vec<ManifestError>,
    /// Files that had an error and now have none (fixed or removed).
    pub cleared_errors: Vec<PathBuf>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.replaced.is_empty()
            && self.new_errors.is_empty()
            && self.cleared_errors.is_empty()
    }
}

/// Computes what changed from `old` to `new`.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Changes {
    let old_by_uid: HashMap<&str, &Arc<StaticPod>> = old.pods().map(|p| (p.uid(), p)).collect();
    let new_by_uid: HashMap<&str, &Arc<StaticPod>> = new.pods().map(|p| (p.uid(), p)).collect();
    let gone: Vec<&Arc<StaticPod>> = old
        .pods()
        .filter(|p| !new_by_uid.contains_key(p.uid()))
        .collect();
    let mut gone_by_name: HashMap<String, &Arc<StaticPod>> =
        gone.iter().map(|p| (p.full_name(), *p)).collect();
    let mut changes = Changes::default();
    for p in new.pods().filter(|p| !old_by_uid.contains_key(p.uid())) {
        match gone_by_name.remove(&p.full_name()) {
            Some(old_pod) => changes.replaced.push((old_pod.clone(), p.clone())),
            None => changes.added.push(p.clone()),
        }
    }
    for p in gone {
        if gone_by_name.contains_key(&p.full_name()) {
            changes.removed.push(p.clone());
        }
    }
    let old_errors: HashMap<&PathBuf, &ManifestError> = old
        .files
        .iter()
        .filter_map(|f| f.error.as_ref().map(|e| (&f.path, e)))
        .collect();
    for f in &new.files {
        if let Some(e) = &f.error
            && old_errors.get(&f.path) != Some(&e)
        {
            changes.new_errors.push(e.clone());
        }
    }
    for path in old_errors.keys() {
        if new.file(path).is_none_or(|f| f.error.is_none()) {
            changes.cleared_errors.push((*path).clone());
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source::ManifestFile;
    use nodelet_objects::manifest::parse_manifest;

    fn pod(file: &str, name: &str, image: &str) -> Arc<StaticPod> {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: a, image: {image}}}]}}\n"
        );
        let pods = parse_manifest(
            Path::new(file),
            yaml.as_bytes(),
            "n",
            jiff::Timestamp::now(),
        );
        Arc::new(pods.unwrap().remove(0))
    }

    type FileSpec<'a> = (&'a str, Vec<Arc<StaticPod>>, Option<ManifestError>);

    fn snap(files: Vec<FileSpec<'_>>) -> Snapshot {
        Snapshot {
            generation: 1,
            files: files
                .into_iter()
                .map(|(p, pods, error)| ManifestFile {
                    path: PathBuf::from(p),
                    pods,
                    objects: Vec::new(),
                    error,
                })
                .collect(),
            dir_error: None,
        }
    }

    #[test]
    fn added_removed_replaced_and_errors() {
        let a1 = pod("/m/a.yaml", "a", "x:1");
        let a2 = pod("/m/a.yaml", "a", "x:2");
        let b = pod("/m/b.yaml", "b", "x:1");
        let c = pod("/m/c.yaml", "c", "x:1");
        let err = ManifestError::file(Path::new("/m/d.yaml"), "file is empty: no document");
        let old = snap(vec![
            ("/m/a.yaml", vec![a1.clone()], None),
            ("/m/b.yaml", vec![b.clone()], None),
            ("/m/d.yaml", vec![], Some(err.clone())),
        ]);
        let new = snap(vec![
            ("/m/a.yaml", vec![a2.clone()], None),
            ("/m/c.yaml", vec![c.clone()], None),
            (
                "/m/e.yaml",
                vec![],
                Some(ManifestError::file(Path::new("/m/e.yaml"), "bad")),
            ),
        ]);
        let ch = diff(&old, &new);
        assert_eq!(ch.added, vec![c]);
        assert_eq!(ch.removed, vec![b]);
        assert_eq!(ch.replaced, vec![(a1, a2)]);
        assert_eq!(ch.new_errors.len(), 1);
        assert_eq!(ch.new_errors[0].path, Path::new("/m/e.yaml"));
        assert_eq!(ch.cleared_errors, vec![PathBuf::from("/m/d.yaml")]);
        assert!(diff(&new, &new).is_empty());
    }
}
