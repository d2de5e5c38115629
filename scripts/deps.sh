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
  )
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (stable, 1.89 or newer) with rustup first" >&2
  exit 1
fi
