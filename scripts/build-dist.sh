#!/bin/bash
# Build the binaries we ship into target/dist (path printed):
#   nodelet, nodectl, nodenet   `cargo build --profile agent` (the release profile, fat LTO, at
#                               opt-level "z": nodelet's resident code, see Cargo.toml)
#   nodelet-shim, nodelet-pause, noderun
#                               scripts/build-static.sh: one shim and one pause run per pod and
#                               noderun per container operation, so their start-up and
#                               resident set count per pod.
# Used by scripts/install.sh, the Vagrantfile and bench/pods.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile agent -q -p nodelet -p nodectl -p nodenet
static=$(scripts/build-static.sh noderun nodelet-shim nodelet-pause)
mkdir -p target/dist
for b in nodelet nodectl nodenet; do install -m 0755 "target/agent/$b" "target/dist/$b"; done
for f in $static; do install -m 0755 "$f" "target/dist/$(basename "$f")"; done
echo target/dist
