//! `nodectl` against a live node (tests/node: the real `nodelet` binary, as root, in a private
//! mount namespace and a fresh network namespace, a cgroup of the test's own, temp dirs for
//! every path):
//!
//! - `exec` without a terminal: stdout/stderr, the exit code passed through, the "Defaulted
//!   container" notice, `-i` stdin, kubectl's errors for an unknown pod, an unknown container
//!   and a container that is not running;
//! - `exec -it` through a pseudo-terminal the test opens: typed input echoed, `stty size`
//!   inside follows a resize of the outer terminal (SIGWINCH → TIOCSWINSZ), exit code;
//! - `top pods` shows a running pod's memory (16 MiB written to its /dev/shm) and the CPU
//!   rate of a busy loop exec'd into one container;
//! - `ps -w` prints a new row when a pod appears and whenever its row changes (a crashing
//!   container: Running, Error, restarts), and never for unchanged pods;
//! - `get pod -o yaml`, `ps -o yaml`, `logs --since`.
//!
//! `harness = false`: the namespaces are entered before any thread exists. The shim, pause and
//! nodenet binaries come from this target directory (`cargo build --workspace`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Node, NodeEnv};

const IMAGE: &str = "nodelet.test/busybox:1.0";

fn nodectl(node: &Node) -> Command {
    let mut c = Command::new(node::target_bin("nodectl"));
    c.arg("--socket").arg(node.dir("run/nodelet.sock"));
    c
}

/// (exit code, stdout, stderr) of nodectl with `args` and `input` on stdin.
fn run(node: &Node, args: &[&str], input: Option<&str>) -> (i32, String, String) {
    let mut child = nodectl(node)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(i) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(i.as_bytes()).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn container_state<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .map(|c| &c["state"])
        .unwrap_or(&Value::Null)
}

fn named(p: &Value, name: &str) -> bool {
    p["metadata"]["name"] == name
}

/// What a reader thread collected from a pty master or a pipe.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    fn spawn_reader(mut r: impl Read + Send + 'static) -> Collected {
        let c = Collected::default();
        let c2 = c.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                c2.0.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        c
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits until the text after byte `from` contains `want`; returns the end offset.
    fn wait_for(&self, from: usize, want: &str, secs: u64) -> usize {
        let t = Instant::now();
        loop {
            let all = self.0.lock().unwrap().clone();
            let tail = String::from_utf8_lossy(&all[from.min(all.len())..]).into_owned();
            if let Some(i) = tail.find(want) {
                return from + i + want.len();
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {want:?}; got {tail:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn set_winsize(fd: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid struct on an open pty.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

fn exec_without_tty(node: &Node) {
    // Two containers, no -c: the first, with kubectl's notice; stdout, stderr, exit code.
    let (code, out, err) = run(
        node,
        &[
            "exec",
            "shell-node1",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}");
    assert_eq!(out, "out\n");
    assert!(
        err.contains("Defaulted container \"main\" out of: main, side\n"),
        "{err}"
    );
    assert!(err.contains("err\n"), "{err}");
    assert!(err.contains("command terminated with exit code 3"), "{err}");
    // -q: only the process's output.
    let (code, out, err) = run(
        node,
        &[
            "exec",
            "-q",
            "shell-node1",
            "--",
            "/bin/busybox",
            "echo",
            "quiet",
        ],
        None,
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "quiet\n", ""));
    // -c side, -i: stdin passed through; exit 0 prints nothing extra.
    let (code, out, err) = run(
        node,
        &[
            "exec",
            "shell-node1",
            "-c",
            "side",
            "-i",
            "--",
            "/bin/busybox",
            "tr",
            "a-z",
            "A-Z",
        ],
        Some("hello stdin\n"),
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "HELLO STDIN\n", ""));
    // Without -i, stdin is not the process's: `cat` reads /dev/null.
    let (code, out, _) = run(
        node,
        &[
            "exec",
            "shell-node1",
            "-c",
            "side",
            "--",
            "/bin/busybox",
            "cat",
        ],
        Some("not passed\n"),
    );
    assert_eq!((code, out.as_str()), (0, ""));
    // The exec runs in the container: / is the image's.
    let (code, out, err) = run(
        node,
        &[
            "exec",
            "shell-node1",
            "-c",
            "main",
            "--",
            "/bin/busybox",
            "ls",
            "/bin",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "busybox\n"), "{err}");
    // kubectl's errors.
    let (code, _, err) = run(node, &["exec", "nope", "--", "true"], None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
    let (code, _, err) = run(
        node,
        &["exec", "shell-node1", "-c", "zz", "--", "true"],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(err, "error: container zz not found in pod shell-node1\n");
    let (code, _, err) = run(
        node,
        &[
            "exec",
            "oneshot-node1",
            "-c",
            "once",
            "--",
            "/bin/busybox",
            "true",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: unable to upgrade connection: container not found (\"once\")\n"
    );
    let (code, _, err) = run(
        node,
        &["exec", "done-node1", "--", "/bin/busybox", "true"],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: cannot exec into a container in a completed pod; current phase is Succeeded\n"
    );
    // -t without a terminal on stdin: kubectl's warning, no terminal.
    let (code, out, err) = run(
        node,
        &[
            "exec",
            "shell-node1",
            "-c",
            "side",
            "-it",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "test -t 0 && echo tty || echo notty",
        ],
        Some(""),
    );
    assert_eq!((code, out.as_str()), (0, "notty\n"), "{err}");
    assert!(
        err.contains("Unable to use a TTY - input is not a terminal or the right kind of file"),
        "{err}"
    );
}

/// nodectl children left by a failed check are killed by `Cleanup` (their command line names
/// the node's socket in the temp dir).
fn exec_with_tty(node: &Node) {
    let pty = nix::pty::openpty(None, None).unwrap();
    set_winsize(&pty.master, 24, 80);
    let slave = pty.slave;
    let mut cmd = nodectl(node);
    cmd.args([
        "exec",
        "shell-node1",
        "-c",
        "main",
        "-it",
        "--",
        "/bin/busybox",
        "sh",
    ])
    .stdin(Stdio::from(slave.try_clone().unwrap()))
    .stdout(Stdio::from(slave.try_clone().unwrap()))
    .stderr(Stdio::from(slave));
    // A session of its own with the pty as controlling terminal, so that a resize of the
    // terminal sends it SIGWINCH, as in an interactive shell.
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().unwrap();
    let out = Collected::spawn_reader(master.try_clone().unwrap());
    let type_line = |w: &mut std::fs::File, s: &str| {
        w.write_all(s.as_bytes()).unwrap();
        w.write_all(b"\r").unwrap();
    };
    // Typed input comes back (echo by the container's terminal) and the shell answers.
    type_line(&mut writer, "echo typed-$((6*7))");
    let pos = out.wait_for(0, "echo typed-$((6*7))", 20);
    let pos = out.wait_for(pos, "typed-42", 10);
    type_line(&mut writer, "/bin/busybox stty size");
    let pos = out.wait_for(pos, "24 80", 10);
    // Resize the outer terminal: nodectl gets SIGWINCH and resizes the container's.
    let master_fd = OwnedFd::from(master.try_clone().unwrap());
    set_winsize(&master_fd, 40, 132);
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut writer, "/bin/busybox stty size");
    let pos = out.wait_for(pos, "40 132", 10);
    // The exec'd shell has a terminal: `tty` names a pts.
    type_line(&mut writer, "/bin/busybox tty");
    out.wait_for(pos, "/dev/pts/", 10);
    type_line(&mut writer, "exit 7");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nodectl exec -it did not exit; output {:?}",
            out.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(7), "output {:?}", out.text());
    // No NUL reached the container's terminal (it would echo `^@`), none came out of it.
    let text = out.text();
    assert!(!text.contains("^@") && !text.contains('\0'), "{text:?}");
}

fn top(node: &Node) {
    // The main container filled 16 MiB of /dev/shm (tmpfs pages are charged to its cgroup).
    let t = Instant::now();
    loop {
        let (code, out, err) = run(node, &["top", "pods"], None);
        assert_eq!(code, 0, "{err}");
        let mut lines = out.lines();
        assert!(
            lines.next().unwrap_or_default().split_whitespace().eq([
                "NAME",
                "CPU(cores)",
                "MEMORY(bytes)"
            ]),
            "{out}"
        );
        let row: Vec<String> = out
            .lines()
            .find(|l| l.starts_with("shell-node1 "))
            .unwrap_or_else(|| panic!("no shell-node1 row: {out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert!(row[1].ends_with('m'), "{out}");
        let mem: u64 = row[2].trim_end_matches("Mi").parse().unwrap();
        if mem >= 16 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "memory of shell-node1 stays below 16Mi: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // CPU is a rate: a busy loop exec'd into `side` (it joins side's cgroup) for 2 s shows
    // as a large share of a core there, while `main` sleeps.
    let mut busy = nodectl(node)
        .args([
            "exec",
            "shell-node1",
            "-c",
            "side",
            "--",
            "/bin/busybox",
            "timeout",
            "2",
            "/bin/busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let (code, out, err) = run(node, &["top", "pod", "shell-node1", "--containers"], None);
    let _ = busy.wait();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("POD "), "{out}");
    let cpu = |c: &str| -> u64 {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(c))
            .unwrap_or_else(|| panic!("no row for {c}: {out}"));
        row.split_whitespace()
            .nth(2)
            .unwrap()
            .trim_end_matches('m')
            .parse()
            .unwrap()
    };
    assert!(cpu("side") >= 100, "busy side: {out}");
    assert!(cpu("main") < 50, "sleeping main: {out}");
    let (code, _, err) = run(node, &["top", "pod", "nope"], None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
}

fn watch(node: &Node) {
    let mut child = nodectl(node)
        .args(["ps", "-w"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            l2.lock().unwrap().push(l);
        }
    });
    let wait_lines = |what: &str, cond: &dyn Fn(&[String]) -> bool| {
        let t = Instant::now();
        loop {
            let got = lines.lock().unwrap().clone();
            if cond(&got) {
                return got;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "ps -w: {what}; got:\n{}\nnodelet log:\n{}",
                got.join("\n"),
                node.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The table first.
    let first = wait_lines("the initial table", &|l: &[String]| {
        l.iter().any(|x| x.starts_with("shell-node1 "))
    });
    assert!(first[0].starts_with("NAME "), "{first:?}");
    let initial = first.len();
    // A new pod that runs 2 s, fails and is restarted: a row when it appears, and a new row
    // each time its row changes (STATUS, READY, RESTARTS), up to a restart.
    std::fs::write(
        node.dir("manifests/late.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: late}}\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    \
             image: {IMAGE}\n    imagePullPolicy: Never\n    \
             command: [/bin/busybox, sh, -c, 'sleep 2; exit 1']\n"
        ),
    )
    .unwrap();
    let restarts_col = first[0].find("RESTARTS").unwrap();
    let restarts = |row: &str| -> u32 {
        row[restarts_col..]
            .split_whitespace()
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    };
    let got = wait_lines("a row of late-node1 after a restart", &|l: &[String]| {
        l[initial..]
            .iter()
            .any(|x| x.starts_with("late-node1 ") && restarts(x) >= 1)
    });
    let late: Vec<&String> = got[initial..]
        .iter()
        .filter(|x| x.starts_with("late-node1 "))
        .collect();
    assert!(
        late.len() >= 2 && restarts(late[0]) == 0,
        "one row per change: {got:#?}"
    );
    assert!(
        late.iter().any(|x| x.contains(" Running ")),
        "a Running row before the restart: {got:#?}"
    );
    for pair in late.windows(2) {
        assert_ne!(
            pair[0].split_whitespace().take(4).collect::<Vec<_>>(),
            pair[1].split_whitespace().take(4).collect::<Vec<_>>(),
            "a row is printed only when it changes: {got:#?}"
        );
    }
    // Unchanged pods are not printed again.
    assert!(
        !got[initial..].iter().any(|x| x.starts_with("shell-node1 ")),
        "{got:#?}"
    );
    // Columns line up with the header.
    let status_col = got[0].find("STATUS").unwrap();
    let running = late.iter().find(|x| x.contains(" Running ")).unwrap();
    assert_eq!(&running[status_col..status_col + 7], "Running", "{got:#?}");
    let _ = child.kill();
    let _ = child.wait();
}

fn output_formats(node: &Node) {
    let (code, out, err) = run(node, &["get", "pod", "shell-node1", "-o", "yaml"], None);
    assert_eq!(code, 0, "{err}");
    for want in [
        "apiVersion: v1\n",
        "kind: Pod\n",
        "  name: shell-node1\n",
        "  phase: Running\n",
        "  containerStatuses:\n  - containerID: nodelet://",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    let (code, out, err) = run(node, &["ps", "-o", "yaml"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("apiVersion: v1\nitems:\n- apiVersion: v1\n"),
        "{out}"
    );
    assert!(out.contains("\nkind: List\n"), "{out}");
    let (code, out, err) = run(node, &["get", "pods", "shell-node1", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "Pod");
    let (code, _, err) = run(node, &["get", "pod", "nope", "-o", "yaml"], None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
    // logs --since: dd's report (stderr of main) is recent.
    let (code, out, err) = run(
        node,
        &["logs", "shell-node1", "-c", "main", "--since", "10m"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("records in"), "{out}");
    let (code, _, err) = run(
        node,
        &["logs", "shell-node1", "-c", "main", "--since", "soon"],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("--since"), "{err}");
}

fn nodectl_live() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodectl-e2e-", "ctl0", "10.244.8.0/24");
    let archive = t.join("busybox.tar");
    std::fs::write(&archive, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(&node.dir("root"), &archive);
    std::fs::write(
        node.dir("manifests/shell.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "/bin/busybox dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=16; exec /bin/busybox sleep 3600"]
  - name: side
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3601"]
---
apiVersion: v1
kind: Pod
metadata:
  name: oneshot
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
  - name: once
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "true"]
  - name: stay
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3602"]
---
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - name: job
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "true"]
"#
        ),
    )
    .unwrap();
    cleanup.agent = Some(node.start("1"));
    node.wait_pod("shell running", 60, |p| {
        named(p, "shell-node1")
            && !container_state(p, "main")["running"].is_null()
            && !container_state(p, "side")["running"].is_null()
    });
    node.wait_pod("oneshot's once completed", 60, |p| {
        named(p, "oneshot-node1") && !container_state(p, "once")["terminated"].is_null()
    });
    node.wait_pod("done succeeded", 60, |p| {
        named(p, "done-node1") && p["status"]["phase"] == "Succeeded"
    });
    // status.json is written before the API's view is asked: wait for the socket too.
    let t0 = Instant::now();
    while run(&node, &["ps"], None).0 != 0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    exec_without_tty(&node);
    exec_with_tty(&node);
    top(&node);
    output_formats(&node);
    watch(&node);
    // Everything removed before the agent goes: pods torn down.
    for f in ["shell.yaml", "late.yaml"] {
        let _ = std::fs::remove_file(node.dir("manifests").join(f));
    }
    let t1 = Instant::now();
    while !node.pods().is_empty() && t1.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(cleanup);
    drop(cg);
}

fn main() {
    node::run_cases(
        "nodectl_e2e",
        &[("nodectl_against_a_live_node", nodectl_live)],
    );
}
