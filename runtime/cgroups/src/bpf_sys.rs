//! The bpf(2) calls behind the cgroup v2 device filter: load a CGROUP_DEVICE program, attach
//! it to a cgroup directory with BPF_F_ALLOW_MULTI, and detach the program(s) this crate
//! attached before (recognised by their program name).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::Error;
use crate::bpf_prog::BpfInsn;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Name given to our programs (at most 15 bytes), used to find them again.
pub(crate) const PROG_NAME: &[u8] = b"noderun_devices";

/// `union bpf_attr`, large enough for every command used here; unused bytes stay zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes([
            self.0[off],
            self.0[off + 1],
            self.0[off + 2],
            self.0[off + 3],
        ])
    }
}

fn bpf(cmd: libc::c_int, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: attr points to 128 initialised bytes laid out as the command expects; pointers
    // stored inside it refer to buffers that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<Attr>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn bpf_err(dir: &Path, op: &'static str, source: io::Error) -> Error {
    Error::Bpf {
        path: dir.to_path_buf(),
        op,
        source,
        log: String::new(),
    }
}

fn fd_from(rc: libc::c_long) -> OwnedFd {
    // SAFETY: a successful bpf() returning an fd hands us its ownership.
    unsafe { OwnedFd::from_raw_fd(rc as i32) }
}

/// Loads `prog` as a CGROUP_DEVICE program; on a verifier rejection the log is in the error.
fn load(dir: &Path, prog: &[BpfInsn]) -> Result<OwnedFd, Error> {
    let license = c"Apache-2.0";
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut a = Attr::new();
        a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, prog.len() as u32)
            .u64(8, prog.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(68, BPF_CGROUP_DEVICE);
        a.0[48..48 + PROG_NAME.len()].copy_from_slice(PROG_NAME);
        if let Some(buf) = log {
            a.u32(24, 1)
                .u32(28, buf.len() as u32)
                .u64(32, buf.as_mut_ptr() as u64);
            bpf(BPF_PROG_LOAD, &mut a)
        } else {
            bpf(BPF_PROG_LOAD, &mut a)
        }
    };
    match attempt(None) {
        Ok(fd) => Ok(fd_from(fd)),
        Err(e) => {
            // Retry with a verifier log to explain the rejection.
            let mut buf = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut buf));
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            Err(Error::Bpf {
                path: dir.to_path_buf(),
                op: "BPF_PROG_LOAD",
                source: e,
                log: String::from_utf8_lossy(&buf[..end]).trim().to_string(),
            })
        }
    }
}

/// Ids of the device programs attached directly to the cgroup `cg`.
fn query(dir: &Path, cg: &File) -> Result<Vec<u32>, Error> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, cg.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a).map_err(|e| bpf_err(dir, "BPF_PROG_QUERY", e))?;
    let n = a.get_u32(24) as usize;
    ids.truncate(n.min(64));
    Ok(ids)
}

/// Opens program `id` and returns it if its name is ours.
fn ours(dir: &Path, id: u32) -> Result<Option<OwnedFd>, Error> {
    let mut a = Attr::new();
    a.u32(0, id);
    let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut a) {
        Ok(fd) => fd_from(fd),
        // Detached meanwhile.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(bpf_err(dir, "BPF_PROG_GET_FD_BY_ID", e)),
    };
    // struct bpf_prog_info: name[16] at offset 64.
    let mut info = [0u8; 80];
    let mut a = Attr::new();
    a.u32(0, fd.as_raw_fd() as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).map_err(|e| bpf_err(dir, "BPF_OBJ_GET_INFO_BY_FD", e))?;
    let name = &info[64..80];
    let end = name.iter().position(|&b| b == 0).unwrap_or(16);
    Ok((&name[..end] == PROG_NAME).then_some(fd))
}

/// Loads `prog`, attaches it to the cgroup directory `dir` (BPF_F_ALLOW_MULTI) and then
/// detaches the programs we had attached there before.
pub(crate) fn replace_device_filter(dir: &Path, prog: &[BpfInsn]) -> Result<(), Error> {
    let cg = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
    let mut old = Vec::new();
    for id in query(dir, &cg)? {
        if let Some(fd) = ours(dir, id)? {
            old.push(fd);
        }
    }
    let new = load(dir, prog)?;
    let mut a = Attr::new();
    a.u32(0, cg.as_raw_fd() as u32)
        .u32(4, new.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| bpf_err(dir, "BPF_PROG_ATTACH", e))?;
    for fd in old {
        let mut a = Attr::new();
        a.u32(0, cg.as_raw_fd() as u32)
            .u32(4, fd.as_raw_fd() as u32)
            .u32(8, BPF_CGROUP_DEVICE);
        match bpf(BPF_PROG_DETACH, &mut a) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_err(dir, "BPF_PROG_DETACH", e)),
        }
    }
    Ok(())
}

/// Number of our device programs attached to `dir` (for tests and diagnostics).
pub fn attached_device_filters(dir: &Path) -> Result<usize, Error> {
    let cg = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
    let mut n = 0;
    for id in query(dir, &cg)? {
        if ours(dir, id)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
