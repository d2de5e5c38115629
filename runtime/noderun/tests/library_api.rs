//! The library API as nodelet's per-pod shim uses it, from a single-threaded process that is a
//! child subreaper: create, start, exec, signal, wait (exit codes of init and exec'd
//! processes), state, delete — no CLI involved.

mod common;
use common::*;
use nix::sys::signal::Signal;
use noderun::{CreateOptions, ExecOptions, Exit, Runtime, Status};
use std::os::fd::AsRawFd;

fn main() {
    if !ready() {
        return;
    }
    let w = World::new("libapi");
    w.write_config(&sh("trap 'exit 9' TERM; while true; do sleep 0.05; done"));
    noderun::become_subreaper().unwrap();
    let rt = Runtime::new(&w.root);
    let id = w.id("shim");

    // The container's stdout goes to a pipe we hold (as the shim does for its log writer).
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let opts = CreateOptions {
        stdio: Some([0, out_w.as_raw_fd(), out_w.as_raw_fd()]),
        ..Default::default()
    };
    w.write_config(&sh(
        "echo to-the-pipe; trap 'exit 9' TERM; while true; do sleep 0.05; done",
    ));
    let created = rt.create(&id, &w.bundle, &opts).unwrap();
    drop(out_w);
    assert_eq!(rt.state(&id).unwrap().status, Status::Created);
    rt.start(&id).unwrap();
    created.wait_exec().unwrap();
    assert_eq!(rt.state(&id).unwrap().status, Status::Running);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::from(out_r)),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "to-the-pipe\n");

    let mut p = oci_spec::runtime::Process::default();
    p.set_args(Some(vec!["sh".into(), "-c".into(), "exit 4".into()]));
    p.set_capabilities(None);
    let pid = rt.exec(&id, &p, &ExecOptions::default()).unwrap();
    assert_eq!(
        Runtime::wait(pid).unwrap(),
        Exit::Code(4),
        "exec'd process is waitable by the subreaper"
    );

    let init = rt.state(&id).unwrap().pid.unwrap();
    rt.signal(&id, Signal::SIGTERM, false).unwrap();
    assert_eq!(
        Runtime::wait(init).unwrap(),
        Exit::Code(9),
        "init reparented to us and reaped"
    );
    assert_eq!(rt.state(&id).unwrap().status, Status::Stopped);
    rt.delete(&id, false).unwrap();
    assert!(matches!(rt.state(&id), Err(noderun::Error::NotFound(_))));
    assert_nothing_left(&w, &id);

    // Refuses to fork from a multi-threaded process.
    let t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)));
    let e = rt
        .create("threaded", &w.bundle, &CreateOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("single-threaded"), "{e}");
    t.join().unwrap();
    println!("library_api: 1 passed, 0 failed");
}
