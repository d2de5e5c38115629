//! Which container of a pod a translation is about, and its field path.

use k8s_openapi::api::core::v1::{Container, Pod};
use nodelet_objects::field::FieldPath;

use super::error::SpecError;

/// Which container of the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerRef {
    /// `spec.initContainers[i]` (sidecars included).
    Init(usize),
    /// `spec.containers[i]`.
    App(usize),
}

impl ContainerRef {
    /// The container, or an error if the index is out of range.
    pub fn get<'p>(&self, pod: &'p Pod) -> Result<&'p Container, SpecError> {
        let spec = pod.spec.as_ref();
        let c = match self {
            ContainerRef::Init(i) => spec.and_then(|s| s.init_containers.as_ref()?.get(*i)),
            ContainerRef::App(i) => spec.and_then(|s| s.containers.get(*i)),
        };
        c.ok_or_else(|| SpecError::create(&self.field(), "no such container in the pod"))
    }
    /// `spec.containers[i]` / `spec.initContainers[i]`.
    pub fn field(&self) -> FieldPath {
        match self {
            ContainerRef::Init(i) => FieldPath::new("spec").child("initContainers").index(*i),
            ContainerRef::App(i) => FieldPath::new("spec").child("containers").index(*i),
        }
    }
}
