//! The agent ↔ shim protocol: one JSON object per line over the shim's Unix stream socket,
//! one response per request, except on a `Watch` connection, where the shim answers `Ok` and
//! then pushes one `Exited` line per container exit it records, and on an `Attach`
//! connection, which after `Ok` carries `attach` frames both ways. `Client` is the blocking
//! client (tests and tools; the agent has its own async one; nodectl never talks to shims).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exits::ExitRecord;

/// Written as an internally tagged enum (`{"op":"create","id":...}`); read through
/// [`FlatRequest`] (`try_from`): serde's internally tagged deserializer buffers every request
/// in its `Content` tree, and its code was 16 KiB of the shim's text (ARCHITECTURE.md, "The
/// shim stays small"). The wire format is the same either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", try_from = "FlatRequest")]
pub enum Request {
    /// Create a container from a bundle; its stdout/stderr go to `log_path` in CRI format.
    Create {
        id: String,
        bundle: PathBuf,
        log_path: Option<PathBuf>,
        /// The container's memory cgroup file that counts OOM kills (memory.events on v2,
        /// memory.oom_control on v1): an exit by SIGKILL with a non-zero `oom_kill` there is
        /// recorded as OOM-killed.
        #[serde(default)]
        oom_counter: Option<PathBuf>,
        /// The container's `stdin`: the shim holds its stdin pipe open (input comes from
        /// attach sessions; without it the container's stdin is /dev/null).
        #[serde(default)]
        stdin: bool,
        /// `stdinOnce`: stdin is closed when the first attach session with stdin ends.
        #[serde(default)]
        stdin_once: bool,
        /// The bundle's `process.terminal`: the shim passes the runtime a console socket,
        /// keeps the pty master and logs what comes out of it (all as stdout).
        #[serde(default)]
        tty: bool,
    },
    Start {
        id: String,
    },
    Kill {
        id: String,
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Delete the container (and its exit record).
    Delete {
        id: String,
        #[serde(default)]
        force: bool,
    },
    State {
        id: String,
    },
    List,
    /// Run a process in the container and return its exit code and output (probes, `exec`).
    /// `process` is an OCI runtime-spec `process` object; the runtime checks it (the shim
    /// passes it on as it is, so it carries no OCI parser of its own).
    Exec {
        id: String,
        process: serde_json::Value,
        timeout_ms: u64,
    },
    /// Stop serving and exit once no container is left running.
    Shutdown,
    /// Turn this connection into an event stream: `Ok`, then an `Exited` line each time a
    /// container's exit record has been written. A watcher that does not read is dropped
    /// (its connection closes) rather than blocking the shim.
    Watch,
    /// Turn this connection into an attach session to container `id`: `Ok`, then `attach`
    /// frames both ways — its output from now on, and with `stdin` input for its stdin (a
    /// container created with `stdin` or `tty`) and terminal resizes.
    Attach {
        id: String,
        #[serde(default)]
        stdin: bool,
    },
}

/// Every field any request has, as they come: `Request`'s deserialisation.
#[derive(Deserialize)]
struct FlatRequest {
    op: String,
    id: Option<String>,
    bundle: Option<PathBuf>,
    log_path: Option<PathBuf>,
    oom_counter: Option<PathBuf>,
    #[serde(default)]
    stdin: bool,
    #[serde(default)]
    stdin_once: bool,
    #[serde(default)]
    tty: bool,
    signal: Option<i32>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    force: bool,
    process: Option<serde_json::Value>,
    timeout_ms: Option<u64>,
}

impl TryFrom<FlatRequest> for Request {
    type Error = String;

    fn try_from(f: FlatRequest) -> Result<Request, String> {
        let missing = |field: &str| format!("missing field `{field}` for op `{}`", f.op);
        let id = || f.id.clone().ok_or_else(|| missing("id"));
        Ok(match f.op.as_str() {
            "create" => Request::Create {
                id: id()?,
                bundle: f.bundle.clone().ok_or_else(|| missing("bundle"))?,
                log_path: f.log_path,
                oom_counter: f.oom_counter,
                stdin: f.stdin,
                stdin_once: f.stdin_once,
                tty: f.tty,
            },
            "start" => Request::Start { id: id()? },
            "kill" => Request::Kill {
                id: id()?,
                signal: f.signal.ok_or_else(|| missing("signal"))?,
                all: f.all,
            },
            "delete" => Request::Delete {
                id: id()?,
                force: f.force,
            },
            "state" => Request::State { id: id()? },
            "list" => Request::List,
            "exec" => Request::Exec {
                id: id()?,
                process: f.process.clone().ok_or_else(|| missing("process"))?,
                timeout_ms: f.timeout_ms.ok_or_else(|| missing("timeout_ms"))?,
            },
            "shutdown" => Request::Shutdown,
            "watch" => Request::Watch,
            "attach" => Request::Attach {
                id: id()?,
                stdin: f.stdin,
            },
            other => return Err(format!("unknown variant `{other}`")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub id: String,
    /// noderun's status: created, running, paused, stopped.
    pub status: String,
    pub pid: Option<i32>,
    pub started_at: Option<String>,
    pub exit: Option<ExitRecord>,
    pub log_path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    pub exit_code: i32,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Created {
        pid: i32,
    },
    Container(ContainerInfo),
    Containers {
        containers: Vec<ContainerInfo>,
    },
    Exec(ExecResult),
    Error {
        message: String,
    },
    /// Pushed to watchers: container `id` ended and its exit record is on disk.
    Exited {
        id: String,
    },
}

/// An attach session: frames from the shim on `reader`, to it on `writer`
/// (`crate::attach`).
pub struct Attached {
    pub reader: BufReader<UnixStream>,
    pub writer: UnixStream,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("shim socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("shim socket {path}: bad response: {reason}")]
    Protocol { path: PathBuf, reason: String },
    #[error("shim: {0}")]
    Shim(String),
}

/// A blocking connection to one shim.
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let io = |source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        };
        let s = UnixStream::connect(path).map_err(io)?;
        let writer = s.try_clone().map_err(io)?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(s),
            writer,
        })
    }

    /// Sends `Attach` and returns the session once the shim said `Ok`.
    pub fn attach(mut self, id: &str, stdin: bool) -> Result<Attached, ClientError> {
        let req = Request::Attach {
            id: id.to_string(),
            stdin,
        };
        match self.call(&req)? {
            Response::Ok => Ok(Attached {
                reader: self.reader,
                writer: self.writer,
            }),
            other => Err(ClientError::Protocol {
                path: self.path,
                reason: format!("attach answered {other:?}"),
            }),
        }
    }

    /// Send one request and read its response; a shim-side error becomes `ClientError::Shim`.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let io = |source| ClientError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Protocol {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        self.writer.write_all(&line).map_err(io)?;
        let mut buf = String::new();
        let n = self
            .reader
            .read_line(&mut buf)
            .map_err(|source| ClientError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Err(ClientError::Protocol {
                path: self.path.clone(),
                reason: "connection closed".into(),
            });
        }
        match serde_json::from_str(&buf) {
            Ok(Response::Error { message }) => Err(ClientError::Shim(message)),
            Ok(r) => Ok(r),
            Err(e) => Err(ClientError::Protocol {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_reads_back_as_written() {
        let reqs = [
            Request::Create {
                id: "c".into(),
                bundle: "/b".into(),
                log_path: Some("/l".into()),
                oom_counter: None,
                stdin: true,
                stdin_once: true,
                tty: false,
            },
            Request::Start { id: "c".into() },
            Request::Kill {
                id: "c".into(),
                signal: 15,
                all: true,
            },
            Request::Delete {
                id: "c".into(),
                force: true,
            },
            Request::State { id: "c".into() },
            Request::List,
            Request::Exec {
                id: "c".into(),
                process: serde_json::json!({"args": ["true"]}),
                timeout_ms: 5,
            },
            Request::Shutdown,
            Request::Watch,
            Request::Attach {
                id: "c".into(),
                stdin: true,
            },
        ];
        for r in reqs {
            let line = serde_json::to_string(&r).unwrap();
            let back: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(back, r, "{line}");
        }
        // What an older agent sends (no stdin/tty fields) still reads.
        let old: Request =
            serde_json::from_str(r#"{"op":"create","id":"c","bundle":"/b","log_path":null}"#)
                .unwrap();
        assert!(matches!(
            old,
            Request::Create {
                tty: false,
                stdin: false,
                ..
            }
        ));
    }

    #[test]
    fn bad_requests_say_why() {
        let e = serde_json::from_str::<Request>(r#"{"op":"nope"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `nope`"), "{e}");
        let e = serde_json::from_str::<Request>(r#"{"op":"start"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `id`"), "{e}");
        let e = serde_json::from_str::<Request>(r#"{"op":"kill","id":"c"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `signal`"), "{e}");
    }
}
