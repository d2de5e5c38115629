# Payload for run-vm.sh: `noderun run` on a pure cgroup v2 kernel (binary: noderun).
# The configs come from runtime/noderun/tests/vm_cgroup2.rs through VM_FILES as /cfg/*.json
# (each made from `noderun spec`, cgroupsPath "noderun-vm/<id>" relative to our own cgroup,
# which is the root here) plus /cfg/expect.env. Needs VM_SWITCH_ROOT=1 (pivot_root) and the
# brd module (/dev/ram0 as the device the filter must deny).
. /cfg/expect.env
B=/bundle
CG=/sys/fs/cgroup
PARENT=$CG/noderun-vm
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
t0=$(date +%s)

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
use() { cp "/cfg/$1.json" "$B/config.json"; }
# output lines of the container: "KEY=value"
val() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n1; }
status() { noderun state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

# ---- a busybox bundle ----------------------------------------------------------------------
mkdir -p $B/rootfs/bin $B/rootfs/proc $B/rootfs/sys $B/rootfs/dev $B/rootfs/tmp $B/rootfs/etc
cp /bin/busybox $B/rootfs/bin/busybox
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$B/rootfs/bin/$a"; done
echo "root:x:0:0:root:/:/bin/sh" > $B/rootfs/etc/passwd
grep -q '^0::/$' /proc/self/cgroup || fail "payload runs in the root cgroup: $(cat /proc/self/cgroup)"
echo "noderun: $(noderun --version)"

# ---- memory.max read back inside (cgroup ns + cgroup2 mount) and an OOM kill ---------------
use mem
out=$(noderun run --keep --bundle $B mem </dev/null 2>&1); rc=$?
ev=$(cat $PARENT/mem/memory.events 2>/dev/null)
oom=$(printf '%s\n' "$ev" | sed -n 's/^oom_kill //p')
noderun delete mem || fail "memory: delete after --keep"
if [ "$(val "$out" MAX)" != "$MEM_MAX" ]; then fail "memory.max read back inside: got '$(val "$out" MAX)' want $MEM_MAX; output: $out"
elif [ "$(val "$out" CGROUP)" != "0::/" ]; then fail "memory: own cgroup inside is '$(val "$out" CGROUP)', want 0::/ (cgroup ns)"
elif [ "$(val "$out" FS)" != "cgroup2" ]; then fail "memory: /sys/fs/cgroup inside is '$(val "$out" FS)', want cgroup2"
elif [ "$rc" != 137 ]; then fail "memory: noderun run exited $rc, want 137 (SIGKILL by the OOM killer); output: $out"
elif [ -z "$oom" ] || [ "$oom" -lt 1 ]; then fail "memory: memory.events oom_kill '$oom', want >= 1: $ev"
elif [ -e $PARENT/mem ]; then fail "memory: cgroup left after delete"
else pass "memory.max set, read back inside, OOM kill (exit 137, oom_kill $oom)"; fi

# ---- cpu.max from quota/period, cpu.weight from shares, throttling seen ---------------------
use cpu
out=$(noderun run --bundle $B cpu </dev/null 2>&1); rc=$?
thr=$(val "$out" THROTTLED)
if [ "$rc" != 0 ]; then fail "cpu: run exited $rc: $out"
elif [ "$(val "$out" MAX)" != "$CPU_MAX" ]; then fail "cpu.max: got '$(val "$out" MAX)' want '$CPU_MAX'"
elif [ "$(val "$out" WEIGHT)" != "$CPU_WEIGHT" ]; then fail "cpu.weight: got '$(val "$out" WEIGHT)' want '$CPU_WEIGHT'"
elif [ -z "$thr" ] || [ "$thr" -lt 1 ]; then fail "cpu.max: a busy loop was never throttled (nr_throttled '$thr')"
elif [ -e $PARENT/cpu ]; then fail "cpu: cgroup left after run"
else pass "cpu.max '$CPU_MAX' and cpu.weight $CPU_WEIGHT (from shares), nr_throttled $thr"; fi

# ---- pids.max: forking beyond the limit fails ------------------------------------------------
use pids
out=$(noderun run --keep --bundle $B pids </dev/null 2>&1); rc=$?
pev=$(sed -n 's/^max //p' $PARENT/pids/pids.events 2>/dev/null)
noderun delete pids || fail "pids: delete after --keep"
started=$(printf '%s\n' "$out" | sed -n 's/^started //p' | tail -n1)
if [ "$(val "$out" PMAX)" != "$PIDS_MAX" ]; then fail "pids.max read back: got '$(val "$out" PMAX)' want $PIDS_MAX; output: $out"
elif ! printf '%s\n' "$out" | grep -q "can't fork"; then fail "pids: no fork failure: $out"
elif [ -z "$started" ] || [ "$started" -ge "$PIDS_MAX" ]; then fail "pids: $started background processes started with pids.max $PIDS_MAX"
elif [ -z "$pev" ] || [ "$pev" -lt 1 ]; then fail "pids: pids.events max '$pev', want >= 1"
elif [ -e $PARENT/pids ]; then fail "pids: cgroup left after delete"
else pass "pids.max $PIDS_MAX enforced ($started forks, then can't fork; pids.events max $pev)"; fi

# ---- hugetlb: hugepageLimits applied (hugetlb.2MB.max), an unknown page size refused ---------
use huge
out=$(noderun run --bundle $B huge </dev/null 2>&1); rc=$?
use hugebad
bad=$(noderun run --bundle $B hugebad </dev/null 2>&1); brc=$?
if [ ! -d /sys/kernel/mm/hugepages/hugepages-2048kB ]; then fail "hugetlb: this kernel has no 2MB huge pages"
elif [ "$rc" != 0 ] || [ "$(val "$out" HMAX)" != 4194304 ]; then fail "hugetlb: run exited $rc, hugetlb.2MB.max '$(val "$out" HMAX)' want 4194304: $out"
elif [ "$brc" = 0 ] || ! printf '%s' "$bad" | grep -q 'linux.resources.hugepageLimits\[0\].pageSize'; then fail "hugetlb: page size 3MB: exit $brc: $bad"
elif [ -e $PARENT/huge ] || [ -e $PARENT/hugebad ]; then fail "hugetlb: cgroup left after run"
else pass "hugetlb.2MB.max set from hugepageLimits; 3MB refused naming the field"; fi

# ---- device filter (eBPF): /dev/ram0 denied by default, allowed by a rule -------------------
if [ "$(head -c 512 /dev/ram0 | wc -c)" != 512 ]; then
  fail "devices: /dev/ram0 not readable outside the container (brd loaded?)"
else
  use dev
  out=$(noderun run --bundle $B dev </dev/null 2>&1); rc=$?
  use devallow
  out2=$(noderun run --bundle $B devallow </dev/null 2>&1); rc2=$?
  if [ "$rc" != 0 ] || [ "$rc2" != 0 ]; then fail "devices: runs exited $rc/$rc2: $out / $out2"
  elif [ "$(val "$out" RAM0)" != "denied:Operation not permitted" ]; then fail "devices: /dev/ram0 inside: '$(val "$out" RAM0)', want denied (EPERM); output: $out"
  elif [ "$(val "$out" NULL)" != ok ]; then fail "devices: /dev/null not writable inside: $out"
  elif [ "$(val "$out2" RAM0)" != "open:512" ]; then fail "devices: /dev/ram0 with an allow rule: '$(val "$out2" RAM0)'; output: $out2"
  else pass "device filter denies /dev/ram0 (EPERM), allows /dev/null, and b 1:0 r when configured"; fi
fi

# ---- pause / resume through cgroup.freeze ---------------------------------------------------
use pause
rm -f $B/rootfs/tick
if ! noderun run -d --bundle $B pz </dev/null >/dev/null 2>&1; then
  fail "pause: run -d failed"
else
  i=0; while [ ! -s $B/rootfs/tick ] && [ $i -lt 100 ]; do usleep 50000; i=$((i+1)); done
  noderun pause pz; prc=$?
  st1=$(status pz); fz=$(cat $PARENT/pz/cgroup.freeze 2>/dev/null)
  ev=$(sed -n 's/^frozen //p' $PARENT/pz/cgroup.events 2>/dev/null)
  a=$(cat $B/rootfs/tick); usleep 600000; b=$(cat $B/rootfs/tick)
  noderun resume pz; rrc=$?
  st2=$(status pz); fz2=$(cat $PARENT/pz/cgroup.freeze 2>/dev/null)
  usleep 600000; c=$(cat $B/rootfs/tick)
  noderun kill pz KILL
  i=0; while [ "$(status pz)" != stopped ] && [ $i -lt 100 ]; do usleep 50000; i=$((i+1)); done
  noderun delete pz; drc=$?
  if [ "$prc" != 0 ] || [ "$rrc" != 0 ]; then fail "pause/resume: exit $prc/$rrc"
  elif [ "$st1" != paused ] || [ "$fz" != 1 ] || [ "$ev" != 1 ]; then fail "pause: status '$st1' cgroup.freeze '$fz' frozen '$ev'"
  elif [ -z "$a" ] || [ "$a" != "$b" ]; then fail "pause: the container kept running while frozen ($a -> $b)"
  elif [ "$st2" != running ] || [ "$fz2" != 0 ]; then fail "resume: status '$st2' cgroup.freeze '$fz2'"
  elif [ -z "$c" ] || [ "$c" -le "$b" ]; then fail "resume: the container did not go on ($b -> $c)"
  elif [ "$drc" != 0 ] || [ -e $PARENT/pz ]; then fail "pause: delete exit $drc, cgroup left: $(ls $PARENT 2>&1)"
  else pass "pause/resume via cgroup.freeze (tick $a frozen, $c after resume)"; fi
fi

# ---- nothing left behind ---------------------------------------------------------------------
left=$(ls /run/noderun 2>/dev/null)
if [ -e $PARENT ]; then fail "delete leaves no cgroup: $PARENT still exists: $(find $PARENT -type d)"
elif [ -n "$left" ]; then fail "delete leaves no state: /run/noderun holds $left"
else pass "delete leaves no cgroup and no state"; fi
echo "payload took $(( $(date +%s) - t0 )) s"
