//! `pods/exec` over WebSocket, as kubectl ≥ 1.31 speaks it (`v5.channel.k8s.io`, and
//! `v4.channel.k8s.io`): binary messages whose first byte is the channel — 0 stdin, 1 stdout,
//! 2 stderr, 3 the final `Status` (exit code as a `NonZeroExitCode` cause), 4 terminal resize
//! (`{"Width":w,"Height":h}`), and in v5 255 "close" (`[255, 0]`: stdin ended).
//!
//! The agent never forks into a container (it is multi-threaded): the API resolves the
//! container (as `exectarget` does) and runs `nodectl exec --target-json ...`, which creates
//! the process through the runtime library, single-threaded. Without a terminal nodectl's
//! stdin/stdout/stderr are pipes relayed to the channels; with `tty=true` nodectl gets a pty
//! (its controlling terminal, so a resize here reaches it as SIGWINCH and it copies the size to
//! the container's terminal) whose master is relayed to stdout.
//!
//! `pods/attach` is the node's: `NodeState::attach` connects to the pod's shim, which holds the
//! container's output, its stdin pipe or pty master; this module only maps the channels.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::kube::Kube;
use super::response::status_response;
use super::{NodeState, status};

pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// The query of `pods/exec`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExecQuery {
    pub command: Vec<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecQuery {
    pub fn parse(q: &str) -> ExecQuery {
        let mut out = ExecQuery::default();
        let flag = |v: &str| matches!(v, "true" | "1" | "True" | "");
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match &*k {
                "command" => out.command.push(v.into_owned()),
                "container" => out.container = Some(v.into_owned()),
                "stdin" => out.stdin = flag(&v),
                "stdout" => out.stdout = flag(&v),
                "stderr" => out.stderr = flag(&v),
                "tty" => out.tty = flag(&v),
                _ => {}
            }
        }
        out
    }
}

/// The final status of an exec: Success, or the exit code as the kubelet reports it.
pub fn exit_status(code: i32, command: &[String]) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The `nodectl` that runs exec processes: `$NODELET_NODECTL`, else next to this binary.
fn helper() -> PathBuf {
    if let Some(p) = std::env::var_os("NODELET_NODECTL") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .map(|e| e.with_file_name("nodectl"))
        .unwrap_or_else(|_| PathBuf::from("nodectl"))
}

/// The exec and attach routes (WebSocket upgrades are GETs; POST as the API server also
/// takes it).
pub fn routes<S: NodeState>(kube: Kube<S>) -> axum::Router {
    axum::Router::new()
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/exec",
            axum::routing::get(exec::<S>).post(exec::<S>),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            axum::routing::get(attach::<S>).post(attach::<S>),
        )
        .with_state(kube)
}

/// The running instance (restart count) of `container`, if it runs.
fn running(pod: &k8s_openapi::api::core::v1::Pod, container: &str) -> Option<u32> {
    let st = pod.status.as_ref()?;
    let cs = st
        .container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .find(|c| c.name == container)?;
    cs.state.as_ref()?.running.as_ref()?;
    u32::try_from(cs.restart_count).ok()
}

/// `pods/attach`: what the container's process writes from now on, stdout and stderr on
/// their channels (a terminal's all on stdout), and with `stdin=true` what the client types
/// into the container's stdin or terminal (a container without `stdin`/`tty` ignores it, as
/// containerd does), terminal resizes (channel 4), until the instance stops or the client
/// goes. The node holds the session (`NodeState::attach`: the pod's shim keeps the container's
/// stdin and pty).
pub async fn attach<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let q = ExecQuery::parse(q.as_deref().unwrap_or(""));
    let Some(pod) = k.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    let container =
        match nodelet_objects::default_container::default_container(&pod, q.container.as_deref()) {
            Ok((c, _)) => c,
            Err(e) => return status_response(status::bad_request(e)),
        };
    let Some(instance) = running(&pod, &container) else {
        return status_response(status::bad_request(format!(
            "container {container} is not running"
        )));
    };
    let Ok(ws) = ws else {
        return status_response(status::bad_request(
            "Upgrade request required (pods/attach is served over WebSocket)".into(),
        ));
    };
    ws.protocols(PROTOCOLS)
        .on_upgrade(move |socket| async move {
            attach_session(socket, k, pod, container, instance, q.stdin).await;
        })
        .into_response()
}

/// The input an attach client sent in one WebSocket message, if any.
fn attach_input(b: &[u8], v5: bool) -> Option<crate::AttachInput> {
    match (*b.first()?, &b[1..]) {
        (STDIN, data) if !data.is_empty() => Some(crate::AttachInput::Stdin(data.to_vec())),
        (RESIZE, data) => {
            let (width, height) = parse_size(data)?;
            Some(crate::AttachInput::Resize { width, height })
        }
        (CLOSE, [STDIN]) if v5 => Some(crate::AttachInput::CloseStdin),
        _ => None,
    }
}

async fn attach_session<S: NodeState>(
    socket: WebSocket,
    k: Kube<S>,
    pod: k8s_openapi::api::core::v1::Pod,
    container: String,
    instance: u32,
    stdin: bool,
) {
    let v5 = socket.protocol().and_then(|p| p.to_str().ok()) == Some(PROTOCOLS[0]);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(32);
    let (input, inputs) = std::sync::mpsc::channel();
    let mut input = Some(input);
    let node = k.node.clone();
    let follower = tokio::task::spawn_blocking(move || {
        let mut out = |s: crate::OutputStream, data: Vec<u8>| -> bool {
            if data.is_empty() {
                return !tx.is_closed();
            }
            let ch = match s {
                crate::OutputStream::Stdout => STDOUT,
                crate::OutputStream::Stderr => STDERR,
            };
            tx.blocking_send(frame(ch, &data)).is_ok()
        };
        node.attach(&pod, &container, instance, stdin, inputs, &mut out)
            .inspect_err(|st| {
                tracing::info!(container = %container, "attach: {}", st.message.clone().unwrap_or_default());
            })
    });
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => if sink.send(m).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let (Some(i), Some(tx)) = (attach_input(&b, v5), &input)
                        && tx.send(i).is_err()
                    {
                        input = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client went: the node's session ends with its input.
                    drop(input.take());
                    drop(rx);
                    let _ = follower.await;
                    return;
                }
                _ => {}
            },
        }
    }
    drop(input);
    let st = match follower.await {
        Ok(Err(st)) => serde_json::to_value(&*st).unwrap_or_else(|_| exit_status(1, &[])),
        _ => exit_status(0, &[]),
    };
    finish(&mut sink, &st).await;
}

/// The session's end: the final Status on the error channel, then a normal closure (1000;
/// kubectl reads a close without a code as a broken stream).
async fn finish(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    st: &serde_json::Value,
) {
    let _ = sink.send(frame(ERROR, st.to_string().as_bytes())).await;
    let _ = sink
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
}

pub async fn exec<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let q = ExecQuery::parse(q.as_deref().unwrap_or(""));
    let Some(pod) = k.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    if q.command.is_empty() {
        return status_response(status::bad_request(
            "you must specify at least 1 command".into(),
        ));
    }
    if let Some(e) = nodelet_objects::default_container::completed_pod_error(&pod) {
        return status_response(status::bad_request(e));
    }
    let container =
        match nodelet_objects::default_container::default_container(&pod, q.container.as_deref()) {
            Ok((c, _)) => c,
            Err(e) => return status_response(status::bad_request(e)),
        };
    let node = k.node.clone();
    let target = match tokio::task::spawn_blocking(move || node.exec_target(&pod, &container)).await
    {
        Ok(Ok(t)) => t,
        Ok(Err(s)) => return status_response(s),
        Err(e) => return status_response(status::internal(e.to_string())),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => {
            return status_response(status::bad_request(
                "Upgrade request required (pods/exec is served over WebSocket: v5.channel.k8s.io, v4.channel.k8s.io)".into(),
            ));
        }
    };
    let target = match serde_json::to_string(&target) {
        Ok(t) => t,
        Err(e) => return status_response(status::internal(e.to_string())),
    };
    ws.protocols(PROTOCOLS)
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(socket, &name, &target, q).await {
                tracing::warn!(pod = %format!("{ns}/{name}"), "exec: {e}");
            }
        })
        .into_response()
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// The width and height of a resize message (`{"Width":w,"Height":h}`).
fn parse_size(msg: &[u8]) -> Option<(u16, u16)> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u16,
        #[serde(rename = "Height")]
        height: u16,
    }
    let s = serde_json::from_slice::<Size>(msg).ok()?;
    Some((s.width, s.height))
}

/// Sets the pty's window size (the helper gets SIGWINCH).
fn resize(master: &OwnedFd, msg: &[u8]) {
    let Some((width, height)) = parse_size(msg) else {
        return;
    };
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
    unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
    }
}

async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    channel: u8,
    tx: tokio::sync::mpsc::Sender<Message>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn session(socket: WebSocket, pod: &str, target: &str, q: ExecQuery) -> std::io::Result<()> {
    let v5 = socket.protocol().and_then(|p| p.to_str().ok()) == Some(PROTOCOLS[0]);
    let (mut sink, mut stream) = socket.split();
    let mut cmd = tokio::process::Command::new(helper());
    cmd.arg("exec").arg("--target-json").arg(target).arg("-q");
    if q.stdin {
        cmd.arg("-i");
    }
    if q.tty {
        cmd.arg("-t");
    }
    cmd.arg(pod).arg("--").args(&q.command).kill_on_drop(true);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(32);
    let mut master: Option<OwnedFd> = None;
    let mut stdin_w: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>> = None;
    let mut pumps = vec![];
    let mut child = if q.tty {
        let pty = nix::pty::openpty(None, None)?;
        let slave = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec (setsid, ioctl).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        // The slave stays open only in the helper: the master reads EIO once it exits.
        drop(cmd);
        let m = pty.master;
        let reader = tokio::fs::File::from_std(std::fs::File::from(m.try_clone()?));
        stdin_w = Some(Box::new(tokio::fs::File::from_std(std::fs::File::from(
            m.try_clone()?,
        ))));
        master = Some(m);
        pumps.push(tokio::spawn(pump(reader, STDOUT, tx.clone())));
        child
    } else {
        cmd.stdin(if q.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        drop(cmd);
        if let Some(w) = child.stdin.take() {
            stdin_w = Some(Box::new(w));
        }
        if let Some(o) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(o, STDOUT, tx.clone())));
        }
        if let Some(e) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(e, STDERR, tx.clone())));
        }
        child
    };
    drop(tx);
    // Output to the client.
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        sink
    });
    // Input from the client until the process ends.
    let status = loop {
        tokio::select! {
            st = child.wait() => break st?,
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    STDIN => {
                        if let Some(w) = stdin_w.as_mut()
                            && w.write_all(&b[1..]).await.is_err()
                        {
                            stdin_w = None;
                        }
                    }
                    RESIZE => {
                        if let Some(m) = &master {
                            resize(m, &b[1..]);
                        }
                    }
                    CLOSE if v5 && b.get(1) == Some(&STDIN) => {
                        if master.is_some() {
                            // A terminal ends input with ^D.
                            if let Some(w) = stdin_w.as_mut() {
                                let _ = w.write_all(&[4]).await;
                            }
                        } else {
                            stdin_w = None;
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = child.start_kill();
                    break child.wait().await?;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin_w);
    // What the process wrote before it ended (a grandchild holding the output open does not
    // keep the session).
    for p in pumps {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), p).await;
    }
    drop(master);
    let mut sink = writer.await.map_err(std::io::Error::other)?;
    let code = status.code().unwrap_or(128 + 9);
    finish(&mut sink, &exit_status(code, &q.command)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_with_repeated_commands() {
        let q = ExecQuery::parse(
            "command=sh&command=-c&command=echo%20hi%3B%20exit%203&container=main&stdin=true&stdout=true&stderr=true",
        );
        assert_eq!(q.command, ["sh", "-c", "echo hi; exit 3"]);
        assert_eq!(q.container.as_deref(), Some("main"));
        assert!(q.stdin && q.stdout && q.stderr && !q.tty);
    }

    #[test]
    fn attach_input_from_the_channels() {
        use crate::AttachInput;
        assert_eq!(
            attach_input(b"\0ls\n", true),
            Some(AttachInput::Stdin(b"ls\n".to_vec()))
        );
        assert_eq!(attach_input(b"\0", true), None);
        assert_eq!(
            attach_input(b"\x04{\"Width\":120,\"Height\":40}", false),
            Some(AttachInput::Resize {
                width: 120,
                height: 40
            })
        );
        assert_eq!(attach_input(b"\x04{bad", true), None);
        assert_eq!(attach_input(&[255, 0], true), Some(AttachInput::CloseStdin));
        // v4 has no close message; other channels are not input.
        assert_eq!(attach_input(&[255, 0], false), None);
        assert_eq!(attach_input(b"\x01out", true), None);
        assert_eq!(attach_input(b"", true), None);
    }

    #[test]
    fn exit_codes_as_the_kubelet_reports_them() {
        let s = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(0, &[])["status"], "Success");
    }
}
