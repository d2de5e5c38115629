//! Image references with Docker-style normalization: `nginx:1.14` →
//! `docker.io/library/nginx:1.14`, default tag `latest`, digests, `host:port/repo`.

use std::fmt;

use oci_client::Reference;

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    inner: Reference,
    /// Whether the user wrote a tag (`:1.14`), as opposed to the defaulted `latest`.
    explicit_tag: bool,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: String| ImageError::InvalidReference {
            reference: s.to_string(),
            reason,
        };
        if s.trim() != s || s.is_empty() {
            return Err(bad("empty or surrounded by whitespace".into()));
        }
        let inner: Reference = s.parse().map_err(|e| bad(format!("{e}")))?;
        if let Some(d) = inner.digest() {
            Digest::parse(d).map_err(|e| bad(e.to_string()))?;
        }
        // The name part ends at '@'; a tag is a ':' after the last '/'.
        let name = s.split('@').next().unwrap_or(s);
        let last = name.rsplit('/').next().unwrap_or(name);
        let explicit_tag = last.contains(':');
        Ok(ImageRef {
            inner,
            explicit_tag,
        })
    }

    /// Registry host (and port), `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag; `latest` when neither tag nor digest was given.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<Digest> {
        self.inner.digest().and_then(|d| Digest::parse(d).ok())
    }

    pub fn has_explicit_tag(&self) -> bool {
        self.explicit_tag
    }

    /// `registry/repository`, the name shown in the REPOSITORY column.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// `registry/repository:tag`, if the reference has a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag().map(|t| format!("{}:{t}", self.name()))
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = ImageRef::parse("nginx:1.14").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx:1.14");
        assert!(r.has_explicit_tag());
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert!(!r.has_explicit_tag());
        let r = ImageRef::parse("user/app").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app:latest");
        let r = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "app");
        assert!(!r.has_explicit_tag());
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = ImageRef::parse(&format!("registry.local:5000/team/app@{d}")).unwrap();
        assert_eq!(r.registry(), "registry.local:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().as_str(), d);
        assert!(!r.has_explicit_tag());
        assert!(ImageRef::parse("Upper/Case").is_err());
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("app@sha256:1234").is_err());
        assert!(ImageRef::parse("a b").is_err());
    }
}
