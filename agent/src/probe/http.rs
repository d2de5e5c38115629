//! The HTTP clients probes share: one for httpGet (HTTP/1.1, HTTPS without certificate checks
//! as the kubelet does, no connection reuse, redirects followed) and one for gRPC (HTTP/2 with
//! prior knowledge). Built once, used by every probe on the runtime.

use std::sync::OnceLock;

pub const USER_AGENT: &str = concat!("kube-probe/", env!("CARGO_PKG_VERSION"));

pub fn http_client() -> Result<&'static reqwest::Client, String> {
    static C: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    C.get_or_init(|| {
        nodelet_images::tls::install_provider();
        reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(USER_AGENT)
            .no_proxy()
            .build()
            .map_err(|e| format!("http client: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

pub fn grpc_client() -> Result<&'static reqwest::Client, String> {
    static C: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    C.get_or_init(|| {
        nodelet_images::tls::install_provider();
        reqwest::Client::builder()
            .http2_prior_knowledge()
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT)
            .no_proxy()
            .build()
            .map_err(|e| format!("grpc client: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}
