//! The OCI runtime as a separate program: the shim runs the `noderun` binary once per
//! operation that creates or changes containers (create, start, exec, kill, delete), the way
//! conmon runs runc. The long-lived shim therefore maps none of the runtime's code (namespaces,
//! rootfs, seccomp, the OCI spec parser, its state files): it knows the state of the containers
//! it created itself, and asks the runtime (`state`) only about others.
//!
//! Each run gets `--root`, and `--log FILE --log-format json`: the runtime's own errors go to
//! that file (never to the container's stdio, which are the shim's log pipes) and come back as
//! the error's message. The shim runs one operation at a time, so the log, pid and process
//! files are fixed names in the shim's directory (`runtime.log`, `runtime.pid`,
//! `runtime-process.json`), emptied before each use.

use std::ffi::OsStr;
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

/// The runtime binary, this pod's state root, and the files of a run.
pub struct RuntimeCli {
    binary: PathBuf,
    root: PathBuf,
    /// Where a run logs its errors.
    log: PathBuf,
    /// Where `create` and `exec` write the new process's pid.
    pid_file: PathBuf,
    /// The process object an `exec` runs.
    process_file: PathBuf,
}

impl RuntimeCli {
    /// Runs `binary` on state root `root`, with its files in `dir` (the shim's directory).
    pub fn new(binary: PathBuf, root: PathBuf, dir: &Path) -> RuntimeCli {
        RuntimeCli {
            binary,
            root,
            log: dir.join("runtime.log"),
            pid_file: dir.join("runtime.pid"),
            process_file: dir.join("runtime-process.json"),
        }
    }

    /// `create --bundle B --pid-file F [--console-socket S] ID`: init's pid. The container's
    /// init waits for `start`, with `stdio` as its standard streams (or, with a console
    /// socket, its terminal, whose master the runtime sends to `console`); once the runtime has
    /// exited, its parent is the shim (a child subreaper).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio3,
        console: Option<&Path>,
    ) -> Result<i32, RuntimeError> {
        let _ = std::fs::remove_file(&self.pid_file);
        let mut args = vec![
            OsStr::new("create"),
            OsStr::new("--bundle"),
            bundle.as_os_str(),
            OsStr::new("--pid-file"),
            self.pid_file.as_os_str(),
        ];
        if let Some(c) = console {
            args.extend([OsStr::new("--console-socket"), c.as_os_str()]);
        }
        args.push(OsStr::new(id));
        self.run("create", id, &args, Some(stdio))?;
        self.read_pid("create", id)
    }

    /// `start ID`: returns once the container's process is exec'd.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, &[OsStr::new("start"), OsStr::new(id)], None)
    }

    /// `exec --detach --process F --pid-file F ID` of `process` (an OCI process object): the
    /// new process's pid. Once the runtime has exited, the process's parent is the shim (a
    /// child subreaper).
    pub fn exec(
        &self,
        id: &str,
        process: &serde_json::Value,
        stdio: Stdio3,
    ) -> Result<i32, RuntimeError> {
        let _ = std::fs::remove_file(&self.pid_file);
        let written = serde_json::to_vec(process)
            .map_err(std::io::Error::from)
            .and_then(|json| std::fs::write(&self.process_file, json));
        if let Err(e) = written {
            return Err(RuntimeError::Failed {
                op: "exec",
                id: id.to_string(),
                message: format!("{}: {e}", self.process_file.display()),
            });
        }
        let args = [
            OsStr::new("exec"),
            OsStr::new("--detach"),
            OsStr::new("--process"),
            self.process_file.as_os_str(),
            OsStr::new("--pid-file"),
            self.pid_file.as_os_str(),
            OsStr::new(id),
        ];
        let ran = self.run("exec", id, &args, Some(stdio));
        let _ = std::fs::remove_file(&self.process_file);
        ran?;
        self.read_pid("exec", id)
    }

    /// `state ID`: the runtime's status (created, running, paused, stopped) and init's pid.
    pub fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let out = self.output("state", id, &[OsStr::new("state"), OsStr::new(id)])?;
        serde_json::from_slice(&out).map_err(|e| RuntimeError::Failed {
            op: "state",
            id: id.to_string(),
            message: format!("bad state JSON: {e}"),
        })
    }

    /// `kill [--all] ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let (id_arg, sig) = (OsStr::new(id), OsStr::new(&sig));
        let args: &[&OsStr] = if all {
            &[OsStr::new("kill"), OsStr::new("--all"), id_arg, sig]
        } else {
            &[OsStr::new("kill"), id_arg, sig]
        };
        self.run("kill", id, args, None)
    }

    /// `delete [--force] ID`.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let args: &[&OsStr] = if force {
            &[OsStr::new("delete"), OsStr::new("--force"), OsStr::new(id)]
        } else {
            &[OsStr::new("delete"), OsStr::new(id)]
        };
        self.run("delete", id, args, None)
    }

    fn command(&self, args: &[&OsStr]) -> Command {
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
    fn output(&self, op: &'static str, id: &str, args: &[&OsStr]) -> Result<Vec<u8>, RuntimeError> {
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
        args: &[&OsStr],
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

    /// The pid the runtime wrote to the pid file.
    fn read_pid(&self, op: &'static str, id: &str) -> Result<i32, RuntimeError> {
        let text = std::fs::read_to_string(&self.pid_file).unwrap_or_default();
        text.trim()
            .parse()
            .ok()
            .filter(|&p: &i32| p > 0)
            .ok_or_else(|| RuntimeError::Failed {
                op,
                id: id.to_string(),
                message: format!(
                    "pid file {}: {text:?} is not a pid",
                    self.pid_file.display()
                ),
            })
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
        let t = tempfile::tempdir().unwrap();
        let rt = RuntimeCli::new(
            PathBuf::from("/nonexistent/noderun"),
            t.path().into(),
            t.path(),
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
        let rt = RuntimeCli::new(PathBuf::from("/bin/false"), t.path().into(), t.path());
        let e = rt.delete("c1", true).unwrap_err();
        assert_eq!(e.to_string(), "delete c1: runtime exit status: 1");
    }
}
