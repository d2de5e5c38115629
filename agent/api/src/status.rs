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
