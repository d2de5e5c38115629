//! The container lifecycle through the CLI: create → created → start → running → kill →
//! stopped → delete, with `state`, `list`, `ps`, `pause`/`resume` and `run` exit codes.

mod common;
use common::*;
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    if !ready() {
        return;
    }
    let w = World::new("life");
    w.write_config(&sh(
        "echo started; trap 'echo got-term; exit 7' TERM; while true; do sleep 0.05; done",
    ));
    let id = w.id("c");
    let pidfile = w.tmp.path().join("pid");
    let (ok, err) = w.create(&id, &["--pid-file", pidfile.to_str().unwrap()]);
    assert!(ok, "create: {err}");
    let st = w.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.3.0");
    assert_eq!(st["bundle"], w.bundle.to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(w.output_of(&id), "", "process ran before start");
    // A created container cannot be created again.
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");

    w.ok(&["start", &id]);
    assert_eq!(w.state(&id)["status"], "running");
    let list = w.ok(&["list"]);
    assert!(list.lines().next().unwrap().starts_with("ID"), "{list}");
    assert!(list.contains(&id) && list.contains("running"), "{list}");
    let q = w.ok(&["list", "-q"]);
    assert_eq!(q.trim(), id);
    let js: serde_json::Value = serde_json::from_str(&w.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(js[0]["status"], "running");

    // Starting twice is an error; deleting a running container needs --force.
    assert!(!w.nr(&["start", &id]).status.success());
    let o = w.nr(&["delete", &id]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("running"));

    w.ok(&["kill", &id, "TERM"]);
    w.wait_status(&id, "stopped");
    assert!(w.output_of(&id).contains("got-term"));
    assert!(w.state(&id).get("pid").is_none());
    w.ok(&["delete", &id]);
    let o = w.nr(&["state", &id]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    assert_nothing_left(&w, &id);
}

#[test]
fn kill_by_number_and_signal_names() {
    if !ready() {
        return;
    }
    let w = World::new("kill");
    w.write_config(&sh("sleep 100"));
    for (n, sig) in ["9", "SIGKILL", "kill"].iter().enumerate() {
        let id = w.id(&format!("k{n}"));
        assert!(w.create(&id, &[]).0);
        w.ok(&["start", &id]);
        w.ok(&["kill", &id, sig]);
        w.wait_status(&id, "stopped");
        w.ok(&["delete", &id]);
    }
    let id = w.id("bad");
    assert!(w.create(&id, &[]).0);
    let o = w.nr(&["kill", &id, "SIGNOPE"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown signal"));
    w.ok(&["delete", "--force", &id]);
    assert_nothing_left(&w, &id);
}

#[test]
fn run_passes_exit_codes() {
    if !ready() {
        return;
    }
    let w = World::new("run");
    let (code, out, _) = w.run(&sh("echo hi; exit 42"), "x");
    assert_eq!(code, 42);
    assert_eq!(out, "hi\n");
    // Killed from outside: run exits 128 + SIGKILL.
    w.write_config(&sh("sleep 100"));
    let id = w.id("sig");
    let mut child = w
        .cmd()
        .args(["run", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !w.nr(&["state", &id]).status.success() || w.state(&id)["status"] != "running" {
        assert!(std::time::Instant::now() < deadline, "never running");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    w.ok(&["kill", &id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(137), "128 + SIGKILL");
    let (code, _, err) = w.run(&default_config(&["/nonexistent"]), "noexe");
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent"), "{err}");
    // run deletes the container afterwards
    assert_eq!(w.ok(&["list", "-q"]).trim(), "");
}

#[test]
fn run_detached_then_delete_force() {
    if !ready() {
        return;
    }
    let w = World::new("detach");
    w.write_config(&sh("sleep 100"));
    let id = w.id("d");
    let o = w
        .cmd()
        .args(["run", "--detach", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(w.state(&id)["status"], "running");
    w.ok(&["delete", "--force", &id]);
    assert_nothing_left(&w, &id);
}

#[test]
fn delete_created_container() {
    if !ready() {
        return;
    }
    let w = World::new("delcreated");
    let id = w.id("c");
    assert!(w.create(&id, &[]).0);
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}

#[test]
fn features_and_spec() {
    let w = World::new("features");
    let f: serde_json::Value = serde_json::from_str(&w.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert!(
        f["hooks"]
            .as_array()
            .unwrap()
            .contains(&json!("createContainer"))
    );
    assert!(
        f["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("time"))
    );
    assert_eq!(f["linux"]["cgroup"]["v2"], true);
    assert!(
        f["mountOptions"]
            .as_array()
            .unwrap()
            .contains(&json!("rro"))
    );
    let dir = w.tmp.path().join("newspec");
    std::fs::create_dir(&dir).unwrap();
    w.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["ociVersion"], "1.3.0");
    assert_eq!(spec["root"]["path"], "rootfs");
    // refuses to overwrite
    assert!(
        !w.nr(&["spec", "--bundle", dir.to_str().unwrap()])
            .status
            .success()
    );
}

#[test]
fn log_file_in_json_and_preserved_fds() {
    if !ready() {
        return;
    }
    let w = World::new("logfds");
    let log = w.tmp.path().join("noderun.log");
    let o = w.nr(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    assert!(!o.status.success());
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist"));
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    // As runc: with --log, the runtime's errors are not on its stderr (which a shim has given
    // to the container as the container's own stderr).
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // --preserve-fds 1: the container gets our fd 3 (a pipe) and writes to it.
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (r, wr) = nix::unistd::pipe().unwrap();
    w.write_config(&sh("echo through-fd-3 >&3"));
    let id = w.id("fds");
    let wfd = wr.as_raw_fd();
    let mut cmd = w.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null());
    // SAFETY: dup2 in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let st = cmd.status().unwrap();
    drop(wr);
    assert!(st.success());
    let mut s = String::new();
    std::fs::File::from(r).read_to_string(&mut s).unwrap();
    assert_eq!(s, "through-fd-3\n");
}
