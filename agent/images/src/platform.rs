//! The host platform (linux/<arch>[/variant]) and picking it from a multi-arch index.

use serde::Deserialize;

/// An OCI platform as found in image indexes and image configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI (GOARCH) spelling.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// Whether an index entry for (`os`, `arch`, `variant`) runs here. A missing variant on
    /// either side matches (arm64 images rarely carry `v8`).
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        os == self.os
            && arch == self.architecture
            && match (self.variant.as_deref(), variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct IndexEntry {
    pub digest: String,
    pub platform: Option<IndexPlatform>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IndexPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The entry of `entries` for `platform`: an exact variant match first, then one without a
/// variant.
pub(crate) fn pick<'a>(entries: &'a [IndexEntry], platform: &Platform) -> Option<&'a IndexEntry> {
    let ok = |e: &&IndexEntry| {
        e.platform
            .as_ref()
            .is_some_and(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
    };
    entries
        .iter()
        .filter(ok)
        .find(|e| {
            e.platform.as_ref().and_then(|p| p.variant.as_deref()) == platform.variant.as_deref()
        })
        .or_else(|| entries.iter().find(ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(d: &str, arch: &str, variant: Option<&str>) -> IndexEntry {
        IndexEntry {
            digest: d.into(),
            platform: Some(IndexPlatform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn picks_arch_and_variant() {
        let entries = vec![
            e("arm6", "arm", Some("v6")),
            e("arm7", "arm", Some("v7")),
            e("amd", "amd64", None),
            e("arm64", "arm64", Some("v8")),
        ];
        let p = |a: &str, v: Option<&str>| Platform {
            os: "linux".into(),
            architecture: a.into(),
            variant: v.map(Into::into),
        };
        assert_eq!(pick(&entries, &p("amd64", None)).unwrap().digest, "amd");
        assert_eq!(
            pick(&entries, &p("arm", Some("v7"))).unwrap().digest,
            "arm7"
        );
        assert_eq!(pick(&entries, &p("arm64", None)).unwrap().digest, "arm64");
        assert!(pick(&entries, &p("s390x", None)).is_none());
        assert!(pick(&entries, &Platform::host()).is_some() || std::env::consts::ARCH != "x86_64");
    }
}
