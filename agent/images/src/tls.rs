//! The process's TLS crypto provider: rustls with ring, installed once before any HTTPS client
//! (registry pulls here; probes and the API client in nodelet) is built. reqwest and
//! oci-client are built without a provider of their own, so building a client without this
//! fails.

use std::sync::Once;

/// Installs ring as rustls's process-wide provider (idempotent; keeps one installed earlier).
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_once_and_clients_build() {
        super::install_provider();
        super::install_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
