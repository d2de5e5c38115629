#!/bin/bash
# The runtime demo: build noderun and walk through a container's life with it, using a
# busybox-static root filesystem. Needs root; no internet (Debian packages aside).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: containers need root: run it with sudo" >&2
  exit 1
fi
scripts/deps.sh demo
NR="$PWD/$(scripts/build-static.sh noderun)"
work=$(mktemp -d /tmp/noderun-demo.XXXXXX)
root="$work/state"
id="demo-$$"
cleanup() { "$NR" --root "$root" delete --force "$id" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a busybox bundle in $work/bundle"
mkdir -p "$work/bundle/rootfs/bin" && cd "$work/bundle"
cp /bin/busybox rootfs/bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "rootfs/bin/$a"; done
"$NR" spec
# The container: a web page served by busybox httpd, 64 MiB of memory, 32 pids.
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "mkdir -p /www && echo 'hello from noderun' > /www/index.html && exec httpd -f -p 8080 -h /www"]
c["root"]["readonly"] = False
c["hostname"] = "demo"
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 32}}
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "config.json written (noderun spec, then edited)"

step "noderun create / start / state"
"$NR" --root "$root" create --bundle . "$id" >/dev/null 2>&1
"$NR" --root "$root" state "$id" | grep -E '"(status|pid)"'
"$NR" --root "$root" start "$id"
"$NR" --root "$root" list

step "noderun exec: inside the container"
# A new network namespace has only a down loopback (a CNI plugin would set it up).
"$NR" --root "$root" exec --cap CAP_NET_ADMIN "$id" ip link set lo up
sleep 0.1
"$NR" --root "$root" exec "$id" sh -c 'echo "hostname: $(hostname)"; echo "pid 1: $(cat /proc/1/comm)"; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; wget -qO- http://127.0.0.1:8080/'

step "noderun ps"
"$NR" --root "$root" ps "$id"

step "noderun pause / resume"
"$NR" --root "$root" pause "$id"; "$NR" --root "$root" state "$id" | grep status
"$NR" --root "$root" resume "$id"; "$NR" --root "$root" state "$id" | grep status

step "noderun kill / delete"
"$NR" --root "$root" kill "$id" KILL
sleep 0.2
"$NR" --root "$root" state "$id" | grep status
"$NR" --root "$root" delete "$id"

step "noderun run: exit codes pass through"
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["sh", "-c", "echo 'a short-lived container'; exit 3"]
c["linux"]["resources"] = {}
json.dump(c, open("config.json", "w"), indent=2)
PY
set +e
start=$(date +%s%N); "$NR" --root "$root" run --bundle . "$id-run"; rc=$?; end=$(date +%s%N)
set -e
echo "exit code $rc, create+start+wait+delete in $(( (end - start) / 1000000 )) ms"
step "done: nothing left behind ($(ls "$root" | wc -l) containers in $root)"
