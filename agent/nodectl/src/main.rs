//! `nodectl`: the operator's CLI. Image commands work on the node's image store directly (its
//! file locks make that safe next to a running nodelet); pod and workload commands (`ps` /
//! `get`, `logs`, `describe`, `top`, `exec`, `scale`, `rollout`, `create job`) talk to nodelet
//! over its API socket (`--socket` or `NODELET_SOCKET`). `exec` creates its process itself through the runtime library (see
//! `exec.rs`), so it never starts a multi-threaded runtime.

mod attach;
mod create;
mod deploy;
mod exec;
mod output;
#[cfg(test)]
mod snapshots;
mod top;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nodelet_images::cli::{self, ImageCommand};
use nodelet_images::{ImageService, RegistryConfig, Store};

/// How `nodectl` finds the API socket: `--socket`, else `$NODELET_SOCKET`, else
/// [`nodelet_api::DEFAULT_SOCKET`].
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
struct SocketFlags {
    /// nodelet's API socket.
    #[arg(long, env = "NODELET_SOCKET", default_value = nodelet_api::DEFAULT_SOCKET, value_name = "PATH")]
    socket: PathBuf,
}

#[derive(Debug, Parser)]
#[command(name = "nodectl", version, about = "Operate a nodelet node")]
struct Cli {
    #[command(flatten)]
    socket: SocketFlags,
    /// nodelet's root directory (the image store is `<root-dir>/images`).
    #[arg(
        long = "root-dir",
        env = "NODELET_ROOT_DIR",
        default_value = "/var/lib/nodelet"
    )]
    root_dir: PathBuf,
    /// Registry reachable over plain HTTP (repeatable); loopback always is.
    #[arg(long = "insecure-registry")]
    insecure: Vec<String>,
    /// Docker-style config.json with registry credentials.
    #[arg(long = "auth-file", env = "NODELET_AUTH_FILE")]
    auth_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What to list: namespace(s), label selector, output format (pods and the other kinds).
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Namespace (default "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// Objects of every namespace.
    #[arg(short = 'A', long = "all-namespaces")]
    all_namespaces: bool,
    /// Output format: wide (pods: IP and NODE; workloads: CONTAINERS IMAGES SELECTOR), json
    /// or yaml (the full objects; a List for several).
    #[arg(short, long, value_parser = ["wide", "json", "yaml"])]
    output: Option<String>,
    /// Label selector (`app=web`, `tier in (a,b)`, `!canary`).
    #[arg(short = 'l', long)]
    selector: Option<String>,
}

#[derive(Debug, clap::Args)]
struct PsArgs {
    #[command(flatten)]
    list: ListArgs,
    /// After the list, print a row again whenever a pod changes.
    #[arg(short, long)]
    watch: bool,
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// Pods (same as `nodectl ps`), or one pod by name.
    #[command(alias = "pod", alias = "po")]
    Pods {
        /// One pod (`get pod NAME -o yaml`).
        name: Option<String>,
        #[command(flatten)]
        args: PsArgs,
    },
    /// ConfigMaps: NAME DATA AGE.
    #[command(alias = "configmap", alias = "cm")]
    Configmaps(ObjectArgs),
    /// Secrets: NAME TYPE DATA AGE.
    #[command(alias = "secret")]
    Secrets(ObjectArgs),
    /// Jobs: NAME STATUS COMPLETIONS DURATION AGE.
    #[command(alias = "job")]
    Jobs(ObjectArgs),
    /// CronJobs: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE.
    #[command(alias = "cronjob", alias = "cj")]
    Cronjobs(ObjectArgs),
    /// Deployments: NAME READY UP-TO-DATE AVAILABLE AGE.
    #[command(alias = "deployment", alias = "deploy")]
    Deployments(ObjectArgs),
    /// ReplicaSets: NAME DESIRED CURRENT READY AGE.
    #[command(alias = "replicaset", alias = "rs")]
    Replicasets(ObjectArgs),
    /// DaemonSets: NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE.
    #[command(alias = "daemonset", alias = "ds")]
    Daemonsets(ObjectArgs),
}

/// `get <kind> [NAME]` of the workload and configuration kinds.
#[derive(Debug, clap::Args)]
struct ObjectArgs {
    /// One object.
    name: Option<String>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Subcommand)]
enum TopWhat {
    /// CPU (millicores) and memory (working set) of pods.
    #[command(alias = "pod", alias = "po")]
    Pods {
        /// One pod.
        name: Option<String>,
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(short = 'A', long = "all-namespaces")]
        all_namespaces: bool,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// One row per container.
        #[arg(long)]
        containers: bool,
    },
}

/// What `exec` and `attach` share: the pod, the container and the session's kind.
#[derive(Debug, clap::Args)]
struct SessionArgs {
    pod: String,
    #[arg(short, long)]
    namespace: Option<String>,
    /// Container (default: the `kubectl.kubernetes.io/default-container` annotation, else the
    /// first one).
    #[arg(short, long)]
    container: Option<String>,
    /// Pass stdin to the process.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Allocate a terminal (with `-i` and a terminal on stdin; `attach`: a container with
    /// `tty: true`).
    #[arg(short = 't', long)]
    tty: bool,
    /// Only print output from the process (no "Defaulted container" or TTY notices).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct ExecArgs {
    #[command(flatten)]
    s: SessionArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
    /// The container as the API resolved it (JSON `ExecTarget`): nodelet runs nodectl this
    /// way for `pods/exec` (the agent never forks into a container itself).
    #[arg(long, hide = true)]
    target_json: Option<String>,
}

#[derive(Debug, Subcommand)]
enum DescribeWhat {
    /// One pod.
    #[command(alias = "pods", alias = "po")]
    Pod {
        name: String,
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// A ConfigMap.
    #[command(alias = "configmaps", alias = "cm")]
    Configmap(DescribeArgs),
    /// A Secret (sizes, not values).
    #[command(alias = "secrets")]
    Secret(DescribeArgs),
    /// A Job, with its pod template and events.
    #[command(alias = "jobs")]
    Job(DescribeArgs),
    /// A CronJob.
    #[command(alias = "cronjobs", alias = "cj")]
    Cronjob(DescribeArgs),
    /// A Deployment, with its ReplicaSets.
    #[command(alias = "deployments", alias = "deploy")]
    Deployment(DescribeArgs),
    /// A ReplicaSet, with its pods' phases.
    #[command(alias = "replicasets", alias = "rs")]
    Replicaset(DescribeArgs),
    /// A DaemonSet, with its pods' phases.
    #[command(alias = "daemonsets", alias = "ds")]
    Daemonset(DescribeArgs),
}

/// `describe <kind> NAME [-n NS]`.
#[derive(Debug, clap::Args)]
struct DescribeArgs {
    name: String,
    #[arg(short, long)]
    namespace: Option<String>,
}

#[derive(Debug, clap::Args)]
struct LogsArgs {
    pod: String,
    #[arg(short, long)]
    namespace: Option<String>,
    /// Container (default: the `kubectl.kubernetes.io/default-container` annotation, else the
    /// first, with kubectl's "Defaulted container" notice).
    #[arg(short, long)]
    container: Option<String>,
    /// The previous instance (`--previous=N`: the N-th previous).
    #[arg(short, long, num_args = 0..=1, default_missing_value = "1")]
    previous: Option<u32>,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<u64>,
    /// Prefix each line with its timestamp.
    #[arg(long)]
    timestamps: bool,
    /// Keep streaming new lines.
    #[arg(short, long)]
    follow: bool,
    /// Only lines newer than this duration (`5s`, `2m`, `3h`).
    #[arg(long)]
    since: Option<String>,
}

/// `TYPE/NAME` (or `TYPE NAME`) and the namespace, as kubectl's deploy commands take them.
#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// `deployment/NAME`, `daemonset/NAME` (or the type and the name as two words).
    #[arg(required = true, num_args = 1..=2, value_name = "TYPE/NAME")]
    target: Vec<String>,
    #[arg(short, long)]
    namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
enum RolloutWhat {
    /// Wait until the rollout is done, printing kubectl's progress messages.
    Status {
        #[command(flatten)]
        t: TargetArgs,
        /// Keep watching until done (`--watch=false`: print the status once).
        #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        watch: bool,
        /// Give up after this long (`30s`, `5m`; 0: never).
        #[arg(long, default_value = "0s")]
        timeout: String,
    },
    /// The revisions and their change causes (`--revision=N`: that revision's pod template).
    History {
        #[command(flatten)]
        t: TargetArgs,
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// Back to the previous revision (or `--to-revision`).
    Undo {
        #[command(flatten)]
        t: TargetArgs,
        /// The revision to go back to (0: the previous one).
        #[arg(long = "to-revision", default_value_t = 0)]
        to_revision: i64,
    },
    /// Replace every pod (the template's `kubectl.kubernetes.io/restartedAt` annotation).
    Restart(TargetArgs),
    /// Stop rolling out template changes (Deployments).
    Pause(TargetArgs),
    /// Roll out again.
    Resume(TargetArgs),
}

#[derive(Debug, Subcommand)]
enum CreateWhat {
    /// A Job: `create job NAME --from=cronjob/CJ`, or `--image IMG [-- CMD...]`.
    Job {
        name: String,
        #[arg(short, long)]
        namespace: Option<String>,
        /// `cronjob/NAME`: the Job of that CronJob's job template.
        #[arg(long)]
        from: Option<String>,
        /// The image of the Job's one container.
        #[arg(long)]
        image: Option<String>,
        /// The container's command, after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Cmd {
    #[command(flatten)]
    Image(ImageCommand),
    /// List pods: NAME READY STATUS RESTARTS AGE.
    Ps(PsArgs),
    /// Display resources (`get pods`).
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Print a container's log.
    Logs(LogsArgs),
    /// Show a pod in detail, with its events (`describe pod NAME`).
    Describe {
        #[command(subcommand)]
        what: DescribeWhat,
    },
    /// Run a command in a container: `exec POD [-c C] [-i] [-t] -- CMD...`.
    Exec(ExecArgs),
    /// Attach to a running container's process: `attach POD [-c C] [-i] [-t]`.
    Attach(SessionArgs),
    /// CPU and memory use (`top pods`).
    Top {
        #[command(subcommand)]
        what: TopWhat,
    },
    /// Set the replicas of a Deployment or ReplicaSet: `scale deployment/NAME --replicas=N`.
    Scale {
        #[command(flatten)]
        t: TargetArgs,
        #[arg(long, required = true)]
        replicas: i32,
    },
    /// Manage the rollout of a Deployment or DaemonSet (`status`, `history`, `undo`,
    /// `restart`, `pause`, `resume`).
    Rollout {
        #[command(subcommand)]
        what: RolloutWhat,
    },
    /// Create an object (`create job NAME --from=cronjob/NAME`).
    Create {
        #[command(subcommand)]
        what: CreateWhat,
    },
    /// Print nodectl's version (and nodelet's health with the socket reachable).
    Version,
}

/// An exit status other than 1 with nothing more to print (exec's pass-through).
#[derive(Debug)]
struct ExitStatus(u8);

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitStatus {}

fn main() -> std::process::ExitCode {
    // As every Unix filter (and kubectl): a reader that goes away (`nodectl images | head`)
    // ends us by SIGPIPE, quietly, instead of a panic in `println!`. Rust starts programs with
    // SIGPIPE ignored.
    // SAFETY: setting a signal's disposition to the default before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ExitStatus(c)) = e.downcast_ref::<ExitStatus>() {
                return std::process::ExitCode::from(*c);
            }
            match e.downcast_ref::<nodelet_api::ClientError>() {
                // kubectl prints server errors as they are: `Error from server (NotFound): ...`.
                Some(ce @ nodelet_api::ClientError::Api(_)) => eprintln!("{ce}"),
                _ => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn logs(client: &nodelet_api::Client, a: &LogsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let ns = a.namespace.clone().unwrap_or_else(|| "default".into());
    // kubectl's defaulting: the default-container annotation, else the first container, with
    // the "Defaulted container" notice on stderr when the pod has several.
    let container = match &a.container {
        Some(c) => c.clone(),
        None => {
            let pod = client.pod(&ns, &a.pod).await?;
            let (c, notice) = nodelet_objects::default_container::default_container(&pod, None)
                .map_err(anyhow::Error::msg)?;
            if let Some(n) = notice {
                eprintln!("{n}");
            }
            c
        }
    };
    let q = nodelet_api::LogQuery {
        container: Some(container),
        previous: a.previous.unwrap_or(0),
        tail_lines: a.tail,
        since_seconds: a
            .since
            .as_deref()
            .map(|d| {
                nodelet_objects::duration::parse_duration(d)
                    .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
                    .map_err(|e| {
                        anyhow::anyhow!("invalid argument {d:?} for \"--since\" flag: {e}")
                    })
            })
            .transpose()?,
        timestamps: a.timestamps,
        follow: a.follow,
    };
    let mut stream = client.logs(&ns, &a.pod, &q).await?;
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.chunk().await? {
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(())
}

async fn describe(
    client: &nodelet_api::Client,
    name: &str,
    namespace: Option<&str>,
) -> anyhow::Result<()> {
    let ns = namespace.unwrap_or("default");
    let pod = client.pod(ns, name).await?;
    let events = client.events(Some(ns), Some(name)).await?;
    print!(
        "{}",
        nodelet_objects::describe::pod(&pod, &events, jiff::Timestamp::now())
    );
    Ok(())
}

/// `exec`: find the container over the API on a current-thread runtime that is gone before
/// the process is created (the runtime library forks only from a single-threaded process).
fn exec_cmd(socket: &std::path::Path, a: &ExecArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let ns = a.s.namespace.as_deref().unwrap_or("default");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let helper = a.target_json.is_some();
    let target = rt.block_on(async {
        if let Some(j) = &a.target_json {
            return serde_json::from_str(j).context("--target-json");
        }
        let client = nodelet_api::Client::new(socket)?;
        let pod = client.pod(ns, &a.s.pod).await?;
        if let Some(e) = nodelet_objects::default_container::completed_pod_error(&pod) {
            anyhow::bail!(e);
        }
        let (container, notice) =
            nodelet_objects::default_container::default_container(&pod, a.s.container.as_deref())
                .map_err(anyhow::Error::msg)?;
        if let Some(n) = notice.filter(|_| !a.s.quiet) {
            eprintln!("{n}");
        }
        match client.exec_target(ns, &a.s.pod, Some(&container)).await {
            Ok(t) => Ok(t),
            Err(nodelet_api::ClientError::Api(s)) if s.code == Some(400) => {
                let msg = s.message.clone().unwrap_or_default();
                if msg.starts_with("container not found") {
                    anyhow::bail!("unable to upgrade connection: {msg}");
                }
                Err(nodelet_api::ClientError::Api(s).into())
            }
            Err(e) => Err(e.into()),
        }
    })?;
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    // kubectl: a terminal only with stdin attached, and only if stdin is a terminal.
    let mut tty = a.s.tty && a.s.stdin;
    if tty && !std::io::stdin().is_terminal() {
        if !a.s.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        tty = false;
    }
    let code = exec::run(&exec::Request {
        target,
        command: a.command.clone(),
        stdin: a.s.stdin,
        tty,
    })?;
    if code != 0 {
        if !helper {
            eprintln!("command terminated with exit code {code}");
        }
        return Err(ExitStatus(u8::try_from(code).unwrap_or(255)).into());
    }
    Ok(())
}

/// `attach`: the container as kubectl picks it (default container, its `tty`), then the
/// session (`attach.rs`).
fn attach_cmd(socket: &std::path::Path, a: &SessionArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let ns = a.namespace.as_deref().unwrap_or("default");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let pod = rt.block_on(async { nodelet_api::Client::new(socket)?.pod(ns, &a.pod).await })?;
    drop(rt);
    if let Some(e) = nodelet_objects::default_container::completed_pod_error(&pod) {
        anyhow::bail!(e);
    }
    let (container, notice) =
        nodelet_objects::default_container::default_container(&pod, a.container.as_deref())
            .map_err(anyhow::Error::msg)?;
    if let Some(n) = notice.filter(|_| !a.quiet) {
        eprintln!("{n}");
    }
    let spec_tty = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| c.name == container)
        .and_then(|c| c.tty)
        .unwrap_or(false);
    // kubectl's rules: -t needs a container with a terminal; a container with one gets a
    // terminal session anyway; a terminal only with stdin, and only from a terminal.
    let mut tty = a.tty || spec_tty;
    if a.tty && !spec_tty {
        eprintln!("error: Unable to use a TTY - container {container} did not allocate one");
        tty = false;
    }
    if tty && (!a.stdin || !std::io::stdin().is_terminal()) {
        if a.stdin && !a.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        tty = false;
    }
    if tty && !a.quiet {
        eprintln!("If you don't see a command prompt, try pressing enter.");
    }
    attach::run(&attach::Request {
        socket,
        namespace: ns,
        pod: &a.pod,
        container: &container,
        stdin: a.stdin,
        tty,
    })?;
    if tty && !a.quiet {
        eprintln!(
            "Session ended, resume using 'nodectl attach {} -c {container} -i -t' command when the pod is running",
            a.pod
        );
    }
    Ok(())
}

fn run(args: Cli) -> anyhow::Result<()> {
    let cmd = match args.cmd {
        Cmd::Exec(a) => return exec_cmd(&args.socket.socket, &a),
        Cmd::Attach(a) => return attach_cmd(&args.socket.socket, &a),
        other => other,
    };
    let client = || nodelet_api::Client::new(&args.socket.socket);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    match cmd {
        Cmd::Ps(a) => rt.block_on(output::ps(&client()?, None, &a)),
        Cmd::Get {
            what: GetWhat::Pods { name, args: a },
        } => rt.block_on(output::ps(&client()?, name.as_deref(), &a)),
        Cmd::Get { what } => {
            use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
            use k8s_openapi::api::batch::v1::{CronJob, Job};
            use k8s_openapi::api::core::v1::{ConfigMap, Secret};
            let c = client()?;
            rt.block_on(async {
                match what {
                    GetWhat::Pods { .. } => Ok(()),
                    GetWhat::Configmaps(a) => output::get::<ConfigMap>(&c, &a).await,
                    GetWhat::Secrets(a) => output::get::<Secret>(&c, &a).await,
                    GetWhat::Jobs(a) => output::get::<Job>(&c, &a).await,
                    GetWhat::Cronjobs(a) => output::get::<CronJob>(&c, &a).await,
                    GetWhat::Deployments(a) => output::get::<Deployment>(&c, &a).await,
                    GetWhat::Replicasets(a) => output::get::<ReplicaSet>(&c, &a).await,
                    GetWhat::Daemonsets(a) => output::get::<DaemonSet>(&c, &a).await,
                }
            })
        }
        Cmd::Top {
            what:
                TopWhat::Pods {
                    name,
                    namespace,
                    all_namespaces,
                    selector,
                    containers,
                },
        } => rt.block_on(output::top(
            &client()?,
            &output::TopArgs {
                name,
                namespace,
                all_namespaces,
                selector,
                containers,
            },
        )),
        Cmd::Exec(a) => exec_cmd(&args.socket.socket, &a),
        Cmd::Attach(a) => attach_cmd(&args.socket.socket, &a),
        Cmd::Logs(a) => rt.block_on(logs(&client()?, &a)),
        Cmd::Describe {
            what: DescribeWhat::Pod { name, namespace },
        } => rt.block_on(describe(&client()?, &name, namespace.as_deref())),
        Cmd::Describe { what } => {
            let c = client()?;
            rt.block_on(async {
                use output::Describe;
                let (kind, a) = match what {
                    DescribeWhat::Pod { .. } => return Ok(()),
                    DescribeWhat::Configmap(a) => (Describe::ConfigMap, a),
                    DescribeWhat::Secret(a) => (Describe::Secret, a),
                    DescribeWhat::Job(a) => (Describe::Job, a),
                    DescribeWhat::Cronjob(a) => (Describe::CronJob, a),
                    DescribeWhat::Deployment(a) => (Describe::Deployment, a),
                    DescribeWhat::Replicaset(a) => (Describe::ReplicaSet, a),
                    DescribeWhat::Daemonset(a) => (Describe::DaemonSet, a),
                };
                let ns = a.namespace.as_deref().unwrap_or("default");
                print!("{}", output::describe(&c, kind, ns, &a.name).await?);
                Ok(())
            })
        }
        Cmd::Scale { t, replicas } => {
            let (target, name) = deploy::parse_target(&t.target)?;
            let ns = t.namespace.as_deref().unwrap_or("default");
            rt.block_on(deploy::scale(&client()?, ns, target, &name, replicas))
        }
        Cmd::Rollout { what } => {
            let (t, verb) = match what {
                RolloutWhat::Status { t, watch, timeout } => {
                    let timeout =
                        nodelet_objects::duration::parse_duration(&timeout).map_err(|e| {
                            anyhow::anyhow!(
                                "invalid argument {timeout:?} for \"--timeout\" flag: {e}"
                            )
                        })?;
                    (t, deploy::Verb::Status { watch, timeout })
                }
                RolloutWhat::History { t, revision } => (t, deploy::Verb::History { revision }),
                RolloutWhat::Undo { t, to_revision } => (t, deploy::Verb::Undo { to_revision }),
                RolloutWhat::Restart(t) => (t, deploy::Verb::Restart),
                RolloutWhat::Pause(t) => (t, deploy::Verb::Pause),
                RolloutWhat::Resume(t) => (t, deploy::Verb::Resume),
            };
            let (target, name) = deploy::parse_target(&t.target)?;
            let ns = t.namespace.as_deref().unwrap_or("default");
            rt.block_on(deploy::rollout(&client()?, ns, target, &name, &verb))
        }
        Cmd::Create {
            what:
                CreateWhat::Job {
                    name,
                    namespace,
                    from,
                    image,
                    command,
                },
        } => {
            let ns = namespace.as_deref().unwrap_or("default");
            let how = create::JobSource::of(from.as_deref(), image.as_deref(), command)?;
            rt.block_on(create::job(&client()?, ns, &name, how))
        }
        Cmd::Version => {
            println!("nodectl {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Cmd::Image(cmd) => {
            let root = args.root_dir.join("images");
            let store = Store::open(&root)
                .with_context(|| format!("opening image store {}", root.display()))?;
            let config = RegistryConfig {
                insecure: args.insecure,
                auth_file: args.auth_file,
                ..Default::default()
            };
            let svc = ImageService::new(store, config).context("configuring registries")?;
            rt.block_on(cli::run(cmd, &svc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Client {
        #[command(flatten)]
        s: SocketFlags,
    }

    #[test]
    fn socket_flag() {
        let c = Client::try_parse_from(["nodectl", "--socket", "/tmp/n2.sock"]).unwrap();
        assert_eq!(c.s.socket, PathBuf::from("/tmp/n2.sock"));
        if std::env::var_os("NODELET_SOCKET").is_none() {
            let c = Client::try_parse_from(["nodectl"]).unwrap();
            assert_eq!(c.s.socket, PathBuf::from("/run/nodelet/nodelet.sock"));
        }
    }
}
