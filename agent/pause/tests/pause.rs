//! nodelet-pause, both builds: the binary cargo builds for this test run (in the dev profile
//! the std entry point, as the other crates' tests use it; with `--release` the freestanding
//! one) and the shipped one (`scripts/build-static.sh`: freestanding, no libc) run the same
//! checks: `-v`, the not-pid-1 warning, exit 0 on SIGINT/SIGTERM, and as pid 1 of a new pid
//! namespace reaping a zombie present at start and one reparented to it later. The shipped
//! build must also be a small static non-PIE executable that stays within 64 KiB of RSS.

use nix::libc;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The promise checked here (measured: a 2.3 KB binary, 12-16 KiB resident).
const SHIPPED_MAX_SIZE: u64 = 64 * 1024;
const SHIPPED_MAX_RSS_KIB: u64 = 64;
const NOT_PID1: &str = "nodelet-pause: warning: not running as pid 1\n";
/// x86_64 rt_sigtimedwait: where the pause waits.
const SYS_RT_SIGTIMEDWAIT: &str = "128";

/// The binary cargo built for this test run.
fn cargo_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nodelet-pause"))
}

/// Builds the shipped binary once per test process, the way scripts/build-dist.sh does.
fn shipped() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| nodelet_testkit::build_static(&["nodelet-pause"]).remove(0))
}

/// A child of this process: SIGKILLed and reaped on drop unless already reaped.
struct Proc {
    pid: i32,
    reaped: bool,
}

impl Proc {
    /// Waits up to `timeout` for the exit: `Ok(code)` on a normal exit, `Err(signal)` if
    /// killed by a signal.
    fn wait(&mut self, timeout: Duration) -> Result<i32, i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
            if r == self.pid {
                self.reaped = true;
                return if libc::WIFEXITED(status) {
                    Ok(libc::WEXITSTATUS(status))
                } else {
                    Err(libc::WTERMSIG(status))
                };
            }
            assert!(Instant::now() < deadline, "pid {} did not exit", self.pid);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own unreaped child.
        assert_eq!(unsafe { libc::kill(self.pid, sig) }, 0);
    }

    /// Waits until the pause sits in rt_sigtimedwait (its signal mask is set up; at start it
    /// has reaped once).
    fn wait_until_waiting(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", self.pid));
            let sys = std::fs::read_to_string(format!("/proc/{}/syscall", self.pid));
            if let (Ok(comm), Ok(sys)) = (comm, sys)
                && comm.trim() == "nodelet-pause"
                && sys.split_whitespace().next() == Some(SYS_RT_SIGTIMEDWAIT)
            {
                return;
            }
            assert!(Instant::now() < deadline, "pause never started waiting");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Child pids (zombies included) as the kernel lists them.
    fn children(&self) -> Vec<i32> {
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid))
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }

    /// Resident set in KiB (smaps_rollup).
    fn rss_kib(&self) -> u64 {
        nodelet_testkit::rss_kib(self.pid)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our own unreaped child (SIGKILL on a namespace's init kills the namespace).
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

fn state(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].chars().next()?.to_string()))
        .unwrap_or_else(|| "gone".into())
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

fn check_version(bin: &Path) {
    let out = Command::new(bin).arg("-v").output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("nodelet-pause {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Not pid 1: warns on stderr, keeps waiting, exits 0 on `sig`.
fn check_not_pid1(bin: &Path, sig: i32) {
    #[expect(
        clippy::zombie_processes,
        reason = "Proc reaps it with waitpid (and kills it first on drop)"
    )]
    let mut child = Command::new(bin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut p = Proc {
        pid: child.id() as i32,
        reaped: false,
    };
    p.wait_until_waiting();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(state(p.pid), "S", "still waiting");
    p.signal(sig);
    assert_eq!(
        p.wait(Duration::from_secs(5)),
        Ok(0),
        "exit code after {sig}"
    );
    assert_eq!(read_all(stderr.into()), NOT_PID1);
}

/// fork(2) as the bare system call: the parent of these forks has test threads, and glibc's
/// fork() would take its locks (malloc's) in a child that may inherit them held.
/// Returns the child's pid in the parent, 0 in the child.
fn raw_fork(flags: libc::c_long) -> i32 {
    // SAFETY: clone without a new stack behaves like fork; the children below only make
    // async-signal-safe calls before _exit or execv.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_long,
            0,
            0,
            0,
            0,
        ) as i32
    }
}

/// Runs `bin` as pid 1 of a new pid namespace with a zombie child from before its start and a
/// grandchild that is reparented to it and exits later; checks both are reaped, nothing is
/// written to stderr and SIGTERM (from the parent namespace) ends it with 0. Returns the RSS
/// in KiB measured while it waits.
fn check_pid1(bin: &Path) -> u64 {
    use std::ffi::CString;
    let path = CString::new(bin.as_os_str().as_encoded_bytes()).unwrap();
    let argv = [path.as_ptr(), std::ptr::null()];
    let (release_r, release_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (rr, ew) = (release_r.as_raw_fd(), err_w.as_raw_fd());
    let pid = raw_fork(libc::CLONE_NEWPID as libc::c_long);
    assert!(pid >= 0, "clone: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: the child (pid 1 of the new namespace) makes only async-signal-safe calls.
        unsafe {
            // A child that is a zombie before the pause starts.
            if raw_fork(0) == 0 {
                libc::_exit(0);
            }
            // A grandchild orphaned at once (reparented to pid 1), exiting when the test
            // closes the release pipe.
            let w = raw_fork(0);
            if w == 0 {
                if raw_fork(0) == 0 {
                    // Only the read end stays open (not the write end, nor pipes of other
                    // tests' children inherited from this process).
                    libc::syscall(libc::SYS_close_range, 3, rr - 1, 0);
                    libc::syscall(libc::SYS_close_range, rr + 1, u32::MAX, 0);
                    let mut b = 0u8;
                    while libc::read(rr, (&raw mut b).cast(), 1) < 0
                        && *libc::__errno_location() == libc::EINTR
                    {}
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            libc::waitpid(w, std::ptr::null_mut(), 0);
            libc::dup2(ew, 2);
            libc::execv(path.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut p = Proc { pid, reaped: false };
    drop((release_r, err_w));
    p.wait_until_waiting();
    // The zombie from before the start is gone; only the waiting grandchild is left.
    let kids = p.children();
    assert_eq!(kids.len(), 1, "children of the pause at start: {kids:?}");
    let grandchild = kids[0];
    // It blocks on its read soon after it starts; on a loaded machine it may still be running.
    let t = Instant::now();
    while state(grandchild) == "R" && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(state(grandchild), "S");
    drop(release_w);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !p.children().is_empty() {
        assert!(
            Instant::now() < deadline,
            "grandchild {grandchild} not reaped: state {}",
            state(grandchild)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p.wait_until_waiting();
    let rss = p.rss_kib();
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait(Duration::from_secs(5)), Ok(0));
    assert_eq!(read_all(err_r), "", "stderr as pid 1");
    rss
}

#[test]
fn cargo_bin_version() {
    check_version(cargo_bin());
}

#[test]
fn cargo_bin_not_pid1_warns_and_exits_0_on_sigint_and_sigterm() {
    check_not_pid1(cargo_bin(), libc::SIGINT);
    check_not_pid1(cargo_bin(), libc::SIGTERM);
}

#[test]
fn cargo_bin_as_pid1_reaps_zombies_and_stops_on_sigterm() {
    nodelet_testkit::require_root("namespaces");
    let rss = check_pid1(cargo_bin());
    eprintln!("cargo-built binary RSS as pid 1: {rss} KiB");
}

#[test]
fn shipped_build_is_small_static_and_freestanding() {
    let bin = shipped();
    let data = std::fs::read(bin).unwrap();
    eprintln!("{}: {} bytes", bin.display(), data.len());
    assert!(
        (data.len() as u64) < SHIPPED_MAX_SIZE,
        "{} bytes",
        data.len()
    );
    // Little-endian ELF64, ET_EXEC (static, not PIE), no PT_INTERP or PT_DYNAMIC.
    assert!(data.len() >= 64 && &data[..6] == b"\x7fELF\x02\x01");
    let u16at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap());
    let u32at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let u64at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap());
    assert_eq!(u16at(0x10), 2, "e_type ET_EXEC");
    let (phoff, phentsize, phnum) = (u64at(0x20) as usize, u16at(0x36) as usize, u16at(0x38));
    for i in 0..usize::from(phnum) {
        let ty = u32at(phoff + i * phentsize);
        assert!(
            ty != 2 && ty != 3,
            "program header {i} is PT_DYNAMIC/PT_INTERP"
        );
    }
    // Nothing of glibc or std's runtime got linked in.
    for needle in [b"GLIBC".as_slice(), b"RUST_BACKTRACE", b"__libc_start_main"] {
        assert!(
            !data.windows(needle.len()).any(|w| w == needle),
            "{} found",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn shipped_build_version() {
    check_version(shipped());
}

#[test]
fn shipped_build_not_pid1_warns_and_exits_0_on_sigint_and_sigterm() {
    check_not_pid1(shipped(), libc::SIGINT);
    check_not_pid1(shipped(), libc::SIGTERM);
}

#[test]
fn shipped_build_as_pid1_reaps_zombies_stops_on_sigterm_within_64k_rss() {
    nodelet_testkit::require_root("namespaces");
    let rss = check_pid1(shipped());
    eprintln!("shipped build RSS as pid 1: {rss} KiB");
    assert!(rss <= SHIPPED_MAX_RSS_KIB, "RSS {rss} KiB");
}
