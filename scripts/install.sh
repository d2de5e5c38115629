#!/bin/bash
# Installs nodelet on this machine: the binaries, the systemd unit, a default configuration
# and a CNI configuration for nodenet. Existing configuration files are never overwritten.
#
#   sudo scripts/install.sh                 # release build, then install into /
#   sudo scripts/install.sh --enable        # ... and `systemctl enable --now nodelet`
#   scripts/install.sh --destdir /tmp/x --bin-dir target/debug   # staged install (packaging)
#
# Options:
#   --destdir DIR   install below DIR instead of / (no systemctl calls)
#   --prefix DIR    binaries go to PREFIX/bin (default /usr/local; the unit's ExecStart follows)
#   --bin-dir DIR   take already built binaries from DIR instead of building (release)
#   --subnet CIDR   this node's pod subnet for nodenet (default 10.244.0.0/24)
#   --enable        enable and start the service after installing
set -euo pipefail
cd "$(dirname "$0")/.."

destdir="" prefix=/usr/local bindir="" subnet=10.244.0.0/24 enable=0
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --bin-dir) bindir=${2:?--bin-dir needs a directory}; shift 2 ;;
    --subnet) subnet=${2:?--subnet needs a CIDR}; shift 2 ;;
    --enable) enable=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute, got $prefix" >&2; exit 2 ;; esac
if ! [[ "$subnet" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] \
  || [ "${BASH_REMATCH[5]}" -gt 30 ]; then
  echo "install.sh: --subnet: $subnet is not an IPv4 CIDR of /30 or larger" >&2
  exit 2
fi
# The gateway is the subnet's first address.
gateway="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}.$((BASH_REMATCH[4] + 1))"
if [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: installing into / needs root: run it with sudo (or use --destdir)" >&2
  exit 1
fi

bins=(nodelet nodectl nodelet-shim nodelet-pause nodenet noderun)
if [ -z "$bindir" ]; then
  bindir=$(scripts/build-dist.sh)
fi
for b in "${bins[@]}"; do
  [ -x "$bindir/$b" ] || { echo "install.sh: $bindir/$b missing (build it first)" >&2; exit 1; }
done

root="${destdir%/}"
say() { printf '  %s\n' "$*"; }
# put SRC DEST MODE: install a file, replacing it atomically.
put() { install -D -m "$3" "$1" "$root$2.new.$$" && mv -f "$root$2.new.$$" "$root$2"; say "$2"; }
# keep DEST MODE < content: write a configuration file unless one is there already.
keep() {
  if [ -e "$root$1" ]; then
    say "$1 (kept: already present)"
    cat >/dev/null
  else
    mkdir -p "$(dirname "$root$1")"
    cat >"$root$1.new.$$" && chmod "$2" "$root$1.new.$$" && mv "$root$1.new.$$" "$root$1"
    say "$1"
  fi
}

echo "installing nodelet into ${destdir:-/}:"
for b in nodelet nodectl nodelet-shim nodelet-pause noderun; do
  put "$bindir/$b" "$prefix/bin/$b" 0755
done
put "$bindir/nodenet" /opt/cni/bin/nodenet 0755
sed "s|^ExecStart=/usr/local/bin/nodelet|ExecStart=$prefix/bin/nodelet|" systemd/nodelet.service \
  >"$bindir/.nodelet.service.$$"
put "$bindir/.nodelet.service.$$" /etc/systemd/system/nodelet.service 0644
rm -f "$bindir/.nodelet.service.$$"

keep /etc/nodelet/config.yaml 0644 <<'EOF'
# nodelet's configuration (every key also exists as a flag; `nodelet --help`).
apiVersion: nodelet.io/v1alpha1
kind: NodeletConfiguration
staticPodPath: /etc/kubernetes/manifests
rootDir: /var/lib/nodelet
podLogsDir: /var/log/pods
runDir: /run/nodelet
apiSocket: /run/nodelet/nodelet.sock
maxPods: 110
# Pods in kubepods.slice as the kubelet's systemd driver makes them (transient slices and
# scopes over D-Bus), outside nodelet.service: restarts work on any systemd (Debian 12's 252
# too). cgroupfs makes them below nodelet.service instead (needs systemd >= 254 to restart
# nodelet while pods run: DelegateSubgroup=).
cgroupDriver: systemd
# Most processes per pod (the kubelet's podPidsLimit; -1 = unlimited, the kubelet's default):
# a fork bomb in one pod cannot take the node's pids.
podPidsLimit: 4096
containerLogMaxSize: 10Mi
containerLogMaxFiles: 5
cniConfDir: /etc/cni/net.d
cniBinDir: /opt/cni/bin
crashLoopBackOff:
  initial: 10s
  max: 300s
# Labels that nodeSelector and node affinity match, besides kubernetes.io/hostname, /os, /arch:
# nodeLabels: {disktype: ssd}
# Resources kept from pods (allocatable = capacity - systemReserved - kubeReserved):
# (pid: pids kept from pods, enforced as pids.max of the pods' cgroup)
# systemReserved: {cpu: 100m, memory: 256Mi, pid: 1000}
# kubeReserved: {cpu: 100m, memory: 128Mi}
# Node-pressure eviction (the kubelet's keys; unset: the kubelet's defaults
# memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%, imagefs.available<15%,
# imagefs.inodesFree<5%; a given evictionHard replaces them all). Static pods (files placed
# here) are critical and never evicted; pods made through the API or by controllers are.
# evictionHard: {memory.available: 100Mi, nodefs.available: 10%}
# evictionSoft: {memory.available: 500Mi}
# evictionSoftGracePeriod: {memory.available: 1m30s}
# evictionPressureTransitionPeriod: 5m
# imageGCHighThresholdPercent: 85
# imageGCLowThresholdPercent: 80
EOF

keep /etc/cni/net.d/10-nodenet.conflist 0644 <<EOF
{
  "cniVersion": "1.1.0",
  "name": "nodenet",
  "plugins": [
    {
      "type": "nodenet",
      "capabilities": {"portMappings": true},
      "bridge": "cni0",
      "subnet": "$subnet",
      "gateway": "$gateway",
      "ipMasq": true,
      "hairpinMode": true
    }
  ]
}
EOF
mkdir -p "$root/etc/kubernetes/manifests" "$root/var/lib/nodelet" "$root/var/log/pods"
say "/etc/kubernetes/manifests/ (static pods go here)"

# systemd_version ROOT: the major version of the systemd installed below ROOT (empty if none).
systemd_version() {
  local lib
  lib=$(ls "$1"/usr/lib/systemd/libsystemd-shared-*.so "$1"/usr/lib/*/systemd/libsystemd-shared-*.so 2>/dev/null | head -n1)
  [ -n "$lib" ] && basename "$lib" | sed -n 's/^libsystemd-shared-\([0-9]*\).*/\1/p'
}
sdv=$(systemd_version "$root" || true)
# Only the cgroupfs driver puts pod cgroups below nodelet.service (see the unit).
if [ -n "$sdv" ] && [ "$sdv" -lt 254 ] &&
   ! grep -Eq '^cgroupDriver:[[:space:]]*"?systemd' "$root/etc/nodelet/config.yaml"; then
  cat >&2 <<EOF
install.sh: warning: systemd $sdv is older than 254 and /etc/nodelet/config.yaml has the
  cgroupfs driver: systemd $sdv ignores DelegateSubgroup= in the unit, so 'systemctl restart
  nodelet' (and stop/start, watchdog restarts, upgrades) fails with status=219/CGROUP while pods
  run (pods keep running; a reboot recovers). Set 'cgroupDriver: systemd' (pods in
  kubepods.slice), or on Debian 12: apt-get install -t bookworm-backports systemd systemd-sysv udev
EOF
fi

if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$enable" = 1 ]; then
    systemctl enable --now nodelet.service
    echo "nodelet is running: nodectl ps"
  else
    echo "start it with: systemctl enable --now nodelet"
  fi
fi
