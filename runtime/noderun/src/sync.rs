//! The little protocol between the runtime (parent) and the container's bootstrap/init/exec
//! processes: one SOCK_SEQPACKET socketpair, one message per packet (a tag byte and a payload).
//! Errors that happen in the child travel back as text so the parent can report them and clean up.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent → bootstrap: go on (the bootstrap joined the cgroup itself, first thing).
    Go,
    /// Bootstrap → parent: I created a user namespace, write my id maps.
    MapIds,
    /// Parent → child: done, continue.
    Ack,
    /// Bootstrap → parent: the init process's pid (in the parent's pid namespace).
    Pid(i32),
    /// Init → parent: mounts are done, run prestart + createRuntime hooks now.
    RunCreateHooks,
    /// Parent → init: hooks ran; the container's state JSON for the in-container hooks.
    State(String),
    /// Init → parent: the container is created, waiting for `start`.
    Created,
    /// Child → parent: something failed; the text says what.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Msg::Go => (b'g', vec![]),
            Msg::MapIds => (b'm', vec![]),
            Msg::Ack => (b'a', vec![]),
            Msg::Pid(p) => (b'p', p.to_string().into_bytes()),
            Msg::RunCreateHooks => (b'h', vec![]),
            Msg::State(j) => (b's', j.as_bytes().to_vec()),
            Msg::Created => (b'c', vec![]),
            Msg::Error(e) => (b'e', e.as_bytes().to_vec()),
        };
        let mut v = Vec::with_capacity(1 + payload.len());
        v.push(tag);
        v.extend(payload);
        v
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let (&tag, rest) = b.split_first()?;
        Some(match tag {
            b'g' => Msg::Go,
            b'm' => Msg::MapIds,
            b'a' => Msg::Ack,
            b'p' => Msg::Pid(std::str::from_utf8(rest).ok()?.parse().ok()?),
            b'h' => Msg::RunCreateHooks,
            b's' => Msg::State(String::from_utf8_lossy(rest).into_owned()),
            b'c' => Msg::Created,
            b'e' => Msg::Error(String::from_utf8_lossy(rest).into_owned()),
            _ => return None,
        })
    }
}

/// One end of the sync channel.
pub struct Channel(pub OwnedFd);

pub fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<(), String> {
        let buf = m.encode();
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&buf)],
            &[],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(|_| ())
        .map_err(|e| format!("sync socket send: {e}"))
    }

    /// Receive one message; `Ok(None)` when the other side closed the channel (for the init
    /// process: it exec'd, the socket being close-on-exec).
    pub fn recv(&self) -> Result<Option<Msg>, String> {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                None,
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) if r.bytes == 0 => return Ok(None),
                Ok(r) => {
                    let n = r.bytes;
                    return Msg::decode(&buf[..n])
                        .map(Some)
                        .ok_or_else(|| "sync socket: malformed message".to_string());
                }
                Err(nix::Error::EINTR) => continue,
                // The peer closed with our last message unread: it is gone, like EOF.
                Err(nix::Error::ECONNRESET) => return Ok(None),
                Err(e) => return Err(format!("sync socket receive: {e}")),
            }
        }
    }

    /// Receive and insist on `want`; an `Error` from the child becomes the error text.
    pub fn expect(&self, want: &Msg) -> Result<(), String> {
        match self.recv()? {
            Some(m) if &m == want => Ok(()),
            Some(Msg::Error(e)) => Err(e),
            Some(m) => Err(format!("sync: expected {want:?}, got {m:?}")),
            None => Err(format!(
                "sync: the container process exited before {want:?}"
            )),
        }
    }
}

/// Send a file descriptor with SCM_RIGHTS over a connected Unix socket (console socket).
pub fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> nix::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock,
        &[IoSlice::new(payload)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}

/// Receive one file descriptor sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> nix::Result<Option<OwnedFd>> {
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just gave us this descriptor.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Pid(4242),
            Msg::Error("mounts[2]: nope".into()),
            Msg::Created,
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
