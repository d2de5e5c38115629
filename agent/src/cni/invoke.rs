//! Running one CNI plugin by the spec's contract: found by its `type` in the plugin
//! directories, the `CNI_*` variables added to the agent's own environment (any inherited
//! `CNI_*` removed), the plugin's configuration on stdin, the result (or a CNI error object) on
//! stdout. Async on tokio; the child is killed if the call times out or is dropped.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::error::CniError;

/// The environment of one plugin call.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub command: &'a str,
    pub container_id: &'a str,
    /// Empty when the namespace is gone (DEL).
    pub netns: &'a str,
    pub ifname: &'a str,
    pub args: &'a str,
    pub bin_dirs: &'a [PathBuf],
    pub timeout: Duration,
    /// Locked descriptors the plugin inherits ([`super::lock`]): an orphaned plugin keeps
    /// holding them until it exits.
    pub inherit: &'a [RawFd],
}

/// The plugin binary `plugin` in the first of `dirs` that has it.
pub fn find_plugin(plugin: &str, dirs: &[PathBuf]) -> Result<PathBuf, CniError> {
    use std::os::unix::fs::PermissionsExt;
    for d in dirs {
        let p = d.join(plugin);
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
            && m.permissions().mode() & 0o111 != 0
        {
            return Ok(p);
        }
    }
    Err(CniError::PluginNotFound {
        plugin: plugin.to_string(),
        dirs: dirs.to_vec(),
    })
}

fn cni_path(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs `plugin` with `config` on stdin. ADD returns its result; DEL/CHECK return `Null`.
pub async fn run(plugin: &str, config: &Value, inv: &Invocation<'_>) -> Result<Value, CniError> {
    let bin = find_plugin(plugin, inv.bin_dirs)?;
    let stdin_data = serde_json::to_vec(config).map_err(|e| CniError::BadResult {
        plugin: plugin.to_string(),
        command: inv.command.to_string(),
        reason: format!("config: {e}"),
    })?;
    let mut cmd = tokio::process::Command::new(&bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CNI_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("CNI_COMMAND", inv.command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", inv.args)
        .env("CNI_PATH", cni_path(inv.bin_dirs))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let inherit = inv.inherit.to_vec();
    if !inherit.is_empty() {
        // SAFETY: between fork and exec only fcntl(2), which is async-signal-safe, runs; it
        // touches nothing but the listed descriptors (open in the parent, so in the child).
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    // ETXTBSY: the plugin binary is still open for writing somewhere (being installed, or
    // a descriptor of its writer inherited by a child forked at that moment): retry briefly.
    let mut attempt = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(CniError::io("run CNI plugin", &bin, e)),
        }
    };
    let mut stdin = child.stdin.take();
    let feed = async move {
        if let Some(s) = stdin.as_mut() {
            // A plugin that exits without reading its config makes this fail: ignore that,
            // its exit status tells.
            let _ = s.write_all(&stdin_data).await;
            let _ = s.shutdown().await;
        }
        drop(stdin);
    };
    let out = tokio::time::timeout(inv.timeout, async {
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        out
    })
    .await
    .map_err(|_| CniError::Timeout {
        plugin: plugin.to_string(),
        command: inv.command.to_string(),
        timeout: inv.timeout,
    })?
    .map_err(|e| CniError::io("wait for CNI plugin", &bin, e))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(plugin_error(
            plugin,
            inv.command,
            &out.stdout,
            &stderr,
            out.status,
        ));
    }
    if !stderr.is_empty() {
        tracing::debug!(plugin, command = inv.command, %stderr, "CNI plugin stderr");
    }
    if inv.command != "ADD" {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&out.stdout).map_err(|e| CniError::BadResult {
        plugin: plugin.to_string(),
        command: inv.command.to_string(),
        reason: format!(
            "result is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        ),
    })
}

/// The plugin's CNI error object, or its exit status and stderr when it printed none.
fn plugin_error(
    plugin: &str,
    command: &str,
    stdout: &[u8],
    stderr: &str,
    status: std::process::ExitStatus,
) -> CniError {
    if let Ok(v) = serde_json::from_slice::<Value>(stdout)
        && let Some(code) = v.get("code").and_then(Value::as_u64)
    {
        return CniError::Plugin {
            plugin: plugin.to_string(),
            command: command.to_string(),
            code,
            msg: v
                .get("msg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            details: v
                .get("details")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        };
    }
    CniError::PluginFailed {
        plugin: plugin.to_string(),
        command: command.to_string(),
        status: status.to_string(),
        output: if stderr.is_empty() {
            String::from_utf8_lossy(stdout).trim().to_string()
        } else {
            stderr.to_string()
        },
    }
}

/// Whether `p` exists (a namespace path given for DEL may be gone already).
pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
