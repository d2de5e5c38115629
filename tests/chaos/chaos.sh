#!/bin/bash
# Chaos: kill nodelet at random moments during pod churn, then check what users rely on:
# killing nodelet never restarts a container, every manifest ends as exactly one Running
# pod, and once every manifest is gone nothing is left behind (pod state, IP leases, pod
# cgroups, shims, netns pins, overlay mounts, veths).
#
#   sudo tests/chaos/chaos.sh [-s SECONDS] [-p PODS] [-B BINDIR] [-S SEED] [-k]
#
#   -s  how long the churn runs (default 60)        -p  how many distinct manifests (default 6)
#   -B  where nodelet, nodectl, nodelet-shim, nodelet-pause and noderun are (default target/debug)
#   -S  random seed (default: the time; printed, so a failure can be replayed)
#   -k  keep the lab on failure (for a look); `lab/lab.sh -p chaos- -d DIR down` removes it
#
# One lab node (lab/lab.sh: its own netns, cgroup below the caller's, mount namespace), so
# nothing of the host changes. Prints "chaos: N kills, M applies, ..." and PASS or FAIL lines;
# exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SECS=60 PODS=6 BINDIR=$TOP/target/debug SEED=$(date +%s) KEEP=0
while getopts "s:p:B:S:k" o; do
  case $o in
    s) SECS=$OPTARG ;; p) PODS=$OPTARG ;; B) BINDIR=$OPTARG ;; S) SEED=$OPTARG ;; k) KEEP=1 ;;
    *) sed -n '2,15p' "$0" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "chaos.sh: needs root" >&2; exit 1; }
RANDOM=$SEED
DIR=$(mktemp -d /tmp/chaos.XXXX)
LAB=("$TOP/lab/lab.sh" -p chaos$$- -d "$DIR/lab" -B "$BINDIR" -b "$BINDIR/nodenet")
FAILED=0
fail() { echo "FAIL $*"; FAILED=1; }
pass() { echo "PASS $*"; }
finish() {
  local rc=$?
  if [ "$KEEP" = 1 ] && { [ $FAILED = 1 ] || [ $rc != 0 ]; }; then
    echo "chaos: lab kept: ${LAB[*]} down"
  else
    "${LAB[@]}" down -t 60 >/dev/null 2>&1 || true
    rm -rf "$DIR"
  fi
}
trap finish EXIT

echo "chaos: seed $SEED, ${SECS}s, $PODS manifests, binaries from $BINDIR"
"${LAB[@]}" up -n 1 >/dev/null
ND=$DIR/lab/n1
NS=chaos$$-n1
mkdir -p "$DIR/m"

# Manifest k, generation g (a new generation is an edit: the pod is replaced). Even k: one
# container; odd k: two, the second with an exec readiness probe.
manifest() { # k g
  local k=$1 g=$2
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: chaos-$k
  annotations: {generation: "$g"}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox:local
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
EOF
  if [ $((k % 2)) = 1 ]; then
    cat <<EOF
  - name: side
    image: busybox:local
    command: ["sh", "-c", "touch /tmp/ready; trap 'exit 0' TERM; while true; do sleep 1; done"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 2
EOF
  fi
}

declare -A GEN
kills=0 applies=0 edits=0 deletes=0
end=$((SECONDS + SECS))
while [ $SECONDS -lt $end ]; do
  k=$((RANDOM % PODS))
  case $((RANDOM % 10)) in
    0 | 1 | 2) # kill -9 nodelet, restart after 0-1 s
      kill -9 "$(cat "$ND/nodelet.pid")" 2>/dev/null || true
      kills=$((kills + 1))
      sleep "0.$((RANDOM % 10))"
      "${LAB[@]}" restart 1 KILL >/dev/null ;;
    3 | 4 | 5) # apply (new) or edit (replace)
      g=$(( ${GEN[$k]:-0} + 1 )); GEN[$k]=$g
      manifest "$k" "$g" > "$DIR/m/chaos-$k.yaml"
      "${LAB[@]}" apply 1 "$DIR/m/chaos-$k.yaml" >/dev/null
      if [ "$g" = 1 ]; then applies=$((applies + 1)); else edits=$((edits + 1)); fi ;;
    6) # delete
      if [ -n "${GEN[$k]:-}" ]; then
        "${LAB[@]}" delete 1 "chaos-$k.yaml" >/dev/null; unset "GEN[$k]"; deletes=$((deletes + 1))
      fi ;;
    *) sleep "0.$((RANDOM % 10))" ;;
  esac
done
echo "chaos: $kills kills, $applies applies, $edits edits, $deletes deletes"
"${LAB[@]}" restart 1 KILL >/dev/null

pods_json() { "${LAB[@]}" nodectl 1 get pods -A -o json; }

# Every manifest becomes exactly one Running pod with every container ready, none restarted.
want=$(for k in "${!GEN[@]}"; do echo "chaos-$k-n1 ${GEN[$k]}"; done | sort)
settled=""
for _ in $(seq 600); do
  got=$(pods_json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {})
    cs = st.get("containerStatuses", [])
    ok = st.get("phase") == "Running" and cs and all(c.get("ready") for c in cs)
    gen = p["metadata"].get("annotations", {}).get("generation", "?")
    print(p["metadata"]["name"], gen, "ok" if ok else "pending")' | sort)
  if [ "$(echo "$got" | sed 's/ ok$//' | grep -v ' pending$' || true)" = "$want" ] && ! grep -q pending <<<"$got"; then
    settled=1; break
  fi
  sleep 0.2
done
if [ -n "$settled" ]; then pass "every manifest is one Running, ready pod ($(echo "$want" | grep -c . || true) pods)"
else fail "pods did not settle as the manifests say: want [$want] got [$got]"; fi

restarts=$(pods_json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    for c in p.get("status", {}).get("containerStatuses", []):
        if c.get("restartCount", 0):
            print(p["metadata"]["name"] + "/" + c["name"], c["restartCount"])')
if [ -z "$restarts" ]; then pass "no container restarted across $kills nodelet kills"
else fail "containers restarted: $restarts"; fi

# Remove every manifest: the node must end with nothing of any pod left.
find "$ND/manifests" -maxdepth 1 -type f -delete
for _ in $(seq 600); do
  [ -z "$(ls -A "$ND/root/pods" 2>/dev/null)" ] && [ "$(pods_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" = 0 ] && break
  sleep 0.2
done
left=()
[ -n "$(ls -A "$ND/root/pods" 2>/dev/null)" ] && left+=("pod state: $(ls "$ND/root/pods" | head -3 | tr '\n' ' ')")
leases=$(find "$ND/data" -type f -regex '.*/[0-9.]+' 2>/dev/null | wc -l)
[ "$leases" != 0 ] && left+=("$leases IP leases")
cgs=$(while read -r d; do find "$d/n1" -mindepth 1 -maxdepth 2 -type d -name 'pod*' 2>/dev/null; done < "$DIR/lab/cgroups" | wc -l)
[ "$cgs" != 0 ] && left+=("$cgs pod cgroups")
shims=$(pgrep -f "nodelet-shim.*$ND" | wc -l || true)
[ "$shims" != 0 ] && left+=("$shims shims")
mounts=$(nsenter --mount="$ND/ns/mnt" awk -v d="$ND/" 'index($5, d) == 1 && $5 !~ /\/ns(\/mnt)?$/' /proc/self/mountinfo | wc -l)
[ "$mounts" != 0 ] && left+=("$mounts mounts below $ND")
veths=$(ip -n "$NS" -o link show type veth 2>/dev/null | grep -vc ' eth0@' || true)
[ "$veths" != 0 ] && left+=("$veths pod veths")
if [ ${#left[@]} = 0 ]; then pass "nothing left after every manifest was removed"
else fail "left behind: ${left[*]}"; fi

[ $FAILED = 0 ] && echo "chaos: PASS (seed $SEED)" || echo "chaos: FAIL (seed $SEED; replay with -S $SEED)"
exit $FAILED
