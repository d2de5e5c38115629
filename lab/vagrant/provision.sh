#!/bin/bash
# Vagrant provisioning for node I of N: install binaries + units, write the CNI config with
# every other node as a peer, and program the node with `nodenet sync`.
set -euo pipefail
I=$1 N=$2 NET=$3
NODE_IP="$NET.$((10 + I))"

if [ ! -x /tmp/lab-bin/nodenet ]; then
  echo "target/release/nodenet was not uploaded: run 'cargo build --release' before 'vagrant up'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nftables busybox-static >/dev/null

install -d /opt/cni/bin /etc/cni/net.d /var/lib/cni/nodenet
for b in /tmp/lab-bin/*; do
  case $b in
    *.service) install -m 0644 "$b" /etc/systemd/system/ ;;
    *) install -m 0755 "$b" /usr/local/bin/ ;;
  esac
done
ln -sf /usr/local/bin/nodenet /opt/cni/bin/nodenet

# eth1 carries the overlay; make sure it is the interface holding NODE_IP.
if ! ip -4 -o addr show dev eth1 | grep -q " $NODE_IP/"; then
  echo "eth1 does not hold $NODE_IP (private network missing?)" >&2
  exit 1
fi

peers=""
for j in $(seq 1 "$N"); do
  [ "$j" = "$I" ] && continue
  peers="$peers${peers:+,}{\"nodeIP\":\"$NET.$((10 + j))\",\"subnet\":\"10.244.$j.0/24\"}"
done
cat > /etc/cni/net.d/10-nodenet.conflist <<JSON
{
  "cniVersion": "1.1.0",
  "cniVersions": ["1.0.0", "1.1.0"],
  "name": "nodenet",
  "plugins": [{
    "type": "nodenet",
    "bridge": "cni0",
    "subnet": "10.244.$I.0/24",
    "clusterCIDR": "10.244.0.0/16",
    "nodeIP": "$NODE_IP",
    "underlayInterface": "eth1",
    "ipMasq": true,
    "vxlan": {"vni": 1, "port": 8472, "device": "nodenet.1"},
    "peers": [$peers]
  }]
}
JSON

systemctl daemon-reload
systemctl enable --now nodenet-sync.service
systemctl restart nodenet-sync.service
if [ -f /etc/systemd/system/nodelet.service ]; then
  systemctl enable --now nodelet.service
fi
echo "node$I: $NODE_IP, pods 10.244.$I.0/24, $((N - 1)) peer(s)"
