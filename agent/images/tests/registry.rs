//! Pulls from a real docker-registry on loopback: by tag, by digest, manifest lists, corrupted
//! blobs, unknown tags/repositories, htpasswd auth, hostile layers, policies, dedup of
//! concurrent pulls across threads and processes, and the CLI binary end to end.

mod common;

use std::path::Path;

use common::*;
use nodelet_images::{
    ImageError, ImageService, NoProgress, PullPolicy, RegistryConfig, RegistryFailure, Store,
};
use oci_client::secrets::RegistryAuth;

fn service(root: &Path) -> ImageService {
    ImageService::new(Store::open(root).unwrap(), RegistryConfig::default()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn two_layers() -> Vec<Layer> {
    vec![
        Layer::gzip(busybox_layer()),
        Layer::zstd(tar_of(&[
            E::Dir("srv/", 0o755),
            E::File("srv/index.html", b"hi", 0o644),
        ])),
    ]
}

fn dir_entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pull_by_tag_then_by_digest() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("app:1.0");
    let (mdigest, cdigest) = rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let rec = rt.block_on(svc.pull(&r, &NoProgress)).unwrap();
    assert_eq!(rec.id.as_str(), cdigest);
    assert_eq!(rec.manifest.as_str(), mdigest);
    assert_eq!(rec.repo_tags, vec![format!("{}/app:1.0", reg.addr)]);
    assert_eq!(
        rec.repo_digests,
        vec![format!("{}/app@{mdigest}", reg.addr)]
    );
    assert_eq!(rec.layers.len(), 2);
    let base = svc.store().layer_dir(&rec.layers[0].diff_id);
    assert_eq!(std::fs::read(base.join("bin/busybox")).unwrap(), busybox());
    assert_eq!(
        std::fs::read(
            svc.store()
                .layer_dir(&rec.layers[1].diff_id)
                .join("srv/index.html")
        )
        .unwrap(),
        b"hi"
    );

    // By digest: same image, found again; nothing new unpacked.
    let by_digest = reg.reference(&format!("app@{mdigest}"));
    let rec2 = rt.block_on(svc.pull(&by_digest, &NoProgress)).unwrap();
    assert_eq!(rec2.id, rec.id);
    assert_eq!(svc.store().list_images().unwrap().len(), 1);
    assert_eq!(
        svc.store().find_image(&by_digest).unwrap().unwrap().id,
        rec.id
    );
    assert_eq!(
        svc.store()
            .find_image(&rec.id.as_str()[7..19])
            .unwrap()
            .unwrap()
            .id,
        rec.id
    );
    assert_eq!(dir_entries(&root.path().join("layers")).len(), 2);
    assert!(dir_entries(&root.path().join("ingest")).is_empty());

    // A wrong digest is refused by the registry lookup.
    let wrong = reg
        .reference("app@sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let e = rt.block_on(svc.pull(&wrong, &NoProgress)).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::NotFound,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn manifest_list_picks_the_host_platform() {
    let reg = Registry::start(None);
    let rt = rt();
    let other = if host_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let (m_host, c_host) = rt.block_on(push_image(
        &reg.reference("multi:host"),
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let other_layers = vec![Layer::gzip(tar_of(&[E::File("other-arch", b"no", 0o644)]))];
    let (m_other, _) = rt.block_on(push_image(
        &reg.reference("multi:other"),
        &other_layers,
        other,
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let mlen = |d: &str| std::fs::metadata(reg.blob_file(d)).unwrap().len() as usize;
    let idx = rt.block_on(push_index(
        &reg.reference("multi:1"),
        &[
            (m_other.clone(), mlen(&m_other), other),
            (m_host.clone(), mlen(&m_host), host_arch()),
        ],
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let rec = rt
        .block_on(svc.pull(&reg.reference("multi:1"), &NoProgress))
        .unwrap();
    assert_eq!(rec.id.as_str(), c_host);
    assert_eq!(rec.manifest.as_str(), m_host);
    assert_eq!(rec.repo_digests, vec![format!("{}/multi@{idx}", reg.addr)]);
    // An index without the host platform is a clear error.
    rt.block_on(push_index(
        &reg.reference("multi:only-other"),
        &[(m_other.clone(), mlen(&m_other), other)],
    ));
    let e = rt
        .block_on(svc.pull(&reg.reference("multi:only-other"), &NoProgress))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("no manifest for linux/{}", host_arch())),
        "{e}"
    );
}

#[test]
fn corrupted_blob_fails_and_stores_nothing() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("bad:1");
    let layers = two_layers();
    rt.block_on(push_image(
        &r,
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    // Tamper with the second layer's bytes in the registry's storage (same length).
    let f = reg.blob_file(&sha(&layers[1].blob));
    let mut data = std::fs::read(&f).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let e = rt.block_on(svc.pull(&r, &NoProgress)).unwrap_err();
    assert!(e.to_string().contains("digest"), "{e}");
    assert_eq!(e.kubelet_reason(), "ErrImagePull");
    assert!(svc.store().list_images().unwrap().is_empty());
    assert!(
        !svc.store()
            .has_blob(&nodelet_images::Digest::parse(&sha(&layers[1].blob)).unwrap())
    );
    assert!(
        dir_entries(&root.path().join("ingest")).is_empty(),
        "partial download left behind"
    );
    let layer_dirs: Vec<String> = dir_entries(&root.path().join("layers"));
    assert!(!layer_dirs.iter().any(|l| l.starts_with(".tmp")));
    assert!(
        !svc.store()
            .has_layer(&nodelet_images::Digest::parse(&sha(&layers[1].tar)).unwrap())
    );
}

#[test]
fn unknown_tag_and_repository_are_clear_errors() {
    let reg = Registry::start(None);
    let rt = rt();
    rt.block_on(push_image(
        &reg.reference("known:1"),
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let e = rt
        .block_on(svc.pull(&reg.reference("known:nope"), &NoProgress))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::NotFound,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("known:nope") && msg.contains("MANIFEST_UNKNOWN"),
        "{msg}"
    );
    let e = rt
        .block_on(svc.pull(&reg.reference("nosuchrepo:1"), &NoProgress))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::NotFound,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("UNKNOWN"), "{e}");
    // Nobody listening: a network error naming the registry.
    let dead = format!("127.0.0.1:{}/x:1", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let e = rt.block_on(svc.pull(&dead, &NoProgress)).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::Network,
                ..
            }
        ),
        "{e}"
    );
    assert!(svc.store().list_images().unwrap().is_empty());
}

#[test]
fn htpasswd_registry_with_and_without_credentials() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let rt = rt();
    let auth = RegistryAuth::Basic("alice".into(), "s3cret".into());
    let r = reg.reference("private:1");
    rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &auth,
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let e = rt.block_on(svc.pull(&r, &NoProgress)).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::Unauthorized,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("unauthorized"), "{e}");

    // Wrong password: refused too.
    let cfgdir = tempfile::tempdir().unwrap();
    let auth_file = cfgdir.path().join("config.json");
    use base64::Engine as _;
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.addr,
            enc("alice:wrong")
        ),
    )
    .unwrap();
    let cfg = RegistryConfig {
        auth_file: Some(auth_file.clone()),
        ..Default::default()
    };
    let svc = ImageService::new(Store::open(root.path()).unwrap(), cfg).unwrap();
    let e = rt.block_on(svc.pull(&r, &NoProgress)).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::Unauthorized,
                ..
            }
        ),
        "{e}"
    );

    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"http://{}/":{{"auth":"{}"}}}}}}"#,
            reg.addr,
            enc("alice:s3cret")
        ),
    )
    .unwrap();
    let cfg = RegistryConfig {
        auth_file: Some(auth_file),
        ..Default::default()
    };
    let svc = ImageService::new(Store::open(root.path()).unwrap(), cfg).unwrap();
    let rec = rt.block_on(svc.pull(&r, &NoProgress)).unwrap();
    assert_eq!(rec.layers.len(), 2);
}

#[test]
fn hostile_layer_from_registry_is_rejected() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("hostile:1");
    let layers = vec![
        Layer::gzip(busybox_layer()),
        Layer::gzip(tar_of(&[
            E::Symlink("etc2", "/etc"),
            E::File("etc2/evil", b"x", 0o644),
        ])),
    ];
    rt.block_on(push_image(
        &r,
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let e = rt.block_on(svc.pull(&r, &NoProgress)).unwrap_err();
    assert!(matches!(e, ImageError::HostileLayer { .. }), "{e}");
    assert!(e.to_string().contains("etc2/evil"), "{e}");
    assert!(!Path::new("/etc/evil").exists());
    assert!(svc.store().list_images().unwrap().is_empty());
    assert!(
        !dir_entries(&root.path().join("layers"))
            .iter()
            .any(|l| l.starts_with(".tmp"))
    );
}

#[test]
fn pull_policies_and_kubelet_reasons() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("pol:1");
    rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let e = rt
        .block_on(svc.ensure(&r, PullPolicy::Never, &NoProgress))
        .unwrap_err();
    assert_eq!(e.kubelet_reason(), "ErrImageNeverPull");
    let rec = rt
        .block_on(svc.ensure(&r, PullPolicy::IfNotPresent, &NoProgress))
        .unwrap();
    let e = rt
        .block_on(svc.ensure("Bad Name", PullPolicy::IfNotPresent, &NoProgress))
        .unwrap_err();
    assert_eq!(e.kubelet_reason(), "InvalidImageName");
    let addr = reg.addr.clone();
    drop(reg); // registry gone: IfNotPresent and Never still work, Always fails
    assert_eq!(
        rt.block_on(svc.ensure(&r, PullPolicy::IfNotPresent, &NoProgress))
            .unwrap()
            .id,
        rec.id
    );
    assert_eq!(
        rt.block_on(svc.ensure(&r, PullPolicy::Never, &NoProgress))
            .unwrap()
            .id,
        rec.id
    );
    let e = rt
        .block_on(svc.ensure(&r, PullPolicy::Always, &NoProgress))
        .unwrap_err();
    assert_eq!(e.kubelet_reason(), "ErrImagePull");
    assert!(e.to_string().contains(&addr), "{e}");
}

#[test]
fn concurrent_pulls_share_downloads_across_threads_and_processes() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("conc:1");
    let big = Layer::gzip(tar_of(&[E::File("blob", &vec![7u8; 8 << 20], 0o644)]));
    let layers = vec![Layer::gzip(busybox_layer()), big];
    let (_, cdigest) = rt.block_on(push_image(
        &r,
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    // Two processes and two threads at once, each with its own Store handle.
    let bin = env!("CARGO_BIN_EXE_nodelet-images");
    let procs: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(bin)
                .arg("--root")
                .arg(root.path())
                .arg("pull")
                .arg(&r)
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (root, r) = (root.path().to_path_buf(), r.clone());
            std::thread::spawn(move || {
                let svc = service(&root);
                rt_block(svc.pull(&r, &NoProgress))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap().id.as_str(), cdigest);
    }
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), cdigest);
    }
    let svc = service(root.path());
    assert_eq!(svc.store().list_images().unwrap().len(), 1);
    assert_eq!(dir_entries(&root.path().join("layers")), {
        let mut v: Vec<String> = layers
            .iter()
            .map(|l| sha(&l.tar)[7..].to_string())
            .collect();
        v.sort();
        v
    });
    assert!(dir_entries(&root.path().join("ingest")).is_empty());
}

fn rt_block<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

#[test]
fn cli_pull_images_rmi_prune() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("cli/app:2.1");
    let (_, cdigest) = rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let root = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_nodelet-images");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--root")
            .arg(root.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["pull", &r]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), cdigest);
    assert!(
        err.contains("resolved") && err.contains("unpacked"),
        "plain progress lines expected off a terminal: {err}"
    );
    // On a terminal (a pty from script(1)) progress is drawn as bars.
    let cmdline = format!("{bin} --root {} pull {r}", root.path().display());
    let out = std::process::Command::new("script")
        .args(["-qfec", &cmdline, "/dev/null"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains("done") && tty.contains('\u{1b}') && !tty.contains("resolved"),
        "expected progress bars: {tty:?}"
    );
    let (ok, out, _) = run(&["images"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..3],
        [
            format!("{}/cli/app", reg.addr).as_str(),
            "2.1",
            &cdigest[7..19]
        ]
    );
    assert!(row[3].ends_with("MB") || row[3].ends_with("kB"), "{out}");
    let (ok, _, err) = run(&["rmi", "nosuch:1"]);
    assert!(!ok && err.contains("not in the image store"), "{err}");
    let (ok, out, err) = run(&["rmi", &r]);
    assert!(ok, "{err}");
    assert!(out.contains("Deleted"), "{out}");
    let (ok, out, _) = run(&["images", "-q"]);
    assert!(ok && out.trim().is_empty());
    let (ok, out, err) = run(&["image", "prune"]);
    assert!(ok, "{err}");
    assert!(out.contains("Removed 4 blobs and 2 layers"), "{out}");
    assert!(dir_entries(&root.path().join("blobs/sha256")).is_empty());
    assert!(dir_entries(&root.path().join("layers")).is_empty());
}

#[test]
fn docker_v2_manifest_and_manifest_list() {
    let reg = Registry::start(None);
    let rt = rt();
    let layers = vec![
        Layer::gzip(busybox_layer()),
        Layer::plain(tar_of(&[E::File("plain", b"p", 0o644)])),
    ];
    let (_, cdigest) = rt.block_on(push_image(
        &reg.reference("dock:oci"),
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let cfg_size = std::fs::metadata(reg.blob_file(&cdigest)).unwrap().len();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cdigest, "size": cfg_size},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha(&layers[0].blob), "size": layers[0].blob.len()},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "digest": sha(&layers[1].blob), "size": layers[1].blob.len()},
        ],
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let client = push_client();
    let push_raw = |tag: &str, body: Vec<u8>, ct: &str| {
        let r: oci_client::Reference = reg.reference(tag).parse().unwrap();
        rt.block_on(async {
            client
                .store_auth_if_needed(r.resolve_registry(), &RegistryAuth::Anonymous)
                .await;
            client
                .push_manifest_raw(&r, body, ct.parse().unwrap())
                .await
                .unwrap()
        })
    };
    push_raw(
        "dock:v2",
        body.clone(),
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": sha(&body), "size": body.len(),
                       "platform": {"os": "linux", "architecture": host_arch()}}],
    });
    push_raw(
        "dock:list",
        serde_json::to_vec(&list).unwrap(),
        "application/vnd.docker.distribution.manifest.list.v2+json",
    );
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let rec = rt
        .block_on(svc.pull(&reg.reference("dock:v2"), &NoProgress))
        .unwrap();
    assert_eq!(rec.id.as_str(), cdigest);
    assert_eq!(rec.manifest.as_str(), sha(&body));
    let rec2 = rt
        .block_on(svc.pull(&reg.reference("dock:list"), &NoProgress))
        .unwrap();
    assert_eq!(rec2.id, rec.id);
    assert_eq!(rec2.repo_tags.len(), 2);
    assert_eq!(
        std::fs::read(svc.store().layer_dir(&rec.layers[1].diff_id).join("plain")).unwrap(),
        b"p"
    );
}

#[test]
fn anonymous_bearer_token_flow() {
    let tokens = TokenServer::start("tok/app", "test-registry", "test-issuer");
    let reg = Registry::start_with(
        None,
        Some((&tokens.realm, "test-registry", "test-issuer", &tokens.cert)),
    );
    let rt = rt();
    let r = reg.reference("tok/app:1");
    // Without a token the registry refuses: the challenge names the token realm.
    let mut s = std::net::TcpStream::connect(&reg.addr).unwrap();
    use std::io::{Read as _, Write as _};
    s.write_all(b"GET /v2/tok/app/manifests/1 HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.0 401") && resp.contains("Bearer realm="),
        "{resp}"
    );
    rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let before = tokens.served.load(std::sync::atomic::Ordering::Relaxed);
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let rec = rt.block_on(svc.pull(&r, &NoProgress)).unwrap();
    assert_eq!(rec.layers.len(), 2);
    assert!(
        tokens.served.load(std::sync::atomic::Ordering::Relaxed) > before,
        "pull did not fetch a token"
    );
    // A repository the token does not grant: the registry's denial comes through.
    let e = rt
        .block_on(svc.pull(&reg.reference("other/app:1"), &NoProgress))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Registry {
                failure: RegistryFailure::Unauthorized,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn import_archives_written_by_skopeo() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("exp/app:1");
    // gzip and uncompressed layers (docker-archive cannot carry zstd).
    let layers = vec![
        Layer::gzip(busybox_layer()),
        Layer::plain(tar_of(&[E::File("plain", b"p", 0o644)])),
    ];
    let (_, cdigest) = rt.block_on(push_image(
        &r,
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let out = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_nodelet-images");
    for (transport, file, name) in [
        ("oci-archive", "oci.tar", "example.com/exp/oci:1"),
        ("docker-archive", "docker.tar", "example.com/exp/docker:1"),
    ] {
        let dest = format!("{transport}:{}:{name}", out.path().join(file).display());
        let st = std::process::Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--src-tls-verify=false",
                &format!("docker://{r}"),
                &dest,
            ])
            .status()
            .expect("skopeo (Debian package skopeo)");
        assert!(st.success(), "skopeo copy to {dest}");
        let o = std::process::Command::new(bin)
            .arg("--root")
            .arg(root.path())
            .arg("import")
            .arg(out.path().join(file))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{transport}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains(&format!("Loaded image: {name}")),
            "{transport}: {stdout}"
        );
        let svc = service(root.path());
        let rec = svc
            .store()
            .find_image(name)
            .unwrap()
            .unwrap_or_else(|| panic!("{transport}: {name} not found"));
        // docker-archive rewrites the config (same content, Docker formatting), OCI keeps it.
        if transport == "oci-archive" {
            assert_eq!(rec.id.as_str(), cdigest);
        }
        let base = svc.store().layer_dir(&rec.layers[0].diff_id);
        assert_eq!(std::fs::read(base.join("bin/busybox")).unwrap(), busybox());
    }
}

#[test]
fn err_image_pull_then_backoff_then_success() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("late:1");
    let root = tempfile::tempdir().unwrap();
    let svc = service(root.path());
    let backoff = std::sync::Mutex::new(nodelet_images::PullBackoff::new());
    let t0 = std::time::Instant::now();
    let e = rt
        .block_on(svc.ensure_with_backoff(&r, PullPolicy::IfNotPresent, &backoff, t0, &NoProgress))
        .unwrap_err();
    assert_eq!(e.reason, "ErrImagePull");
    assert!(e.message.contains("MANIFEST_UNKNOWN"), "{e}");
    // The image appears, but within the backoff window the kubelet does not retry.
    rt.block_on(push_image(
        &r,
        &two_layers(),
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let e = rt
        .block_on(svc.ensure_with_backoff(
            &r,
            PullPolicy::IfNotPresent,
            &backoff,
            t0 + std::time::Duration::from_secs(5),
            &NoProgress,
        ))
        .unwrap_err();
    assert_eq!(e.reason, "ImagePullBackOff");
    assert!(
        e.message.contains("Back-off pulling image") && e.message.contains("MANIFEST_UNKNOWN"),
        "{e}"
    );
    // After the 10 s backoff the pull is retried and succeeds; the backoff is cleared.
    let rec = rt
        .block_on(svc.ensure_with_backoff(
            &r,
            PullPolicy::IfNotPresent,
            &backoff,
            t0 + std::time::Duration::from_secs(11),
            &NoProgress,
        ))
        .unwrap();
    assert_eq!(rec.layers.len(), 2);
    assert!(
        backoff
            .lock()
            .unwrap()
            .in_backoff(&r, t0 + std::time::Duration::from_secs(11))
            .is_none()
    );
    // Never + absent image: ErrImageNeverPull, no backoff.
    let e = rt
        .block_on(svc.ensure_with_backoff(
            &reg.reference("absent:1"),
            PullPolicy::Never,
            &backoff,
            t0,
            &NoProgress,
        ))
        .unwrap_err();
    assert_eq!(e.reason, "ErrImageNeverPull");
}

#[test]
fn killed_pull_leaves_no_partial_after_restart() {
    let reg = Registry::start(None);
    let rt = rt();
    let r = reg.reference("crash:1");
    // Random bytes do not compress: an 8 MB blob takes seconds through the slow proxy.
    let mut noise = vec![0u8; 8 << 20];
    let mut x = 0x9e3779b97f4a7c15u64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let layers = vec![
        Layer::gzip(busybox_layer()),
        Layer::gzip(tar_of(&[E::File("noise", &noise, 0o644)])),
    ];
    let (_, cdigest) = rt.block_on(push_image(
        &r,
        &layers,
        host_arch(),
        serde_json::json!({}),
        &RegistryAuth::Anonymous,
    ));
    let proxy = SlowProxy::start(&reg.addr);
    let root = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_nodelet-images");
    let via_proxy = format!("{}/crash:1", proxy.addr);
    let mut child = std::process::Command::new(bin)
        .arg("--root")
        .arg(root.path())
        .arg("pull")
        .arg(&via_proxy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a partial download of the big layer, then kill the puller.
    let partial = root.path().join("ingest").join(&sha(&layers[1].blob)[7..]);
    let t0 = std::time::Instant::now();
    while !(partial.exists()
        && std::fs::metadata(&partial)
            .map(|m| m.len() > 0)
            .unwrap_or(false))
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "no partial download appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "pull finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.exists());
    drop(proxy);
    // The next start sweeps the partial (its lock died with the process); a pull then works.
    let svc = service(root.path());
    assert!(!partial.exists(), "partial download survived a restart");
    assert!(svc.store().list_images().unwrap().is_empty());
    let rec = rt.block_on(svc.pull(&r, &NoProgress)).unwrap();
    assert_eq!(rec.id.as_str(), cdigest);
    assert!(dir_entries(&root.path().join("ingest")).is_empty());
}
