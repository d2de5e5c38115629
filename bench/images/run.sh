#!/bin/bash
# run.sh [N]  -- pull + unpack of a generated 5-layer (~50 MB uncompressed) image from a
# loopback docker-registry: nodelet-images vs `podman pull` vs `skopeo copy` + `umoci unpack`.
# Each run starts from empty storage; the three tools alternate. Prints per-run times and medians.
# Needs: docker-registry podman skopeo umoci busybox-static; a release build of nodelet-images
# (cargo build --release -p nodelet-images) or NODELET_IMAGES=/path/to/binary.
set -euo pipefail
N=${1:-7}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${NODELET_IMAGES:-$HERE/../../target/release/nodelet-images}
[ -x "$BIN" ] || { echo "missing $BIN: cargo build --release -p nodelet-images" >&2; exit 1; }
T=$(mktemp -d /var/tmp/imgbench.XXXXXX)
REG_PID=
cleanup() {
  set +e
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  # Only this run's private storage: no `system reset`, which would also touch shared network configs.
  podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver overlay rmi -a -f >/dev/null 2>&1 || true
  grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/registry.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $T/registry}
http: {addr: 127.0.0.1:$PORT}
YML
docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 & REG_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done

"$HERE/mkimage.sh" "$T/layout" 5 10
REF=127.0.0.1:$PORT/bench/app:1
skopeo copy -q --dest-tls-verify=false "oci:$T/layout:bench" "docker://$REF"
SIZE_C=$(du -sb "$T/layout/blobs" | cut -f1)

ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (b-a)*1000}'; }
median() { sort -n | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
PM=(podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
export CONTAINERS_REGISTRIES_CONF=/dev/null

: > "$T/nodelet"; : > "$T/podman.t"; : > "$T/skopeo"
for i in $(seq 1 "$N"); do
  rm -rf "$T/store"; sync
  t0=$EPOCHREALTIME; "$BIN" --root "$T/store" pull "$REF" >/dev/null 2>&1; t1=$EPOCHREALTIME
  a=$(ms "$t0" "$t1"); echo "$a" >> "$T/nodelet"

  "${PM[@]}" rmi -a -f >/dev/null 2>&1 || true; sync
  t0=$EPOCHREALTIME; "${PM[@]}" pull -q --tls-verify=false "$REF" >/dev/null; t1=$EPOCHREALTIME
  b=$(ms "$t0" "$t1"); echo "$b" >> "$T/podman.t"

  rm -rf "$T/oci" "$T/bundle"; sync
  t0=$EPOCHREALTIME
  skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$T/oci:bench"
  umoci unpack --image "$T/oci:bench" "$T/bundle" >/dev/null
  t1=$EPOCHREALTIME
  c=$(ms "$t0" "$t1"); echo "$c" >> "$T/skopeo"
  echo "run $i: nodelet ${a} ms  podman ${b} ms  skopeo+umoci ${c} ms"
done
# Sanity: both unpacked the same busybox.
cmp "$T/bundle/rootfs/bin/busybox" /bin/busybox
cmp "$(ls -d "$T"/store/layers/*/bin/busybox)" /bin/busybox
echo "image: 5 layers, $(awk -v s="$SIZE_C" 'BEGIN{printf "%.1f", s/1e6}') MB compressed, $(du -sm "$T/bundle/rootfs" | cut -f1) MB unpacked"
echo "median (N=$N): nodelet $(median < "$T/nodelet") ms, podman $(median < "$T/podman.t") ms, skopeo+umoci $(median < "$T/skopeo") ms"
