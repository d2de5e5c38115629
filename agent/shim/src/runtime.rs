//! The OCI runtime as a separate program: the shim runs the `noderun` binary once per
//! operation that creates or changes containers (create, start, exec, kill, delete), the way
//! conmon runs runc. The long-lived shim therefore maps none of the runtime's code (namespaces,
//! rootfs, seccomp, the OCI spec parser, its state files): it knows the state of the containers
//! it created itself, and asks the runtime (`state`) only about others.
//!
//! Each run gets `--root`, and `--log FILE --log-format json`: the runtime's own errors go to
//! that file (never to the container's stdio, which are the shim's log pipes) and come back as
//! the error's message.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A runtime run that could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("run {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} {id}: {message}")]
    Failed {
        op: &'static str,
        id: String,
        message: String,
    },
}

/// Standard input, output and error for a runtime run (inherited by the container process
/// that `create` or a detached `exec` starts).
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The runtime binary and this pod's state root.
pub struct RuntimeCli {
    binary: PathBuf,
    root: PathBuf,
    /// Where each run logs its errors; emptied before every run (the shim runs one at a time).
    log: PathBuf,
}

impl RuntimeCli {
    pub fn new(binary: PathBuf, root: PathBuf, log: PathBuf) -> RuntimeCli {
        RuntimeCli { binary, root, log }
    }

    /// `create --bundle B --pid-file F ID`: init's pid. The container's init waits for
    /// `start`, with `stdio` as its standard streams; once the runtime has exited, its parent
    /// is the shim (a child subreaper).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        stdio: Stdio3,
    ) -> Result<i32, RuntimeError> {
        let (b, f) = (
            bundle.as_os_str().to_string_lossy(),
            pid_file.as_os_str().to_string_lossy(),
        );
        let args = ["create", "--bundle", &b, "--pid-file", &f, id];
        self.run("create", id, &args, Some(stdio))?;
        read_pid("create", id, pid_file)
    }

    /// `start ID`: returns once the container's process is exec'd.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, &["start", id], None)
    }

    /// `exec --detach --process FILE --pid-file FILE ID`: the new process's pid. Once the
    /// runtime has exited, the process's parent is the shim (a child subreaper).
    pub fn exec(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        stdio: Stdio3,
    ) -> Result<i32, RuntimeError> {
        let (p, f) = (
            process.as_os_str().to_string_lossy(),
            pid_file.as_os_str().to_string_lossy(),
        );
        let args = ["exec", "--detach", "--process", &p, "--pid-file", &f, id];
        self.run("exec", id, &args, Some(stdio))?;
        read_pid("exec", id, pid_file)
    }

    /// `state ID`: the runtime's status (created, running, paused, stopped) and init's pid.
    pub fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let out = self.output("state", id, &["state", id])?;
        serde_json::from_slice(&out).map_err(|e| RuntimeError::Failed {
            op: "state",
            id: id.to_string(),
            message: format!("bad state JSON: {e}"),
        })
    }

    /// `kill [--all] ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let args: &[&str] = if all {
            &["kill", "--all", id, &sig]
        } else {
            &["kill", id, &sig]
        };
        self.run("kill", id, args, None)
    }

    /// `delete [--force] ID`.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let args: &[&str] = if force {
            &["delete", "--force", id]
        } else {
            &["delete", id]
        };
        self.run("delete", id, args, None)
    }

    fn command(&self, args: &[&str]) -> Command {
        let _ = std::fs::remove_file(&self.log);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"])
            .args(args);
        cmd
    }

    /// Runs the runtime and returns its standard output.
    fn output(&self, op: &'static str, id: &str, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        self.check(op, id, out.status)?;
        Ok(out.stdout)
    }

    fn run(
        &self,
        op: &'static str,
        id: &str,
        args: &[&str],
        stdio: Option<Stdio3>,
    ) -> Result<(), RuntimeError> {
        let mut cmd = self.command(args);
        match stdio {
            Some(s) => cmd
                .stdin(Stdio::from(s.stdin))
                .stdout(Stdio::from(s.stdout))
                .stderr(Stdio::from(s.stderr)),
            None => cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        };
        let status = cmd.status().map_err(|source| RuntimeError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        self.check(op, id, status)
    }

    /// A failed run's error, with the messages it logged.
    fn check(
        &self,
        op: &'static str,
        id: &str,
        status: std::process::ExitStatus,
    ) -> Result<(), RuntimeError> {
        if status.success() {
            return Ok(());
        }
        let logged = std::fs::read_to_string(&self.log).unwrap_or_default();
        let message = errors_in(&logged).unwrap_or_else(|| format!("runtime {status}"));
        Err(RuntimeError::Failed {
            op,
            id: id.to_string(),
            message,
        })
    }
}

/// Reads and removes a pid file the runtime wrote.
fn read_pid(op: &'static str, id: &str, pid_file: &Path) -> Result<i32, RuntimeError> {
    let text = std::fs::read_to_string(pid_file).unwrap_or_default();
    let _ = std::fs::remove_file(pid_file);
    text.trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 0)
        .ok_or_else(|| RuntimeError::Failed {
            op,
            id: id.to_string(),
            message: format!("pid file {}: {text:?} is not a pid", pid_file.display()),
        })
}

/// What the shim needs of the runtime's `state` output (the OCI state object).
#[derive(Debug, serde::Deserialize)]
pub struct RuntimeState {
    pub status: String,
    #[serde(default)]
    pub pid: Option<i32>,
}

/// The `msg` of each error line in a runtime's JSON log, joined by "; ".
fn errors_in(log: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        level: String,
        msg: String,
    }
    let msgs: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .filter(|l| l.level == "error" || l.level == "fatal")
        .map(|l| l.msg)
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_become_the_message() {
        let log = "{\"level\":\"debug\",\"msg\":\"create x\",\"time\":\"t\"}\n\
                   {\"level\":\"error\",\"msg\":\"bundle: config.json: no such file\",\"time\":\"t\"}\n\
                   not json\n";
        assert_eq!(
            errors_in(log).as_deref(),
            Some("bundle: config.json: no such file")
        );
        assert_eq!(errors_in("{\"level\":\"debug\",\"msg\":\"m\"}"), None);
        assert_eq!(errors_in(""), None);
    }

    #[test]
    fn a_missing_binary_is_a_spawn_error() {
        let t = std::env::temp_dir();
        let rt = RuntimeCli::new(
            PathBuf::from("/nonexistent/noderun"),
            t.clone(),
            t.join("nodelet-shim-test-runtime.log"),
        );
        let e = rt.start("x").unwrap_err();
        assert!(
            matches!(&e, RuntimeError::Spawn { binary, .. } if binary.ends_with("noderun")),
            "{e}"
        );
        assert!(e.to_string().contains("/nonexistent/noderun"), "{e}");
    }

    #[test]
    fn a_failing_run_reports_its_status() {
        let t = tempfile::tempdir().unwrap();
        // `false` ignores its arguments and fails without logging anything.
        let rt = RuntimeCli::new(
            PathBuf::from("/bin/false"),
            t.path().into(),
            t.path().join("l"),
        );
        let e = rt.delete("c1", true).unwrap_err();
        assert_eq!(e.to_string(), "delete c1: runtime exit status: 1");
    }
}
