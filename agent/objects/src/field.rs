//! Field-level validation errors in the Kubernetes format
//! (`spec.containers[1].image: Required value`), and the field paths they name.

use std::borrow::Cow;
use std::fmt;

/// The most of a user's value (a name, a key, a quoted input) an error, event or log line
/// quotes; the rest is summarised by [`bounded`]. A 4 MB invalid `metadata.name` must not
/// become a 4 MB log line, event or stored error.
pub const QUOTE_MAX: usize = 512;

/// `s` if it is at most `max` bytes, else its first `max` bytes (at a character boundary)
/// followed by `… (N bytes)`, N being the whole length.
pub fn bounded_to(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &s[..end], s.len()))
}

/// [`bounded_to`] at [`QUOTE_MAX`].
pub fn bounded(s: &str) -> Cow<'_, str> {
    bounded_to(s, QUOTE_MAX)
}

/// A path to a field of an object: `spec.containers[1].ports[0].containerPort`,
/// `metadata.labels[app]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath(String);

impl FieldPath {
    /// A top-level field (`metadata`, `spec`).
    pub fn new(root: &str) -> FieldPath {
        FieldPath(root.to_string())
    }

    /// `self.name` (a long name, e.g. an unknown key from a manifest, is [`bounded`])
    pub fn child(&self, name: &str) -> FieldPath {
        let name = bounded(name);
        if self.0.is_empty() {
            FieldPath(name.into_owned())
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    /// `self[i]`
    pub fn index(&self, i: usize) -> FieldPath {
        FieldPath(format!("{}[{i}]", self.0))
    }

    /// `self[key]` (map entries, as the API server writes them; a long key is [`bounded`]).
    pub fn key(&self, key: &str) -> FieldPath {
        FieldPath(format!("{}[{}]", self.0, bounded(key)))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for FieldPath {
    fn from(s: &str) -> FieldPath {
        FieldPath(s.to_string())
    }
}

/// The kind of a field error; `Display` gives the API server's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    /// A key that the Pod schema does not have (strict decoding).
    UnknownField,
    /// A value of the wrong type (string where a number is expected, ...).
    TypeError,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "Not found",
            ErrorKind::Required => "Required value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::UnknownField => "Unknown field",
            ErrorKind::TypeError => "Invalid type",
        })
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: FieldPath,
    pub kind: ErrorKind,
    /// The offending value as the API server prints it (`"Foo"`, `70000`), if it is shown.
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    /// The value and detail are [`bounded`] (both can quote what the user wrote).
    fn new(field: &FieldPath, kind: ErrorKind, value: Option<String>, detail: &str) -> FieldError {
        FieldError {
            field: field.clone(),
            kind,
            value: value.map(|v| bounded_to(&v, QUOTE_MAX + 2).into_owned()),
            detail: bounded_to(detail, 4 * QUOTE_MAX).into_owned(),
        }
    }
    pub fn required(field: &FieldPath, detail: &str) -> FieldError {
        FieldError::new(field, ErrorKind::Required, None, detail)
    }
    pub fn forbidden(field: &FieldPath, detail: &str) -> FieldError {
        FieldError::new(field, ErrorKind::Forbidden, None, detail)
    }
    pub fn invalid(field: &FieldPath, value: impl fmt::Debug, detail: &str) -> FieldError {
        FieldError::new(
            field,
            ErrorKind::Invalid,
            Some(format!("{value:?}")),
            detail,
        )
    }
    pub fn duplicate(field: &FieldPath, value: impl fmt::Debug) -> FieldError {
        FieldError::new(field, ErrorKind::Duplicate, Some(format!("{value:?}")), "")
    }
    pub fn not_found(field: &FieldPath, value: impl fmt::Debug) -> FieldError {
        FieldError::new(field, ErrorKind::NotFound, Some(format!("{value:?}")), "")
    }
    pub fn too_long(field: &FieldPath, max: usize) -> FieldError {
        FieldError::new(
            field,
            ErrorKind::TooLong,
            None,
            &format!("may not be more than {max} bytes"),
        )
    }
    /// A value outside a fixed set: `Unsupported value: "X": supported values: "A", "B"`.
    pub fn not_supported(field: &FieldPath, value: &str, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError::new(
            field,
            ErrorKind::NotSupported,
            Some(format!("{value:?}")),
            &format!("supported values: {}", list.join(", ")),
        )
    }
    pub fn unknown_field(field: &FieldPath) -> FieldError {
        FieldError::new(field, ErrorKind::UnknownField, None, "")
    }
    pub fn type_error(field: &FieldPath, detail: &str) -> FieldError {
        FieldError::new(field, ErrorKind::TypeError, None, detail)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.as_str().is_empty() {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}: {}", self.field, self.kind)?;
        }
        if let Some(v) = &self.value {
            write!(f, ": {v}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_bounded() {
        let name = "X".repeat(4 << 20);
        let e = FieldError::invalid(&FieldPath::new("metadata").child("name"), &name, "bad");
        let s = e.to_string();
        assert!(s.len() < 700, "{} bytes", s.len());
        assert!(s.starts_with("metadata.name: Invalid value: \"XXX"), "{s}");
        assert!(
            s.ends_with(&format!("XX… ({} bytes): bad", name.len() + 2)),
            "{s}"
        );
        let k = FieldPath::new("metadata").child("labels").key(&name);
        assert!(k.as_str().len() < 700);
        // Short values are untouched; a cut never splits a character.
        assert_eq!(bounded("é"), "é");
        assert_eq!(bounded_to("aé", 2), "a… (3 bytes)");
    }

    #[test]
    fn formats_like_the_api_server() {
        let p = FieldPath::new("spec")
            .child("containers")
            .index(1)
            .child("image");
        assert_eq!(
            FieldError::required(&p, "").to_string(),
            "spec.containers[1].image: Required value"
        );
        let p = FieldPath::new("spec").child("restartPolicy");
        assert_eq!(
            FieldError::not_supported(&p, "Sometimes", &["Always", "OnFailure", "Never"])
                .to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        let p = FieldPath::new("spec")
            .child("containers")
            .index(0)
            .child("ports")
            .index(0);
        assert_eq!(
            FieldError::invalid(
                &p.child("containerPort"),
                70000,
                "must be between 1 and 65535, inclusive"
            )
            .to_string(),
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
        assert_eq!(
            FieldPath::new("metadata")
                .child("labels")
                .key("app")
                .to_string(),
            "metadata.labels[app]"
        );
    }
}
