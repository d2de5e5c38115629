//! The API over TCP: TLS (rustls, ring) with client-certificate authentication only. At first
//! start nodelet makes a small PKI in `<rootDir>/pki` (rcgen; `TcpOptions::pki_dir`): a CA, the server certificate
//! (names: localhost, 127.0.0.1, the node name and IP, the listen address) and an admin
//! client certificate (CN `nodelet-admin`, O `system:masters`), and writes a kubeconfig
//! holding the CA, the admin certificate and the server URL (`adminKubeconfig`, default
//! `/etc/nodelet/admin.kubeconfig`, mode 0600). A client without a certificate signed by that
//! CA fails the handshake: nothing is served unauthenticated on TCP. Existing files are
//! reused; a server certificate that lacks a name the node now needs is made again.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("making certificates: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The PEM files of the node's PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

fn write_private(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The names the server certificate must carry.
pub fn server_names(node: &str, node_ip: Option<IpAddr>, listen: SocketAddr) -> Vec<String> {
    let mut v = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        node.to_lowercase(),
    ];
    if let Some(ip) = node_ip {
        v.push(ip.to_string());
    }
    if !listen.ip().is_unspecified() {
        v.push(listen.ip().to_string());
    }
    v.sort();
    v.dedup();
    v
}

fn ca_params() -> Result<rcgen::CertificateParams, TlsError> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "nodelet-ca");
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(p)
}

fn leaf(
    names: Vec<String>,
    cn: &str,
    org: Option<&str>,
    usage: rcgen::ExtendedKeyUsagePurpose,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<(String, String), TlsError> {
    let mut p = rcgen::CertificateParams::new(names)?;
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    if let Some(o) = org {
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, o);
    }
    p.extended_key_usages = vec![usage];
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = rcgen::KeyPair::generate()?;
    let cert = p.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Loads the PKI in `dir`, making what is missing (all of it at first start; the server
/// certificate again when `names` has a name it lacks).
pub fn ensure(dir: &Path, names: &[String]) -> Result<Pki, TlsError> {
    let f = |n: &str| dir.join(n);
    let (ca_cert, ca_key) = match (read(&f("ca.crt")), read(&f("ca.key"))) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let key = rcgen::KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write_private(&f("ca.key"), &k, 0o600)?;
            write_private(&f("ca.crt"), &c, 0o644)?;
            // A new CA: certificates of an old one are worthless.
            for n in ["server.crt", "server.key", "admin.crt", "admin.key"] {
                let _ = std::fs::remove_file(f(n));
            }
            (c, k)
        }
    };
    let ca_key_pair = rcgen::KeyPair::from_pem(&ca_key)?;
    // The CA's subject comes from the same parameters it was made with.
    let issuer = rcgen::Issuer::new(ca_params()?, ca_key_pair);
    let names_file = f("server.names");
    let have_names = read(&names_file).unwrap_or_default();
    let covered = names.iter().all(|n| have_names.lines().any(|l| l == n));
    let (server_cert, server_key) = match (read(&f("server.crt")), read(&f("server.key"))) {
        (Some(c), Some(k)) if covered => (c, k),
        _ => {
            let (c, k) = leaf(
                names.to_vec(),
                "nodelet",
                None,
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                &issuer,
            )?;
            write_private(&f("server.key"), &k, 0o600)?;
            write_private(&f("server.crt"), &c, 0o644)?;
            write_private(&names_file, &(names.join("\n") + "\n"), 0o644)?;
            (c, k)
        }
    };
    let (admin_cert, admin_key) = match (read(&f("admin.crt")), read(&f("admin.key"))) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (c, k) = leaf(
                vec![],
                "nodelet-admin",
                Some("system:masters"),
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
                &issuer,
            )?;
            write_private(&f("admin.key"), &k, 0o600)?;
            write_private(&f("admin.crt"), &c, 0o644)?;
            (c, k)
        }
    };
    Ok(Pki {
        dir: dir.to_path_buf(),
        ca_cert,
        server_cert,
        server_key,
        admin_cert,
        admin_key,
    })
}

fn pem_err(pki: &Pki, name: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: pki.dir.join(name),
        reason: e.to_string(),
    }
}

/// rustls server settings: the server certificate, client certificates signed by the CA
/// required, HTTP/1.1.
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        let c = c.map_err(|e| pem_err(pki, "ca.crt", e))?;
        roots.add(c).map_err(|e| pem_err(pki, "ca.crt", e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::Config(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| pem_err(pki, "server.crt", e))?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes())
        .map_err(|e| pem_err(pki, "server.key", e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The admin kubeconfig for `server` (`https://host:port`).
pub fn kubeconfig(pki: &Pki, server: &str, node: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nodelet-{node}\n  cluster:\n    \
         certificate-authority-data: {}\n    server: {server}\ncontexts:\n- name: \
         nodelet-admin@{node}\n  context:\n    cluster: nodelet-{node}\n    user: nodelet-admin\n\
         current-context: nodelet-admin@{node}\npreferences: {{}}\nusers:\n- name: nodelet-admin\n  \
         user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&pki.ca_cert),
        b64(&pki.admin_cert),
        b64(&pki.admin_key),
    )
}

/// Writes the kubeconfig (0600, atomically).
pub fn write_kubeconfig(path: &Path, text: &str) -> Result<(), TlsError> {
    write_private(path, text, 0o600)
}

/// The URL clients use: the listen address, else the node IP, else loopback.
pub fn server_url(listen: SocketAddr, node_ip: Option<IpAddr>) -> String {
    let ip = if listen.ip().is_unspecified() {
        node_ip.unwrap_or(IpAddr::from([127, 0, 0, 1]))
    } else {
        listen.ip()
    };
    format!("https://{}", SocketAddr::new(ip, listen.port()))
}

/// What the TCP API needs of the node's configuration.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// The node's name (a server certificate name, the kubeconfig's cluster and context).
    pub node_name: String,
    /// The node's IP, if it has one (a server certificate name; the URL of a wildcard listen).
    pub node_ip: Option<IpAddr>,
    /// Where the PKI lives (`<rootDir>/pki`).
    pub pki_dir: PathBuf,
    /// Where the admin kubeconfig is written (`adminKubeconfig`).
    pub admin_kubeconfig: PathBuf,
}

/// Binds the TCP API at `addr`: makes or loads the PKI (`opts.pki_dir`), writes the admin
/// kubeconfig and returns the TLS listener.
pub async fn serve_tcp(opts: &TcpOptions, addr: SocketAddr) -> Result<TlsListener, TlsError> {
    let node_ip = opts.node_ip;
    let names = server_names(&opts.node_name, node_ip, addr);
    let pki = ensure(&opts.pki_dir, &names)?;
    let server_cfg = server_config(&pki)?;
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| TlsError::Io {
            path: PathBuf::from(addr.to_string()),
            source,
        })?;
    let local = tcp.local_addr().unwrap_or(addr);
    let text = kubeconfig(&pki, &server_url(local, node_ip), &opts.node_name);
    write_kubeconfig(&opts.admin_kubeconfig, &text)?;
    tracing::info!(address = %local, kubeconfig = %opts.admin_kubeconfig.display(), "API on TCP (TLS, client certificates)");
    TlsListener::new(tcp, server_cfg).map_err(|source| TlsError::Io {
        path: PathBuf::from(addr.to_string()),
        source,
    })
}

/// A TCP listener whose connections are TLS sessions that passed client authentication;
/// handshakes run on their own tasks (a slow or failing client holds up no one).
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// How long a client has to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(tcp: TcpListener, cfg: Arc<rustls::ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(cfg);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let (s, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("API TCP accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(s)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::info!(client = %addr, "API TLS handshake: {e}"),
                        Err(_) => tracing::info!(client = %addr, "API TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_is_made_once_and_server_names_are_kept_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let names = server_names("Node1", None, "0.0.0.0:6443".parse().unwrap());
        assert_eq!(names, ["127.0.0.1", "localhost", "node1"]);
        let a = ensure(dir.path(), &names).unwrap();
        let b = ensure(dir.path(), &names).unwrap();
        assert_eq!(a.admin_cert, b.admin_cert);
        assert_eq!(a.server_cert, b.server_cert);
        let more = server_names(
            "node1",
            Some("10.0.0.5".parse().unwrap()),
            "0.0.0.0:6443".parse().unwrap(),
        );
        let c = ensure(dir.path(), &more).unwrap();
        assert_ne!(c.server_cert, a.server_cert);
        assert_eq!(c.ca_cert, a.ca_cert);
        server_config(&c).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let kc = kubeconfig(
            &c,
            &server_url(
                "0.0.0.0:6443".parse().unwrap(),
                Some("10.0.0.5".parse().unwrap()),
            ),
            "node1",
        );
        assert!(kc.contains("server: https://10.0.0.5:6443\n"), "{kc}");
    }
}
