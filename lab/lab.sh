#!/bin/bash
# One-machine nodenet lab: N "nodes" as network namespaces joined by an underlay bridge
# that lives in a namespace of its own. Nothing touches the host namespace's network.
#
#   lab.sh up   [-n N] [-p PREFIX] [-d DIR] [-b NODENET] [-c NODE_CMD]
#   lab.sh down [-p PREFIX] [-d DIR]
#   lab.sh pod  [-p PREFIX] [-d DIR] [-b NODENET] NODE POD    # netns + CNI ADD, prints the IP
#   lab.sh unpod [-p PREFIX] [-d DIR] [-b NODENET] NODE POD   # CNI DEL + netns removal
#   lab.sh exec [-p PREFIX] NODE CMD...                       # run CMD in node NODE's netns
#
# Layout (PREFIX default "nnlab-", DIR default /tmp/nnlab):
#   ${PREFIX}ul        underlay netns: bridge ul0 with 192.168.77.254/24 (an "outside" host)
#   ${PREFIX}n<i>      node i: eth0 192.168.77.<i>/24 (MTU 1500), pod subnet 10.244.<i>.0/24
#   DIR/n<i>/net.d/10-nodenet.conflist   generated config with every other node as a peer
#   DIR/n<i>/data      nodenet dataDir (leases)
#
# Per-node agent hook: NODE_CMD (-c) is started once per node inside its netns with
# NODE_NAME, NODE_DIR, NODE_IP, CNI_CONF_DIR and NODENET in the environment; its pid is
# kept in DIR/n<i>/agent.pid and it is killed by `down`. This is where one nodelet per
# node plugs in (`-c 'nodelet --config $NODE_DIR/nodelet.yaml'`) once nodelet exists;
# until then the lab programs each node with `nodenet sync`.
set -euo pipefail

N=3 PREFIX=nnlab- DIR=/tmp/nnlab NODE_CMD="" 
NODENET=${NODENET:-$(command -v nodenet || echo "$(dirname "$0")/../target/debug/nodenet")}
# Options may come before or after the command word.
cmd=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then cmd=$1; shift; fi
while getopts "n:p:d:b:c:" o; do
  case $o in
    n) N=$OPTARG ;; p) PREFIX=$OPTARG ;; d) DIR=$OPTARG ;; b) NODENET=$OPTARG ;; c) NODE_CMD=$OPTARG ;;
    *) echo "bad option" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ -z "$cmd" ] && [ $# -gt 0 ]; then cmd=$1; shift; fi

UL=${PREFIX}ul
node_ns() { echo "${PREFIX}n$1"; }
node_ip() { echo "192.168.77.$1"; }
node_subnet() { echo "10.244.$1.0/24"; }

gen_config() { # gen_config I N [skip-peer]: print node I's conflist
  local i=$1 n=$2 skip=${3:-0} peers="" j
  for j in $(seq 1 "$n"); do
    [ "$j" = "$i" ] && continue
    [ "$j" = "$skip" ] && continue
    peers="$peers${peers:+,}{\"nodeIP\":\"$(node_ip "$j")\",\"subnet\":\"$(node_subnet "$j")\"}"
  done
  cat <<JSON
{
  "cniVersion": "1.1.0",
  "cniVersions": ["1.0.0", "1.1.0"],
  "name": "nodenet",
  "plugins": [{
    "type": "nodenet",
    "bridge": "cni0",
    "subnet": "$(node_subnet "$i")",
    "clusterCIDR": "10.244.0.0/16",
    "nodeIP": "$(node_ip "$i")",
    "ipMasq": true,
    "vxlan": {"vni": 1, "port": 8472, "device": "nodenet.1"},
    "peers": [$peers],
    "dataDir": "$DIR/n$i/data"
  }]
}
JSON
}

# Plugin config for one CNI call: the conflist's plugin entry with name + cniVersion added.
plugin_conf() {
  python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
p = dict(c["plugins"][0]); p["name"] = c["name"]; p["cniVersion"] = c["cniVersion"]
print(json.dumps(p))
PY
}

up() {
  [ -e "/run/netns/$UL" ] && { echo "lab $PREFIX already up (run down first)" >&2; exit 1; }
  mkdir -p "$DIR"; echo "$N" > "$DIR/nodes"
  ip netns add "$UL"
  ip -n "$UL" link set lo up
  ip -n "$UL" link add ul0 type bridge
  ip -n "$UL" addr add 192.168.77.254/24 dev ul0
  ip -n "$UL" link set ul0 up
  for i in $(seq 1 "$N"); do
    local ns; ns=$(node_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$UL" link add "n$i" type veth peer name eth0 netns "$ns"
    ip -n "$UL" link set "n$i" master ul0 up
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "$DIR/n$i/net.d" "$DIR/n$i/data"
    gen_config "$i" "$N" > "$DIR/n$i/net.d/10-nodenet.conflist"
  done
  for i in $(seq 1 "$N"); do
    nsenter --net="/run/netns/$(node_ns "$i")" "$NODENET" sync --config "$DIR/n$i/net.d/10-nodenet.conflist"
    if [ -n "$NODE_CMD" ]; then
      NODE_NAME=n$i NODE_DIR=$DIR/n$i NODE_IP=$(node_ip "$i") CNI_CONF_DIR=$DIR/n$i/net.d NODENET=$NODENET \
        setsid nsenter --net="/run/netns/$(node_ns "$i")" sh -c "$NODE_CMD" \
        > "$DIR/n$i/agent.log" 2>&1 < /dev/null &
      echo $! > "$DIR/n$i/agent.pid"
    fi
  done
  echo "lab $PREFIX up: $N nodes, underlay 192.168.77.0/24 in netns $UL, configs in $DIR/n*/net.d"
}

down() {
  local i n ns
  n=$(cat "$DIR/nodes" 2>/dev/null || echo 0)
  for i in $(seq 1 "$n"); do
    # The agent runs in its own session (setsid): end its whole process group.
    if [ -f "$DIR/n$i/agent.pid" ]; then kill -- "-$(cat "$DIR/n$i/agent.pid")" 2>/dev/null || true; fi
  done
  if [ -f "$DIR/pods" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done < "$DIR/pods"
  fi
  for i in $(seq 1 "$n"); do ip netns del "$(node_ns "$i")" 2>/dev/null || true; done
  ip netns del "$UL" 2>/dev/null || true
  rm -rf "$DIR"
}

cni() { # cni COMMAND NODE POD
  local node=$2 pod=$3
  plugin_conf "$DIR/n$node/net.d/10-nodenet.conflist" | \
    CNI_COMMAND=$1 CNI_CONTAINERID="$pod" CNI_NETNS="/run/netns/${PREFIX}p-$pod" CNI_IFNAME=eth0 \
    CNI_PATH=$(dirname "$NODENET") nsenter --net="/run/netns/$(node_ns "$node")" "$NODENET"
}

pod() {
  local node=$1 pod=$2 ns=${PREFIX}p-$2
  ip netns add "$ns"; echo "$ns" >> "$DIR/pods"
  ip -n "$ns" link set lo up
  cni ADD "$node" "$pod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'
}

unpod() {
  cni DEL "$1" "$2"
  ip netns del "${PREFIX}p-$2" 2>/dev/null || true
}

case $cmd in
  up) up ;;
  down) down ;;
  config) gen_config "$1" "$2" "${3:-0}" ;;
  pod) pod "$1" "$2" ;;
  unpod) unpod "$1" "$2" ;;
  exec) node=$1; shift; exec nsenter --net="/run/netns/$(node_ns "$node")" "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
