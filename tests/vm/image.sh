#!/bin/bash
# tests/vm/image.sh — build (once) the Debian 12 VM image the systemd tests, the VM lab and the
# Vagrant box boot; prints the image directory.
#
#   sudo tests/vm/image.sh            # build or reuse; prints e.g. /var/cache/nodelet-vm/debian12/systemd254
#   sudo tests/vm/image.sh --rebuild  # forget the cached image (the debootstrap base is kept)
#
# Two cached layers under $VM_CACHE/debian12 (default /var/cache/nodelet-vm):
#   base/       debootstrap of bookworm (minbase + systemd-sysv, udev, openssh-server, sudo,
#               busybox-static, nftables, dbus, iproute2, linux-image-amd64; then apparmor,
#               podman, containerd, runc, crun: the AppArmor checks and the peers that
#               run over noderun), configured:
#               ext4 root on /dev/vda, eth0 by DHCP (systemd-networkd), a serial console,
#               root and user `vagrant` (passwordless sudo) reachable over ssh with
#               ssh/id_ed25519 (ours) and Vagrant's insecure key. Rebuilt only when this
#               script's BASE_VERSION changes (~2-3 min, ~500 MB, needs deb.debian.org).
#   base254/    base with systemd 254 from bookworm-backports (DelegateSubgroup=, which the unit
#               needs to restart nodelet while pods run: see systemd/nodelet.service).
#   systemd254/ (or systemd252/ with VM_SYSTEMD=252: Debian 12's own systemd) the image dir:
#   disk.qcow2  base + the shipped binaries installed by `scripts/install.sh --destdir
#               --bin-dir` (unit, /etc/nodelet/config.yaml, CNI config), manifests/ and
#               scripts/busybox-image.sh under /usr/local/share/nodelet; nodelet enabled.
#               Rebuilt when the binaries, the unit or install.sh change (stamp: sha256).
#   vmlinuz, initrd.img   the image's own kernel and initramfs, for qemu's direct boot
#               (no boot loader in the image: qemu/libvirt pass -kernel/-initrd/-append).
#   cmdline     the kernel command line to boot it with.
#   ssh/        -> ../ssh: the key pair root and vagrant accept.
#
# The binaries come from scripts/build-dist.sh (built if target/dist is missing or $VM_BUILD=1).
# Packages: debootstrap qemu-utils (qemu-img) e2fsprogs (mkfs.ext4 -d).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BASE_VERSION=5   # bump when the base's package list or configuration changes

die() { echo "image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, file ownership in the image): sudo $0"
for t in debootstrap qemu-img mkfs.ext4 sha256sum; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install debootstrap qemu-utils e2fsprogs)"
done
rebuild=0 only_base=0
case "${1:-}" in
  --rebuild) rebuild=1 ;;
  --base) only_base=1 ;;   # the debootstrap layer only (no binaries needed)
  "") ;;
  *) die "unknown option $1 (--rebuild, --base)" ;;
esac

CACHE=${VM_CACHE:-/var/cache/nodelet-vm}/debian12
MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
SYSTEMD=${VM_SYSTEMD:-254}
case "$SYSTEMD" in 254|252) ;; *) die "VM_SYSTEMD must be 254 (bookworm-backports, default) or 252 (bookworm)" ;; esac
OUT=$CACHE/systemd$SYSTEMD
mkdir -p "$CACHE" "$OUT"
exec 9>"$CACHE/.lock"
flock 9
log() { echo "image.sh: $*" >&2; }

# ---- base: debootstrap + configuration ---------------------------------------------------------
base() {
  local b=$CACHE/base
  if [ -f "$CACHE/base.ready" ] && [ "$(cat "$CACHE/base.ready")" = "$BASE_VERSION" ]; then return; fi
  rm -rf "$b" "$CACHE/base.ready"
  local pkgs=systemd-sysv,udev,kmod,iproute2,openssh-server,sudo,busybox-static,nftables,dbus,procps
  pkgs=$pkgs,linux-image-amd64,initramfs-tools,netbase,less,psmisc,ca-certificates
  # A finished debootstrap of the same package list is kept (debootstrap.done) if a later
  # step failed; it is configured again from here on (every step below is idempotent).
  if [ "$(cat "$CACHE/debootstrap.done" 2>/dev/null)" != "$pkgs" ] || [ ! -d "$b.tmp" ]; then
    log "debootstrap bookworm into $b (once; a few minutes)"
    rm -rf "$b.tmp" "$CACHE/debootstrap.done" "$CACHE/extras.done"
    debootstrap --variant=minbase --include="$pkgs" bookworm "$b.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    echo "$pkgs" >"$CACHE/debootstrap.done"
  fi
  b=$b.tmp
  # AppArmor (apparmor_parser: profiles the pods ask for; the Debian kernel enables the LSM) and
  # the peers the VM checks run over noderun (podman, containerd with their systemd cgroup
  # managers). Installed with apt in the chroot: debootstrap's resolver does not follow
  # podman's alternatives (crun | runc ...).
  if [ "$(cat "$CACHE/extras.done" 2>/dev/null)" != "$BASE_VERSION" ]; then
    log "installing apparmor, podman, containerd into the base"
    mount -t proc proc "$b/proc"
    if ! { chroot "$b" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive chroot "$b" apt-get install -y -q --no-install-recommends \
          apparmor podman containerd runc crun uidmap catatonit; } >"$CACHE/extras.log" 2>&1; then
      umount "$b/proc"; tail -n 30 "$CACHE/extras.log" >&2; die "installing the extras failed ($CACHE/extras.log)"
    fi
    umount "$b/proc"
    # podman and containerd are started by the checks that use them, not at boot.
    chroot "$b" systemctl disable containerd.service >/dev/null 2>&1 || true
    echo "$BASE_VERSION" >"$CACHE/extras.done"
  fi
  echo nodelet-vm >"$b/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 nodelet-vm\n' >"$b/etc/hosts"
  echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$b/etc/fstab"
  # eth0 (qemu user-mode network: ssh is forwarded to it) by DHCP; other links are set by tests.
  mkdir -p "$b/etc/systemd/network"
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' >"$b/etc/systemd/network/10-eth0.network"
  chroot "$b" systemctl enable systemd-networkd.service >/dev/null 2>&1
  chroot "$b" systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
  # No wait for "online": the user-mode network is up at once and nothing here needs it.
  chroot "$b" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true
  # The initramfs loads what the disk needs (virtio block, ext4); MODULES=most (the default:
  # MODULES=dep needs the target's /sys, which a chroot does not have).
  grep -qx virtio_blk "$b/etc/initramfs-tools/modules" ||
    printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$b/etc/initramfs-tools/modules"
  # root: no password on the serial console; ssh with our key. vagrant: Vagrant's insecure key.
  chroot "$b" passwd -d root >/dev/null
  [ -f "$CACHE/ssh/id_ed25519" ] || { mkdir -p "$CACHE/ssh"; ssh-keygen -q -t ed25519 -N '' -C nodelet-vm -f "$CACHE/ssh/id_ed25519"; }
  install -d -m 0700 "$b/root/.ssh"
  install -m 0600 "$CACHE/ssh/id_ed25519.pub" "$b/root/.ssh/authorized_keys"
  chroot "$b" id vagrant >/dev/null 2>&1 || chroot "$b" useradd -m -s /bin/bash vagrant
  echo 'vagrant:vagrant' | chroot "$b" chpasswd
  echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$b/etc/sudoers.d/vagrant"
  chmod 0440 "$b/etc/sudoers.d/vagrant"
  local vkey
  vkey=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n1 || true)
  install -d -m 0700 -o 1000 -g 1000 "$b/home/vagrant/.ssh"
  { [ -n "$vkey" ] && cat "$vkey"; cat "$CACHE/ssh/id_ed25519.pub"; } >"$b/home/vagrant/.ssh/authorized_keys"
  chown 1000:1000 "$b/home/vagrant/.ssh/authorized_keys"; chmod 0600 "$b/home/vagrant/.ssh/authorized_keys"
  echo 'UseDNS no' >"$b/etc/ssh/sshd_config.d/nodelet-vm.conf"
  # journald keeps the journal on disk (checks read it across restarts and reboots).
  mkdir -p "$b/var/log/journal"
  chroot "$b" apt-get clean
  mount -t proc proc "$b/proc"
  chroot "$b" update-initramfs -u -k all >"$CACHE/initramfs.log" 2>&1 || { umount "$b/proc"; die "update-initramfs failed ($CACHE/initramfs.log)"; }
  umount "$b/proc"
  mv "$b" "$CACHE/base"
  echo "$BASE_VERSION" >"$CACHE/base.ready"
}

# ---- base254: systemd from bookworm-backports ----------------------------------------------------
base254() {
  if [ -f "$CACHE/base254.ready" ] && [ "$(cat "$CACHE/base254.ready")" = "$BASE_VERSION" ]; then return; fi
  log "base254: systemd 254 from bookworm-backports"
  local b=$CACHE/base254.tmp
  rm -rf "$b" "$CACHE/base254" "$CACHE/base254.ready"
  cp -a "$CACHE/base" "$b"
  echo "deb $MIRROR bookworm-backports main" >"$b/etc/apt/sources.list.d/backports.list"
  mount -t proc proc "$b/proc"
  if ! { chroot "$b" apt-get update -q && DEBIAN_FRONTEND=noninteractive chroot "$b" apt-get install -y -q \
        -t bookworm-backports systemd systemd-sysv udev libsystemd0 libudev1 &&
        chroot "$b" update-initramfs -u -k all; } >"$CACHE/base254.log" 2>&1; then
    umount "$b/proc"; die "installing systemd from bookworm-backports failed ($CACHE/base254.log)"
  fi
  umount "$b/proc"
  chroot "$b" apt-get clean
  mv "$b" "$CACHE/base254"
  echo "$BASE_VERSION" >"$CACHE/base254.ready"
}

# ---- disk: base + install.sh -------------------------------------------------------------------
disk() {
  local dist=$REPO/target/dist
  if [ "${VM_BUILD:-0}" = 1 ] || [ ! -x "$dist/nodelet" ]; then
    log "building the shipped binaries (scripts/build-dist.sh)"
    dist=$REPO/$(scripts/build-dist.sh)
  fi
  local stamp
  stamp=$( (echo "$BASE_VERSION $SYSTEMD"; cd "$REPO" && sha256sum scripts/install.sh scripts/busybox-image.sh systemd/* \
    tests/vm/image.sh manifests/*.yaml "$dist"/nodelet "$dist"/nodectl "$dist"/nodelet-shim "$dist"/nodelet-pause \
    "$dist"/nodenet "$dist"/noderun) | sha256sum | cut -d' ' -f1)
  if [ "$rebuild" = 0 ] && [ -f "$OUT/disk.qcow2" ] && [ "$(cat "$OUT/disk.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "reusing $OUT/disk.qcow2"
    return
  fi
  log "making disk.qcow2 (base + scripts/install.sh)"
  local w=$CACHE/work
  rm -rf "$w"; mkdir -p "$w"
  local src=$CACHE/base
  [ "$SYSTEMD" = 254 ] && src=$CACHE/base254
  cp -a "$src" "$w/root"
  # Every VM made from the image gets its own machine id at first boot (DHCP client ids,
  # journal): an empty /etc/machine-id means "generate one".
  : >"$w/root/etc/machine-id"
  rm -f "$w/root/var/lib/dbus/machine-id"
  scripts/install.sh --destdir "$w/root" --bin-dir "$dist" >&2
  install -d "$w/root/usr/local/share/nodelet/manifests"
  install -m 0644 manifests/*.yaml "$w/root/usr/local/share/nodelet/manifests/"
  install -m 0755 scripts/busybox-image.sh "$w/root/usr/local/share/nodelet/busybox-image.sh"
  chroot "$w/root" systemctl enable nodelet.service >/dev/null 2>&1
  local k i
  k=$(ls "$w"/root/boot/vmlinuz-* | sort -V | tail -n1)
  i=$(ls "$w"/root/boot/initrd.img-* | sort -V | tail -n1)
  cp "$k" "$w/vmlinuz"; cp "$i" "$w/initrd.img"
  echo "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.unified_cgroup_hierarchy=1" >"$w/cmdline"
  mkfs.ext4 -q -F -L nodelet-root -d "$w/root" "$w/disk.raw" 4G >&2
  qemu-img convert -O qcow2 "$w/disk.raw" "$w/disk.qcow2"
  mv -f "$w/disk.qcow2" "$w/vmlinuz" "$w/initrd.img" "$w/cmdline" "$OUT/"
  ln -sfn ../ssh "$OUT/ssh"
  echo "$stamp" >"$OUT/disk.stamp"
  rm -rf "$w"
}

start=$(date +%s)
base
[ "$SYSTEMD" = 254 ] && base254
[ "$only_base" = 1 ] || disk
log "image ready in $(( $(date +%s) - start )) s"
echo "$OUT"
