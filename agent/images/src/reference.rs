//! Image references with Docker-style normalization: `nginx:1.14` →
//! `docker.io/library/nginx:1.14`, default tag `latest`, digests, `host:port/repo`.
//!
//! The string is checked against the distribution reference grammar here, with ASCII
//! character classes as in Docker's Go implementation, and the result is built with
//! `oci_client::Reference`'s constructors. `Reference`'s own `FromStr` is not used: its
//! Unicode-aware regex keeps about 5.7 MB of compiled automaton on the heap for the life of
//! the process (heaptrack, debug build of nodelet), a quarter of the agent's memory budget.

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
        let (name, tag, digest) = grammar::split(s).map_err(bad)?;
        if let Some(d) = digest {
            Digest::parse(d).map_err(|e| bad(e.to_string()))?;
        }
        let (registry, repository) = grammar::split_domain(name);
        if repository.len() > grammar::NAME_MAX {
            return Err(bad(format!(
                "repository name longer than {} characters",
                grammar::NAME_MAX
            )));
        }
        let inner = match (tag, digest) {
            (Some(t), Some(d)) => {
                Reference::with_tag_and_digest(registry, repository, t.into(), d.into())
            }
            (None, Some(d)) => Reference::with_digest(registry, repository, d.into()),
            (t, None) => Reference::with_tag(registry, repository, t.unwrap_or("latest").into()),
        };
        Ok(ImageRef {
            inner,
            explicit_tag: tag.is_some(),
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

/// The distribution reference grammar (github.com/distribution/reference):
///
/// ```text
/// reference        := name [ ":" tag ] [ "@" digest ]
/// name             := [domain "/"] path-component ["/" path-component]*
/// domain           := domain-component ["." domain-component]* [":" port-number]
/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
/// path-component   := alpha-numeric [separator alpha-numeric]*
/// alpha-numeric    := [a-z0-9]+
/// separator        := [_.] | "__" | "-"+
/// tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
/// digest           := algorithm ":" [0-9a-fA-F]{32,}
/// algorithm        := [A-Za-z][A-Za-z0-9]* ([-_+.] [A-Za-z][A-Za-z0-9]*)*
/// ```
mod grammar {
    /// Longest repository name.
    pub const NAME_MAX: usize = 255;

    /// `(name, tag, digest)` of a reference that follows the grammar, or why it does not.
    pub fn split(s: &str) -> Result<(&str, Option<&str>, Option<&str>), String> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        // A tag is a ':' after the last '/' (an earlier ':' belongs to the domain's port).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        let mut parts: Vec<&str> = name.split('/').collect();
        if parts.len() > 1 && is_domain_like(parts[0]) {
            let domain = parts.remove(0);
            if !domain_ok(domain) {
                return Err(format!("invalid registry host {domain:?}"));
            }
        }
        for p in &parts {
            if !path_component_ok(p) {
                return Err(format!(
                    "invalid repository name component {p:?}: lowercase letters, digits and \
                     the separators '.', '_', '__', '-' between them"
                ));
            }
        }
        if let Some(t) = tag
            && !tag_ok(t)
        {
            return Err(format!(
                "invalid tag {t:?}: up to 128 of letters, digits, '_', '.', '-', not starting \
                 with '.' or '-'"
            ));
        }
        if let Some(d) = digest
            && !digest_ok(d)
        {
            return Err(format!("invalid digest {d:?}"));
        }
        Ok((name, tag, digest))
    }

    /// Docker's rule: the first component names a registry when it has a '.' or a ':' or
    /// is `localhost`.
    fn is_domain_like(c: &str) -> bool {
        c.contains('.') || c.contains(':') || c == "localhost"
    }

    /// `docker.io` when the name has no registry, `library/` for official images.
    pub fn split_domain(name: &str) -> (String, String) {
        let (mut domain, mut rest) = match name.split_once('/') {
            Some((d, r)) if is_domain_like(d) => (d.to_string(), r.to_string()),
            _ => ("docker.io".to_string(), name.to_string()),
        };
        if domain == "index.docker.io" {
            domain = "docker.io".into();
        }
        if domain == "docker.io" && !rest.contains('/') {
            rest = format!("library/{rest}");
        }
        (domain, rest)
    }

    fn domain_ok(d: &str) -> bool {
        let (host, port) = match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        };
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        };
        host.split('.').all(label_ok)
            && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    }

    fn path_component_ok(c: &str) -> bool {
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let b = c.as_bytes();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        // Every run of non-alphanumerics must be one separator.
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    }

    fn tag_ok(t: &str) -> bool {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let b = t.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
    }

    fn digest_ok(d: &str) -> bool {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        let component_ok = |c: &str| {
            let b = c.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        };
        algo.split(['-', '_', '+', '.']).all(component_ok)
            && hex.len() >= 32
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
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

    #[test]
    fn follows_the_distribution_grammar() {
        for ok in [
            "a",
            "a.b_c__d-e--f",
            "user/a.b_c__d-e--f/g0",
            "docker.io/library/busybox:1.36.1",
            "index.docker.io/busybox",
            "my-registry.example.com:443/x/y/z:v1_2-3.4",
            "localhost/app:Tag_1",
            "UPPER.io/app",
            "127.0.0.1:5000/app",
            "busybox:latest@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(
                ImageRef::parse(ok).is_ok(),
                "{ok}: {:?}",
                ImageRef::parse(ok)
            );
        }
        for bad in [
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a/-b",
            "a//b",
            "/a",
            "a/",
            "app:",
            "app:.tag",
            "app:-tag",
            "app:tág",
            "app@",
            "app:@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "-host.io/app",
            "host.io:port/app",
            "host-.io/app",
            "x@md5:0123",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} was accepted");
        }
        let long_tag = format!("app:{}", "t".repeat(129));
        assert!(ImageRef::parse(&long_tag).is_err());
        assert!(ImageRef::parse(&format!("app:{}", "t".repeat(128))).is_ok());
        let long_name = format!("a/{}", "b".repeat(255));
        assert!(ImageRef::parse(&long_name).is_err());
        // Normalisation of the registry part.
        let r = ImageRef::parse("index.docker.io/busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = ImageRef::parse("127.0.0.1:5000/app:v1").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "app", Some("v1"))
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = ImageRef::parse(&format!("busybox:1.36@{d}")).unwrap();
        assert_eq!((r.tag(), r.has_explicit_tag()), (Some("1.36"), true));
        assert_eq!(r.digest().unwrap().as_str(), d);
    }
}
