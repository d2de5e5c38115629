//! Probe attempts against real servers on loopback: httpGet passing (200–399) and failing
//! (500, refused, timeout), headers sent; HTTPS with a self-signed certificate (not
//! verified, as the kubelet does); tcpSocket; exec through a callback; gRPC health
//! (SERVING / NOT_SERVING / timeout) against an HTTP/2 server; and many probes at once on one
//! runtime thread.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodelet::probe::{Handler, Outcome, run_once};

/// A tiny HTTP/1.1 server answering every request with `status`; returns its port. The
/// request head is sent back to the test through `seen`.
fn http_server(status: u16, delay: Duration) -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let _ = tx.send(head);
                std::thread::sleep(delay);
                let mut s = s;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            });
        }
    });
    (port, rx)
}

fn http(port: u16, path: &str) -> Handler {
    Handler::Http {
        https: false,
        host: "127.0.0.1".into(),
        port,
        path: path.into(),
        headers: vec![("X-Probe".into(), "yes".into())],
    }
}

#[tokio::test]
async fn http_and_tcp_probes() {
    let t = Duration::from_secs(1);
    let (ok_port, seen) = http_server(204, Duration::ZERO);
    assert_eq!(
        run_once(&http(ok_port, "/healthz"), t, None).await,
        Outcome::Success
    );
    let head = seen.recv().unwrap();
    assert!(head.starts_with("GET /healthz HTTP/1.1"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-probe: yes"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("user-agent: kube-probe/"),
        "{head}"
    );
    let (redirect_port, _) = http_server(302, Duration::ZERO);
    assert_eq!(
        run_once(&http(redirect_port, "/"), t, None).await,
        Outcome::Success,
        "3xx passes"
    );
    let (bad_port, _) = http_server(500, Duration::ZERO);
    assert_eq!(
        run_once(&http(bad_port, "/"), t, None).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    let (slow_port, _) = http_server(200, Duration::from_secs(3));
    let t0 = Instant::now();
    let Outcome::Failure(msg) =
        run_once(&http(slow_port, "/"), Duration::from_millis(300), None).await
    else {
        panic!()
    };
    assert!(msg.contains("context deadline exceeded"), "{msg}");
    assert!(t0.elapsed() < Duration::from_secs(2));

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Outcome::Failure(msg) = run_once(&http(closed, "/"), t, None).await else {
        panic!()
    };
    assert!(
        msg.contains("Connection refused") || msg.contains("connection refused"),
        "{msg}"
    );

    let tcp = |port| Handler::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    assert_eq!(run_once(&tcp(ok_port), t, None).await, Outcome::Success);
    let Outcome::Failure(msg) = run_once(&tcp(closed), t, None).await else {
        panic!()
    };
    assert!(
        msg.starts_with(&format!("dial tcp 127.0.0.1:{closed}: connect:")),
        "{msg}"
    );
}

/// `openssl s_server -www` with a fresh self-signed certificate: a real TLS server on
/// loopback answering every GET with 200. Killed when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server() -> TlsServer {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let st = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=probe.invalid", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (apt-get install openssl)");
    assert!(st.success());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-www", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "s_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    TlsServer {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test]
async fn https_probes_skip_certificate_checks() {
    let srv = tls_server();
    let mut h = http(srv.port, "/");
    if let Handler::Http { https, .. } = &mut h {
        *https = true;
    }
    assert_eq!(
        run_once(&h, Duration::from_secs(5), None).await,
        Outcome::Success,
        "self-signed certificate accepted"
    );
    // Plain HTTP against the TLS port fails.
    assert!(matches!(
        run_once(&http(srv.port, "/"), Duration::from_secs(5), None).await,
        Outcome::Failure(_)
    ));
}

#[tokio::test]
async fn exec_probes_go_through_the_callback() {
    let exec: Arc<nodelet::probe::ExecFn> = Arc::new(|cmd: Vec<String>, _t: Duration| {
        Box::pin(async move {
            if cmd == ["cat", "/tmp/healthy"] {
                Outcome::Success
            } else {
                Outcome::Failure(format!("{cmd:?} exited with 1"))
            }
        })
    });
    let h = Handler::Exec {
        command: vec!["cat".into(), "/tmp/healthy".into()],
    };
    assert_eq!(
        run_once(&h, Duration::from_secs(1), Some(exec.as_ref())).await,
        Outcome::Success
    );
    let h = Handler::Exec {
        command: vec!["false".into()],
    };
    assert!(matches!(
        run_once(&h, Duration::from_secs(1), Some(exec.as_ref())).await,
        Outcome::Failure(_)
    ));
    assert!(matches!(
        run_once(&h, Duration::from_secs(1), None).await,
        Outcome::Failure(_)
    ));
}

/// An HTTP/2 gRPC health server answering with `status` (1 SERVING, 2 NOT_SERVING).
async fn grpc_server(status: u8, delay: Duration) -> u16 {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                        let _ = req.into_body().collect().await;
                        tokio::time::sleep(delay).await;
                        let body = Full::new(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "0")
                                .body(body)
                                .unwrap(),
                        )
                    },
                );
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn grpc_health_probes() {
    let grpc = |port| Handler::Grpc {
        host: "127.0.0.1".into(),
        port,
        service: None,
    };
    let serving = grpc_server(1, Duration::ZERO).await;
    assert_eq!(
        run_once(&grpc(serving), Duration::from_secs(2), None).await,
        Outcome::Success
    );
    let not = grpc_server(2, Duration::ZERO).await;
    assert_eq!(
        run_once(&grpc(not), Duration::from_secs(2), None).await,
        Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
    let slow = grpc_server(1, Duration::from_secs(3)).await;
    let Outcome::Failure(msg) = run_once(&grpc(slow), Duration::from_millis(300), None).await
    else {
        panic!()
    };
    assert!(msg.starts_with("timeout:"), "{msg}");
}

#[test]
fn hundreds_of_probes_on_one_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (port, _seen) = http_server(200, Duration::ZERO);
    let t0 = Instant::now();
    let results = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..300 {
            let h = if i % 2 == 0 {
                http(port, "/")
            } else {
                Handler::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                }
            };
            set.spawn(async move { run_once(&h, Duration::from_secs(5), None).await });
        }
        set.join_all().await
    });
    assert!(
        results.iter().all(|r| *r == Outcome::Success),
        "{:?}",
        results.iter().find(|r| **r != Outcome::Success)
    );
    // All 300 ran concurrently on this one runtime thread (no thread or process per probe).
    eprintln!("300 probes in {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(20));
}
