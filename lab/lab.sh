#!/bin/bash
# One-machine lab: N "nodes" as network namespaces joined by an underlay bridge that lives in a
# namespace of its own, each node running its own nodelet with the nodenet CNI plugin (pods on
# different nodes reach each other over the VXLAN overlay). Nothing touches the host
# namespace's network. Needs root, iproute2, util-linux, python3 and busybox-static.
#
#   lab.sh up      [-n N] [-p PREFIX] [-d DIR] [-b NODENET] [-B BINDIR] [-i ARCHIVE]... [-x] [-c NODE_CMD]
#   lab.sh down    [-p PREFIX] [-d DIR] [-t SECS]     # pods torn down by their nodelet, then all removed
#   lab.sh apply   NODE FILE...                       # drop manifests into NODE's static pod path
#   lab.sh delete  NODE FILE|NAME...                  # remove them again (the pods are torn down)
#   lab.sh restart NODE [SIGNAL]                      # stop NODE's nodelet (TERM; KILL = crash), start it again
#   lab.sh nodectl NODE ARGS...                       # nodectl against NODE: ps, logs, describe, images
#   lab.sh ps                                         # `get pods -o wide` on every node
#   lab.sh exec    NODE CMD...                        # run CMD in NODE's netns
#   lab.sh pod     NODE POD / unpod NODE POD          # a bare netns + CNI ADD (prints the IP) / DEL
#   lab.sh config  I N [SKIP]                         # print node I's conflist (SKIP: a peer to leave out)
#
# NODE is a node number (1..N) or its name (n1..nN). Options may come before or after the
# command word.
#
# Layout (PREFIX default "nnlab-", DIR default /tmp/nnlab):
#   ${PREFIX}ul      underlay netns: bridge ul0 with 192.168.77.254/24 (an "outside" host)
#   ${PREFIX}n<i>    node n<i>: eth0 192.168.77.<i>/24 (MTU 1500), pod subnet 10.244.<i>.0/24
#   DIR/n<i>/        net.d/10-nodenet.conflist (every other node a peer), data/ (leases),
#                    cni-bin/nodenet, manifests/ (static pod path), root/ (state, image store),
#                    logs/ (pod logs), run/ (nodelet.sock), nodelet.log, nodelet.pid,
#                    ns/mnt (the node's mount namespace, kept across nodelet restarts)
#   cgroups          <caller's own cgroup>/${PREFIX}lab/n<i> in every hierarchy: node n<i>'s
#                    nodelet runs there and its pods are created below it (pod<uid>)
#
# Each nodelet (from BINDIR, next to nodelet-shim, nodelet-pause and noderun; default: where `nodelet`
# is on the PATH, else target/debug) runs in its node's netns and cgroup, in a private mount
# namespace kept at DIR/n<i>/ns/mnt (its netns pins and overlay mounts vanish with the lab), with busybox:local (built from
# /bin/busybox by scripts/busybox-image.sh) and every -i ARCHIVE imported into its image store.
# -x: no nodelets (the network alone; `pod` makes bare pods by calling the plugin directly).
# -c NODE_CMD: also started once per node inside its netns and cgroup, with NODE_NAME,
# NODE_DIR, NODE_IP, CNI_CONF_DIR and NODENET in the environment; killed by `down`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=3 PREFIX=nnlab- DIR=/tmp/nnlab NODE_CMD="" NO_NODELET=0 DOWN_TIMEOUT=60
NODENET_OPT="" BINDIR_OPT="" IMAGES=()
opts() { # getopts over "$@"; the caller shifts by OPTIND - 1
  local o
  OPTIND=1
  while getopts "n:p:d:b:B:c:i:t:x" o; do
    case $o in
      n) N=$OPTARG ;; p) PREFIX=$OPTARG ;; d) DIR=$OPTARG ;; b) NODENET_OPT=$OPTARG ;;
      B) BINDIR_OPT=$OPTARG ;; c) NODE_CMD=$OPTARG ;; i) IMAGES+=("$OPTARG") ;;
      t) DOWN_TIMEOUT=$OPTARG ;; x) NO_NODELET=1 ;;
      *) echo "bad option (see $0 help)" >&2; exit 2 ;;
    esac
  done
}
# Options may come before and after the command word (`-p X up -n 2`).
cmd=""
opts "$@"; shift $((OPTIND - 1))
if [ $# -gt 0 ]; then cmd=$1; shift; opts "$@"; shift $((OPTIND - 1)); fi

die() { echo "lab.sh: $*" >&2; exit 1; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# Binaries: the flag, else what `up` recorded, else the PATH, else this tree's target/debug.
saved() { [ -f "$DIR/$1" ] && cat "$DIR/$1"; }
if [ -n "$NODENET_OPT" ]; then NODENET=$(abspath "$NODENET_OPT")
elif [ -n "${NODENET:-}" ]; then NODENET=$(abspath "$NODENET")
elif s=$(saved nodenet.path); then NODENET=$s
else NODENET=$(command -v nodenet || echo "$HERE/../target/debug/nodenet"); fi
if [ -n "$BINDIR_OPT" ]; then BINDIR=$(abspath "$BINDIR_OPT")
elif s=$(saved bindir); then BINDIR=$s
elif p=$(command -v nodelet); then BINDIR=$(dirname "$p")
else BINDIR=$HERE/../target/debug; fi

UL=${PREFIX}ul
node_ns() { echo "${PREFIX}n$1"; }
node_ip() { echo "192.168.77.$1"; }
node_subnet() { echo "10.244.$1.0/24"; }
nodes() { cat "$DIR/nodes" 2>/dev/null || echo 0; }

node_index() { # NODE (3 or n3) -> 3, checked against the running lab
  local i=${1#n}
  if ! [[ $i =~ ^[0-9]+$ ]] || [ "$i" -lt 1 ] || [ "$i" -gt "$(nodes)" ]; then
    die "no node '$1' in lab $PREFIX ($DIR): nodes are 1..$(nodes) (n1..n$(nodes))"
  fi
  echo "$i"
}

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
    "capabilities": {"portMappings": true},
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

# ---- cgroups: one directory per hierarchy below the caller's own cgroup -------------------

own_cgroups() { # the caller's own cgroup directory in every mounted hierarchy, one a line
  local _n ctrls path mp
  while IFS=: read -r _n ctrls path; do
    if [ -z "$ctrls" ]; then
      if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then mp=/sys/fs/cgroup; else mp=/sys/fs/cgroup/unified; fi
    else
      mp=/sys/fs/cgroup/${ctrls#name=}
    fi
    mountpoint -q "$mp" || continue
    echo "$mp${path%/}"
  done < /proc/self/cgroup
}

mk_cgroup() { # mk_cgroup DIR: create it; a v1 cpuset child needs its parent's cpus and mems
  local c cs
  mkdir -p "$1"
  if [ -e "$1/cpuset.cpus" ] && [ -z "$(cat "$1/cpuset.cpus")" ]; then
    cat "$(dirname "$1")/cpuset.cpus" > "$1/cpuset.cpus"
    cat "$(dirname "$1")/cpuset.mems" > "$1/cpuset.mems"
  fi
  # v2: hand the controllers this (process-free) cgroup has on to its children, best effort;
  # a node's own cgroup is left to its nodelet (it moves itself into a leaf first).
  if [ -e "$1/cgroup.subtree_control" ] && [ "$(basename "$1")" = "${PREFIX}lab" ]; then
    read -ra cs < "$1/cgroup.controllers" || true
    for c in ${cs[@]+"${cs[@]}"}; do
      echo "+$c" > "$1/cgroup.subtree_control" 2>/dev/null || true
    done
  fi
}

# The lab's cgroup directories (recorded by `up`, so `down` works from any shell).
lab_cgroups() { cat "$DIR/cgroups" 2>/dev/null || true; }

cgroup_pids() { # every task in the lab's cgroups
  local d
  while read -r d; do
    [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(lab_cgroups)
  true
}

remove_cgroups() { # kill what is left in them, then remove them deepest first
  local d tries=0 pids
  while pids=$(cgroup_pids | sort -u) && [ -n "$pids" ]; do
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    tries=$((tries + 1))
    [ $tries -gt 50 ] && { echo "lab.sh: tasks left in the lab cgroups: $pids" >&2; break; }
    sleep 0.1
  done
  while read -r d; do
    [ -d "$d" ] || continue
    for tries in 1 2 3 4 5 6 7 8 9 10; do
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$d" ] || break
      sleep 0.1
    done
    [ -d "$d" ] && echo "lab.sh: could not remove cgroup $d" >&2
  done < <(lab_cgroups)
  true
}

# Run "$@" in node I's cgroups (in the background, own session); prints nothing.
spawn_in_node() { # I LOG CMD...
  local i=$1 log=$2; shift 2
  # shellcheck disable=SC2016 # expanded by the inner sh
  NODE_CGROUPS=$(sed "s|\$|/n$i|" "$DIR/cgroups") setsid sh -c '
    printf "%s\n" "$NODE_CGROUPS" | while read -r d; do echo $$ > "$d/cgroup.procs"; done
    unset NODE_CGROUPS
    exec "$@"' "lab-n$i" "$@" >> "$log" 2>&1 < /dev/null &
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

# ---- nodelet per node -----------------------------------------------------------------------

# The node's own mount namespace, kept by a bind mount at DIR/n<i>/ns/mnt so that a restarted
# nodelet finds its pods' netns pins and overlay mounts (none of them is in the host's mount
# table); `down` unmounts it with everything below DIR.
mk_mountns() { # I
  local d=$DIR/n$1/ns
  mkdir -p "$d"
  mount --bind "$d" "$d"
  mount --make-private "$d"
  touch "$d/mnt"
  unshare --mount="$d/mnt" --propagation private true
}

start_nodelet() { # I [restart]: a restart skips the image imports
  local i=$1 nd
  nd=$DIR/n$i
  mkdir -p "$nd/manifests" "$nd/root" "$nd/logs" "$nd/run" "$nd/cni-bin"
  ln -sfn "$NODENET" "$nd/cni-bin/nodenet"
  if [ -z "${2:-}" ]; then
    "$BINDIR/nodectl" --root-dir "$nd/root" import "$DIR/busybox.tar" > /dev/null
    for a in ${IMAGES[@]+"${IMAGES[@]}"}; do
      "$BINDIR/nodectl" --root-dir "$nd/root" import "$a" > /dev/null
    done
  fi
  spawn_in_node "$i" "$nd/nodelet.log" env -u NOTIFY_SOCKET RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
    nsenter --net="/run/netns/$(node_ns "$i")" --mount="$nd/ns/mnt" -- \
    "$BINDIR/nodelet" --node-name "n$i" --node-ip "$(node_ip "$i")" \
      --static-pod-path "$nd/manifests" --root-dir "$nd/root" --pod-logs-dir "$nd/logs" \
      --run-dir "$nd/run" --api-socket "$nd/run/nodelet.sock" \
      --cni-conf-dir "$nd/net.d" --cni-bin-dir "$nd/cni-bin"
  echo $! > "$nd/nodelet.pid"
}

wait_nodelet() { # I: until its API answers
  local i=$1 nd t=0
  nd=$DIR/n$i
  until "$BINDIR/nodectl" --socket "$nd/run/nodelet.sock" ps > /dev/null 2>&1; do
    if ! alive "$(cat "$nd/nodelet.pid")"; then
      echo "lab.sh: nodelet of n$i exited; its log:" >&2; tail -n 20 "$nd/nodelet.log" >&2; return 1
    fi
    t=$((t + 1))
    if [ $t -gt 300 ]; then
      echo "lab.sh: nodelet of n$i not answering after 30 s; its log:" >&2
      tail -n 20 "$nd/nodelet.log" >&2; return 1
    fi
    sleep 0.1
  done
}

# ---- commands -------------------------------------------------------------------------------

up() {
  [ -e "/run/netns/$UL" ] && die "lab $PREFIX already up (run down first)"
  [ "$(id -u)" = 0 ] || die "needs root"
  [ -x "$NODENET" ] || die "$NODENET not found: cargo build -p nodenet, or pass -b"
  if [ "$NO_NODELET" = 0 ]; then
    local b
    for b in nodelet nodelet-shim nodelet-pause noderun nodectl; do
      [ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found: cargo build -p nodelet -p nodectl -p nodelet-shim -p nodelet-pause -p noderun, pass -B BINDIR, or -x for a lab without nodelets"
    done
  fi
  # Any failure from here on removes what was made (set -e ends the script; EXIT runs).
  trap 'echo "lab.sh: up failed; removing what it made" >&2; down_now' EXIT
  mkdir -p "$DIR"; echo "$N" > "$DIR/nodes"
  echo "$NODENET" > "$DIR/nodenet.path"; echo "$BINDIR" > "$DIR/bindir"
  own_cgroups | sed "s|\$|/${PREFIX}lab|" > "$DIR/cgroups"
  local d i ns
  while read -r d; do mk_cgroup "$d"; done < "$DIR/cgroups"
  ip netns add "$UL"
  ip -n "$UL" link set lo up
  ip -n "$UL" link add ul0 type bridge
  ip -n "$UL" addr add 192.168.77.254/24 dev ul0
  ip -n "$UL" link set ul0 up
  for i in $(seq 1 "$N"); do
    ns=$(node_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$UL" link add "n$i" type veth peer name eth0 netns "$ns"
    ip -n "$UL" link set "n$i" master ul0 up
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "$DIR/n$i/net.d" "$DIR/n$i/data"
    gen_config "$i" "$N" > "$DIR/n$i/net.d/10-nodenet.conflist"
    while read -r d; do mk_cgroup "$d/n$i"; done < "$DIR/cgroups"
  done
  [ "$NO_NODELET" = 0 ] && "$HERE/../scripts/busybox-image.sh" "$DIR/busybox.tar" busybox:local
  for i in $(seq 1 "$N"); do
    nsenter --net="/run/netns/$(node_ns "$i")" "$NODENET" sync --config "$DIR/n$i/net.d/10-nodenet.conflist"
    if [ "$NO_NODELET" = 0 ]; then mk_mountns "$i"; start_nodelet "$i"; fi
    if [ -n "$NODE_CMD" ]; then
      NODE_NAME=n$i NODE_DIR=$DIR/n$i NODE_IP=$(node_ip "$i") CNI_CONF_DIR=$DIR/n$i/net.d NODENET=$NODENET \
        spawn_in_node "$i" "$DIR/n$i/agent.log" nsenter --net="/run/netns/$(node_ns "$i")" sh -c "$NODE_CMD"
      echo $! > "$DIR/n$i/agent.pid"
    fi
  done
  if [ "$NO_NODELET" = 0 ]; then
    for i in $(seq 1 "$N"); do wait_nodelet "$i"; done
  fi
  trap - EXIT
  echo "lab $PREFIX up: $N nodes (n1..n$N), underlay 192.168.77.0/24 in netns $UL, node dirs in $DIR/n*"
  [ "$NO_NODELET" = 0 ] && echo "pods: $0 -p $PREFIX -d $DIR apply NODE FILE.yaml; $0 -p $PREFIX -d $DIR ps"
  true
}

# Graceful part of `down`: empty every static pod path and let each nodelet tear its pods
# down (grace periods, CNI DEL, unmounts) for up to DOWN_TIMEOUT seconds; then stop it.
stop_nodelets() {
  local i n pid left t=0
  n=$(nodes)
  for i in $(seq 1 "$n"); do
    pid=$(cat "$DIR/n$i/nodelet.pid" 2>/dev/null || true)
    alive "$pid" && find "$DIR/n$i/manifests" -maxdepth 1 -type f -delete 2>/dev/null
  done
  while :; do
    left=""
    for i in $(seq 1 "$n"); do
      pid=$(cat "$DIR/n$i/nodelet.pid" 2>/dev/null || true)
      alive "$pid" || continue
      [ -n "$(ls -A "$DIR/n$i/root/pods" 2>/dev/null)" ] && left="$left n$i"
    done
    [ -z "$left" ] && break
    if [ $t -ge $((DOWN_TIMEOUT * 10)) ]; then
      echo "lab.sh: pods still running on$left after ${DOWN_TIMEOUT}s; killing them" >&2
      break
    fi
    t=$((t + 1)); sleep 0.1
  done
  for i in $(seq 1 "$n"); do
    pid=$(cat "$DIR/n$i/nodelet.pid" 2>/dev/null || true)
    alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  t=0
  for i in $(seq 1 "$n"); do
    pid=$(cat "$DIR/n$i/nodelet.pid" 2>/dev/null || true)
    while alive "$pid" && [ $t -lt 50 ]; do t=$((t + 1)); sleep 0.1; done
  done
  true
}

down_now() { # everything the lab made, at once
  local i n ns mp
  n=$(nodes)
  for i in $(seq 1 "$n"); do
    # Hooks and nodelets run in their own sessions: end each whole process group.
    for f in agent.pid nodelet.pid; do
      if [ -f "$DIR/n$i/$f" ]; then kill -9 -- "-$(cat "$DIR/n$i/$f")" 2>/dev/null || true; fi
    done
  done
  # Shims, containers, pause processes, plugin helpers: everything in the lab's cgroups.
  remove_cgroups
  if [ -f "$DIR/pods" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done < "$DIR/pods"
  fi
  for i in $(seq 1 "$n"); do ip netns del "$(node_ns "$i")" 2>/dev/null || true; done
  ip netns del "$UL" 2>/dev/null || true
  # Mounts below DIR in this namespace (none unless a nodelet ran outside its own).
  awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
  rm -rf --one-file-system "$DIR"
}

down() {
  [ -d "$DIR" ] || { ip netns del "$UL" 2>/dev/null || true; return 0; }
  stop_nodelets
  down_now
}

apply() { # NODE FILE...: atomically (a dotfile renamed into place, nodelet ignores dotfiles)
  local i f m; i=$(node_index "$1"); shift
  [ $# -gt 0 ] || die "apply NODE FILE..."
  m=$DIR/n$i/manifests
  for f in "$@"; do
    [ -f "$f" ] || die "$f: no such file"
    cp "$f" "$m/.$(basename "$f").tmp"
    mv "$m/.$(basename "$f").tmp" "$m/$(basename "$f")"
    echo "n$i: $(basename "$f")"
  done
}

delete() { # NODE FILE|NAME...
  local i f m b; i=$(node_index "$1"); shift
  [ $# -gt 0 ] || die "delete NODE FILE|NAME..."
  m=$DIR/n$i/manifests
  for f in "$@"; do
    b=$(basename "$f")
    for c in "$b" "$b.yaml" "$b.yml" "$b.json"; do
      if [ -f "$m/$c" ]; then rm -f "$m/$c"; echo "n$i: $c removed"; continue 2; fi
    done
    die "n$i has no manifest $b (have: $(find "$m" -mindepth 1 -maxdepth 1 -type f -printf '%f '))"
  done
}

restart() { # NODE [SIGNAL]: stop NODE's nodelet with SIGNAL (default TERM; KILL for a crash),
  # start it again in the node's netns, cgroup and mount namespace, wait until it answers
  local i pid t=0; i=$(node_index "$1")
  pid=$(cat "$DIR/n$i/nodelet.pid" 2>/dev/null || true)
  if alive "$pid"; then
    kill "-${2:-TERM}" "$pid"
    while alive "$pid"; do
      t=$((t + 1)); [ $t -gt 600 ] && die "nodelet of n$i did not exit within 60 s"
      sleep 0.1
    done
  fi
  start_nodelet "$i" restart
  wait_nodelet "$i"
}

nodectl_on() { # NODE ARGS...
  local i; i=$(node_index "$1"); shift
  exec "$BINDIR/nodectl" --socket "$DIR/n$i/run/nodelet.sock" --root-dir "$DIR/n$i/root" "$@"
}

ps_all() {
  local i
  for i in $(seq 1 "$(nodes)"); do
    echo "== n$i ($(node_ip "$i"), pods $(node_subnet "$i"))"
    "$BINDIR/nodectl" --socket "$DIR/n$i/run/nodelet.sock" get pods -A -o wide || true
  done
}

cni() { # cni COMMAND NODE POD
  local node=$2 pod=$3
  plugin_conf "$DIR/n$node/net.d/10-nodenet.conflist" | \
    CNI_COMMAND=$1 CNI_CONTAINERID="$pod" CNI_NETNS="/run/netns/${PREFIX}p-$pod" CNI_IFNAME=eth0 \
    CNI_PATH=$(dirname "$NODENET") nsenter --net="/run/netns/$(node_ns "$node")" "$NODENET"
}

pod() {
  local node ns=${PREFIX}p-$2
  node=$(node_index "$1")
  ip netns add "$ns"; echo "$ns" >> "$DIR/pods"
  ip -n "$ns" link set lo up
  cni ADD "$node" "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'
}

unpod() {
  local node; node=$(node_index "$1")
  cni DEL "$node" "$2"
  ip netns del "${PREFIX}p-$2" 2>/dev/null || true
}

case $cmd in
  up) up ;;
  down) down ;;
  config) gen_config "$1" "$2" "${3:-0}" ;;
  apply) apply "$@" ;;
  delete) delete "$@" ;;
  restart) [ $# -ge 1 ] || die "restart NODE [SIGNAL]"; restart "$@" ;;
  nodectl) [ $# -ge 1 ] || die "nodectl NODE ARGS..."; nodectl_on "$@" ;;
  ps) ps_all ;;
  pod) pod "$1" "$2" ;;
  unpod) unpod "$1" "$2" ;;
  exec) node=$(node_index "$1"); shift; exec nsenter --net="/run/netns/$(node_ns "$node")" "$@" ;;
  *) sed -n '2,35p' "$0"; exit 2 ;;
esac
