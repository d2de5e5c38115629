//! Hooks run in the spec's order with the state JSON on stdin; a failing or timed-out hook
//! fails the operation and leaves nothing behind.

mod common;
use common::*;
use serde_json::{Value, json};

fn hook(path: &str, kind: &str, log: &str) -> Value {
    json!({"path": path, "args": ["hook", kind], "env": [format!("LOG={log}")]})
}

#[test]
fn hooks_run_in_order_with_state() {
    if !ready() {
        return;
    }
    let w = World::new("hooks");
    let rootfs = w.bundle.join("rootfs");
    let script = "#!/bin/sh\nread -r state\necho \"$1 $state\" >> \"$LOG\"\n";
    std::fs::write(rootfs.join("hook.sh"), script).unwrap();
    std::fs::set_permissions(
        rootfs.join("hook.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let host_hook = rootfs.join("hook.sh").display().to_string();
    let host_log = rootfs.join("hooklog").display().to_string();
    let mut c = sh("echo main >> /hooklog");
    c["hooks"] = json!({
        "prestart": [hook(&host_hook, "prestart", &host_log)],
        "createRuntime": [hook(&host_hook, "createRuntime", &host_log)],
        "createContainer": [hook(&host_hook, "createContainer", &host_log)],
        "startContainer": [hook("/hook.sh", "startContainer", "/hooklog")],
        "poststart": [hook(&host_hook, "poststart", &host_log)],
        "poststop": [hook(&host_hook, "poststop", &host_log)]
    });
    w.run_ok(&c, "h");
    let log = std::fs::read_to_string(&host_log).unwrap();
    let kinds: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    // poststart runs after the process started, so "main" may come before or after it.
    let without_main: Vec<&str> = kinds.iter().copied().filter(|k| *k != "main").collect();
    assert_eq!(
        without_main,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{log}"
    );
    let main_at = kinds.iter().position(|k| *k == "main").unwrap();
    assert!(main_at > 3, "main runs after startContainer: {log}");
    let create_state: Value =
        serde_json::from_str(log.lines().next().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(create_state["status"], "creating");
    assert!(create_state["pid"].as_i64().unwrap() > 0);
    assert_eq!(create_state["bundle"], w.bundle.to_str().unwrap());
    let stop_state: Value =
        serde_json::from_str(log.lines().last().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(stop_state["status"], "stopped");
}

#[test]
fn failing_and_slow_hooks_fail_create_and_leave_nothing() {
    if !ready() {
        return;
    }
    let w = World::new("badhooks");
    let mut c = sh("true");
    c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]});
    w.write_config(&c);
    let id = w.id("fail");
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert!(
        err.contains("hooks.createRuntime[0]") && err.contains("exit status: 3"),
        "{err}"
    );
    assert_nothing_left(&w, &id);

    let mut c = sh("true");
    c["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    w.write_config(&c);
    let id = w.id("slow");
    let t = std::time::Instant::now();
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(err.contains("timed out after 1s"), "{err}");
    assert_nothing_left(&w, &id);
}

/// OCI runtime spec: a failing poststart or poststop hook is logged as a warning and the hooks
/// after it still run; the operation itself succeeds.
#[test]
fn failing_poststart_and_poststop_hooks_warn_and_the_rest_run() {
    if !ready() {
        return;
    }
    let w = World::new("posthooks");
    let log = w.tmp.path().join("log");
    let fail = json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]});
    let note = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} >> {}", log.display())]});
    let mut c = sh("true");
    c["hooks"] = json!({
        "poststart": [fail.clone(), note("poststart")],
        "poststop": [fail, note("poststop")]
    });
    let (code, _out, err) = w.run(&c, "p");
    assert_eq!(
        code, 0,
        "poststart/poststop failures do not fail run: {err}"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(text, "poststart\npoststop\n", "stderr: {err}");
    assert!(
        err.contains("warning")
            && err.contains("hooks.poststart[0]")
            && err.contains("hooks.poststop[0]"),
        "{err}"
    );
}
