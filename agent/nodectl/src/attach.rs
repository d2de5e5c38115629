//! `nodectl attach`: a session to a running container's process over the API's `pods/attach`
//! (WebSocket, `v5.channel.k8s.io`, over the node's Unix socket), as kubectl attaches: its
//! output from now on, and with `-i` our stdin into its stdin or terminal. With `-t` (and
//! `-i`, a container with `tty: true` and a terminal on our stdin) our terminal is put in raw
//! mode, its size is sent at start and on every SIGWINCH (channel 4), and the session ends
//! when the container's process does or when we are killed. Errors the node sends on
//! channel 3 are printed as kubectl prints them.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What to attach to and how.
pub struct Request<'a> {
    pub socket: &'a Path,
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    pub stdin: bool,
    pub tty: bool,
}

/// Our terminal's size as a resize message (`{"Width":w,"Height":h}` on channel 4).
fn size_message() -> Option<Message> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ into a valid struct.
    let ok = [0, 1]
        .into_iter()
        .any(|fd| unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0);
    if !ok || ws.ws_col == 0 {
        return None;
    }
    let mut v = vec![4u8];
    v.extend_from_slice(
        serde_json::json!({"Width": ws.ws_col, "Height": ws.ws_row})
            .to_string()
            .as_bytes(),
    );
    Some(Message::Binary(v.into()))
}

/// The `attach` URL's query.
pub fn query(container: &str, stdin: bool, tty: bool) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("container", container)
        .append_pair("stdout", "true");
    if stdin {
        q.append_pair("stdin", "true");
    }
    if tty {
        q.append_pair("tty", "true");
    } else {
        q.append_pair("stderr", "true");
    }
    q.finish()
}

/// Runs the session; returns when the container's process ended or our input ended the
/// session. A failure the node reports is the error.
pub fn run(req: &Request) -> Result<()> {
    // SIGWINCH is taken by a thread of its own (sigwait), so every thread blocks it.
    let mut winch = nix::sys::signal::SigSet::empty();
    winch.add(nix::sys::signal::Signal::SIGWINCH);
    if req.tty {
        winch.thread_block().context("block SIGWINCH")?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(session(req, winch))
}

async fn session(req: &Request<'_>, winch: nix::sys::signal::SigSet) -> Result<()> {
    let url = format!(
        "ws://localhost/api/v1/namespaces/{}/pods/{}/attach?{}",
        req.namespace,
        req.pod,
        query(req.container, req.stdin, req.tty)
    );
    let mut request = url.into_client_request().context("attach request")?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("v5.channel.k8s.io"),
    );
    let stream = tokio::net::UnixStream::connect(req.socket)
        .await
        .with_context(|| format!("connect {}", req.socket.display()))?;
    let (ws, _) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().unwrap_or_default();
            let msg = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            anyhow::bail!("{msg}");
        }
        Err(e) => return Err(e).context("attach"),
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(16);
    let _raw = if req.tty {
        crate::exec::RawMode::enter()
    } else {
        None
    };
    if req.tty {
        if let Some(m) = size_message() {
            let _ = tx.send(m).await;
        }
        let tx = tx.clone();
        std::thread::spawn(move || {
            while winch.wait().is_ok() {
                if let Some(m) = size_message()
                    && tx.blocking_send(m).is_err()
                {
                    return;
                }
            }
        });
    }
    if req.stdin {
        // A thread of its own: a read(2) of stdin cannot be cancelled, and the runtime does not
        // wait for it at the end.
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 8192];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        // v5: the end of our input.
                        let _ = tx.blocking_send(Message::Binary(vec![255u8, 0].into()));
                        return;
                    }
                    Ok(n) => {
                        let mut v = Vec::with_capacity(n + 1);
                        v.push(0u8);
                        v.extend_from_slice(&buf[..n]);
                        if tx.blocking_send(Message::Binary(v.into())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let mut failure = None;
    let mut input_open = true;
    loop {
        tokio::select! {
            m = rx.recv(), if input_open => match m {
                Some(m) => {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                // Our stdin ended and no resize can come: only output from now on.
                None => input_open = false,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    1 => {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(&b[1..]);
                        let _ = o.flush();
                    }
                    2 => {
                        let _ = std::io::stderr().write_all(&b[1..]);
                    }
                    3 => {
                        let st: serde_json::Value =
                            serde_json::from_slice(&b[1..]).unwrap_or_default();
                        if st["status"] == "Failure" {
                            failure = st["message"].as_str().map(str::to_string);
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    drop(_raw);
    match failure {
        Some(m) => anyhow::bail!("{m}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_as_kubectl_sends_it() {
        assert_eq!(
            super::query("sh", true, true),
            "container=sh&stdout=true&stdin=true&tty=true"
        );
        assert_eq!(
            super::query("a b", false, false),
            "container=a+b&stdout=true&stderr=true"
        );
    }
}
