#!/bin/bash
# lab/vagrant/libvirt-netns.sh — run libvirtd (and whatever talks to its VMs, e.g. vagrant) in a
# network namespace of its own, for machines whose network must not be changed: the bridges,
# dnsmasq and NAT rules libvirt makes for vagrant-libvirt's networks then exist only in that
# namespace. On an ordinary Debian 12 machine with libvirtd running this is not needed.
#
#   sudo lab/vagrant/libvirt-netns.sh start       # netns nodelet-vagrant + virtlogd + libvirtd
#   sudo lab/vagrant/libvirt-netns.sh run CMD...  # CMD in that netns (e.g. vagrant up)
#   sudo lab/vagrant/libvirt-netns.sh stop        # libvirtd, virtlogd, dnsmasq stopped, netns removed
#
# Started without systemd (machines without systemd as PID 1); the daemons' pid files and
# logs are in /run/nodelet-vagrant. Processes are entered with nsenter --net (not `ip netns
# exec`, which remounts /sys).
set -euo pipefail
NS=nodelet-vagrant
RUN=/run/nodelet-vagrant
die() { echo "libvirt-netns.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

case "${1:-}" in
  start)
    command -v libvirtd >/dev/null || die "libvirtd missing: apt-get install libvirt-daemon-system"
    mkdir -p "$RUN"
    [ -e "/run/netns/$NS" ] || ip netns add "$NS"
    in_ns ip link set lo up
    if ! { [ -f "$RUN/virtlogd.pid" ] && kill -0 "$(cat "$RUN/virtlogd.pid")" 2>/dev/null; }; then
      in_ns virtlogd --daemon --pid-file "$RUN/virtlogd.pid"
    fi
    if ! { [ -f "$RUN/libvirtd.pid" ] && kill -0 "$(cat "$RUN/libvirtd.pid")" 2>/dev/null; }; then
      in_ns libvirtd --daemon --pid-file "$RUN/libvirtd.pid"
    fi
    for _ in $(seq 1 30); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 1; done
    virsh -c qemu:///system version >/dev/null || die "libvirtd does not answer (log: journal or $RUN)"
    echo "libvirtd running in netns $NS (pid $(cat "$RUN/libvirtd.pid"))"
    ;;
  run)
    shift
    [ -e "/run/netns/$NS" ] || die "not started: $0 start"
    in_ns "$@"
    ;;
  stop)
    for d in libvirtd virtlogd; do
      if [ -f "$RUN/$d.pid" ]; then
        pid=$(cat "$RUN/$d.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        rm -f "$RUN/$d.pid"
      fi
    done
    # libvirt's dnsmasq for its networks (pid files under /run/libvirt/network).
    for f in /run/libvirt/network/*.pid; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && rm -f "$f"
    done
    [ -e "/run/netns/$NS" ] && ip netns delete "$NS"
    echo "stopped"
    ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
