//! nodelet-pause as pid 1 of a new pid namespace: reaps orphaned zombies, exits 0 on SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn reaps_zombies_and_stops_on_sigterm() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let pause = env!("CARGO_BIN_EXE_nodelet-pause");
    // sh becomes pid 1, leaves an orphan that exits soon, then execs pause.
    let script = format!("sh -c 'sleep 0.2 &' ; exec {pause}");
    let mut child = Command::new("unshare")
        .args(["--fork", "--pid", "--kill-child", "sh", "-c", &script])
        .spawn()
        .unwrap();
    // Find pause: the child of unshare.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pause_pid = loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
                .unwrap_or_default();
        if let Some(p) = kids
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            if comm.trim() == "nodelet-pause" {
                break p;
            }
        }
        assert!(Instant::now() < deadline, "pause never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(600));
    let kids =
        std::fs::read_to_string(format!("/proc/{pause_pid}/task/{pause_pid}/children")).unwrap();
    assert_eq!(
        kids.trim(),
        "",
        "the orphaned sleep was reaped, no zombie left"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pause_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}
