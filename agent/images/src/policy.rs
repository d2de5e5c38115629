//! Kubernetes image pull policy (Always / IfNotPresent / Never, with the defaulting rule) and
//! the pull backoff that turns repeated `ErrImagePull` into `ImagePullBackOff`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::reference::ImageRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// Parses the Kubernetes spelling; `None`/empty gets the default for `image`.
    pub fn from_spec(value: Option<&str>, image: &ImageRef) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" => Ok(Self::default_for(image)),
            "Always" => Ok(PullPolicy::Always),
            "IfNotPresent" => Ok(PullPolicy::IfNotPresent),
            "Never" => Ok(PullPolicy::Never),
            other => Err(format!(
                "imagePullPolicy {other:?}: must be Always, IfNotPresent or Never"
            )),
        }
    }

    /// Kubernetes defaulting: `Always` when the tag is `latest` or absent (and no digest),
    /// `IfNotPresent` otherwise.
    pub fn default_for(image: &ImageRef) -> Self {
        if image.digest().is_some() {
            return PullPolicy::IfNotPresent;
        }
        if !image.has_explicit_tag() || image.tag() == Some("latest") {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    }

    /// Whether a pull is needed given whether the image is present locally.
    pub fn needs_pull(self, present: bool) -> bool {
        match self {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Never => false,
        }
    }
}

/// Per-image pull backoff, as the kubelet does: after a failed pull the image is in backoff for
/// 10 s, doubling on each further failure up to 300 s; a success clears it.
#[derive(Debug, Default)]
pub struct PullBackoff {
    entries: HashMap<String, (Instant, Duration)>,
    last_error: HashMap<String, String>,
}

pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

impl PullBackoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Some(remaining)` when a pull of `image` must wait (the pod shows `ImagePullBackOff`).
    pub fn in_backoff(&self, image: &str, now: Instant) -> Option<Duration> {
        let (since, wait) = self.entries.get(image)?;
        let until = *since + *wait;
        (now < until).then(|| until - now)
    }

    pub fn failed(&mut self, image: &str, now: Instant) {
        let wait = match self.entries.get(image) {
            Some((_, w)) => (*w * 2).min(BACKOFF_MAX),
            None => BACKOFF_INITIAL,
        };
        self.entries.insert(image.to_string(), (now, wait));
    }

    /// Like `failed`, remembering the error for the `ImagePullBackOff` message.
    pub fn failed_with(&mut self, image: &str, now: Instant, error: String) {
        self.failed(image, now);
        self.last_error.insert(image.to_string(), error);
    }

    pub fn last_error(&self, image: &str) -> Option<&str> {
        self.last_error.get(image).map(String::as_str)
    }

    pub fn succeeded(&mut self, image: &str) {
        self.entries.remove(image);
        self.last_error.remove(image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn defaulting_matches_kubernetes() {
        assert_eq!(PullPolicy::default_for(&r("busybox")), PullPolicy::Always);
        assert_eq!(
            PullPolicy::default_for(&r("busybox:latest")),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::default_for(&r("busybox:1.36")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::default_for(&r("localhost:5000/busybox")),
            PullPolicy::Always
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            PullPolicy::default_for(&r(&format!("busybox@{d}"))),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::from_spec(Some("Never"), &r("x")),
            Ok(PullPolicy::Never)
        );
        assert!(PullPolicy::from_spec(Some("Sometimes"), &r("x")).is_err());
        assert!(PullPolicy::Always.needs_pull(true));
        assert!(!PullPolicy::IfNotPresent.needs_pull(true));
        assert!(PullPolicy::IfNotPresent.needs_pull(false));
        assert!(!PullPolicy::Never.needs_pull(false));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = PullBackoff::new();
        let t0 = Instant::now();
        assert!(b.in_backoff("a", t0).is_none());
        b.failed("a", t0);
        assert_eq!(b.in_backoff("a", t0), Some(BACKOFF_INITIAL));
        assert!(b.in_backoff("a", t0 + BACKOFF_INITIAL).is_none());
        b.failed("a", t0);
        assert_eq!(b.in_backoff("a", t0), Some(Duration::from_secs(20)));
        for _ in 0..10 {
            b.failed("a", t0);
        }
        assert_eq!(b.in_backoff("a", t0), Some(BACKOFF_MAX));
        b.succeeded("a");
        assert!(b.in_backoff("a", t0).is_none());
    }
}
