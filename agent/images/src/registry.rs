//! Registry access over oci-client: which registries may use plain HTTP (the insecure list,
//! loopback by default as Docker does), credentials per registry, one client per registry,
//! and translation of distribution errors into [`ImageError::Registry`] with the reason the
//! registry gave.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use crate::auth::Credentials;
use crate::error::{ImageError, RegistryFailure, Result};
use crate::platform::Platform;
use crate::reference::ImageRef;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Registries (`host` or `host:port`) reachable over plain HTTP. Loopback hosts
    /// (`localhost`, 127.0.0.0/8, ::1) always are.
    pub insecure: Vec<String>,
    /// A docker-style `config.json` with credentials.
    pub auth_file: Option<PathBuf>,
    /// The platform to pick from multi-arch indexes.
    pub platform: Platform,
    /// Layers downloaded at once.
    pub max_concurrent_downloads: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            auth_file: None,
            platform: Platform::host(),
            max_concurrent_downloads: 4,
        }
    }
}

impl RegistryConfig {
    /// Whether `registry` (`host[:port]`) may be spoken to over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = split_host(registry);
        if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|i| i == registry || i == host)
    }
}

/// `host:port` → `host`, `[::1]:5000` → `::1`.
fn split_host(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    }
}

/// Clients per registry plus credentials.
pub struct Registries {
    config: RegistryConfig,
    credentials: Credentials,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl Registries {
    pub fn new(config: RegistryConfig) -> Result<Self> {
        let credentials = match &config.auth_file {
            Some(p) => Credentials::load(p)?,
            None => Credentials::default(),
        };
        Ok(Registries {
            config,
            credentials,
            clients: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn credentials_mut(&mut self) -> &mut Credentials {
        &mut self.credentials
    }

    pub(crate) fn auth_for(&self, r: &ImageRef) -> RegistryAuth {
        self.credentials.for_registry(r.registry())
    }

    pub(crate) fn client_for(&self, r: &ImageRef) -> Arc<Client> {
        let key = r.oci().resolve_registry().to_string();
        let mut map = match self.clients.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(key)
            .or_insert_with(|| {
                crate::tls::install_provider();
                let protocol = if self.config.is_insecure(r.registry()) {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                };
                Arc::new(Client::new(ClientConfig {
                    protocol,
                    platform_resolver: None,
                    max_concurrent_download: self.config.max_concurrent_downloads,
                    connect_timeout: Some(std::time::Duration::from_secs(30)),
                    read_timeout: Some(std::time::Duration::from_secs(120)),
                    ..Default::default()
                }))
            })
            .clone()
    }
}

/// Turns an oci-client error into [`ImageError::Registry`] with the registry's reason.
pub(crate) fn registry_error(r: &ImageRef, what: &str, e: OciDistributionError) -> ImageError {
    use OciDistributionError as E;
    let (failure, reason) = match &e {
        E::RegistryError { envelope, .. } => {
            let failure = if envelope
                .errors
                .iter()
                .any(|x| matches!(x.code, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                RegistryFailure::Unauthorized
            } else if envelope.errors.iter().any(|x| {
                matches!(
                    x.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                RegistryFailure::NotFound
            } else {
                RegistryFailure::Protocol
            };
            let msgs: Vec<String> = envelope
                .errors
                .iter()
                .map(|x| {
                    let code = serde_json::to_value(&x.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{:?}", x.code));
                    format!("{code}: {}", x.message)
                })
                .collect();
            (failure, msgs.join("; "))
        }
        E::UnauthorizedError { url } => (
            RegistryFailure::Unauthorized,
            format!("unauthorized: authentication required (HTTP 401 from {url})"),
        ),
        E::AuthenticationFailure(reason) => (
            RegistryFailure::Unauthorized,
            format!("authentication failed: {}", reason.trim()),
        ),
        E::ServerError { code, url, message } => (
            match code {
                404 => RegistryFailure::NotFound,
                401 | 403 => RegistryFailure::Unauthorized,
                _ => RegistryFailure::Protocol,
            },
            format!("HTTP {code} from {url}: {}", message.trim()),
        ),
        E::ImageManifestNotFoundError(m) => (RegistryFailure::NotFound, m.clone()),
        E::RequestError(re) => {
            let mut msg = re.to_string();
            let mut src = std::error::Error::source(re);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            (RegistryFailure::Network, msg)
        }
        E::IoError(io) => (RegistryFailure::Network, io.to_string()),
        other => (RegistryFailure::Protocol, other.to_string()),
    };
    ImageError::Registry {
        reference: r.to_string(),
        registry: r.registry().to_string(),
        failure,
        reason: format!("{what}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default() {
        let mut c = RegistryConfig::default();
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.1:40000"));
        assert!(c.is_insecure("127.1.2.3"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("docker.io"));
        assert!(!c.is_insecure("registry.local:5000"));
        c.insecure.push("registry.local:5000".into());
        c.insecure.push("plain.example".into());
        assert!(c.is_insecure("registry.local:5000"));
        assert!(!c.is_insecure("registry.local:5001"));
        assert!(c.is_insecure("plain.example:8080"));
    }
}
