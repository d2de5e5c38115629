#!/bin/bash
# Install (with apt-get, only what is missing) the Debian packages the demo and the tests need.
# Usage: scripts/deps.sh [demo|test]
set -euo pipefail
kind=${1:-test}
pkgs=(busybox-static iproute2 procps)
if [ "$kind" = test ]; then
  pkgs+=(
    qemu-system-x86 cpio kmod            # cgroup v2 VM tests (tests/vm)
    docker-registry skopeo apache2-utils openssl util-linux   # image pulls (agent/images)
    nftables python3 vagrant             # nodenet plugin, lab, Vagrantfile validation (cni/)
    containernetworking-plugins          # the sandbox works with the reference CNI plugins too
    podman runc                          # nodenet used by podman through a CNI config
    containerd crun conmon catatonit     # noderun's podman/containerd matrix (runtime/noderun/tests/engines.rs)
    tmux socat time                      # terminals in tests, bridges, peak RSS (bench/runtime)
    python3-kubernetes                   # the Kubernetes API: Python client (agent/tests/kubectl_e2e.rs)
  )
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
# Machines whose qemu-utils came from bookworm-backports (qemu 10) cannot take bookworm's
# qemu-system-x86 (7.2: "qemu-utils Breaks qemu-system-common < 8"): take qemu-system from
# backports too, adding that suite to apt's sources if no source has it.
bpo_qemu=()
if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] &&
  dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12'; then
  missing=("${missing[@]/qemu-system-x86/}")
  bpo_qemu=(qemu-system-x86)
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "adding bookworm-backports to apt's sources (for qemu-system-x86, as qemu-utils)"
    cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'EOS'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
  fi
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ] || [ ${#bpo_qemu[@]} -gt 0 ]; then
  echo "installing: ${missing[*]} ${bpo_qemu[*]}"
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#bpo_qemu[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${bpo_qemu[@]}" >/dev/null
  fi
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (stable, 1.89 or newer) with rustup first" >&2
  exit 1
fi
