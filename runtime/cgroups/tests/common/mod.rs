//! Shared helpers for the integration tests: a cleanup guard and fork helpers that run raw
//! system calls only in the child (the test binary is multi-threaded).
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use noderun_cgroups::Cgroup;

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A unique cgroup name for one test.
pub fn unique(name: &str) -> String {
    format!("nodelet-cgtest-{}-{name}", std::process::id())
}

/// Owns a created cgroup: on drop kills its processes, thaws it and deletes it.
pub struct Guard(pub Cgroup);

impl Guard {
    pub fn create(path: &str) -> Guard {
        let mut cg = Cgroup::resolve(Some(std::path::Path::new(path)), "unused").unwrap();
        let res = cg.create();
        let g = Guard(cg);
        res.unwrap();
        g
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.thaw();
        for _ in 0..50 {
            match self.0.pids() {
                Ok(p) if !p.is_empty() => {
                    for pid in p {
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => break,
            }
        }
        if let Err(e) = self.0.delete() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// cgroup.procs paths of every hierarchy, prepared before fork.
pub fn procs_files(cg: &Cgroup) -> Vec<CString> {
    cg.dirs()
        .iter()
        .map(|d| CString::new(d.path.join("cgroup.procs").as_os_str().as_bytes()).unwrap())
        .collect()
}

/// Forks a child that moves itself into `procs` (writing "0"), then runs `f` (which must only
/// make raw system calls) and exits with its return value. Returns the child's pid.
pub fn fork_in(procs: &[CString], f: fn() -> i32) -> i32 {
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            for p in procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(100);
                }
                libc::close(fd);
            }
            libc::_exit(f());
        }
    }
    pid
}

/// Waits for `pid`; Ok(exit code) or Err(signal).
pub fn wait(pid: i32) -> Result<i32, i32> {
    let mut st = 0;
    let r = unsafe { libc::waitpid(pid, &mut st, 0) };
    assert_eq!(r, pid, "waitpid");
    if libc::WIFEXITED(st) {
        Ok(libc::WEXITSTATUS(st))
    } else {
        Err(libc::WTERMSIG(st))
    }
}

/// Child body: touch `MiB` mebibytes of anonymous memory, page by page.
pub fn touch_memory(mib: usize) -> i32 {
    let len = mib << 20;
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 2;
        }
        let b = p.cast::<u8>();
        let mut off = 0;
        while off < len {
            std::ptr::write_volatile(b.add(off), 1);
            off += 4096;
        }
    }
    0
}

/// Child body: open `path` read-write; 0 when allowed, 1 when EPERM, 2 on other errors.
pub fn try_open(path: &std::ffi::CStr) -> i32 {
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::close(fd);
            0
        } else if *libc::__errno_location() == libc::EPERM {
            1
        } else {
            2
        }
    }
}

/// Child body: fork once more; 0 when that worked, 1 on EAGAIN (pids limit), 2 otherwise.
pub fn try_fork() -> i32 {
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        if pid > 0 {
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
            0
        } else if *libc::__errno_location() == libc::EAGAIN {
            1
        } else {
            2
        }
    }
}

/// Child body: sleep until killed.
pub fn sleep_forever() -> i32 {
    loop {
        unsafe { libc::pause() };
    }
}

/// Deletes what a cgroup created on drop, without touching processes (for joined cgroups).
pub struct DeleteOnDrop(pub Cgroup);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if let Err(e) = self.0.delete() {
            eprintln!("cleanup: {e}");
        }
    }
}
