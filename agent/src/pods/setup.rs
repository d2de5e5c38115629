//! Pod-level set-up and teardown: state dir, pod cgroup, shim, pause sandbox, netns pin, CNI,
//! hosts/resolv.conf, volumes. Every set-up step is skipped when `state.json` says it is done,
//! so a pod whose set-up was interrupted (agent crash) resumes where it stopped. Teardown is
//! best effort, works from what is on disk and in the kernel (with or without a state file or
//! a live shim), and reports the first error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nodelet_shim_protocol::protocol::{Request, Response};

use crate::cni::PodNetwork;
use crate::podspec::{self, PodVolumes};
use crate::sandbox::bundle::{self, SandboxSpec};
use crate::sandbox::{NamespaceOptions, dns, host_ports, netns, paths};
use nodelet_objects::config_sources::ConfigObjects;

use super::ctx::Ctx;
use super::error::Error;
use super::shim::{self, ShimPaths};
use super::state::PodState;

/// `<rootDir>/pods/<uid>/volumes`.
pub fn volumes_dir(root_dir: &Path, uid: &str) -> PathBuf {
    paths::pod_dir(root_dir, uid).join("volumes")
}

/// `<podLogsDir>/<ns>_<name>_<uid>`.
pub fn pod_logs_dir(logs: &Path, ns: &str, name: &str, uid: &str) -> PathBuf {
    logs.join(format!("{ns}_{name}_{uid}"))
}

fn sandbox_spec(ctx: &Ctx, st: &PodState) -> SandboxSpec {
    SandboxSpec::for_pod(
        &st.pod,
        &st.sandbox_id,
        Path::new(&st.cgroup_parent),
        &ctx.opts.pause_binary,
        &ctx.cfg.root_dir,
    )
}

/// Brings the pod's sandbox up (or finishes an interrupted set-up). Saves the state after
/// every step that created something.
pub async fn sandbox(ctx: &Ctx, st: &mut PodState) -> Result<(), Error> {
    let root = &ctx.cfg.root_dir;
    let uid = st.pod.uid().to_string();
    let t0 = Instant::now();
    let step = |what: &str| tracing::debug!(pod = %uid, step = what, ms = t0.elapsed().as_secs_f64() * 1e3, "sandbox");
    crate::disk::check_component("metadata.uid", &uid).map_err(|e| Error::new("pod", e))?;
    let pod = &st.pod.pod;
    st.save(root)?;
    let res = podspec::resources::pod_resources(pod, ctx.cfg.pod_pids_limit)
        .map_err(|e| Error::new("pod resources", e))?;
    let cg = st.cgroup_parent.clone();
    tokio::task::spawn_blocking(move || super::cgroup::create(&cg, &res))
        .await
        .map_err(|e| Error::new("pod cgroup", e))??;

    step("cgroup");
    let sp = ShimPaths::of(&ctx.cfg.run_dir, &uid);
    let sock = st.shim_socket();
    if !shim::alive(&sock).await {
        let pid = shim::spawn(
            &ctx.opts.shim_binary,
            &ctx.opts.runtime_binary,
            &sp,
            ctx.cfg.container_log_max_size,
            ctx.cfg.container_log_max_files,
            super::cgroup::is_systemd(&st.cgroup_parent),
        )
        .await?;
        st.shim_pid = Some(pid);
        st.pause_pid = None;
        st.save(root)?;
    }

    step("shim");
    let spec = sandbox_spec(ctx, st);
    let existing = shim::list(&sock)
        .await?
        .into_iter()
        .find(|c| c.id == st.sandbox_id);
    let pause_pid = match existing {
        Some(c) if c.status == "running" && c.pid.is_some() => c.pid.unwrap_or_default(),
        other => {
            if other.is_some() {
                let _ = shim::call(
                    &sock,
                    Request::Delete {
                        id: st.sandbox_id.clone(),
                        force: true,
                    },
                )
                .await;
            }
            let spec2 = spec.clone();
            let dir = tokio::task::spawn_blocking(move || bundle::write(&spec2))
                .await
                .map_err(|e| Error::new("sandbox bundle", e))?
                .map_err(|e| Error::new("sandbox bundle", e))?;
            super::cgroup::prepare_container(&super::cgroup::container_path(
                &spec.cgroup_parent.to_string_lossy(),
                &spec.id,
            ))?;
            let pid = match shim::call(
                &sock,
                Request::Create {
                    id: st.sandbox_id.clone(),
                    bundle: dir,
                    log_path: None,
                    oom_counter: None,
                    stdin: false,
                    stdin_once: false,
                    tty: false,
                },
            )
            .await?
            {
                Response::Created { pid } => pid,
                other => return Err(Error::msg("create sandbox", format!("{other:?}"))),
            };
            shim::call(
                &sock,
                Request::Start {
                    id: st.sandbox_id.clone(),
                },
            )
            .await?;
            pid
        }
    };
    st.pause_pid = Some(pause_pid);
    st.save(root)?;
    step("pause");

    let ns = NamespaceOptions::from_pod_spec(&pod.spec.clone().unwrap_or_default());
    let mut ips = Vec::new();
    if ns.needs_network() {
        let pin = paths::netns_pin_path(&ctx.cfg.run_dir, &uid);
        let pin2 = pin.clone();
        tokio::task::spawn_blocking(move || {
            netns::pin(pause_pid, &pin2)?;
            netns::loopback_up(&pin2)
        })
        .await
        .map_err(|e| Error::new("netns pin", e))?
        .map_err(|e| Error::new("netns pin", e))?;
        step("pin");
        let att = match ctx
            .cni
            .cached(&st.sandbox_id, "eth0")
            .map_err(|e| Error::new("CNI cache", e))?
        {
            Some(a) if st.pod_ip.is_some() => a,
            _ => {
                let mut net = spec.pod_network(&pin);
                net.port_mappings =
                    host_ports::port_mappings(pod.spec.as_ref().unwrap_or(&Default::default()));
                let att = ctx
                    .cni
                    .add(&net)
                    .await
                    .map_err(|e| Error::new("CNI ADD", e))?;
                if att.port_mappings_unsupported {
                    ctx.view.event(
                        &uid,
                        nodelet_objects::events::EventReason::HostPortNotSupported,
                        format!(
                            "host ports {} are not mapped: no plugin of CNI network {:?} declares the portMappings capability",
                            host_ports::describe(&net.port_mappings),
                            att.network_name
                        ),
                    );
                }
                att
            }
        };
        step("cni");
        ips = att.ips.clone();
        st.pod_ip = att.pod_ip().map(|ip| ip.to_string());
        st.save(root)?;
    }
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let hosts = dns::hosts_for_pod(pod, &spec.hostname, &ips, &host_hosts);
    let cluster = dns::ClusterDns::default();
    let (resolv, _warnings) =
        dns::resolv_conf(&dns::DnsInput::for_pod(pod, &cluster, &host_resolv))
            .map_err(|e| Error::new("resolv.conf", e))?;
    dns::write_files(root, &uid, &hosts, &resolv).map_err(|e| Error::new("pod files", e))?;
    step("files");
    if st.start_time.is_none() {
        st.start_time = Some(jiff::Timestamp::now());
    }
    st.sandbox_ready = true;
    st.save(root)
}

/// Creates the pod's emptyDirs, checks its hostPaths, writes the files of its configMap,
/// secret, projected and downwardAPI volumes from `objects` (idempotent).
pub fn volumes(
    ctx: &Ctx,
    st: &PodState,
    objects: &ConfigObjects,
) -> Result<PodVolumes, podspec::SpecError> {
    podspec::volumes::prepare(
        &st.pod.pod,
        &volumes_dir(&ctx.cfg.root_dir, st.pod.uid()),
        &ctx.node,
        objects,
    )
}

/// Brings the files of the pod's configMap, secret, projected and downwardAPI volumes up to
/// date with `objects`; why some could not be.
/// `pod`: the pod with its current labels and annotations (downward API files).
pub fn refresh_volumes(
    ctx: &Ctx,
    st: &PodState,
    pod: &k8s_openapi::api::core::v1::Pod,
    objects: &ConfigObjects,
) -> Vec<podspec::SpecError> {
    podspec::volumes::refresh(
        pod,
        &volumes_dir(&ctx.cfg.root_dir, st.pod.uid()),
        &ctx.node,
        objects,
    )
}

/// Stops the pod's containers: each one's stop signal (SIGTERM unless set otherwise), up to `grace` for all to exit, then SIGKILL;
/// then deletes them and the sandbox. Returns the shim's last list before the deletion
/// (the containers' exits), empty if the shim did not answer.
pub async fn stop_containers(
    sock: &Path,
    sandbox_id: &str,
    grace: Duration,
    pre_stop: Option<(&Path, &PodState)>,
) -> Vec<nodelet_shim_protocol::protocol::ContainerInfo> {
    let Ok(list) = shim::list(sock).await else {
        return Vec::new();
    };
    let mut last = list.clone();
    let apps: Vec<_> = list.iter().filter(|c| c.id != sandbox_id).collect();
    let mut grace = grace;
    if let Some((root, st)) = pre_stop {
        let running: Vec<String> = apps
            .iter()
            .filter(|c| c.exit.is_none() && c.status == "running")
            .map(|c| c.id.clone())
            .collect();
        let t = Instant::now();
        let ip = st.pod_ip.clone().unwrap_or_else(|| "127.0.0.1".into());
        super::hooks::pre_stop(root, &st.pod.pod, st.pod.uid(), &ip, sock, &running, grace).await;
        // As the kubelet: what is left of the grace period, at least 2 s, for SIGTERM.
        grace = grace
            .saturating_sub(t.elapsed())
            .max(Duration::from_secs(2).min(grace));
    }
    for c in &apps {
        if c.exit.is_none() && c.status == "running" {
            let signal = pre_stop.map_or(libc::SIGTERM, |(root, st)| {
                super::stop_signal::of_instance(root, st.pod.uid(), &c.id)
            });
            let _ = shim::call(
                sock,
                Request::Kill {
                    id: c.id.clone(),
                    signal,
                    all: false,
                },
            )
            .await;
        }
    }
    let deadline = Instant::now() + grace;
    loop {
        let Ok(now) = shim::list(sock).await else {
            break;
        };
        last.clone_from(&now);
        let running: Vec<_> = now
            .iter()
            .filter(|c| c.id != sandbox_id && c.exit.is_none() && c.status != "stopped")
            .collect();
        if running.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for c in running {
                let _ = shim::call(
                    sock,
                    Request::Kill {
                        id: c.id.clone(),
                        signal: libc::SIGKILL,
                        all: true,
                    },
                )
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if Instant::now() > deadline + Duration::from_secs(5) {
                break;
            }
            continue;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in &apps {
        let _ = shim::call(
            sock,
            Request::Delete {
                id: c.id.clone(),
                force: true,
            },
        )
        .await;
    }
    let _ = shim::call(
        sock,
        Request::Kill {
            id: sandbox_id.to_string(),
            signal: libc::SIGKILL,
            all: true,
        },
    )
    .await;
    let _ = shim::call(
        sock,
        Request::Delete {
            id: sandbox_id.to_string(),
            force: true,
        },
    )
    .await;
    last
}

pub(super) fn is_shim(pid: i32, dir: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        let s = String::from_utf8_lossy(&c);
        s.contains("nodelet-shim") && s.contains(&*dir.to_string_lossy())
    })
}

/// How much [`teardown`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: the pod is gone.
    Pod,
    /// The sandbox, shim, network and container instances; the pod's state dir, volumes,
    /// logs and cgroup stay (the sandbox is re-created).
    Sandbox,
}

/// Removes everything pod `uid` has on this node (or, with [`Scope::Sandbox`], its runtime). `st` is its state file if readable; `grace`
/// the termination grace period for its containers.
pub async fn teardown(
    ctx: &Ctx,
    uid: &str,
    st: Option<PodState>,
    grace: Duration,
    scope: Scope,
) -> Result<(), Error> {
    let cfg = &ctx.cfg;
    let uid = uid.to_string();
    let uid = uid.as_str();
    let mut errs = Errors(None);
    let sp = ShimPaths::of(&cfg.run_dir, uid);
    let sock = sp.dir.join("shim.sock");
    let sandbox_id = st
        .as_ref()
        .map(|s| s.sandbox_id.clone())
        .unwrap_or_else(|| sandbox_id(uid));
    stop_containers(
        &sock,
        &sandbox_id,
        grace,
        st.as_ref().map(|s| (cfg.root_dir.as_path(), s)),
    )
    .await;
    let _ = shim::call(&sock, Request::Shutdown).await;

    // Network: DEL from the cache (works with the namespace gone), then the pin.
    let pin = paths::netns_pin_path(&cfg.run_dir, uid);
    // The pod's attachments are cached under its sandbox ID, `<uid>-sandbox`; one whose ADD
    // started but was never cached (the agent died) has its lock file. Until every DEL has
    // succeeded the pod's state dir stays (see `terminate`, which retries).
    let mut network_left = false;
    match ctx.cni.attachments_prefixed(&format!("{uid}-")) {
        Ok(cached) => {
            for c in cached {
                let net =
                    PodNetwork::from_pending(&c, netns::is_pinned(&pin).then_some(pin.as_path()));
                if net.pod_uid == uid || c.container_id == sandbox_id {
                    let r = ctx.cni.del(&net).await;
                    network_left |= r.is_err();
                    errs.note(r.map_err(|e| Error::new("CNI DEL", e)));
                }
            }
        }
        Err(e) => {
            network_left = true;
            errs.note(Err(Error::new("CNI cache", e)));
        }
    }
    errs.note(netns::unpin(&pin).map_err(|e| Error::new("unpin", e)));

    // Root filesystems of its containers (named `<uid>-...`).
    let containers = cfg.root_dir.join("images").join("containers");
    for e in std::fs::read_dir(&containers)
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with(&format!("{uid}-")) {
            errs.note(
                ctx.images
                    .store()
                    .remove_rootfs(&id)
                    .map_err(|e| Error::new("remove rootfs", e)),
            );
        }
    }
    if scope == Scope::Pod {
        errs.note(
            podspec::volumes::teardown(&volumes_dir(&cfg.root_dir, uid))
                .map_err(|e| Error::new("volumes", e)),
        );
    }

    // Leftover processes in the pod cgroup (a dead shim's orphans), then the cgroup.
    let cg_path = st
        .as_ref()
        .map(|s| s.cgroup_parent.clone())
        .unwrap_or_else(|| {
            super::cgroup::pod_cgroup_path(cfg.cgroup_driver, cfg.cgroup_root.as_deref(), uid, None)
        });
    for p in super::cgroup::pids(&cg_path) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL);
    }
    let cg2 = cg_path.clone();
    if scope == Scope::Pod {
        errs.note(
            tokio::task::spawn_blocking(move || super::cgroup::remove(&cg2))
                .await
                .map_err(|e| Error::new("cgroup", e))
                .and_then(|r| r),
        );
    }

    // The shim: it exits after Shutdown; make sure.
    if let Some(pid) = st.as_ref().and_then(|s| s.shim_pid) {
        let t = Instant::now();
        while is_shim(pid, &sp.dir) && t.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if is_shim(pid, &sp.dir) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }

    let rm = |p: PathBuf| match std::fs::remove_dir_all(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new(format!("remove {}", p.display()), e)),
    };
    errs.note(rm(cfg.run_dir.join("pods").join(uid)));
    if scope == Scope::Sandbox {
        return errs.0.map_or(Ok(()), Err);
    }
    for e in std::fs::read_dir(&cfg.pod_logs_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name()
            .to_string_lossy()
            .ends_with(&format!("_{uid}"))
        {
            errs.note(rm(e.path()));
        }
    }
    if !network_left {
        errs.note(rm(paths::pod_dir(&cfg.root_dir, uid)));
    }
    errs.0.map_or(Ok(()), Err)
}

/// The first error of a best-effort sequence; every one is logged.
struct Errors(Option<Error>);

impl Errors {
    fn note(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            tracing::warn!("teardown: {e}");
            self.0.get_or_insert(e);
        }
    }
}

/// The sandbox's runtime id of pod `uid`.
pub fn sandbox_id(uid: &str) -> String {
    format!("{uid}-sandbox")
}
