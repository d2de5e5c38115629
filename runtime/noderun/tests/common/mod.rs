//! Shared test fixtures: a busybox-static root filesystem, bundles built from `noderun spec`
//! edited as JSON, a private `--root` per test, and guards that delete every container even
//! when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

pub const BUSYBOX: &str = "/bin/busybox";

pub fn noderun_bin() -> &'static str {
    env!("CARGO_BIN_EXE_noderun")
}

/// Fail unless root and busybox-static are available: these tests drive the real kernel and
/// must not count as passed without it.
pub fn ready() -> bool {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it creates namespaces, mounts and cgroups): run it as root"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: apt-get install busybox-static"
    );
    true
}

/// Build a busybox rootfs at `dir` (root, and nobody/nogroup 65534).
pub fn make_rootfs(dir: &Path) {
    nodelet_testkit::busybox_rootfs(
        dir,
        &[nodelet_testkit::User {
            name: "nobody",
            id: 65534,
            group: "nogroup",
        }],
    );
}

/// A test's private world: temp dir with a bundle and a runtime root.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub prefix: String,
    ids: std::cell::RefCell<Vec<String>>,
}

impl World {
    pub fn new(name: &str) -> World {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("noderun-{name}-"))
            .tempdir()
            .unwrap();
        let root = tmp.path().join("state");
        let bundle = tmp.path().join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let w = World {
            root,
            bundle,
            prefix: format!("{name}-{}", std::process::id()),
            tmp,
            ids: Default::default(),
        };
        w.write_config(&default_config(&["true"]));
        w
    }

    pub fn id(&self, suffix: &str) -> String {
        let id = format!("{}-{suffix}", self.prefix);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn write_config(&self, cfg: &Value) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(noderun_bin());
        c.arg("--root").arg(&self.root);
        c
    }

    /// Run noderun with args; returns the output.
    pub fn nr(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// noderun with args, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.nr(args);
        assert!(
            o.status.success(),
            "noderun {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `run` the bundle with `cfg`, returning (exit code, stdout, stderr).
    pub fn run(&self, cfg: &Value, suffix: &str) -> (i32, String, String) {
        self.write_config(cfg);
        let id = self.id(suffix);
        let o = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `run`, asserting exit 0; returns stdout.
    pub fn run_ok(&self, cfg: &Value, suffix: &str) -> String {
        let (code, out, err) = self.run(cfg, suffix);
        assert_eq!(code, 0, "container failed: stdout:\n{out}\nstderr:\n{err}");
        out
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.cmd().args(["delete", "--force", id]).output();
        }
    }
}

/// A config like `noderun spec` makes, running `args`, with a writable root.
pub fn default_config(args: &[&str]) -> Value {
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(spec_dir().join("config.json")).unwrap()).unwrap();
    v["process"]["args"] = json!(args);
    v["process"]["terminal"] = json!(false);
    v["root"]["readonly"] = json!(false);
    v
}

fn spec_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("noderun-spec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let o = Command::new(noderun_bin())
            .arg("spec")
            .arg("--bundle")
            .arg(&d)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "noderun spec: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d
    })
    .clone()
}

pub fn sh(script: &str) -> Value {
    default_config(&["sh", "-c", script])
}

/// Inode of one of our own namespaces, as `readlink /proc/self/ns/X` shows it.
pub fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// Our own cgroup path in a v1 hierarchy (or v2 "").
pub fn own_cgroup(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

/// Nothing of container `id` remains: no state dir, no cgroup in any v1 hierarchy, no mount.
pub fn assert_nothing_left(w: &World, id: &str) {
    assert!(!w.root.join(id).exists(), "state dir of {id} left behind");
    for ctrl in ["memory", "cpu", "pids", "devices", "freezer"] {
        if let Some(own) = own_cgroup(ctrl) {
            let mp = Path::new("/sys/fs/cgroup").join(ctrl);
            let p = mp.join(own.trim_start_matches('/')).join(id);
            assert!(!p.exists(), "cgroup {} left behind", p.display());
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let b = w.bundle.display().to_string();
    assert!(!mounts.contains(&b), "a mount under {b} left behind");
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains(id), "a process of {id} left behind");
}

impl World {
    /// `create` with the container's stdio going to `<tmp>/<id>.out` / `.err` (a created
    /// container keeps its stdio open, so pipes would never reach EOF). Returns (ok, stderr).
    pub fn create(&self, id: &str, extra: &[&str]) -> (bool, String) {
        let out = std::fs::File::create(self.tmp.path().join(format!("{id}.out"))).unwrap();
        let err_path = self.tmp.path().join(format!("{id}.err"));
        let err = std::fs::File::create(&err_path).unwrap();
        let st = self
            .cmd()
            .arg("create")
            .args(extra)
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        (
            st.success(),
            std::fs::read_to_string(err_path).unwrap_or_default(),
        )
    }

    pub fn output_of(&self, id: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    /// Poll `state` until `status` (or panic after 10 s).
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let s = self.state(id);
            if s["status"] == status {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never became {status}: {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
