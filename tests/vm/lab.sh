#!/bin/bash
# tests/vm/lab.sh — the multi-node lab on VMs: two Debian 12 VMs (the image of
# tests/vm/image.sh) on a private link, each with nodelet under systemd and nodenet; pods on
# different VMs reach each other over the VXLAN overlay with their own IPs.
#
#   sudo tests/vm/lab.sh            # PASS/FAIL per check; exit 1 if any failed
#
# The VMs' eth1 are joined by a qemu socket netdev over 127.0.0.1 (n1 listens, n2 connects):
# a private Ethernet segment 192.168.77.0/24 that exists only between the two qemu processes.
# eth0 is qemu's user-mode network with restrict=on (ssh forwarded from 127.0.0.1 only). Each
# node is provisioned by lab/vagrant/provision.sh, as `vagrant up` does: node IP
# 192.168.77.1<i>, pod subnet 10.244.<i>.0/24, the other node as its VXLAN peer, nodenet-sync
# and nodelet enabled. The checks are those of agent/tests/lab_pods.rs (lab/lab.sh on one
# machine): an httpd pod on node1 Running and ready, hostIP = node IP, shown by nodectl; a
# client pod on node2 fetches the page and a CGI script's REMOTE_ADDR from the server's pod
# IP: its own pod IP (no NAT between pods); both VXLAN devices carried the packets; the
# server's log has the client's IP; deleting the client's manifest frees its IP lease.
# Environment: VM_KEEP=1 leaves the VMs running; VM_MEM (MiB, 1024 each), VM_SMP (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
vm_init "$0"
NET=192.168.77

link=$(free_port)
vm_boot node1 "$(free_port)" -netdev "socket,id=lab,listen=127.0.0.1:$link" \
  -device virtio-net-pci,netdev=lab,mac=52:54:00:77:00:11
sleep 1
vm_boot node2 "$(free_port)" -netdev "socket,id=lab,connect=127.0.0.1:$link" \
  -device virtio-net-pci,netdev=lab,mac=52:54:00:77:00:12
for i in 1 2; do
  if vm_wait_ssh "node$i" 400; then pass "node$i booted, sshd answers ($(elapsed))"
  else fail "node$i booted (console $VM_WORK/node$i.console)"; VM_KEEP=1; exit 1; fi
done
# From here on every step is a check: a failing command is a FAIL line, never an abort.
set +e +o pipefail

# ---- provision each node as `vagrant up` does ----------------------------------------------------
for i in 1 2; do
  n=node$i
  vm_ssh "$n" "hostnamectl set-hostname $n; mkdir -p /tmp/lab-units &&
    printf '[Match]\nName=eth1\n\n[Network]\nAddress=$NET.1$i/24\n' > /etc/systemd/network/20-eth1.network &&
    networkctl reload && networkctl reconfigure eth1"
  vm_ssh "$n" 'cat > /tmp/lab-units/nodenet-sync.service' <lab/vagrant/nodenet-sync.service
  vm_ssh "$n" 'cat > /tmp/provision.sh' <lab/vagrant/provision.sh
  for _ in $(seq 1 20); do vm_ssh "$n" "ip -4 -o addr show dev eth1 | grep -q ' $NET.1$i/'" && break; sleep 1; done
  if out=$(vm_ssh "$n" "bash /tmp/provision.sh $i 2 $NET" 2>&1); then
    pass "$n provisioned by lab/vagrant/provision.sh ($(echo "$out" | grep "^$n:" | tail -n1))"
  else
    fail "$n provisioned: $out"
  fi
done
check "node1 reaches node2 over the private link" vm_ssh node1 "busybox ping -c 2 -W 3 $NET.12 >/dev/null"

# ---- pods ----------------------------------------------------------------------------------------
vm_ssh node1 'cat > /etc/kubernetes/manifests/web.yaml' <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: busybox:local
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      echo "hello from node1" > /www/index.html
      printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho client=$REMOTE_ADDR\n' > /www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      exec httpd -f -v -p 0.0.0.0:8080 -h /www
    ports:
    - containerPort: 8080
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
YAML
row() { vm_ssh "$1" "nodectl get pods -o wide 2>/dev/null" | awk -v p="$2" '$1==p'; }
web_ready() { row node1 web-node1 | awk '$2=="1/1" && $3=="Running" {ok=1} END {exit !ok}'; }
if wait_until 240 web_ready; then pass "web-node1 Running and ready ($(elapsed)): $(row node1 web-node1)"
else fail "web-node1 Running: $(vm_ssh node1 'nodectl get pods -o wide; journalctl -u nodelet --no-pager | tail -n 20' 2>&1)"; fi
web_ip=$(row node1 web-node1 | grep -o '10\.244\.[0-9.]*' | head -n1)
check "web pod IP $web_ip from node1's subnet 10.244.1.0/24" test "${web_ip%.*}" = 10.244.1
hostip=$(vm_ssh node1 "nodectl get pods web-node1 -o json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["hostIP"])' 2>/dev/null || true)
check "web pod's hostIP is node1's IP $NET.11 ($hostip)" test "$hostip" = "$NET.11"

vxlan() { vm_ssh "$1" 'cat /sys/class/net/nodenet.1/statistics/rx_packets /sys/class/net/nodenet.1/statistics/tx_packets' | tr '\n' ' '; }
before1=$(vxlan node1); before2=$(vxlan node2)
vm_ssh node2 'cat > /etc/kubernetes/manifests/client.yaml' <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: wget
    image: busybox:local
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      while true; do
        timeout 5 wget -q -O - http://$web_ip:8080/ | sed 's/^/page: /'
        timeout 5 wget -q -O - http://$web_ip:8080/cgi-bin/ip | sed 's/^/cgi: /'
        sleep 1
      done
YAML
client_up() { row node2 client-node2 | awk '$3=="Running" {ok=1} END {exit !ok}'; }
if wait_until 180 client_up; then pass "client-node2 Running ($(elapsed))"
else fail "client-node2 Running: $(vm_ssh node2 'nodectl get pods -o wide' 2>&1)"; fi
client_ip=$(row node2 client-node2 | grep -o '10\.244\.[0-9.]*' | head -n1)
check "client pod IP $client_ip from node2's subnet 10.244.2.0/24" test "${client_ip%.*}" = 10.244.2
answered() { vm_ssh node2 'nodectl logs client-node2' | grep -q 'page: hello from node1'; }
if wait_until 60 answered; then pass "client on node2 got the page from $web_ip on node1 (across VMs)"
else fail "no page in the client's log: $(vm_ssh node2 'nodectl logs client-node2 | tail -n 5; ip route' 2>&1)"; fi
cgi=$(vm_ssh node2 'nodectl logs client-node2' | grep '^cgi: client=' | tail -n1)
check "the server saw the client's own pod IP ($cgi): source IPs kept" test "$cgi" = "cgi: client=$client_ip"
after1=$(vxlan node1); after2=$(vxlan node2)
grew() { read -r a b <<<"$1"; read -r c d <<<"$2"; [ "$c" -gt "$a" ] && [ "$d" -gt "$b" ]; }
check "node1's VXLAN device carried the traffic (rx/tx $before1→ $after1)" grew "$before1" "$after1"
check "node2's VXLAN device carried the traffic (rx/tx $before2→ $after2)" grew "$before2" "$after2"
server_saw() { vm_ssh node1 'nodectl logs web-node1' | grep -q "$client_ip"; }
check "web-node1's log names the client $client_ip" server_saw
# The packaged configuration (scripts/install.sh) with the node's name and IP: the systemd
# cgroup driver, so the pods run in kubepods.slice, nothing of them below nodelet.service.
in_kubepods() {
  vm_ssh "$1" "grep -qx 'cgroupDriver: systemd' /etc/nodelet/config.yaml && grep -qx 'nodeName: $1' /etc/nodelet/config.yaml &&
    ls -d /sys/fs/cgroup/kubepods.slice/kubepods-*.slice/kubepods-*-pod*.slice/nodelet-*.scope >/dev/null &&
    ! ls -d /sys/fs/cgroup/system.slice/nodelet.service/pod* >/dev/null 2>&1"
}
check "node1: packaged config (cgroupDriver: systemd, nodeName node1), pods in kubepods.slice scopes" in_kubepods node1
check "node2: packaged config (cgroupDriver: systemd, nodeName node2), pods in kubepods.slice scopes" in_kubepods node2
ps1=$(vm_ssh node1 'nodectl ps'); ps2=$(vm_ssh node2 'nodectl ps')
listed() { echo "$1" | grep -Eq "^$2 +1/1 +Running"; }
check "nodectl ps on node1: web-node1 1/1 Running" listed "$ps1" web-node1
check "nodectl ps on node2: client-node2 1/1 Running" listed "$ps2" client-node2

# ---- delete frees the lease ----------------------------------------------------------------------
LEASES=/var/lib/cni/nodenet/nodenet   # nodenet's IPAM: one file per leased IP
check "node2 holds the lease $LEASES/$client_ip while the client runs" vm_ssh node2 "test -f $LEASES/$client_ip"
vm_ssh node2 'rm /etc/kubernetes/manifests/client.yaml'
client_gone() { [ -z "$(row node2 client-node2)" ] && vm_ssh node2 "test ! -e $LEASES/$client_ip"; }
if wait_until 60 client_gone; then pass "client manifest removed: pod gone, IP lease $client_ip freed"
else fail "client left: $(row node2 client-node2) leases: $(vm_ssh node2 "ls $LEASES")"; fi

echo "total $(elapsed)"
vm_result
