#!/bin/bash
# agent/tests/docs-sweep/run.sh [-w SECONDS] [--keep] MANIFEST...
#
# The documentation sweep of issue 15 (see DOCS-SWEEP.md beside this file): starts a throw-away
# nodelet node (in a network namespace and a cgroup of its own, as demo.sh does) whose image
# store holds the images the Kubernetes documentation names (nginx, busybox,
# registry.k8s.io/..., all made from the host's busybox-static by images.sh), drops the given
# manifests into its static pod path together, waits SECONDS (default 40) and prints one line
# per pod (NAME READY STATUS RESTARTS), then every pod's `nodectl describe` and logs into
# $OUT (default /tmp/docs-sweep-out), removes the manifests and cleans everything up.
# Opt-in exploration, not part of ./test.sh. Needs `cargo build --workspace` first.
#
#   sudo agent/tests/docs-sweep/run.sh agent/tests/docs-sweep/manifests/pods-*.yaml
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
wait_s=40
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    -w) wait_s=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { sed -n '2,12p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
bin=$repo/target/debug
out=${OUT:-/tmp/docs-sweep-out}
rm -rf "$out"; mkdir -p "$out"

work=$(mktemp -d /tmp/nodelet-sweep.XXXXXX)
ns=nodelet-sweep-$$
cg=nodelet-sweep-$$
sock=$work/run/nodelet.sock
nodectl() { "$bin/nodectl" --socket "$sock" "$@"; }
agent=""

cgroup_dirs() {
  local _n ctrls path mp
  while IFS=: read -r _n ctrls path; do
    if [ -z "$ctrls" ]; then
      if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then mp=/sys/fs/cgroup; else continue; fi
    else
      mp=/sys/fs/cgroup/${ctrls#name=}
    fi
    mountpoint -q "$mp" && echo "$mp${path%/}/$cg"
  done </proc/self/cgroup
}

cleanup() {
  set +e
  if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
    rm -f "$work"/manifests/*.yaml
    for _ in $(seq 1 90); do
      [ "$(nodectl ps -A 2>/dev/null | awk 'NR > 1' | wc -l)" = 0 ] && break
      sleep 1
    done
    kill -TERM "$agent"; wait "$agent" 2>/dev/null
  fi
  cp "$work/nodelet.log" "$out/nodelet.log" 2>/dev/null
  for p in $(pgrep -f "$work"); do kill -KILL "$p" 2>/dev/null; done
  sleep 0.2
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  ip netns del "$ns" 2>/dev/null
  for d in $(cgroup_dirs | sort -r); do
    [ -d "$d" ] || continue
    for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    sleep 0.1
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"/{manifests,root,logs,run,net.d,cni-bin,images}
ln -s "$bin/nodenet" "$work/cni-bin/nodenet"
cat >"$work/net.d/10-nodenet.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "sweep",
 "plugins": [{"type": "nodenet", "capabilities": {"portMappings": true}, "bridge": "sweep0",
              "subnet": "10.244.9.0/24", "ipMasq": false, "dataDir": "$work/nodenet"}]}
EOF
ip netns add "$ns"
ip -n "$ns" link set lo up

"$here/images.sh" "$work/images" >/dev/null
for a in "$work"/images/*.tar; do
  "$bin/nodectl" --root-dir "$work/root" import "$a" >/dev/null
done
# A kubelet's seccomp profile directory (<root-dir>/seccomp): the docs' profiles.
mkdir -p "$work/root/seccomp/profiles"
cp "$here"/seccomp/*.json "$work/root/seccomp/profiles/"

(
  for d in $(cgroup_dirs); do
    mkdir -p "$d"
    for f in cpuset.cpus cpuset.mems; do
      [ -f "$d/$f" ] && cat "$(dirname "$d")/$f" >"$d/$f"
    done
    echo "$BASHPID" >"$d/cgroup.procs"
  done
  exec nsenter --net="/run/netns/$ns" "$bin/nodelet" --node-name sweep \
    --static-pod-path "$work/manifests" --root-dir "$work/root" \
    --pod-logs-dir "$work/logs" --run-dir "$work/run" --api-socket "$sock" \
    --cni-conf-dir "$work/net.d" --cni-bin-dir "$work/cni-bin" \
    --file-check-frequency 1s --eviction-hard 'memory.available<100Mi'
) >"$work/nodelet.log" 2>&1 &
agent=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/nodelet.log"; echo "nodelet did not start" >&2; exit 1; }

# Untagged images (`nginx`) default to imagePullPolicy Always, which fails offline exactly as
# on a kubelet; the sweep runs them as a connected node would run them: IfNotPresent is added
# where the manifest gives no policy (SWEEP_KEEP_ALWAYS=1 leaves the manifests as they are).
for m in "$@"; do
  if [ "${SWEEP_KEEP_ALWAYS:-0}" = 1 ]; then cp "$m" "$work/manifests/"; continue; fi
  python3 - "$m" "$work/manifests/$(basename "$m")" <<'PY'
import re, sys
out = []
for line in open(sys.argv[1]):
    m = re.match(r"^(\s*)(- )?image: ([^\s:@{},]+)\s*$", line)
    f = re.search(r"image: ([^\s:@{},]+)([,}])", line)
    out.append(line)
    if m:
        indent = m.group(1) + ("  " if m.group(2) else "")
        out.append(f"{indent}imagePullPolicy: IfNotPresent\n")
    elif f and "imagePullPolicy" not in line:
        out[-1] = line.replace(f.group(0), f"image: {f.group(1)}, imagePullPolicy: IfNotPresent{f.group(2)}", 1)
open(sys.argv[2], "w").writelines(out)
PY
done
sleep "$wait_s"
nodectl get pods -A -o wide >"$out/pods.txt" 2>&1 || true
cat "$out/pods.txt"
nodectl get pods -A -o json >"$out/pods.json" 2>/dev/null || true
jq -r '.items[] | .metadata.namespace + " " + .metadata.name + " " +
  ([.spec.initContainers[]?.name, .spec.containers[].name] | join(","))' "$out/pods.json" |
while read -r pns pod cs; do
  nodectl describe pod "$pod" -n "$pns" >"$out/$pod.describe" 2>&1 || true
  for c in ${cs//,/ }; do
    echo "== $c" >>"$out/$pod.log"
    nodectl logs "$pod" -n "$pns" -c "$c" --tail 20 >>"$out/$pod.log" 2>&1 || true
  done
done
grep -iE "error|warn" "$work/nodelet.log" | grep -v "level=INFO" | tail -40 >"$out/nodelet-errors.txt" || true
if [ "$keep" = 1 ]; then
  echo "node kept: $bin/nodectl --socket $sock ...; Ctrl-C to clean up"
  wait "$agent" || true
fi
