#!/bin/bash
# bench/runtime/run.sh — `noderun run` vs `runc run` vs `crun run` of /bin/true in a busybox
# bundle, interleaved, N runs each; appends a dated section to bench/RESULTS.md.
#
#   bench/runtime/run.sh            # N=200, writes bench/RESULTS.md
#   N=50 RESULTS=/dev/stdout bench/runtime/run.sh
#   EXTRA="noderun-static=/tmp/noderun-static" bench/runtime/run.sh   # more noderun builds
#   bench/runtime/run.sh --exec CMD...   # run CMD in the same sandbox instead (for profiling),
#                                        # bundles in $NRB_WORK/<runtime>, state below $NRB_STATE
#
# Written for a cgroup v1 / hybrid host like this one. Needs root, busybox-static, runc, crun,
# python3, GNU time (apt-get install busybox-static runc crun python3 time). Builds noderun with
# `cargo build --release -p noderun` unless NODERUN is set.
#
# Fairness and safety: every runtime runs in the same private mount + cgroup namespace. Before
# entering it, this script makes one sandbox cgroup below its own cgroup in every hierarchy
# (for memory: below the session's memory cgroup, never at the hierarchy root) and moves the
# benchmark there; inside, each v1 hierarchy is re-mounted so that its root is the sandbox, and
# the controller-less cgroup2 mount (/sys/fs/cgroup/unified) is unmounted, which crun needs on a
# v1 "hybrid" host. Each runtime gets a relative cgroupsPath ("nrb-<runtime>"), which runc and
# noderun place below their own cgroup and crun below the (re-mounted) root: in all three cases
# inside the sandbox. The sandbox is removed at the end.
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
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
if [ -z "${NODERUN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p noderun)
  NODERUN=$REPO/target/release/noderun
fi
RUNC=$(command -v runc); CRUN=$(command -v crun)

WORK=$(mktemp -d /tmp/nrbench.XXXXXX)
STATE=$(mktemp -d /run/nrbench.XXXXXX)
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

# ---- busybox bundle: one rootfs, one config per runtime (cgroupsPath nrb-<runtime>) ----------
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
mkdir -p "$WORK/spec"
"$NODERUN" spec --bundle "$WORK/spec"
for rt in noderun runc crun; do
  mkdir -p "$WORK/$rt"
  python3 - "$WORK/spec/config.json" "$WORK/$rt/config.json" "$R" "nrb-$rt" <<'EOF'
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
export SANDBOXES="${sandboxes[*]}" NRB_WORK=$WORK NRB_STATE=$STATE NRB_NODERUN=$NODERUN
if [ "$MODE" = exec ]; then
  # profiling aid: bundles in $NRB_WORK/{noderun,runc,crun}, state roots below $NRB_STATE
  in_sandbox "$@"
  exit
fi
# EXTRA="label=/path/to/noderun ...": other noderun builds, run on the noderun bundle alongside
extra=()
for e in ${EXTRA:-}; do extra+=("${e%%=*}=${e#*=}:$WORK/noderun"); done
table=$(in_sandbox python3 "$HERE/bench.py" --iterations "$N" --warmup "$WARMUP" --rss-runs "$RSS_RUNS" \
  --errlog "$WORK/err.log" --state "$STATE" \
  noderun="$NODERUN:$WORK/noderun" "${extra[@]}" runc="$RUNC:$WORK/runc" crun="$CRUN:$WORK/crun")
load1=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo
  echo "## noderun run vs runc vs crun — $start"
  echo
  echo "\`bench/runtime/run.sh\`: \`<runtime> run\` of /bin/true in a busybox-static bundle (read-only root,"
  echo "the \`noderun spec\` defaults: pid/net/ipc/uts/mount/cgroup namespaces, masked/read-only paths, default devices),"
  echo "$N runs each after $WARMUP warm-up runs, interleaved in shuffled order, all in one private mount + cgroup"
  echo "namespace with /sys/fs/cgroup/unified hidden (needed by crun), state on tmpfs. Wall time: spawn → wait;"
  echo "peak RSS: GNU time %M in a second interleaved pass of $RSS_RUNS runs each."
  echo
  machine
  echo "- load average before / after: $load0 / $load1 (shared machine)"
  [ -n "${EXTRA:-}" ] && echo "- other noderun builds in the same run: ${EXTRA_NOTE:-$EXTRA}"
  echo
  echo "$table"
} | tee -a "$RESULTS"
