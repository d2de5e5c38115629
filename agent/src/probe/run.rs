//! One probe attempt: connect / request / exec with the probe's timeout, and the kubelet's
//! verdicts and messages (HTTP 200–399 passes; TCP passes on connect; exec passes on exit 0;
//! gRPC passes on SERVING).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::spec::Handler;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Failed (or timed out), with the kubelet-style message for the `Unhealthy` event.
    Failure(String),
}

/// How exec probes run a command in the container (through the pod's shim):
/// `(command, timeout) → Outcome`.
pub type ExecFn =
    dyn Fn(Vec<String>, Duration) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync;

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub async fn run_once(handler: &Handler, timeout: Duration, exec: Option<&ExecFn>) -> Outcome {
    match handler {
        Handler::Http {
            https,
            host,
            port,
            path,
            headers,
        } => {
            let scheme = if *https { "https" } else { "http" };
            let url = format!(
                "{scheme}://{}{}",
                host_port(host, *port),
                if path.starts_with('/') {
                    path.clone()
                } else {
                    format!("/{path}")
                }
            );
            http_get(&url, headers, timeout).await
        }
        Handler::Tcp { host, port } => {
            let addr = host_port(host, *port);
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => Outcome::Success,
                Ok(Err(e)) => Outcome::Failure(format!("dial tcp {addr}: connect: {e}")),
                Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
            }
        }
        Handler::Exec { command } => match exec {
            Some(f) => f(command.clone(), timeout).await,
            None => Outcome::Failure("exec probes need the pod's shim".into()),
        },
        Handler::Grpc {
            host,
            port,
            service,
        } => grpc_check(host, *port, service.as_deref(), timeout).await,
    }
}

async fn http_get(url: &str, headers: &[(String, String)], timeout: Duration) -> Outcome {
    let client = match super::http::http_client() {
        Ok(c) => c,
        Err(e) => return Outcome::Failure(e),
    };
    let mut req = client.get(url).timeout(timeout).header("Accept", "*/*");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            if (200..400).contains(&code) {
                Outcome::Success
            } else {
                Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
        Err(e) if e.is_timeout() => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            Outcome::Failure(format!("Get \"{url}\": {msg}"))
        }
    }
}

async fn grpc_check(host: &str, port: u16, service: Option<&str>, timeout: Duration) -> Outcome {
    let client = match super::http::grpc_client() {
        Ok(c) => c,
        Err(e) => return Outcome::Failure(e),
    };
    let url = format!(
        "http://{}/grpc.health.v1.Health/Check",
        host_port(host, port)
    );
    let fut = async {
        let resp = client
            .post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(super::grpc::request(service))
            .send()
            .await
            .map_err(|e| format!("failed to connect service {:?}: {e}", host_port(host, port)))?;
        if let Some(st) = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .filter(|s| *s != "0")
        {
            let msg = resp
                .headers()
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            return Err(format!(
                "health rpc probe failed: rpc error: code = {st} desc = {msg}"
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("health rpc probe failed: {e}"))?;
        match super::grpc::response_status(&body) {
            Some(1) => Ok(()),
            Some(s) => Err(format!(
                "service unhealthy (responded with \"{}\")",
                match s {
                    2 => "NOT_SERVING",
                    3 => "SERVICE_UNKNOWN",
                    _ => "UNKNOWN",
                }
            )),
            None => Err("health rpc probe failed: malformed response".into()),
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(())) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(e),
        Err(_) => Outcome::Failure(format!(
            "timeout: failed to connect service {:?} within {}s",
            host_port(host, port),
            timeout.as_secs()
        )),
    }
}
