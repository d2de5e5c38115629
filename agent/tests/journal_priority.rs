//! Under systemd (`JOURNAL_STREAM` set) each of nodelet's log lines starts with its syslog
//! priority and has no time stamp, so `journalctl -p warning` finds its warnings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn log_lines_carry_their_priority_for_the_journal() {
    nodelet_testkit::require_root("a private mount and network namespace for nodelet");
    let d = tempfile::tempdir().unwrap();
    let p = |s: &str| d.path().join(s).to_str().unwrap().to_string();
    // No static pod directory (a warning) and no address in the fresh netns (a warning).
    let mut child = Command::new("unshare")
        .args(["--mount", "--net", "--"])
        .arg(env!("CARGO_BIN_EXE_nodelet"))
        .args(["--node-name", "journal"])
        .args(["--static-pod-path", &p("missing")])
        .args(["--root-dir", &p("root"), "--run-dir", &p("run")])
        .args([
            "--pod-logs-dir",
            &p("logs"),
            "--api-socket",
            &p("run/s.sock"),
        ])
        .args(["--cni-conf-dir", &p("net.d")])
        .env("JOURNAL_STREAM", "8:9")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut warn, mut info) = (None, None);
    while (warn.is_none() || info.is_none()) && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if l.contains(" WARN ") {
                warn.get_or_insert(l);
            } else if l.contains(" INFO ") {
                info.get_or_insert(l);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let warn = warn.expect("no WARN line");
    let info = info.expect("no INFO line");
    assert!(warn.starts_with("<4>"), "{warn}");
    assert!(info.starts_with("<6>"), "{info}");
    // No time stamp: the journal has its own.
    assert!(!warn.contains("Z "), "{warn}");
}
