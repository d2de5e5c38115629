#!/bin/bash
# bench/pods/run.sh start|scale|probes|logs|api|all [podbench.py options...]
#
#   start   manifest renamed into the static pod dir → container running with network, side by
#           side with `podman kube play` of the same pod (target ≤ 0.33 × podman's median)
#   scale   110 pods dropped at once → all Running via the API (target ≤ 5 s); shim + pause
#           memory per pod (≤ 1.5 MB) and nodelet RSS with 110 pods (≤ 25 MB)
#   probes  110 pods with a liveness + readiness httpGet probe: nodelet CPU at periodSeconds 10
#           (≤ 0.02 cores) and 1 (≤ 0.10 cores); then the same with exec probes (each one a
#           `noderun exec` run by the pod's shim), whose cost shows in the shims' column
#   logs    one container flooding stdout → CRI files through the shim (≥ 200 MB/s), beside
#           podman's conmon (same as bench/logs/run.sh)
#   api     110 pods Running: `kubectl get pods` through the admin kubeconfig (TLS) (well under
#           100 ms) and the server's share; nodelet RSS before/after the API is used (≤ 25 MiB)
#   deployments  11 Deployments of 10 replicas → all 110 pods Running (target ≤ 5 s), nodelet RSS
#           (≤ 25 MiB) and idle CPU with them running (≤ 0.02 cores)
#   all     the five, one after the other
#
# Appends each result section to bench/RESULTS.md (RESULTS=/dev/null to skip) and prints it.
# Needs root, a cgroup v1/hybrid host, python3, busybox-static, podman + crun + catatonit +
# containernetworking-plugins (apt-get install podman crun catatonit containernetworking-plugins
# busybox-static python3), and a release build:
#   cargo build --release -p nodelet -p nodectl -p nodelet-shim -p nodelet-pause -p noderun -p nodenet
# (or BIN=/dir/with/the/binaries). Nothing touches the host's network: everything runs in the
# network/mount/cgroup namespaces of bench/pods/sandbox.sh, which removes all on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WHAT=${1:?usage: $0 start|scale|probes|logs|api|deployments|all [options]}
shift
# The shipped binaries (scripts/build-dist.sh: static shim and pause), else the release build.
if [ -z "${BIN:-}" ]; then
  if [ -x "$REPO/target/dist/nodelet" ]; then BIN=$REPO/target/dist; else BIN=$REPO/target/release; fi
fi
# A build older than the last commit measures old code (it happened): say so.
if [ -e "$BIN/nodelet" ] && [ "$(stat -c %Y "$BIN/nodelet")" -lt "$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)" ]; then
  echo "run.sh: warning: $BIN/nodelet is older than the last commit (scripts/build-dist.sh rebuilds it)" >&2
fi
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
for b in nodelet nodectl nodelet-shim nodelet-pause noderun nodenet; do
  [ -x "$BIN/$b" ] || { echo "run.sh: $BIN/$b missing: scripts/build-dist.sh, or cargo build --release -p nodelet -p nodectl -p nodelet-shim -p nodelet-pause -p noderun -p nodenet" >&2; exit 1; }
done
for t in python3 podman crun catatonit /usr/lib/cni/bridge /bin/busybox; do
  command -v "$t" >/dev/null || { echo "run.sh: $t missing (apt-get install podman crun catatonit containernetworking-plugins busybox-static python3)" >&2; exit 1; }
done
if [ "$WHAT" = all ]; then
  for w in start scale probes logs api; do "$0" "$w" "$@"; done
  exit
fi
export PYTHONDONTWRITEBYTECODE=1
WORK=$(mktemp -d /var/tmp/podbench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
out=$("$HERE/sandbox.sh" python3 "$HERE/podbench.py" "$WHAT" --work "$WORK" --bin "$BIN" "$@")
printf '\n%s\n' "$out" | tee -a "$RESULTS"
