//! Terminals through `--console-socket` (the pty master arrives by SCM_RIGHTS, as with runc),
//! and `exec` into a running container: namespaces joined, exit codes, --process, --env,
//! --cwd, --user, --detach with --pid-file, and a pty for exec.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

/// Accept one connection on `sock` in a thread and return the received pty master's output.
fn console_reader(sock: &std::path::Path) -> std::thread::JoinHandle<String> {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let master = noderun::sync::recv_fd(conn.as_raw_fd())
            .unwrap()
            .expect("a pty master");
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break, // EIO once the slave side is closed
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}

#[test]
fn console_socket_gives_a_real_tty() {
    if !ready() {
        return;
    }
    let w = World::new("tty");
    let mut c =
        sh("tty; test -t 0 && echo stdin-is-a-tty; stty size; ls -l /dev/console | cut -c1");
    c["process"]["terminal"] = json!(true);
    c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    w.write_config(&c);
    let sock = w.tmp.path().join("console.sock");
    let reader = console_reader(&sock);
    let id = w.id("t");
    let (ok, err) = w.create(&id, &["--console-socket", sock.to_str().unwrap()]);
    assert!(ok, "{err}");
    w.ok(&["start", &id]);
    let out = reader.join().unwrap();
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("stdin-is-a-tty"), "{out}");
    assert!(out.contains("30 100"), "{out}");
    w.wait_status(&id, "stopped");
    w.ok(&["delete", &id]);
    // terminal without a console socket and not in the foreground is an error
    let id2 = w.id("t2");
    let (ok, err) = w.create(&id2, &[]);
    assert!(!ok);
    assert!(err.contains("process.terminal"), "{err}");
    assert_nothing_left(&w, &id2);
}

#[test]
fn exec_into_a_running_container() {
    if !ready() {
        return;
    }
    let w = World::new("exec");
    let mut c = sh("echo ready > /tmp/ready; sleep 100");
    c["hostname"] = json!("exechost");
    w.write_config(&c);
    let id = w.id("e");
    assert!(w.create(&id, &[]).0);
    w.ok(&["start", &id]);
    let o = w.nr(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /tmp/ready; ps -o pid,comm | grep sleep; exit 5",
    ]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("exechost\nready\n"), "{out}");
    assert!(out.contains("sleep"), "same pid namespace: {out}");

    let out = w.ok(&[
        "exec",
        "--env",
        "A=b",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        &id,
        "sh",
        "-c",
        "echo $A; pwd; id -u; id -g",
    ]);
    assert_eq!(out, "b\n/tmp\n65534\n65534\n");

    let pfile = w.tmp.path().join("process.json");
    std::fs::write(
        &pfile,
        serde_json::to_vec(&json!({"args": ["sh", "-c", "echo from-process-file $X"], "env": ["X=1", "PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}})).unwrap(),
    )
    .unwrap();
    assert_eq!(
        w.ok(&["exec", "--process", pfile.to_str().unwrap(), &id]),
        "from-process-file 1\n"
    );
    std::fs::write(
        &pfile,
        r#"{"args": ["true"], "cwd": 5, "user": {"uid": 0, "gid": 0}}"#,
    )
    .unwrap();
    let o = w.nr(&["exec", "--process", pfile.to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("process.json: cwd"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let pidfile = w.tmp.path().join("exec.pid");
    let o = w
        .cmd()
        .args([
            "exec",
            "--detach",
            "--pid-file",
            pidfile.to_str().unwrap(),
            &id,
            "sleep",
            "77",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let pids: Vec<i32> = serde_json::from_str(&w.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(
        pids.contains(&pid),
        "the exec'd process is in the container's cgroup: {pids:?} {pid}"
    );

    // exec with a pty through a console socket
    let sock = w.tmp.path().join("exec-console.sock");
    let reader = console_reader(&sock);
    let o = w.nr(&[
        "exec",
        "--tty",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(reader.join().unwrap().contains("/dev/pts/"));

    let o = w.nr(&["exec", &id, "/no/such/binary"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/binary"));

    w.ok(&["kill", &id, "KILL"]);
    w.wait_status(&id, "stopped");
    let o = w.nr(&["exec", &id, "true"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not running"));
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}
