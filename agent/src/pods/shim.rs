//! The pod's `nodelet-shim` process: spawned in its own session (so it outlives the agent),
//! stderr to `<shim dir>/shim.log`, ready once it prints `ready`; and async wrappers around
//! the blocking socket client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nodelet_shim_protocol::protocol::{ClientError, ContainerInfo, Request, Response};
use tokio::io::AsyncBufReadExt;

use super::error::Error;

/// Where a pod's shim keeps its socket and its containers' runtime state.
#[derive(Debug, Clone)]
pub struct ShimPaths {
    pub dir: PathBuf,
    pub runtime_root: PathBuf,
}

impl ShimPaths {
    /// `<runDir>/pods/<uid>/{shim,runtime}`.
    pub fn of(run_dir: &Path, uid: &str) -> ShimPaths {
        let base = run_dir.join("pods").join(uid);
        ShimPaths {
            dir: base.join("shim"),
            runtime_root: base.join("runtime"),
        }
    }
}

/// Starts the shim and waits for its `ready` line; returns its pid. The child is reaped by
/// tokio in the background if it exits while we run; it is not killed when the agent exits.
pub async fn spawn(
    binary: &Path,
    runtime: &Path,
    paths: &ShimPaths,
    log_max_size: u64,
    log_max_files: u32,
    systemd_cgroup: bool,
) -> Result<i32, Error> {
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| Error::new(format!("create {}", paths.dir.display()), e))?;
    let log = paths.dir.join("shim.log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::new(format!("open {}", log.display()), e))?;
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("--dir")
        .arg(&paths.dir)
        .arg("--runtime-root")
        .arg(&paths.runtime_root)
        .arg("--runtime")
        .arg(runtime)
        .arg("--log-max-size")
        .arg(log_max_size.to_string())
        .arg("--log-max-files")
        .arg(log_max_files.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .kill_on_drop(false);
    // The systemd cgroup driver: every noderun the shim runs gets `--systemd-cgroup` this way
    // (the shim passes its environment on).
    if systemd_cgroup {
        cmd.env("NODERUN_SYSTEMD_CGROUP", "1");
    } else {
        cmd.env_remove("NODERUN_SYSTEMD_CGROUP");
    }
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::new(format!("start {}", binary.display()), e))?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    let Some(out) = child.stdout.take() else {
        return Err(Error::msg("shim", "no stdout pipe"));
    };
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::BufReader::new(out).read_line(&mut line),
    )
    .await;
    if !matches!(read, Ok(Ok(_))) || line != "ready\n" {
        let _ = child.start_kill();
        let why = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(Error::msg(
            format!("shim {}", paths.dir.display()),
            format!("did not get ready: {}", why.trim()),
        ));
    }
    // Reap in the background when it exits while we run.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(pid)
}

/// One request to the shim at `sock` (one connection, one JSON line each way), on the async
/// runtime: the pod tasks' `List` calls cost no thread hand-off. The answer is read through a
/// 1 KiB buffer (a longer line takes several reads): with 110 pods starting at once, 8 KiB
/// per call in flight was 0.6 MB of the agent's peak heap.
pub async fn call(sock: &Path, req: Request) -> Result<Response, Error> {
    exchange(sock, &req, 1024).await.map(|(_, r)| r)
}

/// Connects to the shim at `sock`, sends `req` and reads its answer; returns the connection
/// (buffered with `capacity` bytes) for what the shim sends next. A shim-side error is
/// `ClientError::Shim`.
async fn exchange(
    sock: &Path,
    req: &Request,
    capacity: usize,
) -> Result<(tokio::io::BufReader<tokio::net::UnixStream>, Response), Error> {
    use tokio::io::AsyncWriteExt;
    let err = client_error;
    let io = |source| {
        err(ClientError::Io {
            path: sock.to_path_buf(),
            source,
        })
    };
    let protocol = |reason: String| {
        err(ClientError::Protocol {
            path: sock.to_path_buf(),
            reason,
        })
    };
    let mut line = serde_json::to_vec(req).map_err(|e| protocol(e.to_string()))?;
    line.push(b'\n');
    let mut s = tokio::io::BufReader::with_capacity(
        capacity,
        tokio::net::UnixStream::connect(sock).await.map_err(io)?,
    );
    s.write_all(&line).await.map_err(io)?;
    let mut buf = String::new();
    if s.read_line(&mut buf).await.map_err(io)? == 0 {
        return Err(protocol("connection closed".into()));
    }
    match serde_json::from_str(&buf) {
        Ok(Response::Error { message }) => Err(err(ClientError::Shim(message))),
        Ok(r) => Ok((s, r)),
        Err(e) => Err(protocol(e.to_string())),
    }
}

/// A shim client error as the pod manager's, named once: `shim: <message>` for what the shim
/// answered, `shim socket <path>: <reason>` for the connection (never `shim: shim: ...`).
fn client_error(e: ClientError) -> Error {
    match e {
        ClientError::Shim(message) => Error::msg("shim", message),
        other => {
            let text = other.to_string();
            match text.split_once(": ") {
                Some((what, reason)) => Error::msg(what, reason),
                None => Error::msg("shim", text),
            }
        }
    }
}

/// Every container the shim has, or an error when the shim is unreachable.
pub async fn list(sock: &Path) -> Result<Vec<ContainerInfo>, Error> {
    match call(sock, Request::List).await? {
        Response::Containers { containers } => Ok(containers),
        other => Err(Error::msg(
            "shim list",
            format!("unexpected answer {other:?}"),
        )),
    }
}

/// Whether a shim answers on `sock`.
pub async fn alive(sock: &Path) -> bool {
    list(sock).await.is_ok()
}

/// A `Watch` connection to a pod's shim: yields the id of each container whose exit the shim
/// has recorded. The pod task sleeps on it instead of polling the shim.
pub struct Watch {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::UnixStream>>,
}

impl Watch {
    /// Subscribes to the shim at `sock`. Fails when the shim is unreachable or too old to
    /// know `Watch` (the pod task then polls).
    pub async fn open(sock: &Path) -> Result<Watch, Error> {
        // Exit lines are short; a small buffer per pod instead of the default 8 KiB (a longer
        // line is read in several fills).
        match exchange(sock, &Request::Watch, 128).await? {
            (s, Response::Ok) => Ok(Watch { lines: s.lines() }),
            (_, other) => Err(Error::msg(
                "shim watch",
                format!("unexpected answer {other:?}"),
            )),
        }
    }

    /// The next container exit; an error when the shim went away (or sent garbage).
    pub async fn next(&mut self) -> Result<String, Error> {
        loop {
            let l = self
                .lines
                .next_line()
                .await
                .map_err(|e| Error::msg("shim watch", e.to_string()))?
                .ok_or_else(|| Error::msg("shim watch", "connection closed"))?;
            match serde_json::from_str(&l) {
                Ok(Response::Exited { id }) => return Ok(id),
                Ok(_) => continue,
                Err(e) => return Err(Error::msg("shim watch", e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_shim_once() {
        let e = client_error(ClientError::Shim("create c1: noderun: no such file".into()));
        assert_eq!(e.to_string(), "shim: create c1: noderun: no such file");
        let e = client_error(ClientError::Io {
            path: "/run/p/shim.sock".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(
            e.to_string(),
            "shim socket /run/p/shim.sock: entity not found"
        );
        let e = client_error(ClientError::Protocol {
            path: "/s".into(),
            reason: "connection closed".into(),
        });
        assert_eq!(
            e.to_string(),
            "shim socket /s: bad response: connection closed"
        );
    }
}
