# Payload for run-vm.sh: nodelet on a pure cgroup v2 kernel (binaries: nodelet nodectl
# nodelet-shim nodelet-pause noderun). From agent/tests/vm_cgroup2.rs through VM_FILES: /cfg/busybox.tar
# (scripts/busybox-image.sh). nodelet starts alone in /svc (as a systemd unit with
# Delegate=yes would be), must move itself into /svc/nodelet-agent, enable the controllers of
# /svc for its children and put the pod cgroups beside its leaf, with their limits; removing
# the manifest removes them. Needs VM_SWITCH_ROOT=1 (pivot_root) and the overlay module.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
CG=/sys/fs/cgroup
N=/tmp/node
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
wait_for() { # seconds, command...
  local n=$(( $1 * 10 )); shift
  while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
mkdir -p $N/manifests $N/root $N/logs $N/run
ip link set lo up
nodectl --root-dir $N/root import /cfg/busybox.tar >/dev/null || fail "import busybox.tar"
mkdir $CG/svc
sh -c "echo \$\$ > $CG/svc/cgroup.procs; exec nodelet --node-name vm --static-pod-path $N/manifests \
  --root-dir $N/root --pod-logs-dir $N/logs --run-dir $N/run --api-socket $N/run/nodelet.sock \
  --cni-conf-dir $N/net.d --cni-bin-dir $N/cni-bin --sync-period-ms 200" >$N/nodelet.log 2>&1 &
agent=$!
if ! wait_for 30 test -S $N/run/nodelet.sock; then
  fail "nodelet did not start: $(cat $N/nodelet.log)"
  exit 1
fi
own=$(cat /proc/$agent/cgroup)
if [ "$own" = "0::/svc/nodelet-agent" ]; then pass "nodelet moved itself into the leaf /svc/nodelet-agent"
else fail "nodelet's cgroup is '$own', want 0::/svc/nodelet-agent"; fi
ctl=$(cat $CG/svc/cgroup.subtree_control)
case " $ctl " in
  *" memory "*" pids "*|*" pids "*" memory "*) pass "/svc hands memory and pids to its children ($ctl)" ;;
  *) case "$ctl" in *memory*pids*|*pids*memory*) pass "/svc hands memory and pids to its children ($ctl)" ;; *) fail "/svc subtree_control is '$ctl'" ;; esac ;;
esac
cat > $N/manifests/limited.yaml <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox:local
    command: ["sh", "-c", "echo MAX=$(cat /sys/fs/cgroup/memory.max); exec sleep 1000"]
    resources:
      limits: {memory: 32Mi, cpu: 200m}
YAML
running() { grep -qs '"phase": "Running"' $N/root/pods/*/status.json; }
if wait_for 90 running; then pass "pod Running"
else fail "pod not Running: $(grep -h '"reason"\|"message"' $N/root/pods/*/status.json 2>/dev/null | tr -s ' ') nodelet log: $(grep -E 'WARN|ERROR|Failed|Warning' $N/nodelet.log | tail -8)"; fi
pod=$(ls -d $CG/svc/pod* 2>/dev/null | head -n1)
if [ -n "$pod" ]; then pass "pod cgroup beside the agent's leaf: ${pod#$CG}"
else fail "no pod cgroup in /svc: $(ls $CG/svc)"; fi
log() { cat $N/logs/default_limited-vm_*/c/0.log 2>/dev/null; }
if wait_for 20 sh -c "cat $N/logs/default_limited-vm_*/c/0.log 2>/dev/null | grep -q MAX=33554432"; then
  pass "container memory.max 33554432 read inside"
else fail "container memory.max: log '$(log)'"; fi
cmax=$(for f in $pod/*/cpu.max; do case $f in *-sandbox/*) ;; *) cat "$f" ;; esac; done 2>/dev/null | head -n1)
if [ "$cmax" = "20000 100000" ]; then pass "container cpu.max $cmax"; else fail "container cpu.max '$cmax' in $(ls $pod)"; fi
rm $N/manifests/limited.yaml
gone() { [ -z "$(ls -d $CG/svc/pod* 2>/dev/null)" ] && [ -z "$(ls $N/root/pods 2>/dev/null)" ]; }
if wait_for 30 gone; then pass "manifest removed: pod cgroups and state gone"
else fail "left after removal: $(ls $CG/svc) $(ls $N/root/pods)"; fi
kill $agent; wait $agent
left=$(ls $CG/svc | grep -v '^cgroup\.\|^cpu\|^memory\|^pids\|^io\.\|^hugetlb\|^rdma\|^misc\|^cpuset' | tr '\n' ' ')
if [ "$left" = "nodelet-agent " ]; then pass "only the agent's leaf is left in /svc"
else fail "left in /svc: '$left'"; fi
