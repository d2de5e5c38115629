//! Test helpers: network namespaces removed on drop, running the built `nodenet` binary
//! with CNI environment variables inside a "node" namespace, and commands inside pods.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_nodenet");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique short name for this test process.
pub fn unique(tag: &str) -> String {
    format!(
        "nt{}{}-{}",
        std::process::id() % 100000,
        tag,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {name}");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// `ip -n <ns> ARGS`, asserting success; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip -n {} {:?}: {}",
            self.name,
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a command inside this namespace.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.path().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("nsenter")
    }

    /// Whether interface `name` exists in this namespace.
    pub fn has_link(&self, name: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.name, "link", "show", "dev", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// MTU of `dev` in this namespace.
    pub fn mtu(&self, dev: &str) -> u32 {
        let out = self.ip(&["-j", "link", "show", "dev", dev]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v[0]["mtu"].as_u64().unwrap() as u32
    }

    pub fn ping(&self, ip: &str) -> bool {
        self.run(&["busybox", "ping", "-c", "1", "-W", "2", ip])
            .status
            .success()
    }

    /// Wait until `cond` holds (interface removal is asynchronous after DEL).
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let t = Instant::now();
        while !cond() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The result of one plugin run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?} / {}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "plugin failed: {} {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert a CNI error with `code` whose msg contains `needle`.
    pub fn err(&self, code: u64, needle: &str) {
        assert_ne!(self.code, 0, "expected failure, got {}", self.stdout);
        let v = self.json();
        assert_eq!(v["code"].as_u64(), Some(code), "{}", self.stdout);
        let msg = v["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "msg {msg:?} lacks {needle:?}");
    }
}

/// Run the plugin inside `node` (None = the test's own netns, only for commands that do not
/// touch links) with the given CNI_COMMAND and env.
pub fn cni(
    node: Option<&Netns>,
    command: &str,
    conf: &str,
    container_id: &str,
    netns: Option<&Path>,
    ifname: &str,
) -> Run {
    cni_with_path(
        node,
        command,
        conf,
        container_id,
        netns,
        ifname,
        &std::env::var("PATH").unwrap_or_default(),
    )
}

/// Like [`cni`] with the plugin's PATH set to `path`.
pub fn cni_with_path(
    node: Option<&Netns>,
    command: &str,
    conf: &str,
    container_id: &str,
    netns: Option<&Path>,
    ifname: &str,
    path: &str,
) -> Run {
    let mut cmd = match node {
        Some(n) => {
            let mut c = Command::new("/usr/bin/nsenter");
            c.arg(format!("--net={}", n.path().display())).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.env_clear()
        .env("PATH", path)
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", "/usr/lib/cni")
        .env("CNI_IFNAME", ifname)
        .env("CNI_CONTAINERID", container_id)
        .env(
            "CNI_NETNS",
            netns.map(|p| p.display().to_string()).unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn nodenet");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A single-node plugin config with a private data dir.
pub fn conf(version: &str, subnet: &str, data_dir: &Path, extra: &str) -> String {
    format!(
        r#"{{"cniVersion":"{version}","name":"testnet","type":"nodenet","subnet":"{subnet}","dataDir":"{}"{extra}}}"#,
        data_dir.display()
    )
}

/// The pod address from an ADD result.
pub fn result_ip(v: &Value) -> String {
    v["ips"][0]["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// A busybox httpd serving a CGI that prints the client address, killed on drop.
pub struct EchoIpServer {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl EchoIpServer {
    pub fn start(ns: &Netns, port: u16) -> EchoIpServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cgi-bin")).unwrap();
        let cgi = dir.path().join("cgi-bin/ip");
        std::fs::write(
            &cgi,
            "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$REMOTE_ADDR\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", ns.path().display()))
            .args(["busybox", "httpd", "-f", "-p"])
            .arg(format!("0.0.0.0:{port}"))
            .arg("-h")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        EchoIpServer { child, _dir: dir }
    }
}

impl Drop for EchoIpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wget` the echo-ip CGI from inside `ns`; returns the address the server saw.
pub fn fetch_client_ip(ns: &Netns, ip: &str, port: u16) -> String {
    // busybox 1.35's `wget -T` crashes; bound the time with timeout(1) instead.
    let out = ns.run(&[
        "timeout",
        "5",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip}:{port}/cgi-bin/ip"),
    ]);
    assert!(
        out.status.success(),
        "wget {ip}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
