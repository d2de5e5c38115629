#!/bin/bash
# Vagrant provisioning for node I of N (also run by tests/vm/lab.sh): nodelet as
# scripts/install.sh packages it (binaries, unit, /etc/nodelet/config.yaml with the systemd
# cgroup driver) plus only what a lab node needs: nodeName node<I> and nodeIP (eth1) in that
# configuration, the CNI config with every other node as a VXLAN peer, nodenet-sync.service,
# busybox:local imported; then nodelet (re)started.
#
# The nodelet/debian12 box of scripts/vagrant-box.sh has everything installed by install.sh
# already. On a stock box (BOX=debian/bookworm64) the Vagrantfile uploads target/dist to
# /tmp/lab-bin and install.sh with the unit to /tmp/lab-repo, and install.sh runs here
# (it keeps an existing configuration). Packages are installed with apt only when missing.
set -euo pipefail
I=$1 N=$2 NET=$3
NODE_IP="$NET.$((10 + I))"

for b in nodenet nodelet nodelet-shim nodelet-pause noderun nodectl; do
  if [ ! -x "/tmp/lab-bin/$b" ] && [ ! -x "/usr/local/bin/$b" ] && [ ! -x "/opt/cni/bin/$b" ]; then
    echo "target/dist/$b was not uploaded and is not installed: run scripts/build-dist.sh before 'vagrant up'" >&2
    exit 1
  fi
done
if ! dpkg -s nftables busybox-static >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nftables busybox-static >/dev/null
fi

install -d /opt/cni/bin /etc/cni/net.d /var/lib/cni/nodenet /etc/nodelet /etc/kubernetes/manifests \
  /usr/local/share/nodelet/manifests
if [ -d /tmp/lab-bin ]; then
  [ -f /tmp/lab-repo/scripts/install.sh ] || { echo "binaries uploaded without /tmp/lab-repo/scripts/install.sh" >&2; exit 1; }
  chmod 0755 /tmp/lab-bin/*
  bash /tmp/lab-repo/scripts/install.sh --bin-dir /tmp/lab-bin --subnet "10.244.$I.0/24"
fi
if [ -d /tmp/lab-units ]; then install -m 0644 /tmp/lab-units/*.service /etc/systemd/system/; fi
[ -f /etc/systemd/system/nodelet.service ] || { echo "nodelet.service neither uploaded nor installed" >&2; exit 1; }
[ -f /etc/nodelet/config.yaml ] || { echo "/etc/nodelet/config.yaml missing: install nodelet with scripts/install.sh" >&2; exit 1; }
# nodenet: the CNI plugin in /opt/cni/bin (install.sh), and /usr/local/bin/nodenet for
# nodenet-sync.service.
ln -sfn /opt/cni/bin/nodenet /usr/local/bin/nodenet
# The example static pods (manifests/ of the repo), to copy into /etc/kubernetes/manifests.
if [ -d /tmp/lab-manifests ]; then
  find /tmp/lab-manifests -name '*.yaml' -exec install -m 0644 {} /usr/local/share/nodelet/manifests/ \;
fi
bbimage=/tmp/lab-busybox-image.sh
[ -f "$bbimage" ] || bbimage=/usr/local/share/nodelet/busybox-image.sh

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
    "capabilities": {"portMappings": true},
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

# The packaged configuration (install.sh: cgroupDriver systemd, pods in kubepods.slice) with
# this node's name and nodeIP (the pods' hostIP is eth1's address, not the NAT eth0's, which
# is the default route's) set; every other key stays as packaged (re-provisioning replaces
# only these two lines).
sed -i '/^nodeName:/d; /^nodeIP:/d' /etc/nodelet/config.yaml
printf 'nodeName: node%s\nnodeIP: %s\n' "$I" "$NODE_IP" >> /etc/nodelet/config.yaml

# busybox:local, the image the example manifests use, from the VM's own busybox-static.
bash "$bbimage" /var/tmp/busybox-local.tar busybox:local
nodectl import /var/tmp/busybox-local.tar

systemctl daemon-reload
systemctl enable --now nodenet-sync.service
systemctl restart nodenet-sync.service
systemctl enable nodelet.service
systemctl restart nodelet.service
for _ in $(seq 1 30); do nodectl ps >/dev/null 2>&1 && break; sleep 1; done
nodectl ps >/dev/null || { journalctl -u nodelet --no-pager | tail -n 20; exit 1; }
echo "node$I: $NODE_IP, pods 10.244.$I.0/24, $((N - 1)) peer(s), nodelet running"
