#!/bin/bash
# tests/vm/systemd.sh — nodelet under the real systemd, in a booted Debian 12 VM (qemu, TCG).
#
#   sudo tests/vm/systemd.sh          # builds/reuses the image (tests/vm/image.sh), boots it,
#                                     # prints PASS/FAIL per check; exit 1 if any failed
#
# The VM is a copy-on-write overlay of the cached image, with the shipped binaries installed
# by scripts/install.sh (unit, default config, CNI config) and nodelet enabled. Checks:
# systemd is PID 1 on cgroup v2; busybox:local imported with nodectl; static pods run;
# `systemctl restart` reports ready only after the running pods were found (Type=notify);
# the journal has the agent's log with levels; restart and upgrade (binary replaced) restart
# no container; SIGSTOP → the watchdog restarts nodelet, pods untouched; stop + start adopts;
# the cgroup v2 layout: with the packaged `cgroupDriver: systemd` pods in kubepods.slice
# (kubepods[-qos]-pod<uid>.slice, containers in nodelet-<id>.scope with Delegate=yes, limits as
# unit properties and in the files, the pod's grace period as the scope's stop timeout,
# nothing of the pods below nodelet.service), with cgroupfs under
# system.slice/nodelet.service (Delegate=yes); a reboot does not wait for the pods (graceful
# enough: scopes stopped after their grace period) and brings every static pod back; a removed
# pod leaves no slice or scope. Environment: VM_CGROUP_DRIVER=cgroupfs switches the VM's
# configuration to cgroupfs first; VM_SYSTEMD=252 (image.sh) boots Debian 12's own systemd;
# VM_KEEP=1 leaves the VM running (ssh port printed), VM_MEM (MiB, 1024), VM_SMP (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
vm_init "$0"
on() { vm_ssh n1 "$@"; }

vm_boot_one n1
# From here on every step is a check: a failing command is a FAIL line, never an abort.
set +e +o pipefail
on 'systemctl is-system-running --wait' >/dev/null 2>&1 || true

# ---- the system ------------------------------------------------------------------------------
check "systemd is PID 1" test "$(on 'cat /proc/1/comm')" = systemd
check "cgroup v2 unified hierarchy" test "$(on 'stat -fc %T /sys/fs/cgroup')" = cgroup2fs
check "nodelet enabled and active at boot" on "systemctl is-enabled -q nodelet && systemctl is-active -q nodelet"
echo "systemd $(on 'systemctl --version | head -n1')"
if [ -n "${VM_CGROUP_DRIVER:-}" ]; then
  on "sed -i 's/^cgroupDriver:.*/cgroupDriver: $VM_CGROUP_DRIVER/' /etc/nodelet/config.yaml && systemctl restart nodelet"
fi
DRIVER=$(on "sed -n 's/^cgroupDriver:[[:space:]]*//p' /etc/nodelet/config.yaml")
DRIVER=${DRIVER:-cgroupfs}
echo "cgroup driver: $DRIVER"
# pid reservation: 1000 of the node's pids kept from the pods (checked below).
on "grep -q '^systemReserved:' /etc/nodelet/config.yaml || echo 'systemReserved: {pid: \"1000\"}' >> /etc/nodelet/config.yaml; systemctl restart nodelet"
check "unit is Type=notify with a watchdog" test "$(on 'systemctl show -p Type --value nodelet; systemctl show -p WatchdogUSec --value nodelet' | tr '\n' ' ')" = "notify 30s "

# ---- image and pods --------------------------------------------------------------------------
if on '/usr/local/share/nodelet/busybox-image.sh /var/tmp/busybox.tar busybox:local && nodectl import /var/tmp/busybox.tar' >/dev/null; then
  check "busybox:local imported with nodectl" on 'nodectl images | grep -q busybox'
else
  fail "busybox:local imported with nodectl"
fi
on 'cat > /etc/kubernetes/manifests/web.yaml' <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: busybox:local
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo hello-vm > /www/index.html && exec httpd -f -p 8080 -h /www']
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
YAML
on 'cat > /etc/kubernetes/manifests/sleeper.yaml' <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: s
    image: busybox:local
    imagePullPolicy: Never
    command: [sleep, "3600001"]
    resources:
      limits: {memory: 64Mi, cpu: 250m}
YAML
NODE=$(on hostname)
# pods_ok: both pods Running, ready, with 0 restarts (nodectl get pods: NAME READY STATUS RESTARTS AGE)
pods_table() { on 'nodectl get pods 2>&1'; }
pods_ok() {
  local t
  t=$(pods_table) || return 1
  echo "$t" | awk -v n="$NODE" '$1=="web-"n && $2=="1/1" && $3=="Running" && $4=="0" {w=1}
    $1=="sleeper-"n && $2=="1/1" && $3=="Running" && $4=="0" {s=1} END {exit !(w && s)}'
}
# The containers' processes: the same PIDs after an operation means nothing was restarted.
cpids() { on "pgrep -f '^sleep 3600001\$'; pgrep -f '^httpd -f -p 8080'" | sort | tr '\n' ' '; }
if wait_until 180 pods_ok; then pass "static pods web and sleeper Running and ready ($(elapsed))"
else fail "static pods Running: $(pods_table)"; on 'journalctl -u nodelet --no-pager | tail -n 30'; fi
PIDS=$(cpids)
webip=$(on "nodectl get pods -o wide 2>/dev/null" | awk -v n="web-$NODE" '$1==n {for (i=1;i<=NF;i++) if ($i ~ /^10\.244\./) print $i}')
web_answers() { [ -n "$webip" ] && [ "$(on "timeout 10 busybox wget -q -O - http://$webip:8080/")" = hello-vm ]; }
check "the web pod answers on its pod IP ${webip:-?} (nodenet bridge)" web_answers

# ---- the journal -----------------------------------------------------------------------------
jr=$(on 'journalctl -u nodelet --no-pager -o cat')
if echo "$jr" | grep -q ' INFO ' && ! echo "$jr" | grep -q 'blob data' && ! echo "$jr" | grep -q $'\e\['; then
  pass "journalctl -u nodelet has the agent's log with levels (INFO lines, no colour codes)"
else
  fail "journal of nodelet: $(echo "$jr" | tail -n 5)"
fi

# ---- restart: ready only after adoption, no container restarted --------------------------------
cursor=$(on 'journalctl -u nodelet -n 0 --show-cursor --no-pager' | sed -n 's/^-- cursor: //p')
oldpid=$(on 'systemctl show -p MainPID --value nodelet')
t=$(date +%s%N)
check "systemctl restart nodelet succeeds" on 'systemctl restart nodelet'
echo "systemctl restart nodelet returned after $(( ($(date +%s%N) - t) / 1000000 )) ms"
after=$(on "journalctl -u nodelet --after-cursor='$cursor' --no-pager -o cat")
found=$(echo "$after" | grep -n 'adoptable pod found' | tail -n1 | cut -d: -f1)
started=$(echo "$after" | grep -n '^Started nodelet' | head -n1 | cut -d: -f1)
if [ -n "$found" ] && [ -n "$started" ] && [ "$found" -lt "$started" ] && \
   [ "$(echo "$after" | grep -c 'adoptable pod found')" -ge 2 ]; then
  pass "systemctl restart: READY (Started) only after both running pods were found"
else
  fail "restart order (adoptable line ${found:-none}, Started line ${started:-none}): $after"
fi
check "nodelet has a new PID after restart" test "$(on 'systemctl show -p MainPID --value nodelet')" != "$oldpid"
check "pods listed Running right after restart returned" wait_until 10 pods_ok
check "restart: 0 container restarts (same container PIDs, RESTARTS 0)" test "$(cpids)" = "$PIDS"

# ---- upgrade: binary replaced, restart ---------------------------------------------------------
check "upgrade: binary replaced, systemctl restart nodelet succeeds" on 'cp /usr/local/bin/nodelet /var/tmp/nodelet.new && printf "upgrade" >> /var/tmp/nodelet.new &&
    install -m 0755 /var/tmp/nodelet.new /usr/local/bin/nodelet.tmp && mv -f /usr/local/bin/nodelet.tmp /usr/local/bin/nodelet &&
    systemctl restart nodelet'
exe=$(on 'sha256sum /proc/$(systemctl show -p MainPID --value nodelet)/exe /var/tmp/nodelet.new' | awk '{print $1}' | uniq | wc -l)
check "upgrade: the new binary runs" test "$exe" = 1
check "upgrade: pods Running, 0 container restarts" wait_until 20 pods_ok
check "upgrade: same container PIDs" test "$(cpids)" = "$PIDS"

# ---- cgroup v2 layout ----------------------------------------------------------------------------
S=/sys/fs/cgroup/system.slice/nodelet.service
K=/sys/fs/cgroup/kubepods.slice
main=$(on 'systemctl show -p MainPID --value nodelet')
check "Delegate=yes" test "$(on 'systemctl show -p Delegate --value nodelet')" = yes
if [ "$DRIVER" = systemd ]; then
  agentcg=$(on "cat /proc/$main/cgroup")
  case "$agentcg" in 0::/system.slice/nodelet.service|0::/system.slice/nodelet.service/nodelet-agent) ok=1 ;; *) ok= ;; esac
  check "the agent in nodelet.service ($agentcg)" test -n "$ok"
  check "nodelet.service holds no pod cgroup and enables no controller ($(on "ls $S | grep -c '^pod'") pod dirs, subtree_control '$(on "cat $S/cgroup.subtree_control")')" \
    test "$(on "ls -d $S/pod* 2>/dev/null | wc -l; cat $S/cgroup.subtree_control" | tr -d '\n')" = 0
  slices=$(on "ls -d $K/kubepods-pod*.slice $K/kubepods-*.slice/kubepods-*-pod*.slice 2>/dev/null" | sed 's|.*/||' | tr '\n' ' ')
  nslices=$(echo "$slices" | wc -w)
  check "pod slices in kubepods.slice as the kubelet names them ($slices)" test "$nslices" -ge 2
  check "sleeper (Guaranteed) in kubepods-pod<uid>.slice, web (BestEffort) in kubepods-besteffort.slice" \
    test "$(on "ls -d $K/kubepods-pod*.slice $K/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice 2>/dev/null | wc -l")" = 2
  scopes=$(on "systemctl list-units --type=scope --state=running --no-legend --plain 'nodelet-*.scope'" | awk '{print $1}')
  nscopes=$(echo "$scopes" | grep -c scope)
  check "containers and sandboxes in running nodelet-<id>.scope units ($nscopes)" test "$nscopes" -ge 4
  sleeper_scope=$(on "for d in $K/kubepods-pod*.slice/nodelet-*.scope; do grep -qx 67108864 \$d/memory.max && basename \$d; done" | head -n1)
  check "systemctl status of the sleeper's scope: active, in its pod slice" \
    on "systemctl status --no-pager $sleeper_scope | grep -q 'Active: active (running)' && systemctl show -p Slice --value $sleeper_scope | grep -q '^kubepods-pod.*\.slice$'"
  on "systemctl status --no-pager $sleeper_scope | head -n 8"
  props=$(on "for p in Delegate MemoryMax CPUQuotaPerSecUSec TimeoutStopUSec; do systemctl show -p \$p --value $sleeper_scope; done" | tr '\n' ' ')
  check "the scope's unit properties: Delegate, MemoryMax 64Mi, CPUQuota 250ms/s, TimeoutStopUSec = grace 2s ($props)" \
    test "$props" = "yes 67108864 250ms 2s "
  mem=$(on "cat $K/kubepods-pod*.slice/$sleeper_scope/memory.max")
  check "sleeper's container memory.max 64Mi in the scope's files ($mem)" test "$mem" = 67108864
  check "the pod slice's pids.max is podPidsLimit 4096" test "$(on "cat $K/kubepods-pod*.slice/pids.max")" = 4096
  pmax=$(on "cat $K/pids.max; systemctl show -p TasksMax --value kubepods.slice" | tr '\n' ' ')
  check "pid reservation: kubepods.slice's pids.max = its TasksMax, a number ($pmax)" \
    test "$(echo "$pmax" | awk '{print ($1 == $2 && $1 ~ /^[0-9]+$/)}')" = 1
  # noderun on its own, as engines run it: a scope made over D-Bus for a foreground run.
  on 'mkdir -p /var/tmp/b/rootfs/bin && cp /bin/busybox /var/tmp/b/rootfs/bin/ && ln -sf busybox /var/tmp/b/rootfs/bin/true &&
      cd /var/tmp/b && rm -f config.json && noderun spec &&
      sed -i "s/\"terminal\": true/\"terminal\": false/; s/\"sh\"$/\"\/bin\/true\"/; s|\"linux\": {|\"linux\": { \"cgroupsPath\": \"system.slice:vmtest:c\",|" config.json'
  t=$(date +%s%N)
  check "noderun --systemd-cgroup run (foreground) of /bin/true returns 0" on 'cd /var/tmp/b && timeout 30 noderun --systemd-cgroup run c'
  echo "noderun --systemd-cgroup run took $(( ($(date +%s%N) - t) / 1000000 )) ms (ssh included)"
  check "its scope vmtest-c.scope was started by systemd and is gone" \
    on 'journalctl --no-pager -o cat | grep -q "Started vmtest-c.scope" && ! systemctl list-units --all --no-legend vmtest-c.scope | grep -q . && ! test -e /sys/fs/cgroup/system.slice/vmtest-c.scope'
  busy=$(on "find $K -name cgroup.subtree_control | while read -r f; do d=\${f%/*}; [ -n \"\$(cat \$f)\" ] && [ -n \"\$(cat \$d/cgroup.procs)\" ] && echo \"\$d\"; done; true")
  check "no process in a cgroup that enables controllers for its children (kubepods.slice)${busy:+ (violations: $busy)}" test -z "$busy"
else
  check "the agent in its leaf nodelet.service/nodelet-agent" \
    test "$(on "cat /proc/$main/cgroup")" = "0::/system.slice/nodelet.service/nodelet-agent"
  podcgs=$(on "ls -d $S/pod* 2>/dev/null | wc -l")
  check "pod cgroups beside the agent's leaf ($podcgs)" test "$podcgs" -ge 2
  ctl=$(on "cat $S/cgroup.subtree_control")
  has_ctls() { case " $ctl " in *" cpu "*) ;; *) return 1 ;; esac; case " $ctl " in *" memory "*) ;; *) return 1 ;; esac; case " $ctl " in *" pids "*) ;; *) return 1 ;; esac; }
  check "controllers enabled for the pods (nodelet.service: $ctl)" has_ctls
  # (cgroupfs files have size 0: read them.) Every cgroup from nodelet.service down.
  busy=$(on "find $S -name cgroup.subtree_control | while read -r f; do d=\${f%/*}; [ -n \"\$(cat \$f)\" ] && [ -n \"\$(cat \$d/cgroup.procs)\" ] && echo \"\$d: \$(cat \$d/cgroup.procs | tr '\n' ' ')\"; done; true")
  ncg=$(on "find $S -name cgroup.procs | wc -l")
  check "no process in a cgroup that enables controllers for its children ($ncg cgroups read)${busy:+ (violations: $busy)}" test -z "$busy"
  mem=$(on "for f in $S/pod*/*/memory.max; do case \$f in *sandbox*) ;; *) cat \$f;; esac; done | grep -v max | head -n1")
  check "sleeper's container memory.max 64Mi ($mem)" test "$mem" = 67108864
fi

# ---- watchdog ------------------------------------------------------------------------------------
nr0=$(on 'systemctl show -p NRestarts --value nodelet')
main=$(on 'systemctl show -p MainPID --value nodelet')
on "kill -STOP $main" || true
t=$(date +%s)
restarted() { local m; m=$(on 'systemctl show -p MainPID --value nodelet') && [ "$m" != "$main" ] && [ "$m" != 0 ] && on 'systemctl is-active nodelet' >/dev/null; }
if wait_until 90 restarted; then
  secs=$(( $(date +%s) - t ))
  if [ "$secs" -le 40 ]; then pass "watchdog: SIGSTOPped nodelet restarted by systemd after ${secs}s (WatchdogSec=30s)"
  else fail "watchdog restart took ${secs}s (WatchdogSec=30s)"; fi
else
  fail "watchdog: nodelet not restarted within 90s: $(on 'systemctl status nodelet --no-pager | head -n 12')"
fi
wd_logged() { [ "$(on 'systemctl show -p NRestarts --value nodelet')" -gt "$nr0" ] && on 'journalctl -u nodelet --no-pager | grep -qi "watchdog timeout"'; }
check "watchdog: NRestarts went up and the journal says 'Watchdog timeout'" wd_logged
check "watchdog: pods untouched (same container PIDs)" test "$(cpids)" = "$PIDS"
check "watchdog: pods Running, 0 restarts" wait_until 20 pods_ok

# ---- stop, then start ----------------------------------------------------------------------------
check "systemctl stop nodelet" on 'systemctl stop nodelet'
check "stop: nodelet inactive" test "$(on 'systemctl is-active nodelet' || true)" = inactive
check "stop: same container PIDs while nodelet is down" test "$(cpids)" = "$PIDS"
check "systemctl start nodelet succeeds" on 'systemctl start nodelet'
check "start: pods adopted, Running, 0 restarts" wait_until 20 pods_ok
check "start: same container PIDs" test "$(cpids)" = "$PIDS"

# ---- reboot --------------------------------------------------------------------------------------
t=$(date +%s)
if vm_reboot n1; then
  rb=$(( $(date +%s) - t ))
  pass "VM rebooted (${rb}s to sshd)"
  if [ "$DRIVER" = systemd ]; then
    # The pods' scopes stop after their grace period (2 s here); systemd-shutdown used to wait
    # 90 s for the shims and containers left in nodelet.service (122 s to sshd).
    check "reboot: no 90 s wait for leftover pod processes (${rb}s to sshd, was 122 s)" test "$rb" -le 80
  fi
  if wait_until 180 pods_ok; then pass "reboot: every static pod back, Running and ready ($(( $(date +%s) - t ))s)"
  else fail "reboot: pods after reboot: $(pods_table)"; fi
  check "reboot: busybox:local still in the store (disk survived)" on 'nodectl images | grep -q busybox'
else
  fail "VM rebooted and sshd answers again"
fi

# ---- a removed pod leaves nothing ----------------------------------------------------------------
if [ "$DRIVER" = systemd ]; then
  n0=$(on "systemctl list-units --no-legend --plain 'nodelet-*.scope' | wc -l")
  on 'rm /etc/kubernetes/manifests/web.yaml'
  web_gone() { ! on 'nodectl get pods 2>/dev/null' | grep -q "^web-"; }
  check "web manifest removed: pod gone" wait_until 60 web_gone
  sleep 2
  n1=$(on "systemctl list-units --no-legend --plain 'nodelet-*.scope' | wc -l")
  check "web's sandbox and container scopes gone ($n0 → $n1 nodelet-*.scope units)" test "$n1" -eq $((n0 - 2))
  check "web's pod slice gone (no kubepods-besteffort-pod*.slice)" test "$(on "ls -d $K/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice 2>/dev/null | wc -l")" = 0
fi

echo "total $(elapsed)"
vm_result
