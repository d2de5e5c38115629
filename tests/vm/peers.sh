#!/bin/bash
# tests/vm/peers.sh — podman and containerd over noderun with their systemd cgroup manager, in a
# booted Debian 12 VM (qemu, TCG), each command also run with runc for comparison.
#
#   sudo VM_SYSTEMD=252 tests/vm/peers.sh   # builds/reuses the image (tests/vm/image.sh), boots
#                                           # it, prints PASS/FAIL per check; exit 1 if any failed
#
# The image's base has Debian's podman 4.3, containerd 1.6, runc 1.1 (and crun); noderun is
# /usr/local/bin/noderun (scripts/install.sh). busybox:local (scripts/busybox-image.sh) is
# loaded offline with `podman load` and `ctr image import`. For RT in runc, noderun:
#   podman --runtime RT with cgroup_manager "systemd" (podman's default under systemd):
#     run, run -d with --memory/--cpus/--pids-limit, ps, exec, logs, the container in
#     machine.slice/libpod-<id>.scope with Delegate and the limits as unit properties and in
#     the scope's files, pause/unpause (cgroup.freeze), stop, kill, rm, the scope gone;
#   containerd's runc v2 shim with BinaryName RT and SystemdCgroup (ctr --runc-binary
#     --runc-systemd-cgroup --cgroup system.slice:ctr:<id>): run, run -d with --memory-limit and
#     --cpus, logs (--log-uri), task ls, exec, ps, pause/resume, metrics, kill, rm, the scope gone.
# Every check is made for runc and for noderun; a check only noderun fails is noderun's bug.
# Environment: VM_KEEP=1 leaves the VM running (ssh port printed), VM_MEM (MiB), VM_SMP,
# PEERS_RUNTIMES (default "runc noderun").
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
vm_init "$0"
on() { vm_ssh n1 "$@"; }

vm_boot_one n1
set +e +o pipefail
on 'systemctl is-system-running --wait' >/dev/null 2>&1 || true
echo "$(on 'podman --version; containerd --version; runc --version | head -n1; noderun --version | head -n1' | tr '\n' ';')"

# ---- images, offline -----------------------------------------------------------------------------
on '/usr/local/share/nodelet/busybox-image.sh /var/tmp/busybox.tar busybox:local' >/dev/null
check "podman load of busybox:local" on 'podman load -q -i /var/tmp/busybox.tar >/dev/null && podman image exists busybox:local'
check "podman's cgroup manager is systemd" test "$(on "podman info --format '{{.Host.CgroupManager}}'")" = systemd
check "containerd started (disabled at boot)" on 'systemctl start containerd && ctr version >/dev/null'
check "ctr image import of busybox:local" on 'ctr image import /var/tmp/busybox.tar >/dev/null && ctr image ls -q | grep -qx docker.io/library/busybox:local'
IMG=docker.io/library/busybox:local

# scope_props UNIT: Delegate MemoryMax CPUQuotaPerSecUSec TasksMax
scope_props() { on "for p in Delegate MemoryMax CPUQuotaPerSecUSec TasksMax; do systemctl show -p \$p --value $1; done" | tr '\n' ' '; }
# scope_gone UNIT CGROUP_DIR: no such unit (not even inactive), no directory
scope_gone() { on "! systemctl list-units --all --no-legend '$1' | grep -q . && ! test -e /sys/fs/cgroup/$2"; }
rt_bin() { case "$1" in runc) echo /usr/sbin/runc ;; noderun) echo /usr/local/bin/noderun ;; esac; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- podman ----------------------------------------------------------------------------------------
podman_checks() { # RT
  local rt=$1 bin pm c id pid cg scope props files st t out slice
  bin=$(rt_bin "$rt")
  pm="podman --runtime $bin"
  t=$(date +%s%N)
  check "podman[$rt]: run --rm prints hello" test "$(on "$pm run --rm --network none busybox:local echo hello")" = hello
  echo "podman[$rt]: run --rm took $(ms_since "$t") ms (ssh included)"
  check "podman[$rt]: run's exit code (sh -c 'exit 3')" test "$(on "$pm run --rm --network none busybox:local sh -c 'exit 3'; echo \$?")" = 3
  out=$(on "$pm run --rm busybox:local ip -4 -o addr show dev eth0")
  check "podman[$rt]: run on podman's default network (CNI bridge: $(echo "$out" | awk '{print $4}'))" test -n "$(echo "$out" | grep ' 10\.88\.')"
  c=pm-$rt
  id=$(on "$pm run -d --name $c --network none --memory 64m --cpus 0.5 --pids-limit 50 busybox:local sh -c 'echo started; exec sleep 100000'")
  check "podman[$rt]: run -d --memory 64m --cpus 0.5 --pids-limit 50 (${id:0:12})" test -n "$id"
  check "podman[$rt]: ps shows it Up" on "podman ps --filter name=$c --format '{{.Status}}' | grep -q '^Up'"
  check "podman[$rt]: exec" test "$(on "podman exec $c echo in-exec")" = in-exec
  check "podman[$rt]: logs" test "$(on "podman logs $c")" = started
  pid=$(on "podman inspect -f '{{.State.Pid}}' $c")
  cg=$(on "cat /proc/$pid/cgroup")
  scope=libpod-$id.scope
  check "podman[$rt]: the container in machine.slice/libpod-<id>.scope ($cg)" test "$cg" = "0::/machine.slice/$scope"
  check "podman[$rt]: conmon in its own libpod-conmon-<id>.scope" on "systemctl is-active -q libpod-conmon-$id.scope"
  props=$(scope_props "$scope")
  check "podman[$rt]: scope properties Delegate, MemoryMax 64m, CPUQuota 500ms/s, TasksMax 50 ($props)" \
    test "$props" = "yes 67108864 500ms 50 "
  files=$(on "cd /sys/fs/cgroup/machine.slice/$scope && cat memory.max cpu.max pids.max" | tr '\n' ' ')
  check "podman[$rt]: limits in the scope's files: memory.max cpu.max pids.max ($files)" test "$files" = "67108864 50000 100000 50 "
  check "podman[$rt]: pause (state paused, cgroup frozen)" on "podman pause $c >/dev/null && podman inspect -f '{{.State.Status}}' $c | grep -qx paused && grep -qx 'frozen 1' /sys/fs/cgroup/machine.slice/$scope/cgroup.events"
  check "podman[$rt]: unpause, exec works again" on "podman unpause $c >/dev/null && podman exec $c true && grep -qx 'frozen 0' /sys/fs/cgroup/machine.slice/$scope/cgroup.events"
  out=$(on "podman stats --no-stream --format '{{.MemUsage}}' $c")
  check "podman[$rt]: stats reads the scope ($out)" test -n "$(echo "$out" | grep '/ 67.11MB')"
  files=$(on "podman update --memory 32m --cpus 0.25 $c >/dev/null && cd /sys/fs/cgroup/machine.slice/$scope && cat memory.max cpu.max; systemctl show -p MemoryMax --value -p CPUQuotaPerSecUSec $scope" | tr '\n' ' ')
  check "podman[$rt]: update --memory 32m --cpus 0.25: files and unit properties ($files)" test "$files" = "33554432 25000 100000 250ms 33554432 "
  st=$(on "podman stop -t 2 $c >/dev/null 2>&1; podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' $c")
  check "podman[$rt]: stop -t 2 (sleep ignores SIGTERM as PID 1: SIGKILL after 2 s) ($st)" test "$st" = "exited 137"
  check "podman[$rt]: rm" on "podman rm $c >/dev/null"
  check "podman[$rt]: after rm, no libpod-<id>.scope nor its conmon scope" scope_gone "libpod-*$id.scope" "machine.slice/$scope"
  id=$(on "$pm run -d --name $c-k --network none busybox:local sleep 100000")
  st=$(on "podman kill $c-k >/dev/null && podman wait $c-k")
  check "podman[$rt]: kill → exit 137 ($st)" test "$st" = 137
  check "podman[$rt]: rm after kill" on "podman rm $c-k >/dev/null"
  check "podman[$rt]: its scope gone" scope_gone "libpod-$id.scope" "machine.slice/libpod-$id.scope"
  # A pod: its slice machine-libpod_pod_<id>.slice (podman makes it), the containers' scopes in it.
  on "$pm pod create --name pod-$rt --network none --memory 128m >/dev/null && $pm run -d --pod pod-$rt --name $c-p busybox:local sleep 100000 >/dev/null"
  slice=machine-libpod_pod_$(on "podman pod inspect -f '{{.Id}}' pod-$rt").slice
  id=$(on "podman inspect -f '{{.Id}}' $c-p")
  pid=$(on "podman inspect -f '{{.State.Pid}}' $c-p")
  cg=$(on "cat /proc/$pid/cgroup")
  check "podman[$rt]: pod container in machine.slice/$slice/libpod-<id>.scope (${cg:0:60}...)" test "$cg" = "0::/machine.slice/$slice/libpod-$id.scope"
  check "podman[$rt]: the pod's slice memory.max 128m" test "$(on "cat /sys/fs/cgroup/machine.slice/$slice/memory.max")" = 134217728
  check "podman[$rt]: pod rm -f, its slice and scopes gone" on "podman pod rm -f -t 0 pod-$rt >/dev/null && ! test -e /sys/fs/cgroup/machine.slice/$slice && ! systemctl list-units --all --no-legend '$slice' 'libpod-*' | grep -q ."
}

# ---- containerd (ctr, the runc v2 shim) ---------------------------------------------------------
ctr_checks() { # RT
  local rt=$1 bin cr c pid cg scope props files out t
  bin=$(rt_bin "$rt")
  cr="ctr run --runc-binary $bin --runc-systemd-cgroup"
  c=ctr-$rt
  t=$(date +%s%N)
  check "ctr[$rt]: run --rm prints hello" test "$(on "$cr --rm --cgroup system.slice:ctr:$c-fg $IMG $c-fg echo hello")" = hello
  echo "ctr[$rt]: run --rm took $(ms_since "$t") ms (ssh included)"
  check "ctr[$rt]: run -d with --memory-limit 64Mi, --cpus 0.5, --log-uri" \
    on "$cr -d --cgroup system.slice:ctr:$c --memory-limit 67108864 --cpus 0.5 --log-uri file:///var/tmp/$c.log $IMG $c sh -c 'echo started; exec sleep 100000' >/dev/null"
  tstate() { on "ctr task ls | awk '\$1==\"$c\" {print \$3}'"; }
  running() { test "$(tstate)" = RUNNING; }
  check "ctr[$rt]: task ls RUNNING" wait_until 10 running
  check "ctr[$rt]: logs in the --log-uri file" wait_until 10 on "grep -qx started /var/tmp/$c.log"
  check "ctr[$rt]: task exec" test "$(on "ctr task exec --exec-id e1 $c echo in-exec")" = in-exec
  pid=$(on "ctr task ls | awk '\$1==\"$c\" {print \$2}'")
  out=$(on "ctr task ps $c")
  check "ctr[$rt]: task ps lists the init pid $pid" test -n "$(echo "$out" | awk -v p="$pid" 'p != "" && $1==p')"
  cg=$(on "cat /proc/$pid/cgroup")
  scope=ctr-$c.scope
  check "ctr[$rt]: the container in system.slice/$scope (its cgroupsPath system.slice:ctr:$c) ($cg)" test "$cg" = "0::/system.slice/$scope"
  props=$(scope_props "$scope")
  check "ctr[$rt]: scope properties Delegate, MemoryMax 64Mi, CPUQuota 500ms/s ($props)" \
    test "$(echo "$props" | cut -d' ' -f1-3)" = "yes 67108864 500ms"
  files=$(on "cd /sys/fs/cgroup/system.slice/$scope && cat memory.max cpu.max" | tr '\n' ' ')
  check "ctr[$rt]: limits in the scope's files: memory.max cpu.max ($files)" test "$files" = "67108864 50000 100000 "
  check "ctr[$rt]: task pause (PAUSED, cgroup frozen)" on "ctr task pause $c && ctr task ls | awk '\$1==\"$c\" {print \$3}' | grep -qx PAUSED && grep -qx 'frozen 1' /sys/fs/cgroup/system.slice/$scope/cgroup.events"
  check "ctr[$rt]: task resume (RUNNING, thawed)" on "ctr task resume $c && ctr task ls | awk '\$1==\"$c\" {print \$3}' | grep -qx RUNNING && grep -qx 'frozen 0' /sys/fs/cgroup/system.slice/$scope/cgroup.events"
  check "ctr[$rt]: task metrics read the scope (memory.usage_limit 64Mi)" on "ctr task metrics $c | grep -Eq '^memory.usage_limit +67108864'"
  check "ctr[$rt]: task kill -s SIGKILL → STOPPED" on "ctr task kill -s SIGKILL $c && for i in \$(seq 1 20); do ctr task ls | awk '\$1==\"$c\" {print \$3}' | grep -qx STOPPED && exit 0; sleep 0.5; done; exit 1"
  check "ctr[$rt]: task rm, container rm" on "ctr task rm $c >/dev/null 2>&1 && ctr container rm $c"
  check "ctr[$rt]: $scope gone" scope_gone "$scope" "system.slice/$scope"
}

for rt in ${PEERS_RUNTIMES:-runc noderun}; do
  podman_checks "$rt"
  ctr_checks "$rt"
done

# ---- noderun as podman's configured runtime (containers.conf) ------------------------------------
on 'mkdir -p /etc/containers/containers.conf.d && printf "[engine]\nruntime = \"noderun\"\n\n[engine.runtimes]\nnoderun = [\"/usr/local/bin/noderun\"]\n" > /etc/containers/containers.conf.d/50-noderun.conf'
check "containers.conf: podman's runtime is noderun" test "$(on "podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}'")" = "noderun /usr/local/bin/noderun"
out=$(on "podman run -d --name conf --network none busybox:local sleep 100000 >/dev/null && podman inspect -f '{{.OCIRuntime}}' conf && podman rm -f -t 0 conf >/dev/null")
check "containers.conf: a container run by noderun ($out)" test "$out" = noderun
on 'rm -rf /etc/containers/containers.conf.d'

left=$(on "podman ps -aq; podman pod ps -q; ctr task ls -q; ctr container ls -q; systemctl list-units --all --no-legend 'libpod-*' 'machine-libpod*' 'ctr-*'")
check "nothing left: no container, task, pod or scope${left:+ ($left)}" test -z "$left"
echo "checks done at $(elapsed)"
vm_result
