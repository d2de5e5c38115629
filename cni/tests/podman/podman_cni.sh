#!/bin/bash
# Podman (network_backend = "cni") using nodenet through a CNI conflist, inside a "node"
# network namespace made here. Prints "RESULT key value" lines for the Rust test to check.
#
#   podman_cni.sh NODENET_BINARY
#
# Sandbox (as in shared/peers/podman): podman runs in a private mount namespace and a
# cgroup namespace rooted at a child of this process's own cgroup (never a hierarchy root),
# with the v1 hierarchies re-mounted so "/" is that child and the hybrid cgroup2 mount is
# hidden; storage, run dir and config are private temp dirs; runtime runc. Everything
# (containers, cgroups, mounts, namespaces, files) is removed on exit, even on failure.
set -euo pipefail
NODENET=$(readlink -f "$1")
TAG=nnpm$$
W=$(mktemp -d "/tmp/$TAG.XXXX")
NODE=$TAG-node
HS="cpu cpuacct cpuset memory devices freezer blkio pids systemd"
# This process's own cgroup in hierarchy $1; ours is a child "$TAG" of it.
own() { awk -F: -v h="$1" '$2==h || $2=="name="h {print $3}' /proc/self/cgroup; }
cgdir() { local o; o=$(own "$1"); echo "/sys/fs/cgroup/$1${o%/}/$TAG"; }

pm() {
  ( for h in $HS; do echo $BASHPID > "$(cgdir $h)/cgroup.procs"; done
    export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf
    exec nsenter --mount="$W/ns/mnt" --cgroup="$W/ns/cgroup" --net="/run/netns/$NODE" \
      podman --cgroup-manager=cgroupfs --runtime=runc --storage-driver=overlay \
      --root="$W/root" --runroot="$W/run" "$@" )
}

cleanup() {
  set +e
  [ -e "$W/ns/mnt" ] && pm rm -f -a -t 0 >/dev/null 2>&1
  for h in $HS; do
    d=$(cgdir $h)
    [ -d "$d" ] || continue
    for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do kill -9 "$p" 2>/dev/null; done
  done
  sleep 0.2
  for h in $HS; do
    d=$(cgdir $h)
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  umount "$W/ns/mnt" "$W/ns/cgroup" 2>/dev/null
  umount "$W/ns" 2>/dev/null
  ip netns del "$NODE" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/ns" "$W/cni" "$W/bin" "$W/tmp" "$W/data" "$W/rootfs/bin"
for h in $HS; do mkdir "$(cgdir $h)"; done
C=$(cgdir cpuset)
cat "$(dirname "$C")/cpuset.effective_cpus" > "$C/cpuset.cpus"
cat "$(dirname "$C")/cpuset.effective_mems" > "$C/cpuset.mems"

# The node: its own netns, nothing in the host namespace changes.
ip netns add "$NODE"
ip -n "$NODE" link set lo up

# Persistent mount + cgroup namespaces rooted at our child cgroups.
mount --bind "$W/ns" "$W/ns"; mount --make-private "$W/ns"
touch "$W/ns/mnt" "$W/ns/cgroup"
( for h in $HS; do echo $BASHPID > "$(cgdir $h)/cgroup.procs"; done
  exec unshare --mount="$W/ns/mnt" --cgroup="$W/ns/cgroup" --propagation private bash -ec '
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    for h in cpu cpuacct cpuset memory devices freezer blkio pids; do
      umount /sys/fs/cgroup/$h; mount -t cgroup -o $h cgroup /sys/fs/cgroup/$h
    done
    umount /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd' )

cp "$NODENET" "$W/bin/nodenet"
cat > "$W/containers.conf" <<CONF
[containers]
cgroups = "enabled"
cgroupns = "private"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "$W/events.log"
tmp_dir = "$W/tmp"
static_dir = "$W/root/libpod"
volume_path = "$W/root/volumes"
[network]
network_backend = "cni"
network_config_dir = "$W/cni"
cni_plugin_dirs = ["$W/bin", "/usr/lib/cni"]
CONF
cat > "$W/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$W/run"
graphroot = "$W/root"
CONF
cat > "$W/cni/nnpod.conflist" <<CONF
{
  "cniVersion": "1.0.0",
  "name": "nnpod",
  "plugins": [
    {"type": "nodenet", "capabilities": {"portMappings": true}, "bridge": "nnpm0", "subnet": "10.244.50.0/24", "ipMasq": true,
     "dataDir": "$W/data"}
  ]
}
CONF

# A busybox image from Debian's busybox-static.
cp /bin/busybox "$W/rootfs/bin/busybox"
for a in sh ip sleep ping cat httpd; do ln -s busybox "$W/rootfs/bin/$a"; done
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
pm import "$W/rootfs.tar" localhost/nnbusybox:test >/dev/null

pm network ls --format '{{.Name}} {{.Driver}}' | sed 's/^/RESULT network /'
pm run -d --name nn-a --network nnpod localhost/nnbusybox:test /bin/sleep 60 >/dev/null
A=$(pm inspect -f '{{.NetworkSettings.Networks.nnpod.IPAddress}}' nn-a)
echo "RESULT ip_a $A"
echo "RESULT addr_a $(pm exec nn-a /bin/ip -4 -o addr show dev eth0 | awk '{print $4}')"
echo "RESULT mtu_a $(pm exec nn-a /bin/cat /sys/class/net/eth0/mtu)"
echo "RESULT leases_running $(ls "$W/data/nnpod" | grep -c '^10\.' || true)"
if pm run --rm --network nnpod localhost/nnbusybox:test /bin/ping -c 1 -W 2 "$A" >/dev/null; then
  echo "RESULT ping_b_to_a ok"
else
  echo "RESULT ping_b_to_a failed"
fi
# `-p` reaches nodenet as runtimeConfig.portMappings: the node's loopback gets to the pod.
mkdir -p "$W/www"; echo hostport-ok > "$W/www/index.html"
pm run -d --name nn-web --network nnpod -p 18080:80 -v "$W/www:/www:ro" localhost/nnbusybox:test \
  /bin/httpd -f -p 80 -h /www >/dev/null
got=""
for _ in $(seq 50); do
  got=$(nsenter --net="/run/netns/$NODE" timeout 2 busybox wget -qO- http://127.0.0.1:18080/ 2>/dev/null || true)
  [ -n "$got" ] && break
  sleep 0.1
done
echo "RESULT hostport ${got:-none}"
pm rm -f -t 0 nn-web >/dev/null
echo "RESULT hostport_after_rm $(nsenter --net="/run/netns/$NODE" nft list map ip nodenet_nnpod_hostports ports | grep -c 18080 || true)"
pm rm -f -t 0 nn-a >/dev/null
echo "RESULT leases_after_rm $(ls "$W/data/nnpod" | grep -c '^10\.' || true)"
echo "RESULT done"
