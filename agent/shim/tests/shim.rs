//! The shim end to end as root: containers created and started over its socket, CRI logs,
//! durable exit records (code, OOM), reconnecting after the "agent" went away, exec with
//! output and timeout, delete and shutdown.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodelet_shim_protocol::protocol::{Client, ContainerInfo, Request, Response};
use serde_json::json;

fn bundle(base: &Path, name: &str, script: &str, memory: Option<u64>) -> PathBuf {
    let b = base.join(name);
    nodelet_testkit::busybox_rootfs(&b.join("rootfs"), &[]);
    let mut spec = serde_json::to_value(oci_spec::runtime::Spec::default()).unwrap();
    spec["ociVersion"] = json!("1.2.0");
    spec["process"]["args"] = json!(["sh", "-c", script]);
    spec["process"]["terminal"] = json!(false);
    spec["root"]["readonly"] = json!(false);
    if let Some(m) = memory {
        spec["linux"]["resources"] = json!({"memory": {"limit": m, "swap": m}});
    }
    std::fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    b
}

struct Shim {
    child: std::process::Child,
    sock: PathBuf,
    /// noderun's state root and binary: containers the shim could not delete (it died, the
    /// disk was full) are force-deleted with them on drop.
    rt: PathBuf,
    runtime: PathBuf,
}

impl Shim {
    fn spawn(dir: &Path, rt: &Path) -> Shim {
        Shim::spawn_binary(Path::new(env!("CARGO_BIN_EXE_nodelet-shim")), dir, rt)
    }

    /// `shim` with the noderun that `cargo build --workspace` made.
    fn spawn_binary(shim: &Path, dir: &Path, rt: &Path) -> Shim {
        let runtime = Path::new(env!("CARGO_BIN_EXE_nodelet-shim")).with_file_name("noderun");
        assert!(
            runtime.is_file(),
            "{} missing: run `cargo build --workspace` first",
            runtime.display()
        );
        let mut child = Command::new(shim)
            .args([
                "--dir",
                dir.to_str().unwrap(),
                "--runtime-root",
                rt.to_str().unwrap(),
                "--runtime",
                runtime.to_str().unwrap(),
                "--log-max-size",
                "100000",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        Shim {
            child,
            sock: dir.join("shim.sock"),
            rt: rt.to_path_buf(),
            runtime: runtime.to_path_buf(),
        }
    }
    fn client(&self) -> Client {
        Client::connect(&self.sock).unwrap()
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.sock)
            && let Ok(Response::Containers { containers }) = c.call(&Request::List)
        {
            for ci in containers {
                let _ = c.call(&Request::Delete {
                    id: ci.id,
                    force: true,
                });
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever is left (a test that failed half-way): killed, its cgroup and state removed.
        if let Ok(rd) = std::fs::read_dir(&self.rt) {
            for e in rd.flatten() {
                let _ = Command::new(&self.runtime)
                    .arg("--root")
                    .arg(&self.rt)
                    .args(["delete", "--force"])
                    .arg(e.file_name())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn wait_exit(c: &mut Client, id: &str) -> ContainerInfo {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Response::Container(info) = c.call(&Request::State { id: id.into() }).unwrap() else {
            panic!()
        };
        if info.exit.is_some() {
            return info;
        }
        assert!(Instant::now() < deadline, "{id} did not exit: {info:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shim_runs_logs_and_records_exits() {
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let pfx = format!("shim{}", std::process::id());
    let (c1, c2, c3) = (
        format!("{pfx}-c1"),
        format!("{pfx}-c2"),
        format!("{pfx}-oom"),
    );
    let log = t.path().join("logs/c1/0.log");

    let mut c = shim.client();
    let b1 = bundle(
        t.path(),
        "b1",
        "echo out1; echo err1 >&2; sleep 0.2; echo out2; exit 3",
        None,
    );
    let r = c
        .call(&Request::Create {
            id: c1.clone(),
            bundle: b1,
            log_path: Some(log.clone()),
            oom_counter: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        })
        .unwrap();
    assert!(matches!(r, Response::Created { pid } if pid > 0), "{r:?}");
    assert_eq!(
        c.call(&Request::Start { id: c1.clone() }).unwrap(),
        Response::Ok
    );
    drop(c); // the agent goes away...

    let mut c = shim.client(); // ...and comes back: the exit was recorded meanwhile
    let info = wait_exit(&mut c, &c1);
    let exit = info.exit.unwrap();
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed),
        (3, None, false)
    );
    assert_eq!(info.status, "stopped");
    assert!(!exit.started_at.is_empty() && exit.finished_at >= exit.started_at);
    assert!(
        t.path().join(format!("shim/exits/{c1}.json")).exists(),
        "durable exit record"
    );
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let p = nodelet_shim_protocol::crilog::parse_line(l).unwrap();
            (p.stream.to_string(), p.text.to_string())
        })
        .collect();
    assert!(lines.contains(&("stdout".into(), "out1".into())), "{text}");
    assert!(lines.contains(&("stderr".into(), "err1".into())), "{text}");
    assert!(lines.contains(&("stdout".into(), "out2".into())), "{text}");

    // exec with output, exit code and timeout
    let b2 = bundle(t.path(), "b2", "sleep 100", None);
    c.call(&Request::Create {
        id: c2.clone(),
        bundle: b2,
        log_path: None,
        oom_counter: None,
        stdin: false,
        stdin_once: false,
        tty: false,
    })
    .unwrap();
    c.call(&Request::Start { id: c2.clone() }).unwrap();
    let mut p = oci_spec::runtime::Process::default();
    p.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo hi; echo e >&2; exit 4".into(),
    ]));
    let r = c
        .call(&Request::Exec {
            id: c2.clone(),
            process: serde_json::to_value(&p).unwrap(),
            timeout_ms: 5000,
        })
        .unwrap();
    let Response::Exec(x) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (
            x.exit_code,
            x.timed_out,
            x.stdout.as_str(),
            x.stderr.as_str()
        ),
        (4, false, "hi\n", "e\n")
    );
    p.set_args(Some(vec!["sleep".into(), "10".into()]));
    let t0 = Instant::now();
    let Response::Exec(x) = c
        .call(&Request::Exec {
            id: c2.clone(),
            process: serde_json::to_value(&p).unwrap(),
            timeout_ms: 300,
        })
        .unwrap()
    else {
        panic!()
    };
    assert!(x.timed_out && x.exit_code == 137, "{x:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    c.call(&Request::Kill {
        id: c2.clone(),
        signal: 9,
        all: false,
    })
    .unwrap();
    let exit = wait_exit(&mut c, &c2).exit.unwrap();
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed),
        (137, Some(9), false)
    );

    // an OOM kill is recorded as such
    let b3 = bundle(t.path(), "b3", "tail /dev/zero", Some(32 << 20));
    // The runtime puts a container without cgroupsPath below its caller's cgroup (ours).
    let oom_counter = noderun_cgroups::Cgroup::resolve(None, &c3)
        .unwrap()
        .oom_kills_file()
        .unwrap();
    c.call(&Request::Create {
        id: c3.clone(),
        bundle: b3,
        log_path: None,
        oom_counter: Some(oom_counter),
        stdin: false,
        stdin_once: false,
        tty: false,
    })
    .unwrap();
    c.call(&Request::Start { id: c3.clone() }).unwrap();
    let exit = wait_exit(&mut c, &c3).exit.unwrap();
    assert_eq!((exit.exit_code, exit.oom_killed), (137, true));

    let Response::Containers { containers } = c.call(&Request::List).unwrap() else {
        panic!()
    };
    assert_eq!(containers.len(), 3);
    for id in [&c1, &c2, &c3] {
        assert_eq!(
            c.call(&Request::Delete {
                id: id.to_string(),
                force: false
            })
            .unwrap(),
            Response::Ok
        );
    }
    assert!(!t.path().join(format!("shim/exits/{c1}.json")).exists());
    let e = c.call(&Request::State { id: c1.clone() }).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert_eq!(c.call(&Request::Shutdown).unwrap(), Response::Ok);
    drop(c);
    let mut shim = shim;
    let st = shim.child.wait().unwrap();
    assert!(st.success());
}

#[test]
fn log_flood_keeps_disk_bounded_and_the_shim_responsive() {
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    // Shim::spawn rotates at 100000 bytes; the shim keeps 5 files by default.
    let (max_size, max_files) = (100_000u64, 5u64);
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let id = format!("shim{}-flood", std::process::id());
    let b = bundle(
        t.path(),
        "flood",
        "exec yes 0123456789abcdefghijklmnopqrstuvwxyz",
        None,
    );
    let logs = t.path().join("logs/flood");
    let mut c = shim.client();
    let r = c
        .call(&Request::Create {
            id: id.clone(),
            bundle: b,
            log_path: Some(logs.join("0.log")),
            oom_counter: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        })
        .unwrap();
    assert!(matches!(r, Response::Created { .. }), "{r:?}");
    assert_eq!(
        c.call(&Request::Start { id: id.clone() }).unwrap(),
        Response::Ok
    );
    let dir_bytes = || -> u64 {
        std::fs::read_dir(&logs)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    let start = Instant::now();
    let (mut peak, mut slowest) = (0u64, Duration::ZERO);
    while start.elapsed() < Duration::from_secs(3) {
        let t0 = Instant::now();
        let r = c.call(&Request::State { id: id.clone() }).unwrap();
        slowest = slowest.max(t0.elapsed());
        assert!(matches!(r, Response::Container(_)), "{r:?}");
        peak = peak.max(dir_bytes());
        std::thread::sleep(Duration::from_millis(10));
    }
    let names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    eprintln!("flood: peak {peak} bytes, slowest answer {slowest:?}, files {names:?}");
    // Lots was written (many rotations), yet disk use stayed within the limits: max_files
    // files of max_size, plus one line, plus a compressed copy while one is being gzipped.
    assert!(
        names.iter().any(|n| n.ends_with(".gz")),
        "no compressed rotation: {names:?}"
    );
    // Files, not counting a compression in progress (its source goes once it is done).
    let kept = names.iter().filter(|n| !n.ends_with(".tmp")).count();
    assert!(kept as u64 <= max_files + 1, "{names:?}");
    assert!(
        peak <= max_size * max_files + max_size / 2,
        "peak {peak} bytes: {names:?}"
    );
    // The shim answered the agent promptly throughout the flood.
    assert!(
        slowest < Duration::from_millis(500),
        "slowest answer {slowest:?}"
    );
    let r = c
        .call(&Request::Delete {
            id: id.clone(),
            force: true,
        })
        .unwrap();
    assert_eq!(r, Response::Ok);
}

/// A `Watch` connection gets an `Exited` line for each container exit, after its exit record
/// is on disk; other connections keep working, and a watcher that goes away is forgotten.
#[test]
fn watchers_are_told_of_exits() {
    use std::io::Write;
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let id = format!("shim{}-watched", std::process::id());
    let watch = |sock: &Path| {
        let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"{\"op\":\"watch\"}\n").unwrap();
        let mut r = std::io::BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(
            serde_json::from_str::<Response>(&line).unwrap(),
            Response::Ok
        );
        r
    };
    let mut w1 = watch(&shim.sock);
    let gone = watch(&shim.sock);
    drop(gone);
    let mut w2 = watch(&shim.sock);
    let mut c = shim.client();
    let b = bundle(t.path(), "b", "sleep 0.3; exit 5", None);
    c.call(&Request::Create {
        id: id.clone(),
        bundle: b,
        log_path: None,
        oom_counter: None,
        stdin: false,
        stdin_once: false,
        tty: false,
    })
    .unwrap();
    let t0 = Instant::now();
    c.call(&Request::Start { id: id.clone() }).unwrap();
    for w in [&mut w1, &mut w2] {
        let mut line = String::new();
        w.read_line(&mut line).unwrap();
        assert_eq!(
            serde_json::from_str::<Response>(&line).unwrap(),
            Response::Exited { id: id.clone() },
            "{line}"
        );
        assert!(
            t.path().join(format!("shim/exits/{id}.json")).exists(),
            "exit record written before the watchers are told"
        );
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let Response::Container(info) = c.call(&Request::State { id: id.clone() }).unwrap() else {
        panic!()
    };
    assert_eq!(info.exit.map(|e| e.exit_code), Some(5));
    c.call(&Request::Delete {
        id: id.clone(),
        force: false,
    })
    .unwrap();
}

/// The runtime's own errors come back as the answer's message (from its JSON log), never into
/// the container's log; the failed container leaves nothing behind.
#[test]
fn runtime_errors_are_answers_not_log_lines() {
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let id = format!("shim{}-bad", std::process::id());
    let mut c = shim.client();
    let b = bundle(t.path(), "b", "unused", None);
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["process"]["args"] = json!(["no-such-program"]);
    std::fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let log = t.path().join("logs/bad/0.log");
    let e = c
        .call(&Request::Create {
            id: id.clone(),
            bundle: b,
            log_path: Some(log.clone()),
            oom_counter: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("create {id}")) && e.contains("\"no-such-program\" not found"),
        "{e}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.is_empty(),
        "runtime error in the container log: {logged}"
    );
    assert!(!t.path().join("rt").join(&id).exists(), "state left behind");
    let Response::Containers { containers } = c.call(&Request::List).unwrap() else {
        panic!()
    };
    assert!(containers.is_empty(), "{containers:?}");
    // The runtime checks an exec's process and names the field it lacks.
    let e = c
        .call(&Request::Exec {
            id: id.clone(),
            process: json!({"args": ["true"], "cwd": "/"}),
            timeout_ms: 1000,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `user`"), "{e}");
    // Operations on a container that does not exist are refused by the runtime, by name.
    let e = c
        .call(&Request::Exec {
            id: id.clone(),
            process: serde_json::to_value(oci_spec::runtime::Process::default()).unwrap(),
            timeout_ms: 1000,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("exec {id}")) && e.contains("does not exist"),
        "{e}"
    );
    let e = c
        .call(&Request::Start { id: id.clone() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("was not created by this shim"), "{e}");
    let e = c
        .call(&Request::Kill {
            id: id.clone(),
            signal: 15,
            all: true,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("kill {id}")) && e.contains("does not exist"),
        "{e}"
    );
}

/// The written promise (issue 4): a pod's shim and pause together stay within 1.5 MB of
/// resident memory. The shipped static shim serves a pod as nodelet drives it: the shipped
/// pause as the sandbox container, an app container that logs, an exec probe, List calls;
/// then both processes' resident sets (all their pages, shared ones included) are added up.
#[test]
fn shipped_shim_and_pause_stay_within_1_5_mb() {
    nodelet_testkit::require_root("containers through noderun");
    const LIMIT_BYTES: u64 = 1_500_000;
    let built = nodelet_testkit::build_static(&["nodelet-shim", "nodelet-pause"]);
    let (shim_bin, pause_bin) = (&built[0], &built[1]);
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn_binary(shim_bin, &t.path().join("shim"), &t.path().join("rt"));
    let pfx = format!("shim{}-fp", std::process::id());
    let (sandbox, app) = (format!("{pfx}-pause"), format!("{pfx}-app"));
    let mut c = shim.client();

    let pb = bundle(t.path(), "pause", "unused", None);
    std::fs::copy(pause_bin, pb.join("rootfs/pause")).unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pb.join("config.json")).unwrap()).unwrap();
    spec["process"]["args"] = json!(["/pause"]);
    std::fs::write(pb.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let ab = bundle(
        t.path(),
        "app",
        "while true; do echo tick; echo tock >&2; sleep 0.05; done",
        None,
    );
    let mut pids = vec![];
    for (id, b, log) in [
        (&sandbox, pb, None),
        (&app, ab, Some(t.path().join("app.log"))),
    ] {
        let Response::Created { pid } = c
            .call(&Request::Create {
                id: id.clone(),
                bundle: b,
                log_path: log,
                oom_counter: None,
                stdin: false,
                stdin_once: false,
                tty: false,
            })
            .unwrap()
        else {
            panic!()
        };
        c.call(&Request::Start { id: id.clone() }).unwrap();
        pids.push(pid);
    }
    let mut p = oci_spec::runtime::Process::default();
    p.set_args(Some(vec!["echo".into(), "probe".into()]));
    for _ in 0..3 {
        let r = c
            .call(&Request::Exec {
                id: app.clone(),
                process: serde_json::to_value(&p).unwrap(),
                timeout_ms: 5000,
            })
            .unwrap();
        assert!(matches!(&r, Response::Exec(x) if x.exit_code == 0), "{r:?}");
        let Response::Containers { containers } = c.call(&Request::List).unwrap() else {
            panic!()
        };
        assert!(
            containers.iter().all(|ci| ci.status == "running"),
            "{containers:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(t.path().join("app.log")).unwrap();
    assert!(
        log.contains(" stdout F tick") && log.contains(" stderr F tock"),
        "{log}"
    );

    let shim_kib = nodelet_testkit::rss_kib(shim.child.id() as i32);
    let pause_kib = nodelet_testkit::rss_kib(pids[0]);
    let total = (shim_kib + pause_kib) * 1024;
    eprintln!("resident: shim {shim_kib} KiB + pause {pause_kib} KiB = {total} bytes");
    assert!(
        total <= LIMIT_BYTES,
        "shim {shim_kib} KiB + pause {pause_kib} KiB = {total} bytes > {LIMIT_BYTES}"
    );
    for id in [&app, &sandbox] {
        c.call(&Request::Kill {
            id: id.clone(),
            signal: 9,
            all: false,
        })
        .unwrap();
        wait_exit(&mut c, id);
    }
}

/// Attach frames received so far: (channel, payload).
type Frames = std::sync::Arc<std::sync::Mutex<Vec<(u8, Vec<u8>)>>>;

/// Reads attach frames on a thread; what came so far is in the returned buffer, and the flag
/// turns true at `END` (or the end of the stream).
fn collect_frames(
    mut r: std::io::BufReader<std::os::unix::net::UnixStream>,
) -> (Frames, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use nodelet_shim_protocol::attach;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (g, e) = (got.clone(), ended.clone());
    std::thread::spawn(move || {
        while let Ok(Some(f)) = attach::read_frame(&mut r) {
            let end = f.0 == attach::END;
            g.lock().unwrap().push(f);
            if end {
                break;
            }
        }
        e.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    (got, ended)
}

fn text_of(frames: &std::sync::Mutex<Vec<(u8, Vec<u8>)>>, channel: u8) -> String {
    let f = frames.lock().unwrap();
    let bytes: Vec<u8> = f
        .iter()
        .filter(|(c, _)| *c == channel)
        .flat_map(|(_, d)| d.clone())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn wait_for(what: &str, f: impl Fn() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: {}", show());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tty_containers_get_a_terminal_that_attach_drives_and_the_log_records() {
    use nodelet_shim_protocol::attach;
    use std::io::Write;
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let id = format!("shim{}-tty", std::process::id());
    let log = t.path().join("logs/tty/0.log");
    let b = bundle(t.path(), "btty", "echo started; exec sh", None);
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(true);
    spec["process"]["env"] = json!(["PATH=/bin:/usr/bin", "PS1=# "]);
    std::fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let mut c = shim.client();
    let r = c
        .call(&Request::Create {
            id: id.clone(),
            bundle: b,
            log_path: Some(log.clone()),
            oom_counter: None,
            stdin: true,
            stdin_once: false,
            tty: true,
        })
        .unwrap();
    assert!(matches!(r, Response::Created { .. }), "{r:?}");
    let a = shim.client().attach(&id, true).unwrap();
    let (got, ended) = collect_frames(a.reader);
    let mut w = a.writer;
    c.call(&Request::Start { id: id.clone() }).unwrap();
    w.write_all(&attach::resize_frame(33, 111)).unwrap();
    w.write_all(&attach::frame(
        attach::STDIN,
        b"tty; stty size; echo sum=$((40+2))\n",
    ))
    .unwrap();
    let out = || text_of(&got, attach::STDOUT);
    wait_for("terminal output", || out().contains("sum=42"), out);
    let o = out();
    assert!(o.contains("started"), "{o}");
    assert!(o.contains("/dev/pts/0"), "a terminal: {o}");
    assert!(o.contains("33 111"), "the resize reached the terminal: {o}");
    assert!(
        text_of(&got, attach::STDERR).is_empty(),
        "a terminal is all stdout"
    );
    // A second session sees what comes next; the first one leaving changes nothing.
    drop(w);
    let b2 = shim.client().attach(&id, true).unwrap();
    let (got2, ended2) = collect_frames(b2.reader);
    let mut w2 = b2.writer;
    w2.write_all(&attach::frame(attach::STDIN, b"echo again; exit 5\n"))
        .unwrap();
    let out2 = || text_of(&got2, attach::STDOUT);
    wait_for("second session", || out2().contains("again"), out2);
    let exit = wait_exit(&mut c, &id).exit.unwrap();
    assert_eq!(exit.exit_code, 5);
    wait_for(
        "END after the exit",
        || ended2.load(std::sync::atomic::Ordering::SeqCst),
        out2,
    );
    assert!(ended.load(std::sync::atomic::Ordering::SeqCst) || out().contains("sum=42"));
    // The log has the terminal's output, all on stdout.
    let text = std::fs::read_to_string(&log).unwrap();
    let parsed: Vec<_> = text
        .lines()
        .map(|l| nodelet_shim_protocol::crilog::parse_line(l).unwrap())
        .collect();
    assert!(parsed.iter().all(|p| p.stream == "stdout"), "{text}");
    assert!(
        text.contains("started") && text.contains("sum=42"),
        "{text}"
    );
    c.call(&Request::Delete {
        id: id.clone(),
        force: true,
    })
    .unwrap();
}

#[test]
fn stdin_is_held_open_and_stdin_once_closes_it_after_the_first_session() {
    use nodelet_shim_protocol::attach;
    use std::io::Write;
    nodelet_testkit::require_root("containers through noderun");
    let t = tempfile::tempdir().unwrap();
    let shim = Shim::spawn(&t.path().join("shim"), &t.path().join("rt"));
    let pfx = format!("shim{}", std::process::id());
    let mut c = shim.client();
    let create = |c: &mut Client, id: &str, once: bool| {
        let b = bundle(t.path(), id, "cat; echo stdin-closed", None);
        let r = c
            .call(&Request::Create {
                id: id.to_string(),
                bundle: b,
                log_path: None,
                oom_counter: None,
                stdin: true,
                stdin_once: once,
                tty: false,
            })
            .unwrap();
        assert!(matches!(r, Response::Created { .. }), "{r:?}");
        c.call(&Request::Start { id: id.to_string() }).unwrap();
    };
    // stdin without stdinOnce: held open across sessions (cat never sees EOF).
    let held = format!("{pfx}-held");
    create(&mut c, &held, false);
    let a = shim.client().attach(&held, true).unwrap();
    let (got, _) = collect_frames(a.reader);
    let mut w = a.writer;
    w.write_all(&attach::frame(attach::STDIN, b"one\n"))
        .unwrap();
    let out = || text_of(&got, attach::STDOUT);
    wait_for("echoed by cat", || out().contains("one"), out);
    w.write_all(&attach::frame(attach::CLOSE_STDIN, &[]))
        .unwrap();
    drop(w);
    std::thread::sleep(Duration::from_millis(500));
    let Response::Container(info) = c.call(&Request::State { id: held.clone() }).unwrap() else {
        panic!()
    };
    assert_eq!(info.status, "running", "stdin stays open: {info:?}");
    // stdinOnce: the first session's end closes it.
    let once = format!("{pfx}-once");
    create(&mut c, &once, true);
    let a = shim.client().attach(&once, true).unwrap();
    let (got, ended) = collect_frames(a.reader);
    let mut w = a.writer;
    w.write_all(&attach::frame(attach::STDIN, b"two\n"))
        .unwrap();
    w.write_all(&attach::frame(attach::CLOSE_STDIN, &[]))
        .unwrap();
    let out = || text_of(&got, attach::STDOUT);
    wait_for(
        "EOF after the session's input",
        || out().contains("stdin-closed"),
        out,
    );
    assert!(out().starts_with("two\n"), "{}", out());
    assert_eq!(wait_exit(&mut c, &once).exit.unwrap().exit_code, 0);
    wait_for(
        "END",
        || ended.load(std::sync::atomic::Ordering::SeqCst),
        out,
    );
    // stdinOnce, and the client just goes (a detach): the same.
    let gone = format!("{pfx}-gone");
    create(&mut c, &gone, true);
    let a = shim.client().attach(&gone, true).unwrap();
    let mut w = a.writer;
    w.write_all(&attach::frame(attach::STDIN, b"three\n"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    w.shutdown(std::net::Shutdown::Both).unwrap();
    drop((w, a.reader));
    assert_eq!(wait_exit(&mut c, &gone).exit.unwrap().exit_code, 0);
    // Attaching to a container the shim does not know is an error.
    let e = shim.client().attach("nope", true).err().unwrap();
    assert!(e.to_string().contains("not created by this shim"), "{e}");
}
