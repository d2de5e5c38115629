//! The real engines over noderun, row by row against runc: podman 4.3 (default cgroupfs layout:
//! conmon in `<parent>/conmon`, the container in `<parent>/libpod-<id>`) and containerd 1.6
//! (`ctr run --runc-binary`, the shim in containerd's cgroup, containers in `/default/<id>`).
//! Every row runs the same commands with `--runtime runc` and with noderun and must give the
//! same observed result.
//!
//! Each engine runs in `scripts/cgns.sh`: a private mount+cgroup namespace whose cgroup root is
//! a child of this test's own cgroup (absolute cgroup paths never reach the machine's hierarchy
//! roots), with private storage, state, /dev/shm and /run/containerd under a temp dir. The
//! guard removes processes, mounts, cgroups and dirs even when a row fails. Missing tools fail
//! the test (install them with `scripts/deps.sh test`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The runtimes compared, as (name, binary).
fn runtimes() -> [(&'static str, String); 2] {
    [
        ("runc", "/usr/sbin/runc".to_string()),
        ("noderun", common::noderun_bin().to_string()),
    ]
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn need(tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Path::new(t).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}: run `scripts/deps.sh test` (podman, containerd, runc, crun, conmon, catatonit, tmux)"
    );
}

fn text(o: &Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
    let e = String::from_utf8_lossy(&o.stderr);
    if !e.trim().is_empty() {
        s.push_str("\n[stderr] ");
        s.push_str(e.trim());
    }
    s
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .replace("\r\n", "\n")
        .trim()
        .to_string()
}

/// A cgns.sh sandbox: removed (processes, cgroups, namespace pins, dir) on drop.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix(&format!("noderun-engines-{name}-"))
            .tempdir()
            .unwrap();
        let sb = Sandbox { dir };
        let st = Command::new(repo().join("scripts/cgns.sh"))
            .arg("start")
            .arg(sb.dir.path())
            .arg(format!("noderun-engines-{name}-{}", std::process::id()))
            .status()
            .unwrap();
        assert!(st.success(), "cgns.sh start: {st}");
        sb
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The command line that runs `args` inside the sandbox (in cgroup `/SUB`), killed after
    /// `timeout`; `foreground` lets it read from a terminal (timeout --foreground).
    fn argv(&self, sub: &str, timeout: Duration, foreground: bool, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            repo().join("scripts/cgns.sh").display().to_string(),
            "exec".into(),
            self.path().display().to_string(),
        ];
        if !sub.is_empty() {
            v.extend(["-c".into(), sub.to_string()]);
        }
        v.push("timeout".into());
        if foreground {
            v.push("--foreground".into());
        }
        v.extend(["-k".into(), "5".into(), timeout.as_secs().to_string()]);
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }

    /// A command run inside the sandbox (in cgroup `/SUB`), killed after `timeout`.
    fn cmd(&self, sub: &str, timeout: Duration, args: &[&str]) -> Command {
        let v = self.argv(sub, timeout, false, args);
        let mut c = Command::new(&v[0]);
        c.args(&v[1..]).stdin(Stdio::null());
        c
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let o = Command::new(repo().join("scripts/cgns.sh"))
            .arg("stop")
            .arg(self.path())
            .output();
        match o {
            Ok(o) if o.status.success() => {}
            o => eprintln!("cleanup: cgns.sh stop: {o:?}"),
        }
        // Anything still mounted below the dir (it should all have gone with the namespace).
        if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
            let d = self.path().display().to_string();
            let mut mps: Vec<&str> = mi
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&d))
                .collect();
            mps.sort_unstable_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mps {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
    }
}

/// One row's observations per runtime.
struct Matrix {
    rows: Vec<(String, Vec<(String, String)>)>,
    /// What runc's observation of a row must contain (so a broken set-up cannot pass by
    /// failing the same way on both runtimes).
    expect: Vec<(String, Vec<String>)>,
}

impl Matrix {
    fn new() -> Matrix {
        Matrix {
            rows: Vec::new(),
            expect: Vec::new(),
        }
    }

    fn expect(&mut self, row: &str, parts: &[&str]) {
        self.expect.push((
            row.to_string(),
            parts.iter().map(|p| p.to_string()).collect(),
        ));
    }

    fn record(&mut self, row: &str, runtime: &str, got: String) {
        eprintln!("[{row}] {runtime}: {got}");
        match self.rows.iter_mut().find(|(r, _)| r == row) {
            Some((_, v)) => v.push((runtime.to_string(), got)),
            None => self
                .rows
                .push((row.to_string(), vec![(runtime.to_string(), got)])),
        }
    }

    /// Prints the table and fails naming every row where noderun differs from runc.
    fn check(&self, engine: &str) {
        let mut bad = Vec::new();
        eprintln!("\n{engine} matrix (runc vs noderun):");
        for (row, v) in &self.rows {
            let same = v.windows(2).all(|w| w[0].1 == w[1].1);
            let missing: Vec<&String> = self
                .expect
                .iter()
                .filter(|(r, _)| r == row)
                .flat_map(|(_, parts)| parts)
                .filter(|p| !v.first().is_some_and(|(_, got)| got.contains(p.as_str())))
                .collect();
            let verdict = match (same, missing.is_empty()) {
                (true, true) => "same",
                (true, false) => "same, but not as expected",
                (false, _) => "DIFFERENT",
            };
            eprintln!("  {row:<40} {verdict}");
            if !same || !missing.is_empty() {
                bad.push(format!("{row}: {v:?} (runc's result lacks {missing:?})"));
            }
        }
        assert!(
            bad.is_empty(),
            "{engine}: noderun differs from runc:\n{}",
            bad.join("\n")
        );
    }
}

fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------------------------------------------
// podman

struct Podman<'a> {
    sb: &'a Sandbox,
    runtime: String,
}

impl Podman<'_> {
    /// `podman` with this sandbox's storage and the runtime under test.
    fn podman_args(&self, args: &[&str]) -> Vec<String> {
        let d = self.sb.path();
        let mut full: Vec<String> = vec![
            "podman".into(),
            "--cgroup-manager=cgroupfs".into(),
            format!("--runtime={}", self.runtime),
            "--storage-driver=overlay".into(),
            format!("--root={}", d.join("root").display()),
            format!("--runroot={}", d.join("run").display()),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        full
    }

    fn env(&self) -> [(&'static str, PathBuf); 2] {
        let d = self.sb.path();
        [
            ("CONTAINERS_CONF", d.join("containers.conf")),
            ("CONTAINERS_STORAGE_CONF", d.join("storage.conf")),
        ]
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let full = self.podman_args(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut c = self.sb.cmd("podman", Duration::from_secs(90), &refs);
        c.envs(self.env());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> Result<String, String> {
        let o = self.run(args);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(format!("podman {args:?}: rc {}: {}", code(&o), text(&o)))
        }
    }

    fn rm_all(&self) {
        let _ = self.run(&["pod", "rm", "-af", "-t", "0"]);
        let _ = self.run(&["rm", "-af", "-t", "0"]);
    }
}

const IMG: &str = "localhost/busybox:local";
/// The same image as containerd names it.
const CTR_IMG: &str = "docker.io/library/busybox:local";

fn podman_setup(sb: &Sandbox) {
    let d = sb.path();
    std::fs::write(
        d.join("containers.conf"),
        format!(
            r#"[containers]
cgroups = "enabled"
cgroupns = "private"
netns = "none"
# no CAP_SYS_RESOURCE in this sandbox for podman's default nofile of 1048576
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
static_dir = "{d}/root/libpod"
volume_path = "{d}/root/volumes"
"#,
            d = d.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("storage.conf"),
        format!(
            "[storage]\ndriver = \"overlay\"\nrunroot = \"{d}/run\"\ngraphroot = \"{d}/root\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    // podman's SHM lock segment is per machine: give this podman its own /dev/shm.
    let o = sb
        .cmd(
            "",
            Duration::from_secs(10),
            &["mount", "-t", "tmpfs", "tmpfs", "/dev/shm"],
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let tar = d.join("busybox.tar");
    let o = Command::new(repo().join("scripts/busybox-image.sh"))
        .arg(&tar)
        .arg("busybox:local")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let p = Podman {
        sb,
        runtime: "/usr/sbin/runc".into(),
    };
    p.ok(&["load", "-q", "-i", tar.to_str().unwrap()]).unwrap();
}

/// Runs `f` for each runtime and records its observation (or its error) under `row`.
fn podman_row(
    m: &mut Matrix,
    sb: &Sandbox,
    row: &str,
    expect: &[&str],
    f: impl Fn(&Podman) -> Result<String, String>,
) {
    m.expect(row, expect);
    for (name, bin) in runtimes() {
        let p = Podman { sb, runtime: bin };
        let got = f(&p).unwrap_or_else(|e| format!("ERROR {e}"));
        p.rm_all();
        m.record(row, name, got);
    }
}

fn rc_out(o: &Output) -> String {
    format!("rc={} out={}", code(o), out(o))
}

#[test]
fn podman_matrix_matches_runc() {
    if !common::ready() {
        return;
    }
    need(&[
        "/usr/bin/podman",
        "/usr/sbin/runc",
        "/usr/bin/conmon",
        "/usr/bin/catatonit",
        "/usr/bin/tmux",
    ]);
    let sb = Sandbox::new("podman");
    podman_setup(&sb);
    let mut m = Matrix::new();
    let tmux_sock = sb.path().join("tmux.sock");
    let _tmux = TmuxGuard(tmux_sock.clone());

    podman_row(&mut m, &sb, "run --rm", &["rc=0 out=hi"], |p| {
        Ok(rc_out(&p.run(&["run", "--rm", IMG, "echo", "hi"])))
    });

    podman_row(
        &mut m,
        &sb,
        "run -d/exec/logs/stop",
        &[
            "rc=0 out=hi",
            "rc=3",
            "out=from stdin",
            "uid=65534(nobody)",
            "rc=4 out=/dev/pts/0",
            "logs=started",
            "stopped-after-timeout=true exited 137",
        ],
        |p| {
            let id = p.ok(&[
                "run",
                "-d",
                "--name",
                "c1",
                IMG,
                "sh",
                "-c",
                "echo started; sleep 1000",
            ])?;
            let mut r = vec![format!("id-len={}", id.len())];
            r.push(rc_out(&p.run(&["exec", "c1", "echo", "hi"])));
            r.push(rc_out(&p.run(&["exec", "c1", "sh", "-c", "exit 3"])));
            let mut c = p.cmd(&["exec", "-i", "c1", "cat"]);
            c.stdin(Stdio::piped()).stdout(Stdio::piped());
            let mut child = c.spawn().map_err(|e| e.to_string())?;
            {
                use std::io::Write;
                let mut i = child.stdin.take().unwrap();
                i.write_all(b"from stdin\n").map_err(|e| e.to_string())?;
            }
            r.push(rc_out(
                &child.wait_with_output().map_err(|e| e.to_string())?,
            ));
            r.push(rc_out(&p.run(&[
                "exec",
                "--user",
                "65534:65534",
                "c1",
                "id",
            ])));
            // -t without a terminal on our side: podman still allocates one in the container
            r.push(rc_out(&p.run(&[
                "exec",
                "-t",
                "c1",
                "sh",
                "-c",
                "tty; exit 4",
            ])));
            r.push(format!("logs={}", p.ok(&["logs", "c1"])?));
            // sh as pid 1 ignores SIGTERM: stop -t 1 must fall back to SIGKILL (137)
            let t0 = Instant::now();
            p.ok(&["stop", "-t", "1", "c1"])?;
            let took = t0.elapsed();
            r.push(format!(
                "stopped-after-timeout={} {}",
                took >= Duration::from_millis(900),
                p.ok(&[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    "c1"
                ])?
            ));
            Ok(r.join("; "))
        },
    );

    podman_row(&mut m, &sb, "stop (SIGTERM obeyed)", &["exited 7"], |p| {
        p.ok(&[
            "run",
            "-d",
            "--name",
            "c2",
            IMG,
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 0.1; done",
        ])?;
        std::thread::sleep(Duration::from_millis(300));
        p.ok(&["stop", "-t", "10", "c2"])?;
        p.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "c2",
        ])
    });

    podman_row(
        &mut m,
        &sb,
        "run -it (tmux)",
        &["size=40 120 echoed=true rc=5"],
        |p| {
            let done = sb.path().join("tty-done");
            let _ = std::fs::remove_file(&done);
            let pm = p.podman_args(&[
                "run",
                "-it",
                "--rm",
                IMG,
                "sh",
                "-c",
                "stty size; read x; echo got-$x; exit 5",
            ]);
            let pm: Vec<&str> = pm.iter().map(String::as_str).collect();
            let argv = sb.argv("podman", Duration::from_secs(60), true, &pm);
            let envs: Vec<String> = p
                .env()
                .iter()
                .map(|(k, v)| format!("{k}={}", shell_quote(&v.display().to_string())))
                .collect();
            let args: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
            let line = format!(
                "env {} {}; echo $? > {}; sleep 30",
                envs.join(" "),
                args.join(" "),
                done.display()
            );
            let t = |a: &[&str]| {
                Command::new("tmux")
                    .arg("-S")
                    .arg(&tmux_sock)
                    .args(a)
                    .output()
                    .map_err(|e| e.to_string())
            };
            t(&["kill-session", "-t", "pm"])?;
            let o = t(&[
                "new-session",
                "-d",
                "-s",
                "pm",
                "-x",
                "120",
                "-y",
                "40",
                &line,
            ])?;
            if !o.status.success() {
                return Err(format!("tmux: {}", text(&o)));
            }
            let size = poll("stty size in the pane", Duration::from_secs(30), || {
                let o = t(&["capture-pane", "-p", "-t", "pm"]).ok()?;
                let s = out(&o);
                s.lines()
                    .find(|l| {
                        l.split_whitespace().count() == 2
                            && l.split_whitespace().all(|w| w.parse::<u32>().is_ok())
                    })
                    .map(str::to_string)
            })?;
            t(&["send-keys", "-t", "pm", "hello", "Enter"])?;
            let rc = poll("exit code file", Duration::from_secs(30), || {
                std::fs::read_to_string(&done)
                    .ok()
                    .filter(|s| !s.is_empty())
            })?;
            let pane = out(&t(&["capture-pane", "-p", "-t", "pm"])?);
            t(&["kill-session", "-t", "pm"])?;
            Ok(format!(
                "size={size} echoed={} rc={}",
                pane.contains("got-hello"),
                rc.trim()
            ))
        },
    );

    podman_row(&mut m, &sb, "--memory hog", &["rc=137"], |p| {
        Ok(format!(
            "rc={}",
            code(&p.run(&[
                "run",
                "--rm",
                "--memory",
                "32m",
                IMG,
                "sh",
                "-c",
                "tail /dev/zero"
            ]))
        ))
    });

    podman_row(
        &mut m,
        &sb,
        "--pids-limit",
        &["forks-failed=2 max=10"],
        |p| {
            Ok(rc_out(&p.run(&[
                "run",
                "--rm",
                "--pids-limit",
                "10",
                IMG,
                "sh",
                "-c",
                "(for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 30 & done) \
             2>/dev/null; r=$?; read max </sys/fs/cgroup/pids/pids.max; \
             read cur </sys/fs/cgroup/pids/pids.current; echo forks-failed=$r max=$max cur=$cur",
            ])))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "--read-only",
        &["root-ro", "tmpfs-rw", "drwxrwxrwt", "root ro,"],
        |p| {
            Ok(rc_out(&p.run(&[
            "run",
            "--rm",
            "--read-only",
            IMG,
            "sh",
            "-c",
            "touch /x 2>/dev/null || echo root-ro; touch /tmp/y /run/z /var/tmp/w && echo tmpfs-rw; \
             ls -ld /tmp /run /var/tmp | cut -c1-10; \
             awk '$5 == \"/\" {print \"root\", $6}' /proc/self/mountinfo",
        ])))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "--tmpfs",
        &["size=1024k", "ok", "copied-up", "drwxr-xr-x"],
        |p| {
            Ok(rc_out(&p.run(&[
                "run",
                "--rm",
                "--tmpfs",
                "/data:size=1m",
                "--tmpfs",
                "/etc:rw",
                IMG,
                "sh",
                "-c",
                "grep ' /data ' /proc/self/mounts; touch /data/x && echo ok; \
             grep -q '^root:' /etc/passwd && echo copied-up; ls -ld /etc | cut -c1-10",
            ])))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "--cap-drop ALL",
        &["CapEff:\t0000000000000000"],
        |p| {
            Ok(rc_out(&p.run(&[
                "run",
                "--rm",
                "--cap-drop",
                "ALL",
                IMG,
                "sh",
                "-c",
                "grep Cap /proc/self/status",
            ])))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "--user",
        &["uid=65534(nobody) gid=65534(nogroup)"],
        |p| {
            Ok(rc_out(&p.run(&[
                "run",
                "--rm",
                "--user",
                "65534:65534",
                IMG,
                "sh",
                "-c",
                "id; touch /root/x 2>&1 | wc -l",
            ])))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "cgroups seen inside",
        &[
            "blkio cpu cpuacct cpuset devices freezer memory pids systemd",
            "name=systemd:/",
        ],
        |p| {
            Ok(rc_out(&p.run(&[
                "run",
                "--rm",
                IMG,
                "sh",
                "-c",
                "ls /sys/fs/cgroup | tr '\\n' ' '; echo; grep -v '^0::' /proc/self/cgroup | cut -d: -f2- | sed 's/libpod-[0-9a-f]*/libpod-ID/' | sort",
            ])))
        },
    );

    podman_row(&mut m, &sb, "seccomp default", &["Seccomp:\t2"], |p| {
        Ok(rc_out(&p.run(&[
            "run",
            "--rm",
            IMG,
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null; echo unshare=$?",
        ])))
    });

    podman_row(&mut m, &sb, "seccomp unconfined", &["Seccomp:\t0"], |p| {
        Ok(rc_out(&p.run(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            IMG,
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status",
        ])))
    });

    // More `podman run` options, each read back inside: (row, options, script, expected).
    let more: &[(&str, &[&str], &str, &str)] = &[
        (
            "--cpus/--cpu-shares",
            &["--cpus", "0.5", "--cpu-shares", "512"],
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares",
            "50000\n512",
        ),
        (
            "--memory-swap/--memory-reservation",
            &[
                "--memory",
                "32m",
                "--memory-swap",
                "64m",
                "--memory-reservation",
                "16m",
            ],
            "cd /sys/fs/cgroup/memory; cat memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes",
            "33554432\n67108864\n16777216",
        ),
        (
            "--init",
            &["--init"],
            "tr '\\0' ' ' </proc/1/cmdline",
            "/run/podman-init -- sh -c",
        ),
        (
            "--hostname/--env/--workdir",
            &["--hostname", "h1", "--env", "A=b", "--workdir", "/tmp"],
            "hostname; echo $A; pwd",
            "h1\nb\n/tmp",
        ),
        (
            "--sysctl",
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward",
            "out=1",
        ),
        (
            "--oom-score-adj",
            &["--oom-score-adj", "100"],
            "cat /proc/self/oom_score_adj",
            "out=100",
        ),
        (
            "no-new-privileges",
            &["--security-opt", "no-new-privileges"],
            "grep NoNewPrivs /proc/self/status",
            "NoNewPrivs:\t1",
        ),
        (
            "--cap-add SYS_ADMIN",
            &["--cap-add", "SYS_ADMIN"],
            "grep CapEff /proc/self/status",
            "CapEff:\t00000000a82425fb",
        ),
        (
            "--privileged",
            &["--privileged"],
            "grep -E 'CapEff|Seccomp:' /proc/self/status; awk '$5 == \"/sys\" {print $6}' /proc/self/mountinfo",
            "Seccomp:\t0\nrw,",
        ),
        (
            "--shm-size",
            &["--shm-size", "1m"],
            "df -k /dev/shm | tail -1",
            "1024",
        ),
        (
            "--group-add",
            &["--user", "65534", "--group-add", "1234"],
            "id",
            "groups=1234,65534(nogroup)",
        ),
    ];
    for (row, opts, script, expected) in more {
        podman_row(&mut m, &sb, row, &[expected], |p| {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(opts);
            args.extend_from_slice(&[IMG, "sh", "-c", script]);
            Ok(rc_out(&p.run(&args)))
        });
    }

    podman_row(
        &mut m,
        &sb,
        "pause/unpause/top/stats/update",
        &["paused; running", "sleep 1000", "limit 33.55MB", "67108864"],
        |p| {
            p.ok(&[
                "run", "-d", "--name", "c3", "--memory", "32m", IMG, "sleep", "1000",
            ])?;
            let mut r = Vec::new();
            let st = |p: &Podman| p.ok(&["inspect", "-f", "{{.State.Status}}", "c3"]);
            p.ok(&["pause", "c3"])?;
            r.push(st(p)?);
            p.ok(&["unpause", "c3"])?;
            r.push(st(p)?);
            r.push(p.ok(&["top", "c3", "user", "args"])?.replace('\n', "|"));
            r.push(
                p.ok(&[
                    "stats",
                    "--no-stream",
                    "--format",
                    "{{.Name}} {{.PIDs}} {{.MemUsage}}",
                    "c3",
                ])?
                .split(" / ")
                .nth(1)
                .map(|lim| format!("limit {lim}"))
                .unwrap_or_else(|| "no stats".into()),
            );
            p.ok(&["update", "--memory", "64m", "c3"])?;
            r.push(p.ok(&[
                "exec",
                "c3",
                "cat",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            ])?);
            Ok(r.join("; "))
        },
    );

    podman_row(
        &mut m,
        &sb,
        "--restart on-failure:3",
        &["3 exited 1"],
        |p| {
            p.ok(&[
                "run",
                "-d",
                "--name",
                "r1",
                "--restart",
                "on-failure:3",
                IMG,
                "sh",
                "-c",
                "sleep 0.2; exit 1",
            ])?;
            poll(
                "3 restarts and the final exit",
                Duration::from_secs(60),
                || {
                    let s = p
                        .ok(&[
                            "inspect",
                            "-f",
                            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
                            "r1",
                        ])
                        .ok()?;
                    (s == "3 exited 1").then_some(s)
                },
            )
        },
    );

    podman_row(
        &mut m,
        &sb,
        "kube play/down",
        &["infra Up", "two-a Up", "two-b Up", "logs=b-up", "left=0"],
        |p| {
            let y = sb.path().join("pod.yaml");
            std::fs::write(
            &y,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  restartPolicy: Never\n  containers:\n  \
                 - name: a\n    image: {IMG}\n    command: [\"sleep\", \"1000\"]\n  \
                 - name: b\n    image: {IMG}\n    command: [\"sh\", \"-c\", \"echo b-up; sleep 1000\"]\n"
            ),
        )
        .map_err(|e| e.to_string())?;
            let y = y.to_str().unwrap();
            p.ok(&["kube", "play", "--network", "none", y])?;
            let ps = p.ok(&[
                "ps",
                "-a",
                "--filter",
                "pod=two",
                "--sort",
                "names",
                "--format",
                "{{.Names}} {{.State}}",
            ])?;
            let logs = p.ok(&["logs", "two-b"])?;
            p.ok(&["kube", "down", y])?;
            let left = p.ok(&["ps", "-aq"])?;
            // the infra container's name is random; the state column is "Up <age>"
            let ps: Vec<String> = ps
                .lines()
                .map(|l| {
                    let mut w = l.split_whitespace();
                    let name = w.next().unwrap_or("");
                    let name = if name.ends_with("-infra") {
                        "infra"
                    } else {
                        name
                    };
                    format!("{name} {}", w.next().unwrap_or(""))
                })
                .collect();
            Ok(format!(
                "{} | logs={logs} | left={}",
                ps.join(", "),
                left.lines().count()
            ))
        },
    );

    m.check("podman");
}

struct TmuxGuard(PathBuf);

impl Drop for TmuxGuard {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .output();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ------------------------------------------------------------------------------------------
// containerd

struct Ctr<'a> {
    sb: &'a Sandbox,
}

impl Ctr<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let sock = self.sb.path().join("containerd.sock");
        let mut full = vec!["ctr", "--address", sock.to_str().unwrap()];
        full.extend_from_slice(args);
        self.sb.cmd("", Duration::from_secs(60), &full)
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> Result<String, String> {
        let o = self.run(args);
        if o.status.success() {
            Ok(out(&o))
        } else {
            Err(format!("ctr {args:?}: rc {}: {}", code(&o), text(&o)))
        }
    }
    fn cleanup(&self) {
        for t in self.ok(&["task", "ls", "-q"]).unwrap_or_default().lines() {
            let _ = self.run(&["task", "rm", "-f", t]);
        }
        for c in self.ok(&["c", "ls", "-q"]).unwrap_or_default().lines() {
            let _ = self.run(&["c", "rm", c]);
        }
    }
}

/// containerd in the sandbox's cgroup `/svc` (as a systemd service would be), killed by the
/// sandbox's cleanup.
fn containerd_setup(sb: &Sandbox) -> std::process::Child {
    let d = sb.path();
    for sub in ["root", "state", "opt"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(
        d.join("config.toml"),
        format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
            d = d.display()
        ),
    )
    .unwrap();
    let o = sb
        .cmd(
            "",
            Duration::from_secs(10),
            &[
                "sh",
                "-c",
                "mkdir -p /run/containerd && mount -t tmpfs tmpfs /run/containerd",
            ],
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::File::create(d.join("containerd.log")).unwrap();
    let mut c = Command::new(repo().join("scripts/cgns.sh"));
    c.arg("exec")
        .arg(d)
        .args(["-c", "svc", "containerd", "--config"])
        .arg(d.join("config.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let child = c.spawn().unwrap();
    let sock = d.join("containerd.sock");
    poll("containerd's socket", Duration::from_secs(20), || {
        sock.exists().then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            std::fs::read_to_string(d.join("containerd.log")).unwrap_or_default()
        )
    });
    let tar = d.join("busybox.tar");
    let o = Command::new(repo().join("scripts/busybox-image.sh"))
        .arg(&tar)
        .arg("busybox:local")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    Ctr { sb }
        .ok(&["image", "import", tar.to_str().unwrap()])
        .unwrap();
    child
}

fn ctr_row(
    m: &mut Matrix,
    sb: &Sandbox,
    row: &str,
    expect: &[&str],
    f: impl Fn(&Ctr, &str) -> Result<String, String>,
) {
    m.expect(row, expect);
    for (name, bin) in runtimes() {
        let c = Ctr { sb };
        let got = f(&c, &bin).unwrap_or_else(|e| format!("ERROR {e}"));
        c.cleanup();
        m.record(row, name, got);
    }
}

#[test]
fn containerd_matrix_matches_runc() {
    if !common::ready() {
        return;
    }
    need(&[
        "/usr/bin/containerd",
        "/usr/bin/ctr",
        "/usr/sbin/runc",
        "/usr/bin/script",
    ]);
    let sb = Sandbox::new("containerd");
    let mut containerd = containerd_setup(&sb);
    let mut m = Matrix::new();

    ctr_row(&mut m, &sb, "run", &["rc=3 out=hi"], |c, rt| {
        Ok(rc_out(&c.run(&[
            "run",
            "--rm",
            "--runc-binary",
            rt,
            CTR_IMG,
            "r1",
            "sh",
            "-c",
            "echo hi; exit 3",
        ])))
    });

    ctr_row(
        &mut m,
        &sb,
        "run -d/ps/exec/pause/metrics/kill/delete",
        &[
            "RUNNING",
            "out=in-exec",
            "rc=4",
            "rc=6 out=/dev/pts/0",
            "PAUSED",
            "metrics-memory=true",
            "STOPPED",
            "left=0",
        ],
        |c, rt| {
            c.ok(&[
                "run",
                "-d",
                "--runc-binary",
                rt,
                CTR_IMG,
                "d1",
                "sleep",
                "1000",
            ])?;
            let mut r = Vec::new();
            let status = |c: &Ctr| -> Result<String, String> {
                Ok(c.ok(&["task", "ls"])?
                    .lines()
                    .find(|l| l.starts_with("d1 "))
                    .and_then(|l| l.split_whitespace().nth(2))
                    .unwrap_or("none")
                    .to_string())
            };
            r.push(status(c)?);
            r.push(format!(
                "ps-lines={}",
                c.ok(&["task", "ps", "d1"])?.lines().count()
            ));
            r.push(rc_out(&c.run(&[
                "task",
                "exec",
                "--exec-id",
                "e1",
                "d1",
                "echo",
                "in-exec",
            ])));
            r.push(rc_out(&c.run(&[
                "task",
                "exec",
                "--exec-id",
                "e2",
                "d1",
                "sh",
                "-c",
                "exit 4",
            ])));
            // -t needs a terminal on ctr's side: script(1) gives it one
            let sock = sb.path().join("containerd.sock");
            let line = format!(
                "ctr --address {} task exec -t --exec-id e3 d1 sh -c 'tty; exit 6'",
                sock.display()
            );
            let o = sb
                .cmd(
                    "",
                    Duration::from_secs(30),
                    &["script", "-qec", &line, "/dev/null"],
                )
                .output()
                .map_err(|e| e.to_string())?;
            // the terminal's line: ctr's own resize warnings (and stray NULs) are not ours
            let tty = out(&o).replace('\0', "");
            r.push(format!(
                "rc={} out={}",
                code(&o),
                tty.lines().next().unwrap_or("")
            ));
            c.ok(&["task", "pause", "d1"])?;
            r.push(status(c)?);
            c.ok(&["task", "resume", "d1"])?;
            r.push(status(c)?);
            let metrics = c.ok(&["task", "metrics", "d1"])?;
            r.push(format!(
                "metrics-memory={} metrics-pids={}",
                metrics.contains("memory.usage_in_bytes") || metrics.contains("memory.usage"),
                metrics.contains("pids.current")
            ));
            c.ok(&["task", "kill", "-s", "KILL", "d1"])?;
            r.push(poll("d1 stopped", Duration::from_secs(10), || {
                status(c).ok().filter(|s| s == "STOPPED")
            })?);
            c.ok(&["task", "rm", "d1"])?;
            c.ok(&["c", "rm", "d1"])?;
            r.push(format!(
                "left={}",
                c.ok(&["c", "ls", "-q"])?.lines().count()
            ));
            Ok(r.join("; "))
        },
    );

    ctr_row(
        &mut m,
        &sb,
        "OOM event",
        &["rc=137 oom-event=true"],
        |c, rt| {
            let sock = sb.path().join("containerd.sock");
            let ev = sb
                .cmd(
                    "",
                    Duration::from_secs(60),
                    &["ctr", "--address", sock.to_str().unwrap(), "events"],
                )
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(300));
            let o = c.run(&[
                "run",
                "--rm",
                "--runc-binary",
                rt,
                "--memory-limit",
                "33554432",
                CTR_IMG,
                "oom1",
                "sh",
                "-c",
                "tail /dev/zero",
            ]);
            std::thread::sleep(Duration::from_millis(500));
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(ev.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let evs = ev.wait_with_output().map_err(|e| e.to_string())?;
            let evs = out(&evs);
            Ok(format!(
                "rc={} oom-event={}",
                code(&o),
                evs.lines()
                    .any(|l| l.contains("/tasks/oom") && l.contains("oom1"))
            ))
        },
    );

    c_cleanup_all(&sb);
    let _ = containerd.kill();
    let _ = containerd.wait();
    m.check("containerd");
}

fn c_cleanup_all(sb: &Sandbox) {
    Ctr { sb }.cleanup();
}
