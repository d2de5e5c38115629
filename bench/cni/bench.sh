#!/bin/bash
# ADD/DEL latency: nodenet vs the reference CNI bridge + host-local (Debian package
# containernetworking-plugins), side by side in one run. Everything happens inside network
# namespaces made here: one "node" netns holding both plugins' bridges, and a fresh pod
# netns per iteration. Iterations alternate reference / nodenet so both see the same load.
#
#   bench/cni/bench.sh [ITERATIONS] [NODENET_BINARY]     (SETTLE=seconds between calls, default 0.1)
#
# Both plugins run with ipMasq off (as the reference was timed in shared/peers/cni);
# nodenet also has its VXLAN overlay with two peers configured, so every ADD reconciles
# the VXLAN device, routes, neighbours and FDB. Times are wall-clock per plugin process
# (fork+exec included for both), medians reported with the ratio nodenet / reference.
set -euo pipefail
N=${1:-200}
SETTLE=${SETTLE:-0.1}
NODENET=${2:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/nodenet}
REF=/usr/lib/cni/bridge
[ -x "$REF" ] || { echo "missing $REF: apt-get install containernetworking-plugins" >&2; exit 1; }
[ -x "$NODENET" ] || { echo "missing $NODENET: cargo build --release -p nodenet" >&2; exit 1; }

TAG=nnbench$$
WORK=$(mktemp -d /tmp/$TAG.XXXX)
NODE=$TAG-node
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$TAG-" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NODE"
ip -n "$NODE" link set lo up
# An underlay for nodenet's overlay: a veth pair (the dummy module may be unavailable).
ip -n "$NODE" link add ul0 type veth peer name ul1
ip -n "$NODE" link set ul1 up
ip -n "$NODE" addr add 192.168.99.1/24 dev ul0
ip -n "$NODE" link set ul0 up

cat > "$WORK/ref.conf" <<JSON
{"cniVersion":"1.0.0","name":"refnet","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],
 "dataDir":"$WORK/ref-ipam"}}
JSON
cat > "$WORK/nn.conf" <<JSON
{"cniVersion":"1.0.0","name":"nnbench","type":"nodenet","bridge":"nn0","subnet":"10.244.1.0/24",
 "ipMasq":false,"nodeIP":"192.168.99.1",
 "peers":[{"nodeIP":"192.168.99.2","subnet":"10.244.2.0/24"},{"nodeIP":"192.168.99.3","subnet":"10.244.3.0/24"}],
 "dataDir":"$WORK/nn-data"}
JSON

# The timing loop runs inside the node netns (plugins are executed there, as a runtime would).
cat > "$WORK/loop.sh" <<'LOOP'
#!/bin/bash
set -u
N=$1 REF=$2 NODENET=$3 WORK=$4 TAG=$5 SETTLE=$6
export CNI_PATH=/usr/lib/cni CNI_IFNAME=eth0
one() { # one NAME BINARY CONF I
  local name=$1 bin=$2 conf=$3 i=$4 ns t0 t1 t2 t3 ra rd
  ns=$TAG-p$i-$name
  ip netns add "$ns"
  export CNI_CONTAINERID=$name-$i CNI_NETNS=/run/netns/$ns
  t0=$EPOCHREALTIME; CNI_COMMAND=ADD "$bin" < "$conf" > "$WORK/out.json"; ra=$?; t1=$EPOCHREALTIME
  t2=$EPOCHREALTIME; CNI_COMMAND=DEL "$bin" < "$conf" > /dev/null; rd=$?; t3=$EPOCHREALTIME
  # Informational: when the pod interface is really gone (nodenet removes it asynchronously).
  while ip -n "$ns" link show eth0 >/dev/null 2>&1; do :; done; t4=$EPOCHREALTIME
  ip netns del "$ns"
  # Let the kernel finish asynchronous teardown (netns cleanup, nodenet's detached veth
  # removal) so it is not billed to the next plugin call, whichever plugin that is.
  sleep "$SETTLE"
  [ $ra = 0 ] && [ $rd = 0 ] || { echo "$name iteration $i failed: ADD=$ra DEL=$rd $(cat "$WORK/out.json")" >&2; exit 1; }
  awk -v n="$name" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" \
    'BEGIN{printf "%s %.3f %.3f %.3f\n", n, (b-a)*1000, (d-c)*1000, (e-c)*1000}'
}
# Warm-up (page cache, first bridge/VXLAN creation) is not counted.
one ref "$REF" "$WORK/ref.conf" 0 > /dev/null
one nodenet "$NODENET" "$WORK/nn.conf" 0 > /dev/null
for i in $(seq 1 "$N"); do
  one ref "$REF" "$WORK/ref.conf" "$i"
  one nodenet "$NODENET" "$WORK/nn.conf" "$i"
done
LOOP
chmod +x "$WORK/loop.sh"
nsenter --net="/run/netns/$NODE" "$WORK/loop.sh" "$N" "$REF" "$NODENET" "$WORK" "$TAG" "$SETTLE" > "$WORK/samples.txt"

python3 - "$WORK/samples.txt" "$N" <<'PY'
import statistics, sys, datetime
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def col(name, i): return sorted(float(r[i]) for r in rows if r[0] == name)
def p(v, q): return v[min(len(v) - 1, int(q * len(v)))]
res = {}
for name in ("ref", "nodenet"):
    add, dele = col(name, 1), col(name, 2)
    gone = col(name, 3)
    res[name] = (statistics.median(add), p(add, 0.9), statistics.median(dele), p(dele, 0.9),
                 statistics.median(gone))
r, n = res["ref"], res["nodenet"]
print(f"nodenet CNI bench, {datetime.date.today()}, {sys.argv[2]} iterations each, medians (p90) in ms")
print("| plugin | ADD median | ADD p90 | DEL median | DEL p90 |")
print("|---|---|---|---|---|")
print(f"| reference bridge + host-local | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} |")
print(f"| nodenet | {n[0]:.2f} | {n[1]:.2f} | {n[2]:.2f} | {n[3]:.2f} |")
print(f"| ratio nodenet / reference | {n[0]/r[0]:.2f} | | {n[2]/r[2]:.2f} | |")
print(f"interface gone after DEL started (median, polled with ip): reference {r[4]:.2f} ms, nodenet {n[4]:.2f} ms")
print(f"targets: ADD <= 0.5x ({'met' if n[0]/r[0] <= 0.5 else 'MISSED'}), DEL <= 0.2x ({'met' if n[2]/r[2] <= 0.2 else 'MISSED'})")
PY
