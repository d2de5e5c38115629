# tests/vm/lib.sh — boot and drive VMs of the image tests/vm/image.sh builds (sourced by
# tests/vm/systemd.sh and tests/vm/lab.sh, from the repository's root).
#
#   vm_init SCRIPT                               root check, the image, a work dir, EXIT trap
#   vm_boot NAME SSH_PORT [EXTRA_QEMU_ARGS...]   boot a copy-on-write overlay of disk.qcow2
#   vm_boot_one NAME                             boot on a free port, wait for sshd: PASS or exit 1
#   vm_ssh NAME CMD...                           run CMD as root in the VM (ssh over loopback)
#   vm_wait_ssh NAME SECONDS                     wait for sshd
#   vm_reboot NAME                               `systemctl reboot` and wait for sshd again
#   vm_down NAME / vm_down_all                   power off (or kill) and remove the overlay
#   pass/fail/check, wait_until SECONDS CMD..., elapsed, vm_result (the exit status)
#
# Networking stays inside qemu: eth0 is qemu's user-mode network with restrict=on (the guest
# reaches nothing outside; only the ssh port is forwarded, from 127.0.0.1), extra links are
# socket netdevs between the VMs over loopback. The host's links, routes and firewall are
# never touched. Needs qemu-system-x86 and openssh-client; runs under TCG (no KVM).
# VM_KEEP=1 leaves the VMs running at exit (their ssh commands are printed).
VM_MEM=${VM_MEM:-1024}
VM_SMP=${VM_SMP:-1}
declare -A VM_PORT=()
VM_NAMES=()
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

vm_init() { # SCRIPT
  [ "$(id -u)" = 0 ] || { echo "$1: needs root (the image build): sudo $1" >&2; exit 1; }
  VM_IMAGE=$(tests/vm/image.sh)
  VM_WORK=$(mktemp -d /tmp/nodelet-vms.XXXXXX)
  trap vm_cleanup EXIT
  echo "image ready at $(elapsed)"
}

vm_cleanup() {
  local n
  if [ "${VM_KEEP:-0}" = 1 ]; then
    for n in "${VM_NAMES[@]}"; do
      echo "$n left running: ssh -i $VM_IMAGE/ssh/id_ed25519 -p ${VM_PORT[$n]} root@127.0.0.1"
    done
    echo "stop them: kill \$(cat $VM_WORK/*.pid)"
    return
  fi
  vm_down_all
  rm -rf "$VM_WORK"
}

vm_boot() { # NAME PORT [qemu args...]
  local name=$1 port=$2; shift 2
  qemu-img create -q -f qcow2 -b "$VM_IMAGE/disk.qcow2" -F qcow2 "$VM_WORK/$name.qcow2"
  VM_PORT[$name]=$port
  VM_NAMES+=("$name")
  # No -no-reboot: a guest reboot restarts the same kernel with the same disk.
  qemu-system-x86_64 -accel tcg -m "$VM_MEM" -smp "$VM_SMP" -name "$name" \
    -display none -nodefaults -monitor none -serial "file:$VM_WORK/$name.console" \
    -pidfile "$VM_WORK/$name.pid" -daemonize \
    -kernel "$VM_IMAGE/vmlinuz" -initrd "$VM_IMAGE/initrd.img" -append "$(cat "$VM_IMAGE/cmdline")" \
    -drive "file=$VM_WORK/$name.qcow2,if=virtio,format=qcow2,cache=unsafe" \
    -netdev "user,id=user0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
    -device virtio-net-pci,netdev=user0 \
    "$@"
}

vm_boot_one() { # NAME: boot, wait for sshd, PASS; or FAIL, the console's end, keep it, exit 1
  vm_boot "$1" "$(free_port)"
  if ! vm_wait_ssh "$1" 300; then
    fail "VM booted and sshd answers (console: $VM_WORK/$1.console)"
    tail -n 40 "$VM_WORK/$1.console"
    VM_KEEP=1
    exit 1
  fi
  pass "VM booted, sshd answers ($(elapsed))"
}

vm_ssh() { # NAME CMD...
  local name=$1; shift
  ssh -q -i "$VM_IMAGE/ssh/id_ed25519" -p "${VM_PORT[$name]}" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 \
    -o ServerAliveInterval=5 -o ServerAliveCountMax=6 root@127.0.0.1 "$@"
}

vm_wait_ssh() { # NAME SECONDS
  local end=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    vm_ssh "$1" true 2>/dev/null && return 0
    sleep 2
  done
  return 1
}

vm_reboot() { # NAME: reboot and wait (boot id changes) for sshd
  local old
  old=$(vm_ssh "$1" cat /proc/sys/kernel/random/boot_id)
  vm_ssh "$1" 'systemctl reboot' || true
  local end=$(( $(date +%s) + 300 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 3
    local now
    now=$(vm_ssh "$1" cat /proc/sys/kernel/random/boot_id 2>/dev/null) || continue
    [ -n "$now" ] && [ "$now" != "$old" ] && return 0
  done
  return 1
}

vm_down() { # NAME
  local pidf=$VM_WORK/$1.pid pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  vm_ssh "$1" 'systemctl poweroff' >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill "$pid" 2>/dev/null || true
  rm -f "$pidf" "$VM_WORK/$1.qcow2"
}

vm_down_all() {
  local n
  for n in "${VM_NAMES[@]}"; do vm_down "$n"; done
}

# PASS/FAIL bookkeeping: the caller exits with vm_result.
VM_FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; VM_FAILS=$((VM_FAILS + 1)); }
check() { # NAME CMD...: PASS if CMD succeeds
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
wait_until() { # SECONDS CMD...: poll CMD every second
  local end=$(( $(date +%s) + $1 )); shift
  while [ "$(date +%s)" -lt "$end" ]; do "$@" && return 0; sleep 1; done
  return 1
}
vm_result() {
  if [ "$VM_FAILS" = 0 ]; then echo "all checks passed"; return 0; fi
  echo "$VM_FAILS check(s) failed"; return 1
}
# A free-ish TCP port on 127.0.0.1 for ssh forwarding.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && { echo "$p"; return; }
  done
  echo 2222
}
