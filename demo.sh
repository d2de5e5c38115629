#!/bin/bash
# The main job: a nodelet node running the classic static pods of manifests/, offline.
# Builds nodelet, imports a busybox image made from the host's busybox-static as
# busybox:local, starts nodelet on a temporary root inside a network namespace of its own
# (the host's network is never touched) with those manifests, and shows what `nodectl`
# shows: pods coming up, the web server answering, the memory hog OOMKilled and restarted,
# the liveness probe restarting its container. Then it removes the manifests, waits for the
# pods to stop and cleans everything up.
#
#   sudo ./demo.sh            # about 2 minutes, then cleans up
#   sudo ./demo.sh --keep     # leaves the node running until Ctrl-C (prints how to use nodectl)
set -euo pipefail
cd "$(dirname "$0")"
keep=0
case "${1:-}" in
  --keep) keep=1 ;;
  "") ;;
  *) echo "usage: sudo ./demo.sh [--keep]" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: pods need root (namespaces, cgroups, mounts): run it with sudo" >&2
  exit 1
fi
scripts/deps.sh demo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building nodelet, nodectl, the shim, pause, the noderun runtime and the nodenet CNI plugin"
cargo build -q -p nodelet -p nodectl -p nodelet-shim -p nodelet-pause -p noderun -p nodenet
bin=$PWD/target/debug

work=$(mktemp -d /tmp/nodelet-demo.XXXXXX)
ns=nodelet-demo-$$
cg=nodelet-demo-$$
sock=$work/run/nodelet.sock
nodectl() { "$bin/nodectl" --socket "$sock" "$@"; }
agent=""

# One cgroup of the demo's own below this shell's cgroup in every hierarchy (cgroup v1 and
# v2): nodelet and its pods live there, and it is removed at the end.
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
    printf '\nstopping the pods (manifests removed) ...'
    for _ in $(seq 1 60); do
      [ "$(nodectl ps -A 2>/dev/null | awk 'NR > 1' | wc -l)" = 0 ] && break
      sleep 1
    done
    echo
    kill -TERM "$agent"; wait "$agent" 2>/dev/null
  fi
  # Anything left (an interrupted demo): processes with the work dir in their command line.
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
  echo "cleaned up: $work, network namespace $ns, cgroup $cg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "a node in $work (network namespace $ns)"
mkdir -p "$work"/{manifests,root,logs,run,net.d,cni-bin}
ln -s "$bin/nodenet" "$work/cni-bin/nodenet"
cat >"$work/net.d/10-nodenet.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "demo",
 "plugins": [{"type": "nodenet", "capabilities": {"portMappings": true}, "bridge": "demo0", "subnet": "10.244.7.0/24",
              "ipMasq": false, "dataDir": "$work/nodenet"}]}
EOF
ip netns add "$ns"
ip -n "$ns" link set lo up

step "busybox:local, an image made from the host's busybox-static"
scripts/busybox-image.sh "$work/busybox.tar" busybox:local
"$bin/nodectl" --root-dir "$work/root" import "$work/busybox.tar"
"$bin/nodectl" --root-dir "$work/root" images

step "nodelet starts (log: $work/nodelet.log)"
nodelet_args=(
  --node-name demo --static-pod-path "$work/manifests" --root-dir "$work/root"
  --pod-logs-dir "$work/logs" --run-dir "$work/run" --api-socket "$sock"
  --cni-conf-dir "$work/net.d" --cni-bin-dir "$work/cni-bin"
  --crash-loop-back-off-initial 5s --crash-loop-back-off-max 20s
)
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && [ -d /run/systemd/system ]; then
  # cgroup v2 under systemd: a delegated scope of its own; nodelet moves into a leaf of it
  # and makes the pod cgroups beside that leaf.
  systemd-run --scope --quiet -p Delegate=yes --unit "$cg" \
    nsenter --net="/run/netns/$ns" "$bin/nodelet" "${nodelet_args[@]}" >"$work/nodelet.log" 2>&1 &
else
  # Elsewhere (cgroup v1, or v2 without systemd): a cgroup of the demo's own below this
  # shell's cgroup in every hierarchy, entered by the subshell that becomes nodelet.
  (
    for d in $(cgroup_dirs); do
      mkdir -p "$d"
      # A new v1 cpuset starts with no CPUs and no memory nodes: inherit the parent's.
      for f in cpuset.cpus cpuset.mems; do
        [ -f "$d/$f" ] && cat "$(dirname "$d")/$f" >"$d/$f"
      done
      echo "$BASHPID" >"$d/cgroup.procs"
    done
    exec nsenter --net="/run/netns/$ns" "$bin/nodelet" "${nodelet_args[@]}"
  ) >"$work/nodelet.log" 2>&1 &
fi
agent=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/nodelet.log"; echo "nodelet did not start" >&2; exit 1; }
nodectl version 2>/dev/null || true

step "the manifests of manifests/ dropped into the static pod path"
ls manifests/*.yaml
cp manifests/*.yaml "$work/manifests/"
sleep 5
nodectl ps -o wide

step "the web server answers on its pod IP"
ip=$(nodectl ps -o wide | awk '$1 ~ /^webserver-/ {print $6}')
ip netns exec "$ns" /bin/busybox wget -qO- "http://$ip/" || echo "(no answer from $ip yet)"

step "env-vars: the downward API"
nodectl logs env-vars-demo || true

step "configmap: env and files from a ConfigMap and a Secret"
nodectl logs config-reader-demo || true

step "init-containers: the app reads what the init containers wrote"
nodectl logs init-demo-demo || true

step "waiting 60 s: the memory hog gets OOMKilled, the liveness probe fails and restarts its container"
for i in 1 2 3 4 5 6; do sleep 10; printf '%ss ' $((i * 10)); done; echo
nodectl ps

step "nodectl describe pod memory-hog-demo (lastState: OOMKilled, exit 137)"
nodectl describe pod memory-hog-demo | sed -n '/^Containers:/,/^Conditions:/p;/^Events:/,$p'

step "nodectl logs liveness-exec-demo --previous (the instance the probe killed)"
nodectl logs liveness-exec-demo --previous 2>&1 || nodectl logs liveness-exec-demo

if [ "$keep" = 1 ]; then
  step "the node keeps running until Ctrl-C; try:"
  echo "  $bin/nodectl --socket $sock ps -o wide"
  echo "  $bin/nodectl --socket $sock describe pod webserver-demo"
  echo "  cp manifests/webserver.yaml $work/manifests/other.yaml"
  wait "$agent" || true
fi
