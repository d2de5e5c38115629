#!/bin/bash
# bench/runtime/build-static.sh — the two statically linked noderun builds compared in
# bench/RESULTS.md, each in its own target dir so target/release stays the normal build:
#   target/bench-static/release/noderun     crt-static, non-PIE, the release profile as is
#   target/bench-static-s/release/noderun   the same with opt-level "s" for every crate
# `cargo rustc` passes the flags to the final binary only (a workspace-wide
# `-C target-feature=+crt-static` would break proc-macro crates unless --target is given).
# Then: EXTRA="noderun-static=target/bench-static/release/noderun
#              noderun-static-s=target/bench-static-s/release/noderun" bench/runtime/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
FLAGS=(-C target-feature=+crt-static -C relocation-model=static)
CARGO_TARGET_DIR=target/bench-static \
  cargo rustc --release -q -p noderun --bin noderun -- "${FLAGS[@]}"
CARGO_TARGET_DIR=target/bench-static-s CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  cargo rustc --release -q -p noderun --bin noderun -- "${FLAGS[@]}"
for t in bench-static bench-static-s; do
  f=target/$t/release/noderun
  file "$f" | grep -q 'statically linked' || { echo "build-static: $f is not static" >&2; exit 1; }
  echo "$f"
done
