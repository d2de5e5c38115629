//! `noderun exec`: a new process in a running container, from `--process FILE` or from the
//! container's own process settings with the command line's args and overrides.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use noderun::{ExecOptions, Runtime};
use oci_spec::runtime::Process;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Process JSON (an OCI `process` object) instead of the command line.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (KEY=value).
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional groups.
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN, ...).
    #[arg(short = 'c', long = "cap")]
    caps: Vec<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Do not wait for the process.
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn build_process(rt: &Runtime, a: &ExecArgs) -> Result<Process> {
    if let Some(file) = &a.process {
        let bytes = noderun::config::read_capped(file)
            .with_context(|| format!("--process {}", file.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        return serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow::anyhow!("{}: {}: {}", file.display(), e.path(), e.inner()));
    }
    if a.command.is_empty() {
        bail!("exec: no command given (args after the container id, or --process FILE)");
    }
    let state = rt.state(&a.id)?;
    let bundle = noderun::config::Bundle::load(&state.bundle)?;
    let mut p = bundle.spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u.parse::<u32>()?, Some(g.parse::<u32>()?)),
            None => (
                u.parse::<u32>()
                    .with_context(|| format!("--user {u:?}: want uid[:gid]"))?,
                None,
            ),
        };
        let mut user = p.user().clone();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
        }
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &a.caps {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .with_context(|| format!("--cap {name:?}: unknown capability"))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, p2) = (add(c.bounding()), add(c.effective()), add(c.permitted()));
            c.set_bounding(b);
            c.set_effective(e);
            c.set_permitted(p2);
        }
        p.set_capabilities(Some(c));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

pub fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32> {
    let process = build_process(rt, a)?;
    let mut opts = ExecOptions {
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        console_fd: None,
        preserve_fds: a.preserve_fds,
        stdio: None,
    };
    let terminal = process.terminal().unwrap_or(false);
    if a.detach {
        rt.exec(&a.id, &process, &opts)?;
        return Ok(0);
    }
    noderun::become_subreaper()?;
    let pair = if terminal && a.console_socket.is_none() {
        Some(super::run::console_pair()?)
    } else {
        None
    };
    if let Some((_, theirs)) = &pair {
        opts.console_fd = Some(theirs.as_raw_fd());
    }
    let pid = rt.exec(&a.id, &process, &opts)?;
    if let Some((ours, theirs)) = pair {
        drop(theirs);
        if let Some(m) = noderun::sync::recv_fd(ours.as_raw_fd()).ok().flatten() {
            noderun::tty::relay(m).map_err(anyhow::Error::msg)?;
        }
    }
    Ok(super::run::wait_forwarding(pid)?.code())
}
