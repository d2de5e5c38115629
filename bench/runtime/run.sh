#!/bin/bash
# bench/runtime/run.sh — `noderun run` vs `crun run` (and `runc run`) of /bin/true in a busybox
# bundle, interleaved, N runs each, in two settings; appends a dated section to bench/RESULTS.md.
#
#   quiet: relative cgroupsPath ("nrb-<runtime>", below the caller's cgroup), state on tmpfs;
#          noderun, runc, crun.
#   user:  what podman and containerd do: the caller sits in a child cgroup ("/caller", as
#          conmon in <parent>/conmon), the container gets an absolute cgroupsPath beside it
#          ("/nrb-user/<runtime>", made from the hierarchy root as mounted in the bench's
#          namespace), the runtime's --root is on disk, and runs are GAP_MS (50) ms apart, not
#          back to back; noderun and crun.
#
#   bench/runtime/run.sh            # N=200, writes bench/RESULTS.md
#   N=50 RESULTS=/dev/stdout bench/runtime/run.sh
#   EXTRA="label=/path/to/noderun" bench/runtime/run.sh   # more noderun builds (both settings)
#   bench/runtime/run.sh --exec CMD...   # run CMD in the same sandbox instead (for profiling),
#                                        # bundles in $NRB_WORK/<runtime>[-user], state below
#                                        # $NRB_STATE (tmpfs) and $NRB_DISK (disk)
#
# Written for a cgroup v1 / hybrid host like this one. Needs root, busybox-static, runc, crun,
# python3, GNU time (apt-get install busybox-static runc crun python3 time). Uses the noderun
# that ships (`scripts/build-static.sh noderun`: static, opt-level "s") unless NODERUN is set.
#
# Fairness and safety: every runtime runs in the same private mount + cgroup namespace. Before
# entering it, this script makes one sandbox cgroup below its own cgroup in every hierarchy
# (for memory: below the session's memory cgroup, never at the hierarchy root) and moves the
# benchmark there; inside, each v1 hierarchy is re-mounted so that its root is the sandbox, and
# the controller-less cgroup2 mount (/sys/fs/cgroup/unified) is unmounted, which crun needs on a
# v1 "hybrid" host. Relative and absolute cgroup paths therefore both land inside the sandbox,
# which is removed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CG=/sys/fs/cgroup

# ---- inside the namespaces (re-exec'd below) -------------------------------------------------
if [ "${1:-}" = --inner ]; then
  shift
  while IFS=: read -r _ ctrls path; do
    [ "$path" = / ] || { echo "run.sh: not at the root of a fresh cgroup ns ($ctrls:$path)" >&2; exit 1; }
    if [ -z "$ctrls" ]; then
      # cgroup2: hide the controller-less hybrid mount (crun refuses hybrid mode otherwise)
      # (a private tmpfs goes over the mountpoint: crun still writes a cgroup.procs file there)
      if mountpoint -q $CG/unified; then umount $CG/unified; mount -t tmpfs -o size=1m nrbench $CG/unified; fi
      continue
    fi
    mp=$CG/${ctrls#name=}
    mountpoint -q "$mp" || continue
    case $ctrls in name=*) opts="none,$ctrls" ;; *) opts=$ctrls ;; esac
    umount "$mp"
    mount -t cgroup -o "$opts" cgroup "$mp"
    grep -qx "$$" "$mp/cgroup.procs" || { echo "run.sh: $mp root is not the sandbox" >&2; exit 1; }
  done < /proc/self/cgroup
  # runtime state on a tmpfs, as /run is on a normal host (here /run is on disk)
  mount -t tmpfs -o size=64m nrbench "$NRB_STATE"
  exec "$@"
fi

MODE=bench
if [ "${1:-}" = --exec ]; then MODE=exec; shift; fi
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
for t in runc crun python3 busybox /usr/bin/time; do
  command -v $t >/dev/null || { echo "run.sh: $t missing (apt-get install runc crun python3 busybox-static time)" >&2; exit 1; }
done
N=${N:-200}
WARMUP=${WARMUP:-10}
RSS_RUNS=${RSS_RUNS:-30}
GAP_MS=${GAP_MS:-50}   # user setting: idle time before each run (engines do not start back to back)
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
if [ -z "${NODERUN:-}" ]; then
  NODERUN=$("$REPO/scripts/build-static.sh" noderun)
  NODERUN=$REPO/$NODERUN
fi
RUNC=$(command -v runc); CRUN=$(command -v crun)

WORK=$(mktemp -d /tmp/nrbench.XXXXXX)
STATE=$(mktemp -d /run/nrbench.XXXXXX)
DISK=$WORK/disk-state   # on disk: /tmp is not a tmpfs here (checked below)
SUB=nrbench-$$
sandboxes=()
cleanup() {
  set +e
  for d in "${sandboxes[@]}"; do
    [ -d "$d" ] && find "$d" -depth -mindepth 1 -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$d" ] && rmdir "$d"
  done
  rm -rf "$WORK" "$STATE"
}
trap cleanup EXIT

# ---- busybox bundle: one rootfs, one config per runtime and setting ----------------------------
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
mkdir -p "$WORK/spec"
"$NODERUN" spec --bundle "$WORK/spec"
mkdir -p "$DISK"
[ "$(stat -f -c %T "$DISK")" != tmpfs ] || echo "run.sh: warning: $DISK is on tmpfs, the user setting is not on disk" >&2
for b in noderun:nrb-noderun runc:nrb-runc crun:nrb-crun noderun-user:/nrb-user/noderun crun-user:/nrb-user/crun; do
  rt=${b%%:*}
  mkdir -p "$WORK/$rt"
  python3 - "$WORK/spec/config.json" "$WORK/$rt/config.json" "$R" "${b#*:}" <<'EOF'
import json, sys
src, dst, rootfs, cgpath = sys.argv[1:]
c = json.load(open(src))
c["ociVersion"] = "1.0.2"  # crun 1.8.1 rejects newer versions
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["root"] = {"path": rootfs, "readonly": True}
c["linux"]["cgroupsPath"] = cgpath
json.dump(c, open(dst, "w"), indent=2)
EOF
done

# ---- sandbox cgroups below our own, one per hierarchy ----------------------------------------
while IFS=: read -r _ ctrls path; do
  if [ -z "$ctrls" ]; then mp=$CG/unified; [ "$(stat -f -c %T $CG)" = cgroup2fs ] && mp=$CG; else mp=$CG/${ctrls#name=}; fi
  mountpoint -q "$mp" || continue
  d=$mp${path%/}/$SUB
  mkdir "$d"; sandboxes=("$d" "${sandboxes[@]}")
  if [ -e "$d/cpuset.cpus" ]; then
    cat "$(dirname "$d")/cpuset.cpus" > "$d/cpuset.cpus"; cat "$(dirname "$d")/cpuset.mems" > "$d/cpuset.mems"
  fi
done < /proc/self/cgroup

machine() {
  echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), kernel $(uname -r), cgroup v1 hybrid"
  echo "- versions: $("$NODERUN" --version) (release build, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')); $(runc --version | head -n1); $(crun --version | head -n1)"
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u '+%Y-%m-%d %H:%M UTC')
# The benchmark process joins the sandboxes, then enters the namespaces.
# in_sandbox CMD...: CMD joins the sandboxes, then runs in the private mount + cgroup namespaces.
in_sandbox() {
  bash -c 'for d in $SANDBOXES; do echo $$ > "$d/cgroup.procs"; done; exec "$@"' in_sandbox \
    unshare --mount --cgroup --propagation private -- "$0" --inner "$@"
}
# as_caller CMD...: inside the namespaces, CMD moves into the child cgroup /caller first (the
# place of conmon or a containerd shim), so the container's absolute path is outside its cgroup.
as_caller() {
  # shellcheck disable=SC2016
  bash -c 'for h in /sys/fs/cgroup/*/; do
      [ "$(stat -f -c %T "$h")" = cgroupfs ] || continue
      mkdir -p "$h/caller"
      if [ -e "$h/caller/cpuset.cpus" ] && [ -z "$(cat "$h/caller/cpuset.cpus")" ]; then
        cat "$h/cpuset.cpus" > "$h/caller/cpuset.cpus"; cat "$h/cpuset.mems" > "$h/caller/cpuset.mems"
      fi
      echo $$ > "$h/caller/cgroup.procs"
    done; exec "$@"' as_caller "$@"
}
export -f as_caller
export SANDBOXES="${sandboxes[*]}" NRB_WORK=$WORK NRB_STATE=$STATE NRB_DISK=$DISK NRB_NODERUN=$NODERUN
if [ "$MODE" = exec ]; then
  # profiling aid: bundles in $NRB_WORK/{noderun,runc,crun}, state roots below $NRB_STATE
  in_sandbox "$@"
  exit
fi
# EXTRA="label=/path/to/noderun ...": other noderun builds, run on the noderun bundles alongside
extra=() extra_user=()
for e in ${EXTRA:-}; do
  extra+=("${e%%=*}=${e#*=}:$WORK/noderun")
  mkdir -p "$DISK/${e%%=*}-user"
  extra_user+=("${e%%=*}-user=${e#*=}:$WORK/noderun-user:$DISK/${e%%=*}-user")
done
mkdir -p "$DISK/noderun-user" "$DISK/crun-user"
table_user=$(in_sandbox bash -c 'as_caller "$@"' _ python3 "$HERE/bench.py" --iterations "$N" --warmup "$WARMUP" \
  --rss-runs "$RSS_RUNS" --errlog "$WORK/err.log" --state "$DISK" --gap-ms "$GAP_MS" \
  noderun-user="$NODERUN:$WORK/noderun-user:$DISK/noderun-user" "${extra_user[@]}" \
  crun-user="$CRUN:$WORK/crun-user:$DISK/crun-user")
table=$(in_sandbox python3 "$HERE/bench.py" --iterations "$N" --warmup "$WARMUP" --rss-runs "$RSS_RUNS" \
  --errlog "$WORK/err.log" --state "$STATE" \
  noderun="$NODERUN:$WORK/noderun" "${extra[@]}" runc="$RUNC:$WORK/runc" crun="$CRUN:$WORK/crun")
load1=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo
  echo "## noderun run vs crun (and runc) — $start"
  echo
  echo "\`bench/runtime/run.sh\`: \`<runtime> run\` of /bin/true in a busybox-static bundle (read-only root,"
  echo "the \`noderun spec\` defaults: pid/net/ipc/uts/mount/cgroup namespaces, masked/read-only paths, default devices),"
  echo "$N runs each after $WARMUP warm-up runs, interleaved in shuffled order, all in one private mount + cgroup"
  echo "namespace with /sys/fs/cgroup/unified hidden (needed by crun). Wall time: spawn → wait;"
  echo "peak RSS: GNU time %M in a second interleaved pass of $RSS_RUNS runs each. noderun is the shipped build"
  echo "(\`scripts/build-static.sh noderun\`) unless noted."
  echo
  machine
  echo "- load average before / after: $load0 / $load1 (shared machine)"
  [ -n "${EXTRA:-}" ] && echo "- other noderun builds in the same run: ${EXTRA_NOTE:-$EXTRA}"
  echo
  echo "**User setting** (as podman and containerd run a runtime): the caller in a child cgroup \`/caller\`,"
  echo "an absolute cgroupsPath beside it (\`/nrb-user/<runtime>\`), \`--root\` on disk, ${GAP_MS} ms idle before"
  echo "each run (not timed; engines do not start containers back to back):"
  echo
  echo "$table_user"
  echo
  echo "**Quiet setting**: relative cgroupsPath (\`nrb-<runtime>\`, below the caller), \`--root\` on tmpfs:"
  echo
  echo "$table"
} | tee -a "$RESULTS"
