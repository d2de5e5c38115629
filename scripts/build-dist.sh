#!/bin/bash
# Build the binaries we ship into target/dist (path printed):
#   nodelet, nodectl, nodenet   `cargo build --release` (speed: opt-level 3, fat LTO)
#   nodelet-shim, nodelet-pause, noderun
#                               statically linked, non-PIE, opt-level "s": one shim and one
#                               pause run per pod and noderun per container operation, so
#                               their start-up and resident set count per pod (no libc.so or
#                               ld.so mapped, no start-up relocations; bench/RESULTS.md).
# `cargo rustc` passes the static flags to the final binaries only (a workspace-wide
# crt-static rustflag would break proc-macro crates). Used by scripts/install.sh, the
# Vagrantfile and bench/pods.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p nodelet -p nodenet
for p in noderun nodelet-shim nodelet-pause; do
  CARGO_TARGET_DIR=target/static CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
    cargo rustc --release -q -p "$p" --bin "$p" -- -C target-feature=+crt-static -C relocation-model=static
  f=target/static/release/$p
  file "$f" 2>/dev/null | grep -q 'statically linked' || ldd "$f" 2>&1 | grep -q 'not a dynamic' ||
    { echo "build-dist: $f is not static" >&2; exit 1; }
done
mkdir -p target/dist
for b in nodelet nodectl nodenet; do install -m 0755 "target/release/$b" "target/dist/$b"; done
for b in noderun nodelet-shim nodelet-pause; do install -m 0755 "target/static/release/$b" "target/dist/$b"; done
echo target/dist
