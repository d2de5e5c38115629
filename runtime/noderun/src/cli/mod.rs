//! The command line: runc's commands, flags and output formats, each subcommand in its own
//! module; errors are printed as one line (and logged to `--log` in text or JSON).

mod exec;
mod list;
mod log;
mod run;
mod update;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use nix::sys::signal::Signal;
use noderun::{CreateOptions, Runtime};

#[derive(Parser, Debug)]
#[command(
    name = "noderun",
    version,
    about = "OCI container runtime with the runc command line"
)]
pub struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = noderun::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (errors and debug messages); default stderr only.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// The systemd cgroup driver: `linux.cgroupsPath` is slice:prefix:name and the
    /// container's cgroup a transient scope `prefix-name.scope` made over D-Bus. Also set by
    /// NODERUN_SYSTEMD_CGROUP=1 in the environment (how nodelet's shims pass it).
    #[arg(long = "systemd-cgroup", global = true, env = "NODERUN_SYSTEMD_CGROUP", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    systemd_cgroup: bool,
    /// Accepted for compatibility (runc's --rootless=auto|true|false).
    #[arg(long = "rootless", hide = true)]
    rootless_mode: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's init pid here.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is true.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Do not use pivot_root (for ramfs roots): MS_MOVE + chroot.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for compatibility.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many extra descriptors (from fd 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    id: String,
}

impl CreateArgs {
    fn options(&self, systemd_cgroup: bool) -> CreateOptions {
        CreateOptions {
            systemd_cgroup,
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            console_fd: None,
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
            stdio: None,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container (its init waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print the OCI state of a container as JSON.
    State { id: String },
    /// Send a signal (name or number, default SIGTERM) to a container.
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and its resources.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, wait for it and exit with its code.
    Run(run::RunArgs),
    /// Run a new process in a running container.
    Exec(exec::ExecArgs),
    /// List containers.
    List(list::ListArgs),
    /// Show the processes of a container.
    Ps(list::PsArgs),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the cgroup limits of a running container.
    Update(update::UpdateArgs),
    /// Print the features this runtime supports (OCI features JSON).
    Features,
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for an unprivileged user (user namespace, no network namespace).
        #[arg(long)]
        rootless: bool,
    },
}

pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("unknown signal number {n}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow::anyhow!("unknown signal {s:?}"))
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    let logger = log::Logger::new(cli.log.clone(), cli.log_format == "json", cli.debug);
    match dispatch(&cli, &logger) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&format!("{e:#}"));
            1
        }
    }
}

fn dispatch(cli: &Cli, logger: &log::Logger) -> Result<i32> {
    let rt = Runtime::new(&cli.root);
    match &cli.cmd {
        Cmd::Create(a) => {
            logger.debug(&format!("create {} from {}", a.id, a.bundle.display()));
            rt.create(&a.id, &a.bundle, &a.options(cli.systemd_cgroup))?;
        }
        Cmd::Start { id } => rt.start(id)?,
        Cmd::State { id } => {
            println!("{}", serde_json::to_string_pretty(&rt.state(id)?)?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            rt.signal(id, sig, *all)?;
        }
        Cmd::Delete { force, id } => match rt.delete(id, *force) {
            Err(noderun::Error::NotFound(_)) if *force => {}
            r => r?,
        },
        Cmd::Run(a) => return run::run(&rt, a, cli.systemd_cgroup),
        Cmd::Exec(a) => return exec::exec(&rt, a),
        Cmd::List(a) => list::list(&rt, a)?,
        Cmd::Ps(a) => list::ps(&rt, a)?,
        Cmd::Pause { id } => rt.pause(id)?,
        Cmd::Resume { id } => rt.resume(id)?,
        Cmd::Update(a) => update::update(&rt, a)?,
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&noderun::features::features())?
        ),
        Cmd::Spec { bundle, rootless } => spec(bundle, *rootless)?,
    }
    Ok(0)
}

fn spec(bundle: &std::path::Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{}: already exists; remove it first", path.display());
    }
    let mut spec = oci_spec::runtime::Spec::default();
    spec.set_version(noderun::config::OCI_VERSION.to_string());
    spec.set_hostname(Some("noderun".to_string()));
    if rootless {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        spec.set_linux(Some(oci_spec::runtime::Linux::rootless(uid, gid)));
    }
    let json = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, json + "\n").with_context(|| format!("write {}", path.display()))
}
