#!/bin/bash
# scripts/vagrant-box.sh — the Vagrant box `nodelet/debian12` (libvirt provider), made from the
# VM image the VM tests boot (tests/vm/image.sh: Debian 12, systemd, cgroup v2, the shipped
# binaries installed by scripts/install.sh), and added to Vagrant. No internet needed.
#
#   sudo scripts/vagrant-box.sh            # builds target/dist, the image, the box; `vagrant box add`
#   NODES=2 vagrant up --provider=libvirt  # then (as root, or a user in group libvirt)
#
# Options: --out FILE (default target/nodelet-debian12.box), --no-add (do not `vagrant box add`).
# The box's disk boots on its own (extlinux in the ext4 file system's boot sector: the disk has
# no partition table, / is /dev/vda), user vagrant with Vagrant's insecure key and passwordless
# sudo. Packages: vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 extlinux.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/nodelet-debian12.box add=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --no-add) add=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vagrant-box.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
die() { echo "vagrant-box.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (image build, loop mount): sudo $0"
command -v extlinux >/dev/null || die "extlinux missing: apt-get install extlinux"

img=$(tests/vm/image.sh)
w=$(mktemp -d /tmp/nodelet-box.XXXXXX)
mnt=$w/mnt
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; rm -rf "$w"; }
trap cleanup EXIT
qemu-img convert -O raw "$img/disk.qcow2" "$w/disk.raw"
mkdir -p "$mnt"
mount -o loop "$w/disk.raw" "$mnt"
kernel=$(cd "$mnt/boot" && ls vmlinuz-* | sort -V | tail -n1)
initrd=$(cd "$mnt/boot" && ls initrd.img-* | sort -V | tail -n1)
mkdir -p "$mnt/boot/extlinux"
cat >"$mnt/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
LABEL debian
  KERNEL /boot/$kernel
  INITRD /boot/$initrd
  APPEND $(cat "$img/cmdline")
EOF
extlinux --install "$mnt/boot/extlinux" >/dev/null
umount "$mnt"
qemu-img convert -O qcow2 "$w/disk.raw" "$w/box.img"
rm -f "$w/disk.raw"
size=$(qemu-img info "$w/box.img" | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p')
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' $(( size >> 30 )) >"$w/metadata.json"
cat >"$w/Vagrantfile" <<'EOF'
# nodelet/debian12 (scripts/vagrant-box.sh): Debian 12, nodelet installed and enabled.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"   # the root file system is /dev/vda
    lv.memory = 1024
  end
end
EOF
mkdir -p "$(dirname "$out")"
tar -C "$w" -cf "$out.tmp" metadata.json Vagrantfile box.img
mv -f "$out.tmp" "$out"
echo "box: $out ($(du -h "$out" | cut -f1))"
if [ "$add" = 1 ]; then
  vagrant box add --force --name nodelet/debian12 "$out"
fi
