//! nodectl talks plain HTTP over the node's Unix socket: a host without CA certificates (no
//! ca-certificates package, as in a minimal VM image) must not keep it from starting.

use std::process::Command;

#[test]
fn works_without_ca_certificates() {
    let empty = tempfile::tempdir().unwrap();
    let no_file = empty.path().join("none.pem");
    std::fs::write(&no_file, "").unwrap();
    let sock = empty.path().join("nodelet.sock");
    let o = Command::new(env!("CARGO_BIN_EXE_nodectl"))
        .args(["--socket", sock.to_str().unwrap(), "ps"])
        // Where rustls looks for the system's roots: nothing there.
        .env("SSL_CERT_FILE", &no_file)
        .env("SSL_CERT_DIR", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("cannot connect to nodelet"), "{err}");
    assert!(!err.contains("CA certificates"), "{err}");
}
