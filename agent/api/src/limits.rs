//! Connection limits of the API server: at most [`MAX_CONNECTIONS`] connections at once (the
//! accept loop waits for a free slot; the kernel's backlog holds the rest), and a connection
//! whose first request header is not complete within [`HEADER_TIMEOUT`] is closed (3,000
//! connections that never sent a byte used to hold 3,000 descriptors and 40 MB).
//!
//! Every request's body is read whole (at most [`MAX_BODY`]) before it is routed
//! ([`read_body`]): a request refused before its handler read the body (405 for a path without
//! that method, 404, a bad query) otherwise made hyper close the connection with the body
//! unread, and the client, still writing it, saw `write: broken pipe` instead of the Status.
//!
//! There is deliberately no idle timeout once a request has arrived: a pod watch or a
//! `logs -f` of a quiet container sends nothing for as long as nothing happens, like the
//! API server's watches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Time a new connection has to send its first request's complete header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body (the API server's limit is 3 MB as well).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Middleware: reads the request body whole before routing (see the module's first lines).
/// Upgrades (exec, attach, port-forward) have no body and pass as they are.
pub async fn read_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    if parts.headers.contains_key(axum::http::header::UPGRADE) {
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let (code, message) = if too_large {
                (
                    413,
                    format!("the request body is larger than {MAX_BODY} bytes"),
                )
            } else {
                (400, format!("reading the request body: {e}"))
            };
            crate::response::status_response(crate::status::failure(
                code,
                if too_large {
                    "RequestEntityTooLarge"
                } else {
                    "BadRequest"
                },
                message,
            ))
        }
    }
}

/// A listener that hands out at most [`MAX_CONNECTIONS`] connections at once, each
/// [`Guarded`] by the header timeout.
pub struct Limited<L> {
    inner: L,
    slots: Arc<Semaphore>,
}

impl<L> Limited<L> {
    pub fn new(inner: L) -> Limited<L> {
        Limited {
            inner,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for Limited<L> {
    type Io = Guarded<L::Io>;
    type Addr = L::Addr;

    fn accept(&mut self) -> impl Future<Output = (Self::Io, Self::Addr)> + Send {
        let slots = self.slots.clone();
        let inner = &mut self.inner;
        async move {
            // The semaphore is never closed; without a permit the connection is still served.
            let slot = slots.acquire_owned().await.ok();
            let (io, addr) = inner.accept().await;
            (Guarded::new(io, slot), addr)
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding its slot, closed (a read error) if its first request header does not
/// arrive in time.
pub struct Guarded<Io> {
    io: Io,
    _slot: Option<OwnedSemaphorePermit>,
    /// Until the first header's end (`\r\n\r\n`) is read: the deadline and how much of the
    /// terminator the bytes so far end with.
    header: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
}

impl<Io> Guarded<Io> {
    fn new(io: Io, slot: Option<OwnedSemaphorePermit>) -> Guarded<Io> {
        Guarded {
            io,
            _slot: slot,
            header: Some((Box::pin(tokio::time::sleep(HEADER_TIMEOUT)), 0)),
        }
    }
}

/// How much of `\r\n\r\n` the stream ends with after `b`, given `matched` before it.
fn scan(matched: usize, b: u8) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    if b == END[matched] {
        matched + 1
    } else if b == b'\r' {
        1
    } else {
        0
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Guarded<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some((deadline, _)) = &mut this.header
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no complete request header in time",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((_, matched))) = (&r, &mut this.header) {
            for &b in &buf.filled()[before..] {
                *matched = scan(*matched, b);
                if *matched == 4 {
                    break;
                }
            }
            if *matched == 4 {
                this.header = None;
            }
        }
        r
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Guarded<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::scan;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads one response (headers and a Content-Length body) and returns its status line.
    async fn response(s: &mut tokio::net::TcpStream) -> String {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            let n = s.read(&mut b).await.expect("read");
            assert!(
                n > 0,
                "connection closed after {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&b[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_string)
                    })
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    return text.lines().next().unwrap_or_default().to_string();
                }
            }
        }
    }

    /// A request refused by the router (405 here) with a body the handler never reads: the
    /// body is still read, so the connection stays usable (without `read_body` hyper closes
    /// it and a client still writing sees a broken pipe).
    #[tokio::test]
    async fn refused_requests_keep_the_connection() {
        let app = axum::Router::new()
            .route("/x", axum::routing::get(|| async { "x" }))
            .layer(axum::middleware::from_fn(super::read_body));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(super::Limited::new(l), app).await });
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let body = vec![b'a'; 200_000];
        let head = format!(
            "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        // The server answers once it has the body; the write must not fail half-way.
        s.write_all(&body).await.expect("body");
        assert!(response(&mut s).await.contains(" 405 "));
        s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("second request");
        assert!(response(&mut s).await.contains(" 200 "));
        // A body over the limit is refused with 413.
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            super::MAX_BODY + 1
        );
        s.write_all(head.as_bytes()).await.expect("head");
        let _ = s.write_all(&vec![b'a'; super::MAX_BODY + 1]).await;
        assert!(response(&mut s).await.contains(" 413 "));
    }

    #[test]
    fn finds_the_header_end_across_reads() {
        let mut m = 0;
        for &b in b"GET / HTTP/1.1\r\nHost: x\r\n\r" {
            m = scan(m, b);
        }
        assert_eq!(m, 3);
        assert_eq!(scan(m, b'\n'), 4);
        let mut m = 0;
        for &b in b"a\r\n\r\r\n\r\n" {
            m = scan(m, b);
        }
        assert_eq!(m, 4);
    }
}
