#!/bin/bash
# Build the noderun binary we ship: statically linked, non-PIE, optimised for size — it starts
# faster and keeps a smaller resident set than the default dynamic build (bench/RESULTS.md,
# "noderun-static-s"). Output: target/noderun-static/release/noderun (path printed).
# `cargo rustc` passes the flags to the final binary only; a workspace-wide crt-static rustflag
# would break proc-macro crates.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=target/noderun-static CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  cargo rustc --release -q -p noderun --bin noderun -- -C target-feature=+crt-static -C relocation-model=static
f=target/noderun-static/release/noderun
file "$f" 2>/dev/null | grep -q 'statically linked' || ldd "$f" 2>&1 | grep -q 'not a dynamic' || { echo "build-noderun: $f is not static" >&2; exit 1; }
echo "$f"
