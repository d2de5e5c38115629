//! `pods/portforward` as kubectl ≥ 1.31 speaks it: SPDY/3.1 tunneled through a WebSocket
//! (subprotocol `SPDY/3.1+portforward.k8s.io`; the binary messages are one byte stream). Per
//! forwarded connection kubectl opens two SPDY streams with headers `streamType` (`error` or
//! `data`), `port` and `requestID`; the node answers each with SYN_REPLY, connects to the
//! port on the pod's loopback as the kubelet does (a short-lived thread enters the pod's
//! network namespace to make the socket; the agent's other threads never change namespace),
//! else — no namespace pin, host-network pods — to the pod's IP / 127.0.0.1, relays DATA
//! frames both ways and ends both streams with FIN — the error stream carrying a message if
//! the connection failed.
//!
//! Only what that needs of SPDY/3 is here (frames: SYN_STREAM, SYN_REPLY, RST_STREAM, DATA,
//! PING, GOAWAY; the rest is ignored; no flow control, as spdystream has none). Header blocks
//! are zlib with SPDY/3's preset dictionary, one stream per direction (flate2 with its zlib-rs
//! backend can set dictionaries). There is no SPDY crate to use: the ones on crates.io are
//! unmaintained HTTP-over-SPDY stacks.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::kube::Kube;
use super::response::status_response;
use super::{NodeState, status};

pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 1;

/// SPDY/3's zlib dictionary (draft 3, section 2.6.10.1): length-prefixed header names and
/// values, then status codes, dates and common values.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
            "accept-encoding", "accept-language", "accept-ranges", "age", "allow",
            "authorization", "cache-control", "connection", "content-base", "content-encoding",
            "content-language", "content-length", "content-location", "content-md5",
            "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
            "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
            "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
            "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer",
            "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
            "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
            "public", "set-cookie", "keep-alive", "origin",
        ];
        const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// One frame as read.
#[derive(Debug, PartialEq)]
pub enum Frame {
    SynStream {
        id: u32,
        headers: BTreeMap<String, String>,
        fin: bool,
    },
    Data {
        id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    Reset(u32),
    Ping(u32),
    GoAway,
    Other,
}

/// The SPDY framing of one session: its two zlib streams.
pub struct Codec {
    inflate: flate2::Decompress,
    deflate: flate2::Compress,
    deflate_primed: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            inflate: flate2::Decompress::new(true),
            deflate: flate2::Compress::new(flate2::Compression::default(), true),
            deflate_primed: false,
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A name/value header block.
fn parse_headers(b: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let take = |b: &mut &[u8], n: usize| -> Result<Vec<u8>, String> {
        if b.len() < n {
            return Err("truncated header block".into());
        }
        let (x, rest) = b.split_at(n);
        *b = rest;
        Ok(x.to_vec())
    };
    let mut b = b;
    let count = be32(&take(&mut b, 4)?);
    for _ in 0..count {
        let n = be32(&take(&mut b, 4)?) as usize;
        let name = String::from_utf8_lossy(&take(&mut b, n)?).into_owned();
        let n = be32(&take(&mut b, 4)?) as usize;
        let value = String::from_utf8_lossy(&take(&mut b, n)?).into_owned();
        out.insert(name.to_lowercase(), value);
    }
    Ok(out)
}

impl Codec {
    fn inflate(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(input.len() * 4 + 256);
        let mut pos = 0;
        loop {
            let before_in = self.inflate.total_in();
            let r =
                self.inflate
                    .decompress_vec(&input[pos..], &mut out, flate2::FlushDecompress::Sync);
            pos += (self.inflate.total_in() - before_in) as usize;
            match r {
                Ok(_) if pos >= input.len() && out.len() < out.capacity() => return Ok(out),
                Ok(_) => out.reserve(out.capacity().max(1024)),
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(dictionary())
                        .map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(format!("header block: {e}")),
            }
        }
    }

    fn deflate(&mut self, block: &[u8]) -> Result<Vec<u8>, String> {
        if !self.deflate_primed {
            self.deflate
                .set_dictionary(dictionary())
                .map_err(|e| e.to_string())?;
            self.deflate_primed = true;
        }
        let mut out = Vec::with_capacity(block.len() + 64);
        let before = self.deflate.total_in();
        loop {
            let done = (self.deflate.total_in() - before) as usize;
            self.deflate
                .compress_vec(&block[done..], &mut out, flate2::FlushCompress::Sync)
                .map_err(|e| e.to_string())?;
            if (self.deflate.total_in() - before) as usize == block.len()
                && out.len() < out.capacity()
            {
                return Ok(out);
            }
            out.reserve(256);
        }
    }

    /// Takes one whole frame off the front of `buf`, if there is one.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Frame>, String> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let frame: Vec<u8> = buf.drain(..8 + len).collect();
        let flags = frame[4];
        let body = &frame[8..];
        if frame[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data {
                id: be32(&frame[..4]) & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body.to_vec(),
            }));
        }
        let kind = u16::from_be_bytes([frame[2], frame[3]]);
        Ok(Some(match kind {
            SYN_STREAM if body.len() >= 10 => {
                let block = self.inflate(&body[10..])?;
                Frame::SynStream {
                    id: be32(body) & 0x7fff_ffff,
                    headers: parse_headers(&block)?,
                    fin: flags & FLAG_FIN != 0,
                }
            }
            RST_STREAM if body.len() >= 8 => Frame::Reset(be32(body) & 0x7fff_ffff),
            PING if body.len() >= 4 => Frame::Ping(be32(body)),
            GOAWAY => Frame::GoAway,
            _ => Frame::Other,
        }))
    }

    /// SYN_REPLY for stream `id` (no headers).
    pub fn syn_reply(&mut self, id: u32) -> Result<Vec<u8>, String> {
        let block = self.deflate(&0u32.to_be_bytes())?;
        let mut f = control(SYN_REPLY, 0, 4 + block.len());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&block);
        Ok(f)
    }
}

fn control(kind: u16, flags: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0x80, 0x03];
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f
}

pub fn data(id: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = (id & 0x7fff_ffff).to_be_bytes().to_vec();
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

fn ping(id: u32) -> Vec<u8> {
    let mut f = control(PING, 0, 4);
    f.extend_from_slice(&id.to_be_bytes());
    f
}

pub fn routes<S: NodeState>(kube: Kube<S>) -> axum::Router {
    axum::Router::new()
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            axum::routing::get(port_forward::<S>).post(port_forward::<S>),
        )
        .with_state(kube)
}

async fn port_forward<S: NodeState>(
    State(k): State<Kube<S>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(pod) = k.pod(&ns, &name) else {
        return status_response(status::pod_not_found(&name));
    };
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let ip: Option<IpAddr> = if host_network {
        Some(IpAddr::from([127, 0, 0, 1]))
    } else {
        pod.status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
    };
    let netns = if host_network {
        None
    } else {
        k.node.pod_netns(&pod)
    };
    let Some(ip) = ip else {
        return status_response(status::bad_request(format!(
            "pod {name} has no IP yet: it is not running"
        )));
    };
    let Ok(ws) = ws else {
        return status_response(status::bad_request(format!(
            "Upgrade request required (pods/portforward is served over WebSocket: {PROTOCOL})"
        )));
    };
    ws.protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(socket, Target { ip, netns }).await {
                tracing::info!(pod = %format!("{ns}/{name}"), "port-forward: {e}");
            }
        })
        .into_response()
}

/// One forwarded connection (a requestID): its two streams and the pod connection's input.
#[derive(Default)]
struct Request {
    error: Option<u32>,
    data: Option<u32>,
    port: Option<u16>,
    to_pod: Option<mpsc::Sender<Option<Vec<u8>>>>,
}

/// Where forwarded connections go.
#[derive(Clone)]
struct Target {
    ip: IpAddr,
    netns: Option<std::path::PathBuf>,
}

/// A TCP connection to `port` on the loopback of the network namespace `netns`, made by a
/// thread of its own that enters the namespace (setns affects only the calling thread; the
/// socket keeps its namespace after the thread is gone).
fn connect_in(netns: &std::path::Path, port: u16) -> std::io::Result<std::net::TcpStream> {
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&netns)?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        std::net::TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
            std::time::Duration::from_secs(10),
        )
    })
    .join()
    .map_err(|_| std::io::Error::other("the connecting thread panicked"))?
}

async fn connect(t: &Target, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    match &t.netns {
        Some(ns) => {
            let ns = ns.clone();
            let s = tokio::task::spawn_blocking(move || connect_in(&ns, port))
                .await
                .map_err(std::io::Error::other)??;
            s.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(s)
        }
        None => tokio::net::TcpStream::connect(SocketAddr::new(t.ip, port)).await,
    }
}

async fn session(socket: WebSocket, target: Target) -> Result<(), String> {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if sink.send(Message::Binary(f.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut codec = Codec::default();
    let mut buf: Vec<u8> = vec![];
    let mut requests: HashMap<String, Request> = HashMap::new();
    let mut by_stream: HashMap<u32, String> = HashMap::new();
    'session: while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Binary(b)) => buf.extend_from_slice(&b),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        }
        while let Some(frame) = codec.next(&mut buf)? {
            match frame {
                Frame::SynStream { id, headers, .. } => {
                    let send = |f: Vec<u8>| out_tx.send(f);
                    send(codec.syn_reply(id)?)
                        .await
                        .map_err(|e| e.to_string())?;
                    let rid = headers.get("requestid").cloned().unwrap_or_default();
                    by_stream.insert(id, rid.clone());
                    let r = requests.entry(rid.clone()).or_default();
                    match headers.get("streamtype").map(String::as_str) {
                        Some("error") => r.error = Some(id),
                        Some("data") => {
                            r.data = Some(id);
                            r.port = headers.get("port").and_then(|p| p.parse().ok());
                        }
                        _ => {}
                    }
                    if let (Some(err), Some(data), None) = (r.error, r.data, &r.to_pod) {
                        let (tx, rx) = mpsc::channel(16);
                        r.to_pod = Some(tx);
                        tokio::spawn(forward(
                            target.clone(),
                            r.port,
                            err,
                            data,
                            rx,
                            out_tx.clone(),
                        ));
                    }
                }
                Frame::Data { id, fin, data } => {
                    let Some(r) = by_stream.get(&id).and_then(|rid| requests.get(rid)) else {
                        continue;
                    };
                    if r.data != Some(id) {
                        continue;
                    }
                    if let Some(tx) = &r.to_pod {
                        if !data.is_empty() {
                            let _ = tx.send(Some(data)).await;
                        }
                        if fin {
                            let _ = tx.send(None).await;
                        }
                    }
                }
                Frame::Reset(id) => {
                    if let Some(rid) = by_stream.remove(&id) {
                        requests.remove(&rid);
                    }
                }
                Frame::Ping(n) => {
                    let _ = out_tx.send(ping(n)).await;
                }
                Frame::GoAway => break 'session,
                Frame::Other => {}
            }
        }
    }
    drop(requests);
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// One connection to the pod: bytes from `rx` (None: the client's side ended) to it, its bytes
/// back as DATA on `data`; a failure to connect is written on the error stream. Both streams
/// end with FIN.
async fn forward(
    target: Target,
    port: Option<u16>,
    error: u32,
    data_id: u32,
    mut rx: mpsc::Receiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let conn = match port {
        Some(p) => connect(&target, p)
            .await
            .map_err(|e| format!("error forwarding port {p} to pod: {e}")),
        None => Err("port-forward: the data stream has no valid port header".to_string()),
    };
    let conn = match conn {
        Ok(c) => c,
        Err(msg) => {
            let _ = out.send(data(error, true, msg.as_bytes())).await;
            let _ = out.send(data(data_id, true, &[])).await;
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let to_pod = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            match m {
                Some(b) => {
                    if wr.write_all(&b).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.send(data(data_id, false, &buf[..n])).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = out.send(data(data_id, true, &[])).await;
    let _ = out.send(data(error, true, &[])).await;
    to_pod.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adler32(b: &[u8]) -> u32 {
        let (mut a, mut s) = (1u32, 0u32);
        for x in b {
            a = (a + u32::from(*x)) % 65521;
            s = (s + a) % 65521;
        }
        (s << 16) | a
    }

    #[test]
    fn the_spdy3_dictionary() {
        assert_eq!(dictionary().len(), 1423);
        assert_eq!(adler32(dictionary()), 0xe3c6_a7c2);
    }

    fn nv(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut b = (pairs.len() as u32).to_be_bytes().to_vec();
        for (k, v) in pairs {
            b.extend_from_slice(&(k.len() as u32).to_be_bytes());
            b.extend_from_slice(k.as_bytes());
            b.extend_from_slice(&(v.len() as u32).to_be_bytes());
            b.extend_from_slice(v.as_bytes());
        }
        b
    }

    #[test]
    fn syn_streams_as_a_client_compresses_them_and_data_frames() {
        // A client's zlib stream with the dictionary, two header blocks on it.
        let mut client = Codec::default();
        let mut wire = vec![];
        for (id, kind) in [(1u32, "error"), (3, "data")] {
            let block = client
                .deflate(&nv(&[
                    ("streamType", kind),
                    ("port", "8080"),
                    ("requestID", "0"),
                ]))
                .unwrap();
            let mut f = control(SYN_STREAM, 0, 10 + block.len());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            f.extend_from_slice(&block);
            wire.extend_from_slice(&f);
        }
        wire.extend_from_slice(&data(3, true, b"GET /"));
        let mut server = Codec::default();
        let Some(Frame::SynStream { id, headers, .. }) = server.next(&mut wire).unwrap() else {
            panic!("no SYN_STREAM");
        };
        assert_eq!((id, headers["streamtype"].as_str()), (1, "error"));
        let Some(Frame::SynStream { id, headers, .. }) = server.next(&mut wire).unwrap() else {
            panic!("no second SYN_STREAM");
        };
        assert_eq!((id, headers["port"].as_str()), (3, "8080"));
        assert_eq!(
            server.next(&mut wire).unwrap(),
            Some(Frame::Data {
                id: 3,
                fin: true,
                data: b"GET /".to_vec()
            })
        );
        assert_eq!(server.next(&mut wire).unwrap(), None);
        // The server's SYN_REPLY decompresses on the client's side.
        let mut reply = server.syn_reply(1).unwrap();
        assert_eq!(&reply[..4], &[0x80, 0x03, 0x00, 0x02]);
        let body = reply.split_off(12);
        assert_eq!(client.inflate(&body).unwrap(), 0u32.to_be_bytes());
    }
}
