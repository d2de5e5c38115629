//! Starting one container instance of a pod: image (pull policy, pull back-off), overlay
//! rootfs from the image store, OCI bundle under `<rootDir>/pods/<uid>/containers/<id>/`,
//! create and start through the pod's shim with its log at
//! `<podLogsDir>/<ns>_<name>_<uid>/<container>/<restartCount>.log`; and removing an ended one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Container;
use nodelet_images::{ImageRecord, ImageRef, NoProgress, PullPolicy};
use nodelet_objects::events::EventReason;
use nodelet_shim_protocol::protocol::{Request, Response};

use crate::podspec::{self, ContainerInput, ContainerRef, PodContext, PodVolumes, SpecErrorKind};
use crate::sandbox::paths;

use super::ctx::Ctx;
use super::setup;
use super::shim;
use super::state::PodState;

/// Why a start failed: the kubelet's waiting reason and a message.
#[derive(Debug, Clone)]
pub struct StartFailure {
    pub reason: StartReason,
    pub message: String,
}

impl StartFailure {
    fn new(reason: StartReason, message: impl std::fmt::Display) -> StartFailure {
        StartFailure {
            reason,
            message: message.to_string(),
        }
    }
}

/// The kind of a start failure, shown as the container's waiting reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartReason {
    /// The image reference does not parse: `InvalidImageName`.
    InvalidImageName,
    /// The image could not be had: `ErrImagePull`.
    ErrImagePull,
    /// The image service's own kubelet reason (`ErrImagePull`, `ImagePullBackOff`,
    /// `ErrImageNeverPull`, ...).
    Image(&'static str),
    /// The container's spec could not be translated (`CreateContainerConfigError`,
    /// `FailedMount`, `CreateContainerError`).
    Spec(SpecErrorKind),
    /// The runtime could not create it: `CreateContainerError`.
    Create,
    /// The runtime could not create or start it: `RunContainerError`; the instance counts
    /// as started and ended (`StartError`, exit code 128), as with containerd.
    Run,
}

impl StartReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StartReason::InvalidImageName => "InvalidImageName",
            StartReason::ErrImagePull => "ErrImagePull",
            StartReason::Image(reason) => reason,
            StartReason::Spec(kind) => kind.kubelet_reason(),
            StartReason::Create => "CreateContainerError",
            StartReason::Run => "RunContainerError",
        }
    }
}

impl std::fmt::Display for StartReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runtime id of a container instance: `<uid>-<init|app>-<name>-<restartCount>`.
pub fn container_id(uid: &str, which: ContainerRef, name: &str, restart: i32) -> String {
    let kind = match which {
        ContainerRef::Init(_) => "init",
        ContainerRef::App(_) => "app",
    };
    format!("{uid}-{kind}-{name}-{restart}")
}

/// A container instance's bundle directory (config.json, the termination log).
pub(super) fn bundle_dir(root: &Path, uid: &str, id: &str) -> PathBuf {
    paths::container_bundle_dir(root, uid, id)
}

/// Starts instance `restart_count` of container `which`: its image, its bundle, create and
/// start in the shim, the postStart hook. Returns its runtime id, image ID and start time.
pub async fn start(
    ctx: &std::sync::Arc<Ctx>,
    st: &PodState,
    pctx: &PodContext,
    volumes: &PodVolumes,
    which: ContainerRef,
    restart_count: i32,
    events: &super::view::PodEvents,
) -> Result<(String, String, Option<jiff::Timestamp>), StartFailure> {
    let uid = st.pod.uid();
    let t0 = std::time::Instant::now();
    let step = |what: &str| tracing::debug!(pod = %uid, step = what, ms = t0.elapsed().as_secs_f64() * 1e3, "container");
    let c = which
        .get(&st.pod.pod)
        .map_err(|e| StartFailure::new(StartReason::Create, e))?
        .clone();
    // The kubelet looks up the pod's imagePullSecrets at each sync and says which it could
    // not find; the pull is attempted anyway.
    let missing: Vec<&str> = st
        .pod
        .pod
        .spec
        .iter()
        .flat_map(|s| s.image_pull_secrets.iter().flatten())
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty() && pctx.config.secret(st.pod.namespace(), n).is_none())
        .collect();
    if !missing.is_empty() {
        events.emit(
            EventReason::FailedToRetrieveImagePullSecret,
            format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                missing.join(", ")
            ),
        );
    }
    let rec = ensure_image(ctx, &c, events).await?;
    step("image");
    // envFrom keys that are no variable names are left out of the spec; the user is told.
    if let Ok(from) = podspec::env::env_from(&st.pod.pod, which, pctx) {
        for m in from.skipped {
            events.emit(EventReason::InvalidEnvironmentVariableNames, m);
        }
    }
    let id = container_id(uid, which, &c.name, restart_count);
    let sock = st.shim_socket();
    // A half-made instance of an earlier attempt goes first.
    let _ = shim::call(
        &sock,
        Request::Delete {
            id: id.clone(),
            force: true,
        },
    )
    .await;
    let bundle = write_bundle(ctx, st, pctx, volumes, which, &id, &rec).await?;
    step("bundle");
    create(ctx, st, &c, &id, bundle, restart_count, events).await?;
    step("create");
    if let Err(e) = shim::call(&sock, Request::Start { id: id.clone() }).await {
        remove(ctx, st, &id).await;
        return Err(StartFailure::new(StartReason::Run, e));
    }
    step("start");
    events.emit(
        EventReason::Started,
        format!("Started container {}", c.name),
    );
    post_start(ctx, st, pctx, which, &c, &id, events).await;
    // The shim's start time is the one reported from now on (also after an agent restart).
    let started_at = match shim::call(&sock, Request::State { id: id.clone() }).await {
        Ok(Response::Container(info)) => info.started_at.and_then(|s| s.parse().ok()),
        _ => None,
    };
    Ok((id, rec.id.to_string(), started_at))
}

/// The container's image, pulled per its pull policy (with the pull back-off), with the
/// kubelet's Pulling/Pulled/Failed events.
async fn ensure_image(
    ctx: &std::sync::Arc<Ctx>,
    c: &Container,
    events: &super::view::PodEvents,
) -> Result<ImageRecord, StartFailure> {
    let image = c.image.clone().unwrap_or_default();
    let r =
        ImageRef::parse(&image).map_err(|e| StartFailure::new(StartReason::InvalidImageName, e))?;
    let policy = PullPolicy::from_spec(c.image_pull_policy.as_deref(), &r)
        .map_err(|e| StartFailure::new(StartReason::ErrImagePull, e))?;
    let present = ctx
        .images
        .store()
        .find_image(&r.to_string())
        .ok()
        .flatten()
        .is_some();
    if policy.needs_pull(present) {
        // An attempt only when the image's pull back-off allows one: while it waits, the
        // kubelet says so (Normal `BackOff`) and pulls nothing.
        let waiting = ctx
            .pull_backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_backoff(&image, std::time::Instant::now())
            .is_some();
        if waiting {
            events.emit(
                EventReason::BackOffPullImage,
                format!("Back-off pulling image {image:?}"),
            );
        } else {
            events.emit(EventReason::Pulling, format!("Pulling image {image:?}"));
        }
    }
    // The pull future of nodelet-images is not `Send` (a higher-ranked closure in its layer
    // stream), so it runs on a blocking thread of its own.
    let (ctx2, image2) = (ctx.clone(), image.clone());
    let handle = tokio::runtime::Handle::current();
    let rec = tokio::task::spawn_blocking(move || {
        handle.block_on(ctx2.images.ensure_with_backoff(
            &image2,
            policy,
            &ctx2.pull_backoff,
            std::time::Instant::now(),
            &NoProgress,
        ))
    })
    .await
    .map_err(|e| StartFailure::new(StartReason::ErrImagePull, e))?
    .map_err(|f| {
        match f.reason {
            "ImagePullBackOff" => {}
            "ErrImagePull" => events.emit(
                EventReason::Failed,
                format!("Failed to pull image {image:?}: {}", f.message),
            ),
            _ => events.emit(EventReason::Failed, f.message.clone()),
        }
        StartFailure::new(StartReason::Image(f.reason), f.message)
    })?;
    if policy.needs_pull(present) {
        events.emit(
            EventReason::Pulled,
            format!("Successfully pulled image {image:?}"),
        );
    } else {
        events.emit(
            EventReason::Pulled,
            format!("Container image {image:?} already present on machine"),
        );
    }
    Ok(rec)
}

/// The instance's root filesystem from the image store and its OCI bundle
/// (`config.json`, termination log) under `<rootDir>/pods/<uid>/containers/<id>/`; nothing
/// is left behind on failure.
async fn write_bundle(
    ctx: &Ctx,
    st: &PodState,
    pctx: &PodContext,
    volumes: &PodVolumes,
    which: ContainerRef,
    id: &str,
    rec: &ImageRecord,
) -> Result<PathBuf, StartFailure> {
    let store = ctx.images.store().clone();
    let root = ctx.cfg.root_dir.clone();
    let (uid2, id2, rec2) = (st.pod.uid().to_string(), id.to_string(), rec.clone());
    let pod2 = st.pod.pod.clone();
    let (pctx2, vol2) = (pctx.clone(), volumes.clone());
    tokio::task::spawn_blocking(move || -> Result<PathBuf, StartFailure> {
        let fail = |e: &dyn std::fmt::Display| StartFailure::new(StartReason::Create, e);
        store.remove_rootfs(&id2).map_err(|e| fail(&e))?;
        let cfg_bytes = store.read_blob(&rec2.id).map_err(|e| fail(&e))?;
        let run = nodelet_images::manifest::parse_config("image config", &cfg_bytes)
            .map_err(|e| fail(&e))?
            .config;
        let rootfs = store.create_rootfs(&id2, &rec2).map_err(|e| fail(&e))?;
        let dir = bundle_dir(&root, &uid2, &id2);
        let built = (|| {
            std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
            let tlog = dir.join("termination-log");
            podspec::create_termination_log(&tlog).map_err(|e| fail(&e))?;
            let spec = podspec::container_spec(
                &pod2,
                &pctx2,
                &vol2,
                &ContainerInput {
                    container: which,
                    id: &id2,
                    image: run.as_ref(),
                    rootfs: &rootfs,
                    termination_log: Some(&tlog),
                },
            )
            .map_err(|e| StartFailure::new(StartReason::Spec(e.kind), &e))?;
            spec.save(dir.join("config.json")).map_err(|e| fail(&e))?;
            super::stop_signal::of_container(&pod2, which, run.as_ref(), &dir)
                .map_err(|e| fail(&e))?;
            Ok(dir.clone())
        })();
        if built.is_err() {
            let _ = store.remove_rootfs(&id2);
        }
        built
    })
    .await
    .map_err(|e| StartFailure::new(StartReason::Create, e))?
}

/// Creates the instance in the shim: its cgroup, its log at
/// `<podLogsDir>/<ns>_<name>_<uid>/<container>/<restartCount>.log`, its OOM counter, its
/// stdin and terminal (`stdin`, `stdinOnce`, `tty`: the shim holds them for attach). On
/// failure the instance is removed.
async fn create(
    ctx: &Ctx,
    st: &PodState,
    c: &Container,
    id: &str,
    bundle: PathBuf,
    restart_count: i32,
    events: &super::view::PodEvents,
) -> Result<(), StartFailure> {
    let log_path = setup::pod_logs_dir(
        &ctx.cfg.pod_logs_dir,
        st.pod.namespace(),
        st.pod.name(),
        st.pod.uid(),
    )
    .join(&c.name)
    .join(format!("{restart_count}.log"));
    if let Some(parent) = log_path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let cg_path = podspec::cgroups_path(&st.cgroup_parent, id);
    let cg_path = cg_path.to_string_lossy();
    if let Err(e) = super::cgroup::prepare_container(&cg_path) {
        remove(ctx, st, id).await;
        return Err(StartFailure::new(StartReason::Create, e));
    }
    // containerd's CreateContainer (which the kubelet reports `Created`) is done once the
    // bundle is written; the runtime's create belongs to its StartContainer, so a failure
    // there comes after `Created`, as with the kubelet.
    events.emit(
        EventReason::Created,
        format!("Created container {}", c.name),
    );
    let created = shim::call(
        &st.shim_socket(),
        Request::Create {
            id: id.to_string(),
            bundle,
            log_path: Some(log_path),
            oom_counter: super::cgroup::oom_counter(&cg_path),
            stdin: c.stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
            tty: c.tty.unwrap_or(false),
        },
    )
    .await;
    match created {
        Ok(Response::Created { .. }) => {}
        // The runtime's create is containerd's task creation, part of its StartContainer:
        // a failure there (an executable not found, a mount refused) is `RunContainerError`
        // and the instance ends `StartError` (see the worker).
        Ok(other) => {
            remove(ctx, st, id).await;
            return Err(StartFailure::new(StartReason::Run, format!("{other:?}")));
        }
        Err(e) => {
            remove(ctx, st, id).await;
            return Err(StartFailure::new(StartReason::Run, e));
        }
    }
    Ok(())
}

/// Runs the container's postStart hook, if any; a failed hook kills the instance (after
/// its grace period), as the kubelet does.
async fn post_start(
    ctx: &Ctx,
    st: &PodState,
    pctx: &PodContext,
    which: ContainerRef,
    c: &Container,
    id: &str,
    events: &super::view::PodEvents,
) {
    let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.clone()) else {
        return;
    };
    let sock = st.shim_socket();
    let exec = super::probes::exec_fn(
        sock.clone(),
        id.to_string(),
        &bundle_dir(&ctx.cfg.root_dir, st.pod.uid(), id),
    );
    let ip = pctx
        .pod_ips
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into());
    let field = format!("{}.lifecycle.postStart", which.field());
    if let Err(m) = super::hooks::run(&h, c, &field, &ip, &*exec, Duration::from_secs(30)).await {
        events.emit(
            EventReason::FailedPostStartHook,
            format!("PostStartHook failed: {m}"),
        );
        super::probes::kill_with_grace(
            sock,
            id.to_string(),
            super::state::grace_period(st),
            super::stop_signal::of_instance(&ctx.cfg.root_dir, st.pod.uid(), id),
        );
    }
}

/// Deletes an instance: the shim's container, its rootfs and bundle (its log stays).
pub async fn remove(ctx: &Ctx, st: &PodState, id: &str) {
    let _ = shim::call(
        &st.shim_socket(),
        Request::Delete {
            id: id.to_string(),
            force: true,
        },
    )
    .await;
    super::cgroup::remove_container(
        &podspec::cgroups_path(&st.cgroup_parent, id).to_string_lossy(),
    );
    let store = ctx.images.store().clone();
    let dir = bundle_dir(&ctx.cfg.root_dir, st.pod.uid(), id);
    let id = id.to_string();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = store.remove_rootfs(&id) {
            tracing::warn!("remove rootfs of {id}: {e}");
        }
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}
