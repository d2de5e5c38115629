#!/usr/bin/env python3
"""Times `<runtime> run` of /bin/true, interleaving the runtimes, and reports wall time and
peak RSS per runtime. Called by bench/runtime/run.sh inside its private mount + cgroup
namespace; prints the Markdown results table (to stdout) for bench/RESULTS.md.

usage: bench.py --iterations N --warmup W --state DIR name=binary:bundle[:statedir] ...

statedir (default DIR/name) is the runtime's --root: on tmpfs for the quiet setting, on disk
for the setting podman and containerd users have.

Each run is one posix_spawn of `binary --root DIR/name run --bundle bundle ID` with a unique
ID, stdin/stdout from/to /dev/null; wall time is spawn → wait4, CPU time is wait4's
user + system time (the runtime and the children it waited for; steadier than wall time on a
loaded machine). Peak RSS is measured in a
second pass under GNU time (`/usr/bin/time -f %M`, the largest RSS of the runtime and of every
child it waited for) — not from our own wait4, because a child spawned from this (large)
Python process inherits its RSS high-water mark across exec. The order of the runtimes is
shuffled in every round so load drifts hit all of them alike.
"""

import argparse
import os
import random
import statistics
import sys
import time

GNU_TIME = "/usr/bin/time"


def quantile(xs, q):
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Runtime:
    def __init__(self, spec, state):
        name, rest = spec.split("=", 1)
        parts = rest.split(":")
        binary, bundle = parts[0], parts[1]
        self.name, self.binary, self.bundle = name, binary, bundle
        self.root = parts[2] if len(parts) > 2 else os.path.join(state, name)
        os.makedirs(self.root, exist_ok=True)
        self.wall, self.cpu, self.rss = [], [], []
        self.n = 0

    def run_once(self, errlog, rss_file=None):
        self.n += 1
        cid = f"{self.name}-{os.getpid()}-{self.n}"
        argv = [self.binary, "--root", self.root, "run", "--bundle", self.bundle, cid]
        if rss_file:
            argv = [GNU_TIME, "-f", "%M", "-o", rss_file] + argv
        fa = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, errlog, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
        _, status, ru = os.wait4(pid, 0)
        dt = time.perf_counter_ns() - t0
        code = os.waitstatus_to_exitcode(status)
        left = os.path.exists(os.path.join(self.root, cid))
        if left:  # a runtime that left its state behind: clean up, and fail the benchmark
            os.spawnv(os.P_WAIT, self.binary, [self.binary, "--root", self.root, "delete", "--force", cid])
        if code != 0 or left:
            with open(errlog) as f:
                err = f.read().strip()
            sys.exit(f"bench: {self.name} run {cid} exited {code}{' and left its state' if left else ''}: {err}")
        cpu = (ru.ru_utime + ru.ru_stime) * 1e3
        if rss_file:
            with open(rss_file) as f:
                return dt / 1e6, cpu, int(f.read().split()[-1])
        return dt / 1e6, cpu, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--state", required=True)
    ap.add_argument("--rss-runs", type=int, default=30)
    ap.add_argument("--errlog", default="/tmp/nrbench-err.log")
    ap.add_argument("--gap-ms", type=float, default=0.0,
                    help="idle time before every run (not timed): engines do not start containers "
                    "back to back, and the kernel's cgroup migration lock falls back to its slow "
                    "path (an RCU grace period) once it has been idle for a grace period")
    ap.add_argument("runtimes", nargs="+")
    a = ap.parse_args()
    rts = [Runtime(s, a.state) for s in a.runtimes]
    rnd = random.Random(42)
    for i in range(a.warmup + a.iterations):
        order = rts[:]
        rnd.shuffle(order)
        for rt in order:
            if a.gap_ms:
                time.sleep(a.gap_ms / 1e3)
            ms, cpu, _ = rt.run_once(a.errlog)
            if i >= a.warmup:
                rt.wall.append(ms)
                rt.cpu.append(cpu)
    rss_file = a.errlog + ".rss"
    for i in range(a.rss_runs):
        order = rts[:]
        rnd.shuffle(order)
        for rt in order:
            rt.rss.append(rt.run_once(a.errlog, rss_file)[2])
    by = {rt.name: rt for rt in rts}
    med = {rt.name: statistics.median(rt.wall) for rt in rts}
    rss = {rt.name: int(statistics.median(rt.rss)) for rt in rts}
    refs = [r for r in ("crun", "runc", "crun-user", "runc-user") if r in by]
    head = "| runtime | runs | median ms | p90 ms | mean ms | min ms | CPU ms (user+sys, median) | peak RSS KiB (GNU time, median / max) |"
    head += "".join(f" time / {r} | RSS / {r} |" for r in refs)
    print(head)
    print("|" + "---|" * (8 + 2 * len(refs)))
    for rt in rts:
        w = rt.wall
        row = (
            f"| {rt.name} | {len(w)} | {med[rt.name]:.2f} | {quantile(w, 0.9):.2f} | "
            f"{statistics.mean(w):.2f} | {min(w):.2f} | {statistics.median(rt.cpu):.2f} | {rss[rt.name]} / {max(rt.rss)} |"
        )
        row += "".join(f" {med[rt.name] / med[r]:.2f} | {rss[rt.name] / rss[r]:.2f} |" for r in refs)
        print(row)

if __name__ == "__main__":
    main()
