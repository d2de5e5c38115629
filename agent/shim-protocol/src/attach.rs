//! The byte stream of an `Attach` connection, after the shim's `Ok` line: frames of
//! `[channel: u8][length: u32 big-endian][payload]` both ways. The channels are the Kubernetes
//! remote-command ones, so the API maps them one to one: to the shim `STDIN` (bytes for the
//! container's stdin or terminal), `RESIZE` (rows and columns, two big-endian u16) and
//! `CLOSE_STDIN` (this session's input ended); from the shim `STDOUT`, `STDERR` (output as the
//! container writes it; a terminal's all on `STDOUT`) and `END` (the container's output is
//! drained and it has exited or was deleted: nothing follows).

use std::io::Read;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const END: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE_STDIN: u8 = 255;

/// The largest payload a frame may carry; a longer length is a broken stream.
pub const FRAME_MAX: usize = 1 << 20;

const HEADER: usize = 5;

/// Appends one frame to `out`.
pub fn push_frame(out: &mut Vec<u8>, channel: u8, data: &[u8]) {
    out.push(channel);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// One frame as bytes.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + data.len());
    push_frame(&mut v, channel, data);
    v
}

/// A `RESIZE` frame.
pub fn resize_frame(rows: u16, cols: u16) -> Vec<u8> {
    let mut p = [0u8; 4];
    p[..2].copy_from_slice(&rows.to_be_bytes());
    p[2..].copy_from_slice(&cols.to_be_bytes());
    frame(RESIZE, &p)
}

/// The rows and columns of a `RESIZE` payload.
pub fn parse_resize(p: &[u8]) -> Option<(u16, u16)> {
    let p: [u8; 4] = p.try_into().ok()?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("attach stream: a frame of {0} bytes (more than {FRAME_MAX})")]
pub struct FrameTooLong(pub usize);

/// Takes the first complete frame off the front of `buf`: `Ok(None)` until one is there.
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<(u8, Vec<u8>)>, FrameTooLong> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > FRAME_MAX {
        return Err(FrameTooLong(len));
    }
    if buf.len() < HEADER + len {
        return Ok(None);
    }
    let channel = buf[0];
    let data = buf[HEADER..HEADER + len].to_vec();
    buf.drain(..HEADER + len);
    Ok(Some((channel, data)))
}

/// Reads one frame (blocking); `None` at the end of the stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; HEADER];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > FRAME_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            FrameTooLong(len),
        ));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((h[0], data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut wire = frame(STDIN, b"ls\n");
        wire.extend(resize_frame(40, 120));
        wire.extend(frame(CLOSE_STDIN, b""));
        let mut buf = Vec::new();
        let mut got = vec![];
        for b in &wire {
            buf.push(*b);
            while let Some(f) = take_frame(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got[0], (STDIN, b"ls\n".to_vec()));
        assert_eq!(got[1].0, RESIZE);
        assert_eq!(parse_resize(&got[1].1), Some((40, 120)));
        assert_eq!(got[2], (CLOSE_STDIN, vec![]));
        assert!(buf.is_empty());
        let mut r = &wire[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDIN, b"ls\n".to_vec())));
        read_frame(&mut r).unwrap();
        read_frame(&mut r).unwrap();
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn a_huge_length_is_an_error_not_an_allocation() {
        let mut buf = vec![STDOUT, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(take_frame(&mut buf), Err(FrameTooLong(0xffff_ffff)));
        let mut r = &buf[..];
        assert!(read_frame(&mut r).is_err());
        assert_eq!(parse_resize(b"abc"), None);
    }
}
