//! What every route answers with: a JSON body, or a Kubernetes `Status` error whose code is
//! the HTTP status (so kubectl prints `Error from server (NotFound): ...`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

/// `v` as a JSON response with `code`.
pub fn json_response<T: serde::Serialize>(code: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (code, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A Kubernetes `Status` error response (its code as the HTTP status).
pub fn status_response(s: Box<Status>) -> Response {
    let code = s
        .code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &*s)
}
