#!/bin/bash
# run-vm.sh PAYLOAD_SCRIPT [BINARY...]
#
# Boots Debian's stock kernel (linux-image-amd64, downloaded once with apt-get and unpacked,
# never installed) under qemu in TCG mode with a throw-away initramfs that holds busybox-static,
# the given BINARIES (copied to /bin with the shared libraries `ldd` lists plus the dynamic
# loader) and PAYLOAD_SCRIPT (run as /payload.sh by busybox sh).
#
# The VM's /init mounts proc, sys, dev (devtmpfs), tmp (tmpfs), cgroup2 at /sys/fs/cgroup and
# enables every available controller in the root's cgroup.subtree_control, then runs the
# payload. The payload prints one line "PASS: <check>" or "FAIL: <check> ..." per check; its
# exit status is reported as "NODELET-VM-EXIT <rc>" and the VM powers off.
#
# Exit status: 0 when the payload exited 0 and printed no FAIL line; 1 on FAIL, a non-zero
# payload exit, a kernel panic or a timeout (the console log is then printed to stderr).
#
# Environment:
#   VM_CACHE      kernel cache dir (default /var/cache/nodelet-vm as root, else
#                 ${XDG_CACHE_HOME:-~/.cache}/nodelet-vm)
#   VM_TIMEOUT    seconds before the VM is killed (default 240)
#   VM_MEM        guest memory in MiB (default 512)
#   VM_SMP        guest CPUs (default 2)
#   VM_MODULES    kernel modules to insmod before the payload, e.g. "overlay" (deps included)
#   VM_FILES      extra "SRC:DEST" pairs copied into the initramfs (DEST absolute)
#   VM_CMDLINE    extra kernel command line
#   VM_LOG        where to keep the console log (default: a temp file, removed on success)
#   VM_SWITCH_ROOT=1  copy the initramfs into a tmpfs and switch_root there first, so the
#                 payload may use pivot_root (impossible from the initramfs rootfs)
set -euo pipefail

die() { echo "run-vm: $*" >&2; exit 2; }
[ $# -ge 1 ] || die "usage: $0 PAYLOAD_SCRIPT [BINARY...]"
PAYLOAD=$1; shift
[ -f "$PAYLOAD" ] || die "payload $PAYLOAD not found"
for b in "$@"; do [ -x "$b" ] || die "binary $b not found or not executable"; done

for t in qemu-system-x86_64 cpio dpkg apt-get ldd; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install qemu-system-x86 cpio)"
done
BUSYBOX=/bin/busybox
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
[ -x "$BUSYBOX" ] && file_is_static "$BUSYBOX" || die "$BUSYBOX must be busybox-static (apt-get install busybox-static)"

if [ "$(id -u)" = 0 ]; then DEF_CACHE=/var/cache/nodelet-vm; else DEF_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/nodelet-vm; fi
CACHE=${VM_CACHE:-$DEF_CACHE}
TIMEOUT=${VM_TIMEOUT:-240}
MEM=${VM_MEM:-512}
SMP=${VM_SMP:-2}

# ---- kernel: download once, unpack (not install) --------------------------------------------
kernel() {
  mkdir -p "$CACHE"
  local ready="$CACHE/kernel.ready"
  if [ -f "$ready" ] && [ -f "$(cat "$ready")" ]; then cat "$ready"; return; fi
  (
    flock 9
    if [ -f "$ready" ] && [ -f "$(cat "$ready")" ]; then exit 0; fi
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$pkg" ]; then
      apt-get update -qq >&2 || true
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package (apt-cache depends)"
    cd "$CACHE"
    rm -f ./*.deb
    apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2
    rm -rf root && mkdir root
    dpkg -x ./"$pkg"_*.deb root
    rm -f ./*.deb
    # The package's modules.dep is made at install time; make it here (kmod's depmod).
    local kver
    kver=$(ls root/lib/modules | head -n1)
    if command -v depmod >/dev/null || [ -x /usr/sbin/depmod ]; then
      PATH=$PATH:/usr/sbin depmod -b "$CACHE/root" "$kver" || die "depmod failed"
    fi
    local vmlinuz
    vmlinuz=$(ls "$CACHE"/root/boot/vmlinuz-* | head -n1)
    [ -f "$vmlinuz" ] || die "no vmlinuz in $pkg"
    echo "$vmlinuz" > "$ready"
  ) 9>"$CACHE/.lock" || exit $?
  cat "$ready"
}
VMLINUZ=$(kernel)
KVER=$(basename "$VMLINUZ"); KVER=${KVER#vmlinuz-}
MODDIR="$CACHE/root/lib/modules/$KVER"

# ---- initramfs -------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/nodelet-vm.XXXXXX)
LOG=${VM_LOG:-$WORK/console.log}
keep_log=0
cleanup() { [ "$keep_log" = 1 ] && [ -z "${VM_LOG:-}" ] && cp "$LOG" "/tmp/nodelet-vm-last.log" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,newroot,lib/modules} "$R"/usr/{bin,sbin}
cp "$BUSYBOX" "$R/bin/busybox"

copy_with_libs() { # src dest
  local src=$1 dest=$2 lib
  mkdir -p "$(dirname "$R$dest")"
  cp -L "$src" "$R$dest"
  # every absolute path ldd prints: libraries and the dynamic loader
  for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$lib" ] || continue
    [ -e "$R$lib" ] && continue
    mkdir -p "$(dirname "$R$lib")"
    cp -L "$lib" "$R$lib"
  done
}
for b in "$@"; do copy_with_libs "$b" "/bin/$(basename "$b")"; done
for pair in ${VM_FILES:-}; do
  src=${pair%%:*}; dest=${pair#*:}
  [ -e "$src" ] || die "VM_FILES: $src not found"
  mkdir -p "$(dirname "$R$dest")"; cp -a "$src" "$R$dest"
done
cp "$PAYLOAD" "$R/payload.sh"

mods=""
if [ -n "${VM_MODULES:-}" ]; then
  if [ ! -f "$MODDIR/modules.dep" ]; then
    PATH=$PATH:/usr/sbin depmod -b "$CACHE/root" "$KVER" 2>/dev/null || die "no modules.dep in $MODDIR (install kmod for depmod)"
  fi
  for m in $VM_MODULES; do
    line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -n1) || die "module $m not in $MODDIR/modules.dep"
    # dependencies first (modules.dep lists "mod: dep1 dep2" with deps in load-reverse order)
    for f in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
      [ -n "$f" ] || continue
      cp "$MODDIR/$f" "$R/lib/modules/" && mods="$mods $(basename "$f")"
    done
  done
fi

cat > "$R/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
if [ "${VM_SWITCH_ROOT:-0}" = 1 ] && [ "\$\$" = 1 ] && [ ! -e /.switched ]; then
  mount -t tmpfs -o mode=755 tmpfs /newroot
  for e in /*; do case \$e in /newroot|/proc|/sys|/dev) ;; *) cp -a "\$e" /newroot/ ;; esac; done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev; touch /newroot/.switched
  exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in \$(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+\$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || echo "vm-init: cannot enable \$c"
done
echo "vm-init: controllers [\$(cat /sys/fs/cgroup/cgroup.subtree_control)]"
for m in $mods; do insmod /lib/modules/\$m || echo "FAIL: insmod \$m"; done
ip link set lo up 2>/dev/null
echo NODELET-VM-PAYLOAD-START
sh /payload.sh
rc=\$?
echo "NODELET-VM-EXIT \$rc"
sync
poweroff -f
EOF
chmod +x "$R/init" "$R/payload.sh"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet) > "$WORK/initrd"

# ---- boot ------------------------------------------------------------------------------------
start=$(date +%s.%N)
set +e
timeout --kill-after=5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nodefaults -serial stdio -monitor none \
  -kernel "$VMLINUZ" -initrd "$WORK/initrd" \
  -append "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 rdinit=/init ${VM_CMDLINE:-}" \
  </dev/null >"$LOG" 2>&1
qrc=$?
set -e
secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}')
tr -d '\r' <"$LOG" >"$LOG.txt"; mv "$LOG.txt" "$LOG"

fail=""
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then fail="timeout after ${TIMEOUT}s"
elif [ "$qrc" != 0 ]; then fail="qemu exited $qrc"
elif ! grep -q '^NODELET-VM-EXIT ' "$LOG"; then fail="payload did not finish (panic?)"
elif ! grep -q '^NODELET-VM-EXIT 0$' "$LOG"; then fail="payload $(grep '^NODELET-VM-EXIT ' "$LOG" | tail -n1)"
elif grep -q '^FAIL' "$LOG"; then fail="$(grep -c '^FAIL' "$LOG") FAIL line(s)"
fi
# always show the check lines
grep -E '^(PASS|FAIL|SKIP)' "$LOG" || true
if [ -n "$fail" ]; then
  keep_log=1
  { echo "run-vm: FAILED ($fail) after ${secs}s; console log:"; sed 's/^/  | /' "$LOG"; } >&2
  exit 1
fi
echo "run-vm: ok ($(grep -c '^PASS' "$LOG") PASS) in ${secs}s"
