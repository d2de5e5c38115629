#!/usr/bin/env python3
"""The pod benchmarks of nodelet (issues 4 and 5), run by bench/pods/run.sh inside the
throwaway node that bench/pods/sandbox.sh makes (own netns, mount ns, cgroup ns rooted at a
sandbox cgroup). Prints a Markdown section for bench/RESULTS.md on stdout; progress on stderr.

  podbench.py start  --work DIR --bin DIR [--runs N] [--warmup W]
  podbench.py scale  --work DIR --bin DIR [--pods 110] [--rounds R]
  podbench.py probes --work DIR --bin DIR [--pods 110] [--window10 S] [--window1 S]
  podbench.py logs   --work DIR --bin DIR [--rounds R] [--window S]
  podbench.py api    --work DIR --bin DIR [--pods 110] [--runs N]

What is measured (the same definition for every tool compared):
- "started with network": the pod's container runs
  `echo TOKEN | nc <gateway of the pod network> <port>`; the benchmark's TCP listener in the
  node's network namespace records when that connection is accepted. So a pod counts as
  started when its container process runs and its network (IP, route, bridge) works.
- CPU: utime + stime from /proc/<pid>/stat over a measured window (all threads).
- Memory: Rss and Pss from /proc/<pid>/smaps_rollup.
- Log throughput: bytes written by the log writer (wchar in /proc/<pid>/io of the shim, or of
  podman's conmon) and by the container (payload) over a window.
"""

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time

IMAGE = "localhost/busybox:bench"
CGROOT = "/sys/fs/cgroup"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODENET_SUBNET = "10.244.7.0/24"
NODENET_GW = "10.244.7.1"
PODMAN_SUBNET = "10.88.0.0/16"
PODMAN_GW = "10.88.0.1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def now():
    return time.perf_counter()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def quantile(xs, q):
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def wait_until(what, timeout, cond, every=0.05):
    t0 = now()
    while True:
        v = cond()
        if v:
            return v
        if now() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# ---- image ------------------------------------------------------------------------------------

def busybox_archive(path):
    """A `docker save` archive tagged IMAGE: one layer holding the host's /bin/busybox, Cmd
    `busybox sh`, PATH=/bin (as agent/tests/common/mod.rs builds it)."""

    def tar_of(files):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
            for name, data, mode in files:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), mode
                t.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    layer = tar_of([("bin/busybox", busybox, 0o755)])
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    cfg = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [IMAGE], "Layers": ["l1/layer.tar"]}]).encode()
    with open(path, "wb") as f:
        f.write(tar_of([(cfg_name, cfg, 0o644), ("l1/layer.tar", layer, 0o644), ("manifest.json", manifest, 0o644)]))


# ---- /proc and cgroups ------------------------------------------------------------------------

def sandbox_pids():
    """Every process in the sandbox (the cgroup namespace's root in the memory hierarchy)."""
    pids = set()
    for d, _, files in os.walk(f"{CGROOT}/memory"):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    return sorted(pids)


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:-1]
    except OSError:
        return []


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cpu_seconds(pid, children=False):
    """utime + stime of the whole process (all threads), in seconds; with children, also the
    cutime + cstime of the children it has reaped (a shim's runtime runs and exec'd probes)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    t = int(rest[11]) + int(rest[12])
    if children:
        t += int(rest[13]) + int(rest[14])
    return t / CLK_TCK


def rollup(pid):
    """Rss and Pss in KiB from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss"):
                out[k] = int(v.split()[0])
    return out


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wchar(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def make_child_cgroup(name):
    """`name` below the sandbox root in every v1 hierarchy (cpuset filled in); returns the
    cgroup.procs files to join."""
    procs = []
    for h in sorted(os.listdir(CGROOT)):
        mp = os.path.join(CGROOT, h)
        if os.path.islink(mp) or not os.path.ismount(mp):
            continue
        d = os.path.join(mp, name)
        os.makedirs(d, exist_ok=True)
        if os.path.exists(os.path.join(d, "cpuset.cpus")):
            for k in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(mp, k)) as f:
                    v = f.read()
                with open(os.path.join(d, k), "w") as f:
                    f.write(v)
        procs.append(os.path.join(d, "cgroup.procs"))
    return procs


# ---- the listener pods announce themselves to ---------------------------------------------------

class Listener:
    """TCP listener on all addresses of the node's netns (the pods reach it at their gateway).
    Each pod's container connects and sends one token line; the accept time is recorded."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.arrivals = {}
        self.cv = threading.Condition()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = now()
            conn.settimeout(2)
            data = b""
            try:
                while b"\n" not in data:
                    b = conn.recv(256)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            conn.close()
            tok = data.decode(errors="replace").strip()
            with self.cv:
                self.arrivals.setdefault(tok, t)
                self.cv.notify_all()

    def wait(self, tokens, timeout):
        """Waits for every token; returns {token: time}."""
        tokens = set(tokens)
        deadline = now() + timeout
        with self.cv:
            while not tokens <= self.arrivals.keys():
                left = deadline - now()
                if left <= 0:
                    missing = sorted(tokens - self.arrivals.keys())
                    raise TimeoutError(f"{len(missing)} pod(s) never announced themselves: {missing[:5]}")
                self.cv.wait(left)
            return {t: self.arrivals[t] for t in tokens}


def announce_cmd(token, gw, port, then="trap 'exit 0' TERM; /bin/busybox sleep 3600 & wait"):
    """The container's command: announce over the pod network, then keep running (and exit at
    once on SIGTERM, so that teardown between runs is quick for every tool)."""
    return ["/bin/busybox", "sh", "-c", f"echo {token} | /bin/busybox nc {gw} {port}; {then}"]


def pod_yaml(name, command, grace=1, extra_container="", restart="Always"):
    cmd = json.dumps(command)
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: {cmd}
{extra_container}"""


# ---- a nodelet node -----------------------------------------------------------------------------

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Node:
    """One nodelet with every path in `work`, nodenet as its CNI plugin, the busybox image
    imported, running in its own child cgroup of the sandbox (pods below it)."""

    def __init__(self, work, bindir, archive, flags=()):
        self.w, self.bin, self.flags = work, bindir, list(flags)
        for d in ("manifests", "stage", "root", "logs", "run", "net.d", "cni-bin", "nodenet-data"):
            os.makedirs(self.d(d), exist_ok=True)
        os.symlink(os.path.join(bindir, "nodenet"), self.d("cni-bin/nodenet"))
        with open(self.d("net.d/10-pods.conflist"), "w") as f:
            json.dump({"cniVersion": "1.1.0", "name": "podnet", "plugins": [
                {"type": "nodenet", "bridge": "nb0", "subnet": NODENET_SUBNET, "ipMasq": False,
                 "dataDir": self.d("nodenet-data")}]}, f)
        with open(self.d("config.yaml"), "w") as f:
            f.write("apiVersion: nodelet.io/v1alpha1\nkind: NodeletConfiguration\n")
        subprocess.run([self.exe("nodectl"), "--root-dir", self.d("root"), "import", archive],
                       check=True, stdout=subprocess.DEVNULL)
        self.proc = None
        self.sock = self.d("run/nodelet.sock")

    def d(self, p):
        return os.path.join(self.w, p)

    def exe(self, n):
        return os.path.join(self.bin, n)

    def start(self):
        procs = make_child_cgroup("nodelet")
        argv = [self.exe("nodelet"), "--config", self.d("config.yaml"),
                "--static-pod-path", self.d("manifests"), "--root-dir", self.d("root"),
                "--pod-logs-dir", self.d("logs"), "--run-dir", self.d("run"),
                "--api-socket", self.sock, "--node-name", "bench",
                "--cni-conf-dir", self.d("net.d"), "--cni-bin-dir", self.d("cni-bin")] + self.flags
        # Join the node's cgroup, then exec nodelet (so its pods are below it, as under systemd).
        wrapper = 'for f in $CGS; do echo $$ > "$f"; done; exec "$@"'
        env = dict(os.environ, CGS=" ".join(procs), RUST_LOG=os.environ.get("NODELET_RUST_LOG", "warn"), NO_COLOR="1")
        env.pop("NOTIFY_SOCKET", None)
        self.log = open(self.d("nodelet.log"), "ab")
        self.proc = subprocess.Popen(["/bin/sh", "-c", wrapper, "sh"] + argv, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until("nodelet's API", 20, lambda: self._healthy())
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"nodelet exited {self.proc.returncode}; see {self.d('nodelet.log')}")
        try:
            return self.get("/healthz", raw=True) is not None
        except OSError:
            return False

    def get(self, path, raw=False):
        c = UnixHTTP(self.sock)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        return body if raw else json.loads(body)

    def pods(self):
        v = self.get("/api/v1/pods")
        return v.get("items", v) if isinstance(v, dict) else v

    def drop(self, manifests):
        """Writes {file name: text} into the staging dir, then renames them all into the
        static pod directory; returns the time of the first rename."""
        for n, text in manifests.items():
            with open(self.d(f"stage/{n}"), "w") as f:
                f.write(text)
        t0 = now()
        for n in manifests:
            os.rename(self.d(f"stage/{n}"), self.d(f"manifests/{n}"))
        return t0

    def remove_all(self, timeout=120):
        for n in os.listdir(self.d("manifests")):
            os.unlink(self.d(f"manifests/{n}"))
        wait_until("every pod torn down", timeout, lambda: not self.pods(), every=0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pid(self):
        return self.proc.pid  # the wrapper exec'd nodelet


def pod_running(p):
    st = p.get("status", {})
    cs = st.get("containerStatuses") or []
    return st.get("phase") == "Running" and cs and all("running" in (c.get("state") or {}) for c in cs)


def pod_ready(p):
    cs = p.get("status", {}).get("containerStatuses") or []
    return pod_running(p) and all(c.get("ready") for c in cs)


# ---- podman, run the way shared/peers/podman does it -------------------------------------------

class Podman:
    """podman with private storage and config under `work`: cgroupfs manager, crun, the CNI
    backend with one bridge network "podman" (bridge + host-local, like nodenet's set-up: no
    masquerade, no port mapping), nofile/nproc ulimits this sandbox can grant."""

    def __init__(self, work, archive):
        self.w = work
        for d in ("root", "run", "tmp", "cni", "ipam", "pods"):
            os.makedirs(os.path.join(work, d), exist_ok=True)
        with open(self.p("containers.conf"), "w") as f:
            f.write(f"""[containers]
cgroups = "enabled"
cgroupns = "private"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "crun"
events_logger = "file"
events_logfile_path = "{self.p('events.log')}"
tmp_dir = "{self.p('tmp')}"
static_dir = "{self.p('root/libpod')}"
volume_path = "{self.p('root/volumes')}"

[network]
network_backend = "cni"
network_config_dir = "{self.p('cni')}"
cni_plugin_dirs = ["/usr/lib/cni"]
""")
        with open(self.p("storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\nrunroot = "{self.p("run")}"\ngraphroot = "{self.p("root")}"\n')
        with open(self.p("cni/87-podman.conflist"), "w") as f:
            json.dump({"cniVersion": "0.4.0", "name": "podman", "plugins": [
                {"type": "bridge", "bridge": "cni-podman0", "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": PODMAN_SUBNET, "gateway": PODMAN_GW}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": self.p("ipam")}}]}, f)
        self.env = dict(os.environ, CONTAINERS_CONF=self.p("containers.conf"),
                        CONTAINERS_STORAGE_CONF=self.p("storage.conf"),
                        CONTAINERS_REGISTRIES_CONF="/dev/null")
        self.run("load", "-q", "-i", archive)

    def p(self, x):
        return os.path.join(self.w, x)

    def argv(self, *a):
        return ["podman", "--cgroup-manager=cgroupfs", "--runtime=crun", "--storage-driver=overlay",
                f"--root={self.p('root')}", f"--runroot={self.p('run')}"] + list(a)

    def run(self, *a, check=True):
        r = subprocess.run(self.argv(*a), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise RuntimeError(f"podman {' '.join(a)}: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
        return r

    def play(self, yaml):
        """`kube play` on the "podman" network (kube play would otherwise make its own
        default network)."""
        return self.run("kube", "play", "--network", "podman", yaml)

    def yaml(self, name, text):
        path = self.p(f"pods/{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def cleanup(self):
        self.run("pod", "rm", "-a", "-f", "-t", "0", check=False)
        self.run("rm", "-a", "-f", "-t", "0", check=False)


# ---- common report bits ---------------------------------------------------------------------

def machine_lines(bindir):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    here = os.path.dirname(os.path.abspath(__file__))
    git = lambda *a: subprocess.run(["git", "-C", here] + list(a), capture_output=True, text=True).stdout.strip()
    rev = os.environ.get("BIN_REV") or git("rev-parse", "--short", "HEAD") or "?"
    dirty = "" if os.environ.get("BIN_REV") else git("status", "--porcelain", "--", "agent", "runtime", "cni")
    return [f"- machine: {os.cpu_count()} CPUs ({cpu}), kernel {os.uname().release}, cgroup v1 hybrid, "
            f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB",
            f"- nodelet: release build of {rev}{' (+ uncommitted agent changes)' if dirty else ''} ({bindir})"]


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


# ---- 1. pod start ---------------------------------------------------------------------------------

STEP_RE = re.compile(r'^(\S+)\s+DEBUG\b.*?\b(sandbox|container)\b.*?step="?([\w-]+)"?\s+ms=([\d.]+)')
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def start_steps(text, t0_wall):
    """nodelet's debug timings of one pod start (RUST_LOG=nodelet::pods=debug) → {"sandbox
    starts": s after the rename, "sandbox <step>": ..., "container <step>": ...}, all in ms
    after the rename."""
    from datetime import datetime
    out = {}
    for line in text.splitlines():
        m = STEP_RE.match(ANSI_RE.sub("", line))
        if not m:
            continue
        ts = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        kind, step = m.group(2), m.group(3)
        out.setdefault(f"{kind} begins", (ts - float(m.group(4)) / 1e3 - t0_wall) * 1e3)
        out.setdefault(f"{kind} {step} done", (ts - t0_wall) * 1e3)
    return out

def bench_start(a, archive):
    lst = Listener()
    node = Node(os.path.join(a.work, "node"), a.bin, archive, a.nodelet_flag).start()
    pm = Podman(os.path.join(a.work, "podman"), archive)
    res = {"nodelet": [], "podman": []}
    play_ret = []
    steps = []
    try:
        def one_nodelet(i):
            name = f"sn{i}"
            text = pod_yaml(name, announce_cmd(name, NODENET_GW, lst.port))
            off = os.path.getsize(node.d("nodelet.log"))
            t0w = time.time() - now()
            t0 = node.drop({f"{name}.yaml": text})
            t0w += t0
            t1 = lst.wait([name], 60)[name]
            time.sleep(0.05)
            with open(node.d("nodelet.log"), errors="replace") as f:
                f.seek(off)
                st = start_steps(f.read(), t0w)
            if st and i >= a.warmup:
                steps.append(st)
            node.remove_all()
            return (t1 - t0) * 1e3

        def one_podman(i):
            name = f"sp{i}"
            y = pm.yaml(name, pod_yaml(name, announce_cmd(name, PODMAN_GW, lst.port)))
            t0 = now()
            pm.play(y)
            tp = now()
            t1 = lst.wait([name], 60)[name]
            pm.run("kube", "down", y)
            play_ret.append((tp - t0) * 1e3)
            return (t1 - t0) * 1e3

        tools = [("nodelet", one_nodelet), ("podman", one_podman)]
        rnd = random.Random(4)
        load0 = loadavg()
        for i in range(a.warmup + a.runs):
            order = tools[:]
            rnd.shuffle(order)
            for name, fn in order:
                ms = fn(i)
                time.sleep(0.2)  # let teardown leftovers (async veth removal...) settle
                if i >= a.warmup:
                    res[name].append(ms)
                log(f"start run {i}{' (warm-up)' if i < a.warmup else ''}: {name} {ms:.1f} ms")
        load1 = loadavg()
    finally:
        pm.cleanup()
        try:
            node.remove_all(60)
        except Exception as e:  # noqa: BLE001 — the sandbox kills what is left anyway
            log(f"teardown: {e}")
        node.stop()

    n, p = res["nodelet"], res["podman"]
    ratio = median(n) / median(p)
    out = [f"## Pod start: nodelet vs `podman kube play` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += ["`bench/pods/run.sh start` — one pod, one busybox container whose command is",
            "`echo TOKEN | nc <pod gateway> <port>; trap 'exit 0' TERM; sleep 3600 & wait`. Time from the manifest's `rename(2)` into the",
            "static pod directory (nodelet) or from spawning `podman kube play pod.yaml` (podman) until the",
            "benchmark's TCP listener in the node's netns accepts the container's connection: the container",
            "process runs and its pod network works. Same YAML for both (image pre-loaded, `imagePullPolicy:",
            f"Never`), the two tools alternating in shuffled order, {a.runs} runs each after {a.warmup} warm-up runs;",
            "each pod is torn down (manifest removed / `kube down`) before the next run. nodelet: default",
            f"configuration{(' + ' + ' '.join(a.nodelet_flag)) if a.nodelet_flag else ''}, nodenet bridge (`ipMasq: false`); podman {pm.run('--version').stdout.decode().split()[-1]}:",
            "crun, cgroupfs, CNI bridge + host-local (`ipMasq: false`), k8s-file logs, infra (pause) container.", ""]
    out += machine_lines(a.bin)
    out += [f"- load average before / after: {load0} / {load1}", ""]
    out += ["| tool | runs | median ms | p10 ms | p90 ms | min ms | max ms |", "|---|---|---|---|---|---|---|"]
    for name, xs in (("nodelet", n), ("podman kube play", p)):
        out.append(f"| {name} | {len(xs)} | {median(xs):.1f} | {quantile(xs, .1):.1f} | {quantile(xs, .9):.1f} | {min(xs):.1f} | {max(xs):.1f} |")
    out += ["", f"(`podman kube play` itself returned after a median {median(play_ret):.1f} ms.)", "",
            f"**Ratio nodelet / podman (medians): {ratio:.3f}** — target ≤ 0.33: **{'met' if ratio <= 0.33 else 'MISSED'}**.", ""]
    if steps:
        keys = sorted({k for st in steps for k in st}, key=lambda k: median([st[k] for st in steps if k in st]))
        out += [f"Where nodelet's time goes (its debug step timings, `NODELET_RUST_LOG={os.environ.get('NODELET_RUST_LOG')}`;"
                f" ms after the rename, medians over {len(steps)} runs; the container announced itself after {median(n):.1f} ms):", "",
                "| step | ms after rename |", "|---|---|"]
        out += [f"| {k} | {median([st[k] for st in steps if k in st]):.1f} |" for k in keys]
        out.append("")
    return "\n".join(out)


# ---- 2 + 3. 110 pods at once; RSS --------------------------------------------------------------------

def rss_report(node):
    """Per-process memory of the node's processes, classified by executable."""
    by = {}
    for pid in sandbox_pids():
        n = exe_name(pid)
        if n == "pause":  # the pause binary runs as /pause inside the sandbox's root
            n = "nodelet-pause"
        try:
            r = rollup(pid)
        except OSError:
            continue
        by.setdefault(n, []).append((pid, r))
    return by


def bench_scale(a, archive):
    lst = Listener()
    node = Node(os.path.join(a.work, "node"), a.bin, archive, a.nodelet_flag).start()
    rounds = []
    mem = None
    idle_rss = status_kib(node.pid(), "VmRSS")
    load0 = loadavg()
    try:
        for r in range(a.rounds):
            names = [f"p{r}-{i}" for i in range(a.pods)]
            mans = {f"{n}.yaml": pod_yaml(n, announce_cmd(n, NODENET_GW, lst.port)) for n in names}
            t0 = node.drop(mans)
            api_all = None
            while True:  # poll the API every 100 ms
                ps = node.pods()
                if len(ps) == a.pods and all(pod_running(p) for p in ps):
                    api_all = now()
                    break
                if now() - t0 > 120:
                    raise TimeoutError(f"after 120 s only {sum(map(pod_running, ps))} pods Running")
                time.sleep(0.1)
            arr = lst.wait(names, 60)
            net_last = max(arr.values())
            ps_out = subprocess.run([node.exe("nodectl"), "--socket", node.sock, "ps"], capture_output=True, text=True).stdout
            running_rows = sum(1 for l in ps_out.splitlines()[1:] if " Running " in l)
            cpu_node = cpu_seconds(node.pid())
            rounds.append({"api": api_all - t0, "net": net_last - t0,
                           "net_first": min(arr.values()) - t0, "ps_running": running_rows,
                           "rss_up": status_kib(node.pid(), "VmRSS"), "threads": status_kib(node.pid(), "Threads")})
            log(f"scale round {r}: all {a.pods} Running (API) after {api_all - t0:.2f} s, last announced after {net_last - t0:.2f} s; nodectl ps: {running_rows} Running")
            if r == a.rounds - 1:
                time.sleep(a.settle)
                mem = rss_report(node)
                mem["_nodelet_hwm"] = status_kib(node.pid(), "VmHWM")
                mem["_nodelet_rss"] = status_kib(node.pid(), "VmRSS")
                mem["_nodelet_anon"] = status_kib(node.pid(), "RssAnon")
                mem["_nodelet_file"] = status_kib(node.pid(), "RssFile")
                mem["_nodelet_threads"] = status_kib(node.pid(), "Threads")
                if a.smaps_out:  # the per-mapping breakdown, for finding where nodelet's memory is
                    shutil.copyfile(f"/proc/{node.pid()}/smaps", a.smaps_out)
                shim0 = mem.get("nodelet-shim", [(None, None)])[0][0]
                if shim0:
                    mem["_shim_anon"] = status_kib(shim0, "RssAnon")
                    mem["_shim_file"] = status_kib(shim0, "RssFile")
            t1 = now()
            node.remove_all(180)
            rounds[-1]["teardown"] = now() - t1
            time.sleep(2)
            rounds[-1]["rss_down"] = status_kib(node.pid(), "VmRSS")
            log(f"scale round {r}: all torn down in {now() - t1:.2f} s (nodelet CPU so far {cpu_node:.1f} s)")
            time.sleep(1)
    finally:
        try:
            node.remove_all(120)
        except Exception as e:  # noqa: BLE001
            log(f"teardown: {e}")
        node.stop()
    load1 = loadavg()

    api = [x["api"] for x in rounds]
    net = [x["net"] for x in rounds]
    out = [f"## {a.pods} pods at once; memory — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += [f"`bench/pods/run.sh scale` — {a.pods} manifests (one busybox container each, announcing itself over",
            "the pod network as in the start benchmark, then `sleep`) written to a staging directory and renamed",
            "into the static pod directory in one burst; \"all Running\" = nodelet's API (`GET /api/v1/pods`, polled",
            "every 100 ms, the data `nodectl ps` shows) lists every pod with phase Running and its container",
            f"running. {a.rounds} rounds (all removed and torn down between rounds); nodelet's default configuration"
            f"{(' + ' + ' '.join(a.nodelet_flag)) if a.nodelet_flag else ''} with nodenet.", ""]
    out += machine_lines(a.bin)
    out += [f"- load average before / after: {load0} / {load1}", ""]
    out += ["| round | all Running (API) s | last pod announced on the network s | first announced s | `nodectl ps` rows Running | teardown of all s | nodelet RSS MiB: all Running / all removed | nodelet threads |",
            "|---|---|---|---|---|---|---|---|"]
    for i, x in enumerate(rounds):
        out.append(f"| {i + 1} | {x['api']:.2f} | {x['net']:.2f} | {x['net_first']:.2f} | {x['ps_running']} | {x['teardown']:.2f} | "
                   f"{x['rss_up'] / 1024:.1f} / {x['rss_down'] / 1024:.1f} | {x['threads']} |")
    ok = median(api) <= 5.0
    out += ["", f"(nodelet RSS right after start, no pod: {idle_rss / 1024:.1f} MiB.)"]
    out += ["", f"**Median time to all {a.pods} Running: {median(api):.2f} s** (network: {median(net):.2f} s) — target ≤ 5 s on 2 cores: **{'met' if ok else 'MISSED'}**"
            f" (worst round {max(api):.2f} s).", ""]

    shims = mem.get("nodelet-shim", [])
    pauses = mem.get("nodelet-pause", [])
    nodelet = mem.get("nodelet", [])
    busy = mem.get("busybox", [])
    npods = len(pauses)
    s_rss = sum(r["Rss"] for _, r in shims) + sum(r["Rss"] for _, r in pauses)
    s_pss = sum(r["Pss"] for _, r in shims) + sum(r["Pss"] for _, r in pauses)
    per_rss = s_rss / max(npods, 1)
    per_pss = s_pss / max(npods, 1)
    shim_rss = median([r["Rss"] for _, r in shims]); pause_rss = median([r["Rss"] for _, r in pauses])
    shim_pss = median([r["Pss"] for _, r in shims]); pause_pss = median([r["Pss"] for _, r in pauses])
    n_rss = mem["_nodelet_rss"]; n_pss = nodelet[0][1]["Pss"] if nodelet else 0
    out += [f"Memory with {npods} pods running ({a.settle} s after the last round's pods were all Running), from",
            "/proc/PID/smaps_rollup, in KiB; the MB targets are compared as MiB.",
            "PSS splits pages shared between processes (the shim and pause binaries' text, libc) among them,",
            "so the sum of PSS is what the pods really add; RSS counts shared pages in every process.", "",
            "| process | count | RSS median KiB | PSS median KiB |", "|---|---|---|---|",
            f"| nodelet-shim | {len(shims)} | {shim_rss:.0f} | {shim_pss:.0f} |",
            f"| nodelet-pause | {len(pauses)} | {pause_rss:.0f} | {pause_pss:.0f} |",
            f"| container (busybox sleep) | {len(busy)} | {median([r['Rss'] for _, r in busy]):.0f} | {median([r['Pss'] for _, r in busy]):.0f} |",
            f"| nodelet | {len(nodelet)} | {n_rss} (peak VmHWM {mem['_nodelet_hwm']}) | {n_pss} |", "",
            f"- **shim + pause per pod: PSS {per_pss / 1024:.2f} MiB, RSS {per_rss / 1024:.2f} MiB** (sums / {npods} pods) — "
            f"target ≤ 1.5 MB: **{'met' if per_pss <= 1536 else 'MISSED'}** by PSS, **{'met' if per_rss <= 1536 else 'MISSED'}** by RSS.",
            f"- **nodelet with {npods} pods: RSS {n_rss / 1024:.1f} MiB** (PSS {n_pss / 1024:.1f} MiB, peak {mem['_nodelet_hwm'] / 1024:.1f} MiB) — "
            f"target ≤ 25 MB: **{'met' if n_rss <= 25 * 1024 else 'MISSED'}**.",
            f"- breakdown: nodelet RssAnon {mem['_nodelet_anon']} KiB + RssFile {mem['_nodelet_file']} KiB (the binary's text and libc),"
            f" {mem['_nodelet_threads']} threads; {idle_rss} KiB RSS right after start with no pod. One shim: RssAnon"
            f" {mem.get('_shim_anon', 0)} KiB + RssFile {mem.get('_shim_file', 0)} KiB (file pages are shared by all shims)."
            + (f" Environment: MALLOC_ARENA_MAX={os.environ['MALLOC_ARENA_MAX']}." if os.environ.get("MALLOC_ARENA_MAX") else ""), ""]
    return "\n".join(out)


# ---- 4. probes -----------------------------------------------------------------------------------

def httpd_pod(name, period, kind="http"):
    cmd = ["/bin/busybox", "sh", "-c",
           "/bin/busybox mkdir -p /www && echo ok > /www/index.html && exec /bin/busybox httpd -f -v -p 8080 -h /www"]
    text = pod_yaml(name, cmd)
    probe = ("httpGet: {path: /, port: 8080}" if kind == "http"
             else 'exec: {command: ["/bin/busybox", "true"]}')
    if period:
        text += f"""    livenessProbe:
      {probe}
      periodSeconds: {period}
    readinessProbe:
      {probe}
      periodSeconds: {period}
"""
    return text


def count_log_lines(node):
    """httpd -v logs every request on stderr: count the request lines in all CRI files."""
    n = 0
    for d, _, files in os.walk(node.d("logs")):
        for f in files:
            if f.endswith(".log"):
                with open(os.path.join(d, f), "rb") as fh:
                    n += fh.read().count(b"response:")
    return n


def bench_probes(a, archive):
    node = Node(os.path.join(a.work, "node"), a.bin, archive, a.nodelet_flag).start()
    phases = [(f"none ({a.pods} idle httpd pods, for reference)", 0, a.window0, "http"),
              ("periodSeconds 10", 10, a.window10, "http"), ("periodSeconds 1", 1, a.window1, "http"),
              ("exec probes (`busybox true`), periodSeconds 10", 10, a.window10, "exec")]
    rows = []
    load0 = loadavg()
    try:
        for label, period, window, kind in phases:
            names = [f"{kind[0]}{period}-{i}" for i in range(a.pods)]
            t0 = node.drop({f"{n}.yaml": httpd_pod(n, period, kind) for n in names})
            cond = pod_ready if period else pod_running
            wait_until(f"{a.pods} pods ready ({label})", 180,
                       lambda: (lambda ps: len(ps) == a.pods and all(cond(p) for p in ps))(node.pods()), every=0.5)
            log(f"probes {label}: all ready after {now() - t0:.1f} s; settling {max(5, 2 * period)} s")
            time.sleep(max(5, 2 * period))
            pid = node.pid()
            others = [p for p in sandbox_pids() if exe_name(p) in ("nodelet-shim", "nodelet-pause", "busybox")]

            def others_cpu():
                # A shim's reaped children count: its runtime runs (noderun exec) and the
                # processes exec probes ran in the containers.
                s = 0.0
                for p in others:
                    try:
                        s += cpu_seconds(p, children=exe_name(p) == "nodelet-shim")
                    except OSError:
                        pass
                return s
            c0, o0, l0, w0 = cpu_seconds(pid), others_cpu(), count_log_lines(node), now()
            time.sleep(window)
            c1, o1, l1, w1 = cpu_seconds(pid), others_cpu(), count_log_lines(node), now()
            restarts = sum(c.get("restartCount", 0) for p in node.pods() for c in p["status"].get("containerStatuses") or [])
            ready = sum(1 for p in node.pods() if pod_ready(p))
            rows.append({"label": label, "period": period, "kind": kind, "window": w1 - w0, "cores": (c1 - c0) / (w1 - w0),
                         "others": (o1 - o0) / (w1 - w0), "requests": (l1 - l0) / (w1 - w0),
                         "restarts": restarts, "ready": ready, "rss": status_kib(pid, "VmRSS")})
            log(f"probes {label}: nodelet {rows[-1]['cores']:.4f} cores over {w1 - w0:.1f} s; {rows[-1]['requests']:.1f} probe requests/s")
            node.remove_all(180)
            time.sleep(1)
    finally:
        try:
            node.remove_all(120)
        except Exception as e:  # noqa: BLE001
            log(f"teardown: {e}")
        node.stop()
    load1 = loadavg()
    out = [f"## Probe cost: {a.pods} pods with a liveness and a readiness probe — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += [f"`bench/pods/run.sh probes` — {a.pods} pods, each one busybox `httpd -f -v` container with an httpGet liveness",
            "and an httpGet readiness probe (`/` on port 8080, so 2 HTTP requests per pod per period); in the last phase",
            "both probes are exec probes (`busybox true`: the shim runs `noderun exec` for each). After all pods",
            "are Ready and a settle time of 2 periods, nodelet's CPU time (utime + stime of the whole process from",
            "/proc/PID/stat) over the window, divided by the window. Probe requests/s are counted from the",
            "requests httpd logged into the CRI files (proves the probes ran). The same pods without probes",
            f"show what the agent costs with nothing to probe (idle pods: an exit stream per shim, a resync every 10 s). The shims' column counts the CPU of the children they reaped (runtime runs, exec'd probe processes). nodelet default configuration{(' + ' + ' '.join(a.nodelet_flag)) if a.nodelet_flag else ''}.", ""]
    out += machine_lines(a.bin)
    out += [f"- load average before / after: {load0} / {load1}", ""]
    out += ["| probes | window s | nodelet CPU cores | shims (+ reaped children) + pause + httpd cores | probe requests/s (expected) | restarts | ready pods | nodelet RSS MiB | target | |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tgt = {10: 0.02, 1: 0.10}.get(r["period"])
        exp = 2 * a.pods / r["period"] if r["period"] and r["kind"] == "http" else 0
        verdict = "" if tgt is None else ("**met**" if r["cores"] <= tgt else "**MISSED**")
        out.append(f"| {r['label']} | {r['window']:.0f} | **{r['cores']:.4f}** | {r['others']:.4f} | {r['requests']:.1f} ({exp:.0f}) | "
                   f"{r['restarts']} | {r['ready']} | {r['rss'] / 1024:.1f} | {'≤ ' + str(tgt) if tgt else '–'} | {verdict} |")
    out.append("")
    return "\n".join(out)


# ---- 5. log throughput ----------------------------------------------------------------------------

LOG_VARIANTS = [
    ("2-byte lines (`yes`)", ["/bin/busybox", "yes"]),
    ("100-byte lines (`yes <99 chars>`)", ["/bin/busybox", "yes", "x" * 99]),
    ("4000-byte lines (`yes <3999 chars>`)", ["/bin/busybox", "yes", "x" * 3999]),
]


def find_yes():
    for p in sandbox_pids():
        c = cmdline(p)
        if len(c) >= 2 and c[0].endswith(b"busybox") and c[1] == b"yes":
            return p
    return None


def measure_writer(window, warm):
    """Waits for the flooding container, then measures its writer (its parent: the shim or
    conmon) and itself over `window` seconds. Returns (writer MB/s, payload MB/s, writer CPU)."""
    pid = wait_until("the flooding container", 30, find_yes, every=0.02)
    parent = ppid(pid)
    time.sleep(warm)
    a0, b0, c0, t0 = wchar(parent), wchar(pid), cpu_seconds(parent), now()
    time.sleep(window)
    a1, b1, c1, t1 = wchar(parent), wchar(pid), cpu_seconds(parent), now()
    dt = t1 - t0
    return (a1 - a0) / dt / 1e6, (b1 - b0) / dt / 1e6, (c1 - c0) / dt, exe_name(parent)


def raw_rate(cmd, window):
    """The generator alone into a pipe read by `cat > /dev/null` (host side, no container)."""
    p = subprocess.Popen(cmd + [], stdout=subprocess.PIPE)
    c = subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    p.stdout.close()
    time.sleep(0.5)
    b0, t0 = wchar(p.pid), now()
    time.sleep(window)
    b1, t1 = wchar(p.pid), now()
    p.kill(); c.kill(); p.wait(); c.wait()
    return (b1 - b0) / (t1 - t0) / 1e6


def bench_logs(a, archive):
    nodes = {
        "nodelet (default rotation: 10Mi × 5, gzip)": Node(os.path.join(a.work, "node-rot"), a.bin, archive, a.nodelet_flag).start(),
    }
    norot = Node(os.path.join(a.work, "node-norot"), a.bin, archive,
                 list(a.nodelet_flag) + ["--container-log-max-size", "64Gi"])
    pm = Podman(os.path.join(a.work, "podman"), archive)
    res = {}
    load0 = loadavg()
    raw = {}
    try:
        norot.start()
        nodes["nodelet (no rotation)"] = norot
        for vname, cmd in LOG_VARIANTS:
            raw[vname] = raw_rate(cmd, 2)
        seq = 0
        for r in range(a.rounds):
            for vname, cmd in LOG_VARIANTS:
                tools = [(k, n) for k, n in nodes.items()] + [("podman (conmon, k8s-file)", None)]
                random.Random(r).shuffle(tools)
                for tname, node in tools:
                    seq += 1
                    name = f"flood{seq}"
                    text = pod_yaml(name, cmd, grace=0, restart="Never")
                    if node:
                        node.drop({f"{name}.yaml": text})
                        m = measure_writer(a.window, 1.0)
                        node.remove_all()
                        shutil.rmtree(node.d("logs"), ignore_errors=True)
                        os.makedirs(node.d("logs"), exist_ok=True)
                    else:
                        y = pm.yaml(name, text)
                        pm.play(y)
                        m = measure_writer(a.window, 1.0)
                        pm.run("kube", "down", y)
                    res.setdefault((vname, tname), []).append(m)
                    log(f"logs round {r} {vname} {tname}: {m[0]:.0f} MB/s written by {m[3]}, payload {m[1]:.0f} MB/s, writer CPU {m[2]:.2f}")
                    time.sleep(0.5)
    finally:
        pm.cleanup()
        for n in nodes.values():
            try:
                n.remove_all(60)
            except Exception as e:  # noqa: BLE001
                log(f"teardown: {e}")
            n.stop()
        norot.stop()
    load1 = loadavg()
    fs = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", a.work], capture_output=True, text=True).stdout.strip()
    out = [f"## Log throughput through the shim — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += ["`bench/logs/run.sh` — one pod, one busybox container writing to stdout as fast as it can; the",
            "shim turns it into CRI lines (`<RFC3339Nano> stdout F <text>`). Rates over a "
            f"{a.window} s window after 1 s of warm-up, {a.rounds} rounds, tools in shuffled order: **CRI bytes/s** = bytes the",
            "log writer wrote (`wchar` of the shim, or of podman's conmon with the k8s-file driver, which writes",
            "the same CRI format) and payload = bytes the container wrote into its stdout pipe. 1 MB = 10^6 bytes.",
            f"Log files on {fs} (the machine's disk), page cache as usual. The generator alone into `cat >/dev/null` is",
            "shown as the ceiling a pipe reader can reach.", ""]
    out += machine_lines(a.bin)
    out += [f"- load average before / after: {load0} / {load1}; podman {pm.run('--version').stdout.decode().split()[-1]}", ""]
    tnames = list(nodes) + ["podman (conmon, k8s-file)"]
    out += ["| output | writer | CRI MB/s (median) | payload MB/s | writer CPU (cores) | runs (CRI MB/s) |", "|---|---|---|---|---|---|"]
    for vname, _ in LOG_VARIANTS:
        for t in tnames:
            ms = res.get((vname, t), [])
            out.append(f"| {vname} | {t} | **{median([m[0] for m in ms]):.0f}** | {median([m[1] for m in ms]):.1f} | "
                       f"{median([m[2] for m in ms]):.2f} | {' '.join(f'{m[0]:.0f}' for m in ms)} |")
        out.append(f"| {vname} | generator → cat (no container) | – | {raw[vname]:.0f} | – | – |")
    out.append("")
    for vname, _ in LOG_VARIANTS:
        d = median([m[0] for m in res[(vname, tnames[0])]])
        p = median([m[0] for m in res[(vname, tnames[-1])]])
        out.append(f"- {vname}: nodelet (default) {d:.0f} MB/s of CRI file bytes — target ≥ 200 MB/s: **{'met' if d >= 200 else 'MISSED'}**; "
                   f"{d / p:.2f} × conmon.")
    out.append("")
    return "\n".join(out)


# ---- 6. the Kubernetes API with 110 pods ------------------------------------------------------

def timed(argv, env=None):
    t0 = now()
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{argv}: {r.stderr}")
    return (now() - t0) * 1000, r.stdout


def bench_api(a, archive):
    """`kubectl get pods` against nodelet's API (TLS, the admin kubeconfig nodelet writes) with
    a.pods pods running, the server's share of it (Table and JSON lists over the Unix socket),
    and nodelet's RSS before and after."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise RuntimeError("kubectl missing")
    lst = Listener()
    kc = os.path.join(a.work, "admin.kubeconfig")
    node = Node(os.path.join(a.work, "node"), a.bin, archive,
                a.nodelet_flag + ["--api-tcp-address", "127.0.0.1:0", "--admin-kubeconfig", kc]).start()
    try:
        names = [f"a{i}" for i in range(a.pods)]
        mans = {f"{n}.yaml": pod_yaml(n, announce_cmd(n, NODENET_GW, lst.port)) for n in names}
        t0 = node.drop(mans)
        wait_until(f"{a.pods} pods Running", 180,
                   lambda: len(node.pods()) == a.pods and all(pod_running(p) for p in node.pods()), every=0.2)
        log(f"api: {a.pods} pods Running after {now() - t0:.1f} s")
        time.sleep(a.settle)
        rss0 = status_kib(node.pid(), "VmRSS")
        cpu0 = cpu_seconds(node.pid())
        cache = os.path.join(a.work, "kube-cache")
        base = [kubectl, "--kubeconfig", kc, "--cache-dir", cache]
        cold, out = timed(base + ["get", "pods"])
        rows = len(out.splitlines()) - 1
        warm = [timed(base + ["get", "pods"])[0] for _ in range(a.runs)]
        wide = [timed(base + ["get", "pods", "-A", "-o", "wide"])[0] for _ in range(a.runs)]
        # The server's share: the same lists over the Unix socket, no kubectl.
        def server(accept):
            ms = []
            for _ in range(50):
                c = UnixHTTP(node.sock)
                t = now()
                c.request("GET", "/api/v1/namespaces/default/pods?limit=500", headers={"Accept": accept})
                body = c.getresponse().read()
                ms.append((now() - t) * 1000)
                c.close()
            return ms, len(body)
        table_ms, table_len = server("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        json_ms, json_len = server("application/json")
        cpu1 = cpu_seconds(node.pid())
        rss1 = status_kib(node.pid(), "VmRSS")
        hwm = status_kib(node.pid(), "VmHWM")
        node.remove_all(180)
    finally:
        try:
            node.remove_all(120)
        except Exception as e:  # noqa: BLE001
            log(f"teardown: {e}")
        node.stop()
    kv = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout.splitlines()[0]
    out = [f"## The Kubernetes API with {a.pods} pods — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += [f"`bench/pods/run.sh api` — {a.pods} pods Running (as in `scale`); nodelet with `--api-tcp-address",
            "127.0.0.1:0` (TLS, client certificate) and the admin kubeconfig it writes; the machine's kubectl",
            f"({kv}) with a discovery cache of its own. Server share: `GET /api/v1/namespaces/default/pods`",
            "over the Unix socket from Python (50 requests each), as a Table (what kubectl asks for) and as JSON.", ""]
    out += machine_lines(a.bin)
    out += ["", "| what | runs | median ms | p90 ms | max ms |", "|---|---|---|---|---|",
            f"| `kubectl get pods` (first: discovery, cold cache) | 1 | {cold:.0f} | – | – |",
            f"| `kubectl get pods` ({rows} rows) | {len(warm)} | {median(warm):.0f} | {quantile(warm, 0.9):.0f} | {max(warm):.0f} |",
            f"| `kubectl get pods -A -o wide` | {len(wide)} | {median(wide):.0f} | {quantile(wide, 0.9):.0f} | {max(wide):.0f} |",
            f"| server: Table list ({table_len} bytes) | {len(table_ms)} | {median(table_ms):.1f} | {quantile(table_ms, 0.9):.1f} | {max(table_ms):.1f} |",
            f"| server: JSON PodList ({json_len} bytes) | {len(json_ms)} | {median(json_ms):.1f} | {quantile(json_ms, 0.9):.1f} | {max(json_ms):.1f} |", ""]
    ok_t = median(warm) < 100
    ok_m = max(rss1, rss0) <= 25 * 1024
    out += [f"- **`kubectl get pods` with {a.pods} pods: median {median(warm):.0f} ms** — target well under 100 ms: **{'met' if ok_t else 'MISSED'}**"
            f" (kubectl's own start-up is most of it; the server answers the Table in {median(table_ms):.1f} ms).",
            f"- **nodelet RSS: {rss0 / 1024:.1f} MiB before the API runs, {rss1 / 1024:.1f} MiB after** ({len(warm) + len(wide) + 1} kubectl runs,"
            f" 100 socket lists; peak VmHWM {hwm / 1024:.1f} MiB) — target ≤ 25 MiB: **{'met' if ok_m else 'MISSED'}**;"
            f" nodelet CPU for all of it {cpu1 - cpu0:.2f} s.", ""]
    return "\n".join(out)


# ---- 110 pods from 11 Deployments (issue 17) ------------------------------------------------------

def deployment_yaml(name, replicas):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; /bin/busybox sleep 3600 & wait"]
"""


def bench_deployments(a, archive):
    node = Node(os.path.join(a.work, "node"), a.bin, archive, a.nodelet_flag).start()
    per = a.pods // 11
    rounds = []
    idle_cpu = None
    load0 = loadavg()
    try:
        for r in range(a.rounds):
            mans = {f"d{r}-{i}.yaml": deployment_yaml(f"d{r}-{i}", per) for i in range(11)}
            t0 = node.drop(mans)
            while True:
                ps = node.pods()
                if len(ps) == per * 11 and all(pod_running(p) for p in ps):
                    t_all = now() - t0
                    break
                if now() - t0 > 120:
                    with open(node.d("nodelet.log"), errors="replace") as f:
                        log("".join(f.readlines()[-40:]))
                    raise TimeoutError(f"after 120 s only {sum(map(pod_running, ps))} of {per * 11} pods Running")
                time.sleep(0.1)
            log(f"deployments round {r}: all {per * 11} Running after {t_all:.2f} s")
            rss = status_kib(node.pid(), "VmRSS")
            if r == a.rounds - 1:
                time.sleep(a.settle)
                c0 = cpu_seconds(node.pid())
                time.sleep(a.window0)
                idle_cpu = (cpu_seconds(node.pid()) - c0) / a.window0
                rss = status_kib(node.pid(), "VmRSS")
                if a.smaps_out:
                    shutil.copyfile(f"/proc/{node.pid()}/smaps", a.smaps_out)
                log(f"deployments: nodelet idle CPU {idle_cpu:.4f} cores over {a.window0:.0f} s")
            t1 = now()
            node.remove_all(180)
            rounds.append({"all": t_all, "rss": rss, "teardown": now() - t1})
            time.sleep(1)
    finally:
        try:
            node.remove_all(120)
        except Exception as e:  # noqa: BLE001
            log(f"teardown: {e}")
        node.stop()
    load1 = loadavg()
    alls = [x["all"] for x in rounds]
    out = [f"## {per * 11} pods from 11 Deployments — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    out += [f"`bench/pods/run.sh deployments` — 11 Deployment manifests of {per} replicas each (one busybox",
            "container per pod, `sleep`) renamed into the static pod directory in one burst; \"all Running\" =",
            "the API lists every controller-made pod Running with its container running (polled every 100 ms).",
            f"{a.rounds} rounds (manifests removed and every pod torn down between rounds); then, with the last",
            f"round's pods running, nodelet's CPU over {a.window0:.0f} s idle. nodelet default configuration"
            f"{(' + ' + ' '.join(a.nodelet_flag)) if a.nodelet_flag else ''}.", ""]
    out += machine_lines(a.bin)
    out += [f"- load average before / after: {load0} / {load1}", ""]
    out += ["| round | all Running s | nodelet RSS MiB (all Running) | teardown of all s |", "|---|---|---|---|"]
    for i, x in enumerate(rounds):
        out.append(f"| {i + 1} | {x['all']:.2f} | {x['rss'] / 1024:.1f} | {x['teardown']:.2f} |")
    rss_max = max(x["rss"] for x in rounds) / 1024
    out += ["", f"**Median time to all {per * 11} Running: {median(alls):.2f} s** — target ≤ 5 s: **{'met' if median(alls) <= 5 else 'MISSED'}**; "
            f"nodelet RSS ≤ {rss_max:.1f} MiB (target ≤ 25: **{'met' if rss_max <= 25 else 'MISSED'}**); "
            f"idle CPU {idle_cpu:.4f} cores (target ≤ 0.02: **{'met' if idle_cpu <= 0.02 else 'MISSED'}**).", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["start", "scale", "probes", "logs", "api", "deployments"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", required=True, help="directory with nodelet, nodectl, nodelet-shim, nodelet-pause, nodenet")
    ap.add_argument("--nodelet-flag", action="append", default=[], help="extra nodelet flag (repeatable)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smaps-out", help="scale/deployments: copy nodelet's /proc/PID/smaps here at the memory measurement")
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--window0", type=float, default=30)
    ap.add_argument("--window10", type=float, default=60)
    ap.add_argument("--window1", type=float, default=30)
    a = ap.parse_args()
    a.nodelet_flag = [f for x in a.nodelet_flag for f in x.split()]
    archive = os.path.join(a.work, "busybox.tar")
    busybox_archive(archive)
    fn = {"start": bench_start, "scale": bench_scale, "probes": bench_probes, "logs": bench_logs,
          "api": bench_api, "deployments": bench_deployments}[a.what]
    print(fn(a, archive))


if __name__ == "__main__":
    main()
