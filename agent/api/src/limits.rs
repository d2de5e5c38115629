//! Connection limits of the API server: at most [`MAX_CONNECTIONS`] connections at once (the
//! accept loop waits for a free slot; the kernel's backlog holds the rest), and a connection
//! whose first request header is not complete within [`HEADER_TIMEOUT`] is closed (3,000
//! connections that never sent a byte used to hold 3,000 descriptors and 40 MB).
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
