//! Kubernetes `Status` error bodies as the API server sends them (`kind: Status`, `status:
//! Failure`, reason, message, code), so `nodectl` can print `Error from server (NotFound): pods
//! "x" not found` exactly as kubectl does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusDetails};

pub fn failure(code: u16, reason: &str, message: String) -> Box<Status> {
    Box::new(Status {
        code: Some(i32::from(code)),
        reason: Some(reason.to_string()),
        message: Some(message),
        status: Some("Failure".to_string()),
        ..Default::default()
    })
}

/// `pods "x" not found`.
pub fn pod_not_found(name: &str) -> Box<Status> {
    let mut s = failure(404, "NotFound", format!("pods \"{name}\" not found"));
    s.details = Some(StatusDetails {
        kind: Some("pods".to_string()),
        name: Some(name.to_string()),
        ..Default::default()
    });
    s
}

pub fn bad_request(message: String) -> Box<Status> {
    failure(400, "BadRequest", message)
}

pub fn internal(message: String) -> Box<Status> {
    failure(500, "InternalError", message)
}

/// `<resource> "<name>" not found` for any resource (`pods`, `nodes`, `namespaces`...).
pub fn not_found(resource: &str, name: &str) -> Box<Status> {
    let mut s = failure(404, "NotFound", format!("{resource} \"{name}\" not found"));
    s.details = Some(StatusDetails {
        kind: Some(resource.to_string()),
        name: Some(name.to_string()),
        ..Default::default()
    });
    s
}

/// 409 `<resource> "<name>" already exists`.
pub fn already_exists(resource: &str, name: &str) -> Box<Status> {
    let mut s = failure(
        409,
        "AlreadyExists",
        format!("{resource} \"{name}\" already exists"),
    );
    s.details = Some(StatusDetails {
        kind: Some(resource.to_string()),
        name: Some(name.to_string()),
        ..Default::default()
    });
    s
}

/// 409 Conflict (a stale resourceVersion).
pub fn conflict(resource: &str, name: &str, why: &str) -> Box<Status> {
    let mut s = failure(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
    );
    s.details = Some(StatusDetails {
        kind: Some(resource.to_string()),
        name: Some(name.to_string()),
        ..Default::default()
    });
    s
}

/// 422 Invalid with one cause per field error, worded as the API server words it:
/// `Pod "x" is invalid: [spec.containers[0].image: Required value, ...]`.
pub fn invalid(
    kind: &str,
    name: &str,
    errors: &[nodelet_objects::field::FieldError],
) -> Box<Status> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let joined = if msgs.len() == 1 {
        msgs[0].clone()
    } else {
        format!("[{}]", msgs.join(", "))
    };
    let mut s = failure(
        422,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: {joined}"),
    );
    s.details = Some(StatusDetails {
        kind: Some(kind.to_string()),
        name: Some(name.to_string()),
        causes: Some(
            errors
                .iter()
                .map(|e| StatusCause {
                    field: Some(e.field.to_string()),
                    // kubectl prints `<field>: <message>`.
                    message: Some({
                        let full = e.to_string();
                        full.strip_prefix(&format!("{}: ", e.field))
                            .map(str::to_string)
                            .unwrap_or(full)
                    }),
                    reason: Some(cause_reason(e.kind).to_string()),
                })
                .collect(),
        ),
        ..Default::default()
    });
    s
}

/// 405 for a verb a resource does not support.
pub fn method_not_allowed(method: &str, path: &str) -> Box<Status> {
    failure(
        405,
        "MethodNotAllowed",
        format!(
            "the server does not allow this method on the requested resource ({method} {path})"
        ),
    )
}

/// 410 Gone: a watch from a resource version the server no longer has.
pub fn gone(message: String) -> Box<Status> {
    failure(410, "Expired", message)
}

/// 415 for a body type the endpoint does not take.
pub fn unsupported_media_type(content_type: &str) -> Box<Status> {
    failure(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
        ),
    )
}

/// The API server's `StatusCause.reason` for a field error kind.
fn cause_reason(k: nodelet_objects::field::ErrorKind) -> &'static str {
    use nodelet_objects::field::ErrorKind as K;
    match k {
        K::NotFound => "FieldValueNotFound",
        K::Required => "FieldValueRequired",
        K::Duplicate => "FieldValueDuplicate",
        K::Invalid | K::TypeError => "FieldValueInvalid",
        K::NotSupported => "FieldValueNotSupported",
        K::Forbidden => "FieldValueForbidden",
        K::TooLong => "FieldValueTooLong",
        K::TooMany => "FieldValueTooMany",
        K::UnknownField => "FieldValueInvalid",
    }
}
