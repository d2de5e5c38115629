#!/bin/bash
# bench/pods/sandbox.sh CMD [ARGS...] — run CMD (as root) on a throwaway "node": its own network
# namespace (only a loopback, nothing shared with the host's network), a private mount
# namespace and a cgroup namespace whose root is a sandbox cgroup made below this script's own
# cgroup in every hierarchy (for memory: below the session's memory cgroup, never at the
# hierarchy root). Everything the benchmark starts (nodelet, shims, pause, containers, podman,
# conmon, crun) lives in that sandbox; on exit — success, failure or Ctrl-C — every process
# left in it is killed and its cgroups are removed, so the namespaces (and the bridges, veths,
# netns pins and overlay mounts inside them) die with it.
#
# Inside: each v1 hierarchy is re-mounted so that its root is the sandbox; the hybrid cgroup2
# mount (/sys/fs/cgroup/unified) is re-mounted the same way (its root then lists no controller,
# which crun 1.8.1, podman's runtime, requires on a hybrid host); /run/netns and /var/lib/cni
# (where podman and libcni keep netns pins and CNI caches) are private tmpfs mounts.
set -euo pipefail
CG=/sys/fs/cgroup

if [ "${1:-}" = --inner ]; then
  shift
  while IFS=: read -r _ ctrls path; do
    [ "$path" = / ] || { echo "sandbox.sh: not at the root of a fresh cgroup namespace ($ctrls:$path)" >&2; exit 1; }
    if [ -z "$ctrls" ]; then
      mp=$CG/unified; fs=cgroup2; opts=
      [ "$(stat -f -c %T $CG)" = cgroup2fs ] && { echo "sandbox.sh: written for cgroup v1/hybrid hosts" >&2; exit 1; }
    else
      mp=$CG/${ctrls#name=}; fs=cgroup
      case $ctrls in name=*) opts="none,$ctrls" ;; *) opts=$ctrls ;; esac
    fi
    mountpoint -q "$mp" || continue
    umount "$mp"
    if [ $fs = cgroup2 ]; then mount -t cgroup2 cgroup2 "$mp"; else mount -t cgroup -o "$opts" cgroup "$mp"; fi
    grep -qx "$$" "$mp/cgroup.procs" || { echo "sandbox.sh: $mp root is not the sandbox" >&2; exit 1; }
  done < /proc/self/cgroup
  ip link set lo up
  mkdir -p /run/netns /var/lib/cni
  mount -t tmpfs -o size=4m,mode=755 podbench /run/netns
  mount -t tmpfs -o size=64m,mode=755 podbench /var/lib/cni
  exec "$@"
fi

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "sandbox.sh: needs root" >&2; exit 1; }
SUB=podbench-$$
dirs=()
cleanup() {
  set +e
  local pids p d
  for _ in 1 2 3 4 5; do
    pids=$(for d in "${dirs[@]}"; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)
    [ -z "$pids" ] && break
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    sleep 0.3
  done
  for d in "${dirs[@]}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$d" ] && echo "sandbox.sh: could not remove $d" >&2
  done
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

while IFS=: read -r _ ctrls path; do
  if [ -z "$ctrls" ]; then mp=$CG/unified; else mp=$CG/${ctrls#name=}; fi
  mountpoint -q "$mp" || continue
  if [ "$ctrls" = memory ] && [ "$path" = / ]; then
    echo "sandbox.sh: refusing: own memory cgroup is the hierarchy root" >&2; exit 1
  fi
  d=$mp${path%/}/$SUB
  mkdir "$d"; dirs+=("$d")
  if [ -e "$d/cpuset.cpus" ]; then
    cat "$(dirname "$d")/cpuset.cpus" > "$d/cpuset.cpus"; cat "$(dirname "$d")/cpuset.mems" > "$d/cpuset.mems"
  fi
done < /proc/self/cgroup

# The benchmark joins the sandbox, then enters the namespaces (in a subshell, so that this
# shell stays outside and can clean up).
rc=0
( for d in "${dirs[@]}"; do echo "$BASHPID" > "$d/cgroup.procs"; done
  exec unshare --mount --cgroup --net --propagation private -- "$0" --inner "$@" ) || rc=$?
exit $rc
