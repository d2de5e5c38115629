#!/bin/bash
# Build the noderun binary we ship (statically linked, non-PIE, opt-level "s"; see
# scripts/build-dist.sh, which builds it with the rest) and print its path.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=target/static CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  cargo rustc --release -q -p noderun --bin noderun -- -C target-feature=+crt-static -C relocation-model=static
f=target/static/release/noderun
file "$f" 2>/dev/null | grep -q 'statically linked' || ldd "$f" 2>&1 | grep -q 'not a dynamic' || { echo "build-noderun: $f is not static" >&2; exit 1; }
echo "$f"
