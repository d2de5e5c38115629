#!/bin/bash
# tests/vm/shutdown.sh — graceful node shutdown (the kubelet's shutdownGracePeriod) for real:
# nodelet under systemd in a booted Debian 12 VM, `systemctl reboot`, systemd-logind's delay
# inhibitor lock.
#
#   sudo tests/vm/shutdown.sh       # VM_SYSTEMD=252 for Debian's own systemd; VM_KEEP=1 ...
#
# Checks: with `shutdownGracePeriod: 20s` / `shutdownGracePeriodCriticalPods: 10s` nodelet
# raises logind's InhibitDelayMaxSec (drop-in 99-nodelet.conf, logind reloaded) and holds a
# `delay` lock for shutdown (systemd-inhibit --list); on `systemctl reboot` the regular pod
# (preStop hook + SIGTERM trap writing time-stamped markers to a hostPath) is stopped first,
# the critical one (priority 2000001000, system-node-critical) after it, both finish their
# trap, the regular pod shows Failed/Terminated with the kubelet's message and DisruptionTarget;
# a pod created during the shutdown is refused (NodeShutdown); the journal of the
# previous boot shows the lock taken, the event, both groups, the lock released; after the
# boot both pods run again and the lock is held again.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
vm_init "$0"
on() { vm_ssh n1 "$@"; }

vm_boot_one n1
set +e +o pipefail
on 'systemctl is-system-running --wait' >/dev/null 2>&1 || true
echo "systemd $(on 'systemctl --version | head -n1')"
# The previous boot's journal is read after the reboot.
on 'mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal && journalctl --flush' >/dev/null 2>&1
if on '/usr/local/share/nodelet/busybox-image.sh /var/tmp/busybox.tar busybox:local && nodectl import /var/tmp/busybox.tar' >/dev/null; then
  pass "busybox:local imported"
else
  fail "busybox:local imported"
fi
NODE=$(on hostname)

# ---- configuration: 20 s in all, 10 s of it for critical pods --------------------------------
check "logind's InhibitDelayMaxSec is the default 5 s before" \
  test "$(on 'busctl get-property org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager InhibitDelayMaxUSec')" = "t 5000000"
on "printf 'shutdownGracePeriod: 20s\nshutdownGracePeriodCriticalPods: 10s\n' >> /etc/nodelet/config.yaml && systemctl restart nodelet"
locked() { on 'systemd-inhibit --list --no-pager --no-legend' | grep -E 'nodelet.*shutdown.*delay' >/dev/null; }
check "nodelet holds a delay inhibitor lock for shutdown (systemd-inhibit --list)" wait_until 30 locked
check "drop-in /etc/systemd/logind.conf.d/99-nodelet.conf has InhibitDelayMaxSec=20" \
  on 'grep -qx InhibitDelayMaxSec=20 /etc/systemd/logind.conf.d/99-nodelet.conf'
check "logind reloaded: InhibitDelayMaxUSec is 20 s" \
  test "$(on 'busctl get-property org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager InhibitDelayMaxUSec')" = "t 20000000"

# ---- a regular and a critical pod, each writing markers on SIGTERM ----------------------------
# pod NAME PRIORITY_LINES: its trap writes "<name> TERM <t>", sleeps 4 s, writes "<name> done <t>".
pod() {
  on "cat > /etc/kubernetes/manifests/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
$2
  terminationGracePeriodSeconds: 30
  volumes:
  - {name: m, hostPath: {path: /var/tmp/markers, type: DirectoryOrCreate}}
  containers:
  - name: c
    image: busybox:local
    imagePullPolicy: Never
    volumeMounts: [{name: m, mountPath: /m}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'echo "$1 preStop \$(date +%s)" >> /m/log']}
    command: [sh, -c, 't() { echo "\$1 \$2 \$(date +%s)" >> /m/log; }; trap "t $1 TERM; sleep 4; t $1 done; exit 0" TERM; t $1 start; while true; do sleep 1; done']
YAML
}
pod regular ""
pod critical "  priorityClassName: system-node-critical
  priority: 2000001000"
running() { # NAME...
  local t n
  t=$(on 'nodectl get pods 2>&1')
  for n in "$@"; do echo "$t" | awk -v p="$n-$NODE" '$1==p && $2=="1/1" && $3=="Running" {f=1} END {exit !f}' || return 1; done
}
if wait_until 180 running regular critical; then pass "regular and critical pods Running"
else fail "pods Running: $(on 'nodectl get pods 2>&1')"; fi
on 'rm -f /var/tmp/markers/log; sleep 2'

# ---- reboot -----------------------------------------------------------------------------------
old=$(on cat /proc/sys/kernel/random/boot_id)
t0=$(date +%s)
on 'systemctl reboot' >/dev/null 2>&1
# While logind waits for the lock: a new pod is refused, the pods are stopped in order.
on 'cat > /etc/kubernetes/manifests/late.yaml' <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  containers:
  - {name: c, image: busybox:local, imagePullPolicy: Never, command: [sleep, "3600"]}
YAML
refused() { on 'nodectl get pods 2>&1' | awk -v p="late-$NODE" '$1==p && $3=="NodeShutdown" {f=1} END {exit !f}'; }
check "a pod created during the shutdown is refused: STATUS NodeShutdown" wait_until 15 refused
on 'nodectl get pods 2>&1' | sed 's/^/  during shutdown: /'
# The regular pod, stopped: Failed/Terminated with the kubelet's message and DisruptionTarget.
terminated() {
  on "nodectl get pod regular-$NODE -o yaml" > "$VM_WORK/regular.yaml" 2>/dev/null &&
    grep -q 'phase: Failed' "$VM_WORK/regular.yaml" && grep -q 'reason: Terminated' "$VM_WORK/regular.yaml" &&
    grep -q 'message: Pod was terminated in response to imminent node shutdown.' "$VM_WORK/regular.yaml" &&
    grep -q 'type: DisruptionTarget' "$VM_WORK/regular.yaml"
}
check "regular pod stopped: phase Failed, reason Terminated, the kubelet's message, DisruptionTarget" wait_until 12 terminated
check "regular pod's container: terminated with its trap's exit code 0 (Completed)" \
  grep -q 'reason: Completed' "$VM_WORK/regular.yaml"
grep -A4 'terminated:' "$VM_WORK/regular.yaml" | sed 's/^/  regular container: /'
on 'nodectl get pods 2>&1' | sed 's/^/  during shutdown: /'
back=0
end=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 3
  now=$(on cat /proc/sys/kernel/random/boot_id 2>/dev/null) || continue
  if [ -n "$now" ] && [ "$now" != "$old" ]; then back=1; break; fi
done
if [ "$back" = 1 ]; then pass "VM rebooted ($(( $(date +%s) - t0 ))s to sshd)"
else fail "VM rebooted and sshd answers again"; echo "total $(elapsed)"; vm_result; exit 1; fi
on 'rm -f /etc/kubernetes/manifests/late.yaml'

# ---- what happened: markers and the previous boot's journal ----------------------------------
log=$(on 'cat /var/tmp/markers/log')
echo "$log" | sed 's/^/  markers: /'
at() { echo "$log" | awk -v w="$1 $2" '$1" "$2==w {print $3; exit}'; }
rt=$(at regular TERM); rd=$(at regular done); ct=$(at critical TERM); cd=$(at critical done)
rp=$(at regular preStop); cp=$(at critical preStop)
check "regular pod: preStop hook ran, then SIGTERM ($rp, $rt)" test -n "$rp" -a -n "$rt"
check "regular pod finished its SIGTERM trap (4 s) before being killed ($rt → $rd)" test -n "$rd"
check "critical pod: preStop hook ran, then SIGTERM ($cp, $ct)" test -n "$cp" -a -n "$ct"
check "critical pod finished its SIGTERM trap ($ct → $cd)" test -n "$cd"
check "the critical pod was stopped after the regular one had finished ($rd <= $cp)" \
  test -n "$rd" -a -n "$cp" -a "${rd:-0}" -le "${cp:-0}"
jr=$(on 'journalctl -b -1 -u nodelet --no-pager -o cat')
has() { echo "$jr" | grep -q -- "$1"; }
check "journal (previous boot): lock taken" has "took logind's delay inhibitor lock for shutdown"
check "journal: shutdown event detected" has "shutdown manager detected new shutdown event: shutdown"
check "journal: group 0 (1 pod) stopped within 10s" has "stopping 1 pod(s) of priority group 0 within 10s"
check "journal: group 2000000000 (1 pod) stopped within 10s" has "stopping 1 pod(s) of priority group 2000000000 within 10s"
check "journal: a pod refused with NodeShutdown" has "rejected (NodeShutdown): Pod was rejected as the node is shutting down."
check "journal: lock released, then the shutdown went on" has "released logind's inhibitor lock"
order() {
  echo "$jr" | grep -n -e "priority group 0 within" -e "priority group 2000000000 within" -e "released logind's inhibitor lock" |
    cut -d: -f1 | tr '\n' ' ' | awk '{exit !($1 < $2 && $2 < $3)}'
}
check "journal: regular group, then critical group, then the lock released" order
echo "$jr" | grep -e "shutdown manager" -e "inhibitor lock" -e "Terminated" | sed 's/^/  journal -b -1: /'

# ---- after the boot -------------------------------------------------------------------------------
if wait_until 180 running regular critical; then pass "after the boot: both pods Running again"
else fail "after the boot: $(on 'nodectl get pods 2>&1')"; fi
check "after the boot: the lock is held again" wait_until 30 locked

echo "total $(elapsed)"
vm_result
