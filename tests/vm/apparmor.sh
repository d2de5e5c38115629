#!/bin/bash
# tests/vm/apparmor.sh — AppArmor applied for real: nodelet in a booted Debian 12 VM, whose
# kernel enforces AppArmor (the image has the apparmor package: apparmor_parser).
#
#   sudo tests/vm/apparmor.sh       # VM_SYSTEMD=252 for Debian's own systemd; VM_KEEP=1 ...
#
# Checks: a plain pod's container runs under `nodelet-default (enforce)`, loaded once by
# nodelet (its text in /var/lib/nodelet/apparmor), again only when that text changed; exec'd
# processes get the container's profile; the default profile denies mount even with
# CAP_SYS_ADMIN (the same container Unconfined mounts); a privileged container is unconfined;
# a Localhost profile loaded here with apparmor_parser (the Kubernetes docs' deny-write
# example) confines the container, by annotation (the docs' hello-apparmor) and by field,
# while `unconfined` can write; a missing Localhost profile → CreateContainerError naming
# it (get, describe, events); noderun and runc on the same bundles (profile loaded / not).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
vm_init "$0"
on() { vm_ssh n1 "$@"; }

port=$(free_port)
vm_boot n1 "$port"
if ! vm_wait_ssh n1 300; then
  fail "VM booted and sshd answers (console: $VM_WORK/n1.console)"
  tail -n 40 "$VM_WORK/n1.console"
  VM_KEEP=1
  exit 1
fi
pass "VM booted, sshd answers ($(elapsed))"
set +e +o pipefail
on 'systemctl is-system-running --wait' >/dev/null 2>&1 || true

check "the kernel enforces AppArmor" test "$(on 'cat /sys/module/apparmor/parameters/enabled')" = Y
check "apparmor_parser installed" on 'command -v apparmor_parser >/dev/null'
check "nodelet active" on 'systemctl is-active -q nodelet'
if on '/usr/local/share/nodelet/busybox-image.sh /var/tmp/busybox.tar busybox:local && nodectl import /var/tmp/busybox.tar' >/dev/null; then
  pass "busybox:local imported"
else
  fail "busybox:local imported"
fi
NODE=$(on hostname)
STATE=/var/lib/nodelet/apparmor/nodelet-default

# The Kubernetes docs' example profile: every file write denied.
on 'cat > /var/tmp/deny-write.profile && apparmor_parser -r /var/tmp/deny-write.profile' <<'PROFILE'
#include <tunables/global>

profile k8s-apparmor-example-deny-write flags=(attach_disconnected) {
  #include <abstractions/base>

  file,

  # Deny all file writes.
  deny /** w,
}
PROFILE
check "test profile k8s-apparmor-example-deny-write loaded" \
  on 'grep -qx "k8s-apparmor-example-deny-write (enforce)" /sys/kernel/security/apparmor/profiles'

# pod NAME MARK [ANNOTATION] [SECURITY_CONTEXT_YAML] [SCRIPT]: a pod whose container runs
# SCRIPT (default: try to write /tmp/t, print WROTE or DENIED), then `sleep 36001MARK` (its PID
# is found by that command line).
WRITE='if touch /tmp/t 2>/dev/null; then echo WROTE; else echo DENIED; fi'
MOUNT='mkdir -p /mnt/t; if mount -t tmpfs none /mnt/t 2>/tmp/err; then echo MOUNTED; else echo MOUNT-FAILED; cat /tmp/err; fi'
pod() {
  local name=$1 mark=$2 ann=${3:-} sc=${4:-} script=${5:-$WRITE}
  {
    echo "apiVersion: v1"
    echo "kind: Pod"
    echo "metadata:"
    echo "  name: $name"
    [ -n "$ann" ] && printf '  annotations:\n    container.apparmor.security.beta.kubernetes.io/c: %s\n' "$ann"
    echo "spec:"
    echo "  terminationGracePeriodSeconds: 1"
    echo "  containers:"
    echo "  - name: c"
    echo "    image: busybox:local"
    echo "    imagePullPolicy: Never"
    echo "    command: [sh, -c, '$script; exec sleep 36001$mark']"
    [ -n "$sc" ] && printf '    securityContext: %s\n' "$sc"
  } | on "cat > /etc/kubernetes/manifests/$name.yaml"
}
has() { grep -q -- "$2" <<<"$1"; }
running() { on "nodectl get pods 2>/dev/null" | awk -v p="$1-$NODE" '$1==p && $3=="Running" {f=1} END {exit !f}'; }
# The AppArmor label of the container process `sleep 36001MARK`, as the host sees it.
label() { on "p=\$(pgrep -fx 'sleep 36001$1') && cat /proc/\$p/attr/current" | tr -d '\0'; }
logs() { on "nodectl logs $1-$NODE 2>&1"; }

t=$(date +%s)
pod aa-plain 01
pod aa-priv 02 "" '{privileged: true}'
pod hello-apparmor 03 localhost/k8s-apparmor-example-deny-write
pod aa-field 04 "" '{appArmorProfile: {type: Localhost, localhostProfile: k8s-apparmor-example-deny-write}}'
pod aa-unconfined 05 unconfined
pod aa-mount 06 "" '{capabilities: {add: [SYS_ADMIN]}}' "$MOUNT"
pod aa-mount-unconfined 07 "" '{capabilities: {add: [SYS_ADMIN]}, appArmorProfile: {type: Unconfined}}' "$MOUNT"
pod aa-missing 08 localhost/k8s-missing
all_running() { for p in aa-plain aa-priv hello-apparmor aa-field aa-unconfined aa-mount aa-mount-unconfined; do running "$p" || return 1; done; }
if wait_until 240 all_running; then pass "seven pods Running ($(( $(date +%s) - t ))s)"
else fail "pods Running: $(on 'nodectl get pods 2>&1')"; on 'journalctl -u nodelet --no-pager | tail -n 30'; fi
sleep 2

# ---- the default profile ---------------------------------------------------------------------
l=$(label 01)
check "plain pod: the container runs under nodelet-default ($l)" test "$l" = "nodelet-default (enforce)"
check "plain pod: ordinary writes allowed under nodelet-default ($(logs aa-plain | head -n1))" test "$(logs aa-plain | head -n1)" = WROTE
check "nodelet-default listed loaded in securityfs" on "grep -qx 'nodelet-default (enforce)' /sys/kernel/security/apparmor/profiles"
check "its text kept in $STATE" on "grep -q '^profile nodelet-default ' $STATE"
e=$(on "nodectl exec aa-plain-$NODE -- cat /proc/self/attr/current" | tr -d '\0')
check "nodectl exec: the exec'd process gets the container's profile ($e)" test "$e" = "nodelet-default (enforce)"
ml=$(logs aa-mount | tr '\n' ' ')
check "nodelet-default denies mount even with CAP_SYS_ADMIN ($ml)" has "$ml" 'MOUNT-FAILED.*Permission denied'
# (Explicit deny rules are not audited, as in containerd's profile: the proof that AppArmor
# refused it is the same container, Unconfined, mounting.)
l=$(label 07)
check "the same container Unconfined ($l) mounts ($(logs aa-mount-unconfined | head -n1))" \
  test "$l/$(logs aa-mount-unconfined | head -n1)" = "unconfined/MOUNTED"
l=$(label 02)
check "privileged container: unconfined ($l)" test "$l" = unconfined
nload=$(on "journalctl -u nodelet --no-pager -o cat | grep -c 'loaded the AppArmor profile nodelet-default'")
check "nodelet-default loaded once for its two containers, created in parallel ($nload load)" test "$nload" = 1

# ---- Localhost profiles --------------------------------------------------------------------
l=$(label 03)
check "annotation localhost/k8s-apparmor-example-deny-write: confined ($l)" test "$l" = "k8s-apparmor-example-deny-write (enforce)"
check "... its write to /tmp denied ($(logs hello-apparmor | head -n1))" test "$(logs hello-apparmor | head -n1)" = DENIED
x=$(on "nodectl exec hello-apparmor-$NODE -- touch /tmp/x 2>&1; echo rc=\$?" | tr '\n' ' ')
check "nodectl exec hello-apparmor -- touch /tmp/x: denied ($x)" has "$x" 'Permission denied.*rc=1'
l=$(label 04)
check "field appArmorProfile Localhost: confined ($l), write denied ($(logs aa-field | head -n1))" \
  test "$l/$(logs aa-field | head -n1)" = "k8s-apparmor-example-deny-write (enforce)/DENIED"
l=$(label 05)
check "annotation unconfined: unconfined ($l), write allowed ($(logs aa-unconfined | head -n1))" \
  test "$l/$(logs aa-unconfined | head -n1)" = "unconfined/WROTE"

# ---- a missing Localhost profile -------------------------------------------------------------
missing_shown() { on "nodectl get pods 2>/dev/null" | awk -v p="aa-missing-$NODE" '$1==p && $3=="CreateContainerError" {f=1} END {exit !f}'; }
check "missing profile: nodectl get pods shows CreateContainerError" wait_until 60 missing_shown
d=$(on "nodectl describe pod aa-missing-$NODE 2>&1")
check "describe: the waiting message names the profile (apparmor profile not found k8s-missing)" \
  has "$d" 'apparmor profile not found k8s-missing'
check "describe: a Failed event with the message" has "$d" 'Failed.*apparmor profile not found k8s-missing'
echo "$d" | grep -E 'Reason:|Message:|Failed' | head -n 6
check "missing profile: no container process started" test -z "$(on "pgrep -fx 'sleep 3600108'")"

# ---- reloaded only when the text changed ------------------------------------------------------
on "echo '# edited' >> $STATE"
pod aa-reload 09
check "a new pod after the stored text changed: Running" wait_until 120 running aa-reload
nload=$(on "journalctl -u nodelet --no-pager -o cat | grep -c 'loaded the AppArmor profile nodelet-default'")
check "nodelet-default loaded again because its text changed ($nload loads)" test "$nload" = 2
check "the stored text is nodelet's again" on "! grep -q '# edited' $STATE"
l=$(label 09)
check "aa-reload under nodelet-default ($l)" test "$l" = "nodelet-default (enforce)"

# ---- noderun and runc on the same bundles ------------------------------------------------------
on 'mkdir -p /var/tmp/aab/rootfs/bin /var/tmp/aab/rootfs/tmp && cp /bin/busybox /var/tmp/aab/rootfs/bin/ &&
    for l in sh cat touch; do ln -sf busybox /var/tmp/aab/rootfs/bin/$l; done &&
    cd /var/tmp/aab && rm -f config.json && noderun spec &&
    sed -i "s/\"terminal\": true/\"terminal\": false/; s/\"sh\"$/\"\/bin\/sh\", \"-c\", \"cat \/proc\/self\/attr\/current; touch \/tmp\/x \&\& echo WROTE || echo DENIED\"/; s/\"readonly\": true/\"readonly\": false/; s|\"linux\": {|\"linux\": { \"cgroupsPath\": \"system.slice:aavm:c\",|" config.json &&
    cp config.json config.base'
for prof in k8s-apparmor-example-deny-write k8s-nope; do
  on "cd /var/tmp/aab && sed 's|\"process\": {|\"process\": { \"apparmorProfile\": \"$prof\",|' config.base > config.json"
  nr=$(on "cd /var/tmp/aab && timeout 30 noderun --systemd-cgroup run aa-nr 2>&1; echo rc=\$?" | tr -d '\0' | tr '\n' ' ')
  # (runc's warnings about devices systemd cannot see left out)
  rc=$(on "cd /var/tmp/aab && timeout 30 runc --systemd-cgroup run aa-rc 2>&1; echo rc=\$?" | grep -v '^time=.*level=warning' | tr -d '\0' | tr '\n' ' ')
  on 'noderun delete -f aa-nr; runc delete -f aa-rc' >/dev/null 2>&1
  echo "apparmorProfile $prof: noderun: $nr"
  echo "apparmorProfile $prof: runc:    $rc"
  if [ "$prof" = k8s-nope ]; then
    check "profile not loaded: noderun fails naming the field (${nr})" has "$nr" 'apparmorProfile.*rc=[1-9]'
    check "profile not loaded: runc fails too (${rc})" has "$rc" 'rc=[1-9]'
  else
    check "profile loaded: noderun confines (label, write denied)" has "$nr" '^k8s-apparmor-example-deny-write (enforce) .*DENIED rc=0'
    check "profile loaded: runc's output is the same" test "$rc" = "$nr"
  fi
done

# ---- cleanup: pods gone, nothing left running ----------------------------------------------------
on 'rm -f /etc/kubernetes/manifests/aa-*.yaml /etc/kubernetes/manifests/hello-apparmor.yaml'
gone() { ! on 'nodectl get pods 2>/dev/null' | grep -q -- "-$NODE"; }
check "pods removed" wait_until 90 gone

echo "total $(elapsed)"
vm_result
