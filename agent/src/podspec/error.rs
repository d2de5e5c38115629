//! A failed translation: the Pod field it names, the reason, and what the kubelet does with
//! it ([`SpecErrorKind`]).

use nodelet_objects::field::FieldPath;

/// What the kubelet does with a failed translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// A problem of the container's configuration (env source, runAsNonRoot, subPath, ...):
    /// waiting reason `CreateContainerConfigError`.
    Config,
    /// A volume that cannot be set up (hostPath type check, unsupported volume type): event
    /// `FailedMount`, the pod stays in ContainerCreating.
    Volume,
    /// A volume type a node without an API server can never provide (configMap, nfs, ...):
    /// the pod fails (reason `UnsupportedVolume`) instead of waiting forever.
    UnsupportedVolume,
    /// Anything else the runtime would report (no command, unreadable files):
    /// `CreateContainerError`.
    Create,
}

/// A translation failure naming the Pod field (`spec.containers[0].env[1].valueFrom`) and the
/// reason. Without a field (`configmap "x" not found`: the kubelet's words), just the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub kind: SpecErrorKind,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for SpecError {}

impl SpecError {
    /// A configuration error in the kubelet's words, without a field.
    pub fn config_message(reason: impl Into<String>) -> SpecError {
        SpecError {
            kind: SpecErrorKind::Config,
            field: String::new(),
            reason: reason.into(),
        }
    }
    pub fn config(field: &FieldPath, reason: impl Into<String>) -> SpecError {
        SpecError {
            kind: SpecErrorKind::Config,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    pub fn volume(field: &FieldPath, reason: impl Into<String>) -> SpecError {
        SpecError {
            kind: SpecErrorKind::Volume,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    pub fn unsupported_volume(field: &FieldPath, reason: impl Into<String>) -> SpecError {
        SpecError {
            kind: SpecErrorKind::UnsupportedVolume,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    pub fn create(field: &FieldPath, reason: impl Into<String>) -> SpecError {
        SpecError {
            kind: SpecErrorKind::Create,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    /// The kubelet's reason string for this failure.
    pub fn kubelet_reason(&self) -> &'static str {
        self.kind.kubelet_reason()
    }
}

impl SpecErrorKind {
    /// The kubelet's reason string for a failure of this kind.
    pub fn kubelet_reason(self) -> &'static str {
        match self {
            SpecErrorKind::Config => "CreateContainerConfigError",
            SpecErrorKind::Volume | SpecErrorKind::UnsupportedVolume => "FailedMount",
            SpecErrorKind::Create => "CreateContainerError",
        }
    }
}
