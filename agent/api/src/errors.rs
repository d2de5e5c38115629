//! Every error the API answers is a Kubernetes `Status`: axum's own rejections (a query string
//! that does not parse, a body that is too large, a missing upgrade) come as plain text, so a
//! response layer wraps any non-JSON error body into a `Status` with the code's reason.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;

/// The API server's reason for an HTTP error code.
pub fn reason(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// Largest plain-text error body kept as the message.
const MAX_MESSAGE: usize = 64 * 1024;

/// Response layer: a non-JSON error response becomes a `Status` (JSON ones are ours already).
pub async fn as_status(resp: Response) -> Response {
    let code = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(code.is_client_error() || code.is_server_error()) || json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        code.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let st = super::status::failure(code.as_u16(), reason(code), message);
    let body = serde_json::to_vec(&*st).unwrap_or_default();
    let mut out = Response::from_parts(parts, Body::from(body));
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    out.headers_mut().remove(header::CONTENT_LENGTH);
    out
}
