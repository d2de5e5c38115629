#!/bin/bash
# scripts/build-static.sh PACKAGE... — build each package's binary of the same name the way
# we ship it: statically linked, non-PIE, opt-level "s" (no libc.so or ld.so mapped, no
# start-up relocations, a smaller resident set; bench/RESULTS.md), into target/static/release;
# prints each binary's path. `cargo rustc` passes the flags to the final binary only (a
# workspace-wide crt-static rustflag would break proc-macro crates). nodelet-pause comes out
# freestanding (no std, no libc, its own _start): the release profile's panic=abort selects
# that entry point, and agent/pause/build.rs adds its link flags.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
for p in "$@"; do
  CARGO_TARGET_DIR=target/static CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
    cargo rustc --release -q -p "$p" --bin "$p" -- -C target-feature=+crt-static -C relocation-model=static
  f=target/static/release/$p
  file "$f" 2>/dev/null | grep -q 'statically linked' || ldd "$f" 2>&1 | grep -q 'not a dynamic' ||
    { echo "build-static: $f is not static" >&2; exit 1; }
  echo "$f"
done
